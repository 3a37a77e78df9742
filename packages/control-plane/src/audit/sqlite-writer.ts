import type { KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Extension, HeadRow, StoredRow } from './backend';
import type { Prepared, WriteOp, WriteResult } from './chain';
import type { Checkpoint } from './types';
import type { ChainWriter } from './writer';

/**
 * The SQLite audit writer thread, main-thread side. better-sqlite3 is synchronous, so a commit
 * (its fsync with `synchronous = FULL`) run on the main thread stops every session until it is
 * done. Here every chain-extending transaction runs on a worker thread with its own connection
 * to the same file: hashing, signing, the inserts and the commit happen there, while the main
 * thread keeps accepting appends and posts them at once: the thread takes every append that queued
 * up during a transaction into the next one, so it starts as soon as the last is committed,
 * without waiting for a round trip to the main thread. Reads stay on the caller's connection
 * (WAL: readers see each commit once it is done, and do not wait for the writer).
 *
 * Failure is closed and bounded: a write that has not committed within its timeout is abandoned
 * (the thread rolls it back, or is terminated), a thread that dies fails its requests, and either
 * way the next write starts a new thread. Nothing here keeps the process alive while idle.
 */

/** What the thread is started with (`workerData`). The KeyObject is cloned, never exported. */
export interface WriterThreadData {
  path: string;
  every: number;
  intervalMs: number;
  signingKey: KeyObject | undefined;
  /** One Int32 word, `GATE`. */
  state: SharedArrayBuffer;
  synchronous: number;
  busyTimeoutMs: number;
  maxPageCount: number;
}

/**
 * The word that decides whether the thread may still commit: it swaps `OPEN` for `COMMITTING`
 * just before COMMIT (and back after it), the main thread swaps in `ABANDONED` when it gives up
 * on the thread; the thread then commits nothing more. Whoever swaps first decides.
 */
export const GATE = 0;
export const OPEN = 0;
export const COMMITTING = 1;
export const ABANDONED = 2;

/** Most events the thread puts in one transaction when it takes queued appends together. */
export const MAX_GROUP_EVENTS = 4000;

/** Fields of one event in a posted batch, flattened (cheaper to clone than an object per event). */
export const EVENT_FIELDS = 10;

export type WireOp =
  | Exclude<WriteOp, { kind: 'append' }>
  | { kind: 'append'; now: number; fields: unknown[] };

export type WriterRequest =
  | { id: number; kind: 'write'; op: WireOp }
  | { id: number; kind: 'deleteThrough'; through: number; chunk: number }
  | { id: number; kind: 'deleteCheckpoints'; seq: number };

type RequestBody = WriterRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

/** An append's outcome without the rows' content, which the main thread already has. */
export interface AppendReply {
  head: HeadRow;
  checkpoints: Checkpoint[];
  /** prevHash of the first row. */
  prev: string;
  /** The rows' hashes, 64 hex digits each, concatenated. */
  hashes: string;
}

export type WriterReply =
  | {
      id: number;
      ok: true;
      head?: HeadRow;
      ext?: Extension;
      appended?: AppendReply;
      /** The append was committed in the transaction of an earlier request. */
      joined?: boolean;
      changes?: number;
    }
  | { id: number; ok: false; message: string; code?: string };

export function encodeEvents(events: readonly Prepared[]): unknown[] {
  const out = new Array<unknown>(events.length * EVENT_FIELDS);
  let i = 0;
  for (const e of events) {
    out[i++] = e.at;
    out[i++] = e.type;
    out[i++] = e.sessionId;
    out[i++] = e.identityJson;
    out[i++] = e.subject;
    out[i++] = e.resource;
    out[i++] = e.action;
    out[i++] = e.decision;
    out[i++] = e.approvalId;
    out[i++] = e.dataJson;
  }
  return out;
}

export function decodeEvents(f: unknown[]): Prepared[] {
  const out: Prepared[] = [];
  for (let i = 0; i < f.length; i += EVENT_FIELDS) {
    out.push({
      at: f[i] as number,
      type: f[i + 1] as string,
      sessionId: f[i + 2] as string | undefined,
      identityJson: f[i + 3] as string | undefined,
      subject: f[i + 4] as string | undefined,
      resource: f[i + 5] as string | undefined,
      action: f[i + 6] as string | undefined,
      decision: f[i + 7] as string | undefined,
      approvalId: f[i + 8] as string | undefined,
      dataJson: f[i + 9] as string | undefined,
    });
  }
  return out;
}

/** Rebuilds an append's rows from the events that were posted and the thread's hashes. */
export function expandAppend(events: readonly Prepared[], a: AppendReply): Extension {
  const n = events.length;
  if (a.hashes.length !== n * 64 || a.hashes.slice(-64) !== a.head.hash) {
    throw new Error('the audit writer thread answered with a different batch');
  }
  const rows: StoredRow[] = new Array(n);
  let prev = a.prev;
  const first = a.head.seq - n + 1;
  for (let i = 0; i < n; i++) {
    const ev = events[i] as Prepared;
    const hash = a.hashes.slice(i * 64, i * 64 + 64);
    rows[i] = {
      seq: first + i,
      at: ev.at,
      type: ev.type,
      sessionId: ev.sessionId,
      identity: ev.identityJson,
      subject: ev.subject,
      resource: ev.resource,
      action: ev.action,
      decision: ev.decision,
      approvalId: ev.approvalId,
      data: ev.dataJson,
      prevHash: prev,
      hash,
    };
    prev = hash;
  }
  return { rows, checkpoints: a.checkpoints, head: a.head };
}

