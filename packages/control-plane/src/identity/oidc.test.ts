import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TollgateError } from '@tollgate/core';
import { jose } from './jose';
import { OidcVerifier, type OidcVerifierOptions } from './oidc';
import { startTestIdp, type TestIdp } from './testing/oidc-provider';

const b64url = (v: unknown) =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Asserts an AUTH_FAILED rejection whose message matches and never contains the token. */
async function rejects(p: Promise<unknown>, token: string, message: RegExp): Promise<TollgateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TollgateError, `not a TollgateError: ${err}`);
    assert.equal(err.code, 'TG_AUTH_FAILED');
    assert.match(err.message, message);
    assert.ok(!err.message.includes(token), 'the error message contains the token');
    assert.ok(!(err.hint ?? '').includes(token), 'the error hint contains the token');
    const [, payload] = token.split('.');
    if (payload && payload.length > 20) assert.ok(!err.message.includes(payload));
    return err;
  }
  assert.fail(`expected a rejection matching ${message}`);
}

describe('OidcVerifier against a real OpenID provider (oidc-provider, client credentials)', () => {
  let idp: TestIdp;
  let clock = 0; // offset added to the real time
  const now = () => Date.now() + clock;
  const verifier = (
    over: Partial<ConstructorParameters<typeof OidcVerifier>[0]> = {},
    o: OidcVerifierOptions = {},
  ) => new OidcVerifier({ issuer: idp.issuer, audience: idp.rs256Audience, ...over }, { now, ...o });

  before(async () => {
    idp = await startTestIdp();
  });
  after(() => idp?.close());

  it('accepts a client-credentials access token and returns subject and groups', async () => {
    const v = verifier();
    const token = await idp.token({ client: 'agent-ci' });
    const id = await v.verify(token);
    const exp = jose.decodeJwt(token).exp as number;
    assert.deepEqual(id, {
      subject: 'agent-ci',
      kind: 'oidc',
      issuer: idp.issuer,
      groups: ['deployers', 'readers'],
      expiresAt: exp * 1000,
    });
    assert.equal((await v.verify(await idp.token({ client: 'agent-ro' }))).subject, 'agent-ro');
    // discovery + JWKS, once
    assert.equal(v.jwksFetches, 2);
  });

  it('accepts ES256 tokens and reads groups from a nested claim path', async () => {
    const v = verifier({ audience: [idp.es256Audience], groupsClaim: 'tg.groups' });
    const token = await idp.token({ alg: 'ES256' });
    assert.equal(jose.decodeProtectedHeader(token).alg, 'ES256');
    const id = await v.verify(token);
    assert.deepEqual(id.groups, ['deployers', 'readers']);
  });

  it('refuses an expired token, naming when it expired', async () => {
    const v = verifier();
    const token = await idp.token();
    const exp = jose.decodeJwt(token).exp as number;
    clock = 300_000 + 31_000; // past the 300 s TTL and the 30 s tolerance
    try {
      await rejects(
        v.verify(token),
        token,
        new RegExp(`^token expired at ${new Date(exp * 1000).toISOString()}$`),
      );
    } finally {
      clock = 0;
    }
    // within the clock tolerance it still passes
    clock = 300_000 + 10_000;
    try {
      assert.equal((await v.verify(token)).subject, 'agent-ci');
    } finally {
      clock = 0;
    }
  });

  it('refuses a token from an issuer it does not trust', async () => {
    const v = verifier({ issuer: 'https://login.example.com', jwksUri: `${idp.issuer}/jwks` });
    const token = await idp.token();
    await rejects(
      v.verify(token),
      token,
      new RegExp(`^issuer "${idp.issuer}" is not trusted \\(expected "https://login.example.com"\\)$`),
    );
  });

  it('refuses a token for another audience', async () => {
    const v = verifier({ audience: 'urn:other-service' });
    const token = await idp.token();
    await rejects(
      v.verify(token),
      token,
      /^audience mismatch: token is for "urn:tollgate:gateway", expected "urn:other-service"$/,
    );
  });

  it('refuses a forged signature (same claims and kid, signed with another key)', async () => {
    const v = verifier();
    const real = await idp.token();
    const header = jose.decodeProtectedHeader(real);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const forged = await new jose.SignJWT({ ...jose.decodeJwt(real), groups: ['admins'] })
      .setProtectedHeader({ alg: 'RS256', kid: header.kid as string, typ: 'at+jwt' })
      .sign(other);
    await rejects(v.verify(forged), forged, /^signature verification failed$/);
    // the same bytes with one payload character changed
    const [h, p, s] = real.split('.') as [string, string, string];
    const claims = jose.decodeJwt(real);
    const tampered = `${h}.${b64url({ ...claims, sub: 'agent-admin' })}.${s}`;
    assert.notEqual(p, tampered.split('.')[1]);
    await rejects(v.verify(tampered), tampered, /^signature verification failed$/);
  });

  it('refuses alg "none"', async () => {
    const v = verifier();
    const claims = jose.decodeJwt(await idp.token());
    const token = `${b64url({ alg: 'none', typ: 'at+jwt' })}.${b64url(claims)}.`;
    await rejects(
      v.verify(token),
      token,
      /^algorithm none not allowed \(allowed: RS256, ES256, EdDSA, PS256\)$/,
    );
  });

  it('refuses HS256 signed with the issuer public key as the HMAC secret (key confusion)', async () => {
    const v = verifier();
    const real = await idp.token();
    const kid = jose.decodeProtectedHeader(real).kid as string;
    const jwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
    const jwk = jwks.keys.find((k) => k.kid === kid);
    assert.ok(jwk);
    const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const signingInput = `${b64url({ alg: 'HS256', kid, typ: 'at+jwt' })}.${b64url(jose.decodeJwt(real))}`;
    const token = `${signingInput}.${createHmac('sha256', pem).update(signingInput).digest('base64url')}`;
    await rejects(v.verify(token), token, /^algorithm HS256 not allowed/);
    // and HS256 cannot be allowed by configuration
    assert.throws(
      () => verifier({ algorithms: ['RS256', 'HS256'] }),
      (e: unknown) =>
        e instanceof TollgateError &&
        e.code === 'TG_CONFIG_INVALID' &&
        /algorithm HS256 is not allowed: HMAC/.test(e.message),
    );
    assert.throws(() => verifier({ algorithms: ['none'] }), /algorithm none is never allowed/);
  });

  it('an unknown kid causes exactly one JWKS refetch, then a clear error', async () => {
    const v = verifier();
    await v.verify(await idp.token()); // warm
    const before = idp.jwksRequests;
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const token = await new jose.SignJWT({ ...jose.decodeJwt(await idp.token()) })
      .setProtectedHeader({ alg: 'RS256', kid: 'kid-nobody-published' })
      .sign(stranger);
    const err = await rejects(
      v.verify(token),
      token,
      /^no key with kid "kid-nobody-published" in the issuer's JWKS$/,
    );
    assert.match(err.hint ?? '', /refetched for an unknown kid at most every 30s/);
    assert.equal(idp.jwksRequests - before, 1);
  });

  it('rate-limits refetches: a flood of made-up kids costs one JWKS request per cooldown', async () => {
    const v = verifier({}, { refetchCooldownMs: 60_000 });
    await v.verify(await idp.token());
    const claims = jose.decodeJwt(await idp.token());
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const bogus = (i: number) =>
      new jose.SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', kid: `bogus-${i}` }).sign(stranger);
    const before = idp.jwksRequests;
    // 20 at once share the one fetch; 20 more in sequence within the cooldown fetch nothing
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => bogus(i)));
    await Promise.all(burst.map((t) => rejects(v.verify(t), t, /^no key with kid "bogus-\d+"/)));
    for (let i = 20; i < 40; i++) {
      const t = await bogus(i);
      await rejects(v.verify(t), t, /^no key with kid "bogus-\d+" in the issuer's JWKS$/);
    }
    assert.equal(idp.jwksRequests - before, 1);
    clock = 61_000; // the cooldown has passed: one more refetch is allowed
    try {
      const t = await new jose.SignJWT({ ...claims, exp: Math.floor(now() / 1000) + 60 })
        .setProtectedHeader({ alg: 'ES256', kid: 'bogus-late' })
        .sign(stranger);
      await rejects(v.verify(t), t, /^no key with kid "bogus-late"/);
      assert.equal(idp.jwksRequests - before, 2);
    } finally {
      clock = 0;
    }
  });

  it('follows a key rotation at the provider with one refetch', async () => {
    const v = verifier();
    const oldToken = await idp.token();
    await v.verify(oldToken);
    const oldKid = jose.decodeProtectedHeader(oldToken).kid;
    await idp.rotate();
    const newToken = await idp.token();
    const newKid = jose.decodeProtectedHeader(newToken).kid;
    assert.notEqual(newKid, oldKid);
    assert.equal(newKid, idp.signingKids[0]);
    const before = idp.jwksRequests;
    assert.equal((await v.verify(newToken)).subject, 'agent-ci');
    assert.equal(idp.jwksRequests - before, 1);
    // cached now, and the old key is still published for tokens issued before the rollover
    assert.equal((await v.verify(await idp.token({ client: 'agent-ro' }))).subject, 'agent-ro');
    assert.equal((await v.verify(oldToken)).subject, 'agent-ci');
    assert.equal(idp.jwksRequests - before, 1);
  });

  it('refuses malformed tokens without echoing them', async () => {
    const v = verifier();
    for (const [token, msg] of [
      ['not-a-jwt', /^malformed token: not a JWT/],
      ['a.b.c.d.e', /^malformed token: encrypted tokens \(JWE\) are not supported$/],
      [
        `${b64url('{"alg":')}.${b64url({ iss: idp.issuer })}.c2ln`,
        /^malformed token: the header is not valid/,
      ],
      ['x'.repeat(20_000), /^malformed token: longer than 16384 characters$/],
    ] as const) {
      await rejects(v.verify(token), token, msg);
    }
  });

  it('says so when the JWKS cannot be fetched, and retries later', async () => {
    let status = 503;
    const server = createServer((req, res) => {
      if (status !== 200) {
        res.writeHead(status).end();
        return;
      }
      fetch(`${idp.issuer}${req.url}`)
        .then(async (r) =>
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()),
        )
        .catch(() => res.writeHead(502).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const v = verifier({ jwksUri: `http://127.0.0.1:${port}/jwks` });
      const token = await idp.token();
      await rejects(
        v.verify(token),
        token,
        new RegExp(
          `^cannot verify tokens of issuer "${idp.issuer}": its JWKS could not be fetched \\(JWKS http://127\\.0\\.0\\.1:${port}/jwks answered HTTP 503\\)$`,
        ),
      );
      status = 200;
      // a failed fetch is retried after at most 5 s, not after the full cooldown
      clock = 6_000;
      assert.equal((await v.verify(token)).subject, 'agent-ci');
    } finally {
      clock = 0;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses insecure or incomplete issuer configuration', () => {
    const bad = (over: Record<string, unknown>, msg: RegExp) =>
      assert.throws(
        () => new OidcVerifier({ issuer: 'https://idp.example', audience: 'x', ...over } as never),
        (e: unknown) => e instanceof TollgateError && e.code === 'TG_CONFIG_INVALID' && msg.test(e.message),
      );
    bad({ issuer: 'http://idp.example' }, /issuer: must use https/);
    bad({ audience: [] }, /audience must be a non-empty/);
    bad({ algorithms: ['RS1'] }, /unsupported algorithm "RS1"/);
    bad({ clockToleranceSec: 3600 }, /clockToleranceSec must be between 0 and 300/);
  });
});
