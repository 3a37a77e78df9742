import type { KeyObject } from 'node:crypto';
import type { AuditEventInput, AuditEventType, AuditRecord, AuditSink } from '@tollgate/core';

export interface AuditStoreOptions {
  /**
   * Ed25519 private key that signs checkpoints and the chain head (from config: `audit.signingKey`,
   * a PEM file or environment variable). Without it checkpoints are still written, unsigned, and
   * a record appended at the end of the log by someone with write access cannot be told apart.
   */
  signingKey?: KeyObject;
  /** Records between signed checkpoints (default 1000). */
  checkpointEvery?: number;
  /**
   * A checkpoint is also written when this much time has passed since the last one and this
   * store has appended records since (default 60 000 ms).
   */
  checkpointIntervalMs?: number;
  /** Open an existing log for reading only (CLI): no schema changes, `append` rejects. */
  readOnly?: boolean;
  /** Appends waiting for a commit before further appends are refused (default 100 000). */
  maxPending?: number;
  /** A commit that takes longer than this fails its batch with AUDIT_UNAVAILABLE (default 15 000 ms). */
  commitTimeoutMs?: number;
}

/** Filters for `AuditStore.query`; all given filters must match. Times are epoch milliseconds. */
export interface AuditQuery {
  /** Records with `at >= from`. */
  from?: number;
  /** Records with `at < to`. */
  to?: number;
  /** Identity subject. */
  subject?: string;
  resource?: string;
  sessionId?: string;
  decision?: string;
  types?: AuditEventType[];
  actions?: string[];
  approvalId?: string;
  /** Only records with a larger `seq` (keyset paging: pass the last seq of the previous page). */
  afterSeq?: number;
  /** At most this many records, in `seq` order (default and maximum 10 000). */
  limit?: number;
}

/** A signed statement that the chain had hash `hash` at position `seq`. */
export interface Checkpoint {
  readonly seq: number;
  readonly hash: string;
  /** Epoch milliseconds when the checkpoint was made. */
  readonly at: number;
  /** `periodic` (every N records or T seconds), `manual` (`checkpoint()`), `prune` (retention anchor). */
  readonly kind: 'periodic' | 'manual' | 'prune';
  /** Base64 Ed25519 signature over `checkpointPayload(seq, hash, at)`; absent when unsigned. */
  readonly signature: string | undefined;
  /** First 16 hex digits of SHA-256 over the signer's public key (SPKI DER). */
  readonly keyId: string | undefined;
}

export type VerifyFindingKind =
  /** A record's content does not match its own hash (a field was edited). */
  | 'altered'
  /** Records are missing: a gap in `seq`, records missing at the end, or a start with no prune anchor. */
  | 'removed'
  /** A record that is not part of the chain (forged, or appended behind the signed head). */
  | 'inserted'
  /** A record sits at another position than the one it was written at (swapped, renumbered). */
  | 'reordered'
  /** A record's `prevHash` is not the previous record's hash (one of them was rewritten). */
  | 'broken-link'
  /** A checkpoint's or the head's signature does not verify, or is missing while a key is given. */
  | 'bad-signature'
  /** A checkpoint (or the head) names a hash the chain does not have at that position. */
  | 'checkpoint-mismatch';

export interface VerifyFinding {
  readonly kind: VerifyFindingKind;
  /** First position concerned. */
  readonly seq: number;
  /** Last position of a range (removed, renumbered), when more than one. */
  readonly endSeq?: number;
  /** The other position involved (the record's original position when reordered). */
  readonly otherSeq?: number;
  /** Whether the finding is about a checkpoint or the head rather than a record. */
  readonly subject?: 'record' | 'checkpoint' | 'head';
  /** One line a person can act on, naming the position(s). */
  readonly message: string;
}

export interface VerifyReport {
  /** True only when no finding was made. */
  readonly ok: boolean;
  /** Records read and checked. */
  readonly records: number;
  /** First and last positions checked (0 when the log is empty). */
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Checkpoints checked against the chain. */
  readonly checkpoints: number;
  /** `verified`: every checkpoint and the head were signature-checked; `unchecked`: no public key given. */
  readonly signatures: 'verified' | 'unchecked';
  /** The chain head as stored, which verification ended at. */
  readonly head: { readonly seq: number; readonly hash: string; readonly signed: boolean };
  /** Prune anchor the chain starts from, when records were pruned. */
  readonly anchor: { readonly seq: number; readonly hash: string } | undefined;
  /** Findings in position order (at most 1000; `moreFindings` counts the rest). */
  readonly findings: readonly VerifyFinding[];
  readonly moreFindings: number;
  /** One line: `ok: …` or `FAILED: …`. */
  readonly summary: string;
}

export interface PruneResult {
  /** Records deleted. */
  readonly removed: number;
  /** The last pruned position (the anchor), when something was pruned. */
  readonly throughSeq: number | undefined;
  /** The signed checkpoint at `throughSeq` that verification starts from. */
  readonly checkpoint: Checkpoint | undefined;
  /** The `checkpoint.prune` event that records the pruning. */
  readonly record: AuditRecord | undefined;
}

export interface AuditStoreStats {
  /** Records appended by this store instance. */
  readonly appended: number;
  /** Transactions that extended the chain (group commits). */
  readonly commits: number;
  /** Batches that failed (their appends rejected with AUDIT_UNAVAILABLE). */
  readonly failedCommits: number;
  /** Appends waiting for a commit right now. */
  readonly pending: number;
}

/**
 * The tamper-evident audit log. Each record carries the SHA-256 of its canonical form, which
 * includes the previous record's hash; signed checkpoints and a signed head pin the chain.
 * One implementation over a `StoreDb`, SQLite or PostgreSQL; several stores (several gateway
 * processes) may append to one PostgreSQL database.
 */
export interface AuditStore extends AuditSink {
  /**
   * Appends one event. Concurrent appends are committed together (group commit); the promise
   * resolves once the transaction holding the record has committed, with the record's position
   * and hashes. Rejects with `AUDIT_UNAVAILABLE` when the store cannot write: nothing of the
   * batch is in the chain then, and the caller must refuse the command.
   */
  append(e: AuditEventInput): Promise<AuditRecord>;
  /** Records matching `q` in `seq` order, at most `q.limit` (default 10 000). */
  query(q: AuditQuery): Promise<AuditRecord[]>;
  /**
   * Walks the whole chain in pages and reports every altered, removed, inserted or reordered
   * record, broken link and checkpoint problem by position. Signatures are checked with
   * `publicKey`, else with the public half of the store's signing key, else not at all.
   */
  verify(opts?: { publicKey?: KeyObject; pageSize?: number }): Promise<VerifyReport>;
  /** Writes a checkpoint at the current head unless one is already there; undefined for an empty log. */
  checkpoint(): Promise<Checkpoint | undefined>;
  /**
   * Retention: deletes the oldest records, up to (not including) the first record with
   * `at >= before`. First writes a signed checkpoint at the last pruned position and a
   * `checkpoint.prune` event, so that `verify` starts from that anchor and still passes.
   */
  prune(before: number): Promise<PruneResult>;
  /** Checkpoints written so far, in `seq` order (paged like `query`). */
  checkpoints(q?: { afterSeq?: number; limit?: number }): Promise<Checkpoint[]>;
  /** Counters for metrics. */
  stats(): AuditStoreStats;
  /** Commits what is pending and stops timers; later appends reject. Does not close the `StoreDb`. */
  close(): Promise<void>;
}
