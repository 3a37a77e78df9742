import type { Backend, HeadRow } from './backend';
import { buildFor, type ChainRules, type WriteOp, type WriteResult } from './chain';

/**
 * Where the audit store's writes run. Each call either completes or rejects, and a rejected
 * `write` left nothing in the chain. The store calls one write at a time, unless the writer is
 * `pipelined`: then it runs writes in the order they were called, and the store may call the
 * next one before the last has completed (appends only; other writes still one at a time).
 */
export interface ChainWriter {
  readonly pipelined: boolean;
  /** Runs `op` in one transaction holding the chain lock; fails when it takes longer than `timeoutMs`. */
  write(op: WriteOp, timeoutMs: number): Promise<WriteResult>;
  /** Deletes up to `chunk` of the oldest records with `seq <= through`; returns how many. */
  deleteThrough(through: number, chunk: number): Promise<number>;
  deleteCheckpointsBefore(seq: number): Promise<void>;
  /** Stops the writer; later calls reject. Called once nothing is in flight. */
  close(): Promise<void>;
}

/** Writes through the backend's own connection, in this thread (PostgreSQL, in-memory SQLite). */
export class DirectWriter implements ChainWriter {
  readonly pipelined = false;
  readonly #backend: Backend;
  readonly #rules: ChainRules;

  constructor(backend: Backend, rules: ChainRules) {
    this.#backend = backend;
    this.#rules = rules;
  }

  async write(op: WriteOp, timeoutMs: number): Promise<WriteResult> {
    const build = buildFor(op, this.#rules);
    let head: HeadRow | undefined;
    const ext = await this.#backend.extend(
      (h, boundary) => {
        head = h;
        return build(h, boundary);
      },
      { timeoutMs, ...(op.kind === 'prune' ? { pruneBefore: op.before } : {}) },
    );
    if (!head) throw new Error('the head was not read');
    return { ext, head };
  }

  deleteThrough(through: number, chunk: number): Promise<number> {
    return this.#backend.deleteThrough(through, chunk);
  }

  deleteCheckpointsBefore(seq: number): Promise<void> {
    return this.#backend.deleteCheckpointsBefore(seq);
  }

  async close(): Promise<void> {}
}
