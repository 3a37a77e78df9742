import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadOrCreateHostKey } from './host-key';

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
