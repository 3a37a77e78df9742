import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import {
  access,
  appendFile,
  chown,
  constants,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeFailure, run, runOk, tailLines } from './exec';
import { harnessLog, keepLogsFromEnv, safeName, saveLog } from './logs';
import { freePort } from './ports';
import {
  POSTGRES_DEFAULTS,
  type PostgresOptions,
  type PostgresTarget,
  postgresConnection,
  type SshdOptions,
  type SshdTarget,
  type StopOptions,
  type StopResult,
  type TargetKind,
  type TargetProvider,
} from './provider';
import { libpqFreeEnv } from './psql';
import { startLocalSshd } from './sshd';

/** Where Debian installs PostgreSQL server versions: /usr/lib/postgresql/<major>/bin. */
const PG_ROOT = '/usr/lib/postgresql';
/** Linux limit on a Unix socket path (sun_path is 108 bytes, NUL included). */
const MAX_SOCKET_PATH = 107;
const LOCAL_START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
const START_ATTEMPTS = 3;

export interface PostgresInstall {
  /** Major version, e.g. `15`. */
  version: string;
  binDir: string;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function hasServerBinaries(binDir: string): Promise<boolean> {
  for (const b of ['initdb', 'pg_ctl', 'postgres', 'pg_isready', 'psql']) {
    if (!(await isExecutable(join(binDir, b)))) return false;
  }
  return true;
}

/**
 * Finds the PostgreSQL server binaries: TOLLGATE_PG_BINDIR if set, else the newest (or TOLLGATE_PG_VERSION)
 * /usr/lib/postgresql/<version>/bin that has initdb, pg_ctl, postgres, pg_isready and psql.
 */
export async function findPostgres(): Promise<PostgresInstall> {
  const binFromEnv = process.env.TOLLGATE_PG_BINDIR;
  if (binFromEnv) {
    if (!(await hasServerBinaries(binFromEnv))) {
      throw new Error(`TOLLGATE_PG_BINDIR=${binFromEnv} lacks initdb, pg_ctl, postgres, pg_isready or psql`);
    }
    const r = await runOk(join(binFromEnv, 'postgres'), ['--version'], { timeoutMs: 10_000 });
    const major = /\(PostgreSQL\)\s+(\d+)/.exec(r.stdout)?.[1] ?? 'unknown';
    return { version: major, binDir: binFromEnv };
  }
  let entries: string[];
  try {
    entries = await readdir(PG_ROOT);
  } catch {
    entries = [];
  }
  const wanted = process.env.TOLLGATE_PG_VERSION;
  const versions = entries
    .filter((e) => /^\d+(\.\d+)?$/.test(e) && (!wanted || e === wanted))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const version of versions) {
    const binDir = join(PG_ROOT, version, 'bin');
    if (await hasServerBinaries(binDir)) return { version, binDir };
  }
  throw new Error(
    `no PostgreSQL server found in ${PG_ROOT}/${wanted ?? '<version>'}/bin ` +
      `(found: ${entries.join(', ') || 'nothing'}); install Debian's postgresql package ` +
      '(e.g. `apt-get install postgresql-15`) or set TOLLGATE_PG_BINDIR',
  );
}

interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * The OS user that runs initdb / pg_ctl: `postgres` when we are root (PostgreSQL refuses to run as root),
 * else null (run as ourselves).
 */
async function serverUser(): Promise<ServerUser | null> {
  if (process.getuid?.() !== 0) return null;
  const name = 'postgres';
  const uid = await runOk('id', ['-u', name], { timeoutMs: 10_000 }).catch(() => {
    throw new Error('running as root, but there is no `postgres` OS user to run the PostgreSQL server as');
  });
  const gid = await runOk('id', ['-g', name], { timeoutMs: 10_000 });
  return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** [file, args] running `bin` as the server user (through runuser when root). */
function asServer(owner: ServerUser | null, bin: string, args: string[]): [string, string[]] {
  return owner ? ['runuser', ['-u', owner.name, '--', bin, ...args]] : [bin, args];
}

function quoteConf(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function quoteIdent(v: string): string {
  return `"${v.replace(/"/g, '""')}"`;
}

/** Clusters still running in this process, torn down synchronously if the process exits without stop(). */
const live = new Map<string, () => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const teardown of live.values()) {
      try {
        teardown();
      } catch {
        // Best effort: the process is exiting.
      }
    }
  });
}

