import type { Authenticator, Identity, PresentedPublicKey } from '@tollgate/core';
import { API_KEY_PREFIX } from './api-key';
import { authFailed, configInvalid, show } from './auth-error';
import type { GatewayTokens } from './gateway-tokens';
import { decodeUnverified } from './jwt-shape';
import type { OidcVerifier } from './oidc';
import type { ServiceAccounts } from './service-accounts';

export interface TokenAuthenticatorOptions {
  /** One verifier per trusted OIDC issuer. */
  oidc?: OidcVerifier[];
  /** The gateway's own tokens (from the SAML exchange). */
  gatewayTokens?: GatewayTokens;
  serviceAccounts?: ServiceAccounts;
}

/**
 * The `Authenticator` adapters use. It picks the verifier by the token's shape:
 *
 * - `tgk_…` → service-account API key;
 * - a JWT whose unverified `iss` is the gateway's issuer → `GatewayTokens`;
 * - a JWT whose unverified `iss` is a configured OIDC issuer → that issuer's `OidcVerifier`;
 * - anything else → `AUTH_FAILED` "token issuer … is not trusted" (or "malformed token").
 *
 * The unverified `iss` only chooses the verifier; the chosen verifier checks everything again.
 * SSH public keys resolve through the service accounts' registered keys.
 */
export class TokenAuthenticator implements Authenticator {
  readonly #oidc: ReadonlyMap<string, OidcVerifier>;
  readonly #gateway: GatewayTokens | undefined;
  readonly #accounts: ServiceAccounts | undefined;

  constructor(o: TokenAuthenticatorOptions) {
    const byIssuer = new Map<string, OidcVerifier>();
    for (const v of o.oidc ?? []) {
      if (byIssuer.has(v.issuer)) throw configInvalid(`OIDC issuer ${show(v.issuer)} is configured twice`);
      if (o.gatewayTokens && v.issuer === o.gatewayTokens.issuer) {
        throw configInvalid(`OIDC issuer ${show(v.issuer)} clashes with the gateway token issuer`);
      }
      byIssuer.set(v.issuer, v);
    }
    this.#oidc = byIssuer;
    this.#gateway = o.gatewayTokens;
    this.#accounts = o.serviceAccounts;
  }

  async authenticateToken(token: string): Promise<Identity> {
    if (typeof token !== 'string' || token.trim() === '') throw authFailed('no token presented');
    if (token.startsWith(API_KEY_PREFIX)) {
      if (!this.#accounts) throw authFailed('service-account API keys are not accepted here');
      return this.#accounts.verify(token);
    }
    const { payload } = decodeUnverified(token);
    const iss = payload.iss;
    if (this.#gateway && iss === this.#gateway.issuer) return this.#gateway.verify(token);
    const verifier = typeof iss === 'string' ? this.#oidc.get(iss) : undefined;
    if (verifier) return verifier.verify(token);
    if (iss === undefined) throw authFailed('token has no issuer ("iss" claim)');
    throw authFailed(`token issuer ${show(iss)} is not trusted`);
  }

  async authenticatePublicKey(key: PresentedPublicKey): Promise<Identity | undefined> {
    return this.#accounts?.findByPublicKey(key);
  }
}
