import { type Profile, SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Identity } from '@tollgate/core';
import { authFailed, configInvalid, show } from './auth-error';
import type { GatewayTokens } from './gateway-tokens';

/** How the gateway accepts SAML 2.0 responses posted to its assertion consumer service. */
export interface SamlExchangeConfig {
  /** The IdP's signing certificate(s), PEM or bare base64; several during a rollover. */
  idpCert: string | string[];
  /** The gateway's SP entity id; the assertion's AudienceRestriction must name it. */
  audience: string;
  /** The gateway's ACS URL; the bearer SubjectConfirmationData `Recipient` must equal it. */
  recipient: string;
  /** Expected `<Issuer>` of the assertion (the IdP entity id); any issuer when absent. */
  idpIssuer?: string;
  /** Attribute holding the groups (default `groups`). */
  groupsAttribute?: string;
  /** Clock skew allowed on NotBefore/NotOnOrAfter (default 30 s). */
  clockSkewMs?: number;
}

export interface SamlExchangeResult {
  /** The gateway token (EdDSA JWT) the agent presents from now on. */
  token: string;
  identity: Identity;
  /** Epoch milliseconds. */
  expiresAt: number;
}

const MAX_RESPONSE_BASE64 = 256 * 1024;
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const MAX_REPLAY_ENTRIES = 100_000;

interface XmlNode {
  $?: Record<string, string>;
  _?: string;
  [child: string]: unknown;
}

/**
 * Exchanges a signed SAML 2.0 response (IdP-initiated or not: `InResponseTo` is not required)
 * for a short-lived gateway token.
 *
 * Checks, on the signed content only: the signature of the response or of the assertion against
 * the configured IdP certificate(s) (`@node-saml/node-saml` with xml-crypto; one assertion only,
 * enveloped signature only), the assertion issuer, the audience, the validity window of the
 * Conditions and of the bearer SubjectConfirmationData with `clockSkewMs` of skew, and that the
 * confirmation's `Recipient` (and the response's `Destination`, when present) is the gateway's
 * ACS URL. Each assertion ID is accepted once while it is valid (replay cache, per process).
 */
export class SamlExchange {
  readonly #saml: SAML;
  readonly #cfg: Readonly<SamlExchangeConfig>;
  readonly #tokens: GatewayTokens;
  readonly #skewMs: number;
  readonly #seen = new Map<string, number>();

