import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TollgateError } from '@tollgate/core';
import { closeStore, openSqlite, type StoreDb } from '../store/database';
import { TokenAuthenticator } from './authenticator';
import { GatewayTokens } from './gateway-tokens';
import { jose } from './jose';
import { OidcVerifier } from './oidc';
import { ServiceAccounts } from './service-accounts';
import { startTestIdp, type TestIdp } from './testing/oidc-provider';
import { makeSshKey } from './testing/service-accounts-suite';

async function rejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TollgateError, String(err));
    assert.equal(err.code, 'TG_AUTH_FAILED');
    assert.match(err.message, message);
    return true;
  });
}

describe('TokenAuthenticator dispatches by token shape and issuer', () => {
  let idp: TestIdp;
  let dir: string;
  let db: StoreDb;
  let accounts: ServiceAccounts;
  let auth: TokenAuthenticator;
  const gatewayKey = generateKeyPairSync('ed25519').privateKey;
  const gatewayTokens = new GatewayTokens({ privateKey: gatewayKey });

  before(async () => {
    idp = await startTestIdp();
    dir = mkdtempSync(join(tmpdir(), 'tollgate-auth-'));
    db = openSqlite(join(dir, 'cp.db'));
    accounts = await ServiceAccounts.open(db);
    auth = new TokenAuthenticator({
      oidc: [new OidcVerifier({ issuer: idp.issuer, audience: idp.rs256Audience })],
      gatewayTokens,
      serviceAccounts: accounts,
    });
  });
  after(async () => {
    await idp?.close();
    if (db) await closeStore(db);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('verifies OIDC access tokens, gateway tokens and API keys', async () => {
    const oidc = await auth.authenticateToken(await idp.token());
    assert.deepEqual([oidc.kind, oidc.subject, oidc.issuer], ['oidc', 'agent-ci', idp.issuer]);
    const saml = {
      subject: 'ann@example.com',
      kind: 'saml',
      issuer: 'https://idp.example',
      groups: ['dba'],
    } as const;
    const { token, expiresAt } = await gatewayTokens.issue(saml);
    assert.deepEqual(await auth.authenticateToken(token), { ...saml, expiresAt });
    const { apiKey } = await accounts.create({ name: 'nightly-etl', groups: ['etl'] });
    assert.deepEqual(await auth.authenticateToken(apiKey), {
      subject: 'nightly-etl',
      kind: 'service-account',
      issuer: 'tollgate',
      groups: ['etl'],
    });
  });

  it('refuses a JWT from an issuer nobody configured', async () => {
    const token = await new jose.SignJWT({ sub: 'x', groups: ['admins'] })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('https://evil.example')
      .setExpirationTime('5m')
      .sign(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    await rejects(auth.authenticateToken(token), /^token issuer "https:\/\/evil.example" is not trusted$/);
    const noIss = await new jose.SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'EdDSA' })
      .sign(generateKeyPairSync('ed25519').privateKey);
    await rejects(auth.authenticateToken(noIss), /^token has no issuer/);
  });

  it('uses the unverified issuer only to pick the verifier', async () => {
    // claims to be the gateway, signed by someone else
    const fakeGateway = await new jose.SignJWT({
      sub: 'root',
      groups: ['admins'],
      tg_kind: 'saml',
      tg_idp: 'x',
    })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer('tollgate')
      .setAudience('tollgate')
      .setExpirationTime('5m')
      .sign(generateKeyPairSync('ed25519').privateKey);
    await rejects(auth.authenticateToken(fakeGateway), /^signature verification failed$/);
    // claims to be the IdP, signed with the gateway key
    const fakeIdp = await new jose.SignJWT({ sub: 'root' })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(idp.issuer)
      .setAudience(idp.rs256Audience)
      .setExpirationTime('5m')
      .sign(gatewayKey);
    await rejects(auth.authenticateToken(fakeIdp), /^no EdDSA key in the issuer's JWKS$/);
  });

  it('refuses garbage and keys it is not configured for', async () => {
    await rejects(auth.authenticateToken(''), /^no token presented$/);
    await rejects(auth.authenticateToken('hunter2'), /^malformed token: not a JWT/);
    const bare = new TokenAuthenticator({});
    await rejects(
      bare.authenticateToken(`tgk_${'a'.repeat(12)}_${'b'.repeat(43)}`),
      /API keys are not accepted here/,
    );
    await rejects(
      bare.authenticateToken(await idp.token()),
      /^token issuer "http:\/\/127.0.0.1:\d+" is not trusted$/,
    );
  });

  it('resolves registered SSH public keys', async () => {
    const key = makeSshKey(dir, 'bot');
    await accounts.create({ name: 'ssh-runner', groups: ['ops'] });
    await accounts.addPublicKey('ssh-runner', key.publicLine);
    assert.equal((await auth.authenticatePublicKey(key.presented))?.subject, 'ssh-runner');
    assert.equal(await auth.authenticatePublicKey(makeSshKey(dir, 'other').presented), undefined);
    assert.equal(await new TokenAuthenticator({}).authenticatePublicKey(key.presented), undefined);
  });

  it('refuses an OIDC issuer configured twice or clashing with the gateway issuer', () => {
    const v = (issuer: string) => new OidcVerifier({ issuer, audience: 'a' });
    assert.throws(() => new TokenAuthenticator({ oidc: [v(idp.issuer), v(idp.issuer)] }), /configured twice/);
    assert.throws(
      () =>
        new TokenAuthenticator({
          oidc: [v('https://idp.example')],
          gatewayTokens: new GatewayTokens({ privateKey: gatewayKey, issuer: 'https://idp.example' }),
        }),
      /clashes with the gateway token issuer/,
    );
  });
});
