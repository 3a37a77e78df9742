import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startPgBouncer } from '@tollgate/integration';
import {
  type BenchEndpointStarter,
  formatPostgresReport,
  registeredBenchEndpoints,
  runPostgresBench,
} from './postgres.bench';
import './postgres.endpoints';

// Keeps the benchmark runnable on a tiny configuration; asserts shape and ratios' presence, never a time.
describe('PostgreSQL benchmark (smoke: 1 s runs, 2 000 customers)', () => {
  it('measures direct, PgBouncer and plugged-in endpoints side by side, and skips one that fails', {
    timeout: 240_000,
  }, async () => {
    // A real second proxy stands in for the gateway: PgBouncer in transaction mode.
    const transactionPool: BenchEndpointStarter = {
      name: 'pgb-tx',
      start: async (target) => {
        const b = await startPgBouncer({ suite: 'postgres-bench-smoke', target, poolMode: 'transaction' });
        return { endpoint: b.endpoint, stop: async () => void (await b.stop()) };
      },
    };
    const broken: BenchEndpointStarter = {
      name: 'broken',
      start: async () => {
        throw new Error('refused to start');
      },
    };
    const r = await runPostgresBench({
      durationSec: 1,
      clients: [2],
      modes: ['simple'],
      latencySec: 1,
      warmupSec: 0,
      scale: 1,
      bulkRows: 2000,
      bulkRuns: 1,
      extraEndpoints: [transactionPool, broken],
      log: () => undefined,
    });
    const names = ['direct', 'pgbouncer', 'pgb-tx'];
    assert.deepEqual(r.endpoints, names);
    assert.deepEqual(r.skipped, [{ endpoint: 'broken', reason: 'refused to start' }]);
    assert.deepEqual(
      r.throughput.map((x) => [x.endpoint, x.mode, x.clients, x.error ?? null]),
      names.map((n) => [n, 'simple', 2, null]),
    );
    for (const x of r.throughput) {
      assert.ok((x.tps ?? 0) > 0 && (x.tpsRatio ?? 0) > 0, JSON.stringify(x));
      assert.equal(x.failedTransactions, 0);
      assert.ok(x.p50Us !== null && x.p99Us !== null && x.addedP99Us !== null);
    }
    assert.equal(r.throughput[0]?.tpsRatio, 1);
    assert.deepEqual(
      r.latency.map((x) => [x.endpoint, x.addedP50Us === null]),
      names.map((n) => [n, false]),
    );
    assert.deepEqual(
      r.bulk.map((x) => [x.endpoint, x.kind, x.rows, x.error ?? null]),
      ['copy', 'select'].flatMap((kind) => names.map((n) => [n, kind, 2000, null])),
    );
    for (const x of r.bulk) assert.ok((x.seconds ?? 0) > 0 && (x.ratio ?? 0) > 0);
    assert.match(r.pgbouncer?.version ?? '', /PgBouncer 1\.\d+/);
    const table = formatPostgresReport(r);
    assert.match(table, /simple\s+2\s+pgb-tx/);
    assert.match(table, /skipped broken: refused to start/);
  });

  it('runs the endpoints the bench registers: the Node.js relay and Tollgate with everything on', {
    timeout: 240_000,
  }, async () => {
    const r = await runPostgresBench({
      durationSec: 1,
      clients: [2],
      modes: ['prepared'],
      latencySec: 1,
      warmupSec: 0,
      scale: 1,
      bulkRows: 2000,
      bulkRuns: 1,
      pgbouncer: false,
      extraEndpoints: registeredBenchEndpoints().filter((e) =>
        ['node-relay', 'tollgate', 'tollgate-cols'].includes(e.name),
      ),
      log: () => undefined,
    });
    assert.deepEqual(r.endpoints, ['direct', 'node-relay', 'tollgate', 'tollgate-cols']);
    assert.deepEqual(r.skipped, []);
    for (const x of r.throughput) {
      assert.equal(x.error, undefined, JSON.stringify(x));
      assert.ok((x.tps ?? 0) > 0 && x.failedTransactions === 0, JSON.stringify(x));
      if (x.endpoint !== 'direct') assert.ok((x.cpuUsPerTx ?? 0) > 0, JSON.stringify(x));
    }
    // psql read every row through each of them (the gateway masking every column)
    for (const x of r.bulk) assert.equal(x.rows, 2000, JSON.stringify(x));
  });
});