function pidFromPidFile(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function killPostmaster(dataDir: string): void {
  const pid = pidFromPidFile(dataDir);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Local-process provider: Debian's PostgreSQL binaries, one fresh cluster per suite in a temp dir. */
export class LocalProvider implements TargetProvider {
  readonly name = 'local' as const;

  supports(kind: TargetKind): boolean {
    return kind === 'postgres' || kind === 'sshd';
  }

  /** Debian's OpenSSH sshd as a local process (see sshd.ts). */
  startSshd(opts: SshdOptions): Promise<SshdTarget> {
    return startLocalSshd(opts);
  }

  async startPostgres(opts: PostgresOptions): Promise<PostgresTarget> {
    const suite = opts.suite;
    const timeoutMs = opts.startTimeoutMs ?? LOCAL_START_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const remaining = (): number => Math.max(1_000, deadline - Date.now());
    const user = opts.user ?? POSTGRES_DEFAULTS.user;
    const password = opts.password ?? randomBytes(18).toString('base64url');
    const database = opts.database ?? POSTGRES_DEFAULTS.database;

    const install = await findPostgres();
    const owner = await serverUser();
    const bin = (b: string): string => join(install.binDir, b);

    const dir = await mkdtemp(join(tmpdir(), `tollgate-${safeName(suite).slice(0, 40)}-`));
    const dataDir = join(dir, 'data');
    const logPath = join(dir, 'server.log');
    const pwFile = join(dir, 'pwfile');
    let port = 0;

    const stopArgs = [
      '-D',
      dataDir,
      '-m',
      'immediate',
      '-w',
      '-t',
      String(STOP_TIMEOUT_MS / 1000 - 5),
      '-s',
      'stop',
    ];
    installExitHook();
    live.set(dir, () => {
      if (existsSync(join(dataDir, 'postmaster.pid'))) {
        const [file, args] = asServer(owner, bin('pg_ctl'), stopArgs);
        try {
          execFileSync(file, args, { stdio: 'ignore', timeout: STOP_TIMEOUT_MS, cwd: dir });
        } catch {
          killPostmaster(dataDir);
        }
      }
      rmSync(dir, { recursive: true, force: true });
    });

    const readLog = async (): Promise<string> => {
      try {
        return await readFile(logPath, 'utf8');
      } catch {
        return '';
      }
    };
    const stopServer = async (): Promise<void> => {
      if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
      const [file, args] = asServer(owner, bin('pg_ctl'), stopArgs);
      const r = await run(file, args, { timeoutMs: STOP_TIMEOUT_MS, cwd: dir });
      if (r.code !== 0) {
        harnessLog(`pg_ctl stop failed for ${suite}; killing the postmaster: ${describeFailure(r)}`);
        killPostmaster(dataDir);
      }
    };
    const removeDir = async (): Promise<void> => {
      live.delete(dir);
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    };

    try {
      if (join(dir, '.s.PGSQL.65535').length > MAX_SOCKET_PATH) {
        throw new Error(
          `temp dir ${dir} is too long for a Unix socket path; set TMPDIR to a shorter directory`,
        );
      }
      await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
      if (owner) {
        await chown(dir, owner.uid, owner.gid);
        await chown(pwFile, owner.uid, owner.gid);
      }

      const [initdb, initdbArgs] = asServer(owner, bin('initdb'), [
        '-D',
        dataDir,
        '-U',
        user,
        `--pwfile=${pwFile}`,
        '--auth-local=trust',
        '--auth-host=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ]);
      await runOk(initdb, initdbArgs, { timeoutMs: remaining(), cwd: dir });
      await rm(pwFile, { force: true });

      // Password (SCRAM) over TCP for the suite's superuser; trust on the Unix socket, for setup only.
      await writeFile(
        join(dataDir, 'pg_hba.conf'),
        [
          '# Written by the Tollgate integration harness.',
          '# TYPE  DATABASE  USER  ADDRESS        METHOD',
          'local   all       all                  trust',
          ...(opts.hba ?? []),
          'host    all       all   127.0.0.1/32   scram-sha-256',
          '',
        ].join('\n'),
      );
      await appendFile(join(dataDir, 'postgresql.conf'), "\ninclude_if_exists = 'tollgate.conf'\n");
      const tlsSettings: Record<string, string> = {};
      if (opts.tls) {
        // the server refuses a key readable by others; it must belong to the server's user
        const cert = join(dataDir, 'server.crt');
        const key = join(dataDir, 'server.key');
        await writeFile(cert, opts.tls.certPem, { mode: 0o644 });
        await writeFile(key, opts.tls.keyPem, { mode: 0o600 });
        if (owner) {
          await chown(cert, owner.uid, owner.gid);
          await chown(key, owner.uid, owner.gid);
        }
        Object.assign(tlsSettings, { ssl: 'on', ssl_cert_file: cert, ssl_key_file: key });
      }

      const writeSettings = async (): Promise<void> => {
        const settings: Record<string, string> = {
          listen_addresses: '127.0.0.1',
          port: String(port),
          unix_socket_directories: dir,
          password_encryption: 'scram-sha-256',
          fsync: 'off',
          synchronous_commit: 'off',
          full_page_writes: 'off',
          shared_buffers: '32MB',
          max_connections: '50',
          log_connections: 'on',
          log_line_prefix: '%m [%p] %q%u@%d ',
          ...tlsSettings,
          ...opts.settings,
        };
        const conf = join(dataDir, 'tollgate.conf');
        const lines = Object.entries(settings).map(([k, v]) => `${k} = ${quoteConf(v)}`);
        await writeFile(conf, `# Written by the Tollgate integration harness.\n${lines.join('\n')}\n`);
        if (owner) await chown(conf, owner.uid, owner.gid);
      };

      for (let attempt = 1; ; attempt++) {
        port = await freePort();
        await writeSettings();
        const waitSeconds = Math.max(1, Math.floor((remaining() - 1_000) / 1000));
        const [pgCtl, startArgs] = asServer(owner, bin('pg_ctl'), [
          '-D',
          dataDir,
          '-l',
          logPath,
          '-w',
          '-t',
          String(waitSeconds),
          '-s',
          'start',
        ]);
        const r = await run(pgCtl, startArgs, { timeoutMs: remaining() + 5_000, cwd: dir });
        if (r.code === 0) break;
        const log = await readLog();
        if (attempt < START_ATTEMPTS && /could not bind|Address already in use/i.test(log)) {
          harnessLog(`port ${port} was taken before PostgreSQL could bind it; retrying on another port`);
          await stopServer();
          continue;
        }
        throw new Error(`pg_ctl start failed: ${describeFailure(r)}`);
      }

      // pg_ctl -w waited for the postmaster; check that it answers on TCP as clients will reach it.
      for (;;) {
        const r = await run(
          bin('pg_isready'),
          ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'postgres', '-t', '2'],
          { timeoutMs: 5_000, env: libpqFreeEnv() },
        );
        if (r.code === 0) break;
        if (Date.now() >= deadline) {
          throw new Error(
            `PostgreSQL is not accepting TCP connections on 127.0.0.1:${port}: ${describeFailure(r)}`,
          );
        }
        await sleep(100);
      }

      if (database !== 'postgres') {
        await runOk(
          bin('psql'),
          [
            '-X',
            '-q',
            '-v',
            'ON_ERROR_STOP=1',
            '-h',
            dir,
            '-p',
            String(port),
            '-U',
            user,
            '-d',
            'postgres',
            '-c',
            `CREATE DATABASE ${quoteIdent(database)}`,
          ],
          { timeoutMs: remaining(), env: libpqFreeEnv() },
        );
      }
    } catch (e) {
      await stopServer().catch(() => undefined);
      const log = await readLog();
      const kept = await saveLog(suite, log).catch(() => undefined);
      await removeDir().catch(() => undefined);
      const message = e instanceof Error ? e.message : String(e);
      throw new Error(
        `local PostgreSQL ${install.version} (${install.binDir}) did not start for suite '${suite}' ` +
          `(start-up bounded at ${timeoutMs} ms): ${message}\n` +
          `--- last lines of the server log${kept ? ` (kept at ${kept})` : ''} ---\n` +
          `${tailLines(log, 40) || '(empty)'}`,
      );
    }

    let stopping: Promise<StopResult> | undefined;
    let finalLog: string | undefined;
    const connection = postgresConnection({ host: '127.0.0.1', port, user, password, database });
    const target: PostgresTarget = {
      kind: 'postgres',
      provider: 'local',
      suite,
      host: '127.0.0.1',
      port,
      user,
      password,
      database,
      serverVersion: install.version,
      socketDir: dir,
      logPath,
      ...connection,
      logs: async () => finalLog ?? (await readLog()),
      stop: (o: StopOptions = {}) => {
        stopping ??= (async (): Promise<StopResult> => {
          try {
            await stopServer();
            finalLog = await readLog();
            if (o.keepLogs === true || keepLogsFromEnv()) {
              return { keptLogPath: await saveLog(suite, finalLog) };
            }
            return {};
          } finally {
            await removeDir();
          }
        })();
        return stopping;
      },
    };
    harnessLog(`local PostgreSQL ${install.version} for '${suite}' on 127.0.0.1:${port} (dir ${dir})`);
    return target;
  }
}
