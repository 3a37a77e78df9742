import type { KeyObject } from 'node:crypto';
import {
  type AppendOptions,
  type AuditEventInput,
  type AuditRecord,
  Errors,
  type Identity,
  TollgateError,
} from '@tollgate/core';
import type { StoreDb } from '../store/database';
import type { Backend, Extension, HeadRow, StoredRow } from './backend';
import { type ChainRules, type Prepared, prepare, type WriteOp, type WriteResult } from './chain';
import { PostgresBackend } from './postgres';
import { Signer } from './signing';
import { SqliteBackend } from './sqlite';
import { SqliteWriter } from './sqlite-writer';
import type {
  AuditQuery,
  AuditStore,
  AuditStoreOptions,
  AuditStoreStats,
  Checkpoint,
  PruneResult,
  VerifyReport,
} from './types';
import { verifyChain } from './verify';
import { type ChainWriter, DirectWriter } from './writer';

/** Longest a lazy append waits for another commit to join before forcing its own. */
const LAZY_COMMIT_MS = 20;

const DEFAULTS = {
  checkpointEvery: 1000,
  checkpointIntervalMs: 60_000,
  maxPending: 100_000,
  commitTimeoutMs: 15_000,
};
/** Records per transaction; more pending appends wait for the next one. */
const MAX_BATCH = 2000;
const MAX_QUERY_LIMIT = 100_000;
const PRUNE_CHUNK = 10_000;

interface Job {
  ev: Prepared;
  resolve: (r: AuditRecord) => void;
  reject: (e: unknown) => void;
}

/** A stored row as the record callers see (identity and data parsed, absent fields left out). */
export function toRecord(r: StoredRow): AuditRecord {
  const rec: Record<string, unknown> = { seq: r.seq, at: r.at, type: r.type };
  if (r.sessionId !== undefined) rec.sessionId = r.sessionId;
  if (r.identity !== undefined) rec.identity = JSON.parse(r.identity) as Identity;
  if (r.resource !== undefined) rec.resource = r.resource;
  if (r.action !== undefined) rec.action = r.action;
  if (r.decision !== undefined) rec.decision = r.decision;
  if (r.approvalId !== undefined) rec.approvalId = r.approvalId;
  if (r.data !== undefined) rec.data = JSON.parse(r.data);
  rec.prevHash = r.prevHash;
  rec.hash = r.hash;
  return rec as unknown as AuditRecord;
}

/**
 * `toRecord` for a record just appended: the same fields, but identity and data are parsed from
 * their canonical text only when read (most appenders only need `seq`).
 */
function appendedRecord(r: StoredRow): AuditRecord {
  const rec: Record<string, unknown> = { seq: r.seq, at: r.at, type: r.type };
  if (r.sessionId !== undefined) rec.sessionId = r.sessionId;
  if (r.identity !== undefined) lazyJson(rec, 'identity', r.identity);
  if (r.resource !== undefined) rec.resource = r.resource;
  if (r.action !== undefined) rec.action = r.action;
  if (r.decision !== undefined) rec.decision = r.decision;
  if (r.approvalId !== undefined) rec.approvalId = r.approvalId;
  if (r.data !== undefined) lazyJson(rec, 'data', r.data);
  rec.prevHash = r.prevHash;
  rec.hash = r.hash;
  return rec as unknown as AuditRecord;
}

/** An enumerable property that parses `json` on first read and then holds the value. */
function lazyJson(rec: Record<string, unknown>, key: string, json: string): void {
  Object.defineProperty(rec, key, {
    enumerable: true,
    configurable: true,
    get() {
      const value: unknown = JSON.parse(json);
      Object.defineProperty(rec, key, { value, enumerable: true, configurable: true, writable: true });
      return value;
    },
    set(value: unknown) {
      Object.defineProperty(rec, key, { value, enumerable: true, configurable: true, writable: true });
    },
  });
}

function reason(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown };
  const msg = typeof e?.message === 'string' && e.message ? e.message : String(err);
  return msg.split('\n')[0] ?? msg;
}

