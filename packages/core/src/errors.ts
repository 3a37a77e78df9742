/**
 * One error registry: every error the gateway can answer with, and how each protocol says it.
 * Adapters map a `TollgateError` to a PostgreSQL ErrorResponse (SQLSTATE), an SSH exit status
 * and stderr line, or an HTTP status with a Kubernetes `Status` object — from this one table.
 */

export type ErrorSource = 'downstream' | 'upstream' | 'internal' | 'config';

export interface ErrorKind {
  code: string;
  source: ErrorSource;
  /** PostgreSQL SQLSTATE. */
  sqlstate: string;
  /** SSH exit status. */
  sshExit: number;
  /** HTTP status. */
  httpStatus: number;
}

function kind(
  code: string,
  source: ErrorSource,
  sqlstate: string,
  sshExit: number,
  httpStatus: number,
): ErrorKind {
  return { code, source, sqlstate, sshExit, httpStatus };
}

export const Errors = {
  CONFIG_INVALID: kind('TG_CONFIG_INVALID', 'config', 'F0000', 78, 500),
  PROTOCOL_VIOLATION: kind('TG_PROTOCOL_VIOLATION', 'downstream', '08P01', 255, 400),
  MESSAGE_TOO_LARGE: kind('TG_MESSAGE_TOO_LARGE', 'downstream', '54000', 255, 413),
  MASKING_FAILED: kind('TG_MASKING_FAILED', 'internal', 'XX000', 255, 500),
  INPUT_UNREADABLE: kind('TG_INPUT_UNREADABLE', 'internal', '58030', 74, 500),
  /** Token or key missing, malformed, expired, forged, revoked or from an untrusted issuer. */
  AUTH_FAILED: kind('TG_AUTH_FAILED', 'downstream', '28P01', 77, 401),
  /** Authenticated, but the caller's role does not allow this (control-plane API, CLI). */
  FORBIDDEN: kind('TG_FORBIDDEN', 'downstream', '42501', 77, 403),
  /** Policy denied the command. */
  ACCESS_DENIED: kind('TG_ACCESS_DENIED', 'downstream', '42501', 77, 403),
  /** A held command's approval was denied by a reviewer. */
  APPROVAL_DENIED: kind('TG_APPROVAL_DENIED', 'downstream', '42501', 77, 403),
  /** A held command's approval request timed out. */
  APPROVAL_EXPIRED: kind('TG_APPROVAL_EXPIRED', 'downstream', '42501', 77, 403),
  /** An approval action that is not allowed (self-approval, already decided, missing reason). */
  APPROVAL_INVALID: kind('TG_APPROVAL_INVALID', 'downstream', '42501', 2, 409),
  NOT_FOUND: kind('TG_NOT_FOUND', 'downstream', '42704', 1, 404),
  /** The audit store cannot write: the command is refused (fail closed). */
  AUDIT_UNAVAILABLE: kind('TG_AUDIT_UNAVAILABLE', 'internal', '58000', 75, 503),
  /** A target credential reference cannot be resolved (the value is never in the message). */
  CREDENTIAL_UNAVAILABLE: kind('TG_CREDENTIAL_UNAVAILABLE', 'config', '08004', 78, 502),
  TARGET_UNAVAILABLE: kind('TG_TARGET_UNAVAILABLE', 'upstream', '08006', 255, 502),
} as const satisfies Record<string, ErrorKind>;

export class TollgateError extends Error {
  readonly kind: ErrorKind;
  readonly hint: string | undefined;

  constructor(kind: ErrorKind, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TollgateError';
    this.kind = kind;
    this.hint = options?.hint;
  }

  get code(): string {
    return this.kind.code;
  }
}
