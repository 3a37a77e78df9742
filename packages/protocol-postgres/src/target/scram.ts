// SCRAM-SHA-256 client (RFC 5802, RFC 7677) without channel binding (gs2 header `n,,`).
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { saslPrep } from './saslprep';

const pbkdf2Async = promisify(pbkdf2);

/** The gs2 header: no channel binding, no authorization identity. */
const GS2_HEADER = 'n,,';
/** Bound on the server's iteration count (PostgreSQL's default is 4096). */
export const MAX_SCRAM_ITERATIONS = 10_000_000;

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** Parses `a=1,b=2` attributes; values may contain '='. */
function attributes(message: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=') throw new ScramError(`malformed ${what}`);
    out.set(part[0] as string, part.slice(2));
  }
  return out;
}

/** A SCRAM exchange that cannot go on; the message never holds key material. */
export class ScramError extends Error {
  override readonly name = 'ScramError';
}

/**
 * One SCRAM-SHA-256 exchange: `clientFirst()` → send as SASLInitialResponse data;
 * `clientFinal(serverFirst)` → send as SASLResponse; `verifyServerFinal(serverFinal)` proves
 * the server knew the password too (a mismatch throws). Throws ScramError on any malformed or
 * inconsistent server message.
 */
export class ScramClient {
  readonly #password: string;
  readonly #clientNonce: string;
  readonly #clientFirstBare: string;
  #serverSignature: Buffer | undefined;

  /**
   * `user` is '' for PostgreSQL, which takes the role from the StartupMessage (as libpq does);
   * `nonce` is for test vectors only.
   */
  constructor(password: string, options: { user?: string; nonce?: string } = {}) {
    this.#password = password;
    this.#clientNonce = options.nonce ?? randomBytes(18).toString('base64');
    const user = (options.user ?? '').replaceAll('=', '=3D').replaceAll(',', '=2C');
    this.#clientFirstBare = `n=${user},r=${this.#clientNonce}`;
  }

  clientFirst(): string {
    return GS2_HEADER + this.#clientFirstBare;
  }

  async clientFinal(serverFirst: string): Promise<string> {
    const a = attributes(serverFirst, 'server-first-message');
    if (a.has('m')) throw new ScramError('server-first-message asks for an unsupported SCRAM extension');
    const nonce = a.get('r');
    const salt = a.get('s');
    const iterText = a.get('i');
    if (nonce === undefined || salt === undefined || iterText === undefined) {
      throw new ScramError('server-first-message lacks the nonce, salt or iteration count');
    }
    if (!nonce.startsWith(this.#clientNonce) || nonce.length === this.#clientNonce.length) {
      throw new ScramError('server nonce does not extend the client nonce');
    }
    const iterations = /^[1-9]\d{0,9}$/.test(iterText) ? Number(iterText) : 0;
    if (iterations < 1 || iterations > MAX_SCRAM_ITERATIONS) {
      throw new ScramError(
        `server asks for ${iterText} PBKDF2 iterations (accepted: 1 to ${MAX_SCRAM_ITERATIONS})`,
      );
    }
    const saltBytes = Buffer.from(salt, 'base64');
    if (saltBytes.length === 0) throw new ScramError('server-first-message has an empty salt');

    // PBKDF2 runs on the thread pool: a large iteration count does not block the event loop
    const salted = await pbkdf2Async(saslPrep(this.#password), saltBytes, iterations, 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=${Buffer.from(GS2_HEADER).toString('base64')},r=${nonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = (clientKey[i] as number) ^ (clientSignature[i] as number);
    this.#serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verifyServerFinal(serverFinal: string): void {
    if (this.#serverSignature === undefined)
      throw new ScramError('server-final-message before server-first-message');
    const a = attributes(serverFinal, 'server-final-message');
    const e = a.get('e');
    if (e !== undefined) throw new ScramError(`server refused the SCRAM exchange: ${e}`);
    const v = a.get('v');
    if (v === undefined) throw new ScramError('server-final-message lacks the server signature');
    const got = Buffer.from(v, 'base64');
    if (got.length !== this.#serverSignature.length || !timingSafeEqual(got, this.#serverSignature)) {
      throw new ScramError('the server signature does not match: the server does not know the password');
    }
  }
}
