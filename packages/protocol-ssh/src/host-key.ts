import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Errors, TollgateError } from '@tollgate/core';
import { type ParsedKey, utils } from 'ssh2';

/** `SHA256:<base64, no padding>` of an SSH public key blob, as `ssh-keygen -lf` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

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
    const pair = generateHostKey();
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

/**
 * A new Ed25519 key pair in OpenSSH format (`private`: the key file's text, `public`: an
 * authorized_keys line), checked before it is used: ssh2 1.17's generator drops a leading zero
 * byte of the public key about once in 300 keys and writes a file its own parser then refuses
 * ("Malformed OpenSSH private key"), which would stop a first start.
 */
export function generateHostKey(attempts = 16): { private: string; public: string } {
  for (let i = 0; i < attempts; i++) {
    const text = utils.generateKeyPairSync('ed25519').private;
    const parsed = utils.parseKey(text);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error || !key.isPrivateKey()) continue;
    const probe = Buffer.from('tollgate host key check');
    const sig = key.sign(probe);
    if (sig instanceof Error || key.verify(probe, sig) !== true) continue;
    return { private: text, public: `${key.type} ${key.getPublicSSH().toString('base64')}` };
  }
  throw new TollgateError(Errors.CONFIG_INVALID, 'cannot generate a valid Ed25519 host key');
}

function unreadable(path: string, err: Error): TollgateError {
  return new TollgateError(Errors.CONFIG_INVALID, `ssh.hostKeyFile ${path}: ${err.message}`);
}

// --- known_hosts for targets -------------------------------------------------------------------

/** One key line of an OpenSSH known_hosts file (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT). */
export interface KnownHostsEntry {
  /** 1-based line number, for messages. */
  readonly line: number;
  /** `@revoked`: this key must never be accepted for the hosts the line names. */
  readonly revoked: boolean;
  /** The host field as written: `name,[name]:port,pattern*,!negated` or `|1|salt|hash`. */
  readonly hosts: string;
  /** Key type as written, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`. */
  readonly keyType: string;
  readonly key: Buffer;
}

/** Bound on a known_hosts file the gateway reads (bytes). */
const MAX_KNOWN_HOSTS_BYTES = 16 * 1024 * 1024;

/**
 * Parses known_hosts text: comments and blank lines skipped, `@cert-authority` lines skipped
 * (host certificates are not supported), `@revoked` lines kept as such. A line that is not
 * `[marker] hosts keytype base64 [comment]` is an error naming `file:line`.
 */
export function parseKnownHosts(text: string, file: string): KnownHostsEntry[] {
  const out: KnownHostsEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/[ \t]+/);
    let revoked = false;
    if (fields[0]?.startsWith('@')) {
      const marker = fields.shift();
      if (marker === '@cert-authority') continue;
      if (marker !== '@revoked') throw badLine(file, i + 1, `unknown marker ${marker}`);
      revoked = true;
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64) throw badLine(file, i + 1, 'expected: hosts keytype base64-key');
    const key = Buffer.from(b64, 'base64');
    // the blob starts with its own type name: a cheap check that the line is what it says
    const nameLen = key.length >= 4 ? key.readUInt32BE(0) : -1;
    if (
      nameLen < 1 ||
      key.length < 4 + nameLen ||
      key.subarray(4, 4 + nameLen).toString('latin1') !== keyType
    ) {
      throw badLine(file, i + 1, `the key is not a ${keyType} public key`);
    }
    out.push({ line: i + 1, revoked, hosts, keyType, key });
  }
  return out;
}

function badLine(file: string, line: number, why: string): TollgateError {
  return new TollgateError(Errors.CONFIG_INVALID, `known_hosts ${file}:${line}: ${why}`);
}

