import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type AuditRecord, Errors, TollgateError } from '@tollgate/core';
import { closeStore, openSqlite, type StoreDb } from '../store/database';
import { prepare } from './chain';
import { Signer } from './signing';
import { SqliteBackend } from './sqlite';
import { SqliteWriter, writerThread } from './sqlite-writer';
import { openAuditStore } from './store';
import { sampleEvent } from './testing/suite';
import type { AuditStore } from './types';
import { DirectWriter } from './writer';

const root = mkdtempSync(join(tmpdir(), 'tollgate-audit-writer-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const { privateKey: signingKey, publicKey } = generateKeyPairSync('ed25519');

type SqliteDb = Extract<StoreDb, { kind: 'sqlite' }>;

async function withStore(
  opts: Parameters<typeof openAuditStore>[1],
  body: (store: AuditStore, db: SqliteDb) => Promise<void>,
): Promise<void> {
  const db = openSqlite(join(root, `w-${++n}.db`)) as SqliteDb;
  const store = await openAuditStore(db, opts);
  try {
    await body(store, db);
  } finally {
    await store.close();
    await closeStore(db);
  }
}

function isUnavailable(message: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof TollgateError, String(e));
    assert.equal(e.kind, Errors.AUDIT_UNAVAILABLE);
    assert.match(e.message, message);
    return true;
  };
}

/** Runs `body` with the writer thread replaced by testing/faulty-worker.js. */
async function withFaultyThread(body: () => Promise<void>): Promise<void> {
  const real = writerThread.script;
  writerThread.script = join(__dirname, 'testing', 'faulty-worker.js');
  try {
    await body();
  } finally {
    writerThread.script = real;
  }
}

