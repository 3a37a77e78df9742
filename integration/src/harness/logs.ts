import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

/** Where kept logs go: TOLLGATE_LOG_DIR, or integration/logs (this file is integration/dist/harness/). */
export function logsDir(): string {
  const fromEnv = process.env.TOLLGATE_LOG_DIR;
  return fromEnv && fromEnv.length > 0 ? resolve(fromEnv) : resolve(__dirname, '..', '..', 'logs');
}

/** Whether TOLLGATE_KEEP_LOGS asks to keep every target's log, failed or not. */
export function keepLogsFromEnv(): boolean {
  const v = process.env.TOLLGATE_KEEP_LOGS;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** A suite name made safe for file names. */
export function safeName(suite: string): string {
  const s = suite.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+/, '');
  return s.length > 0 ? s.slice(0, 80) : 'suite';
}

/** Writes a target's log to <logsDir>/<suite>-<timestamp>.log, prints the path, and returns it. */
export async function saveLog(suite: string, text: string, dir = logsDir()): Promise<string> {
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const path = resolve(dir, `${safeName(suite)}-${stamp}.log`);
  await writeFile(path, text);
  harnessLog(`kept the ${suite} target log: ${path}`);
  return path;
}

/** One diagnostic line on stderr (shown by `node --test` as a `#` line). */
export function harnessLog(message: string): void {
  process.stderr.write(`[tollgate-harness] ${message}\n`);
}

/**
 * Tracks whether any test in a file failed, so `after` can keep logs only on failure:
 * `afterEach(failures.afterEach); after(() => target?.stop({ keepLogs: failures.failed }))`.
 */
export class FailureTracker {
  failed = false;
  readonly afterEach = (t: unknown): void => {
    // TestContext.passed exists at run time on Node >= 20.12 but is not in @types/node 20.
    if ((t as { passed?: boolean } | undefined)?.passed === false) this.failed = true;
  };
}
