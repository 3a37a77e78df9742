import { randomBytes } from 'node:crypto';
import type { TollgateError } from '@tollgate/core';
import { errorResponse } from '../wire/index';

/**
 * Refusing a statement in place. The gateway does not answer a refused statement itself:
 * it sends the target a statement that fails at parse analysis, naming a function that cannot
 * exist (`__tollgate_refused_<nonce>()`), and replaces the target's ErrorResponse with its own.
 * The target then does exactly what PostgreSQL does for a failing statement — in the simple
 * protocol the rest of the query string is skipped; in the extended protocol the error comes
 * at Parse and every message up to Sync is skipped; an open transaction becomes failed — and
 * the refusal reaches the client in order with the target's other responses.
 */
export const REFUSAL_MARKER = '__tollgate_refused_';

export class Refusals {
  readonly #pending = new Map<string, Buffer>();

  /** The statement to send instead of a refused one; remembers the error to answer with. */
  statement(err: TollgateError): string {
    const nonce = randomBytes(8).toString('hex');
    this.#pending.set(nonce, errorResponse(err));
    return `SELECT ${REFUSAL_MARKER}${nonce}()`;
  }

  /**
   * For an ErrorResponse from the target: the gateway's own ErrorResponse when it answers a
   * refusal statement, else `undefined`.
   */
  replace(msg: Buffer): Buffer | undefined {
    if (this.#pending.size === 0) return undefined;
    const at = msg.indexOf(REFUSAL_MARKER);
    if (at < 0) return undefined;
    const nonce = msg
      .subarray(at + REFUSAL_MARKER.length, at + REFUSAL_MARKER.length + 16)
      .toString('latin1');
    const ours = this.#pending.get(nonce);
    if (ours) this.#pending.delete(nonce);
    return ours;
  }
}
