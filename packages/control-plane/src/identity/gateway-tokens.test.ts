import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { type Identity, TollgateError } from '@tollgate/core';
import { GatewayTokens } from './gateway-tokens';
import { jose } from './jose';

const ann: Identity = {
  subject: 'ann@example.com',
  kind: 'saml',
  issuer: 'https://idp.example',
  groups: ['dba'],
};

async function rejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TollgateError, String(err));
    assert.equal(err.code, 'TG_AUTH_FAILED');
    assert.match(err.message, message);
    return true;
  });
}

describe('GatewayTokens (EdDSA)', () => {
  const key = generateKeyPairSync('ed25519').privateKey;
  let clock = 0;
  const tokens = new GatewayTokens({ privateKey: key, ttlSeconds: 600, now: () => Date.now() + clock });

  it('issues an EdDSA JWT that verifies back to the same identity', async () => {
    const { token, expiresAt } = await tokens.issue(ann);
    const header = jose.decodeProtectedHeader(token);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.kid, await tokens.keyId());
    const claims = jose.decodeJwt(token);
    assert.equal(claims.iss, 'tollgate');
    assert.equal(claims.aud, 'tollgate');
    assert.equal((claims.exp as number) - (claims.iat as number), 600);
    assert.deepEqual(await tokens.verify(token), { ...ann, expiresAt });
  });

  it('refuses an expired token and one signed by another gateway key', async () => {
    const { token, expiresAt } = await tokens.issue(ann);
    clock = 600_000 + 6_000;
    try {
      await rejects(
        tokens.verify(token),
        new RegExp(`^token expired at ${new Date(expiresAt).toISOString()}$`),
      );
    } finally {
      clock = 0;
    }
    const other = new GatewayTokens({ privateKey: generateKeyPairSync('ed25519').privateKey });
    const foreign = (await other.issue(ann)).token;
    await rejects(tokens.verify(foreign), /^no key with kid "[^"]+" signs gateway tokens here$/);
    // without a kid the signature check itself refuses it
    const claims = jose.decodeJwt(foreign);
    const noKid = await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA' })
      .sign(generateKeyPairSync('ed25519').privateKey);
    await rejects(tokens.verify(noKid), /^signature verification failed$/);
  });

  it('refuses other algorithms, issuers and audiences', async () => {
    const claims = jose.decodeJwt((await tokens.issue(ann)).token);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const rs = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(rsa);
    await rejects(tokens.verify(rs), /^algorithm RS256 not allowed \(allowed: EdDSA\)$/);
    const otherIss = await new jose.SignJWT({ ...claims, iss: 'someone' })
      .setProtectedHeader({ alg: 'EdDSA' })
      .sign(key);
    await rejects(tokens.verify(otherIss), /^issuer "someone" is not trusted/);
    const otherAud = await new jose.SignJWT({ ...claims, aud: 'x' })
      .setProtectedHeader({ alg: 'EdDSA' })
      .sign(key);
    await rejects(tokens.verify(otherAud), /^audience mismatch: token is for "x", expected "tollgate"$/);
  });

  it('never outlives the identity it was issued for', async () => {
    const soon = Date.now() + 60_000;
    const { expiresAt } = await tokens.issue({ ...ann, expiresAt: soon });
    assert.equal(expiresAt, Math.floor(soon / 1000) * 1000);
    await rejects(
      tokens.issue({ ...ann, expiresAt: Date.now() - 1000 }),
      /^cannot issue a gateway token: the identity expired/,
    );
  });

  it('needs an Ed25519 private key', () => {
    assert.throws(
      () => new GatewayTokens({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }),
      /signingKey: must be an Ed25519 private key/,
    );
    assert.throws(
      () => new GatewayTokens({ privateKey: generateKeyPairSync('ed25519').publicKey }),
      /must be an Ed25519 private key/,
    );
    assert.throws(() => new GatewayTokens({ privateKey: key, ttlSeconds: 0 }), /ttlSeconds/);
  });
});
