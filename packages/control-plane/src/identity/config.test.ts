import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TollgateError, YamlSource } from '@tollgate/core';
import type { Node } from 'yaml';
import { buildIdentity, loadSigningKey, readIdentityConfig } from './config';
import { makeTestCert, samlResponse, type TestCert } from './testing/saml';

function read(text: string) {
  const src = new YamlSource('tollgate.yaml', text);
  const top = src.map(src.root, '', ['identity']);
  return readIdentityConfig(src, top.get('identity') as Node);
}

function configError(text: string, message: RegExp): void {
  assert.throws(
    () => read(text),
    (e: unknown) => e instanceof TollgateError && e.code === 'TG_CONFIG_INVALID' && message.test(e.message),
  );
}

describe('identity config', () => {
  let dir: string;
  let cert: TestCert;
  let keyFile: string;
  const ed = generateKeyPairSync('ed25519').privateKey;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-idcfg-'));
    cert = makeTestCert(dir, 'idp');
    writeFileSync(join(dir, 'idp.pem'), cert.certPem);
    keyFile = join(dir, 'gateway-signing.pem');
    writeFileSync(keyFile, ed.export({ type: 'pkcs8', format: 'pem' }) as string);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const full = () => `identity:
  oidc:
    - issuer: https://login.example.com/realms/ops
      audience: [tollgate, urn:tollgate]
      algorithms: [RS256, ES256]
      groupsClaim: realm_access.roles
      clockToleranceSec: 10
    - issuer: http://127.0.0.1:8080
      audience: tollgate
      jwksUri: http://127.0.0.1:8080/keys
  saml:
    idpCert: { file: ${join(dir, 'idp.pem')} }
    audience: urn:tollgate:sp
    recipient: https://gateway.example.com/saml/acs
    idpIssuer: https://idp.example.com
  gatewayTokens:
    signingKey: { file: ${keyFile} }
    ttlSeconds: 600
`;

  it('reads a complete section', () => {
    const c = read(full());
    assert.deepEqual(c.oidc, [
      {
        issuer: 'https://login.example.com/realms/ops',
        audience: ['tollgate', 'urn:tollgate'],
        algorithms: ['RS256', 'ES256'],
        groupsClaim: 'realm_access.roles',
        clockToleranceSec: 10,
      },
      { issuer: 'http://127.0.0.1:8080', audience: 'tollgate', jwksUri: 'http://127.0.0.1:8080/keys' },
    ]);
    assert.deepEqual(c.gatewayTokens, { signingKey: { file: keyFile }, ttlSeconds: 600 });
    assert.equal(c.saml?.audience, 'urn:tollgate:sp');
    assert.deepEqual(c.saml?.idpCert, [cert.certPem]);
  });

  it('builds a working runtime from it', async () => {
    const rt = buildIdentity(read(full()));
    assert.equal(rt.oidc.length, 2);
    assert.equal(rt.gatewayTokens?.ttlSeconds, 600);
    assert.ok(rt.saml);
    const r = await rt.saml.exchange(
      samlResponse({
        signer: cert,
        issuer: 'https://idp.example.com',
        nameId: 'ann',
        audience: 'urn:tollgate:sp',
        recipient: 'https://gateway.example.com/saml/acs',
      }),
    );
    assert.equal((await rt.authenticator.authenticateToken(r.token)).subject, 'ann');
  });

  it('names file, line and field for bad values', () => {
    configError(
      'identity:\n  oidc:\n    - issuer: https://a.example\n      audience: x\n      algorithms: [RS256, HS256]\n',
      /^tollgate.yaml:5:27: identity.oidc\[0\].algorithms\[1\]: algorithm HS256 is not allowed: HMAC/,
    );
    configError(
      'identity:\n  oidc:\n    - issuer: https://a.example\n      audience: x\n      algorithms: [none]\n',
      /algorithms\[0\]: algorithm none is never allowed/,
    );
    configError(
      'identity:\n  oidc:\n    - issuer: https://a.example\n      audiences: x\n',
      /^tollgate.yaml:4:7: identity.oidc\[0\].audiences: unknown field/,
    );
    configError(
      'identity:\n  oidc:\n    - issuer: https://a.example\n',
      /identity.oidc\[0\].audience: required/,
    );
    configError(
      'identity:\n  oidc:\n    - issuer: http://idp.example\n      audience: x\n',
      /^tollgate.yaml:3:7: identity.oidc\[0\]: issuer: must use https/,
    );
    configError(
      'identity:\n  oidc:\n    - issuer: https://a.example\n      audience: x\n      clockToleranceSec: 9000\n',
      /clockToleranceSec: expected a whole number from 0 to 300/,
    );
    configError(
      'identity:\n  saml:\n    idpCert: MIIB\n    audience: a\n    recipient: https://g/acs\n',
      /identity.saml: needs identity.gatewayTokens/,
    );
    configError(
      `identity:\n  gatewayTokens:\n    signingKey: { file: k }\n  saml:\n    idpCert: { file: ${join(dir, 'missing.pem')} }\n    audience: a\n    recipient: https://g/acs\n`,
      /identity.saml.idpCert: cannot read .*missing.pem: ENOENT/,
    );
    configError(
      'identity:\n  gatewayTokens:\n    signingKey: { file: k, env: K }\n',
      /identity.gatewayTokens.signingKey: give exactly one of env or file/,
    );
    configError(
      'identity:\n  gatewayTokens:\n    signingKey: { env: K }\n  oidc:\n    - issuer: tollgate\n      audience: x\n',
      /is not a URL|clashes with the gateway token issuer/,
    );
  });

  it('loads the signing key from a file or a variable, never printing it', () => {
    const pem = ed.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.equal(loadSigningKey({ file: keyFile }).asymmetricKeyType, 'ed25519');
    assert.equal(loadSigningKey({ env: 'K' }, { K: pem.replace(/\n/g, '\\n') }).asymmetricKeyType, 'ed25519');
    assert.throws(() => loadSigningKey({ env: 'K' }, {}), /environment variable K is not set/);
    const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    assert.throws(
      () => loadSigningKey({ env: 'K' }, { K: rsaPem }),
      (e: unknown) =>
        e instanceof Error &&
        /holds a rsa key; an Ed25519 key is needed/.test(e.message) &&
        !e.message.includes('PRIVATE'),
    );
    assert.throws(
      () => loadSigningKey({ env: 'K' }, { K: 'not a key at all' }),
      (e: unknown) =>
        e instanceof Error &&
        /does not hold a PEM private key/.test(e.message) &&
        !e.message.includes('not a key at all'),
    );
  });
});
