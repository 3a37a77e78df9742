import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { StartedTestContainer } from 'testcontainers';
import { tailLines } from './exec';
import { harnessLog, keepLogsFromEnv, saveLog } from './logs';
import {
  POSTGRES_DEFAULTS,
  type PostgresOptions,
  type PostgresTarget,
  postgresConnection,
  type StopOptions,
  type StopResult,
  type TargetKind,
  type TargetProvider,
} from './provider';

const CONTAINER_START_TIMEOUT_MS = 120_000;
/** Cap on the container log kept in memory (the tail is kept). */
const MAX_LOG_CHARS = 4 * 1024 * 1024;

export interface DockerProbe {
  reachable: boolean;
  /** The endpoint that answered, or what was tried and why it failed. */
  detail: string;
}

type Endpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Docker endpoints in the order testcontainers looks for them (DOCKER_HOST, then the usual sockets). */
function dockerEndpoints(): Endpoint[] {
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost) {
    if (dockerHost.startsWith('unix://')) return [{ kind: 'unix', path: dockerHost.slice('unix://'.length) }];
    const m = /^(?:tcp|https?):\/\/\[?([^\]/]+?)\]?:(\d+)/.exec(dockerHost);
    if (m?.[1] && m[2]) return [{ kind: 'tcp', host: m[1], port: Number(m[2]) }];
    return [];
  }
  const sockets = ['/var/run/docker.sock'];
  if (process.env.XDG_RUNTIME_DIR) sockets.push(join(process.env.XDG_RUNTIME_DIR, 'docker.sock'));
  sockets.push(join(homedir(), '.docker', 'run', 'docker.sock'));
  return sockets.map((path) => ({ kind: 'unix', path }));
}

/** Asks a Unix-socket Docker endpoint for GET /_ping, bounded by `timeoutMs`. */
function pingUnix(path: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath: path, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? undefined : `GET /_ping answered ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
}

/** Opens a TCP connection (TLS endpoints are only checked for reachability), bounded by `timeoutMs`. */
function connectTcp(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`no connection within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
  });
}

/** Whether a Docker engine answers at DOCKER_HOST or the default sockets, within `timeoutMs` per endpoint. */
export async function probeDocker(timeoutMs = 1_500): Promise<DockerProbe> {
  const endpoints = dockerEndpoints();
  if (endpoints.length === 0) {
    return {
      reachable: false,
      detail: `DOCKER_HOST=${process.env.DOCKER_HOST} is not a unix:// or tcp:// URL`,
    };
  }
  const failures: string[] = [];
  for (const e of endpoints) {
    const name = e.kind === 'unix' ? `unix://${e.path}` : `tcp://${e.host}:${e.port}`;
    const error =
      e.kind === 'unix' ? await pingUnix(e.path, timeoutMs) : await connectTcp(e.host, e.port, timeoutMs);
    if (error === undefined) return { reachable: true, detail: name };
    failures.push(`${name}: ${error}`);
  }
  return { reachable: false, detail: failures.join('; ') };
}

function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

/**
 * Files for the `hba` and `tls` options: the image's entrypoint runs /docker-entrypoint-initdb.d
 * scripts as the server user after initdb, so the script can own the key (mode 0600, as the
 * server requires), turn ssl on and put the hba lines first.
 */
function initScript(
  opts: PostgresOptions,
): Array<{ content: string; target: string; mode: number }> | undefined {
  if (!opts.tls && !opts.hba?.length) return undefined;
  const files: Array<{ content: string; target: string; mode: number }> = [];
  const lines = ['#!/bin/sh', 'set -e'];
  if (opts.tls) {
    files.push({ content: opts.tls.certPem, target: '/tollgate/server.crt', mode: 0o644 });
    files.push({ content: opts.tls.keyPem, target: '/tollgate/server.key', mode: 0o644 });
    lines.push(
      'cp /tollgate/server.crt /tollgate/server.key "$PGDATA/"',
      'chmod 600 "$PGDATA/server.key"',
      `printf '%s\\n' "ssl = on" "ssl_cert_file = 'server.crt'" "ssl_key_file = 'server.key'" >> "$PGDATA/postgresql.conf"`,
    );
  }
  if (opts.hba?.length) {
    lines.push(
      `{ printf '%s\\n' ${opts.hba.map(shellQuote).join(' ')}; cat "$PGDATA/pg_hba.conf"; } > "$PGDATA/pg_hba.new"`,
      'mv "$PGDATA/pg_hba.new" "$PGDATA/pg_hba.conf"',
    );
  }
  files.push({
    content: `${lines.join('\n')}\n`,
    target: '/docker-entrypoint-initdb.d/zz-tollgate.sh',
    mode: 0o755,
  });
  return files;
}

