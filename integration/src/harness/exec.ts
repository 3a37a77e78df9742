import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Hard bound: the child is killed with SIGKILL after this many milliseconds. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed (stdin is always closed). */
  input?: string;
  /** Cap on captured stdout and stderr each (default 8 MiB); output past it is dropped. */
  maxOutputBytes?: number;
}

export interface RunResult {
  /** Exit code, or null when the child was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The command line, for messages. */
  command: string;
}

/** Runs a program to completion (never through a shell), bounded in time and in captured output. */
export function run(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const max = opts.maxOutputBytes ?? 8 * 1024 * 1024;
  const command = [file, ...args].map((a) => (/^[\w./:=@%+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b);
      errLen += b.length;
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (spawnError ? `${spawnError.message}\n` : '');
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr, timedOut, command });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
    child.stdin.on('error', () => {
      // The child may exit before reading its input (e.g. a refused connection); that is not an error here.
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like `run`, but rejects unless the program exits with status 0. */
export async function runOk(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const r = await run(file, args, opts);
  if (r.code !== 0) throw new Error(describeFailure(r));
  return r;
}

export function describeFailure(r: RunResult): string {
  const how = r.timedOut
    ? `timed out (killed)`
    : r.code === null
      ? `was killed by ${r.signal ?? 'a signal'}`
      : `exited with status ${r.code}`;
  const output = [r.stdout.trim(), r.stderr.trim()].filter((s) => s.length > 0).join('\n');
  return `\`${r.command}\` ${how}${output ? `:\n${tailLines(output, 30)}` : ''}`;
}

/** The last `n` lines of a text. */
export function tailLines(text: string, n: number): string {
  const lines = text.replace(/\n+$/, '').split('\n');
  return lines.slice(Math.max(0, lines.length - n)).join('\n');
}
