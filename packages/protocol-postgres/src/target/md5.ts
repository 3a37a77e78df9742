import { createHash } from 'node:crypto';

function md5hex(...parts: Array<string | Uint8Array>): string {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/**
 * The answer to AuthenticationMD5Password: `md5` + md5(md5(password + user) + salt), in hex.
 * The result is a credential: never log it.
 */
export function md5PasswordHash(user: string, password: string, salt: Uint8Array): string {
  return `md5${md5hex(md5hex(password, user), salt)}`;
}
