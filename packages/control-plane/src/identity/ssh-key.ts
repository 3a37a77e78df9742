import { createHash } from 'node:crypto';
import { configInvalid } from './auth-error';

/** An OpenSSH public key as registered to a service account. */
export interface SshPublicKey {
  /** Key type from the blob, e.g. `ssh-ed25519`. */
  readonly algorithm: string;
  /** The key blob in SSH wire format (what a client presents). */
  readonly blob: Buffer;
  readonly comment: string;
  /** `SHA256:<base64>` as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
}

/** Key types and how many wire strings follow the type name in their blob. */
const FIELDS: Readonly<Record<string, number>> = {
  'ssh-ed25519': 1,
  'ssh-rsa': 2,
  'ecdsa-sha2-nistp256': 2,
  'ecdsa-sha2-nistp384': 2,
  'ecdsa-sha2-nistp521': 2,
  'sk-ssh-ed25519@openssh.com': 2,
  'sk-ecdsa-sha2-nistp256@openssh.com': 3,
};

export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Reads the SSH wire strings of a blob; `undefined` when a length runs past the end. */
function wireStrings(blob: Buffer): Buffer[] | undefined {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < blob.length) {
    if (pos + 4 > blob.length) return undefined;
    const len = blob.readUInt32BE(pos);
    if (pos + 4 + len > blob.length) return undefined;
    out.push(blob.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

/**
 * Parses one public key in OpenSSH format (`ssh-ed25519 AAAA… comment`, as in a `.pub` file).
 * Blank lines and `#` comments are skipped; exactly one key is expected. authorized_keys options
 * are refused. Throws `CONFIG_INVALID` saying what is wrong.
 */
export function parseOpenSshPublicKey(text: string): SshPublicKey {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length !== 1) {
    throw configInvalid(`expected exactly one OpenSSH public key, found ${lines.length} non-comment lines`);
  }
  const [type = '', b64 = '', ...rest] = (lines[0] as string).split(/\s+/);
  if (FIELDS[type] === undefined) {
    if (type === 'ssh-dss') throw configInvalid('DSA keys (ssh-dss) are not accepted');
    throw configInvalid(
      `not an OpenSSH public key: unknown key type (expected one of ${Object.keys(FIELDS).join(', ')}; authorized_keys options are not accepted)`,
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw configInvalid(`${type} key: the key data is not base64`);
  const blob = Buffer.from(b64, 'base64');
  const parts = wireStrings(blob);
  if (!parts || parts[0]?.toString('latin1') !== type || parts.length !== 1 + (FIELDS[type] ?? 0)) {
    throw configInvalid(`${type} key: the key data is not a ${type} key blob`);
  }
  if (type === 'ssh-ed25519' && parts[1]?.length !== 32) {
    throw configInvalid('ssh-ed25519 key: the public key is not 32 bytes');
  }
  return { algorithm: type, blob, comment: rest.join(' '), fingerprint: sshFingerprint(blob) };
}
