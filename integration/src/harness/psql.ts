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

export interface PsqlOptions {
  /** SQL script fed on stdin (`-f -`). */
  sql?: string;
  user?: string;
  /** Sent as PGPASSWORD (default: the target's password). */
  password?: string;
  database?: string;
  /** Extra psql arguments, appended after the connection arguments. */
  args?: readonly string[];
  /** Bound on the whole psql run (default 30 s). */
  timeoutMs?: number;
}

/**
 * Runs the real `psql` against a PostgreSQL target over TCP, unaligned and tuples-only (`-qAt`), with
 * ON_ERROR_STOP, never prompting for a password (`-w`). Resolves with exit code and output; never throws
 * on a non-zero exit.
 */
export function psql(target: PostgresTarget, opts: PsqlOptions = {}): Promise<RunResult> {
  const args = [
    '-X',
    '-w',
    '-q',
    '-A',
    '-t',
    '-v',
    'ON_ERROR_STOP=1',
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
    PGAPPNAME: `tollgate-${target.suite}`,
  };
  return run(psqlBinary(), args, {
    env,
    timeoutMs: opts.timeoutMs ?? 30_000,
    ...(opts.sql !== undefined ? { input: opts.sql } : {}),
  });
}
