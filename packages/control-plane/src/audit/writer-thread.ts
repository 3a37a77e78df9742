/**
 * The body of the SQLite audit writer thread (see sqlite-writer.ts): its own connection to the
 * store's file, one request at a time (each handled synchronously, start to finish), each chain
 * extension in one `BEGIN IMMEDIATE` transaction.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { HeadRow } from './backend';
import { buildFor, type WriteOp, type WriteResult } from './chain';
import { Signer } from './signing';
import { SqliteBackend } from './sqlite';
import {
  type AppendReply,
  decodeEvents,
  GATE,
  type WriterReply,
  type WriterRequest,
  type WriterThreadData,
} from './sqlite-writer';

/** Serves requests until the thread is terminated. `intercept` sees each request first (tests inject faults). */
export function runWriterThread(intercept?: (req: WriterRequest) => void): void {
  const port = parentPort;
  if (!port) throw new Error('the audit writer runs as a worker thread');
  const data = workerData as WriterThreadData;
  const db = new Database(data.path, { fileMustExist: true });
  db.pragma(`synchronous = ${Math.trunc(data.synchronous)}`);
  db.pragma(`busy_timeout = ${Math.trunc(data.busyTimeoutMs)}`);
  db.pragma(`max_page_count = ${Math.trunc(data.maxPageCount)}`);
  const backend = new SqliteBackend(db, data.path);
  backend.attach();
  const rules = { every: data.every, intervalMs: data.intervalMs, signer: new Signer(data.signingKey) };
  const state = new Int32Array(data.state);

  const write = (id: number, op: WriteOp): WriteResult => {
    const build = buildFor(op, rules);
    let head: HeadRow | undefined;
    const ext = backend.extendNow(
      (h, boundary) => {
        head = h;
        return build(h, boundary);
      },
      {
        timeoutMs: 0, // bounded by busy_timeout here and by the main thread's timer
        ...(op.kind === 'prune' ? { pruneBefore: op.before } : {}),
        // Commit only if the main thread has not given up on this write meanwhile.
        beforeCommit: () => {
          if (Atomics.compareExchange(state, GATE, id, -id) !== id) {
            throw new Error('the write was abandoned (timed out)');
          }
        },
      },
    );
    if (!head) throw new Error('the head was not read');
    return { ext, head };
  };

  const handle = (m: WriterRequest): WriterReply => {
    switch (m.kind) {
      case 'write': {
        const op: WriteOp =
          m.op.kind === 'append'
            ? { kind: 'append', now: m.op.now, events: decodeEvents(m.op.fields) }
            : m.op;
        const r = write(m.id, op);
        if (op.kind !== 'append' || !r.ext) return { id: m.id, ok: true, head: r.head, ext: r.ext };
        const appended: AppendReply = {
          head: r.ext.head,
          checkpoints: r.ext.checkpoints,
          prev: r.ext.rows[0]?.prevHash ?? r.head.hash,
          hashes: r.ext.rows.map((x) => x.hash).join(''),
        };
        return { id: m.id, ok: true, head: r.head, appended };
      }
      case 'deleteThrough':
        return { id: m.id, ok: true, changes: backend.deleteThroughNow(m.through, m.chunk) };
      case 'deleteCheckpoints':
        backend.deleteCheckpointsBeforeNow(m.seq);
        return { id: m.id, ok: true };
    }
  };

  port.on('message', (m: WriterRequest) => {
    intercept?.(m);
    let reply: WriterReply;
    try {
      reply = handle(m);
    } catch (err) {
      const e = err as { message?: unknown; code?: unknown };
      reply = {
        id: m.id,
        ok: false,
        message: typeof e?.message === 'string' ? e.message : String(err),
        ...(typeof e?.code === 'string' ? { code: e.code } : {}),
      };
    }
    port.postMessage(reply);
  });
}
