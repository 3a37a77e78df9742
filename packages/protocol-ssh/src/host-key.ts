import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Errors, TollgateError } from '@tollgate/core';
import { type ParsedKey, utils } from 'ssh2';
import { fingerprint } from './target';

/** The gateway's own SSH host key, as agents see it. */
export interface HostKey {
  readonly key: ParsedKey;
  /** `ssh-ed25519 AAAA…`: the line for an agent's known_hosts. */
  readonly publicKey: string;
  /** `SHA256:…`, as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
}

/**
 * Loads the host key at `path`, generating an Ed25519 key there (mode 0600) on first start, so
 * that agents see the same host key across restarts.
 */
export function loadOrCreateHostKey(path: string): HostKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unreadable(path, err as Error);
    const pair = utils.generateKeyPairSync('ed25519');
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // 'wx': never overwrite a key another process wrote in the meantime
      writeFileSync(path, pair.private, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw unreadable(path, e as Error);
    }
    text = readFileSync(path, 'utf8');
  }
  const parsed = utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error || !key.isPrivateKey()) {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `ssh.hostKeyFile ${path}: not an unencrypted SSH private key`,
    );
  }
  const blob = key.getPublicSSH();
  return {
    key,
    publicKey: `${key.type} ${blob.toString('base64')}`,
    fingerprint: fingerprint(blob),
  };
}

function unreadable(path: string, err: Error): TollgateError {
  return new TollgateError(Errors.CONFIG_INVALID, `ssh.hostKeyFile ${path}: ${err.message}`);
}
