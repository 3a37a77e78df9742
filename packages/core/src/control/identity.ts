/**
 * Identity: who is on the other end of a session. Adapters never verify tokens themselves; they
 * hand what the agent presented (PostgreSQL password, SSH password or public key, HTTP bearer) to
 * an `Authenticator` and attach the resolved `Identity` to every audit record of the session.
 */

export type IdentityKind = 'oidc' | 'saml' | 'service-account';

export interface Identity {
  /**
   * Stable subject: the OIDC `sub` (for client-credentials tokens, the client id), the SAML
   * NameID, or the service account's name.
   */
  readonly subject: string;
  readonly kind: IdentityKind;
  /** OIDC issuer, SAML IdP entity id, or `tollgate` for service accounts and gateway tokens. */
  readonly issuer: string;
  /** Groups the identity belongs to (policy subjects match on these). */
  readonly groups: readonly string[];
  /** Epoch milliseconds after which the presented credential stops being valid. */
  readonly expiresAt?: number;
}

/** An SSH public key as the client offered it. */
export interface PresentedPublicKey {
  /** e.g. `ssh-ed25519`. */
  readonly algorithm: string;
  /** The key blob in SSH wire format. */
  readonly data: Buffer;
}

export interface Authenticator {
  /**
   * Verifies a presented token: an OIDC access token (JWT), a gateway token (from the SAML
   * exchange) or a service-account API key. Rejects with a `TollgateError` of kind `AUTH_FAILED`
   * whose message says specifically why (expired, wrong issuer, unknown key, revoked, …) and
   * never contains the token itself.
   */
  authenticateToken(token: string): Promise<Identity>;
  /**
   * Resolves an SSH public key registered to an identity or service account; `undefined` when
   * the key is not registered.
   */
  authenticatePublicKey(key: PresentedPublicKey): Promise<Identity | undefined>;
}

/** The subset of an identity written into audit records. */
export function identityRef(id: Identity): Identity {
  return { subject: id.subject, kind: id.kind, issuer: id.issuer, groups: [...id.groups] };
}
