/**
 * The body of the SQLite audit writer thread (see sqlite-writer.ts): its own connection to the
 * store's file, one request at a time (each handled synchronously, start to finish), each chain
 * extension in one `BEGIN IMMEDIATE` transaction. Appends that queued up while a transaction ran
 * are taken off the port together and committed in one transaction (one fsync for all of them),
 * each answered with its own rows.
 */
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { Extension, HeadRow } from './backend';
import { buildFor, type WriteOp, type WriteResult } from './chain';
import { Signer } from './signing';
import { SqliteBackend } from './sqlite';
import {
  type AppendReply,
  COMMITTING,
  decodeEvents,
  EVENT_FIELDS,
  GATE,
  MAX_GROUP_EVENTS,
  OPEN,
  type WriterReply,
  type WriterRequest,
  type WriterThreadData,
} from './sqlite-writer';

type AppendRequest = WriterRequest & { kind: 'write'; op: { kind: 'append' } };

function isAppend(m: WriterRequest): m is AppendRequest {
  return m.kind === 'write' && m.op.kind === 'append';
}

/**
 * The appends waiting behind `first` on the port, up to `MAX_GROUP_EVENTS` events; a request of
 * another kind ends the group and is returned to be handled next.
 */
function takeGroup(
  port: MessagePort,
  first: AppendRequest,
  intercept: ((req: WriterRequest) => void) | undefined,
): { group: AppendRequest[]; held: WriterRequest | undefined } {
  const group = [first];
  let events = first.op.fields.length / EVENT_FIELDS;
  while (events < MAX_GROUP_EVENTS) {
    const next = receiveMessageOnPort(port);
    if (!next) break;
    const m = next.message as WriterRequest;
    intercept?.(m);
    if (!isAppend(m)) return { group, held: m };
    group.push(m);
    events += m.op.fields.length / EVENT_FIELDS;
  }
  return { group, held: undefined };
}

/** Splits one transaction's extension into the answer each request of its group gets. */
function splitAppend(
  group: readonly AppendRequest[],
  counts: readonly number[],
  r: WriteResult,
): WriterReply[] {
  const ext = r.ext as Extension;
  const replies: WriterReply[] = [];
  let at = 0;
  let start: HeadRow = r.head;
  for (let g = 0; g < group.length; g++) {
    const n = counts[g] as number;
    const rows = ext.rows.slice(at, at + n);
    at += n;
    const last = rows[n - 1];
    const isLast = g === group.length - 1;
    // The last request carries the signed head and the checkpoints; the others their own end.
    const head: HeadRow = isLast || !last ? ext.head : { ...ext.head, seq: last.seq, hash: last.hash };
    const appended: AppendReply = {
      head,
      checkpoints: isLast ? ext.checkpoints : [],
      prev: rows[0]?.prevHash ?? start.hash,
      hashes: rows.map((x) => x.hash).join(''),
    };
    replies.push({ id: (group[g] as AppendRequest).id, ok: true, head: start, appended, joined: g > 0 });
    start = { ...start, seq: head.seq, hash: head.hash };
  }
  return replies;
}

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

  const write = (op: WriteOp): WriteResult => {
    const build = buildFor(op, rules);
    let head: HeadRow | undefined;
    let ext: Extension | undefined;
    try {
      ext = backend.extendNow(
        (h, boundary) => {
          head = h;
          return build(h, boundary);
        },
        {
          timeoutMs: 0, // bounded by busy_timeout here and by the main thread's timer
          ...(op.kind === 'prune' ? { pruneBefore: op.before } : {}),
          // Commit only if the main thread has not given up on this thread meanwhile.
          beforeCommit: () => {
            if (Atomics.compareExchange(state, GATE, OPEN, COMMITTING) !== OPEN) {
              throw new Error('the write was abandoned (timed out)');
            }
          },
        },
      );
    } finally {
      // Open again once COMMIT is over (a main thread that abandoned us meanwhile keeps its word).
      Atomics.compareExchange(state, GATE, COMMITTING, OPEN);
    }
    if (!head) throw new Error('the head was not read');
    return { ext, head };
  };

  /** One transaction for a group of appends; every request of the group gets the same outcome. */
  const appendGroup = (group: readonly AppendRequest[]): WriterReply[] => {
    const counts = group.map((m) => m.op.fields.length / EVENT_FIELDS);
    const fields =
      group.length === 1 ? (group[0] as AppendRequest).op.fields : group.flatMap((m) => m.op.fields);
    const events = decodeEvents(fields);
    const now = Math.max(...group.map((m) => m.op.now));
    try {
      const r = write({ kind: 'append', now, events });
      if (!r.ext) throw new Error('nothing was written');
      return splitAppend(group, counts, r);
    } catch (err) {
      return group.map((m) => failure(m.id, err));
    }
  };

  /** Any request but an append. */
  const handle = (m: WriterRequest): WriterReply => {
    switch (m.kind) {
      case 'write': {
        if (m.op.kind === 'append') throw new Error('appends are handled in groups');
        const r = write(m.op);
        return { id: m.id, ok: true, head: r.head, ext: r.ext };
      }
      case 'deleteThrough':
        return { id: m.id, ok: true, changes: backend.deleteThroughNow(m.through, m.chunk) };
      case 'deleteCheckpoints':
        backend.deleteCheckpointsBeforeNow(m.seq);
        return { id: m.id, ok: true };
    }
  };

  const serve = (m: WriterRequest): WriterRequest | undefined => {
    if (isAppend(m)) {
      const { group, held } = takeGroup(port, m, intercept);
      for (const reply of appendGroup(group)) port.postMessage(reply);
      return held;
    }
    let reply: WriterReply;
    try {
      reply = handle(m);
    } catch (err) {
      reply = failure(m.id, err);
    }
    port.postMessage(reply);
    return undefined;
  };

  port.on('message', (first: WriterRequest) => {
    intercept?.(first);
    let next: WriterRequest | undefined = first;
    while (next) next = serve(next);
  });
}

function failure(id: number, err: unknown): WriterReply {
  const e = err as { message?: unknown; code?: unknown };
  return {
    id,
    ok: false,
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
  };
}
