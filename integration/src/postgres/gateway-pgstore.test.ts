import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Gateway } from '@tollgate/gateway';
import {
  endpointFromTarget,
  FailureTracker,
  type PostgresTarget,
  pgClient,
  psql,
  seedCustomers,
  selectProvider,
} from '../harness/index';
import { pendingApprovals, resourceYaml } from './fixture';

/**
 * The PostgreSQL data path with its state in PostgreSQL (the multi-gateway store) instead of
 * SQLite: two gateways share one store; a statement held on one is approved through the other.
 */
describe('PostgreSQL path with a PostgreSQL store shared by two gateways', () => {
  const failures = new FailureTracker();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pgstore-'));
  let target: PostgresTarget | undefined;
  let a: Gateway | undefined;
  let b: Gateway | undefined;
  let key = '';

  before(
    async () => {
      target = await (await selectProvider()).startPostgres({ suite: 'pg-gateway-pgstore' });
      const seeded = await seedCustomers(endpointFromTarget(target), 50);
      assert.equal(seeded.code, 0, seeded.stderr);
      await psql(target, { sql: 'CREATE DATABASE tollgate_state;' });
      writeFileSync(
        join(dir, 'policy.yaml'),
        `version: 1
roles:
  reviewer: [{ group: dba }]
resources:
${resourceYaml('shop', target)}rules:
  - name: reads
    subjects: [{ group: agents }]
    resources: [shop]
    actions: [read]
    effect: allow
  - name: drops
    subjects: [{ group: agents }]
    resources: [shop]
    actions: [dangerous]
    effect: require-approval
    approval: { reviewers: [dba], approvals: 1, timeout: 2m }
`,
      );
      const start = () =>
        Gateway.start({
          controlPlane: {
            store: { url: (target as PostgresTarget).connectionString({ database: 'tollgate_state' }) },
            policyFile: join(dir, 'policy.yaml'),
          },
          postgres: { host: '127.0.0.1', port: 0 },
          env: { ...process.env, TG_TEST_TARGET_PASSWORD: (target as PostgresTarget).password },
        });
      a = await start();
      b = await start();
      key = (await a.controlPlane.serviceAccounts.create({ name: 'agent', groups: ['agents'] })).apiKey;
    },
    { timeout: 150_000 },
  );
  afterEach(failures.afterEach);
  after(async () => {
    await a?.stop();
    await b?.stop();
    await target?.stop({ keepLogs: failures.failed });
    rmSync(dir, { recursive: true, force: true });
  });

  const ep = (g: Gateway | undefined) => ({
    name: 'tollgate',
    host: '127.0.0.1',
    port: g?.postgres?.port ?? 0,
    user: 'agent',
    password: key,
    database: 'shop',
    sslmode: 'disable' as const,
  });

  test('a key created on one gateway works on the other; both append to one verified chain', {
    timeout: 60_000,
  }, async () => {
    for (const g of [a, b]) {
      const c = await pgClient(ep(g));
      try {
        const r = await c.query('SELECT email FROM customers WHERE id = $1', [1]);
        assert.equal(r.rows[0].email, '[REDACTED:email]');
      } finally {
        await c.end();
      }
    }
    const records = await (b as Gateway).controlPlane.audit.query({ subject: 'agent', types: ['command'] });
    assert.ok(records.length >= 2);
    assert.equal((await (a as Gateway).controlPlane.audit.verify({})).ok, true);
  });

  test('a statement held on gateway A is released by an approval given on gateway B', {
    timeout: 60_000,
  }, async () => {
    await psql(target as PostgresTarget, { sql: 'CREATE TABLE scratch (id int);' });
    const c = await pgClient(ep(a));
    try {
      const running = c.query('DROP TABLE scratch');
      const cp = (b as Gateway).controlPlane;
      const pending = await pendingApprovals(b as Gateway);
      assert.equal(pending.length, 1);
      await cp.approvals.approve((pending[0] as { id: string }).id, {
        subject: 'dba1',
        kind: 'oidc',
        issuer: 'https://idp',
        groups: ['dba'],
      });
      await running;
    } finally {
      await c.end();
    }
    const gone = await psql(target as PostgresTarget, { sql: "SELECT to_regclass('scratch') IS NULL;" });
    assert.equal(gone.stdout.trim(), 't');
  });
});
