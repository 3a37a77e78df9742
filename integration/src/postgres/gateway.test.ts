import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Gateway, runCli } from '@tollgate/gateway';
import {
  endpointFromTarget,
  FailureTracker,
  type PgEndpoint,
  type PostgresTarget,
  pgbench,
  pgbenchInit,
  pgClient,
  psql,
  psycopg,
  seedCustomers,
  selectProvider,
} from '../harness/index';
import { pendingApprovals } from './fixture';

/**
 * The PostgreSQL data path end to end: a real PostgreSQL target, the real gateway (control plane
 * on SQLite, PostgreSQL listener), and real clients — psql, node-postgres, pgbench — connecting
 * with a service-account API key as the password.
 */

const policy = (target: PostgresTarget) => `version: 1
roles:
  admin: [{ group: platform-admins }]
  reviewer: [{ group: dba }]
resources:
  shop:
    protocol: postgres
    address: 127.0.0.1:${target.port}
    database: ${target.database}
    username: ${target.user}
    credential: { env: TG_TEST_TARGET_PASSWORD }
  shop-strict:
    protocol: postgres
    address: 127.0.0.1:${target.port}
    database: ${target.database}
    username: ${target.user}
    credential: { env: TG_TEST_TARGET_PASSWORD }
maskingProfiles:
  pii:
    otherwise: scan
    styles: { card: last4 }
rules:
  - name: agents-work
    subjects: [{ group: agents }]
    resources: [shop, shop-strict]
    actions: [read, write, transaction, utility]
    effect: allow
    masking: pii
  - name: risky-needs-a-dba
    subjects: [{ group: agents }]
    resources: [shop]
    actions: [dangerous, ddl]
    effect: require-approval
    approval: { reviewers: [dba], approvals: 1, timeout: 2m }
  - name: strict-no-risk
    subjects: [{ group: agents }]
    resources: [shop-strict]
    actions: [dangerous, ddl, admin, unknown]
    effect: deny
    reason: not on the strict resource
`;

