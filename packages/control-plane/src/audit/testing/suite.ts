/**
 * The audit store suite, run unchanged on SQLite (unit tests) and on a real PostgreSQL
 * (integration/src/control-plane/audit-store.test.ts). Tamper tests edit, delete, insert and
 * reorder rows with plain SQL, as someone with write access to the database would, and check
 * that `verify` names each by position.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, it } from 'node:test';
import { type AuditEventInput, type AuditRecord, Errors, TollgateError } from '@tollgate/core';
import type { StoreDb } from '../../store/database';
import { canonicalJson, canonicalParts, checkpointPayload, GENESIS_HASH, recordHash } from '../canonical';
import { openAuditStore } from '../store';
import type { AuditStore, AuditStoreOptions, VerifyFinding, VerifyFindingKind, VerifyReport } from '../types';

export interface AuditSuiteTarget {
  /** A fresh, empty database (its own file or schema). */
  fresh(): Promise<StoreDb>;
  /** Another connection to the same database as `db`, as a second gateway process would have. */
  reconnect(db: StoreDb): Promise<StoreDb>;
  /** Makes the audit tables of `db` unwritable (full, read-only, INSERT revoked); returns the undo. */
  breakWrites(db: StoreDb): Promise<() => Promise<void>>;
  close(db: StoreDb): Promise<void>;
}

export const BASE_TIME = Date.UTC(2026, 6, 1);
const IDP = 'https://idp.example.com';

/** The i-th event of a generated log: a mix of sessions, identities, resources and actions. */
export function sampleEvent(i: number): AuditEventInput {
  const subject = ['ann', 'ci-bot', 'report-job'][i % 3] as string;
  return {
    type: i % 10 === 0 ? 'session.start' : 'command',
    at: BASE_TIME + i * 60_000,
    sessionId: `sess-${Math.floor(i / 10)}`,
    identity: { subject, kind: 'oidc', issuer: IDP, groups: ['agents', subject] },
    resource: i % 4 === 0 ? 'billing-db' : 'orders-db',
    action: i % 7 === 0 ? 'dangerous' : 'read',
    decision: i % 7 === 0 ? 'require-approval' : 'allow',
    data: {
      command: `SELECT * FROM t WHERE id = $1 -- ${i}`,
      params: [String(i)],
      rows: i % 13,
      masked: { email: i % 2 },
    },
  };
}

/** Runs SQL on either kind of store; `?` placeholders. Returns the rows of a query. */
export async function rawSql(
  db: StoreDb,
  text: string,
  params: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  if (db.kind === 'sqlite') {
    const stmt = db.db.prepare(text);
    if (stmt.reader) return stmt.all(...params) as Record<string, unknown>[];
    stmt.run(...params);
    return [];
  }
  let i = 0;
  const r = await db.pool.query(
    text.replace(/\?/g, () => `$${++i}`),
    params,
  );
  return r.rows as Record<string, unknown>[];
}

const ROW_COLUMNS = [
  'at',
  'type',
  'session_id',
  'identity',
  'subject',
  'resource',
  'action',
  'decision',
  'approval_id',
  'data',
  'prev_hash',
  'hash',
] as const;

async function rowAt(db: StoreDb, seq: number): Promise<Record<string, unknown>> {
  const [r] = await rawSql(db, 'SELECT * FROM audit_log WHERE seq = ?', [seq]);
  assert.ok(r, `no row at seq ${seq}`);
  return r;
}

async function writeRow(db: StoreDb, seq: number, r: Record<string, unknown>): Promise<void> {
  await rawSql(db, `UPDATE audit_log SET ${ROW_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE seq = ?`, [
    ...ROW_COLUMNS.map((c) => r[c] ?? null),
    seq,
  ]);
}