/** testcontainers provider: the official images, started through a reachable Docker engine. */
export class ContainersProvider implements TargetProvider {
  readonly name = 'testcontainers' as const;

  supports(kind: TargetKind): boolean {
    return kind === 'postgres';
  }

  async startPostgres(opts: PostgresOptions): Promise<PostgresTarget> {
    // Loaded lazily so that the harness works on machines without Docker (and without loading dockerode).
    const { GenericContainer, Wait } = await import('testcontainers');
    const suite = opts.suite;
    const user = opts.user ?? POSTGRES_DEFAULTS.user;
    const password = opts.password ?? randomBytes(18).toString('base64url');
    const database = opts.database ?? POSTGRES_DEFAULTS.database;
    const image = process.env.TOLLGATE_PG_IMAGE || POSTGRES_DEFAULTS.image;
    const timeoutMs = opts.startTimeoutMs ?? CONTAINER_START_TIMEOUT_MS;
    const settings: Record<string, string> = {
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      log_connections: 'on',
      password_encryption: 'scram-sha-256',
      ...opts.settings,
    };

    let log = '';
    const appendLog = (chunk: Buffer | string): void => {
      log += chunk.toString();
      if (log.length > MAX_LOG_CHARS) log = log.slice(log.length - MAX_LOG_CHARS);
    };

    let container: StartedTestContainer;
    try {
      let definition = new GenericContainer(image);
      const init = initScript(opts);
      if (init) definition = definition.withCopyContentToContainer(init);
      container = await definition
        .withEnvironment({
          POSTGRES_USER: user,
          POSTGRES_PASSWORD: password,
          POSTGRES_DB: database,
          POSTGRES_HOST_AUTH_METHOD: 'scram-sha-256',
          POSTGRES_INITDB_ARGS: '--auth-host=scram-sha-256 --auth-local=trust',
        })
        .withCommand(['postgres', ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])])
        .withExposedPorts(5432)
        .withTmpFs({ '/var/lib/postgresql/data': 'rw' })
        .withLabels({ 'org.tollgate.suite': suite })
        .withLogConsumer((stream) => {
          stream.on('data', appendLog);
          stream.on('error', () => undefined);
        })
        // The entrypoint starts a temporary server for init scripts first: wait for the second "ready".
        .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
        .withStartupTimeout(timeoutMs)
        .start();
    } catch (e) {
      const kept = log ? await saveLog(suite, log).catch(() => undefined) : undefined;
      const message = e instanceof Error ? e.message : String(e);
      throw new Error(
        `PostgreSQL container ${image} did not start for suite '${suite}' ` +
          `(start-up bounded at ${timeoutMs} ms): ${message}\n` +
          `--- last lines of the container log${kept ? ` (kept at ${kept})` : ''} ---\n` +
          `${tailLines(log, 40) || '(empty)'}`,
      );
    }

    const host = container.getHost();
    const port = container.getMappedPort(5432);
    let stopping: Promise<StopResult> | undefined;
    const target: PostgresTarget = {
      kind: 'postgres',
      provider: 'testcontainers',
      suite,
      host,
      port,
      user,
      password,
      database,
      serverVersion: /:(\d+)/.exec(image)?.[1] ?? 'unknown',
      socketDir: undefined,
      logPath: undefined,
      ...postgresConnection({ host, port, user, password, database }),
      logs: async () => log,
      stop: (o: StopOptions = {}) => {
        stopping ??= (async (): Promise<StopResult> => {
          let stopError: unknown;
          try {
            await container.stop({ timeout: 0, remove: true, removeVolumes: true });
          } catch (e) {
            stopError = e;
          }
          // Keep the log even when stopping failed: that is when it is needed most.
          const result: StopResult =
            o.keepLogs === true || keepLogsFromEnv() ? { keptLogPath: await saveLog(suite, log) } : {};
          if (stopError !== undefined) throw stopError;
          return result;
        })();
        return stopping;
      },
    };
    harnessLog(`container PostgreSQL (${image}) for '${suite}' on ${host}:${port}`);
    return target;
  }
}
