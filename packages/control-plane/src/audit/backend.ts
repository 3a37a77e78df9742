import type { AuditQuery, Checkpoint } from './types';

/** A record as stored: identity and data as canonical JSON text, absent fields `undefined`. */
export interface StoredRow {
  seq: number;
  at: number;
  type: string;
  sessionId: string | undefined;
  identity: string | undefined;
  /** Copy of `identity.subject` for queries; verification checks that it agrees. */
  subject: string | undefined;
  resource: string | undefined;
  action: string | undefined;
  decision: string | undefined;
  approvalId: string | undefined;
  data: string | undefined;
  prevHash: string;
  hash: string;
}

/**
 * The single `audit_head` row: the last position and hash (signed), and where the last
 * checkpoint is. Updated in every transaction that extends the chain; on PostgreSQL it is also
 * the lock that serialises chain extension across gateway processes (`SELECT … FOR UPDATE`).
 */
export interface HeadRow {
  seq: number;
  hash: string;
  at: number;
  signature: string | undefined;
  keyId: string | undefined;
  cpSeq: number;
  cpAt: number;
}

/** What one chain-extending transaction writes. */
export interface Extension {
  rows: StoredRow[];
  checkpoints: Checkpoint[];
  head: HeadRow;
}

/** Where retention pruning stops: records `firstSeq..seq` go, `seq`'s hash is the anchor. */
export interface PruneBoundary {
  firstSeq: number;
  seq: number;
  hash: string;
}

export interface ExtendOptions {
  pruneBefore?: number;
  timeoutMs: number;
  beforeCommit?: () => void;
}

export type Build = (head: HeadRow, boundary: PruneBoundary | undefined) => Extension | undefined;

/** Head and what lies beyond it, read in one statement (one snapshot). */
export interface TailState {
  head: HeadRow | undefined;
  beyondCount: number;
  beyondMin: number | undefined;
  beyondMax: number | undefined;
}

/** The SQL side of the audit store, one per database kind. */
export interface Backend {
  /** `sqlite /path` or `postgres host:port/db` (never a password). */
  readonly label: string;
  /** Creates the tables (or, read-only, checks they exist). */
  init(readOnly: boolean): Promise<void>;
  /**
   * One transaction holding the chain lock: reads the head (and, for pruning, the boundary),
   * calls `build`, writes its rows, checkpoints and new head, commits. `build` returning
   * undefined rolls back and resolves undefined. `beforeCommit` (SQLite only) runs after the
   * writes, just before COMMIT; throwing there rolls back.
   */
  extend(build: Build, opts: ExtendOptions): Promise<Extension | undefined>;
  readHead(): Promise<HeadRow | undefined>;
  tail(afterSeq: number): Promise<TailState>;
  page(afterSeq: number, limit: number): Promise<StoredRow[]>;
  checkpointPage(afterSeq: number, limit: number): Promise<Checkpoint[]>;
  checkpointAt(seq: number): Promise<Checkpoint | undefined>;
  query(q: AuditQuery, limit: number): Promise<StoredRow[]>;
  /** Deletes up to `chunk` of the oldest records with `seq <= through`; returns how many. */
  deleteThrough(through: number, chunk: number): Promise<number>;
  deleteCheckpointsBefore(seq: number): Promise<void>;
}

export const COLUMNS =
  'seq, at, type, session_id, identity, subject, resource, action, decision, approval_id, data, prev_hash, hash';

export const HEAD_COLUMNS = 'seq, hash, at, signature, key_id, cp_seq, cp_at';

export const CHECKPOINT_COLUMNS = 'seq, hash, at, kind, signature, key_id';

/** The filters of a query as a WHERE clause with `?` placeholders. */
export function whereClause(q: AuditQuery): { sql: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  const add = (cond: string, ...values: unknown[]) => {
    conds.push(cond);
    params.push(...values);
  };
  if (q.afterSeq !== undefined) add('seq > ?', q.afterSeq);
  if (q.from !== undefined) add('at >= ?', Math.ceil(q.from));
  if (q.to !== undefined) add('at < ?', Math.ceil(q.to));
  if (q.subject !== undefined) add('subject = ?', q.subject);
  if (q.resource !== undefined) add('resource = ?', q.resource);
  if (q.sessionId !== undefined) add('session_id = ?', q.sessionId);
  if (q.decision !== undefined) add('decision = ?', q.decision);
  if (q.approvalId !== undefined) add('approval_id = ?', q.approvalId);
  if (q.types !== undefined) {
    if (q.types.length === 0) add('1 = 0');
    else add(`type IN (${q.types.map(() => '?').join(', ')})`, ...q.types);
  }
  if (q.actions !== undefined) {
    if (q.actions.length === 0) add('1 = 0');
    else add(`action IN (${q.actions.map(() => '?').join(', ')})`, ...q.actions);
  }
  return { sql: conds.length ? `WHERE ${conds.join(' AND ')}` : '', params };
}

export function opt<T>(v: T | null | undefined): T | undefined {
  return v === null ? undefined : v;
}