/** A record as an attacker who knows the algorithm (but not the key) would forge it. */
function forge(seq: number, prevHash: string, ev: AuditEventInput): unknown[] {
  const identityJson = ev.identity ? canonicalJson(ev.identity) : undefined;
  const dataJson = ev.data ? canonicalJson(ev.data) : undefined;
  const at = ev.at ?? BASE_TIME;
  const parts = canonicalParts({
    type: ev.type,
    at,
    sessionId: ev.sessionId,
    identityJson,
    resource: ev.resource,
    action: ev.action,
    decision: ev.decision,
    approvalId: ev.approvalId,
    dataJson,
  });
  const hash = recordHash(parts, seq, prevHash);
  return [
    seq,
    at,
    ev.type,
    ev.sessionId ?? null,
    identityJson ?? null,
    ev.identity?.subject ?? null,
    ev.resource ?? null,
    ev.action ?? null,
    ev.decision ?? null,
    ev.approvalId ?? null,
    dataJson ?? null,
    prevHash,
    hash,
  ];
}

async function insertRow(db: StoreDb, values: unknown[]): Promise<void> {
  await rawSql(
    db,
    `INSERT INTO audit_log (seq, ${ROW_COLUMNS.join(', ')}) VALUES (${values.map(() => '?').join(', ')})`,
    values,
  );
}

function describeReport(r: VerifyReport): string {
  return `${r.summary}\n${r.findings.map((f) => `  ${f.kind} @${f.seq}: ${f.message}`).join('\n')}`;
}

function assertFinding(
  r: VerifyReport,
  kind: VerifyFindingKind,
  seq: number,
  more: Partial<Pick<VerifyFinding, 'endSeq' | 'otherSeq' | 'subject'>> = {},
): VerifyFinding {
  assert.equal(r.ok, false, `verify passed, expected ${kind} at ${seq}`);
  const f = r.findings.find(
    (x) =>
      x.kind === kind &&
      x.seq === seq &&
      Object.entries(more).every(([k, v]) => (x as unknown as Record<string, unknown>)[k] === v),
  );
  assert.ok(f, `expected ${kind} at seq ${seq} ${JSON.stringify(more)}, got:\n${describeReport(r)}`);
  assert.match(f.message, new RegExp(`\\b${seq}\\b`), 'the message names the position');
  return f;
}

async function fill(store: AuditStore, n: number, from = 0): Promise<AuditRecord[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => store.append(sampleEvent(from + i))));
}

/**
 * Registers the audit store suite. `target()` is called inside each test, so a suite whose
 * database server starts in a `before` hook can pass a getter.
 */
