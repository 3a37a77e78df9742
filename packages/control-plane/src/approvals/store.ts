import type { ApprovalStatus, Identity } from '@tollgate/core';
import type { ApprovalRow, Step, StoredVote } from './model';

export interface ListQuery {
  readonly status: ApprovalStatus | undefined;
  /** Only requests this identity may act on (reviewer group, not the requester, not voted yet). */
  readonly reviewer: Identity | undefined;
  readonly limit: number;
}

/**
 * Durable approval state on one database kind. Every change to an existing request goes through
 * `locked`, which holds the request exclusively (against other processes and gateways too) while
 * the caller validates and audits, then commits the change atomically.
 */
export interface ApprovalStore {
  init(): Promise<void>;
  /**
   * Stores a new pending request. `beforeCommit` (the audit append) runs while the request is
   * still held, so no reviewer can act on it before it is audited; when it throws, the request
   * is removed and the error propagates.
   */
  create(row: ApprovalRow, beforeCommit: () => Promise<void>): Promise<void>;
  get(id: string): Promise<ApprovalRow | undefined>;
  list(q: ListQuery): Promise<ApprovalRow[]>;
  /** Those of `ids` that exist and are no longer pending. */
  settled(ids: readonly string[]): Promise<string[]>;
  /**
   * Runs `step` with request `id` locked and commits its mutation; rejects with `NOT_FOUND` for an
   * unknown id, and with `step`'s error (nothing committed) when it throws. Returns the row as
   * committed and the error `step` asked to raise after committing.
   */
  locked(id: string, step: (row: ApprovalRow) => Promise<Step>): Promise<{ row: ApprovalRow; error?: Error }>;
  /**
   * Marks an approved request as used by exactly this session and fingerprint; true only the first
   * time (an approval releases one command once).
   */
  release(id: string, sessionId: string, fingerprint: string, at: number): Promise<boolean>;
}

/** A request row as read from either database (PostgreSQL returns BIGINT as text, jsonb parsed). */
export interface DbRequest {
  id: string;
  status: string;
  requester: unknown;
  resource: string;
  session_id: string;
  action: string;
  command: string;
  fingerprint: string;
  reviewers: unknown;
  approvals_needed: number | string;
  timeout_ms: number | string;
  audit_seq: number | string | null;
  created_at: number | string;
  expires_at: number | string;
  decided_at: number | string | null;
  end_reason: string | null;
  released_at: number | string | null;
}

export interface DbVote {
  approval_id: string;
  reviewer: unknown;
  verdict: string;
  reason: string | null;
  at: number | string;
}

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);
const num = (v: number | string): number => Number(v);
const opt = (v: number | string | null): number | undefined => (v === null ? undefined : Number(v));

export function voteFromDb(v: DbVote): StoredVote {
  return {
    reviewer: json(v.reviewer) as Identity,
    verdict: v.verdict === 'deny' ? 'deny' : 'approve',
    reason: v.reason ?? undefined,
    at: num(v.at),
  };
}

export function rowFromDb(r: DbRequest, votes: readonly DbVote[]): ApprovalRow {
  return {
    id: r.id,
    status: r.status as ApprovalStatus,
    requester: json(r.requester) as Identity,
    resource: r.resource,
    sessionId: r.session_id,
    action: r.action,
    command: r.command,
    fingerprint: r.fingerprint,
    requirement: {
      reviewers: json(r.reviewers) as string[],
      approvals: num(r.approvals_needed),
      timeoutMs: num(r.timeout_ms),
    },
    auditSeq: opt(r.audit_seq),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    decidedAt: opt(r.decided_at),
    endReason: r.end_reason ?? undefined,
    releasedAt: opt(r.released_at),
    votes: votes.map(voteFromDb),
  };
}

/** Groups vote rows by request id, keeping their order. */
export function votesById(votes: readonly DbVote[]): Map<string, DbVote[]> {
  const out = new Map<string, DbVote[]>();
  for (const v of votes) {
    const list = out.get(v.approval_id);
    if (list) list.push(v);
    else out.set(v.approval_id, [v]);
  }
  return out;
}

/** Columns of a new request, in insertion order (shared by both stores). */
export function insertValues(row: ApprovalRow): unknown[] {
  return [
    row.id,
    row.status,
    row.requester.subject,
    row.requester.issuer,
    JSON.stringify(row.requester),
    row.resource,
    row.sessionId,
    row.action,
    row.command,
    row.fingerprint,
    JSON.stringify(row.requirement.reviewers),
    row.requirement.approvals,
    row.requirement.timeoutMs,
    row.auditSeq ?? null,
    row.createdAt,
    row.expiresAt,
  ];
}

export const INSERT_COLUMNS =
  'id, status, requester_subject, requester_issuer, requester, resource, session_id, action, command, ' +
  'fingerprint, reviewers, approvals_needed, timeout_ms, audit_seq, created_at, expires_at';
