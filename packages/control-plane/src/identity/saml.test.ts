import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TollgateError } from '@tollgate/core';
import { GatewayTokens } from './gateway-tokens';
import { SamlExchange, type SamlExchangeConfig } from './saml';
import { makeTestCert, type SamlResponseOptions, samlResponse, type TestCert } from './testing/saml';

const IDP = 'https://idp.example.test/saml';
const SP = 'urn:tollgate:sp';
const ACS = 'https://gateway.example.test/saml/acs';

async function rejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TollgateError, String(err));
    assert.equal(err.code, 'TG_AUTH_FAILED');
    assert.match(err.message, message);
    assert.ok(!/PHNhbWxw|<samlp:|BEGIN/.test(err.message), 'the error carries the response or a key');
    return true;
  });
}

describe('SamlExchange (signed responses built with xml-crypto, certificates from openssl)', () => {
  let dir: string;
  let idpCert: TestCert;
  let otherCert: TestCert;
  let tokens: GatewayTokens;
  let exchange: SamlExchange;
  const config = (over: Partial<SamlExchangeConfig> = {}): SamlExchangeConfig => ({
    idpCert: idpCert.certPem,
    audience: SP,
    recipient: ACS,
    idpIssuer: IDP,
    ...over,
  });
  const response = (over: Partial<SamlResponseOptions> = {}) =>
    samlResponse({
      signer: idpCert,
      issuer: IDP,
      nameId: 'ann@example.com',
      audience: SP,
      recipient: ACS,
      groups: ['dba', 'oncall'],
      ...over,
    });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-saml-'));
    idpCert = makeTestCert(dir, 'idp');
    otherCert = makeTestCert(dir, 'impostor');
    tokens = new GatewayTokens({ privateKey: generateKeyPairSync('ed25519').privateKey, ttlSeconds: 600 });
    exchange = new SamlExchange(config(), tokens);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exchanges a signed assertion for a gateway token carrying the SAML identity', async () => {
    const t0 = Date.now();
    const r = await exchange.exchange(response());
    const expected = { subject: 'ann@example.com', kind: 'saml', issuer: IDP, groups: ['dba', 'oncall'] };
    assert.deepEqual(r.identity, expected);
    assert.ok(r.expiresAt >= Math.floor(t0 / 1000) * 1000 + 600_000 && r.expiresAt <= Date.now() + 600_000);
    const back = await tokens.verify(r.token);
    assert.deepEqual(back, { ...expected, expiresAt: r.expiresAt });
  });

  it('accepts a response whose signature covers the whole response', async () => {
    const r = await exchange.exchange(response({ sign: 'response', nameId: 'bob@example.com' }));
    assert.equal(r.identity.subject, 'bob@example.com');
  });

  it('accepts either certificate during an IdP certificate rollover', async () => {
    const both = new SamlExchange(config({ idpCert: [otherCert.certPem, idpCert.certPem] }), tokens);
    assert.equal((await both.exchange(response())).identity.subject, 'ann@example.com');
  });

  it('never issues a token that outlives the IdP session', async () => {
    const end = new Date(Date.now() + 120_000);
    const r = await exchange.exchange(response({ sessionNotOnOrAfter: end }));
    assert.equal(r.expiresAt, Math.floor(end.getTime() / 1000) * 1000);
  });

  it('refuses an assertion for another audience', async () => {
    await rejects(
      exchange.exchange(response({ audience: 'urn:someone-else' })),
      /^SAML audience mismatch: expected "urn:tollgate:sp"$/,
    );
  });

  it('refuses an assertion for another recipient', async () => {
    await rejects(
      exchange.exchange(response({ recipient: 'https://evil.example/acs', destination: null })),
      /^SAML recipient mismatch: the assertion is for "https:\/\/evil.example\/acs", expected "https:\/\/gateway.example.test\/saml\/acs"$/,
    );
    await rejects(
      exchange.exchange(response({ destination: 'https://evil.example/acs' })),
      /^SAML destination mismatch: the response is for "https:\/\/evil.example\/acs"/,
    );
  });

  it('refuses an expired assertion', async () => {
    await rejects(
      exchange.exchange(
        response({
          notBefore: new Date(Date.now() - 3_600_000),
          notOnOrAfter: new Date(Date.now() - 600_000),
        }),
      ),
      /^SAML assertion expired/,
    );
    await rejects(
      exchange.exchange(
        response({ notBefore: new Date(Date.now() + 600_000), notOnOrAfter: new Date(Date.now() + 900_000) }),
      ),
      /^SAML assertion is not yet valid/,
    );
  });

  it('refuses an assertion altered after signing', async () => {
    const tampered = response({
      after: (xml) => xml.replace('>ann@example.com<', '>admin@example.com<'),
    });
    await rejects(exchange.exchange(tampered), /^SAML signature verification failed/);
    const moreGroups = response({
      after: (xml) => xml.replace('<saml:AttributeValue>dba<', '<saml:AttributeValue>admins<'),
    });
    await rejects(exchange.exchange(moreGroups), /^SAML signature verification failed/);
  });

  it('refuses an assertion signed by another certificate', async () => {
    await rejects(exchange.exchange(response({ signer: otherCert })), /^SAML signature verification failed/);
  });

  it('refuses a second, unsigned assertion smuggled next to the signed one', async () => {
    const wrapped = response({
      after: (xml) => {
        const start = xml.indexOf('<saml:Assertion');
        const end = xml.indexOf('</saml:Assertion>') + '</saml:Assertion>'.length;
        const forged = xml
          .slice(start, end)
          .replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '')
          .replace(/ID="[^"]+"/, 'ID="_forged"')
          .replace('>ann@example.com<', '>admin@example.com<');
        return xml.slice(0, start) + forged + xml.slice(start);
      },
    });
    await rejects(exchange.exchange(wrapped), /^SAML signature verification failed/);
  });

  it('refuses an untrusted IdP issuer, a replayed assertion and garbage', async () => {
    await rejects(
      exchange.exchange(response({ issuer: 'https://other-idp.example' })),
      /^SAML issuer "https:\/\/other-idp.example" is not trusted/,
    );
    const once = response();
    await exchange.exchange(once);
    await rejects(exchange.exchange(once), /^SAML assertion "_[0-9a-f]+" was already used$/);
    await rejects(exchange.exchange('%%%'), /^malformed SAML response: not base64$/);
    await rejects(
      exchange.exchange(Buffer.from('hello').toString('base64')),
      /^malformed SAML response: not XML$/,
    );
  });
});
