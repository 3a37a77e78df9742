/**
 * PostgreSQL data path, side by side in one run against one harness PostgreSQL 15:
 *
 * - pgbench -S (one indexed `SELECT abalance … WHERE aid = :aid` per transaction) in simple and prepared
 *   modes with 8 and 64 clients, for 10 s each, through every endpoint: direct, PgBouncer (Debian's,
 *   session mode), and every endpoint registered with `registerBenchEndpoint` (the gateway);
 * - single-client pgbench -S per mode: the latency one hop adds (p50 / p99 from the per-transaction log);
 * - a bulk read of the seeded `customers` table (1M rows with name, email, phone, card number, SSN,
 *   IBAN): `\copy (SELECT * FROM customers) to '/dev/null'` (COPY TO STDOUT) and `SELECT * FROM
 *   customers` with the output to /dev/null, both through real psql, wall time, median of 3.
 *
 * Runs are interleaved (every endpoint for one configuration, then the next) so that drift on a shared
 * machine hits all endpoints alike; the report gives ratios to direct. The server runs with the
 * harness settings (fsync, synchronous_commit and full_page_writes off): every measured statement is a
 * read, so durability settings do not enter the figures; they only speed up seeding.
 *
 *   node bench/dist/postgres.bench.js [--duration 10] [--clients 8,64] [--modes simple,prepared]
 *     [--latency-duration 5] [--warmup 2] [--scale 10] [--rows 1000000] [--bulk-runs 3]
 *     [--no-pgbouncer] [--with <module>]... [--out bench/results/postgres.local.json]
 *
 * Extra endpoints: a module that calls `registerBenchEndpoint({ name, start })` at load. `--with
 * <module>` loads one; `bench/dist/postgres.endpoints.js` is loaded when it exists.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ClientRunError,
  endpointFromTarget,
  type PgbenchMode,
  type PgbenchResult,
  type PgEndpoint,
  type PostgresTarget,
  pgbench,
  pgbenchInit,
  pgbouncerBinary,
  psqlScript,
  run,
  seedCustomers,
  selectProvider,
  startPgBouncer,
} from '@tollgate/integration';

/** An endpoint started in front of the bench's PostgreSQL. */
export interface StartedBenchEndpoint {
  /** Where pgbench and psql connect (user, password and database as the endpoint expects them). */
  endpoint: PgEndpoint;
  /**
   * The endpoint runs in the bench's own process (the gateway): the report then gives its CPU
   * time per transaction, which moves far less than tps on a shared machine.
   */
  inProcess?: boolean;
  stop(): Promise<void>;
}

/**
 * A proxy to measure next to direct and PgBouncer. `start` gets the running target, where the pgbench
 * tables (`pgbench_accounts` at the bench's scale) and `customers` already exist in `target.database`,
 * and must resolve once clients can connect. It is started once, before the first run, and stopped
 * after the last; if it fails to start the report lists it under `skipped` and the bench goes on.
 */
export interface BenchEndpointStarter {
  /** Column label in the report, e.g. `tollgate`; not `direct` or `pgbouncer`, unique. */
  name: string;
  start(target: PostgresTarget): Promise<StartedBenchEndpoint>;
}

const registry: BenchEndpointStarter[] = [];

/** Adds endpoints that `runPostgresBench` measures when its options name none. */
export function registerBenchEndpoint(...starters: BenchEndpointStarter[]): void {
  for (const s of starters) {
    if (s.name === 'direct' || s.name === 'pgbouncer' || registry.some((r) => r.name === s.name)) {
      throw new Error(`bench endpoint name '${s.name}' is reserved or already registered`);
    }
    registry.push(s);
  }
}

/** The endpoints registered so far. */
export function registeredBenchEndpoints(): readonly BenchEndpointStarter[] {
  return [...registry];
}