class Store implements AuditStore {
  readonly #backend: Backend;
  readonly #writer: ChainWriter | undefined;
  readonly #signer: Signer;
  readonly #intervalMs: number;
  readonly #maxPending: number;
  readonly #timeoutMs: number;
  readonly #readOnly: boolean;
  #pending: Job[] = [];
  #scheduled = false;
  /** Append batches handed to the writer and not yet settled (at most one unless it is pipelined). */
  #inFlight = 0;
  /** Events in those batches. */
  #posted = 0;
  #lazyTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #idle: Array<() => void> = [];
  #mutex: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  /** This store appended records that no checkpoint covers yet (as far as it knows). */
  #uncovered = false;
  #lastCheckpointAt = Date.now();
  #stats = { appended: 0, commits: 0, failedCommits: 0 };

  /** `makeWriter` is not called for a read-only store. */
  constructor(
    backend: Backend,
    opts: AuditStoreOptions,
    makeWriter: (rules: ChainRules, timeoutMs: number) => ChainWriter,
  ) {
    this.#backend = backend;
    this.#signer = new Signer(opts.signingKey);
    const every = positive(opts.checkpointEvery ?? DEFAULTS.checkpointEvery, 'checkpointEvery');
    this.#intervalMs = positive(
      opts.checkpointIntervalMs ?? DEFAULTS.checkpointIntervalMs,
      'checkpointIntervalMs',
    );
    this.#maxPending = positive(opts.maxPending ?? DEFAULTS.maxPending, 'maxPending');
    this.#timeoutMs = positive(opts.commitTimeoutMs ?? DEFAULTS.commitTimeoutMs, 'commitTimeoutMs');
    this.#readOnly = opts.readOnly === true;
    this.#writer = this.#readOnly
      ? undefined
      : makeWriter({ every, intervalMs: this.#intervalMs, signer: this.#signer }, this.#timeoutMs);
  }

  /** Runs `op` on the writer (SQLite: its thread); callers hold `#exclusive`, except pipelined appends. */
  #write(op: WriteOp): Promise<WriteResult> {
    if (!this.#writer) return Promise.reject(new Error('opened read-only'));
    return this.#writer.write(op, this.#timeoutMs);
  }

  #unavailable(err: unknown, what = 'cannot write'): TollgateError {
    if (err instanceof TollgateError && err.kind === Errors.AUDIT_UNAVAILABLE) return err;
    return new TollgateError(
      Errors.AUDIT_UNAVAILABLE,
      `audit store ${what} (${this.#backend.label}): ${reason(err)}`,
      {
        hint: 'check free disk space, file permissions and that the database is reachable; commands are refused until the audit store can write',
        cause: err,
      },
    );
  }

