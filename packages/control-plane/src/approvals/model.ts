import { randomBytes } from 'node:crypto';
import {
  type ApprovalRequest,
  type ApprovalRequestInput,
  type ApprovalRequirement,
  type ApprovalStatus,
  type ApprovalVote,
  Errors,
  type Identity,
  identityRef,
  TollgateError,
} from '@tollgate/core';

/** Limits on what a request may carry; a request outside them is refused, never truncated. */
export const LIMITS = {
  commandBytes: 1024 * 1024,
  reasonChars: 2000,
  reviewerGroups: 64,
  approvals: 100,
  /** 30 days. */
  timeoutMs: 30 * 24 * 3600 * 1000,
  listDefault: 100,
  listMax: 1000,
} as const;

/** One reviewer's vote as stored: the full identity, so the audit can say exactly who. */
export interface StoredVote {
  readonly reviewer: Identity;
  readonly verdict: 'approve' | 'deny';
  readonly reason: string | undefined;
  readonly at: number;
}

/** A request as the stores keep it. */
export interface ApprovalRow {
  readonly id: string;
  readonly status: ApprovalStatus;
  readonly requester: Identity;
  readonly resource: string;
  readonly sessionId: string;
  readonly action: string;
  readonly command: string;
  readonly fingerprint: string;
  readonly requirement: ApprovalRequirement;
  readonly auditSeq: number | undefined;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly decidedAt: number | undefined;
  readonly endReason: string | undefined;
  readonly releasedAt: number | undefined;
  readonly votes: readonly StoredVote[];
}

/** A change applied atomically to one request under its lock. */
export interface Mutation {
  readonly status?: ApprovalStatus;
  readonly decidedAt?: number;
  readonly endReason?: string;
  readonly vote?: StoredVote;
}

/** What a locked step returns: the change to commit, and an error to throw once it is committed. */
export interface Step {
  readonly mutation?: Mutation;
  readonly error?: TollgateError;
}

/** Unguessable request id: `apr_` + 128 random bits, base64url. */
export function newApprovalId(): string {
  return `apr_${randomBytes(16).toString('base64url')}`;
}

/** Identities are the same principal when subject and issuer both match. */
export function samePrincipal(a: Identity, b: Identity): boolean {
  return a.subject === b.subject && a.issuer === b.issuer;
}

export function isReviewerFor(reviewer: Identity, req: ApprovalRequirement): boolean {
  return reviewer.groups.some((g) => req.reviewers.includes(g));
}

export function apply(row: ApprovalRow, m: Mutation): ApprovalRow {
  return {
    ...row,
    status: m.status ?? row.status,
    decidedAt: m.decidedAt ?? row.decidedAt,
    endReason: m.endReason ?? row.endReason,
    votes: m.vote ? [...row.votes, m.vote] : row.votes,
  };
}

export function approvalCount(votes: readonly StoredVote[]): number {
  return votes.filter((v) => v.verdict === 'approve').length;
}

/** The public shape handed to adapters, the API and the CLI. */
export function toRequest(row: ApprovalRow): ApprovalRequest {
  const votes: ApprovalVote[] = row.votes.map((v) => ({
    reviewer: v.reviewer.subject,
    verdict: v.verdict,
    reason: v.reason,
    at: v.at,
  }));
  return {
    id: row.id,
    status: row.status,
    requester: row.requester,
    resource: row.resource,
    sessionId: row.sessionId,
    action: row.action,
    command: row.command,
    fingerprint: row.fingerprint,
    requirement: row.requirement,
    ...(row.auditSeq === undefined ? {} : { auditSeq: row.auditSeq }),
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    votes,
    endReason: row.endReason,
  };
}

function invalid(message: string, hint?: string): TollgateError {
  return new TollgateError(Errors.APPROVAL_INVALID, message, hint === undefined ? undefined : { hint });
}

function nonEmpty(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw invalid(`approval request: ${field} is required`);
  return value;
}

