import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { CredentialRef, YamlSource } from '@tollgate/core';
import type { Node } from 'yaml';
import { configInvalid } from './auth-error';
import { TokenAuthenticator } from './authenticator';
import { GatewayTokens } from './gateway-tokens';
import {
  algorithmProblem,
  type OidcIssuerConfig,
  OidcVerifier,
  type OidcVerifierOptions,
  validateOidcConfig,
} from './oidc';
import { SamlExchange, type SamlExchangeConfig } from './saml';
import type { ServiceAccounts } from './service-accounts';

/** `identity.gatewayTokens`: how the gateway signs the tokens it issues (SAML exchange). */
export interface GatewayTokensConfig {
  /** Ed25519 private key, PEM (PKCS#8), from a file or an environment variable. */
  signingKey: CredentialRef;
  ttlSeconds?: number;
  issuer?: string;
}

/** The `identity:` section of the gateway config. */
export interface IdentityConfig {
  oidc: OidcIssuerConfig[];
  saml: SamlExchangeConfig | undefined;
  gatewayTokens: GatewayTokensConfig | undefined;
}

const OIDC_FIELDS = [
  'issuer',
  'audience',
  'jwksUri',
  'algorithms',
  'groupsClaim',
  'subjectClaim',
  'clockToleranceSec',
] as const;
const SAML_FIELDS = [
  'idpCert',
  'audience',
  'recipient',
  'idpIssuer',
  'groupsAttribute',
  'clockSkewMs',
] as const;

/** The yaml package's node tags (`yaml` is core's dependency, not ours, so no `isScalar`). */
const NODE_TYPE = Symbol.for('yaml.node.type');
const SCALAR = Symbol.for('yaml.scalar');
const SEQ = Symbol.for('yaml.seq');
const nodeType = (node: Node | undefined): unknown =>
  (node as { [NODE_TYPE]?: unknown } | undefined)?.[NODE_TYPE];

function scalar(node: Node | undefined): unknown {
  return nodeType(node) === SCALAR ? (node as { value?: unknown }).value : undefined;
}

function stringOrList(src: YamlSource, node: Node | undefined, field: string): string | string[] {
  return typeof scalar(node) === 'string' ? src.string(node, field) : src.strings(node, field);
}

function credentialRef(src: YamlSource, node: Node | undefined, field: string): CredentialRef {
  const m = src.map(node, field, ['env', 'file']);
  if (m.size !== 1) throw src.error(node, field, 'give exactly one of env or file');
  return m.has('env')
    ? { env: src.string(m.get('env'), `${field}.env`) }
    : { file: src.string(m.get('file'), `${field}.file`) };
}

/**
 * Reads and checks the `identity:` mapping. Errors name the file, line and field; HMAC or `none`
 * algorithms, non-https issuers and missing SAML prerequisites are refused here.
 * SAML certificate files are read now (they are public); the signing key only by
 * `loadSigningKey`.
 */
export function readIdentityConfig(src: YamlSource, node: Node, field = 'identity'): IdentityConfig {
  const m = src.map(node, field, ['oidc', 'saml', 'gatewayTokens']);
  const out: IdentityConfig = { oidc: [], saml: undefined, gatewayTokens: undefined };
  const oidcNode = m.get('oidc');
  if (oidcNode !== undefined) {
    out.oidc = src.list(oidcNode, `${field}.oidc`).map((n, i) => readOidc(src, n, `${field}.oidc[${i}]`));
    const seen = new Set<string>();
    out.oidc.forEach((c, i) => {
      if (seen.has(c.issuer))
        throw src.error(src.list(oidcNode, '')[i], `${field}.oidc[${i}].issuer`, 'issuer listed twice');
      seen.add(c.issuer);
    });
  }
  const gtNode = m.get('gatewayTokens');
  if (gtNode !== undefined) out.gatewayTokens = readGatewayTokens(src, gtNode, `${field}.gatewayTokens`);
  const samlNode = m.get('saml');
  if (samlNode !== undefined) {
    if (!out.gatewayTokens) {
      throw src.error(
        samlNode,
        `${field}.saml`,
        'needs identity.gatewayTokens (the exchange issues gateway tokens)',
      );
    }
    out.saml = readSaml(src, samlNode, `${field}.saml`);
  }
  const gatewayIssuer = out.gatewayTokens?.issuer ?? 'tollgate';
  out.oidc.forEach((c, i) => {
    if (c.issuer === gatewayIssuer) {
      throw src.error(
        oidcNode,
        `${field}.oidc[${i}].issuer`,
        `clashes with the gateway token issuer '${gatewayIssuer}'`,
      );
    }
  });
  return out;
}

function readOidc(src: YamlSource, node: Node, f: string): OidcIssuerConfig {
  const m = src.map(node, f, OIDC_FIELDS);
  const issuerNode = m.get('issuer');
  if (issuerNode === undefined) throw src.error(node, `${f}.issuer`, 'required');
  if (!m.has('audience')) throw src.error(node, `${f}.audience`, 'required');
  const cfg: OidcIssuerConfig = {
    issuer: src.string(issuerNode, `${f}.issuer`),
    audience: stringOrList(src, m.get('audience'), `${f}.audience`),
  };
  if (m.has('jwksUri')) cfg.jwksUri = src.string(m.get('jwksUri'), `${f}.jwksUri`);
  const algNode = m.get('algorithms');
  if (algNode !== undefined) {
    const items = src.list(algNode, `${f}.algorithms`);
    cfg.algorithms = src.strings(algNode, `${f}.algorithms`);
    cfg.algorithms.forEach((a, i) => {
      const problem = algorithmProblem(a);
      if (problem) throw src.error(items[i], `${f}.algorithms[${i}]`, problem);
    });
  }
  if (m.has('groupsClaim')) cfg.groupsClaim = src.string(m.get('groupsClaim'), `${f}.groupsClaim`);
  if (m.has('subjectClaim')) cfg.subjectClaim = src.string(m.get('subjectClaim'), `${f}.subjectClaim`);
  if (m.has('clockToleranceSec')) {
    cfg.clockToleranceSec = src.integer(m.get('clockToleranceSec'), `${f}.clockToleranceSec`, 0, 300);
  }
  try {
    validateOidcConfig(cfg);
  } catch (err) {
    throw src.error(node, f, (err as Error).message.replace(/^identity\.oidc \(issuer [^)]*\): /, ''));
  }
  return cfg;
}

