import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { API_KEY_PREFIX, apiKeyId, apiKeyMatches, hashApiKey, newApiKey, randomBase62 } from './api-key';
import { parseOpenSshPublicKey, sshFingerprint } from './ssh-key';

const wire = (...parts: Buffer[]) =>
  Buffer.concat(
    parts.flatMap((p) => [Buffer.from([0, 0, 0, 0].map((_, i) => (p.length >>> (24 - 8 * i)) & 255)), p]),
  );

describe('API keys', () => {
  it('have a recognisable prefix, a public id and a 43-character base62 secret', () => {
    const { id, key } = newApiKey();
    assert.ok(key.startsWith(`${API_KEY_PREFIX}${id}_`));
    assert.match(key, /^tgk_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}$/);
    assert.equal(apiKeyId(key), id);
    assert.equal(apiKeyId(`${key} `), undefined);
    assert.notEqual(newApiKey().key, key);
  });

  it('match only their own hash', () => {
    const { key } = newApiKey();
    const h = hashApiKey(key);
    assert.ok(apiKeyMatches(key, h));
    assert.ok(!apiKeyMatches(newApiKey().key, h));
    assert.ok(!apiKeyMatches(key, 'abcd'));
  });

  it('draw every base62 character about equally often', () => {
    const s = randomBase62(62_000);
    const counts = new Map<string, number>();
    for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    assert.equal(counts.size, 62);
    for (const v of counts.values()) assert.ok(v > 700 && v < 1300, `count ${v}`);
  });
});

describe('OpenSSH public keys', () => {
  const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  const raw = Buffer.from(ed.x as string, 'base64url');
  const blob = wire(Buffer.from('ssh-ed25519'), raw);
  const line = `ssh-ed25519 ${blob.toString('base64')} bot@ci`;

  it('parses a .pub line into type, blob, comment and SHA256 fingerprint', () => {
    const k = parseOpenSshPublicKey(`# comment\n\n${line}\n`);
    assert.equal(k.algorithm, 'ssh-ed25519');
    assert.ok(k.blob.equals(blob));
    assert.equal(k.comment, 'bot@ci');
    assert.match(k.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    assert.equal(k.fingerprint, sshFingerprint(blob));
  });

  it('refuses what is not exactly one well-formed key', () => {
    assert.throws(() => parseOpenSshPublicKey(''), /found 0 non-comment lines/);
    assert.throws(() => parseOpenSshPublicKey(`${line}\n${line}`), /found 2/);
    assert.throws(
      () => parseOpenSshPublicKey(`from="10.0.0.1" ${line}`),
      /unknown key type .*authorized_keys options/,
    );
    assert.throws(() => parseOpenSshPublicKey('ssh-dss AAAA'), /DSA keys/);
    assert.throws(() => parseOpenSshPublicKey('ssh-ed25519 !!!'), /not base64/);
    const rsaBlob = wire(Buffer.from('ssh-rsa'), raw);
    assert.throws(
      () => parseOpenSshPublicKey(`ssh-ed25519 ${rsaBlob.toString('base64')}`),
      /not a ssh-ed25519 key blob/,
    );
    const short = wire(Buffer.from('ssh-ed25519'), raw.subarray(0, 31));
    assert.throws(() => parseOpenSshPublicKey(`ssh-ed25519 ${short.toString('base64')}`), /not 32 bytes/);
    const cut = blob.subarray(0, blob.length - 3);
    assert.throws(
      () => parseOpenSshPublicKey(`ssh-ed25519 ${cut.toString('base64')}`),
      /not a ssh-ed25519 key blob/,
    );
  });
});