describe('PostgreSQL through the gateway', () => {
  const failures = new FailureTracker();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-pg-gw-'));
  let target: PostgresTarget | undefined;
  let gw: Gateway | undefined;
  let agentKey = '';
  let dbaKey = '';
  const logs: string[] = [];

  before(
    async () => {
      target = await (await selectProvider()).startPostgres({ suite: 'pg-gateway' });
      const seeded = await seedCustomers(endpointFromTarget(target), 200);
      assert.equal(seeded.code, 0, seeded.stderr);
      writeFileSync(join(dir, 'policy.yaml'), policy(target));
      gw = await Gateway.start({
        controlPlane: {
          store: { sqlite: join(dir, 'state.db') },
          policyFile: join(dir, 'policy.yaml'),
          api: { host: '127.0.0.1', port: 0 },
        },
        postgres: { host: '127.0.0.1', port: 0 },
        env: { ...process.env, TG_TEST_TARGET_PASSWORD: target.password },
        log: (l) => logs.push(l),
      });
      agentKey = (await gw.controlPlane.serviceAccounts.create({ name: 'agent', groups: ['agents'] })).apiKey;
      dbaKey = (await gw.controlPlane.serviceAccounts.create({ name: 'dba1', groups: ['dba'] })).apiKey;
    },
    { timeout: 150_000 },
  );
  afterEach(failures.afterEach);
  after(async () => {
    await gw?.stop();
    await target?.stop({ keepLogs: failures.failed });
    rmSync(dir, { recursive: true, force: true });
  });

  const ep = (database = 'shop'): PgEndpoint => ({
    name: 'tollgate',
    host: '127.0.0.1',
    port: gw?.postgres?.port ?? 0,
    user: 'agent',
    password: agentKey,
    database,
    sslmode: 'disable',
  });
  const viaGateway = (sql: string, database = 'shop') =>
    psql({ ...ep(database), suite: 'pg-gateway' }, { sql });

  test('psql reads through the gateway and sees PII masked', { timeout: 60_000 }, async () => {
    const r = await viaGateway(
      'SELECT id, email, card_number, ssn, city FROM customers ORDER BY id LIMIT 3;',
    );
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('|'));
    assert.equal(rows.length, 3);
    for (const [id, email, card, ssn, city] of rows) {
      assert.match(id as string, /^\d+$/);
      assert.equal(email, '[REDACTED:email]');
      assert.match(card as string, /^\*+[- ]?\*{0,4}.*\d{4}$/, `card ${card} should keep only its last 4`);
      assert.equal(ssn, '[REDACTED:ssn]');
      assert.ok((city as string).length > 0 && !(city as string).includes('REDACTED'));
    }
    assert.doesNotMatch(r.stdout, /@example\.com/);
  });

  test('a wrong token is refused with 28P01 and nothing reaches the target', {
    timeout: 30_000,
  }, async () => {
    const r = await psql({ ...ep(), password: 'tgk_not_a_key_at_all' }, { sql: 'SELECT 1;' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /FATAL/);
  });

  test('a denied statement fails with 42501; multi-statement strings are decided as a whole', {
    timeout: 30_000,
  }, async () => {
    const r = await viaGateway('SELECT 1; DROP TABLE customers;', 'shop-strict');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /policy denies dangerous on shop-strict/);
    const still = await viaGateway('SELECT count(*) FROM customers;', 'shop-strict');
    assert.equal(still.stdout.trim(), '200');
  });

  test('bypass attempts are all caught on the strict resource', { timeout: 60_000 }, async () => {
    const attempts = [
      '/* harmless */ dRoP /* x */ TaBlE customers;',
      'select 1; truncate customers;',
      "DO $x$ BEGIN EXECUTE 'DROP TABLE customers'; END $x$;",
      'WITH gone AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM gone;',
      'SELECT pg_catalog.pg_terminate_backend(pg_backend_pid());',
      "COPY customers TO PROGRAM 'cat > /tmp/x';",
      'SET ROLE postgres;',
      'PREPARE p AS DELETE FROM customers; EXECUTE p;',
      'DELETE FROM customers;',
      'UPDATE customers SET email = NULL;',
      // With the setting off, \' escapes the quote and the DROP is a statement of its own.
      "SET standard_conforming_strings = off;\nSELECT 'x\\' , ' ; DROP TABLE customers; --';",
      'SELECT 1; /* split */ DELETE\nFROM customers;',
    ];
    for (const sql of attempts) {
      const r = await viaGateway(sql, 'shop-strict');
      assert.notEqual(r.code, 0, `not caught: ${sql}`);
      assert.match(r.stderr, /policy denies/, `${sql}: ${r.stderr}`);
    }
    const count = await viaGateway('SELECT count(*) FROM customers;', 'shop-strict');
    assert.equal(count.stdout.trim(), '200');
  });

  test('one Query message read the way the target reads it: standard_conforming_strings, client encodings', {
    timeout: 60_000,
  }, async () => {
    const c = await pgClient(ep('shop-strict'));
    try {
      await c.query('SET standard_conforming_strings = off');
      // With the setting off, \\' escapes the quote and the DROP is a statement of its own.
      const trick = await c.query("SELECT 'x\\' , ' ; DROP TABLE customers; --'").then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
      assert.equal(trick?.code, '42501', JSON.stringify(trick));
      assert.match(trick?.message ?? '', /policy denies dangerous/);
    } finally {
      await c.end();
    }
    const count = await viaGateway('SELECT count(*) FROM customers;', 'shop-strict');
    assert.equal(count.stdout.trim(), '200');
    const c2 = await pgClient(ep('shop-strict'));
    c2.on('error', () => {});
    try {
      const sjis = await c2.query("SET client_encoding = 'SJIS'").then(
        () => undefined,
        (e: Error) => e,
      );
      const after = await c2.query('SELECT 1').then(
        () => 'still open',
        (e: Error) => e.message,
      );
      assert.ok(
        sjis !== undefined || after !== 'still open',
        'the session must end once the client encoding is SJIS',
      );
    } finally {
      await c2.end().catch(() => {});
    }
  });

  test('node-postgres: parameterised queries, prepared statements and masked rows', {
    timeout: 60_000,
  }, async () => {
    const c = await pgClient(ep());
    try {
      const r = await c.query('SELECT id, email FROM customers WHERE id = $1', [7]);
      assert.equal(r.rows.length, 1);
      assert.equal(r.rows[0].email, '[REDACTED:email]');
      for (let i = 1; i <= 3; i++) {
        const p = await c.query({
          name: 'by-city',
          text: 'SELECT count(*)::int AS n FROM customers WHERE id <= $1',
          values: [i * 10],
        });
        assert.equal(p.rows[0].n, i * 10);
      }
      await c.query('BEGIN');
      await c.query('UPDATE customers SET city = $1 WHERE id = $2', ['Oslo', 1]);
      await c.query('ROLLBACK');
      await c.query('BEGIN');
      const failure = await c.query('DELETE FROM customers WHERE id > 0').then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
      assert.equal(failure, undefined, 'a DELETE with WHERE is a write, allowed for agents');
      await c.query('ROLLBACK').catch(() => {});
    } finally {
      await c.end();
    }
  });

  test('a held DROP runs once a reviewer approves it with tollgate approvals approve', {
    timeout: 90_000,
  }, async () => {
    const made = await psql(target as PostgresTarget, { sql: 'CREATE TABLE scratch (id int);' });
    assert.equal(made.code, 0, made.stderr);
    const running = viaGateway('DROP TABLE scratch;');
    const cp = gw?.controlPlane;
    assert.ok(cp);
    const pending = await pendingApprovals(gw as Gateway);
    assert.equal(pending.length, 1, 'the statement should be waiting for approval');
    const a = pending[0];
    assert.ok(a);
    assert.match(a.command, /DROP TABLE scratch/);
    assert.equal(a.action, 'dangerous');
    const approve = await runCli(['approvals', 'approve', a.id, '--reason', 'scratch table'], {
      env: { TOLLGATE_SERVER: `http://127.0.0.1:${cp.apiPort}`, TOLLGATE_TOKEN: dbaKey },
    });
    assert.equal(approve.code, 0, approve.stderr);
    const r = await running;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`held for approval \\(${a.id}\\)`));
    const gone = await psql(target as PostgresTarget, { sql: "SELECT to_regclass('scratch') IS NULL;" });
    assert.equal(gone.stdout.trim(), 't', 'the approved DROP ran at the target');
    const records = await cp.audit.query({ approvalId: a.id });
    assert.ok(records.some((x) => x.type === 'command' && x.decision === 'approved'));
  });

  test('node-postgres: portal suspension, SQL cursors and pipelined queries, all masked', {
    timeout: 60_000,
  }, async () => {
    const c = await pgClient(ep());
    try {
      // `rows` makes node-postgres Execute with a row limit and continue after each PortalSuspended.
      const paged = await c.query({
        text: 'SELECT id, email FROM customers WHERE id <= $1 ORDER BY id',
        values: [25],
        rows: 10,
      } as {
        text: string;
        values: unknown[];
      });
      assert.equal(paged.rows.length, 25);
      assert.ok(paged.rows.every((r: { email: string }) => r.email === '[REDACTED:email]'));
      await c.query('BEGIN');
      await c.query('DECLARE cur CURSOR FOR SELECT ssn FROM customers ORDER BY id');
      const first = await c.query('FETCH 5 FROM cur');
      await c.query('COMMIT');
      assert.deepEqual(
        first.rows.map((r: { ssn: string }) => r.ssn),
        Array(5).fill('[REDACTED:ssn]'),
      );
    } finally {
      await c.end();
    }
    const p = await pgClient(ep(), { pipeline: true });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          i === 7
            ? p.query('SELECT 1/0')
            : p.query('SELECT email, $1::int AS i FROM customers WHERE id = $1', [i + 1]),
        ),
      );
      const seen = results.map((r) =>
        r.status === 'fulfilled' ? [r.value.rows[0].i, r.value.rows[0].email] : 'error',
      );
      assert.deepEqual(
        seen,
        Array.from({ length: 20 }, (_, i) => (i === 7 ? 'error' : [i + 1, '[REDACTED:email]'])),
      );
    } finally {
      await p.end();
    }
  });

  test('psycopg 3: parameters, server-side prepared statements and a named cursor', {
    timeout: 60_000,
  }, async () => {
    const r = await psycopg(
      ep(),
      [
        'with connect() as c:',
        '    emit(c.execute("SELECT email FROM customers WHERE id = %s", [3]).fetchone()[0])',
        '    emit(c.execute("SELECT count(*) FROM customers WHERE id <= %s", [50], prepare=True).fetchone()[0])',
        '    with c.cursor(name="cur") as cur:',
        '        cur.execute("SELECT ssn FROM customers ORDER BY id")',
        '        emit(len(cur.fetchmany(25)))',
        '        emit(cur.fetchone()[0])',
      ].join('\n'),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.values, ['[REDACTED:email]', 50, 25, '[REDACTED:ssn]']);
  });

  test('psql \\copy out is masked; \\copy in and transactions work', { timeout: 60_000 }, async () => {
    const out = await viaGateway(
      '\\copy (SELECT id, email, iban FROM customers WHERE id <= 5 ORDER BY id) TO STDOUT WITH (FORMAT csv)',
    );
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    for (const l of lines) assert.match(l, /^\d+,\[REDACTED:email\],\[REDACTED:iban\]$/);
    const copied = await psql(target as PostgresTarget, {
      sql: 'CREATE TABLE IF NOT EXISTS notes (id int, body text);',
    });
    assert.equal(copied.code, 0, copied.stderr);
    const load = await viaGateway(
      [
        'BEGIN;',
        '\\copy notes FROM STDIN WITH (FORMAT csv)',
        '1,hello',
        '2,mail me at ann@example.com',
        '\\.',
        'SELECT count(*) FROM notes;',
        'COMMIT;',
      ].join('\n'),
    );
    assert.equal(load.code, 0, load.stderr);
    assert.equal(load.stdout.trim(), '2');
    // What was loaded is stored as sent; what is read back through the gateway is masked.
    const back = await viaGateway('SELECT body FROM notes WHERE id = 2;');
    assert.equal(back.stdout.trim(), 'mail me at [REDACTED:email]');
  });

  test('pgbench runs through the gateway in simple, extended and prepared modes', {
    timeout: 120_000,
  }, async () => {
    const t = target as PostgresTarget;
    const init = await pgbenchInit(endpointFromTarget(t), { scale: 1 });
    assert.equal(init.raw.code, 0);
    for (const mode of ['simple', 'extended', 'prepared'] as const) {
      const r = await pgbench(ep(), { mode, clients: 4, selectOnly: true, transactions: 50 });
      assert.equal(r.transactions, 200, `${mode}: ${r.raw.stderr}`);
      assert.equal(r.failedTransactions, 0);
    }
  });

  test('every statement is in the audit log with its class, decision and masked parameters', {
    timeout: 30_000,
  }, async () => {
    const cp = gw?.controlPlane;
    assert.ok(cp);
    const c = await pgClient(ep());
    try {
      await c.query('SELECT id FROM customers WHERE email = $1', ['someone@example.com']);
    } finally {
      await c.end();
    }
    const recs = await cp.audit.query({ subject: 'agent', types: ['command'] });
    const last = recs.filter((r) => String(r.data?.text ?? '').includes('WHERE email = $1')).at(-1);
    assert.ok(last, 'parameterised statement recorded');
    assert.equal(last.action, 'read');
    assert.equal(last.decision, 'allow');
    assert.deepEqual(last.data?.params, ['[REDACTED:email]']);
    const verify = await cp.audit.verify({});
    assert.equal(verify.ok, true);
    assert.ok(!logs.some((l) => l.includes(agentKey)), 'no API key in the gateway log');
  });
});
