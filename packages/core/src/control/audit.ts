import type { Identity } from './identity';

/**
 * The audit sink adapters write to. `append` resolves only when the record is durable; when the
 * store cannot write it rejects with `AUDIT_UNAVAILABLE`, and the adapter must refuse the command
 * (fail closed). Never put raw sensitive values in an event: command text and parameters are
 * masked before they get here.
 */

export type AuditEventType =
  | 'session.start'
  | 'session.end'
  | 'auth.success'
  | 'auth.failure'
  | 'command'
  | 'command.result'
  | 'approval.request'
  | 'approval.decision'
  | 'policy.reload'
  | 'recording'
  | 'checkpoint.prune';

export interface AuditEventInput {
  readonly type: AuditEventType;
  /** Epoch milliseconds; the store fills in the current time when absent. */
  readonly at?: number;
  readonly sessionId?: string;
  readonly identity?: Identity;
  readonly resource?: string;
  /** Action class (`read`, `exec`, …). */
  readonly action?: string;
  /** `allow`, `deny`, `require-approval`, `approved`, `denied`, `expired`, `cancelled`. */
  readonly decision?: string;
  readonly approvalId?: string;
  /** Event-specific fields (masked text, parameters, rows, bytes, entity counts, …); JSON only. */
  readonly data?: Readonly<Record<string, unknown>>;
}

export interface AuditRecord extends AuditEventInput {
  /** Position in the log, from 1, without gaps. */
  readonly seq: number;
  readonly at: number;
  /** Hex SHA-256 of the previous record (64 zeros for the first). */
  readonly prevHash: string;
  /** Hex SHA-256 of this record's canonical form, which includes `prevHash`. */
  readonly hash: string;
}

export interface AppendOptions {
  /**
   * The record may wait (briefly, bounded by the store) to share a later group commit instead
   * of forcing one now. For records nothing is waiting on, such as a statement's result; a
   * write-ahead record is never lazy. It still resolves only once durable.
   */
  readonly lazy?: boolean;
}

export interface AuditSink {
  append(event: AuditEventInput, options?: AppendOptions): Promise<AuditRecord>;
}
