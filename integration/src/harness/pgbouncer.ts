import { type ChildProcess, spawn } from 'node:child_process';
import { constants, createWriteStream, rmSync } from 'node:fs';
import { access, chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PgEndpoint } from './clients/endpoint';
import { describeFailure, runOk, tailLines } from './exec';
import { harnessLog, keepLogsFromEnv, safeName, saveLog } from './logs';
import { freePort } from './ports';
import type { PostgresTarget, StopOptions, StopResult } from './provider';
import { psql } from './psql';

const START_ATTEMPTS = 3;
const STOP_GRACE_MS = 5_000;

export interface PgBouncerOptions {
  /** Suite name, for the temp dir and the kept log (`<suite>-pgbouncer-<timestamp>.log`). */
  suite: string;
  /** The PostgreSQL server PgBouncer pools connections to, over TCP with the target's user and password. */
  target: PostgresTarget;
  /** `pool_mode` (default `session`: one server connection per client for the client's whole session). */
  poolMode?: 'session' | 'transaction' | 'statement';
  /** `max_client_conn` (default 200). */
  maxClientConn?: number;
  /**
   * `default_pool_size`: server connections per user and database (default 20). In session mode, set it
   * to at least the clients that will connect at once, or the extra clients wait.
   */
  defaultPoolSize?: number;
  /** Extra `[pgbouncer]` settings, name → value. */
  settings?: Record<string, string>;
  /** Bound on the whole start-up (default 30 s). */
  startTimeoutMs?: number;
}

/** A running PgBouncer. */
export interface PgBouncerInstance {
  /** Where clients connect: the target's user, password and database, PgBouncer's port, no TLS. */
  readonly endpoint: PgEndpoint;
  readonly logPath: string;
  /** PgBouncer's log so far (its stderr). */
  logs(): Promise<string>;
  /** Stops PgBouncer (SIGTERM, then SIGKILL) and removes its dir; keeps the log when asked. Idempotent. */
  stop(opts?: StopOptions): Promise<StopResult>;
}

/** PgBouncer: TOLLGATE_PGBOUNCER, else Debian's /usr/sbin/pgbouncer, else from PATH. */
export async function pgbouncerBinary(): Promise<string> {
  const fromEnv = process.env.TOLLGATE_PGBOUNCER;
  if (fromEnv && fromEnv.length > 0) return fromEnv;
  try {
    await access('/usr/sbin/pgbouncer', constants.X_OK);
    return '/usr/sbin/pgbouncer';
  } catch {
    return 'pgbouncer';
  }
}

/** PgBouncer refuses to run as root: then it runs as the `postgres` OS user, as the local PostgreSQL does. */
async function runAsUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const uid = await runOk('id', ['-u', 'postgres'], { timeoutMs: 10_000 }).catch(() => {
    throw new Error('running as root, but there is no `postgres` OS user to run PgBouncer as');
  });
  const gid = await runOk('id', ['-g', 'postgres'], { timeoutMs: 10_000 });
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** A value for pgbouncer.ini / auth_file: double-quoted with inner quotes doubled. */
function quoted(v: string): string {
  return `"${v.replace(/"/g, '""')}"`;
}