export interface PostgresBenchOptions {
  /** Seconds per throughput run (default 10). */
  durationSec?: number;
  /** Client counts for the throughput runs (default 8 and 64). */
  clients?: number[];
  /** pgbench query modes (default simple and prepared). */
  modes?: PgbenchMode[];
  /** Seconds per single-client latency run, per mode (default 5; 0 skips them). */
  latencySec?: number;
  /** Seconds of pgbench -S per endpoint before measuring, first mode, highest client count (default 2). */
  warmupSec?: number;
  /** pgbench scale: 100 000 pgbench_accounts rows per unit (default 10). */
  scale?: number;
  /** Rows in `customers` for the bulk read (default 1 000 000). */
  bulkRows?: number;
  /** Bulk reads per endpoint and kind; the median counts (default 3; 0 skips them). */
  bulkRuns?: number;
  /** Measure PgBouncer in session mode (default true). */
  pgbouncer?: boolean;
  /** Endpoints besides direct and PgBouncer (default: the registered ones). */
  extraEndpoints?: readonly BenchEndpointStarter[];
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export interface ThroughputRow {
  endpoint: string;
  mode: PgbenchMode;
  clients: number;
  tps: number | null;
  /** pgbench's latency average, ms. */
  latencyAvgMs: number | null;
  p50Us: number | null;
  p99Us: number | null;
  transactions: number | null;
  failedTransactions: number | null;
  /** tps / direct tps for the same mode and clients. */
  tpsRatio: number | null;
  addedP50Us: number | null;
  addedP99Us: number | null;
  /** In-process endpoints: CPU time of the bench process (all threads) per transaction, µs. */
  cpuUsPerTx?: number | null;
  error?: string;
}

export interface LatencyRow {
  endpoint: string;
  mode: PgbenchMode;
  /** Transactions measured (one client). */
  samples: number | null;
  p50Us: number | null;
  p99Us: number | null;
  p999Us: number | null;
  /** Minus direct's, same mode. */
  addedP50Us: number | null;
  addedP99Us: number | null;
  /** In-process endpoints: CPU time of the bench process per transaction, µs. */
  cpuUsPerTx?: number | null;
  error?: string;
}

export interface BulkRow {
  endpoint: string;
  /** `copy`: `\copy (SELECT * FROM customers) to '/dev/null'`; `select`: `SELECT * FROM customers`. */
  kind: 'copy' | 'select';
  rows: number;
  /** Median wall time of the psql runs, seconds (connection included). */
  seconds: number | null;
  runs: number[];
  /** seconds / direct seconds, same kind. */
  ratio: number | null;
  error?: string;
}

export interface PostgresBenchReport {
  date: string;
  node: string;
  cpu: string;
  /** 1, 5 and 15 minute load averages at the start: the machine is shared. */
  loadAverage: number[];
  postgres: { version: string; settings: Record<string, string> };
  pgbouncer: { version: string; poolMode: 'session'; defaultPoolSize: number } | null;
  config: Required<Omit<PostgresBenchOptions, 'extraEndpoints' | 'log' | 'pgbouncer'>>;
  /** Endpoints measured, direct first. */
  endpoints: string[];
  skipped: Array<{ endpoint: string; reason: string }>;
  throughput: ThroughputRow[];
  latency: LatencyRow[];
  bulk: BulkRow[];
}

interface Running {
  name: string;
  endpoint: PgEndpoint;
  inProcess?: boolean;
  stop(): Promise<void>;
}

/** CPU time of this process (every thread) while `fn` runs. */
async function withCpu<T>(fn: () => Promise<T>): Promise<{ value: T; cpuUs: number }> {
  const before = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(before);
  return { value, cpuUs: used.user + used.system };
}

function perTx(cpuUs: number, transactions: number | null | undefined): number | null {
  return transactions ? Number((cpuUs / transactions).toFixed(1)) : null;
}

function firstLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n').slice(0, 6).join(' | ');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null || b === 0 ? null : Number((a / b).toFixed(3));
}

function diff(a: number | null | undefined, b: number | null | undefined): number | null {
  return a == null || b == null ? null : a - b;
}

async function versionOf(file: string): Promise<string> {
  const r = await run(file, ['--version'], { timeoutMs: 10_000 });
  return (r.stdout.split('\n')[0] ?? '').trim() || 'unknown';
}