/** `host` for port 22, `[host]:port` otherwise, lower-cased as OpenSSH does: how known_hosts names a target. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** Whether the host field of a known_hosts line names `name` (hashed, patterns, negations). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const want = Buffer.from(hash, 'base64');
    const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return want.length === got.length && timingSafeEqual(want, got);
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    if (!globMatch(negated ? pattern.slice(1) : pattern, name.toLowerCase())) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** OpenSSH patterns: `*` any run, `?` one character; case-insensitive; the whole name. */
function globMatch(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  // two pointers with backtracking to the last `*`: O(p × n), no regular expression
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (j < name.length) {
    if (i < p.length && (p[i] === '?' || p[i] === name[j])) {
      i++;
      j++;
    } else if (i < p.length && p[i] === '*') {
      star = i++;
      mark = j;
    } else if (star >= 0) {
      i = star + 1;
      j = ++mark;
    } else {
      return false;
    }
  }
  while (p[i] === '*') i++;
  return i === p.length;
}

/** ssh2's host key algorithms that a known_hosts key type can be negotiated with, best first. */
const ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ssh-dss': ['ssh-dss'],
};

/**
 * What a known_hosts file says about one target: the keys it accepts and the ones it revokes.
 * `check` answers whether a presented key blob is acceptable, and if not, why — in words that
 * name the file, the host name looked up and the presented fingerprint.
 */
export class KnownHostsCheck {
  private constructor(
    readonly file: string,
    /** The name looked up: `host` or `[host]:port`. */
    readonly name: string,
    readonly accepted: readonly KnownHostsEntry[],
    readonly revoked: readonly KnownHostsEntry[],
  ) {}

  /** Reads `file` (bounded, at each connection: edits apply without a reload) for `host`:`port`. */
  static load(file: string, host: string, port: number): KnownHostsCheck {
    let text: string;
    try {
      if (statSync(file).size > MAX_KNOWN_HOSTS_BYTES) {
        throw new Error(`larger than ${MAX_KNOWN_HOSTS_BYTES} bytes`);
      }
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TollgateError(Errors.CONFIG_INVALID, `known_hosts ${file}: ${(err as Error).message}`);
    }
    return KnownHostsCheck.fromText(text, file, host, port);
  }

  static fromText(text: string, file: string, host: string, port: number): KnownHostsCheck {
    const name = knownHostsName(host, port);
    const entries = parseKnownHosts(text, file).filter((e) => hostFieldMatches(e.hosts, name));
    return new KnownHostsCheck(
      file,
      name,
      entries.filter((e) => !e.revoked),
      entries.filter((e) => e.revoked),
    );
  }

  /**
   * Host key algorithms to offer the target, in ssh2's order of preference, so that it presents
   * a key of a type the file lists (as OpenSSH does); undefined when the file lists none ssh2 knows.
   */
  algorithms(): string[] | undefined {
    const set = new Set(this.accepted.flatMap((e) => ALGORITHMS[e.keyType] ?? []));
    const order = Object.values(ALGORITHMS).flat();
    const list = order.filter((a) => set.has(a));
    return list.length ? list : undefined;
  }

  /** Undefined when `key` is listed for the host and not revoked; else the reason it is refused. */
  check(key: Buffer): string | undefined {
    const seen = `${fingerprint(key)} (${keyTypeOf(key)})`;
    const revoked = this.revoked.find((e) => e.key.equals(key));
    if (revoked) {
      return `the target presented ${seen}, which ${this.file}:${revoked.line} marks @revoked`;
    }
    if (this.accepted.some((e) => e.key.equals(key))) return undefined;
    if (this.accepted.length === 0) {
      return `the target presented ${seen}, and ${this.file} has no entry for ${this.name}`;
    }
    const listed = this.accepted.map((e) => `${fingerprint(e.key)} (${e.keyType}, line ${e.line})`);
    return `the target presented ${seen}, which ${this.file} does not list for ${this.name} (it lists ${listed.join(', ')})`;
  }
}

/** The type name an SSH public key blob starts with. */
export function keyTypeOf(blob: Buffer): string {
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return n > 0 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString('latin1') : 'unknown';
}
