import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The `tollgate` executable, as users run it. */
export const BIN = join(__dirname, '..', '..', 'bin', 'tollgate.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  /** stdout as bytes (for output that must be compared exactly, such as `tollgate replay`). */
  stdoutBytes: Buffer;
  stderr: string;
}

/**
 * Runs the real `tollgate` CLI in a child process, bounded by a timeout. `env` is added to this
 * process's environment after removing the variables named in `unset`.
 */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; unset?: readonly string[]; input?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  const base = { ...process.env };
  for (const name of opts.unset ?? []) delete base[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...base, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      out.push(c);
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, stdout: stdoutBytes.toString(), stdoutBytes, stderr });
    });
  });
}
