import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Every service-account API key starts with this, so secret scanners and people recognise it. */
export const API_KEY_PREFIX = 'tgk_';
const ID_LENGTH = 12;
/** 43 base62 characters: about 256 bits of secret. */
const SECRET_LENGTH = 43;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SHAPE = new RegExp(`^${API_KEY_PREFIX}([0-9A-Za-z]{${ID_LENGTH}})_([0-9A-Za-z]{${SECRET_LENGTH}})$`);

/** Uniform random base62 string (rejection sampling, no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248) out += BASE62[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A fresh key `tgk_<id>_<secret>`; `id` is public (it names the key), the rest is secret. */
export function newApiKey(): { id: string; key: string } {
  const id = randomBase62(ID_LENGTH);
  return { id, key: `${API_KEY_PREFIX}${id}_${randomBase62(SECRET_LENGTH)}` };
}

/** The key id of a well-formed key, else `undefined`. */
export function apiKeyId(key: string): string | undefined {
  return SHAPE.exec(key)?.[1];
}

/** What the store keeps: hex SHA-256 of the whole key (the secret is high-entropy: no KDF needed). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented key with a stored hash. */
export function apiKeyMatches(key: string, storedHashHex: string): boolean {
  const a = createHash('sha256').update(key, 'utf8').digest();
  const b = Buffer.from(storedHashHex, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** How a key is shown after creation: its public part only. */
export function apiKeyLabel(id: string): string {
  return `${API_KEY_PREFIX}${id}_…`;
}