interface Pending {
  resolve: (r: WriterReply & { ok: true }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  isWrite: boolean;
}

interface Thread {
  readonly worker: Worker;
  readonly state: Int32Array;
  readonly pending: Map<number, Pending>;
  retired: boolean;
}

export interface SqliteWriterOptions {
  path: string;
  every: number;
  intervalMs: number;
  signingKey: KeyObject | undefined;
  /** Bound for deletes (writes pass their own). */
  timeoutMs: number;
  /** The caller's connection: the thread's connection copies its synchronous (at least FULL), busy_timeout and max_page_count. */
  like: Database.Database;
}

/** The thread's entry module. Tests point it at one that fails on purpose (testing/faulty-worker.js). */
export const writerThread = { script: join(__dirname, 'sqlite-worker.js') };

/** How long `close` waits for the thread to stop (it may be inside a system call). */
const STOP_WAIT_MS = 5000;

export class SqliteWriter implements ChainWriter {
  /** Requests are posted as they come; the thread runs them in order (appends grouped). */
  readonly pipelined = true;
  readonly #data: Omit<WriterThreadData, 'state'>;
  readonly #timeoutMs: number;
  #thread: Thread | undefined;
  #nextId = 0;
  #closed = false;
  readonly #stopping = new Set<Promise<unknown>>();

  constructor(o: SqliteWriterOptions) {
    const num = (pragma: string): number => Number(o.like.pragma(pragma, { simple: true }));
    this.#data = {
      path: resolve(o.path), // the thread opens it later: not relative to a cwd that may change
      every: o.every,
      intervalMs: o.intervalMs,
      signingKey: o.signingKey,
      synchronous: Math.max(2, num('synchronous')),
      busyTimeoutMs: num('busy_timeout'),
      maxPageCount: num('max_page_count'),
    };
    this.#timeoutMs = o.timeoutMs;
  }

  async write(op: WriteOp, timeoutMs: number): Promise<WriteResult> {
    const wire: WireOp =
      op.kind === 'append' ? { kind: 'append', now: op.now, fields: encodeEvents(op.events) } : op;
    const r = await this.#request({ kind: 'write', op: wire }, timeoutMs, true);
    if (!r.head) throw new Error('the audit writer thread did not report the head');
    if (op.kind === 'append') {
      if (!r.appended) throw new Error('the audit writer thread did not report the append');
      return { head: r.head, ext: expandAppend(op.events, r.appended), joined: r.joined === true };
    }
    return { head: r.head, ext: r.ext };
  }

  async deleteThrough(through: number, chunk: number): Promise<number> {
    const r = await this.#request({ kind: 'deleteThrough', through, chunk }, this.#timeoutMs, false);
    return r.changes ?? 0;
  }

  async deleteCheckpointsBefore(seq: number): Promise<void> {
    await this.#request({ kind: 'deleteCheckpoints', seq }, this.#timeoutMs, false);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#thread) this.#retire(this.#thread, 'the audit store is closed');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#stopping]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, STOP_WAIT_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  #request(body: RequestBody, timeoutMs: number, isWrite: boolean): Promise<WriterReply & { ok: true }> {
    if (this.#closed) return Promise.reject(new Error('the audit store is closed'));
    let t: Thread;
    try {
      t = this.#thread ?? this.#start();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.#nextId = this.#nextId >= 0x7fffffff ? 1 : this.#nextId + 1;
    const id = this.#nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (t.pending.has(id)) this.#retire(t, `no ${isWrite ? 'commit' : 'answer'} within ${timeoutMs} ms`);
      }, timeoutMs);
      t.pending.set(id, { resolve, reject, timer, isWrite });
      if (t.pending.size === 1) t.worker.ref();
      t.worker.postMessage({ ...body, id } as WriterRequest);
    });
  }

  #start(): Thread {
    const state = new SharedArrayBuffer(4);
    const worker = new Worker(writerThread.script, {
      workerData: { ...this.#data, state } satisfies WriterThreadData,
    });
    const t: Thread = {
      worker,
      state: new Int32Array(state),
      pending: new Map(),
      retired: false,
    };
    worker.unref();
    worker.on('message', (r: WriterReply) => this.#settle(t, r));
    worker.on('error', (err) => this.#retire(t, `the audit writer thread failed: ${err.message}`));
    worker.on('messageerror', (err) =>
      this.#retire(t, `the audit writer thread sent an unreadable message: ${err.message}`),
    );
    worker.on('exit', (code) => this.#retire(t, `the audit writer thread exited (code ${code})`));
    this.#thread = t;
    return t;
  }

  #settle(t: Thread, r: WriterReply): void {
    const p = t.pending.get(r.id);
    if (!p) return;
    t.pending.delete(r.id);
    clearTimeout(p.timer);
    if (t.pending.size === 0) t.worker.unref();
    if (r.ok) p.resolve(r);
    else p.reject(Object.assign(new Error(r.message), r.code ? { code: r.code } : {}));
  }

  /** Fails what `t` has in flight and stops it; the next request starts a new thread. */
  #retire(t: Thread, why: string): void {
    if (this.#thread === t) this.#thread = undefined;
    // From here on the thread commits nothing; only a COMMIT already begun may still complete.
    const was = Atomics.exchange(t.state, GATE, ABANDONED);
    let outcome = '';
    if ([...t.pending.values()].some((p) => p.isWrite)) {
      outcome =
        was === COMMITTING ? ' (its COMMIT had begun: the batch may still become durable)' : '; rolled back';
    }
    const err = new Error(why + outcome);
    for (const p of t.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    if (t.pending.size > 0) {
      t.pending.clear();
      t.worker.unref();
    }
    if (t.retired) return;
    t.retired = true;
    const stop = t.worker.terminate().catch(() => {});
    this.#stopping.add(stop);
    void stop.finally(() => this.#stopping.delete(stop));
  }
}
