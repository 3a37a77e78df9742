import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignedXml } from 'xml-crypto';

/** A self-signed IdP signing certificate made by the `openssl` command. */
export interface TestCert {
  readonly certPem: string;
  readonly keyPem: string;
}

export function makeTestCert(dir: string, name: string): TestCert {
  const key = join(dir, `${name}.key.pem`);
  const cert = join(dir, `${name}.cert.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore', timeout: 60_000 },
  );
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

export interface SamlResponseOptions {
  signer: TestCert;
  issuer: string;
  nameId: string;
  audience: string;
  recipient: string;
  /** Response `Destination` (default: `recipient`; `null` leaves it out). */
  destination?: string | null;
  groups?: string[];
  /** Validity window of Conditions and SubjectConfirmationData (default now−1 min … now+5 min). */
  notBefore?: Date;
  notOnOrAfter?: Date;
  sessionNotOnOrAfter?: Date;
  /** What carries the signature (default the assertion). */
  sign?: 'assertion' | 'response';
  /** Applied to the XML after signing (tampering). */
  after?: (xml: string) => string;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const id = () => `_${randomBytes(16).toString('hex')}`;

/** A SAML 2.0 Response as an IdP posts it (base64), signed with xml-crypto (RSA-SHA256, exc-c14n). */
export function samlResponse(o: SamlResponseOptions): string {
  const now = Date.now();
  const issueInstant = new Date(now).toISOString();
  const notBefore = (o.notBefore ?? new Date(now - 60_000)).toISOString();
  const notOnOrAfter = (o.notOnOrAfter ?? new Date(now + 300_000)).toISOString();
  const destination = o.destination === undefined ? o.recipient : o.destination;
  const attrs = (o.groups ?? []).map((g) => `<saml:AttributeValue>${esc(g)}</saml:AttributeValue>`).join('');
  const session = o.sessionNotOnOrAfter
    ? ` SessionNotOnOrAfter="${o.sessionNotOnOrAfter.toISOString()}"`
    : '';
  const assertion =
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id()}" Version="2.0" IssueInstant="${issueInstant}">` +
    `<saml:Issuer>${esc(o.issuer)}</saml:Issuer>` +
    '<saml:Subject>' +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${esc(o.nameId)}</saml:NameID>` +
    '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">' +
    `<saml:SubjectConfirmationData NotOnOrAfter="${notOnOrAfter}" Recipient="${esc(o.recipient)}"/>` +
    '</saml:SubjectConfirmation>' +
    '</saml:Subject>' +
    `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notOnOrAfter}">` +
    `<saml:AudienceRestriction><saml:Audience>${esc(o.audience)}</saml:Audience></saml:AudienceRestriction>` +
    '</saml:Conditions>' +
    `<saml:AuthnStatement AuthnInstant="${issueInstant}" SessionIndex="${id()}"${session}>` +
    '<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>' +
    '</saml:AuthnStatement>' +
    (attrs
      ? `<saml:AttributeStatement><saml:Attribute Name="groups">${attrs}</saml:Attribute></saml:AttributeStatement>`
      : '') +
    '</saml:Assertion>';
  const xml =
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id()}" Version="2.0" IssueInstant="${issueInstant}"${destination === null ? '' : ` Destination="${esc(destination)}"`}>` +
    `<saml:Issuer>${esc(o.issuer)}</saml:Issuer>` +
    '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>' +
    assertion +
    '</samlp:Response>';
  const signed = sign(xml, o.signer, o.sign ?? 'assertion');
  return Buffer.from(o.after ? o.after(signed) : signed, 'utf8').toString('base64');
}

function sign(xml: string, cert: TestCert, what: 'assertion' | 'response'): string {
  const element = what === 'assertion' ? 'Assertion' : 'Response';
  const sig = new SignedXml({
    privateKey: cert.keyPem,
    publicCert: cert.certPem,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: `//*[local-name(.)='${element}']`,
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    transforms: [
      'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
      'http://www.w3.org/2001/10/xml-exc-c14n#',
    ],
  });
  // the signature goes right after the signed element's Issuer, as the schema requires
  sig.computeSignature(xml, {
    location: { reference: `//*[local-name(.)='${element}']/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return sig.getSignedXml();
}
