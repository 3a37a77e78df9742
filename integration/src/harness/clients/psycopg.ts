import { existsSync } from 'node:fs';
import { type RunResult, run } from '../exec';
import { libpqEnv, type PgEndpoint } from './endpoint';

/**
 * Prepended to every snippet. `connect(**kw)` opens a psycopg 3 connection to the endpoint (libpq reads
 * it from PG* variables, so the password is never in the program text or its arguments); `emit(value)`
 * prints one JSON document per line, the only thing a snippet should print on stdout.
 */
const PRELUDE = `import json, os, sys
import psycopg

def connect(**kw):
    kw.setdefault("connect_timeout", 10)
    return psycopg.connect("", **kw)

def emit(value):
    sys.stdout.write(json.dumps(value, default=str) + "\\n")
    sys.stdout.flush()
`;

export interface PsycopgOptions {
  /** Bound on the whole run (default 60 s). */
  timeoutMs?: number;
  /** Extra environment for the snippet (e.g. values it reads with os.environ). */
  env?: Readonly<Record<string, string>>;
}

export interface PsycopgResult extends RunResult {
  /** Each stdout line that parsed as JSON, in order (what the snippet emitted). */
  values: unknown[];
}

/**
 * Python with Debian's psycopg 3: TOLLGATE_PYTHON, else /usr/bin/python3 (where python3-psycopg
 * installs; a `python3` earlier on PATH, e.g. pyenv's, lacks it), else `python3`.
 */
export function pythonBinary(): string {
  const fromEnv = process.env.TOLLGATE_PYTHON;
  if (fromEnv && fromEnv.length > 0) return fromEnv;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** psycopg's version, or undefined (with why) when the Python in use cannot import it. */
export async function psycopgVersion(): Promise<{ version?: string; detail: string }> {
  const r = await run(pythonBinary(), ['-c', 'import psycopg; print(psycopg.__version__)'], {
    timeoutMs: 20_000,
  });
  return r.code === 0
    ? { version: r.stdout.trim(), detail: `${pythonBinary()}: psycopg ${r.stdout.trim()}` }
    : { detail: `${pythonBinary()} cannot import psycopg (install python3-psycopg): ${r.stderr.trim()}` };
}

/**
 * Runs a Python snippet with psycopg 3 against an endpoint: `python3 -` with the prelude and the snippet
 * on stdin, the endpoint in PG* variables. The snippet calls `connect()` and reports with `emit(value)`:
 *
 *   const r = await psycopg(ep, 'with connect() as c:\n    emit(c.execute("select %s + 1", [41]).fetchone()[0])');
 *   // r.code === 0, r.values === [42]
 *
 * Resolves with the exit code, both streams and the emitted values; never throws on a non-zero exit (a
 * Python traceback, e.g. psycopg.errors.InsufficientPrivilege, is in stderr).
 */
export function psycopg(
  ep: PgEndpoint,
  pythonCode: string,
  opts: PsycopgOptions = {},
): Promise<PsycopgResult> {
  return run(pythonBinary(), ['-'], {
    env: { ...libpqEnv(ep, 'tollgate-psycopg'), ...opts.env, PYTHONDONTWRITEBYTECODE: '1' },
    input: `${PRELUDE}\n${pythonCode}\n`,
    timeoutMs: opts.timeoutMs ?? 60_000,
  }).then((r) => ({ ...r, values: parseJsonLines(r.stdout) }));
}

function parseJsonLines(text: string): unknown[] {
  const values: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      values.push(JSON.parse(line));
    } catch {
      // Not emitted by emit(): left in stdout only.
    }
  }
  return values;
}
