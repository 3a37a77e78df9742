import type { RunResult } from '../exec';
import { psql } from '../psql';
import type { PgEndpoint } from './endpoint';

export interface PsqlScriptOptions {
  /** psql variables (`-v name=value`); on the command line, so never a secret. */
  vars?: Readonly<Record<string, string>>;
  /** Stop at the first error, exiting with status 3 (default true). */
  onErrorStop?: boolean;
  /** Extra psql arguments (e.g. `['--single-transaction']`). */
  args?: readonly string[];
  /** Bound on the whole run (default 60 s). */
  timeoutMs?: number;
}

/**
 * Runs an SQL script through the real psql, as an interactive user's script would run: `psql -X -w -qAt
 * -v ON_ERROR_STOP=1 -f -` with the script on stdin, so meta-commands work — `\copy t from stdin` reads
 * the rows that follow it in the script up to `\.`, `\copy (…) to stdout` writes to `stdout`, and
 * `\gset`, `\if`, `\echo` behave as usual. Output is unaligned and tuples-only (`|`-separated).
 * Resolves with the exit code (0 ok, 1 psql error, 2 connection lost, 3 script error under
 * ON_ERROR_STOP) and both streams; never throws on a non-zero exit.
 */
export async function psqlScript(
  ep: PgEndpoint,
  sql: string,
  opts: PsqlScriptOptions = {},
): Promise<RunResult> {
  return psql(ep, {
    sql,
    ...(opts.vars ? { vars: opts.vars } : {}),
    ...(opts.onErrorStop !== undefined ? { onErrorStop: opts.onErrorStop } : {}),
    ...(opts.args ? { args: opts.args } : {}),
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}
