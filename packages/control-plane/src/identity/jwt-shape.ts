import { authFailed, show } from './auth-error';
import { type JWTPayload, jose, type ProtectedHeaderParameters } from './jose';

/** Longest token accepted; anything longer is refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Asymmetric JWS algorithms a verifier may allow. HMAC and `none` are never among them. */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

export interface UnverifiedJwt {
  readonly header: ProtectedHeaderParameters;
  readonly payload: JWTPayload;
}

/** True when `token` has the shape of a compact JWS (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

/**
 * Decodes header and claims WITHOUT verifying anything; used only to choose a verifier and to
 * fail fast with a clear message. Never trust what it returns.
 */
export function decodeUnverified(token: string): UnverifiedJwt {
  if (token.length > MAX_TOKEN_LENGTH) {
    throw authFailed(`malformed token: longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  const parts = token.split('.');
  if (parts.length === 5) throw authFailed('malformed token: encrypted tokens (JWE) are not supported');
  if (parts.length !== 3 || !looksLikeJwt(token)) {
    throw authFailed('malformed token: not a JWT (expected three base64url parts)');
  }
  let header: ProtectedHeaderParameters;
  let payload: JWTPayload;
  try {
    header = jose.decodeProtectedHeader(token);
  } catch {
    throw authFailed('malformed token: the header is not valid base64url JSON');
  }
  try {
    payload = jose.decodeJwt(token);
  } catch {
    throw authFailed('malformed token: the claims are not a valid base64url JSON object');
  }
  return { header, payload };
}

/** Refuses a header algorithm outside `allowed` (which never holds `none` or HS*). */
export function checkAlgorithm(header: ProtectedHeaderParameters, allowed: readonly string[]): string {
  const alg = header.alg;
  if (typeof alg !== 'string') throw authFailed('malformed token: the header has no "alg"');
  if (!allowed.includes(alg)) {
    throw authFailed(`algorithm ${show(alg).slice(1, -1)} not allowed (allowed: ${allowed.join(', ')})`);
  }
  return alg;
}

/** Reads a claim by dotted path (`realm_access.roles`); a literal key with dots wins. */
export function claimAt(payload: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let cur: unknown = payload;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Groups from a claim: a list of strings, or one string; absent means none. */
export function groupsFrom(value: unknown, claim: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((g) => typeof g === 'string')) return [...value];
  throw authFailed(`token claim "${claim}" is not a list of group names`);
}