function readGatewayTokens(src: YamlSource, node: Node, f: string): GatewayTokensConfig {
  const m = src.map(node, f, ['signingKey', 'ttlSeconds', 'issuer']);
  if (!m.has('signingKey')) throw src.error(node, `${f}.signingKey`, 'required');
  const cfg: GatewayTokensConfig = { signingKey: credentialRef(src, m.get('signingKey'), `${f}.signingKey`) };
  if (m.has('ttlSeconds')) cfg.ttlSeconds = src.integer(m.get('ttlSeconds'), `${f}.ttlSeconds`, 1, 86_400);
  if (m.has('issuer')) cfg.issuer = src.string(m.get('issuer'), `${f}.issuer`);
  return cfg;
}

function readSaml(src: YamlSource, node: Node, f: string): SamlExchangeConfig {
  const m = src.map(node, f, SAML_FIELDS);
  for (const req of ['idpCert', 'audience', 'recipient'] as const) {
    if (!m.has(req)) throw src.error(node, `${f}.${req}`, 'required');
  }
  const certNode = m.get('idpCert');
  const certNodes = nodeType(certNode) === SEQ ? src.list(certNode, `${f}.idpCert`) : [certNode];
  const idpCert = certNodes.map((n, i) =>
    readCert(src, n, certNodes.length > 1 ? `${f}.idpCert[${i}]` : `${f}.idpCert`),
  );
  const cfg: SamlExchangeConfig = {
    idpCert,
    audience: src.string(m.get('audience'), `${f}.audience`),
    recipient: src.string(m.get('recipient'), `${f}.recipient`),
  };
  if (m.has('idpIssuer')) cfg.idpIssuer = src.string(m.get('idpIssuer'), `${f}.idpIssuer`);
  if (m.has('groupsAttribute'))
    cfg.groupsAttribute = src.string(m.get('groupsAttribute'), `${f}.groupsAttribute`);
  if (m.has('clockSkewMs'))
    cfg.clockSkewMs = src.integer(m.get('clockSkewMs'), `${f}.clockSkewMs`, 0, 600_000);
  return cfg;
}

/** A certificate given inline (PEM or base64) or as `{ file: path }`. */
function readCert(src: YamlSource, node: Node | undefined, f: string): string {
  let text: string;
  if (typeof scalar(node) === 'string') {
    text = src.string(node, f);
  } else {
    const m = src.map(node, f, ['file']);
    const file = src.string(m.get('file'), `${f}.file`);
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw src.error(node, f, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const body = text.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || body.length < 100) {
    throw src.error(node, f, 'not an X.509 certificate (PEM or base64)');
  }
  return text;
}

/** Reads the Ed25519 signing key for gateway tokens. The key never appears in an error. */
export function loadSigningKey(ref: CredentialRef, env: NodeJS.ProcessEnv = process.env): KeyObject {
  const field = 'identity.gatewayTokens.signingKey';
  let pem: string;
  let where: string;
  if ('env' in ref) {
    where = `environment variable ${ref.env}`;
    const v = env[ref.env];
    if (v === undefined || v === '') throw configInvalid(`${field}: ${where} is not set`);
    pem = v.replace(/\\n/g, '\n');
  } else {
    where = ref.file;
    try {
      pem = readFileSync(ref.file, 'utf8');
    } catch (err) {
      throw configInvalid(
        `${field}: cannot read ${ref.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw configInvalid(`${field}: ${where} does not hold a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw configInvalid(`${field}: ${where} holds a ${key.asymmetricKeyType} key; an Ed25519 key is needed`);
  }
  return key;
}

/** Everything identity needs at run time, built from a checked config. */
export interface IdentityRuntime {
  authenticator: TokenAuthenticator;
  oidc: OidcVerifier[];
  gatewayTokens: GatewayTokens | undefined;
  saml: SamlExchange | undefined;
}

export function buildIdentity(
  cfg: IdentityConfig,
  opts: { serviceAccounts?: ServiceAccounts; env?: NodeJS.ProcessEnv; oidc?: OidcVerifierOptions } = {},
): IdentityRuntime {
  const oidc = cfg.oidc.map((c) => new OidcVerifier(c, opts.oidc));
  const gt = cfg.gatewayTokens;
  const gatewayTokens = gt
    ? new GatewayTokens({
        privateKey: loadSigningKey(gt.signingKey, opts.env),
        ...(gt.ttlSeconds === undefined ? {} : { ttlSeconds: gt.ttlSeconds }),
        ...(gt.issuer === undefined ? {} : { issuer: gt.issuer }),
      })
    : undefined;
  const saml = cfg.saml && gatewayTokens ? new SamlExchange(cfg.saml, gatewayTokens) : undefined;
  const authenticator = new TokenAuthenticator({
    oidc,
    ...(gatewayTokens ? { gatewayTokens } : {}),
    ...(opts.serviceAccounts ? { serviceAccounts: opts.serviceAccounts } : {}),
  });
  return { authenticator, oidc, gatewayTokens, saml };
}
