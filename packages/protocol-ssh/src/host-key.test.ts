import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { utils } from 'ssh2';
import {
  fingerprint,
  generateHostKey,
  hostFieldMatches,
  KnownHostsCheck,
  knownHostsName,
  loadOrCreateHostKey,
  parseKnownHosts,
} from './host-key';

describe('loadOrCreateHostKey', () => {
  it('generates an Ed25519 key with mode 0600 on first start and loads the same key afterwards', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-hostkey-'));
    try {
      const path = join(dir, 'state', 'ssh_host_ed25519_key');
      const first = loadOrCreateHostKey(path);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.match(first.publicKey, /^ssh-ed25519 AAAA/);
      assert.match(first.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
      const again = loadOrCreateHostKey(path);
      assert.equal(again.fingerprint, first.fingerprint);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file that is not a private key, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-hostkey-'));
    try {
      const path = join(dir, 'key');
      writeFileSync(path, 'not a key\n', { mode: 0o600 });
      assert.throws(() => loadOrCreateHostKey(path), new RegExp(`ssh.hostKeyFile ${path}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('known_hosts for targets', () => {
  const ed = generateHostKey().public;
  const ec = utils.generateKeyPairSync('ecdsa', { bits: 256 }).public;
  const rsa = utils.generateKeyPairSync('rsa', { bits: 2048 }).public;
  const other = generateHostKey().public;
  const blob = (line: string) => Buffer.from(line.split(' ')[1] as string, 'base64');
  const fp = (line: string) => fingerprint(blob(line));

  it('matches plain names, [host]:port, patterns with negation, case-insensitively', () => {
    assert.equal(knownHostsName('box.internal', 22), 'box.internal');
    assert.equal(knownHostsName('10.0.0.7', 2222), '[10.0.0.7]:2222');
    assert.equal(knownHostsName('Box.Internal', 22), 'box.internal');
    assert.equal(knownHostsName('::1', 2222), '[::1]:2222');
    assert.ok(hostFieldMatches('other,Box.Internal', 'box.internal'));
    assert.ok(hostFieldMatches('[10.0.0.7]:2222', '[10.0.0.7]:2222'));
    assert.ok(
      !hostFieldMatches('10.0.0.7', '[10.0.0.7]:2222'),
      'a port-22 entry does not cover another port',
    );
    assert.ok(hostFieldMatches('*.internal,!db?.internal', 'box.internal'));
    assert.ok(!hostFieldMatches('*.internal,!db?.internal', 'db1.internal'));
    assert.ok(hostFieldMatches('[10.0.0.*]:2222', '[10.0.0.7]:2222'));
    assert.ok(!hostFieldMatches('*.internal', 'box.internal.evil'));
  });

  it('reads hashed entries as ssh-keygen -H writes them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-known-hosts-'));
    try {
      const file = join(dir, 'known_hosts');
      writeFileSync(file, `[127.0.0.1]:2222 ${ed}\nbox.internal ${rsa}\n`);
      execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore', timeout: 20_000 });
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /127\.0\.0\.1|box\.internal/, 'the names are hashed');
      assert.equal(KnownHostsCheck.load(file, '127.0.0.1', 2222).check(blob(ed)), undefined);
      assert.equal(KnownHostsCheck.load(file, 'box.internal', 22).check(blob(rsa)), undefined);
      assert.match(
        KnownHostsCheck.load(file, '127.0.0.1', 2223).check(blob(ed)) ?? '',
        /no entry for \[127\.0\.0\.1\]:2223/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts a listed key of any listed type, refuses others naming the file and the fingerprints', () => {
    const text = [
      '# comment',
      '',
      `box.internal,10.0.0.7 ${ed} deploy@ops`,
      `box.internal ${ec}`,
      `@cert-authority *.internal ${other}`,
      `db.internal ${rsa}`,
    ].join('\n');
    const box = KnownHostsCheck.fromText(text, '/etc/tollgate/known_hosts', 'box.internal', 22);
    assert.equal(box.check(blob(ed)), undefined);
    assert.equal(box.check(blob(ec)), undefined);
    assert.deepEqual(box.algorithms(), ['ssh-ed25519', 'ecdsa-sha2-nistp256']);
    const refused = box.check(blob(rsa)) ?? '';
    assert.ok(refused.includes(`presented ${fp(rsa)} (ssh-rsa)`), refused);
    assert.ok(refused.includes('/etc/tollgate/known_hosts does not list for box.internal'), refused);
    assert.ok(refused.includes(`${fp(ed)} (ssh-ed25519, line 3)`), refused);
    assert.equal(box.check(blob(other)) === undefined, false, '@cert-authority keys are not host keys');
    const db = KnownHostsCheck.fromText(text, 'kh', 'db.internal', 22);
    assert.deepEqual(db.algorithms(), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.match(
      KnownHostsCheck.fromText(text, 'kh', 'new.internal', 22).check(blob(ed)) ?? '',
      new RegExp(
        `presented ${fp(ed).replace(/[+/]/g, '\\$&')} \\(ssh-ed25519\\), and kh has no entry for new\\.internal`,
      ),
    );
  });

  it('refuses a key marked @revoked, even when another line lists it', () => {
    const text = `box.internal ${ed}\n@revoked * ${ed}\n`;
    const why = KnownHostsCheck.fromText(text, 'kh', 'box.internal', 22).check(blob(ed)) ?? '';
    assert.match(why, /kh:2 marks @revoked/);
  });

  it('refuses a malformed line with file:line', () => {
    assert.throws(() => parseKnownHosts(`box ${ed}\nbox ssh-ed25519\n`, 'kh'), /known_hosts kh:2: expected/);
    assert.throws(
      () => parseKnownHosts(`box ssh-rsa ${ed.split(' ')[1]}\n`, 'kh'),
      /kh:1: the key is not a ssh-rsa public key/,
    );
    assert.throws(() => parseKnownHosts(`@bogus box ${ed}\n`, 'kh'), /kh:1: unknown marker @bogus/);
    assert.throws(
      () => KnownHostsCheck.load('/nonexistent/known_hosts', 'box', 22),
      /known_hosts \/nonexistent\/known_hosts: ENOENT/,
    );
  });
});

describe('generateHostKey', () => {
  it('always yields a key that parses and signs (ssh2 alone fails about once in 300)', () => {
    for (let i = 0; i < 1500; i++) {
      const parsed = utils.parseKey(generateHostKey().private);
      const key = Array.isArray(parsed) ? parsed[0] : parsed;
      assert.ok(key && !(key instanceof Error) && key.isPrivateKey(), `key ${i}`);
    }
  });
});
