import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import { Approvals, closeStore, openPostgres, type StoreDb } from '@tollgate/control-plane';
import { MemoryAudit } from '@tollgate/control-plane/dist/approvals/testing/memory-audit';
import { approvalsSuite } from '@tollgate/control-plane/dist/approvals/testing/suite';
import type { Identity } from '@tollgate/core';
import { FailureTracker, type PostgresTarget, selectProvider } from '../harness/index';

// One real PostgreSQL for this file: the shared approvals suite (two `Approvals` instances on
// separate pools = two gateways, child processes = an admin CLI) and the LISTEN reconnect test.
let started: Promise<PostgresTarget> | undefined;
const postgres = (): Promise<PostgresTarget> => {
  started ??= selectProvider().then((p) => p.startPostgres({ suite: 'control-plane-approvals' }));
  return started;
};
const failures = new FailureTracker();
let suiteFailed = false;

after(
  async () => {
    if (started) await (await started).stop({ keepLogs: failures.failed || suiteFailed });
  },
  { timeout: 60_000 },
);

approvalsSuite('approvals on PostgreSQL (two gateways sharing one database)', async () => {
  const t = await postgres();
  return {
    open: () => openPostgres({ connectionString: t.connectionString() }),
    spec: { kind: 'postgres', connectionString: t.connectionString() },
    async stop(failed) {
      suiteFailed = failed;
    },
  };
});

describe('approvals on PostgreSQL: the LISTEN connection', () => {
  afterEach(failures.afterEach);
  const agent: Identity = { subject: 'ci-bot', kind: 'oidc', issuer: 'https://idp.test', groups: ['agents'] };
  const bob: Identity = { subject: 'bob', kind: 'oidc', issuer: 'https://idp.test', groups: ['dba'] };

  test('reconnects after the server kills it, and catches up on decisions made meanwhile', {
    timeout: 120_000,
  }, async () => {
    const t = await postgres();
    const stores: StoreDb[] = [];
    const open = (): StoreDb => {
      const s = openPostgres({ connectionString: t.connectionString() });
      stores.push(s);
      return s;
    };
    const logs: string[] = [];
    const audit = new MemoryAudit();
    const a = await Approvals.open(open(), { audit, log: (l) => logs.push(l) });
    const b = await Approvals.open(open(), { audit });
    const admin = open();
    try {
      const r = await a.request({
        requester: agent,
        resource: 'prod-db',
        sessionId: 'sess-reconnect',
        action: 'dangerous',
        command: 'TRUNCATE ledger',
        fingerprint: 'fp-reconnect',
        requirement: { reviewers: ['dba'], approvals: 1, timeoutMs: 60_000 },
      });
      const held = a.wait(r.id);
      // Until A's listener is up (bounded), then kill it from the server side.
      const listeners = async (): Promise<number[]> => {
        if (admin.kind !== 'postgres') return [];
        const q = await admin.pool.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN tollgate_approvals' AND pid <> pg_backend_pid()",
        );
        return q.rows.map((x) => x.pid);
      };
      let pids: number[] = [];
      for (let i = 0; i < 400 && pids.length === 0; i++) {
        pids = await listeners();
        if (pids.length === 0) await new Promise((res) => setTimeout(res, 25));
      }
      assert.ok(pids.length > 0, 'the LISTEN connection never showed up in pg_stat_activity');
      if (admin.kind === 'postgres') {
        await admin.pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
      }
      // Decided while A's listener is down or reconnecting: the NOTIFY may be lost, the catch-up is not.
      await b.approve(r.id, bob, 'during the outage');
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        held,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('waiter not woken after reconnect')), 30_000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.equal(done.status, 'approved');
      assert.equal(a.stats().wakeups.remote, 1);
      assert.ok(
        logs.some((l) => /LISTEN connection to PostgreSQL lost/.test(l)),
        `expected a log line about the lost connection, got: ${logs.join(' | ')}`,
      );
      assert.ok(!logs.join('\n').includes(t.password), 'the password must never be logged');
    } finally {
      await a.close();
      await b.close();
      for (const s of stores) await closeStore(s);
    }
  });
});
