import { createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import type { Identity, IdentityKind } from '@tollgate/core';
import { authFailed, configInvalid, fromJose, show } from './auth-error';
import { type JWTPayload, jose } from './jose';
import { checkAlgorithm, decodeUnverified, groupsFrom } from './jwt-shape';

export interface GatewayTokensOptions {
  /** Ed25519 private key that signs gateway tokens (every gateway replica holds the same one). */
  privateKey: KeyObject;
  /** Lifetime of an issued token (default 900 s, at most 24 h). */
  ttlSeconds?: number;
  /** `iss` and `aud` of gateway tokens (default `tollgate`). */
  issuer?: string;
  /** Clock in epoch milliseconds (default `Date.now`). */
  now?: () => number;
}

const KINDS: readonly IdentityKind[] = ['oidc', 'saml', 'service-account'];
const CLOCK_TOLERANCE_SEC = 5;

/**
 * Short-lived tokens the gateway issues itself: EdDSA (Ed25519) JWTs, e.g. in exchange for a
 * SAML assertion. The token carries the identity it was issued for: `sub`, `groups`, the original
 * identity kind (`tg_kind`) and issuer (`tg_idp`, the SAML IdP entity id). It never outlives the
 * identity's own `expiresAt`. Verification accepts only EdDSA with this key, this `iss`/`aud`.
 */
export class GatewayTokens {
  readonly issuer: string;
  readonly ttlSeconds: number;
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #now: () => number;
  #kid: Promise<string> | undefined;

  constructor(opts: GatewayTokensOptions) {
    const key = opts.privateKey;
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
      throw configInvalid('identity.gatewayTokens.signingKey: must be an Ed25519 private key');
    }
    const ttl = opts.ttlSeconds ?? 900;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400) {
      throw configInvalid('identity.gatewayTokens.ttlSeconds: must be a whole number from 1 to 86400');
    }
    this.issuer = opts.issuer ?? 'tollgate';
    this.ttlSeconds = ttl;
    this.#privateKey = key;
    this.#publicKey = createPublicKey(key);
    this.#now = opts.now ?? Date.now;
  }

  /** Key id: the RFC 7638 thumbprint of the public key. */
  keyId(): Promise<string> {
    this.#kid ??= jose.calculateJwkThumbprint(this.#publicKey.export({ format: 'jwk' }) as never);
    return this.#kid;
  }

  /** Issues a token for `identity`; `expiresAt` is epoch milliseconds. */
  async issue(identity: Identity): Promise<{ token: string; expiresAt: number }> {
    const nowSec = Math.floor(this.#now() / 1000);
    let exp = nowSec + this.ttlSeconds;
    if (identity.expiresAt !== undefined) exp = Math.min(exp, Math.floor(identity.expiresAt / 1000));
    if (exp <= nowSec)
      throw authFailed(
        `cannot issue a gateway token: the identity expired at ${new Date(identity.expiresAt ?? 0).toISOString()}`,
      );
    const token = await new jose.SignJWT({
      groups: [...identity.groups],
      tg_kind: identity.kind,
      tg_idp: identity.issuer,
    })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT', kid: await this.keyId() })
      .setIssuer(this.issuer)
      .setAudience(this.issuer)
      .setSubject(identity.subject)
      .setIssuedAt(nowSec)
      .setExpirationTime(exp)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(this.#privateKey);
    return { token, expiresAt: exp * 1000 };
  }

  /** Verifies a gateway token; rejects with a specific `AUTH_FAILED`. */
  async verify(token: string): Promise<Identity> {
    const { header } = decodeUnverified(token);
    checkAlgorithm(header, ['EdDSA']);
    if (header.kid !== undefined && header.kid !== (await this.keyId())) {
      throw authFailed(`no key with kid ${show(header.kid)} signs gateway tokens here`);
    }
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jose.jwtVerify(token, this.#publicKey, {
        issuer: this.issuer,
        audience: this.issuer,
        algorithms: ['EdDSA'],
        clockTolerance: CLOCK_TOLERANCE_SEC,
        currentDate: new Date(this.#now()),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      throw fromJose(err, { issuer: this.issuer, audience: this.issuer });
    }
    const kind = claims.tg_kind as IdentityKind;
    if (!KINDS.includes(kind) || typeof claims.tg_idp !== 'string' || typeof claims.sub !== 'string') {
      throw authFailed('malformed gateway token: identity claims missing');
    }
    return {
      subject: claims.sub,
      kind,
      issuer: claims.tg_idp,
      groups: groupsFrom(claims.groups, 'groups'),
      expiresAt: (claims.exp as number) * 1000,
    };
  }
}
