import { type RunResult, run } from './exec';
import type { PostgresTarget } from './provider';

/** The real psql client: TOLLGATE_PSQL, or `psql` from PATH (Debian's pg_wrapper). */
export function psqlBinary(): string {
  const fromEnv = process.env.TOLLGATE_PSQL;
  return fromEnv && fromEnv.length > 0 ? fromEnv : 'psql';
}

/** The environment without any PG* variable, so that a developer's libpq settings cannot leak in. */
export function libpqFreeEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!k.startsWith('PG')) env[k] = v;
  return env;
}

/**
 * What psql connects to: a harness target, or any endpoint with the same connection fields
 * (`PgEndpoint` from clients/endpoint.ts: PgBouncer, the gateway).
 */
export type PsqlConnection = Pick<PostgresTarget, 'host' | 'port' | 'user' | 'password' | 'database'> & {
  /** Names the application (`tollgate-<suite or name>`) in the server's log. */
  suite?: string;
  name?: string;
  /** libpq sslmode (PGSSLMODE); unset means libpq's default. */
  sslmode?: 'disable' | 'require';
};

export interface PsqlOptions {
  /** SQL script fed on stdin (`-f -`). */
  sql?: string;
  user?: string;
  /** Sent as PGPASSWORD (default: the target's password). */
  password?: string;
  database?: string;
  /** Extra psql arguments, appended after the connection arguments. */
  args?: readonly string[];
  /**
   * psql variables (`-v name=value`), usable in the script as :name, :'name' or :"name". They are on the
   * command line, which failure messages quote: never put a secret in one.
   */
  vars?: Readonly<Record<string, string>>;
  /** Stop at the first failing statement and exit with status 3 (default true). */
  onErrorStop?: boolean;
  /** Bound on the whole psql run (default 30 s). */
  timeoutMs?: number;
}

/**
 * Runs the real `psql` against a PostgreSQL target (or endpoint) over TCP, unaligned and tuples-only
 * (`-qAt`), with ON_ERROR_STOP, never prompting for a password (`-w`). Resolves with exit code and
 * output; never throws on a non-zero exit.
 */
export function psql(target: PsqlConnection, opts: PsqlOptions = {}): Promise<RunResult> {
  const vars = Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['-v', `${k}=${v}`]);
  const args = [
    '-X',
    '-w',
    '-q',
    '-A',
    '-t',
    '-v',
    `ON_ERROR_STOP=${opts.onErrorStop === false ? '0' : '1'}`,
    ...vars,
    '-h',
    target.host,
    '-p',
    String(target.port),
    '-U',
    opts.user ?? target.user,
    '-d',
    opts.database ?? target.database,
    ...(opts.args ?? []),
    ...(opts.sql !== undefined ? ['-f', '-'] : []),
  ];
  const env = {
    ...libpqFreeEnv(),
    PGPASSWORD: opts.password ?? target.password,
    PGCONNECT_TIMEOUT: '10',
    PGAPPNAME: `tollgate-${target.suite ?? target.name ?? 'psql'}`,
    ...(target.sslmode ? { PGSSLMODE: target.sslmode } : {}),
  };
  return run(psqlBinary(), args, {
    env,
    timeoutMs: opts.timeoutMs ?? 30_000,
    ...(opts.sql !== undefined ? { input: opts.sql } : {}),
  });
}
