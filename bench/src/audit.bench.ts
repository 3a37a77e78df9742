/**
 * Durable audit appends per second, SQLite and PostgreSQL side by side in one run:
 *
 * - sequential: one appender awaiting each append (one transaction, one fsync per event);
 * - concurrent: many appenders at once, so the store commits them in groups (group commit);
 * - PostgreSQL only: the same load split over two stores on one database, as two gateways.
 *
 * Every append resolves only after its transaction committed (SQLite: WAL, synchronous = FULL;
 * PostgreSQL: fsync, synchronous_commit and full_page_writes on, unlike the test harness default). Records are signed-checkpointed every 1000 and the head is
 * signed on every commit, as in production. Also times `verify` over the concurrent log.
 *
 *   node bench/dist/audit.bench.js [--events 200000] [--sequential 2000] [--concurrency 1000]
 *                                  [--no-pg] [--out bench/results/audit.local.json]
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type AuditStore,
  closeStore,
  openAuditStore,
  openPostgres,
  openSqlite,
  type StoreDb,
} from '@tollgate/control-plane';
import type { AuditEventInput } from '@tollgate/core';

export interface AuditBenchRow {
  store: 'sqlite' | 'postgres';
  mode: 'sequential' | 'concurrent' | 'concurrent, 2 stores';
  /** Appenders awaiting at the same time. */
  concurrency: number;
  events: number;
  seconds: number;
  eventsPerSec: number;
  /** Transactions that extended the chain. */
  commits: number;
  /** `verify` over the log just written, records per second (concurrent rows only). */
  verifyPerSec: number | null;
}

export interface AuditBenchReport {
  date: string;
  node: string;
  cpu: string;
  rows: AuditBenchRow[];
  /** Why PostgreSQL rows are missing, when they are. */
  postgresSkipped?: string;
}

export interface AuditBenchOptions {
  /** Events for each concurrent run (default 200 000). */
  events?: number;
  /** Events for each sequential run (default 2000). */
  sequential?: number;
  /** Concurrent appenders (default 1000). */
  concurrency?: number;
  /** Include PostgreSQL, started by the integration harness (default true). */
  postgres?: boolean;
}

/** A command record of realistic size (~400 bytes canonical). */
function event(i: number): AuditEventInput {
  return {
    type: 'command',
    sessionId: `sess-${i >> 6}`,
    identity: {
      subject: `agent-${i % 17}`,
      kind: 'oidc',
      issuer: 'https://idp.example.com',
      groups: ['agents', 'ci'],
    },
    resource: 'orders-db',
    action: i % 50 === 0 ? 'write' : 'read',
    decision: 'allow',
    data: {
      command: `SELECT id, email, total FROM orders WHERE customer_id = $1 AND created_at > $2 LIMIT 100 -- ${i}`,
      params: ['[REDACTED:id]', '2026-07-01'],
      protocol: 'postgres',
    },
  };
}