  /** Runs write operations one at a time (group commits, checkpoints, prune anchors). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#mutex.then(fn);
    this.#mutex = p.catch(() => {});
    return p;
  }

  async start(): Promise<void> {
    if (this.#readOnly) return;
    // A fresh log gets a signed head, so that wiping it back to empty does not go unnoticed.
    if (this.#signer.keyId) await this.#exclusive(() => this.#write({ kind: 'genesis' }));
    const tick = Math.max(10, Math.min(Math.floor(this.#intervalMs / 4), 15_000));
    this.#timer = setInterval(() => this.#onTimer(), tick);
    this.#timer.unref();
  }

  append(e: AuditEventInput, options?: AppendOptions): Promise<AuditRecord> {
    if (this.#closed) return Promise.reject(this.#unavailable(new Error('the audit store is closed')));
    if (this.#readOnly) return Promise.reject(this.#unavailable(new Error('opened read-only')));
    if (this.#pending.length + this.#posted >= this.#maxPending) {
      return Promise.reject(
        this.#unavailable(
          new Error(`${this.#pending.length + this.#posted} appends are already waiting to commit`),
          'is overloaded',
        ),
      );
    }
    let ev: Prepared;
    try {
      ev = prepare(e);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AuditRecord>((resolve, reject) => {
      this.#pending.push({ ev, resolve, reject });
      if (options?.lazy) this.#kickLater();
      else this.#kick();
    });
  }

  /** A lazy append joins the next commit, or forces one after `LAZY_COMMIT_MS`. */
  #kickLater(): void {
    if (this.#scheduled || this.#inFlight > 0 || this.#lazyTimer) return;
    this.#lazyTimer = setTimeout(() => {
      this.#lazyTimer = undefined;
      this.#kick();
    }, LAZY_COMMIT_MS);
    this.#lazyTimer.unref();
  }

  /**
   * Schedules a group commit after the current turn of the event loop (collecting its appends).
   * A pipelined writer gets the batch even while earlier ones commit: it starts the next
   * transaction, holding everything posted meanwhile, as soon as the last one is over.
   */
  #kick(): void {
    if (this.#lazyTimer) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    if (this.#scheduled || (this.#inFlight > 0 && !this.#writer?.pipelined)) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    const pipelined = this.#writer?.pipelined === true;
    if (this.#inFlight > 0 && !pipelined) return;
    if (this.#pending.length === 0) {
      if (this.#inFlight === 0) for (const done of this.#idle.splice(0)) done();
      return;
    }
    const batch = this.#pending.splice(0, MAX_BATCH);
    this.#inFlight++;
    this.#posted += batch.length;
    try {
      // The writer runs pipelined writes in call order: no need to wait for checkpoints here.
      if (pipelined) await this.#commit(batch);
      else await this.#exclusive(() => this.#commit(batch));
    } finally {
      this.#inFlight--;
      this.#posted -= batch.length;
      if (this.#pending.length > 0) this.#kick();
      else if (this.#inFlight === 0) for (const done of this.#idle.splice(0)) done();
    }
  }

  async #commit(batch: Job[]): Promise<void> {
    let ext: Extension | undefined;
    let joined: boolean | undefined;
    try {
      ({ ext, joined } = await this.#write({
        kind: 'append',
        events: batch.map((j) => j.ev),
        now: Date.now(),
      }));
      if (!ext) throw new Error('nothing was written');
    } catch (err) {
      this.#stats.failedCommits++;
      const e = this.#unavailable(err);
      for (const j of batch) j.reject(e);
      return;
    }
    if (!joined) this.#stats.commits++;
    this.#stats.appended += batch.length;
    this.#noteHead(ext.head);
    const rows = ext.rows;
    for (let i = 0; i < batch.length; i++) (batch[i] as Job).resolve(appendedRecord(rows[i] as StoredRow));
  }

  #noteHead(h: HeadRow): void {
    this.#uncovered = h.seq > h.cpSeq;
    this.#lastCheckpointAt = h.cpAt || this.#lastCheckpointAt;
  }

  #onTimer(): void {
    if (!this.#uncovered || this.#closed) return;
    if (Date.now() - this.#lastCheckpointAt < this.#intervalMs) return;
    this.#uncovered = false;
    this.#exclusive(() => this.#writeCheckpoint('periodic')).catch(() => {
      // the next append reports an unwritable store; try again on a later tick
      this.#uncovered = true;
    });
  }

  /** Writes a checkpoint at the head (periodic: only when due); returns the one at the head. */
  async #writeCheckpoint(kind: 'periodic' | 'manual'): Promise<Checkpoint | undefined> {
    const { ext, head } = await this.#write({
      kind: 'checkpoint',
      periodic: kind === 'periodic',
      now: Date.now(),
    });
    if (ext) {
      this.#noteHead(ext.head);
      return ext.checkpoints[0];
    }
    return head.seq === 0 ? undefined : this.#backend.checkpointAt(head.seq);
  }

  async checkpoint(): Promise<Checkpoint | undefined> {
    if (this.#readOnly) throw this.#unavailable(new Error('opened read-only'));
    try {
      return await this.#exclusive(() => this.#writeCheckpoint('manual'));
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  async prune(before: number): Promise<PruneResult> {
    const writer = this.#writer;
    if (!writer) throw this.#unavailable(new Error('opened read-only'));
    let ext: Extension | undefined;
    try {
      ({ ext } = await this.#exclusive(() => this.#write({ kind: 'prune', before, now: Date.now() })));
    } catch (err) {
      throw this.#unavailable(err);
    }
    const anchor = ext?.checkpoints[0];
    if (!ext || !anchor)
      return { removed: 0, throughSeq: undefined, checkpoint: undefined, record: undefined };
    this.#noteHead(ext.head);
    const through = anchor.seq;
    let removed = 0;
    try {
      // In chunks, so that no transaction (nor, on PostgreSQL, a lock) is held long.
      // A prune interrupted here is finished by the next one; verify accepts the partial prefix.
      for (;;) {
        const n = await writer.deleteThrough(through, PRUNE_CHUNK);
        removed += n;
        if (n < PRUNE_CHUNK) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await writer.deleteCheckpointsBefore(through);
    } catch (err) {
      throw this.#unavailable(err, `stopped pruning after ${removed} records`);
    }
    return { removed, throughSeq: through, checkpoint: anchor, record: toRecord(ext.rows[0] as StoredRow) };
  }

  async query(q: AuditQuery): Promise<AuditRecord[]> {
    const limit = Math.max(0, Math.min(Math.trunc(q.limit ?? 10_000), MAX_QUERY_LIMIT));
    if (limit === 0) return [];
    try {
      return (await this.#backend.query(q, limit)).map(toRecord);
    } catch (err) {
      throw this.#unavailable(err, 'cannot read');
    }
  }

  async checkpoints(q: { afterSeq?: number; limit?: number } = {}): Promise<Checkpoint[]> {
    const limit = Math.max(0, Math.min(Math.trunc(q.limit ?? 10_000), MAX_QUERY_LIMIT));
    try {
      return await this.#backend.checkpointPage(q.afterSeq ?? 0, limit);
    } catch (err) {
      throw this.#unavailable(err, 'cannot read');
    }
  }

  async verify(opts: { publicKey?: KeyObject; pageSize?: number } = {}): Promise<VerifyReport> {
    const publicKey = opts.publicKey ?? this.#signer.publicKey;
    try {
      return await verifyChain(this.#backend, {
        ...(publicKey ? { publicKey } : {}),
        ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
      });
    } catch (err) {
      throw this.#unavailable(err, 'cannot read');
    }
  }

  stats(): AuditStoreStats {
    return { ...this.#stats, pending: this.#pending.length + this.#posted };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#pending.length > 0 || this.#inFlight > 0 || this.#scheduled) {
      await new Promise<void>((resolve) => {
        this.#idle.push(resolve);
        this.#kick();
      });
    }
    await this.#mutex;
    await this.#writer?.close();
  }
}

function positive(n: number, name: string): number {
  if (!Number.isFinite(n) || n <= 0) {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `audit store: ${name} must be a positive number, got ${n}`,
    );
  }
  return n;
}

/**
 * Opens the audit log in `db` (SQLite or PostgreSQL), creating its tables when needed. The
 * store does not own `db`: close the store, then the database. On a SQLite file the store
 * commits on a writer thread with its own connection to `db.path` (see sqlite-writer.ts), which
 * takes `db`'s synchronous (at least FULL), busy_timeout and max_page_count; reads use `db`.
 */
export async function openAuditStore(db: StoreDb, opts: AuditStoreOptions = {}): Promise<AuditStore> {
  const backend: Backend =
    db.kind === 'sqlite' ? new SqliteBackend(db.db, db.path) : new PostgresBackend(db.pool, db.config);
  const store = new Store(backend, opts, (rules, timeoutMs) =>
    // An in-memory database cannot be opened a second time: it commits on the caller's thread.
    db.kind === 'sqlite' && !db.db.memory && db.path !== '' && db.path !== ':memory:'
      ? new SqliteWriter({
          path: db.path,
          every: rules.every,
          intervalMs: rules.intervalMs,
          signingKey: opts.signingKey,
          timeoutMs,
          like: db.db,
        })
      : new DirectWriter(backend, rules),
  );
  try {
    await backend.init(opts.readOnly === true);
    await store.start();
  } catch (err) {
    await store.close().catch(() => {});
    if (err instanceof TollgateError) throw err;
    throw new TollgateError(
      Errors.AUDIT_UNAVAILABLE,
      `cannot open the audit store (${backend.label}): ${reason(err)}`,
      {
        cause: err,
      },
    );
  }
  return store;
}