export function auditStoreSuite(name: string, target: () => AuditSuiteTarget): void {
  const keys = generateKeyPairSync('ed25519');
  const signingKey = keys.privateKey;
  const publicKey = keys.publicKey;

  /** Runs `body` with a store on a fresh database and cleans up even when it fails. */
  async function withStore(
    opts: AuditStoreOptions,
    body: (store: AuditStore, db: StoreDb, t: AuditSuiteTarget) => Promise<void>,
  ): Promise<void> {
    const t = target();
    const db = await t.fresh();
    const store = await openAuditStore(db, opts);
    try {
      await body(store, db, t);
    } finally {
      await store.close();
      await t.close(db);
    }
  }

  const signed: AuditStoreOptions = { signingKey, checkpointEvery: 10 };

  describe(`audit store (${name})`, { timeout: 120_000 }, () => {
    it('gives gapless positions from 1, each record hashed over its canonical form and chained', async () => {
      await withStore(signed, async (store) => {
        const recs: AuditRecord[] = [];
        for (let i = 0; i < 5; i++) recs.push(await store.append(sampleEvent(i)));
        recs.push(await store.append({ type: 'policy.reload' }));
        assert.deepEqual(
          recs.map((r) => r.seq),
          [1, 2, 3, 4, 5, 6],
        );
        let prev = GENESIS_HASH;
        for (const r of recs) {
          assert.equal(r.prevHash, prev);
          // an independent recomputation: JCS of every field but `hash`
          const { hash, ...body } = r;
          assert.equal(hash, createHash('sha256').update(canonicalJson(body)).digest('hex'));
          prev = hash;
        }
        const last = recs[5] as AuditRecord;
        assert.ok(Math.abs(last.at - Date.now()) < 60_000, 'the store fills in the time');
        assert.deepEqual(await store.query({}), recs);
        const report = await store.verify({ publicKey });
        assert.equal(report.ok, true, describeReport(report));
        assert.equal(report.records, 6);
        assert.equal(report.signatures, 'verified');
      });
    });

    it('commits concurrent appends together (group commit), each resolving once durable', async () => {
      const t = target();
      const db = await t.fresh();
      const store = await openAuditStore(db, signed);
      const n = 3000;
      let recs: AuditRecord[];
      try {
        recs = await fill(store, n);
        const s = store.stats();
        assert.equal(s.appended, n);
        assert.ok(s.commits <= n / 50, `expected batched commits, got ${s.commits} for ${n} appends`);
      } finally {
        await store.close();
      }
      assert.deepEqual(
        recs.map((r) => r.seq).sort((a, b) => a - b),
        Array.from({ length: n }, (_, i) => i + 1),
      );
      // what resolved is in the database, seen from a fresh connection
      const other = await t.reconnect(db);
      try {
        const again = await openAuditStore(other, { readOnly: true });
        const all = await again.query({ limit: n });
        assert.equal(all.length, n);
        assert.deepEqual(
          all[n - 1],
          recs.find((r) => r.seq === n),
        );
        const report = await again.verify({ publicKey });
        assert.equal(report.ok, true, describeReport(report));
        assert.equal(report.checkpoints, n / 10);
        await again.close();
      } finally {
        await t.close(other);
        await t.close(db);
      }
    });

    it('keeps one consistent chain when two gateways append to the same database', async () => {
      await withStore(signed, async (a, db, t) => {
        const db2 = await t.reconnect(db);
        const b = await openAuditStore(db2, signed);
        try {
          const writes: Promise<AuditRecord>[] = [];
          for (let round = 0; round < 20; round++) {
            for (let i = 0; i < 25; i++) {
              writes.push(a.append(sampleEvent(round * 50 + i)));
              writes.push(b.append(sampleEvent(round * 50 + 25 + i)));
            }
            await new Promise((resolve) => setImmediate(resolve));
          }
          const recs = await Promise.all(writes);
          const seqs = recs.map((r) => r.seq).sort((x, y) => x - y);
          assert.deepEqual(
            seqs,
            Array.from({ length: 1000 }, (_, i) => i + 1),
          );
          const report = await a.verify({ publicKey });
          assert.equal(report.ok, true, describeReport(report));
          assert.equal(report.records, 1000);
        } finally {
          await b.close();
          await t.close(db2);
        }
      });
    });

    it('answers queries by time window, identity, resource, session, decision, type, action and approval', async () => {
      await withStore(signed, async (store) => {
        await fill(store, 70);
        await store.append({ type: 'approval.request', approvalId: 'apr-1', at: BASE_TIME + 7 * 60_000 + 1 });
        await store.append({
          type: 'approval.decision',
          approvalId: 'apr-1',
          decision: 'approved',
          at: BASE_TIME + 7 * 60_000 + 2,
          data: { reviewer: 'bob', verdict: 'approve', reason: 'change ticket 42' },
        });
        const seqs = async (q: Parameters<AuditStore['query']>[0]) =>
          (await store.query(q)).map((r) => r.seq);
        const byTime = await store.query({ from: BASE_TIME + 10 * 60_000, to: BASE_TIME + 20 * 60_000 });
        assert.deepEqual(
          byTime.map((r) => r.at),
          Array.from({ length: 10 }, (_, i) => BASE_TIME + (10 + i) * 60_000),
        );
        assert.ok((await store.query({ subject: 'ci-bot' })).every((r) => r.identity?.subject === 'ci-bot'));
        assert.equal((await store.query({ subject: 'ci-bot' })).length, 23);
        assert.equal((await store.query({ resource: 'billing-db' })).length, 18);
        assert.deepEqual(
          await seqs({ sessionId: 'sess-2' }),
          Array.from({ length: 10 }, (_, i) => 21 + i),
        );
        const dangerous = await store.query({ actions: ['dangerous'], types: ['command'] });
        assert.deepEqual(
          dangerous.map((r) => r.seq),
          [8, 15, 22, 29, 36, 43, 50, 57, 64],
        );
        assert.equal((await store.query({ decision: 'require-approval' })).length, 10);
        assert.deepEqual(await seqs({ approvalId: 'apr-1' }), [71, 72]);
        assert.deepEqual(await seqs({ types: ['approval.decision'] }), [72]);
        assert.deepEqual(await seqs({ afterSeq: 68 }), [69, 70, 71, 72]);
        assert.deepEqual(await seqs({ limit: 3 }), [1, 2, 3]);
        assert.deepEqual(await seqs({ types: [] }), []);
        assert.deepEqual(await seqs({ subject: 'nobody' }), []);
      });
    });

    it('finds every record of a session, agent or resource among many, before and after a prune (SQLite: filed part and newest records)', async () => {
      await withStore({ signingKey }, async (store) => {
        // More records than SQLite leaves unfiled, interleaved over 7 sessions, 5 agents, 3 resources.
        const n = 5000;
        const facets = (i: number) => ({
          sessionId: `busy-${(i * 5) % 7}`,
          subject: `agent-${(i * 3) % 5}`,
          resource: `db-${i % 3}`,
          at: BASE_TIME + i * 1000,
        });
        const recs = await Promise.all(
          Array.from({ length: n }, (_, i) => {
            const f = facets(i);
            return store.append({
              type: 'command',
              sessionId: f.sessionId,
              identity: { subject: f.subject, kind: 'service-account', issuer: 'tollgate', groups: [] },
              resource: f.resource,
              at: f.at,
              data: { i },
            });
          }),
        );
        const rows = recs.map((r) => ({ seq: r.seq, ...facets((r.data as { i: number }).i) }));
        type Q = Parameters<AuditStore['query']>[0];
        const check = async (q: Q, keep: (r: (typeof rows)[number]) => boolean, what: string) => {
          const want = rows
            .filter(keep)
            .map((r) => r.seq)
            .sort((a, b) => a - b);
          const got = (await store.query({ limit: n, ...q })).map((r) => r.seq);
          assert.deepEqual(got, want.slice(0, q.limit ?? n), what);
        };
        const all = async (after: number, label: string) => {
          const alive = (r: (typeof rows)[number]) => r.seq > after;
          for (let k = 0; k < 7; k++) {
            const id = `busy-${k}`;
            await check({ sessionId: id }, (r) => alive(r) && r.sessionId === id, `${id} ${label}`);
            // with paging and another condition too
            await check(
              { sessionId: id, afterSeq: 4000, limit: 50 },
              (r) => r.seq > 4000 && r.sessionId === id,
              `${id} paged ${label}`,
            );
          }
          for (let k = 0; k < 5; k++) {
            const subject = `agent-${k}`;
            await check({ subject }, (r) => alive(r) && r.subject === subject, `${subject} ${label}`);
            const from = BASE_TIME + 3500 * 1000;
            const to = BASE_TIME + 4500 * 1000;
            await check(
              { subject, from, to, resource: 'db-1' },
              (r) => alive(r) && r.subject === subject && r.at >= from && r.at < to && r.resource === 'db-1',
              `${subject} in a window ${label}`,
            );
          }
          for (let k = 0; k < 3; k++) {
            const resource = `db-${k}`;
            await check({ resource }, (r) => alive(r) && r.resource === resource, `${resource} ${label}`);
          }
          await check({ sessionId: 'nobody' }, () => false, 'an unknown session');
        };
        await all(0, 'before the prune');
        const pruned = await store.prune(BASE_TIME + 3000 * 1000);
        assert.equal(pruned.removed, 3000);
        // the prune's own record has no session, agent or resource: the facets still match
        await all(3000, 'after the prune');
      });
    });

    it('writes a signed checkpoint every N records and on request', async () => {
      await withStore(signed, async (store) => {
        await fill(store, 25);
        const cps = await store.checkpoints();
        assert.deepEqual(
          cps.map((c) => [c.seq, c.kind]),
          [
            [10, 'periodic'],
            [20, 'periodic'],
          ],
        );
        for (const c of cps) {
          assert.ok(c.signature);
          const [row] = await store.query({ afterSeq: c.seq - 1, limit: 1 });
          assert.equal(c.hash, row?.hash);
        }
        const manual = await store.checkpoint();
        assert.equal(manual?.seq, 25);
        assert.equal(manual?.kind, 'manual');
        assert.equal((await store.checkpoint())?.seq, 25, 'no second checkpoint at the same head');
        const report = await store.verify({ publicKey });
        assert.equal(report.ok, true, describeReport(report));
        assert.equal(report.checkpoints, 3);
      });
    });

    it('writes a checkpoint when time passes with new records', async () => {
      await withStore({ signingKey, checkpointEvery: 1_000_000, checkpointIntervalMs: 40 }, async (store) => {
        await fill(store, 3);
        const deadline = Date.now() + 10_000;
        let cps = await store.checkpoints();
        while (cps.length === 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          cps = await store.checkpoints();
        }
        assert.equal(cps[0]?.seq, 3);
        assert.equal(cps[0]?.kind, 'periodic');
      });
    });

    it('verifies an empty log', async () => {
      await withStore(signed, async (store) => {
        const report = await store.verify({ publicKey });
        assert.equal(report.ok, true, describeReport(report));
        assert.equal(report.records, 0);
        assert.equal(await store.checkpoint(), undefined);
      });
    });

    describe('tamper evidence', () => {
      it('names a record whose field was edited', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          await rawSql(db, "UPDATE audit_log SET resource = 'other-db' WHERE seq = 17");
          const r = await store.verify({ publicKey });
          assertFinding(r, 'altered', 17);
          assert.equal(r.findings.length, 1, describeReport(r));
        });
      });

      it('names a record whose data was edited and its hash recomputed (broken link after it)', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          const row = await rowAt(db, 12);
          const ev = sampleEvent(11);
          const forged = forge(12, String(row.prev_hash), { ...ev, data: { command: 'SELECT 1' } });
          await writeRow(db, 12, Object.fromEntries(ROW_COLUMNS.map((c, i) => [c, forged[i + 1]])));
          const r = await store.verify({ publicKey });
          assertFinding(r, 'broken-link', 13);
        });
      });

      it('names a removed record', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          await rawSql(db, 'DELETE FROM audit_log WHERE seq = 9');
          const r = await store.verify({ publicKey });
          assertFinding(r, 'removed', 9);
          assert.equal(r.findings.length, 1, describeReport(r));
        });
      });

      it('names removed records at the end of the log (the signed head still counts them)', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          await rawSql(db, 'DELETE FROM audit_log WHERE seq >= 28');
          const r = await store.verify({ publicKey });
          assertFinding(r, 'removed', 28, { endSeq: 30 });
        });
      });

      it('names a forged record appended behind the signed head, even with a correct hash', async () => {
        await withStore(signed, async (store, db) => {
          const recs = await fill(store, 30);
          const last = recs.find((x) => x.seq === 30) as AuditRecord;
          await insertRow(
            db,
            forge(31, last.hash, { type: 'command', resource: 'billing-db', action: 'read' }),
          );
          const r = await store.verify({ publicKey });
          assertFinding(r, 'inserted', 31);
        });
      });

      it('names a forged record inserted in the middle (later records renumbered)', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          await rawSql(db, 'UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= 15');
          await rawSql(db, 'UPDATE audit_log SET seq = -seq WHERE seq < 0');
          const prev = await rowAt(db, 14);
          await insertRow(
            db,
            forge(15, String(prev.hash), { type: 'command', resource: 'orders-db', action: 'read' }),
          );
          const r = await store.verify({ publicKey });
          assertFinding(r, 'inserted', 15);
          assertFinding(r, 'reordered', 16, { otherSeq: 15 });
        });
      });

      it('names two records whose contents were swapped', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          const a = await rowAt(db, 6);
          const b = await rowAt(db, 21);
          await writeRow(db, 6, b);
          await writeRow(db, 21, a);
          const r = await store.verify({ publicKey });
          assertFinding(r, 'reordered', 6, { otherSeq: 21 });
          assert.deepEqual(
            r.findings.map((f) => f.kind),
            ['reordered'],
            describeReport(r),
          );
        });
      });

      it('names two neighbouring records that were swapped', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          const a = await rowAt(db, 3);
          const b = await rowAt(db, 4);
          await writeRow(db, 3, b);
          await writeRow(db, 4, a);
          const r = await store.verify({ publicKey });
          assertFinding(r, 'reordered', 3, { otherSeq: 4 });
        });
      });

      it('names a removed record when later records were renumbered to close the gap', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          await rawSql(db, 'DELETE FROM audit_log WHERE seq = 20');
          await rawSql(db, 'UPDATE audit_log SET seq = -(seq - 1) WHERE seq > 20');
          await rawSql(db, 'UPDATE audit_log SET seq = -seq WHERE seq < 0');
          const r = await store.verify({ publicKey });
          assertFinding(r, 'removed', 20);
          assertFinding(r, 'reordered', 20, { otherSeq: 21 });
        });
      });

      it('names a subject column edited to hide records from queries', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 12);
          await rawSql(db, "UPDATE audit_log SET subject = 'someone-else' WHERE seq = 5");
          assertFinding(await store.verify({ publicKey }), 'altered', 5);
        });
      });

      it('names a checkpoint whose signature does not verify, and one that does not match the chain', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          const [cp] = await rawSql(db, 'SELECT signature FROM audit_checkpoint WHERE seq = 10');
          const sig = Buffer.from(String(cp?.signature), 'base64');
          sig[5] = (sig[5] as number) ^ 0xff;
          await rawSql(db, 'UPDATE audit_checkpoint SET signature = ? WHERE seq = 10', [
            sig.toString('base64'),
          ]);
          // a correctly signed checkpoint (the key leaked to a test) that names the wrong hash
          const wrong = 'f'.repeat(64);
          const [c20] = await rawSql(db, 'SELECT at FROM audit_checkpoint WHERE seq = 20');
          const at = Number(c20?.at);
          const good = sign(null, Buffer.from(checkpointPayload(20, wrong, at)), signingKey).toString(
            'base64',
          );
          await rawSql(db, 'UPDATE audit_checkpoint SET hash = ?, signature = ? WHERE seq = 20', [
            wrong,
            good,
          ]);
          const r = await store.verify({ publicKey });
          assertFinding(r, 'bad-signature', 10, { subject: 'checkpoint' });
          assertFinding(r, 'checkpoint-mismatch', 20, { subject: 'checkpoint' });
          assert.equal(r.findings.length, 2, describeReport(r));
        });
      });

      it('reports every signature as bad against another public key', async () => {
        await withStore(signed, async (store) => {
          await fill(store, 20);
          const other: KeyObject = generateKeyPairSync('ed25519').publicKey;
          const r = await store.verify({ publicKey: other });
          assertFinding(r, 'bad-signature', 10);
          assertFinding(r, 'bad-signature', 20, { subject: 'head' });
        });
      });

      it('names a head rewritten to cover a forged record', async () => {
        await withStore(signed, async (store, db) => {
          const recs = await fill(store, 12);
          const last = recs.find((x) => x.seq === 12) as AuditRecord;
          const forged = forge(13, last.hash, { type: 'command', resource: 'orders-db' });
          await insertRow(db, forged);
          await rawSql(db, 'UPDATE audit_head SET seq = 13, hash = ? WHERE id = 1', [forged[12]]);
          const r = await store.verify({ publicKey });
          assertFinding(r, 'bad-signature', 13, { subject: 'head' });
        });
      });

      it('finds tampering across page boundaries when verifying in small pages', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 100);
          await rawSql(db, 'DELETE FROM audit_log WHERE seq = 35');
          await rawSql(db, "UPDATE audit_log SET action = 'read' WHERE seq = 71");
          const clean = await store.verify({ publicKey, pageSize: 1000 });
          const paged = await store.verify({ publicKey, pageSize: 7 });
          assert.deepEqual(paged.findings, clean.findings);
          assertFinding(paged, 'removed', 35);
          assertFinding(paged, 'altered', 71);
          assert.equal(paged.records, 99);
        });
      });
    });

    describe('retention', () => {
      it('prunes old records behind a signed anchor, records the pruning, and still verifies', async () => {
        await withStore(signed, async (store) => {
          await fill(store, 50);
          const result = await store.prune(BASE_TIME + 23 * 60_000);
          assert.equal(result.removed, 23);
          assert.equal(result.throughSeq, 23);
          assert.equal(result.checkpoint?.kind, 'prune');
          assert.equal(result.record?.type, 'checkpoint.prune');
          assert.equal(result.record?.seq, 51);
          assert.deepEqual(result.record?.data, {
            before: BASE_TIME + 23 * 60_000,
            throughSeq: 23,
            removed: 23,
            anchorHash: result.checkpoint?.hash,
          });
          const first = await store.query({ limit: 1 });
          assert.equal(first[0]?.seq, 24);
          const r = await store.verify({ publicKey });
          assert.equal(r.ok, true, describeReport(r));
          assert.deepEqual(r.anchor, { seq: 23, hash: result.checkpoint?.hash });
          assert.equal(r.records, 28);
          // nothing older left: a second prune with the same cutoff is a no-op
          assert.equal((await store.prune(BASE_TIME + 23 * 60_000)).removed, 0);
          // pruning again, further
          const again = await store.prune(BASE_TIME + 40 * 60_000);
          assert.equal(again.removed, 17);
          const r2 = await store.verify({ publicKey });
          assert.equal(r2.ok, true, describeReport(r2));
          assert.equal(r2.anchor?.seq, 40);
        });
      });

      it('names records removed from the start without a prune anchor', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          await rawSql(db, 'DELETE FROM audit_log WHERE seq <= 12');
          assertFinding(await store.verify({ publicKey }), 'removed', 1, { endSeq: 12 });
        });
      });

      it('does not accept a periodic checkpoint as a prune anchor', async () => {
        await withStore(signed, async (store, db) => {
          await fill(store, 30);
          // checkpoint 10 is signed, but no prune event names it
          await rawSql(db, 'DELETE FROM audit_log WHERE seq <= 10');
          assertFinding(await store.verify({ publicKey }), 'removed', 1, { endSeq: 10 });
        });
      });
    });

    describe('when the store cannot write', () => {
      it('rejects appends with AUDIT_UNAVAILABLE, leaves nothing half-written, and resumes', async () => {
        await withStore(signed, async (store, db, t) => {
          await fill(store, 10);
          const restore = await t.breakWrites(db);
          let restored = false;
          try {
            const results = await Promise.allSettled(
              Array.from({ length: 50 }, (_, i) =>
                store.append({ ...sampleEvent(10 + i), data: { blob: 'x'.repeat(4000), i } }),
              ),
            );
            for (const r of results) {
              assert.equal(r.status, 'rejected');
              const err = (r as PromiseRejectedResult).reason;
              assert.ok(err instanceof TollgateError, String(err));
              assert.equal(err.kind, Errors.AUDIT_UNAVAILABLE);
              assert.match(err.message, /audit store cannot write/);
            }
            await restore();
            restored = true;
          } finally {
            if (!restored) await restore();
          }
          assert.equal((await store.query({})).length, 10);
          const next = await store.append(sampleEvent(99));
          assert.equal(next.seq, 11);
          const r = await store.verify({ publicKey });
          assert.equal(r.ok, true, describeReport(r));
        });
      });

      it('commits what is pending on close, then refuses appends', async () => {
        const t = target();
        const db = await t.fresh();
        const store = await openAuditStore(db, signed);
        try {
          const pending = fill(store, 20);
          await store.close();
          assert.equal((await pending).length, 20);
          await assert.rejects(store.append(sampleEvent(1)), (e: unknown) => {
            assert.ok(e instanceof TollgateError);
            assert.equal(e.kind, Errors.AUDIT_UNAVAILABLE);
            return true;
          });
          const ro = await openAuditStore(db, { readOnly: true });
          assert.equal((await ro.query({})).length, 20);
          await assert.rejects(ro.append(sampleEvent(1)), /read-only/);
          await ro.close();
        } finally {
          await t.close(db);
        }
      });
    });
  });
}
