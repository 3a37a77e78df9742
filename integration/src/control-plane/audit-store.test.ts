/**
 * The audit store suite on a real PostgreSQL server (the same suite the SQLite unit tests run),
 * plus what only a server shows: several gateway processes appending to one chain, a revoked
 * INSERT privilege and a stopped server failing appends closed, and `tollgate audit verify`
 * against a postgres:// store.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { closeStore, openAuditStore, openPostgres, type StoreDb } from '@tollgate/control-plane';
import {
  type AuditSuiteTarget,
  auditStoreSuite,
  rawSql,
  sampleEvent,
} from '@tollgate/control-plane/dist/audit/testing/suite';
import { Errors, TollgateError } from '@tollgate/core';
import { Pool } from 'pg';
import { FailureTracker, type PostgresTarget, selectProvider } from '../harness/index';

const REPO = join(__dirname, '..', '..', '..');
const WRITER = 'audit_writer';

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** One gateway process: appends N events, 50 at a time, to the store in AUDIT_URL. */
const GATEWAY_SCRIPT = `
const { openPostgres, openAuditStore, closeStore } = require('@tollgate/control-plane');
const { sampleEvent } = require('@tollgate/control-plane/dist/audit/testing/suite');
(async () => {
  const db = openPostgres({ connectionString: process.env.AUDIT_URL });
  const store = await openAuditStore(db, {});
  const n = Number(process.env.EVENTS);
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => store.append({ ...sampleEvent(i + j), resource: process.env.GATEWAY })));
  }
  console.log(JSON.stringify(store.stats()));
  await store.close();
  await closeStore(db);
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

describe('audit store on PostgreSQL', () => {
  const failures = new FailureTracker();
  let target: PostgresTarget | undefined;
  let admin: Pool | undefined;
  const password = randomBytes(12).toString('hex');
  let schemas = 0;

  before(
    async () => {
      target = await (await selectProvider()).startPostgres({ suite: 'audit-store' });
      admin = new Pool({ connectionString: target.connectionString(), max: 2 });
      admin.on('error', () => {});
      // The store connects as an ordinary role, so that revoking its INSERT privilege bites.
      await admin.query(`CREATE ROLE ${WRITER} LOGIN PASSWORD '${password}'`);
    },
    { timeout: 150_000 },
  );
  afterEach(failures.afterEach);
  after(
    async () => {
      await admin?.end().catch(() => {});
      await target?.stop({ keepLogs: failures.failed });
    },
    { timeout: 60_000 },
  );

  const started = (): { t: PostgresTarget; admin: Pool } => {
    assert.ok(target && admin, 'PostgreSQL target did not start');
    return { t: target, admin };
  };

  /** A connection string for the writer role with its own schema first on the search path. */
  const urlFor = (schema: string): string =>
    `${started().t.connectionString({ user: WRITER, password })}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;

  const schemaOf = (db: StoreDb): string => {
    assert.equal(db.kind, 'postgres');
    const m = /search_path=(\w+)/.exec(
      db.kind === 'postgres' ? decodeURIComponent(db.config.connectionString ?? '') : '',
    );
    assert.ok(m?.[1]);
    return m[1];
  };

  const freshSchema = async (): Promise<string> => {
    const schema = `audit_${++schemas}`;
    await started().admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${WRITER}`);
    return schema;
  };

  const pgTarget: AuditSuiteTarget = {
    async fresh() {
      return openPostgres({ connectionString: urlFor(await freshSchema()) });
    },
    async reconnect(db) {
      return openPostgres({ connectionString: urlFor(schemaOf(db)) });
    },
    async breakWrites(db) {
      const schema = schemaOf(db);
      const { admin } = started();
      await admin.query(`REVOKE INSERT ON ${schema}.audit_log FROM ${WRITER}`);
      return async () => {
        await admin.query(`GRANT INSERT ON ${schema}.audit_log TO ${WRITER}`);
      };
    },
    async close(db) {
      await closeStore(db);
    },
  };

  auditStoreSuite('PostgreSQL', () => pgTarget);

  test('three gateway processes appending at once build one gapless, verifiable chain', {
    timeout: 180_000,
  }, async () => {
    const url = urlFor(await freshSchema());
    const per = 600;
    const runs = await Promise.all(
      ['gw-a', 'gw-b', 'gw-c'].map((g) =>
        run(['-e', GATEWAY_SCRIPT], { AUDIT_URL: url, EVENTS: String(per), GATEWAY: g }),
      ),
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const db = openPostgres({ connectionString: url });
    try {
      const store = await openAuditStore(db, { readOnly: true });
      const report = await store.verify({});
      assert.equal(report.ok, true, report.summary);
      assert.equal(report.records, 3 * per);
      assert.equal(report.lastSeq, 3 * per);
      for (const g of ['gw-a', 'gw-b', 'gw-c'])
        assert.equal((await store.query({ resource: g })).length, per);
      // the processes really interleaved: some gateway's records are not one contiguous block
      const owners = (await store.query({ limit: 3 * per })).map((r) => r.resource);
      const switches = owners.filter((o, i) => i > 0 && o !== owners[i - 1]).length;
      assert.ok(switches > 2, `expected interleaved commits, got ${switches} switches`);
      await store.close();
    } finally {
      await closeStore(db);
    }
  });

  test('tollgate audit verify and query read a postgres:// store', { timeout: 120_000 }, async () => {
    const url = urlFor(await freshSchema());
    const db = openPostgres({ connectionString: url });
    try {
      const store = await openAuditStore(db, { checkpointEvery: 10 });
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.append(sampleEvent(i))));
      await store.close();
      const bin = join(REPO, 'packages', 'gateway', 'bin', 'tollgate.js');
      const ok = await run([bin, 'audit', 'verify'], { TOLLGATE_STORE: url });
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /^ok: 40 records \(seq 1\.\.40\), 4 checkpoints/);
      assert.ok(!ok.stdout.includes(password) && !ok.stderr.includes(password));
      const q = await run([bin, 'audit', 'query', '--action', 'dangerous', '--type', 'command'], {
        TOLLGATE_STORE: url,
      });
      assert.equal(q.code, 0, q.stderr);
      assert.deepEqual(
        q.stdout
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l).seq),
        [8, 15, 22, 29, 36],
      );
      await rawSql(db, "UPDATE audit_log SET data = '{}' WHERE seq = 33");
      const bad = await run([bin, 'audit', 'verify'], { TOLLGATE_STORE: url });
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /seq 33: altered: record 33 was altered/);
    } finally {
      await closeStore(db);
    }
  });

  // Last: stops the server.
  test('appends fail closed with AUDIT_UNAVAILABLE once the server is down', {
    timeout: 120_000,
  }, async () => {
    const url = urlFor(await freshSchema());
    const db = openPostgres({ connectionString: url, connectionTimeoutMillis: 10_000 });
    try {
      const store = await openAuditStore(db, {});
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.append(sampleEvent(i))));
      await started().t.stop();
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => store.append(sampleEvent(10 + i))),
      );
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        const err = (r as PromiseRejectedResult).reason;
        assert.ok(err instanceof TollgateError, String(err));
        assert.equal(err.kind, Errors.AUDIT_UNAVAILABLE);
        assert.match(err.message, /^audit store cannot write \(postgres 127\.0\.0\.1:\d+\/\w+\): /);
        assert.ok(!err.message.includes(password));
      }
      await store.close();
    } finally {
      await closeStore(db).catch(() => {});
    }
  });
});
