import type { KeyObject } from 'node:crypto';
import type { Identity } from '@tollgate/core';
import { authFailed, configInvalid, fromJose, show } from './auth-error';
import {
  jose as J,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyOptions,
  type ProtectedHeaderParameters,
} from './jose';
import { ASYMMETRIC_ALGORITHMS, checkAlgorithm, claimAt, decodeUnverified, groupsFrom } from './jwt-shape';

/** One trusted OpenID Connect issuer whose JWT access tokens the gateway accepts. */
export interface OidcIssuerConfig {
  /** Exact `iss` value, e.g. `https://login.example.com/realms/ops`. */
  issuer: string;
  /** Accepted `aud` value(s); a token must name at least one. */
  audience: string | string[];
  /** JWKS location; else discovered from `<issuer>/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** Allow-list of JWS algorithms (default RS256, ES256, EdDSA, PS256). HS* and `none` are refused. */
  algorithms?: string[];
  /** Claim holding the groups (default `groups`); a dotted path reaches nested claims. */
  groupsClaim?: string;
  /** Claim holding the subject (default `sub`). */
  subjectClaim?: string;
  /** Skew allowed on `exp`/`nbf`/`iat`, in seconds (default 30). */
  clockToleranceSec?: number;
}

export interface OidcVerifierOptions {
  /** HTTP client for discovery and JWKS (default: global `fetch`). */
  fetch?: typeof fetch;
  /** Least time between two JWKS fetches caused by unknown `kid`s (default 30 s). */
  refetchCooldownMs?: number;
  /** Clock in epoch milliseconds (default `Date.now`); used for claims and the cooldown. */
  now?: () => number;
  /** Timeout of one discovery or JWKS request (default 5 s). */
  httpTimeoutMs?: number;
}

export const DEFAULT_OIDC_ALGORITHMS: readonly string[] = ['RS256', 'ES256', 'EdDSA', 'PS256'];
const MAX_JWKS_BYTES = 512 * 1024;
/** A failed fetch is retried sooner than the refetch cooldown, so an IdP blip does not lock out. */
const FAILED_FETCH_RETRY_MS = 5_000;

const jose = J.errors;

type KeySet = ReturnType<typeof J.createLocalJWKSet>;
type VerifyKey = Awaited<ReturnType<KeySet>> | KeyObject;

/** Checks an issuer config; throws `CONFIG_INVALID` naming the issuer and the problem. */
export function validateOidcConfig(cfg: OidcIssuerConfig): void {
  const where = `identity.oidc (issuer ${show(cfg.issuer)})`;
  checkUrl(cfg.issuer, `${where}: issuer`);
  if (cfg.jwksUri !== undefined) checkUrl(cfg.jwksUri, `${where}: jwksUri`);
  const auds = typeof cfg.audience === 'string' ? [cfg.audience] : cfg.audience;
  if (!Array.isArray(auds) || auds.length === 0 || auds.some((a) => typeof a !== 'string' || a === '')) {
    throw configInvalid(`${where}: audience must be a non-empty string or list of strings`);
  }
  for (const alg of cfg.algorithms ?? []) {
    const problem = algorithmProblem(alg);
    if (problem) throw configInvalid(`${where}: algorithms: ${problem}`);
  }
  if (cfg.algorithms !== undefined && cfg.algorithms.length === 0) {
    throw configInvalid(`${where}: algorithms: the list is empty`);
  }
  const tol = cfg.clockToleranceSec;
  if (tol !== undefined && !(Number.isFinite(tol) && tol >= 0 && tol <= 300)) {
    throw configInvalid(`${where}: clockToleranceSec must be between 0 and 300`);
  }
}

/** Why an algorithm cannot be allowed, or `undefined` when it can. */
export function algorithmProblem(alg: string): string | undefined {
  if (alg.toLowerCase() === 'none') return 'algorithm none is never allowed (unsigned tokens)';
  if (/^HS\d+$/i.test(alg)) {
    return `algorithm ${alg} is not allowed: HMAC would let anyone who has the issuer's public key forge tokens`;
  }
  if (!ASYMMETRIC_ALGORITHMS.includes(alg)) {
    return `unsupported algorithm ${show(alg)} (supported: ${ASYMMETRIC_ALGORITHMS.join(', ')})`;
  }
  return undefined;
}