/** Times one bulk read through psql and checks that every row arrived. */
async function bulkRead(ep: PgEndpoint, kind: BulkRow['kind'], rows: number): Promise<number> {
  const script =
    kind === 'copy'
      ? "\\copy (SELECT * FROM customers) to '/dev/null'\n\\echo :ROW_COUNT\n"
      : '\\o /dev/null\nSELECT * FROM customers;\n\\o\n\\echo :ROW_COUNT\n';
  const start = process.hrtime.bigint();
  const r = await psqlScript(ep, script, { timeoutMs: 300_000 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.code !== 0) throw new ClientRunError(`psql (bulk ${kind})`, ep, r);
  if (r.stdout.trim() !== String(rows)) {
    throw new ClientRunError(`psql (bulk ${kind})`, ep, r, `read ${r.stdout.trim()} rows, not ${rows}`);
  }
  return seconds;
}

function throughputRow(
  name: string,
  mode: PgbenchMode,
  clients: number,
  r: PgbenchResult | Error,
): ThroughputRow {
  const base = { endpoint: name, mode, clients, tpsRatio: null, addedP50Us: null, addedP99Us: null };
  if (r instanceof Error) {
    return {
      ...base,
      tps: null,
      latencyAvgMs: null,
      p50Us: null,
      p99Us: null,
      transactions: null,
      failedTransactions: null,
      error: firstLine(r),
    };
  }
  return {
    ...base,
    tps: Math.round(r.tps),
    latencyAvgMs: r.latencyAvgMs,
    p50Us: r.p50Us ?? null,
    p99Us: r.p99Us ?? null,
    transactions: r.transactions,
    failedTransactions: r.failedTransactions,
  };
}

/** Fills the ratio and added-latency columns against the direct row of the same configuration. */
function compareToDirect(report: PostgresBenchReport): void {
  for (const row of report.throughput) {
    const d = report.throughput.find(
      (x) => x.endpoint === 'direct' && x.mode === row.mode && x.clients === row.clients,
    );
    row.tpsRatio = ratio(row.tps, d?.tps);
    row.addedP50Us = diff(row.p50Us, d?.p50Us);
    row.addedP99Us = diff(row.p99Us, d?.p99Us);
  }
  for (const row of report.latency) {
    const d = report.latency.find((x) => x.endpoint === 'direct' && x.mode === row.mode);
    row.addedP50Us = diff(row.p50Us, d?.p50Us);
    row.addedP99Us = diff(row.p99Us, d?.p99Us);
  }
  for (const row of report.bulk) {
    const d = report.bulk.find((x) => x.endpoint === 'direct' && x.kind === row.kind);
    row.ratio = ratio(row.seconds, d?.seconds);
  }
}

/** Runs the whole PostgreSQL benchmark (see the file comment) and returns the report. */
export async function runPostgresBench(opts: PostgresBenchOptions = {}): Promise<PostgresBenchReport> {
  const config = {
    durationSec: opts.durationSec ?? 10,
    clients: opts.clients ?? [8, 64],
    modes: opts.modes ?? (['simple', 'prepared'] as PgbenchMode[]),
    latencySec: opts.latencySec ?? 5,
    warmupSec: opts.warmupSec ?? 2,
    scale: opts.scale ?? 10,
    bulkRows: opts.bulkRows ?? 1_000_000,
    bulkRuns: opts.bulkRuns ?? 3,
  };
  const log = opts.log ?? ((l: string) => process.stderr.write(`[postgres-bench] ${l}\n`));
  const extras = opts.extraEndpoints ?? registeredBenchEndpoints();
  const maxClients = Math.max(1, ...config.clients);
  const poolSize = maxClients + 4;
  // Idle pooled server connections stay open while the next endpoint connects its own.
  const settings = {
    max_connections: String((2 + extras.length) * (maxClients + 5) + 20),
    shared_buffers: '512MB',
  };
  const report: PostgresBenchReport = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? 'unknown'} x${cpus().length}`,
    loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
    postgres: { version: '', settings },
    pgbouncer: null,
    config,
    endpoints: [],
    skipped: [],
    throughput: [],
    latency: [],
    bulk: [],
  };

  const target = await (await selectProvider()).startPostgres({ suite: 'postgres-bench', settings });
  const running: Running[] = [];
  try {
    report.postgres.version = `PostgreSQL ${target.serverVersion}`;
    const direct = endpointFromTarget(target);
    log(`pgbench -i -s ${config.scale}`);
    await pgbenchInit(direct, { scale: config.scale });
    log(`seeding customers with ${config.bulkRows} rows`);
    await seedCustomers(direct, config.bulkRows);
    running.push({ name: 'direct', endpoint: direct, stop: async () => undefined });

    if (opts.pgbouncer ?? true) {
      const b = await startPgBouncer({
        suite: 'postgres-bench',
        target,
        poolMode: 'session',
        maxClientConn: maxClients + 50,
        defaultPoolSize: poolSize,
      });
      running.push({ name: 'pgbouncer', endpoint: b.endpoint, stop: async () => void (await b.stop()) });
      report.pgbouncer = {
        version: await versionOf(await pgbouncerBinary()),
        poolMode: 'session',
        defaultPoolSize: poolSize,
      };
    }
    for (const x of extras) {
      try {
        const s = await x.start(target);
        running.push({
          name: x.name,
          endpoint: { ...s.endpoint, name: x.name },
          ...(s.inProcess ? { inProcess: true } : {}),
          stop: () => s.stop(),
        });
      } catch (e) {
        report.skipped.push({ endpoint: x.name, reason: firstLine(e) });
        log(`skipping ${x.name}: it did not start: ${firstLine(e)}`);
      }
    }
    report.endpoints = running.map((r) => r.name);

    if (config.warmupSec > 0) {
      for (const r of running) {
        log(`warm-up: ${r.name}`);
        await pgbench(r.endpoint, {
          mode: config.modes[0] ?? 'simple',
          clients: maxClients,
          selectOnly: true,
          durationSec: config.warmupSec,
        }).catch((e: unknown) => log(`warm-up through ${r.name} failed: ${firstLine(e)}`));
      }
    }

    for (const mode of config.modes) {
      for (const clients of config.clients) {
        for (const r of running) {
          log(`pgbench -S -M ${mode} -c ${clients} -T ${config.durationSec}: ${r.name}`);
          const { value: res, cpuUs } = await withCpu(() =>
            pgbench(r.endpoint, {
              mode,
              clients,
              selectOnly: true,
              durationSec: config.durationSec,
              latencyLog: true,
            }).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))),
          );
          const row = throughputRow(r.name, mode, clients, res);
          if (r.inProcess) row.cpuUsPerTx = perTx(cpuUs, row.transactions);
          report.throughput.push(row);
        }
      }
    }

    if (config.latencySec > 0) {
      for (const mode of config.modes) {
        for (const r of running) {
          log(`latency, pgbench -S -M ${mode} -c 1 -T ${config.latencySec}: ${r.name}`);
          try {
            const { value: res, cpuUs } = await withCpu(() =>
              pgbench(r.endpoint, {
                mode,
                clients: 1,
                jobs: 1,
                selectOnly: true,
                durationSec: config.latencySec,
                latencyLog: true,
              }),
            );
            report.latency.push({
              endpoint: r.name,
              mode,
              samples: res.latency?.samples ?? null,
              p50Us: res.latency?.p50Us ?? null,
              p99Us: res.latency?.p99Us ?? null,
              p999Us: res.latency?.p999Us ?? null,
              addedP50Us: null,
              addedP99Us: null,
              ...(r.inProcess ? { cpuUsPerTx: perTx(cpuUs, res.transactions) } : {}),
            });
          } catch (e) {
            report.latency.push({
              endpoint: r.name,
              mode,
              samples: null,
              p50Us: null,
              p99Us: null,
              p999Us: null,
              addedP50Us: null,
              addedP99Us: null,
              error: firstLine(e),
            });
          }
        }
      }
    }

    if (config.bulkRuns > 0) {
      const times = new Map<string, { runs: number[]; error?: string }>();
      for (let i = 0; i < config.bulkRuns; i++) {
        for (const r of running) {
          for (const kind of ['copy', 'select'] as const) {
            const key = `${r.name}\0${kind}`;
            const entry = times.get(key) ?? { runs: [] };
            times.set(key, entry);
            if (entry.error) continue;
            log(`bulk ${kind} ${i + 1}/${config.bulkRuns}: ${r.name}`);
            try {
              entry.runs.push(await bulkRead(r.endpoint, kind, config.bulkRows));
            } catch (e) {
              entry.error = firstLine(e);
            }
          }
        }
      }
      for (const kind of ['copy', 'select'] as const) {
        for (const r of running) {
          const entry = times.get(`${r.name}\0${kind}`) ?? { runs: [] };
          report.bulk.push({
            endpoint: r.name,
            kind,
            rows: config.bulkRows,
            seconds: entry.error || entry.runs.length === 0 ? null : Number(median(entry.runs).toFixed(3)),
            runs: entry.runs.map((x) => Number(x.toFixed(3))),
            ratio: null,
            ...(entry.error ? { error: entry.error } : {}),
          });
        }
      }
    }
    compareToDirect(report);
    return report;
  } finally {
    for (const r of running.reverse()) {
      await r.stop().catch((e: unknown) => log(`stopping ${r.name} failed: ${firstLine(e)}`));
    }
    await target.stop();
  }
}

const fmt = (v: number | null | undefined, digits = 0): string =>
  v == null
    ? '–'
    : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const signed = (v: number | null): string => (v == null ? '' : `${v >= 0 ? '+' : ''}${fmt(v)}`);

/** The report as plain-text tables. */
export function formatPostgresReport(r: PostgresBenchReport): string {
  const out: string[] = [];
  // the endpoint column fits the longest name
  const w = Math.max(12, ...r.endpoints.map((e) => e.length + 2));
  out.push(
    `PostgreSQL data path (${r.postgres.version}${r.pgbouncer ? `, ${r.pgbouncer.version}` : ''}; ${r.node}, ${r.cpu}, load ${r.loadAverage.join(' ')})`,
  );
  out.push('', `pgbench -S, ${r.config.durationSec} s per run; latency from the per-transaction log`);
  out.push(
    `${'mode'.padEnd(10)}${'clients'.padStart(8)}  ${'endpoint'.padEnd(w)}${'tps'.padStart(10)}${'× direct'.padStart(10)}${'p50 µs'.padStart(9)}${'p99 µs'.padStart(9)}${'+p50'.padStart(8)}${'+p99'.padStart(8)}${'cpu µs/tx'.padStart(11)}`,
  );
  for (const x of r.throughput) {
    out.push(
      `${x.mode.padEnd(10)}${String(x.clients).padStart(8)}  ${x.endpoint.padEnd(w)}${fmt(x.tps).padStart(10)}${fmt(x.tpsRatio, 2).padStart(10)}${fmt(x.p50Us).padStart(9)}${fmt(x.p99Us).padStart(9)}${signed(x.addedP50Us).padStart(8)}${signed(x.addedP99Us).padStart(8)}${fmt(x.cpuUsPerTx, 1).padStart(11)}${x.error ? `  error: ${x.error}` : ''}`,
    );
  }
  if (r.latency.length > 0) {
    out.push('', `added latency, one client, pgbench -S for ${r.config.latencySec} s (µs)`);
    out.push(
      `${'mode'.padEnd(10)}${'endpoint'.padEnd(w)}${'p50'.padStart(8)}${'p99'.padStart(8)}${'p99.9'.padStart(8)}${'+p50'.padStart(8)}${'+p99'.padStart(8)}${'cpu µs/tx'.padStart(11)}`,
    );
    for (const x of r.latency) {
      out.push(
        `${x.mode.padEnd(10)}${x.endpoint.padEnd(w)}${fmt(x.p50Us).padStart(8)}${fmt(x.p99Us).padStart(8)}${fmt(x.p999Us).padStart(8)}${signed(x.addedP50Us).padStart(8)}${signed(x.addedP99Us).padStart(8)}${fmt(x.cpuUsPerTx, 1).padStart(11)}${x.error ? `  error: ${x.error}` : ''}`,
      );
    }
  }
  if (r.bulk.length > 0) {
    out.push(
      '',
      `bulk read of ${fmt(r.config.bulkRows)} customers rows through psql (median of ${r.config.bulkRuns}, s)`,
    );
    out.push(`${'kind'.padEnd(8)}${'endpoint'.padEnd(w)}${'seconds'.padStart(9)}${'× direct'.padStart(10)}`);
    for (const x of r.bulk) {
      out.push(
        `${x.kind.padEnd(8)}${x.endpoint.padEnd(w)}${fmt(x.seconds, 3).padStart(9)}${fmt(x.ratio, 2).padStart(10)}${x.error ? `  error: ${x.error}` : ''}`,
      );
    }
  }
  for (const s of r.skipped) out.push(`skipped ${s.endpoint}: ${s.reason}`);
  return out.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      clients: { type: 'string', default: '8,64' },
      modes: { type: 'string', default: 'simple,prepared' },
      'latency-duration': { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      scale: { type: 'string', default: '10' },
      rows: { type: 'string', default: '1000000' },
      'bulk-runs': { type: 'string', default: '3' },
      'no-pgbouncer': { type: 'boolean' },
      with: { type: 'string', multiple: true },
      out: { type: 'string', default: join(__dirname, '..', 'results', 'postgres.local.json') },
    },
  });
  const modes = values.modes.split(',').map((m) => m.trim());
  for (const m of modes) {
    if (m !== 'simple' && m !== 'extended' && m !== 'prepared')
      throw new Error(`--modes: unknown mode '${m}'`);
  }
  const defaultModule = join(__dirname, 'postgres.endpoints.js');
  const modules = [
    ...(existsSync(defaultModule) ? [defaultModule] : []),
    ...(values.with ?? []).map((m) => resolve(m)),
  ];
  for (const m of modules) require(m);
  const report = await runPostgresBench({
    durationSec: Number(values.duration),
    clients: values.clients.split(',').map(Number),
    modes: modes as PgbenchMode[],
    latencySec: Number(values['latency-duration']),
    warmupSec: Number(values.warmup),
    scale: Number(values.scale),
    bulkRows: Number(values.rows),
    bulkRuns: Number(values['bulk-runs']),
    pgbouncer: !values['no-pgbouncer'],
  });
  console.log(formatPostgresReport(report));
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${values.out}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
