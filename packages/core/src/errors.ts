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