function checkUrl(value: string, field: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw configInvalid(`${field}: ${show(value)} is not a URL`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw configInvalid(`${field}: must use https (plain http only on a loopback address)`);
  }
}

/**
 * Verifies JWT access tokens from one OpenID Connect issuer against its JWKS.
 *
 * - Only the configured asymmetric algorithms are accepted; `none` and HMAC are refused before
 *   any key is looked at, so a token "signed" with the issuer's public key as an HMAC secret
 *   cannot pass.
 * - `iss`, `aud`, `exp` (required), `nbf` and `iat` are checked with `clockToleranceSec` of skew.
 * - The JWKS is fetched on first use and cached. A token whose `kid` is not in the cache causes
 *   one refetch (key rotation), at most once per `refetchCooldownMs`, so a flood of tokens with
 *   made-up `kid`s costs the IdP one request per cooldown. Concurrent misses share one fetch.
 * - Every failure is an `AUTH_FAILED` `TollgateError` saying specifically why; the token itself
 *   is never in a message.
 */
export class OidcVerifier {
  readonly config: Readonly<OidcIssuerConfig>;
  readonly #algorithms: readonly string[];
  readonly #fetch: typeof fetch;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #verifyOptions: Omit<JWTVerifyOptions, 'currentDate'>;
  #jwksUri: string | undefined;
  #keys: KeySet | undefined;
  #nextFetchAt = Number.NEGATIVE_INFINITY;
  #lastFetchFailed: string | undefined;
  #inflight: Promise<void> | undefined;
  #fetches = 0;

  constructor(cfg: OidcIssuerConfig, opts: OidcVerifierOptions = {}) {
    validateOidcConfig(cfg);
    this.config = { ...cfg };
    this.#algorithms = [...(cfg.algorithms ?? DEFAULT_OIDC_ALGORITHMS)];
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#cooldownMs = opts.refetchCooldownMs ?? 30_000;
    this.#now = opts.now ?? Date.now;
    this.#timeoutMs = opts.httpTimeoutMs ?? 5_000;
    this.#jwksUri = cfg.jwksUri;
    this.#verifyOptions = {
      issuer: cfg.issuer,
      audience: cfg.audience,
      algorithms: [...this.#algorithms],
      clockTolerance: cfg.clockToleranceSec ?? 30,
      requiredClaims: ['exp'],
    };
  }

  get issuer(): string {
    return this.config.issuer;
  }

  /** How many discovery/JWKS fetches this verifier has made (for metrics and tests). */
  get jwksFetches(): number {
    return this.#fetches;
  }

