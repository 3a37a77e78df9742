import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildAuthenticationCleartextPassword,
  buildAuthenticationMD5Password,
  buildAuthenticationOk,
  buildAuthenticationSASL,
  buildAuthenticationSASLContinue,
  buildAuthenticationSASLFinal,
  buildPasswordMessage,
  buildSASLInitialResponse,
  buildSASLResponse,
  parseAuthentication,
  parsePasswordMessage,
  parseSASLInitialResponse,
  parseSASLResponse,
} from './auth';
import { fuzzParse, rawMessage, truncated, violation } from './testing';

describe('Authentication (B)', () => {
  it('round-trips every request the gateway builds', () => {
    assert.deepEqual(parseAuthentication(buildAuthenticationOk()), { type: 'AuthenticationOk', code: 0 });
    assert.deepEqual(parseAuthentication(buildAuthenticationCleartextPassword()), {
      type: 'AuthenticationCleartextPassword',
      code: 3,
    });
    const salt = Buffer.from([1, 2, 3, 4]);
    assert.deepEqual(parseAuthentication(buildAuthenticationMD5Password(salt)), {
      type: 'AuthenticationMD5Password',
      code: 5,
      salt,
    });
    assert.deepEqual(parseAuthentication(buildAuthenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'])), {
      type: 'AuthenticationSASL',
      code: 10,
      mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
    });
    const data = Buffer.from('r=abc,s=c2FsdA==,i=4096');
    assert.deepEqual(parseAuthentication(buildAuthenticationSASLContinue(data)), {
      type: 'AuthenticationSASLContinue',
      code: 11,
      data,
    });
    assert.deepEqual(parseAuthentication(buildAuthenticationSASLFinal(Buffer.from('v=x'))), {
      type: 'AuthenticationSASLFinal',
      code: 12,
      data: Buffer.from('v=x'),
    });
  });

  it('carries methods it does not implement (GSSAPI) as data', () => {
    const gss = rawMessage('R', Buffer.from([0, 0, 0, 7]));
    assert.deepEqual(parseAuthentication(gss), {
      type: 'AuthenticationOther',
      code: 7,
      data: Buffer.alloc(0),
    });
  });

  it('refuses a short MD5 salt, a mechanism list without terminator and trailing bytes', () => {
    assert.throws(
      () => parseAuthentication(truncated(buildAuthenticationMD5Password(Buffer.alloc(4)), 6)),
      violation(/salt/),
    );
    const sasl = buildAuthenticationSASL(['SCRAM-SHA-256']);
    assert.throws(() => parseAuthentication(truncated(sasl, sasl.length - 6)), violation(/SASL mechanism/));
    assert.throws(
      () => parseAuthentication(rawMessage('R', Buffer.from([0, 0, 0, 0, 9]))),
      violation(/Authentication message has 1 unexpected trailing byte/),
    );
  });

  it('never reads past the end of a damaged message', () => {
    fuzzParse(buildAuthenticationSASL(['SCRAM-SHA-256']), parseAuthentication);
    fuzzParse(buildAuthenticationMD5Password(Buffer.from([9, 9, 9, 9])), parseAuthentication);
  });
});

describe('PasswordMessage, SASLInitialResponse, SASLResponse (F)', () => {
  it('round-trip', () => {
    assert.deepEqual(parsePasswordMessage(buildPasswordMessage('eyJhbGciOi.token')), {
      type: 'PasswordMessage',
      password: 'eyJhbGciOi.token',
    });
    const first = Buffer.from('n,,n=,r=nonce');
    assert.deepEqual(parseSASLInitialResponse(buildSASLInitialResponse('SCRAM-SHA-256', first)), {
      type: 'SASLInitialResponse',
      mechanism: 'SCRAM-SHA-256',
      data: first,
    });
    assert.deepEqual(parseSASLInitialResponse(buildSASLInitialResponse('X', null)), {
      type: 'SASLInitialResponse',
      mechanism: 'X',
      data: null,
    });
    assert.deepEqual(parseSASLResponse(buildSASLResponse(Buffer.from('c=biws'))), {
      type: 'SASLResponse',
      data: Buffer.from('c=biws'),
    });
  });

  it('refuse a password without NUL and an initial response longer than the message', () => {
    assert.throws(
      () => parsePasswordMessage(rawMessage('p', Buffer.from('secret'))),
      violation(/password.*no NUL/),
    );
    const m = buildSASLInitialResponse('SCRAM-SHA-256', Buffer.from('abc'));
    m.writeInt32BE(100, 5 + 'SCRAM-SHA-256'.length + 1);
    assert.throws(() => parseSASLInitialResponse(m), violation(/initial response needs 100 byte/));
    fuzzParse(buildSASLInitialResponse('SCRAM-SHA-256', Buffer.from('n,,n=,r=x')), parseSASLInitialResponse);
  });

  it('refuses a message of another type', () => {
    assert.throws(
      () => parsePasswordMessage(buildAuthenticationOk()),
      violation(/expected a PasswordMessage message \('p'\), got 'R'/),
    );
  });
});