function iniConfig(o: PgBouncerOptions, dir: string, port: number): string {
  const t = o.target;
  const server = `host=${t.host} port=${t.port}`;
  const databases = [
    ...(/^[A-Za-z0-9_]+$/.test(t.database) ? [`${t.database} = ${server} dbname=${t.database}`] : []),
    // Any other database name goes to the same server under that name.
    `* = ${server}`,
  ];
  const settings: Record<string, string> = {
    listen_addr: '127.0.0.1',
    listen_port: String(port),
    unix_socket_dir: '',
    auth_type: 'scram-sha-256',
    auth_file: join(dir, 'userlist.txt'),
    pool_mode: o.poolMode ?? 'session',
    max_client_conn: String(o.maxClientConn ?? 200),
    default_pool_size: String(o.defaultPoolSize ?? 20),
    server_tls_sslmode: 'disable',
    ignore_startup_parameters: 'extra_float_digits',
    logfile: '',
    pidfile: '',
    syslog: '0',
    ...o.settings,
  };
  return [
    '; Written by the Tollgate integration harness.',
    '[databases]',
    ...databases,
    '',
    '[pgbouncer]',
    ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
    '',
  ].join('\n');
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port, false after `ms`. */
function canConnect(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

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

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** A PgBouncer process whose stdout and stderr are appended to the log file. */
interface Logged {
  child: ChildProcess;
  /** Resolves once the process is gone and everything it wrote is in the log file. */
  flushed: Promise<void>;
}

function spawnLogged(
  bin: string,
  args: string[],
  logPath: string,
  dir: string,
  owner: { uid: number; gid: number } | null,
): Logged {
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(bin, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const flushed = new Promise<void>((resolve) => {
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      log.end(() => resolve());
    };
    child.once('error', (e) => {
      log.write(`spawn ${bin}: ${e.message}\n`);
      end();
    });
    // 'close' comes after the process exited and its stdio streams closed.
    child.once('close', end);
  });
  return { child, flushed };
}

async function stopChild(p: Logged): Promise<void> {
  if (!exited(p.child)) {
    // SIGTERM is PgBouncer's immediate shutdown (1.18); SIGKILL if it lingers.
    p.child.kill('SIGTERM');
    const timer = sleep(STOP_GRACE_MS).then(() => 'timeout' as const);
    if ((await Promise.race([p.flushed, timer])) === 'timeout') p.child.kill('SIGKILL');
  }
  await p.flushed;
}

/**
 * Starts Debian's PgBouncer as a local process in front of a harness PostgreSQL, on a free port on
 * 127.0.0.1, authenticating clients with SCRAM-SHA-256 against an auth_file that holds the target
 * user's password (PgBouncer then logs in to the server with SCRAM too). Runs as the `postgres` OS user
 * when we are root. Resolves once a real psql `SELECT 1` went through it; rejects with the tail of its
 * log (kept under integration/logs/) if it does not start within the bound.
 *
 *   const bouncer = await startPgBouncer({ suite, target, poolMode: 'session', defaultPoolSize: 70 });
 *   await pgbench(bouncer.endpoint, { ... });
 *   await bouncer.stop({ keepLogs: failed });
 */
export async function startPgBouncer(o: PgBouncerOptions): Promise<PgBouncerInstance> {
  const timeoutMs = o.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const suite = `${o.suite}-pgbouncer`;
  const bin = await pgbouncerBinary();
  const owner = await runAsUser();
  const dir = await mkdtemp(join(tmpdir(), `tollgate-${safeName(suite).slice(0, 40)}-`));
  const logPath = join(dir, 'pgbouncer.log');
  const iniPath = join(dir, 'pgbouncer.ini');
  const userlist = join(dir, 'userlist.txt');
  let proc: Logged | undefined;

  installExitHook();
  live.set(dir, () => {
    if (proc && !exited(proc.child)) proc.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const readLog = async (): Promise<string> => readFile(logPath, 'utf8').catch(() => '');
  const removeDir = async (): Promise<void> => {
    live.delete(dir);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  const giveOwnership = async (path: string): Promise<void> => {
    if (owner) await chown(path, owner.uid, owner.gid);
  };

  let port = 0;
  try {
    await writeFile(userlist, `${quoted(o.target.user)} ${quoted(o.target.password)}\n`, { mode: 0o600 });
    await giveOwnership(userlist);
    await chmod(dir, 0o700);
    await giveOwnership(dir);
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      await writeFile(iniPath, iniConfig(o, dir, port), { mode: 0o600 });
      await giveOwnership(iniPath);
      const p = spawnLogged(bin, [iniPath], logPath, dir, owner);
      proc = p;
      if (await waitListening(p.child, port, deadline)) break;
      const gone = exited(p.child);
      await stopChild(p);
      const text = await readLog();
      if (attempt < START_ATTEMPTS && /Address already in use/i.test(text) && Date.now() < deadline) {
        harnessLog(`port ${port} was taken before PgBouncer could bind it; retrying on another port`);
        continue;
      }
      throw new Error(
        gone
          ? `pgbouncer exited (status ${p.child.exitCode ?? p.child.signalCode})`
          : `pgbouncer did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`,
      );
    }
    const endpoint: PgEndpoint = {
      name: 'pgbouncer',
      host: '127.0.0.1',
      port,
      user: o.target.user,
      password: o.target.password,
      database: o.target.database,
      sslmode: 'disable',
    };
    const check = await psql(endpoint, {
      args: ['-c', 'SELECT 1'],
      timeoutMs: Math.max(2_000, deadline - Date.now()),
    });
    if (check.code !== 0 || check.stdout.trim() !== '1') {
      throw new Error(`a query through PgBouncer failed: ${describeFailure(check)}`);
    }
    harnessLog(
      `PgBouncer (${o.poolMode ?? 'session'} mode) for '${o.suite}' on 127.0.0.1:${port} → ${o.target.port}`,
    );
    return instance(endpoint, proc, logPath, suite, readLog, removeDir);
  } catch (e) {
    if (proc) await stopChild(proc).catch(() => undefined);
    const text = await readLog();
    const kept = await saveLog(suite, text).catch(() => undefined);
    await removeDir().catch(() => undefined);
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(
      `PgBouncer (${bin}) did not start for suite '${o.suite}' (bounded at ${timeoutMs} ms): ${message}\n` +
        `--- last lines of its log${kept ? ` (kept at ${kept})` : ''} ---\n${tailLines(text, 40) || '(empty)'}`,
    );
  }
}

/** Waits until PgBouncer listens (true) or exits or the deadline passes (false). */
async function waitListening(c: ChildProcess, port: number, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    if (exited(c)) return false;
    if (await canConnect(port, 1_000)) return !exited(c);
    await sleep(50);
  }
  return false;
}

function instance(
  endpoint: PgEndpoint,
  proc: Logged,
  logPath: string,
  suite: string,
  readLog: () => Promise<string>,
  removeDir: () => Promise<void>,
): PgBouncerInstance {
  let stopping: Promise<StopResult> | undefined;
  let finalLog: string | undefined;
  return {
    endpoint,
    logPath,
    logs: async () => finalLog ?? (await readLog()),
    stop: (s: StopOptions = {}) => {
      stopping ??= (async (): Promise<StopResult> => {
        try {
          await stopChild(proc);
          finalLog = await readLog();
          if (s.keepLogs === true || keepLogsFromEnv())
            return { keptLogPath: await saveLog(suite, finalLog) };
          return {};
        } finally {
          await removeDir();
        }
      })();
      return stopping;
    },
  };
}