describe('SQLite audit writer thread', { timeout: 120_000 }, () => {
  it('keeps the event loop turning while a batch commits; what arrives meanwhile is committed together next', async () => {
    await withStore({ signingKey }, async (store) => {
      await store.append(sampleEvent(0));
      const before = store.stats().commits;
      const blob = 'x'.repeat(2000);
      const big = Array.from({ length: 2000 }, (_, i) =>
        store.append({ ...sampleEvent(1 + i), data: { blob, i } }),
      );
      let done = false;
      const bigDone = Promise.all(big).finally(() => {
        done = true;
      });
      // A heartbeat on setImmediate: with the commit on the main thread it could not run (and see
      // the batch taken but not committed) until the commit was over.
      const late: Array<Promise<AuditRecord>> = [];
      let beatsInFlight = 0;
      let beats = 0;
      await new Promise<void>((resolve) => {
        const beat = (): void => {
          beats++;
          const s = store.stats();
          // the big batch is with the thread, not committed yet; the late ones wait with it
          if (!done && s.commits === before && s.pending === big.length + late.length) {
            beatsInFlight++;
            if (late.length < 50) late.push(store.append(sampleEvent(5000 + late.length)));
          }
          if (done || beats > 10_000_000) resolve();
          else setImmediate(beat);
        };
        setImmediate(beat);
      });
      const recs = await bigDone;
      const lateRecs = await Promise.all(late);
      assert.ok(beatsInFlight >= 10, `the event loop turned ${beatsInFlight} times during the commit`);
      assert.equal(late.length, 50);
      const lastBig = Math.max(...recs.map((r) => r.seq));
      assert.equal(lastBig, 2001);
      assert.deepEqual(
        lateRecs.map((r) => r.seq),
        Array.from({ length: 50 }, (_, i) => 2002 + i),
      );
      // What arrived while the big batch committed was posted to the thread at once and taken
      // together into the next transaction (or into the big one, when the thread had not begun
      // it yet; a few more only if some arrived after the thread had begun the next one).
      const commits = store.stats().commits - before;
      assert.ok(commits >= 1 && commits <= 4, `${commits} commits`);
      const r = await store.verify({ publicKey });
      assert.equal(r.ok, true, r.summary);
      assert.equal(r.records, 2051);
    });
  });

  it('writes the same chain as the main-thread writer: batches from both verify as one chain', async () => {
    const db = openSqlite(join(root, `w-${++n}.db`)) as SqliteDb;
    const backend = new SqliteBackend(db.db, db.path);
    await backend.init(false);
    const rules = { every: 7, intervalMs: 60_000, signer: new Signer(signingKey) };
    const direct = new DirectWriter(backend, rules);
    const threaded = new SqliteWriter({
      path: db.path,
      every: 7,
      intervalMs: 60_000,
      signingKey,
      timeoutMs: 10_000,
      like: db.db,
    });
    try {
      let i = 0;
      for (let round = 0; round < 6; round++) {
        const writer = round % 2 === 0 ? direct : threaded;
        const events = Array.from({ length: 5 + round }, () => prepare(sampleEvent(i++)));
        const { ext } = await writer.write({ kind: 'append', events, now: Date.now() }, 10_000);
        assert.equal(ext?.rows.length, events.length);
        assert.equal(ext?.rows.at(-1)?.seq, i);
      }
      await threaded.write({ kind: 'checkpoint', periodic: false, now: Date.now() }, 10_000);
      const ro = await openAuditStore(db, { readOnly: true });
      const r = await ro.verify({ publicKey });
      await ro.close();
      assert.equal(r.ok, true, r.summary);
      assert.equal(r.records, i);
      assert.equal(r.checkpoints, Math.floor(i / 7) + 1);
    } finally {
      await threaded.close();
      await closeStore(db);
    }
  });

  it('fails the batch of a thread that dies with AUDIT_UNAVAILABLE and carries on with a new thread', async () => {
    await withFaultyThread(() =>
      withStore({ signingKey, checkpointEvery: 5 }, async (store) => {
        await store.append(sampleEvent(0));
        for (const fault of ['fault:crash', 'fault:throw']) {
          const batch = [
            store.append({ type: 'command', resource: fault }),
            store.append(sampleEvent(1)),
            store.append(sampleEvent(2)),
          ];
          for (const r of await Promise.allSettled(batch)) {
            assert.equal(r.status, 'rejected');
            isUnavailable(/audit store cannot write \(sqlite .*\): the audit writer thread (exited|failed)/)(
              (r as PromiseRejectedResult).reason,
            );
          }
          const next = await store.append(sampleEvent(3));
          assert.equal(next.seq, fault === 'fault:crash' ? 2 : 3);
        }
        assert.equal(store.stats().failedCommits, 2);
        const r = await store.verify({ publicKey });
        assert.equal(r.ok, true, r.summary);
        assert.equal(r.records, 3);
      }),
    );
  });

  it('gives up on a thread that does not answer within commitTimeoutMs', async () => {
    await withFaultyThread(() =>
      // long enough that a loaded machine starts the thread and commits in time; the hang is
      // what runs out of it
      withStore({ signingKey, commitTimeoutMs: 2000 }, async (store) => {
        await assert.rejects(
          store.append({ type: 'command', resource: 'fault:hang' }),
          isUnavailable(/no commit within 2000 ms/),
        );
        assert.equal((await store.append(sampleEvent(1))).seq, 1);
        assert.equal((await store.verify({ publicKey })).ok, true);
      }),
    );
  });

  it('abandons a commit that waits too long for the write lock, without writing it later', async () => {
    const path = join(root, `w-${++n}.db`);
    const db = openSqlite(path) as SqliteDb;
    db.db.pragma('busy_timeout = 10000'); // the writer thread's connection copies it
    // the lock is held until after the rejection, so only the lock wait runs out of time; the
    // limit is long enough that opening the store on a loaded machine does not
    const store = await openAuditStore(db, { signingKey, commitTimeoutMs: 2000 });
    const other = openSqlite(path) as SqliteDb;
    try {
      await store.append(sampleEvent(0));
      other.db.exec('BEGIN IMMEDIATE'); // another process holding the write lock
      try {
        await assert.rejects(
          store.append(sampleEvent(1)),
          isUnavailable(/no commit within 2000 ms; rolled back/),
        );
      } finally {
        other.db.exec('COMMIT');
      }
      const next = await store.append(sampleEvent(2));
      assert.equal(next.seq, 2);
      const rows = await store.query({});
      assert.deepEqual(
        rows.map((r) => r.data),
        [sampleEvent(0).data, sampleEvent(2).data],
      );
      assert.equal((await store.verify({ publicKey })).ok, true);
    } finally {
      await store.close();
      await closeStore(other);
      await closeStore(db);
    }
  });

  it('does not keep the process alive: neither once closed nor while idle', () => {
    const dist = join(__dirname, '..');
    for (const closeIt of [true, false]) {
      const code = `
        const { openSqlite, closeStore } = require(${JSON.stringify(join(dist, 'store', 'database.js'))});
        const { openAuditStore } = require(${JSON.stringify(join(dist, 'audit', 'store.js'))});
        (async () => {
          const db = openSqlite(${JSON.stringify(join(root, `exit-${closeIt}.db`))});
          const store = await openAuditStore(db, {});
          const r = await store.append({ type: 'policy.reload' });
          ${closeIt ? 'await store.close(); await closeStore(db);' : ''}
          console.log('appended', r.seq);
        })().catch((e) => { console.error(e); process.exitCode = 1; });`;
      const run = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.signal, null, `the process had to be killed (close: ${closeIt})`);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'appended 1');
    }
  });
});
