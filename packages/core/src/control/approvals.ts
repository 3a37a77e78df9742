import type { Identity } from './identity';
import type { ApprovalRequirement } from './policy';

/**
 * Just-in-time approvals. An adapter that gets `require-approval` creates a request and waits on
 * it; the data path is woken the moment a reviewer decides (no polling). An approval is bound to
 * the command fingerprint and session it was made for.
 */

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';

export interface ApprovalRequestInput {
  readonly requester: Identity;
  readonly resource: string;
  readonly sessionId: string;
  readonly action: string;
  /** Masked command text, as shown to reviewers. */
  readonly command: string;
  /** Normalised fingerprint of the command; the approval only releases this command. */
  readonly fingerprint: string;
  readonly requirement: ApprovalRequirement;
  /** Sequence number of the write-ahead audit record of the held command. */
  readonly auditSeq?: number;
}

export interface ApprovalVote {
  readonly reviewer: string;
  readonly verdict: 'approve' | 'deny';
  readonly reason: string | undefined;
  /** Epoch milliseconds. */
  readonly at: number;
}

export interface ApprovalRequest extends ApprovalRequestInput {
  readonly id: string;
  readonly status: ApprovalStatus;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly votes: readonly ApprovalVote[];
  /** Why it ended when cancelled (e.g. `client disconnected`). */
  readonly endReason: string | undefined;
}

export interface ApprovalGate {
  /** Records a durable pending request. */
  request(input: ApprovalRequestInput): Promise<ApprovalRequest>;
  /**
   * Resolves with the request once it leaves `pending` (approved, denied, expired). Aborting the
   * signal cancels the request (`cancelled`, with the abort reason) and resolves with it.
   */
  wait(id: string, opts?: { signal?: AbortSignal }): Promise<ApprovalRequest>;
  /**
   * True only when request `id` is approved for exactly this session and fingerprint; adapters
   * check this before releasing a held command.
   */
  releases(id: string, sessionId: string, fingerprint: string): Promise<boolean>;
}
