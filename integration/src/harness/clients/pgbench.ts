import { constants } from 'node:fs';
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunResult, run } from '../exec';
import { findPostgres } from '../local';
import { libpqEnv, type PgEndpoint } from './endpoint';
import { ClientRunError } from './errors';
import { type LatencySummary, summarizeLatencies } from './percentiles';

/** pgbench's `-M`: simple query protocol, extended protocol, or extended with named prepared statements. */
export type PgbenchMode = 'simple' | 'extended' | 'prepared';

export interface PgbenchInitOptions {
  /** `-s`: 100 000 pgbench_accounts rows per unit (default 1). */
  scale?: number;
  /** Generate the rows in the server (`-I dtGvp`) instead of streaming them with COPY (default false). */
  serverSide?: boolean;
  /** Bound on the whole run (default 10 min). */
  timeoutMs?: number;
}

export interface PgbenchInitResult {
  seconds: number;
  raw: RunResult;
}

export interface PgbenchOptions {
  mode: PgbenchMode;
  /** `-c`: concurrent client sessions. */
  clients: number;
  /** `-j`: pgbench threads (default min(clients, CPU count)). */
  jobs?: number;
  /**
   * `-S`: the built-in select-only script (one `SELECT abalance … WHERE aid = :aid` per transaction)
   * instead of the TPC-B-like one (three UPDATEs, a SELECT and an INSERT).
   */
  selectOnly: boolean;
  /** `-T`: run for this many seconds. Exactly one of durationSec and transactions is required. */
  durationSec?: number;
  /** `-t`: transactions per client. */
  transactions?: number;
  /**
   * Per-transaction log (`-l --log-prefix` in a temp dir, removed afterwards) summarised into latency
   * percentiles; adds a buffered write per transaction on the client (default false).
   */
  latencyLog?: boolean;
  /** Vacuum the pgbench tables first (default false: `-n`; vacuum once after init instead). */
  vacuum?: boolean;
  /** Extra pgbench arguments, before the database name. */
  args?: readonly string[];
  /** Bound on the whole run (default durationSec + 60 s, or 120 s for a transaction count). */
  timeoutMs?: number;
}

export interface PgbenchResult {
  /** Transactions per second, excluding the initial connection time, as pgbench reports it. */
  tps: number;
  /** pgbench's `latency average`, in ms. */
  latencyAvgMs: number;
  /** Transactions processed (successful ones). */
  transactions: number;
  failedTransactions: number;
  /** From the per-transaction log, when `latencyLog` was set. */
  p50Us?: number;
  p99Us?: number;
  latency?: LatencySummary;
  raw: RunResult;
}

let cachedBinary: Promise<string> | undefined;

/** pgbench: TOLLGATE_PGBENCH, else the server install's (/usr/lib/postgresql/<v>/bin), else from PATH. */
export function pgbenchBinary(): Promise<string> {
  const fromEnv = process.env.TOLLGATE_PGBENCH;
  if (fromEnv && fromEnv.length > 0) return Promise.resolve(fromEnv);
  cachedBinary ??= (async () => {
    try {
      const bin = join((await findPostgres()).binDir, 'pgbench');
      await access(bin, constants.X_OK);
      return bin;
    } catch {
      return 'pgbench';
    }
  })();
  return cachedBinary;
}

/** Connection arguments; the password travels only in PGPASSWORD. */
function connArgs(ep: PgEndpoint): string[] {
  return ['-h', ep.host, '-p', String(ep.port), '-U', ep.user];
}