/** Checks an adapter's input and builds the pending row. */
export function newRow(input: ApprovalRequestInput, now: number): ApprovalRow {
  const req = input.requirement;
  const reviewers = Array.isArray(req?.reviewers) ? req.reviewers : [];
  if (reviewers.length === 0 || reviewers.length > LIMITS.reviewerGroups) {
    throw invalid(`approval request: requirement.reviewers must name 1 to ${LIMITS.reviewerGroups} groups`);
  }
  for (const [i, g] of reviewers.entries()) nonEmpty(g, `requirement.reviewers[${i}]`);
  if (!Number.isInteger(req.approvals) || req.approvals < 1 || req.approvals > LIMITS.approvals) {
    throw invalid(`approval request: requirement.approvals must be an integer from 1 to ${LIMITS.approvals}`);
  }
  if (!Number.isInteger(req.timeoutMs) || req.timeoutMs < 1 || req.timeoutMs > LIMITS.timeoutMs) {
    throw invalid(
      'approval request: requirement.timeoutMs must be a whole number of milliseconds, at most 30 days',
    );
  }
  if (Buffer.byteLength(input.command ?? '', 'utf8') > LIMITS.commandBytes) {
    throw invalid(`approval request: command text is larger than ${LIMITS.commandBytes} bytes`);
  }
  nonEmpty(input.requester?.subject, 'requester.subject');
  return {
    id: newApprovalId(),
    status: 'pending',
    requester: identityRef(input.requester),
    resource: nonEmpty(input.resource, 'resource'),
    sessionId: nonEmpty(input.sessionId, 'sessionId'),
    action: nonEmpty(input.action, 'action'),
    command: input.command ?? '',
    fingerprint: nonEmpty(input.fingerprint, 'fingerprint'),
    requirement: { reviewers: [...reviewers], approvals: req.approvals, timeoutMs: req.timeoutMs },
    auditSeq: input.auditSeq,
    createdAt: now,
    expiresAt: now + req.timeoutMs,
    decidedAt: undefined,
    endReason: undefined,
    releasedAt: undefined,
    votes: [],
  };
}

/** The refusal for acting on a request that has left `pending`; it names the status. */
export function notPending(row: ApprovalRow): TollgateError {
  const why = row.status === 'cancelled' && row.endReason ? ` (${row.endReason})` : '';
  return invalid(
    `approval ${row.id} is no longer pending: ${row.status}${why}`,
    row.status === 'expired' ? 'the agent must run the command again to open a new request' : undefined,
  );
}

/** A reviewer's reason, trimmed; blank counts as none. */
export function cleanReason(reason: string | undefined): string | undefined {
  if (reason === undefined || reason === null) return undefined;
  if (typeof reason !== 'string') throw invalid('reason must be text');
  const r = reason.trim();
  if (r.length > LIMITS.reasonChars) throw invalid(`reason is longer than ${LIMITS.reasonChars} characters`);
  return r.length === 0 ? undefined : r;
}

/**
 * The rules a reviewer's vote must pass, in order: still pending, not the requester, in a
 * reviewer group, has not voted yet. Returns the error to throw, if any.
 */
export function voteRefusal(row: ApprovalRow, reviewer: Identity): TollgateError | undefined {
  if (row.status !== 'pending') return notPending(row);
  if (samePrincipal(reviewer, row.requester)) {
    return invalid(`approval ${row.id}: a requester cannot decide their own request (no self-approval)`);
  }
  if (!isReviewerFor(reviewer, row.requirement)) {
    return new TollgateError(
      Errors.FORBIDDEN,
      `approval ${row.id}: ${reviewer.subject} is not in a reviewer group of this request`,
      { hint: `reviewer groups: ${row.requirement.reviewers.join(', ')}` },
    );
  }
  if (row.votes.some((v) => samePrincipal(v.reviewer, reviewer))) {
    return invalid(`approval ${row.id}: ${reviewer.subject} has already voted on this request`);
  }
  return undefined;
}
