import { Errors, TollgateError } from '@tollgate/core';
import { jose as J } from './jose';

const jose = J.errors;

/** An `AUTH_FAILED` error. Messages never contain the presented token or key. */
export function authFailed(message: string, hint?: string): TollgateError {
  return new TollgateError(Errors.AUTH_FAILED, message, hint === undefined ? undefined : { hint });
}

export function configInvalid(message: string): TollgateError {
  return new TollgateError(Errors.CONFIG_INVALID, message);
}

/**
 * Quotes a value taken from an unverified token (issuer, kid, audience) for an error message:
 * printable ASCII only, at most 120 characters.
 */
export function show(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(clean.length > 120 ? `${clean.slice(0, 117)}...` : clean);
}

export function isoSeconds(epochSeconds: unknown): string {
  return typeof epochSeconds === 'number' && Number.isFinite(epochSeconds)
    ? new Date(epochSeconds * 1000).toISOString()
    : 'an invalid time';
}

export interface ExpectedClaims {
  readonly issuer: string;
  readonly audience: string | readonly string[];
}

/**
 * Turns a `jose` verification error into a specific `AUTH_FAILED`. jose's own messages never
 * contain the token; claim values that come from the token are quoted with `show`.
 */
export function fromJose(err: unknown, expected: ExpectedClaims): TollgateError {
  if (err instanceof TollgateError) return err;
  if (err instanceof jose.JWTExpired) {
    if (err.claim === 'iat')
      return authFailed(`token issued too long ago (iat ${isoSeconds(err.payload.iat)})`);
    return authFailed(`token expired at ${isoSeconds(err.payload.exp)}`);
  }
  if (err instanceof jose.JWTClaimValidationFailed) {
    const p = err.payload;
    if (err.reason === 'missing') return authFailed(`token has no "${err.claim}" claim`);
    switch (err.claim) {
      case 'iss':
        return authFailed(`issuer ${show(p.iss)} is not trusted (expected ${show(expected.issuer)})`);
      case 'aud':
        return authFailed(
          `audience mismatch: token is for ${show(p.aud)}, expected ${show(expected.audience)}`,
        );
      case 'nbf':
        return authFailed(`token not valid before ${isoSeconds(p.nbf)}`);
      case 'iat':
        return authFailed(`token issued in the future (iat ${isoSeconds(p.iat)})`);
      default:
        return authFailed(`token claim "${err.claim}" is invalid: ${err.message}`);
    }
  }
  if (err instanceof jose.JOSEAlgNotAllowed) return authFailed('algorithm not allowed');
  if (err instanceof jose.JWSSignatureVerificationFailed) return authFailed('signature verification failed');
  if (
    err instanceof jose.JWSInvalid ||
    err instanceof jose.JWTInvalid ||
    err instanceof jose.JOSENotSupported
  ) {
    return authFailed(`malformed token: ${err.message}`);
  }
  const e = err as Error;
  return authFailed(`token verification failed: ${e?.message ?? String(err)}`);
}