/** `pgbench -i`: creates and fills the pgbench tables (dropping earlier ones) and vacuums them. */
export async function pgbenchInit(ep: PgEndpoint, opts: PgbenchInitOptions = {}): Promise<PgbenchInitResult> {
  const args = [
    '-i',
    '-q',
    '-s',
    String(opts.scale ?? 1),
    ...(opts.serverSide ? ['-I', 'dtGvp'] : []),
    ...connArgs(ep),
    ep.database,
  ];
  const start = process.hrtime.bigint();
  const raw = await run(await pgbenchBinary(), args, {
    env: libpqEnv(ep, 'tollgate-pgbench'),
    timeoutMs: opts.timeoutMs ?? 600_000,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (raw.code !== 0) throw new ClientRunError('pgbench -i', ep, raw);
  return { seconds, raw };
}

function numberAfter(text: string, re: RegExp): number | undefined {
  const m = re.exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** Reads pgbench's end-of-run report (PostgreSQL 15 wording). */
export function parsePgbenchReport(
  stdout: string,
): { tps: number; latencyAvgMs: number; transactions: number; failedTransactions: number } | undefined {
  const tps = numberAfter(stdout, /^tps = ([\d.]+)/m);
  const latencyAvgMs = numberAfter(stdout, /^latency average = ([\d.]+) ms/m);
  const transactions = numberAfter(stdout, /^number of transactions actually processed: (\d+)/m);
  if (tps === undefined || latencyAvgMs === undefined || transactions === undefined) return undefined;
  // Versions before 15 have no failure count: a failed transaction aborts the client there.
  const failedTransactions = numberAfter(stdout, /^number of failed transactions: (\d+)/m) ?? 0;
  return { tps, latencyAvgMs, transactions, failedTransactions };
}

/**
 * Latencies (µs) from pgbench per-transaction log lines: `client_id transaction_no time script_no
 * time_epoch time_us [schedule_lag] [retries]`, where `time` is the transaction's elapsed µs (or
 * `failed` / `skipped`, which are not latencies and are left out).
 */
export function parsePgbenchLog(text: string, into: number[] = []): number[] {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const a = text.indexOf(' ', start);
    const b = a < 0 ? -1 : text.indexOf(' ', a + 1);
    const c = b < 0 ? -1 : text.indexOf(' ', b + 1);
    if (c > 0 && c < end) {
      const v = Number(text.slice(b + 1, c));
      if (Number.isFinite(v)) into.push(v);
    }
    start = end + 1;
  }
  return into;
}

function timeArgs(opts: PgbenchOptions): string[] {
  const hasDuration = opts.durationSec !== undefined;
  const hasCount = opts.transactions !== undefined;
  if (hasDuration === hasCount) {
    throw new Error('pgbench: give exactly one of durationSec and transactions');
  }
  return hasDuration ? ['-T', String(opts.durationSec)] : ['-t', String(opts.transactions)];
}

/**
 * Runs pgbench against an endpoint and reads its report. Rejects with a `ClientRunError` (command line,
 * stdout and stderr; never the password) when pgbench exits non-zero — a client aborted, the connection
 * failed — or its report cannot be read.
 */
export async function pgbench(ep: PgEndpoint, opts: PgbenchOptions): Promise<PgbenchResult> {
  const jobs = opts.jobs ?? Math.max(1, Math.min(opts.clients, cpus().length));
  const logDir = opts.latencyLog ? await mkdtemp(join(tmpdir(), 'tollgate-pgbench-')) : undefined;
  try {
    const args = [
      '-M',
      opts.mode,
      '-c',
      String(opts.clients),
      '-j',
      String(jobs),
      ...timeArgs(opts),
      ...(opts.selectOnly ? ['-S'] : []),
      ...(opts.vacuum ? [] : ['-n']),
      ...(logDir ? ['-l', `--log-prefix=${join(logDir, 'tx')}`] : []),
      ...(opts.args ?? []),
      ...connArgs(ep),
      ep.database,
    ];
    const timeoutMs =
      opts.timeoutMs ?? (opts.durationSec !== undefined ? (opts.durationSec + 60) * 1000 : 120_000);
    const raw = await run(await pgbenchBinary(), args, { env: libpqEnv(ep, 'tollgate-pgbench'), timeoutMs });
    if (raw.code !== 0) throw new ClientRunError('pgbench', ep, raw);
    const report = parsePgbenchReport(raw.stdout);
    if (!report) throw new ClientRunError('pgbench', ep, raw, 'printed no readable report');
    const result: PgbenchResult = { ...report, raw };
    if (logDir) {
      const latencies: number[] = [];
      for (const f of await readdir(logDir))
        parsePgbenchLog(await readFile(join(logDir, f), 'utf8'), latencies);
      const summary = summarizeLatencies(latencies);
      if (summary) {
        result.latency = summary;
        result.p50Us = summary.p50Us;
        result.p99Us = summary.p99Us;
      }
    }
    return result;
  } finally {
    if (logDir) await rm(logDir, { recursive: true, force: true });
  }
}