  constructor(cfg: SamlExchangeConfig, tokens: GatewayTokens) {
    const certs = typeof cfg.idpCert === 'string' ? [cfg.idpCert] : cfg.idpCert;
    if (
      !Array.isArray(certs) ||
      certs.length === 0 ||
      certs.some((c) => typeof c !== 'string' || !c.trim())
    ) {
      throw configInvalid('identity.saml.idpCert: at least one IdP certificate is needed');
    }
    if (!cfg.audience) throw configInvalid('identity.saml.audience: the gateway SP entity id is needed');
    if (!cfg.recipient) throw configInvalid('identity.saml.recipient: the gateway ACS URL is needed');
    this.#skewMs = cfg.clockSkewMs ?? 30_000;
    this.#cfg = { ...cfg };
    this.#tokens = tokens;
    this.#saml = new SAML({
      idpCert: certs,
      issuer: cfg.audience,
      audience: cfg.audience,
      callbackUrl: cfg.recipient,
      acceptedClockSkewMs: this.#skewMs,
      wantAssertionsSigned: false,
      wantAuthnResponseSigned: false,
      validateInResponseTo: ValidateInResponseTo.never,
    });
  }

  /** Validates a base64 `SAMLResponse` form value and issues a gateway token for its subject. */
  async exchange(samlResponseBase64: string): Promise<SamlExchangeResult> {
    const identity = await this.validate(samlResponseBase64);
    const { token, expiresAt } = await this.#tokens.issue(identity);
    return { token, identity, expiresAt };
  }

  /** Validates a response and returns the identity it asserts, without issuing a token. */
  async validate(samlResponseBase64: string): Promise<Identity> {
    const raw = decodeResponse(samlResponseBase64);
    let profile: Profile | null;
    try {
      ({ profile } = await this.#saml.validatePostResponseAsync({ SAMLResponse: samlResponseBase64 }));
    } catch (err) {
      throw samlError(err, this.#cfg);
    }
    if (!profile) throw authFailed('SAML response carries no assertion');
    this.#checkDestination(raw);
    const assertion = (profile.getAssertion?.() as { Assertion?: XmlNode } | undefined)?.Assertion;
    if (!assertion) throw authFailed('SAML response carries no assertion');
    if (this.#cfg.idpIssuer !== undefined && profile.issuer !== this.#cfg.idpIssuer) {
      throw authFailed(
        `SAML issuer ${show(profile.issuer)} is not trusted (expected ${show(this.#cfg.idpIssuer)})`,
      );
    }
    const confirmation = this.#bearerConfirmation(assertion);
    if (typeof profile.nameID !== 'string' || profile.nameID === '') {
      throw authFailed('SAML assertion has no NameID');
    }
    this.#consume(assertion.$?.ID, confirmation.notOnOrAfter);
    const sessionEnd = sessionNotOnOrAfter(assertion);
    return {
      subject: profile.nameID,
      kind: 'saml',
      issuer: profile.issuer ?? this.#cfg.idpIssuer ?? 'unknown',
      groups: groupsOf(profile, this.#cfg.groupsAttribute ?? 'groups'),
      ...(sessionEnd === undefined ? {} : { expiresAt: sessionEnd }),
    };
  }

  #checkDestination(xml: string): void {
    // the response's own Destination, when present, must be our ACS URL too
    const m = /<(?:[\w-]+:)?Response\b[^>]*?\sDestination\s*=\s*(["'])(.*?)\1/.exec(xml);
    const destination = m ? unescapeXml(m[2] ?? '') : undefined;
    if (destination !== undefined && destination !== this.#cfg.recipient) {
      throw authFailed(
        `SAML destination mismatch: the response is for ${show(destination)}, expected ${show(this.#cfg.recipient)}`,
      );
    }
  }

  /** The bearer SubjectConfirmationData addressed to us and valid now. */
  #bearerConfirmation(assertion: XmlNode): { notOnOrAfter: number } {
    const subject = first(assertion.Subject);
    const confirmations = (subject?.SubjectConfirmation as XmlNode[] | undefined) ?? [];
    const now = Date.now();
    let seen: string | undefined;
    let expired: string | undefined;
    for (const c of confirmations) {
      if (c.$?.Method !== BEARER) continue;
      const data = first(c.SubjectConfirmationData)?.$ ?? {};
      seen = data.Recipient;
      if (data.Recipient !== this.#cfg.recipient) continue;
      const notOnOrAfter = data.NotOnOrAfter ? Date.parse(data.NotOnOrAfter) : Number.NaN;
      if (!Number.isFinite(notOnOrAfter)) continue;
      if (now - this.#skewMs >= notOnOrAfter) {
        expired = data.NotOnOrAfter;
        continue;
      }
      const notBefore = data.NotBefore ? Date.parse(data.NotBefore) : Number.NEGATIVE_INFINITY;
      if (now + this.#skewMs < notBefore) continue;
      return { notOnOrAfter };
    }
    if (expired) throw authFailed(`SAML assertion expired at ${expired}`);
    if (seen !== undefined) {
      throw authFailed(
        `SAML recipient mismatch: the assertion is for ${show(seen)}, expected ${show(this.#cfg.recipient)}`,
      );
    }
    throw authFailed('SAML assertion has no bearer SubjectConfirmation with a Recipient and NotOnOrAfter');
  }

  #consume(id: string | undefined, until: number): void {
    if (!id) throw authFailed('SAML assertion has no ID');
    const now = Date.now();
    if ((this.#seen.get(id) ?? 0) > now) throw authFailed(`SAML assertion ${show(id)} was already used`);
    if (this.#seen.size >= MAX_REPLAY_ENTRIES) {
      for (const [k, t] of this.#seen) if (t <= now) this.#seen.delete(k);
      if (this.#seen.size >= MAX_REPLAY_ENTRIES)
        throw authFailed('too many SAML assertions in flight; retry later');
    }
    this.#seen.set(id, until + this.#skewMs);
  }
}

function decodeResponse(b64: string): string {
  if (typeof b64 !== 'string' || b64.length === 0) throw authFailed('malformed SAML response: empty');
  if (b64.length > MAX_RESPONSE_BASE64) {
    throw authFailed(`malformed SAML response: larger than ${MAX_RESPONSE_BASE64} bytes of base64`);
  }
  if (!/^[A-Za-z0-9+/=\s]+$/.test(b64)) throw authFailed('malformed SAML response: not base64');
  const xml = Buffer.from(b64, 'base64').toString('utf8');
  if (!xml.trimStart().startsWith('<')) throw authFailed('malformed SAML response: not XML');
  return xml;
}

function samlError(err: unknown, cfg: SamlExchangeConfig): Error {
  const msg = (err as Error)?.message ?? String(err);
  if (/signature/i.test(msg)) {
    return authFailed(
      'SAML signature verification failed: not signed by the configured IdP certificate, or altered after signing',
    );
  }
  if (/audience mismatch/i.test(msg)) {
    return authFailed(`SAML audience mismatch: expected ${show(cfg.audience)}`);
  }
  if (/no AudienceRestriction/i.test(msg)) return authFailed('SAML assertion has no AudienceRestriction');
  if (/expired/i.test(msg)) return authFailed('SAML assertion expired (Conditions NotOnOrAfter has passed)');
  if (/not yet valid/i.test(msg)) return authFailed('SAML assertion is not yet valid (Conditions NotBefore)');
  if (/Missing SAML assertion/i.test(msg)) return authFailed('SAML response carries no assertion');
  if (err && (err as Error).name === 'SamlStatusError') return authFailed(`SAML IdP answered: ${msg}`);
  return authFailed(`malformed SAML response: ${msg.split('\n')[0]?.slice(0, 200)}`);
}

function first(v: unknown): XmlNode | undefined {
  return Array.isArray(v) ? (v[0] as XmlNode | undefined) : undefined;
}

function groupsOf(profile: Profile, attribute: string): string[] {
  const attrs = profile.attributes as Record<string, unknown> | undefined;
  const v = attrs?.[attribute];
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.filter((g): g is string => typeof g === 'string' && g !== '');
}

function sessionNotOnOrAfter(assertion: XmlNode): number | undefined {
  const at = first(assertion.AuthnStatement)?.$?.SessionNotOnOrAfter;
  const ms = at ? Date.parse(at) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
