import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Errors, TollgateError } from '@tollgate/core';
import { closeStore, openSqlite, type StoreDb } from '../store/database';
import { openAuditStore } from './store';
import { type AuditSuiteTarget, auditStoreSuite, sampleEvent } from './testing/suite';

const root = mkdtempSync(join(tmpdir(), 'tollgate-audit-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const sqliteTarget: AuditSuiteTarget = {
  async fresh() {
    return openSqlite(join(root, `audit-${++n}.db`));
  },
  async reconnect(db) {
    if (db.kind !== 'sqlite') throw new Error('sqlite only');
    return openSqlite(db.path);
  },
  async breakWrites(db) {
    if (db.kind !== 'sqlite') throw new Error('sqlite only');
    // Every write to the audit tables fails, on every connection (the store writes on its own,
    // in its writer thread), as they would on a read-only file.
    db.db.exec(`
      CREATE TRIGGER test_readonly_log BEFORE INSERT ON audit_log
        BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END;
      CREATE TRIGGER test_readonly_head BEFORE UPDATE ON audit_head
        BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END;`);
    return async () => {
      db.db.exec('DROP TRIGGER test_readonly_log; DROP TRIGGER test_readonly_head');
    };
  },
  async close(db) {
    if (db.kind === 'sqlite' && db.db.open) await closeStore(db);
  },
};

auditStoreSuite('SQLite', () => sqliteTarget);

describe('audit store on SQLite', () => {
  it('files the sessions, agents and resources of a log written before audit_lookup, once, and drops the old indexes', async () => {
    const path = join(root, 'before-lookup.db');
    const db = openSqlite(path) as Extract<StoreDb, { kind: 'sqlite' }>;
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    try {
      const store = await openAuditStore(db, { signingKey: privateKey });
      await Promise.all(Array.from({ length: 300 }, (_, i) => store.append(sampleEvent(i))));
      await store.close();
      // the layout of earlier versions: per-record indexes, no lookup table
      db.db.exec(`DROP TABLE audit_lookup; DROP TABLE audit_index_state;
        CREATE INDEX audit_log_subject ON audit_log (subject, at);
        CREATE INDEX audit_log_resource ON audit_log (resource, at);
        CREATE INDEX audit_log_session ON audit_log (session_id);`);
      const reopened = await openAuditStore(db, { signingKey: privateKey });
      try {
        const names = db.db
          .prepare("SELECT name FROM sqlite_master WHERE name LIKE 'audit_%' ORDER BY name")
          .pluck()
          .all() as string[];
        for (const gone of ['audit_log_session', 'audit_log_subject', 'audit_log_resource']) {
          assert.ok(!names.includes(gone), names.join(' '));
        }
        assert.equal(db.db.prepare('SELECT indexed_through FROM audit_index_state').pluck().get(), 300);
        const filed = db.db.prepare('SELECT field, count(*) AS n FROM audit_lookup GROUP BY field').all();
        assert.deepEqual(
          Object.fromEntries((filed as Array<{ field: string; n: number }>).map((r) => [r.field, r.n])),
          { session: 300, subject: 300, resource: 300 },
        );
        const rows = await reopened.query({ sessionId: 'sess-7' });
        assert.deepEqual(
          rows.map((r) => r.seq),
          Array.from({ length: 10 }, (_, i) => 71 + i),
        );
        assert.equal((await reopened.query({ subject: 'ci-bot' })).length, 100);
        assert.equal((await reopened.append(sampleEvent(300))).seq, 301);
        assert.equal((await reopened.verify({ publicKey })).ok, true);
      } finally {
        await reopened.close();
      }
    } finally {
      await closeStore(db);
    }
  });

  it('refuses appends when the database is full (max_page_count), leaving the chain intact', async () => {
    const db = openSqlite(join(root, 'full.db')) as Extract<StoreDb, { kind: 'sqlite' }>;
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const opts = { signingKey: privateKey, checkpointEvery: 5 };
    try {
      const first = await openAuditStore(db, opts);
      for (let i = 0; i < 12; i++) await first.append(sampleEvent(i));
      await first.close();
      db.db.pragma('wal_checkpoint(TRUNCATE)');
      const pages = Number(db.db.pragma('page_count', { simple: true }));
      // The store's writer connection takes the limit of the connection it is given.
      db.db.pragma(`max_page_count = ${pages}`);
      const store = await openAuditStore(db, opts);
      try {
        const big = Array.from({ length: 40 }, (_, i) =>
          store.append({ ...sampleEvent(100 + i), data: { blob: 'y'.repeat(8000) } }),
        );
        const results = await Promise.allSettled(big);
        assert.ok(results.every((r) => r.status === 'rejected'));
        const err = (results[0] as PromiseRejectedResult).reason as TollgateError;
        assert.ok(err instanceof TollgateError);
        assert.equal(err.kind, Errors.AUDIT_UNAVAILABLE);
        assert.match(
          err.message,
          /^audit store cannot write \(sqlite .*full\.db\): database or disk is full$/,
        );
        assert.ok(err.hint);
        assert.equal(store.stats().failedCommits, 1);
        assert.equal((await store.query({})).length, 12);
        assert.equal((await store.verify({ publicKey })).ok, true);
      } finally {
        await store.close();
      }

      db.db.pragma('max_page_count = 1073741823');
      const again = await openAuditStore(db, opts);
      try {
        const next = await again.append(sampleEvent(12));
        assert.equal(next.seq, 13);
        const r = await again.verify({ publicKey });
        assert.equal(r.ok, true, r.summary);
        assert.equal(r.records, 13);
      } finally {
        await again.close();
      }
    } finally {
      await closeStore(db);
    }
  });

  it('refuses a malformed event on its own, without failing the others in its batch', async () => {
    const db = openSqlite(join(root, 'malformed.db'));
    const store = await openAuditStore(db);
    try {
      const results = await Promise.allSettled([
        store.append(sampleEvent(0)),
        store.append({ ...sampleEvent(1), resource: 'a\0b' }),
        store.append({ ...sampleEvent(2), data: { n: 1n } }),
        store.append({ ...sampleEvent(3), data: { blob: 'z'.repeat(1 << 20) } }),
        store.append({ ...sampleEvent(4), at: Number.NaN }),
        store.append(sampleEvent(5)),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'rejected', 'rejected', 'rejected', 'fulfilled'],
      );
      const reasons = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
      assert.match(reasons[0] ?? '', /resource contains a NUL character/);
      assert.match(reasons[1] ?? '', /BigInt/);
      assert.match(reasons[2] ?? '', /exceed 1048576 characters/);
      assert.match(reasons[3] ?? '', /at must be epoch milliseconds/);
      assert.deepEqual(
        (await store.query({})).map((r) => r.seq),
        [1, 2],
      );
    } finally {
      await store.close();
      await closeStore(db);
    }
  });

  it('refuses to open a file that holds no audit log read-only', async () => {
    const db = openSqlite(join(root, 'empty.db'));
    try {
      await assert.rejects(openAuditStore(db, { readOnly: true }), (e: unknown) => {
        assert.ok(e instanceof TollgateError);
        assert.equal(e.kind, Errors.NOT_FOUND);
        assert.match(e.message, /holds no audit log/);
        return true;
      });
    } finally {
      await closeStore(db);
    }
  });

  it('rejects a signing key that is not Ed25519', async () => {
    const db = openSqlite(join(root, 'rsa.db'));
    try {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await assert.rejects(openAuditStore(db, { signingKey: privateKey }), /expected an Ed25519 private key/);
    } finally {
      await closeStore(db);
    }
  });

  it('verifies a long chain in bounded pages', async () => {
    const db = openSqlite(join(root, 'long.db'));
    const store = await openAuditStore(db, { checkpointEvery: 1000 });
    try {
      const total = 20_000;
      for (let done = 0; done < total; done += 2000) {
        await Promise.all(Array.from({ length: 2000 }, (_, i) => store.append(sampleEvent(done + i))));
      }
      const r = await store.verify({ pageSize: 5000 });
      assert.equal(r.ok, true, r.summary);
      assert.equal(r.records, total);
      assert.equal(r.checkpoints, 20);
      assert.equal(r.signatures, 'unchecked');
    } finally {
      await store.close();
      await closeStore(db);
    }
  });
});
