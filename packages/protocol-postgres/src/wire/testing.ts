// Test helpers for the codecs: malformed fixtures are derived from builders' output, not hex.
import { TollgateError } from '@tollgate/core';

/** An assert.throws predicate: a PROTOCOL_VIOLATION whose message matches. */
export function violation(re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof TollgateError) || e.code !== 'TG_PROTOCOL_VIOLATION') return false;
    if (!re.test(e.message)) throw new Error(`message ${JSON.stringify(e.message)} does not match ${re}`);
    return true;
  };
}

/** A message with that type byte and body, length set right. */
export function rawMessage(code: number | string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head[0] = typeof code === 'string' ? code.charCodeAt(0) : code;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** The body of a whole message. */
export function bodyOf(msg: Buffer): Buffer {
  return msg.subarray(5);
}

/** `msg` with its body cut to `n` bytes and its length fixed to match. */
export function truncated(msg: Buffer, n: number): Buffer {
  return rawMessage(msg[0] as number, bodyOf(msg).subarray(0, n));
}

/** `msg` with extra bytes after its body, length fixed to match. */
export function withTrailing(msg: Buffer, extra: Uint8Array): Buffer {
  return rawMessage(msg[0] as number, Buffer.concat([bodyOf(msg), extra]));
}

/**
 * Calls `parse` on every truncation of `msg` and on copies with one byte changed: each must
 * parse or throw PROTOCOL_VIOLATION — never another error, never a read past the end.
 */
export function fuzzParse(msg: Buffer, parse: (m: Buffer) => unknown): { parsed: number; refused: number } {
  let parsed = 0;
  let refused = 0;
  const attempt = (m: Buffer): void => {
    try {
      parse(m);
      parsed++;
    } catch (e) {
      if (!(e instanceof TollgateError) || e.code !== 'TG_PROTOCOL_VIOLATION') throw e;
      refused++;
    }
  };
  const body = bodyOf(msg);
  for (let n = 0; n < body.length; n++) attempt(truncated(msg, n));
  for (let i = 0; i < body.length; i++) {
    for (const v of [0x00, 0x01, 0x7f, 0xff]) {
      const b = Buffer.from(body);
      b[i] = v;
      attempt(rawMessage(msg[0] as number, b));
    }
  }
  return { parsed, refused };
}
