import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScramClient } from './scram';

// RFC 7677, section 3
const vector = {
  user: 'user',
  password: 'pencil',
  nonce: 'rOprNGfwEbeRWgbNEkqO',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

describe('ScramClient (SCRAM-SHA-256)', () => {
  it('reproduces the RFC 7677 exchange and accepts the server signature', async () => {
    const c = new ScramClient(vector.password, { user: vector.user, nonce: vector.nonce });
    assert.equal(c.clientFirst(), vector.clientFirst);
    assert.equal(await c.clientFinal(vector.serverFirst), vector.clientFinal);
    c.verifyServerFinal(vector.serverFinal);
  });

  it('sends an empty user name and a fresh nonce by default, as libpq does', () => {
    const a = new ScramClient('pw').clientFirst();
    const b = new ScramClient('pw').clientFirst();
    assert.match(a, /^n,,n=,r=[A-Za-z0-9+/]{24}$/);
    assert.notEqual(a, b);
  });

  it('refuses a wrong server signature', async () => {
    const c = new ScramClient(vector.password, { user: vector.user, nonce: vector.nonce });
    await c.clientFinal(vector.serverFirst);
    assert.throws(
      () => c.verifyServerFinal('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='),
      /server signature does not match/,
    );
    assert.throws(
      () => c.verifyServerFinal('e=invalid-proof'),
      /server refused the SCRAM exchange: invalid-proof/,
    );
  });

  it('refuses a server nonce that does not extend the client nonce', async () => {
    const c = new ScramClient('pw', { nonce: 'abc' });
    await assert.rejects(c.clientFinal('r=xyzdef,s=c2FsdA==,i=4096'), /does not extend the client nonce/);
    await assert.rejects(
      new ScramClient('pw', { nonce: 'abc' }).clientFinal('r=abc,s=c2FsdA==,i=4096'),
      /does not extend/,
    );
  });

  it('refuses malformed or unreasonable server-first messages', async () => {
    const c = (): ScramClient => new ScramClient('pw', { nonce: 'abc' });
    await assert.rejects(c().clientFinal('garbage'), /malformed server-first-message/);
    await assert.rejects(c().clientFinal('r=abcd,s=c2FsdA=='), /lacks the nonce, salt or iteration count/);
    await assert.rejects(c().clientFinal('r=abcd,s=c2FsdA==,i=0'), /asks for 0 PBKDF2 iterations/);
    await assert.rejects(c().clientFinal('r=abcd,s=c2FsdA==,i=99999999999'), /asks for 99999999999 PBKDF2/);
    await assert.rejects(c().clientFinal('m=ext,r=abcd,s=c2FsdA==,i=1'), /unsupported SCRAM extension/);
    await assert.rejects(c().clientFinal('r=abcd,s=,i=1'), /empty salt/);
  });

  it('refuses a server-final before the exchange', () => {
    assert.throws(() => new ScramClient('pw').verifyServerFinal('v=x'), /before server-first-message/);
  });

  it('keeps the password out of errors', async () => {
    const secret = 'hunter2-very-secret';
    const c = new ScramClient(secret, { nonce: 'abc' });
    await c.clientFinal('r=abcd,s=c2FsdA==,i=1');
    try {
      c.verifyServerFinal('v=AAAA');
      assert.fail('must throw');
    } catch (e) {
      assert.ok(!String((e as Error).message).includes(secret));
      assert.ok(!String((e as Error).stack).includes(secret));
    }
  });
});