async function timed(
  store: AuditStore,
  events: number,
  concurrency: number,
  offset: number,
): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (next < events) {
      const i = next++;
      await store.append(event(offset + i));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function measure(
  kind: AuditBenchRow['store'],
  open: () => Promise<StoreDb>,
  key: KeyObject,
  o: Required<AuditBenchOptions>,
): Promise<AuditBenchRow[]> {
  const rows: AuditBenchRow[] = [];
  const runs: Array<{ mode: AuditBenchRow['mode']; events: number; concurrency: number; stores: number }> = [
    { mode: 'sequential', events: o.sequential, concurrency: 1, stores: 1 },
    { mode: 'concurrent', events: o.events, concurrency: o.concurrency, stores: 1 },
  ];
  if (kind === 'postgres')
    runs.push({ mode: 'concurrent, 2 stores', events: o.events, concurrency: o.concurrency, stores: 2 });
  for (const r of runs) {
    const dbs = [await open()];
    for (let s = 1; s < r.stores; s++) dbs.push(await reopen(dbs[0] as StoreDb));
    const stores = await Promise.all(
      dbs.map((db) => openAuditStore(db, { signingKey: key, checkpointEvery: 1000 })),
    );
    try {
      const per = Math.ceil(r.events / r.stores);
      const secs = Math.max(
        ...(await Promise.all(
          stores.map((s, i) => timed(s, per, Math.ceil(r.concurrency / r.stores), i * per)),
        )),
      );
      const events = per * r.stores;
      const commits = stores.reduce((n, s) => n + s.stats().commits, 0);
      let verifyPerSec: number | null = null;
      if (r.mode !== 'sequential') {
        const t0 = process.hrtime.bigint();
        const report = await (stores[0] as AuditStore).verify({});
        const vs = Number(process.hrtime.bigint() - t0) / 1e9;
        if (!report.ok || report.records !== events)
          throw new Error(`verify after the ${kind} run: ${report.summary}`);
        verifyPerSec = Math.round(report.records / vs);
      }
      rows.push({
        store: kind,
        mode: r.mode,
        concurrency: r.concurrency,
        events,
        seconds: Number(secs.toFixed(3)),
        eventsPerSec: Math.round(events / secs),
        commits,
        verifyPerSec,
      });
    } finally {
      for (const s of stores) await s.close();
      for (const db of dbs) await closeStore(db);
    }
  }
  return rows;
}

async function reopen(db: StoreDb): Promise<StoreDb> {
  return db.kind === 'sqlite' ? openSqlite(db.path) : openPostgres(db.config);
}

export async function runAuditBench(opts: AuditBenchOptions = {}): Promise<AuditBenchReport> {
  const o: Required<AuditBenchOptions> = {
    events: opts.events ?? 200_000,
    sequential: opts.sequential ?? 2000,
    concurrency: opts.concurrency ?? 1000,
    postgres: opts.postgres ?? true,
  };
  const key = generateKeyPairSync('ed25519').privateKey;
  const report: AuditBenchReport = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? 'unknown'} x${cpus().length}`,
    rows: [],
  };
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-audit-bench-'));
  try {
    let n = 0;
    report.rows.push(
      ...(await measure('sqlite', async () => openSqlite(join(dir, `audit-${++n}.db`)), key, o)),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (o.postgres) {
    // Loaded only when asked: the harness is for benchmarks and tests, not for the stores.
    const { selectProvider } = await import('@tollgate/integration');
    // The harness turns fsync off for test speed; a durability benchmark turns it back on.
    const target = await (await selectProvider()).startPostgres({
      suite: 'audit-bench',
      settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', shared_buffers: '128MB' },
    });
    try {
      let n = 0;
      const open = async (): Promise<StoreDb> => {
        const schema = `bench_${++n}`;
        const admin = openPostgres({ connectionString: target.connectionString(), max: 1 });
        if (admin.kind === 'postgres') await admin.pool.query(`CREATE SCHEMA ${schema}`);
        await closeStore(admin);
        return openPostgres({
          connectionString: `${target.connectionString()}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
        });
      };
      report.rows.push(...(await measure('postgres', open, key, o)));
    } finally {
      await target.stop();
    }
  }
  return report;
}

export function formatAuditReport(r: AuditBenchReport): string {
  const head = `${'store'.padEnd(10)}${'mode'.padEnd(22)}${'appenders'.padStart(10)}${'events'.padStart(9)}${'events/s'.padStart(10)}${'commits'.padStart(9)}${'verify rec/s'.padStart(14)}`;
  const lines = r.rows.map(
    (x) =>
      `${x.store.padEnd(10)}${x.mode.padEnd(22)}${String(x.concurrency).padStart(10)}${String(x.events).padStart(9)}${String(x.eventsPerSec).padStart(10)}${String(x.commits).padStart(9)}${String(x.verifyPerSec ?? '').padStart(14)}`,
  );
  const skipped = r.postgresSkipped ? [`postgres skipped: ${r.postgresSkipped}`] : [];
  return [`audit appends, durable (${r.node}, ${r.cpu})`, head, ...lines, ...skipped].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '200000' },
      sequential: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '1000' },
      'no-pg': { type: 'boolean' },
      out: { type: 'string', default: join(__dirname, '..', 'results', 'audit.local.json') },
    },
  });
  const report = await runAuditBench({
    events: Number(values.events),
    sequential: Number(values.sequential),
    concurrency: Number(values.concurrency),
    postgres: !values['no-pg'],
  });
  console.log(formatAuditReport(report));
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