  /** Verifies `token` and resolves to the identity it proves; rejects with `AUTH_FAILED`. */
  async verify(token: string): Promise<Identity> {
    const { header, payload } = decodeUnverified(token);
    checkAlgorithm(header, this.#algorithms);
    if (payload.iss !== this.config.issuer) {
      throw authFailed(`issuer ${show(payload.iss)} is not trusted (expected ${show(this.config.issuer)})`);
    }
    const keys = await this.#keysFor(header);
    const options = { ...this.#verifyOptions, currentDate: new Date(this.#now()) };
    for (let i = 0; ; i++) {
      try {
        const { payload: claims } = await J.jwtVerify(token, keys[i] as VerifyKey, options);
        return this.#identity(claims);
      } catch (err) {
        // without a kid several keys may fit: try each
        if (err instanceof jose.JWSSignatureVerificationFailed && i + 1 < keys.length) continue;
        throw fromJose(err, this.config);
      }
    }
  }

  #identity(claims: JWTPayload): Identity {
    const subjectClaim = this.config.subjectClaim ?? 'sub';
    const subject = claimAt(claims, subjectClaim);
    if (typeof subject !== 'string' || subject === '') {
      throw authFailed(`token has no "${subjectClaim}" claim naming the subject`);
    }
    const groupsClaim = this.config.groupsClaim ?? 'groups';
    return {
      subject,
      kind: 'oidc',
      issuer: this.config.issuer,
      groups: groupsFrom(claimAt(claims, groupsClaim), groupsClaim),
      ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp * 1000 } : {}),
    };
  }

  async #keysFor(header: ProtectedHeaderParameters): Promise<VerifyKey[]> {
    if (!this.#keys) await this.#refresh();
    if (!this.#keys) throw this.#unavailable();
    const found = await this.#match(header);
    if (found.length > 0) return found;
    // unknown kid: the issuer may have rotated its keys; refetch once, rate-limited
    if (await this.#refresh()) {
      const again = await this.#match(header);
      if (again.length > 0) return again;
    }
    const kid = header.kid;
    throw authFailed(
      kid === undefined
        ? `no ${header.alg} key in the issuer's JWKS`
        : `no key with kid ${show(kid)} in the issuer's JWKS`,
      `the JWKS of ${this.config.issuer} is refetched for an unknown kid at most every ${Math.round(this.#cooldownMs / 1000)}s`,
    );
  }

  async #match(header: ProtectedHeaderParameters): Promise<VerifyKey[]> {
    const keys = this.#keys;
    if (!keys) return [];
    try {
      return [await keys(header)];
    } catch (err) {
      if (err instanceof jose.JWKSNoMatchingKey) return [];
      if (err instanceof jose.JWKSMultipleMatchingKeys) {
        const all: VerifyKey[] = [];
        for await (const k of err as unknown as AsyncIterable<VerifyKey>) all.push(k);
        return all;
      }
      throw authFailed(`the issuer's JWKS holds an unusable key: ${(err as Error).message}`);
    }
  }

  /**
   * Fetches the JWKS unless the cooldown forbids it; true when a fetch happened (or was already
   * under way). The first load leaves a refetch allowed at once (a kid published since); after a
   * refetch the next waits `refetchCooldownMs`, after a failed fetch at most 5 s.
   */
  async #refresh(): Promise<boolean> {
    if (this.#inflight) {
      await this.#inflight;
      return true;
    }
    if (this.#now() < this.#nextFetchAt) return false;
    const initial = this.#keys === undefined;
    this.#inflight = this.#load().finally(() => {
      this.#inflight = undefined;
    });
    await this.#inflight;
    const wait = this.#lastFetchFailed
      ? Math.min(this.#cooldownMs, FAILED_FETCH_RETRY_MS)
      : initial
        ? 0
        : this.#cooldownMs;
    this.#nextFetchAt = this.#now() + wait;
    return true;
  }

  async #load(): Promise<void> {
    try {
      const uri = this.#jwksUri ?? (await this.#discover());
      const jwks = (await this.#getJson(uri, 'JWKS')) as JSONWebKeySet;
      if (!Array.isArray(jwks?.keys)) throw new Error('the JWKS has no "keys" list');
      this.#keys = J.createLocalJWKSet(jwks);
      this.#jwksUri = uri;
      this.#lastFetchFailed = undefined;
    } catch (err) {
      this.#lastFetchFailed = (err as Error).message;
      if (this.config.jwksUri === undefined) this.#jwksUri = undefined; // discover again next time
    }
  }

  async #discover(): Promise<string> {
    const url = `${this.config.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const doc = (await this.#getJson(url, 'discovery document')) as { issuer?: unknown; jwks_uri?: unknown };
    if (doc?.issuer !== this.config.issuer) {
      throw new Error(`the discovery document names issuer ${show(doc?.issuer)}`);
    }
    if (typeof doc.jwks_uri !== 'string') throw new Error('the discovery document has no jwks_uri');
    checkUrl(doc.jwks_uri, 'jwks_uri');
    return doc.jwks_uri;
  }

  async #getJson(url: string, what: string): Promise<unknown> {
    this.#fetches++;
    const res = await this.#fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    if (!res.ok) throw new Error(`${what} ${url} answered HTTP ${res.status}`);
    const text = await res.text();
    if (text.length > MAX_JWKS_BYTES)
      throw new Error(`${what} ${url} is larger than ${MAX_JWKS_BYTES} bytes`);
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`${what} ${url} is not JSON`);
    }
  }

  #unavailable(): Error {
    return authFailed(
      `cannot verify tokens of issuer ${show(this.config.issuer)}: its JWKS could not be fetched (${this.#lastFetchFailed ?? 'unknown error'})`,
    );
  }
}
