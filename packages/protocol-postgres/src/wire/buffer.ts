// Bounds-checked reading and exact-size writing of message bodies, shared by every codec.
import { Errors, TollgateError } from '@tollgate/core';
import { codeName } from './codes';

export function violation(message: string): TollgateError {
  return new TollgateError(Errors.PROTOCOL_VIOLATION, message);
}

/**
 * A cursor over one message body. Every read checks the bounds and throws PROTOCOL_VIOLATION
 * naming the message, so a malformed body never reads past its end or into the next message.
 */
export class MessageReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    /** Message name used in errors, e.g. `Bind`. */
    readonly what: string,
    start: number,
    readonly end: number = buf.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  #need(n: number, field: string): void {
    if (this.end - this.pos < n) {
      throw violation(
        `${this.what} message is truncated: ${field} needs ${n} byte(s) at offset ${this.pos}, ${Math.max(0, this.end - this.pos)} left`,
      );
    }
  }

  byte(field: string): number {
    this.#need(1, field);
    return this.buf[this.pos++] as number;
  }

  int16(field: string): number {
    this.#need(2, field);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(field: string): number {
    this.#need(4, field);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint32(field: string): number {
    this.#need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /**
   * A count read as PostgreSQL reads it (unsigned 16-bit: up to 65535 parameters) that must
   * leave room for `minEach` bytes per element.
   */
  count16(field: string, minEach: number): number {
    this.#need(2, field);
    const n = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    if (n * minEach > this.end - this.pos) {
      throw violation(
        `${this.what} message: ${field} ${n} runs past the end of the message (${this.end - this.pos} byte(s) left)`,
      );
    }
    return n;
  }

  /** A NUL-terminated string, decoded as UTF-8. */
  cstring(field: string): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) {
      throw violation(`${this.what} message: ${field} at offset ${this.pos} has no NUL terminator`);
    }
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  /** `n` bytes, as a view (no copy). */
  bytes(n: number, field: string): Buffer {
    this.#need(n, field);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** An int32 length then that many bytes; -1 is NULL. */
  lengthPrefixed(field: string): Buffer | null {
    const n = this.int32(`${field} length`);
    if (n === -1) return null;
    if (n < 0) throw violation(`${this.what} message: ${field} has a negative length (${n})`);
    return this.bytes(n, field);
  }

  /** Everything up to the end, as a view. */
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }

  /** Requires the body to be fully consumed. */
  done(): void {
    if (this.pos !== this.end) {
      throw violation(`${this.what} message has ${this.end - this.pos} unexpected trailing byte(s)`);
    }
  }
}

/**
 * Checks a whole message's header (type byte, int32 length = bytes after the type byte) and
 * returns a reader over its body.
 */
export function openMessage(msg: Buffer, code: number, what: string): MessageReader {
  if (msg.length < 5)
    throw violation(`${what} message is ${msg.length} byte(s), shorter than its 5-byte header`);
  if (msg[0] !== code) {
    throw violation(`expected a ${what} message (${codeName(code)}), got ${codeName(msg[0] as number)}`);
  }
  const len = msg.readInt32BE(1);
  if (len !== msg.length - 1) {
    throw violation(`${what} message declares length ${len} but is ${msg.length - 1} byte(s) long`);
  }
  return new MessageReader(msg, what, 5);
}

/** Byte length of a string written as a C string (UTF-8 plus the NUL). */
export function cstringLength(s: string): number {
  return Buffer.byteLength(s, 'utf8') + 1;
}

/** Refuses a string that would not survive the trip as a C string. */
function checkNoNul(s: string, field: string): void {
  if (s.includes('\0')) throw violation(`${field} contains a NUL character`);
}

/**
 * Writes one message into a buffer allocated at its exact size. Callers compute the body
 * length first (`cstringLength` etc.), so building a message costs one allocation.
 */
export class MessageWriter {
  readonly buf: Buffer;
  pos: number;

  /** `code` 0 writes a start-up-phase message (no type byte). */
  constructor(code: number, bodyLength: number) {
    const head = code === 0 ? 4 : 5;
    this.buf = Buffer.allocUnsafe(head + bodyLength);
    if (code !== 0) this.buf[0] = code;
    // length includes itself but not the type byte
    this.buf.writeInt32BE(bodyLength + 4, head - 4);
    this.pos = head;
  }

  byte(v: number): this {
    this.buf[this.pos++] = v;
    return this;
  }

  int16(v: number): this {
    this.pos = this.buf.writeInt16BE(v, this.pos);
    return this;
  }

  /** A count, unsigned 16-bit as PostgreSQL reads it. */
  count16(n: number, field: string): this {
    if (n > 0xffff) throw violation(`${field} ${n} exceeds the protocol's limit of 65535`);
    this.pos = this.buf.writeUInt16BE(n, this.pos);
    return this;
  }

  int32(v: number): this {
    this.pos = this.buf.writeInt32BE(v, this.pos);
    return this;
  }

  uint32(v: number): this {
    this.pos = this.buf.writeUInt32BE(v, this.pos);
    return this;
  }

  cstring(s: string, field = 'string'): this {
    checkNoNul(s, field);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    this.buf[this.pos++] = 0;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** An int32 length then the bytes; null writes -1. */
  lengthPrefixed(b: Uint8Array | null): this {
    if (b === null) return this.int32(-1);
    this.int32(b.length);
    return this.bytes(b);
  }

  /** Returns the message; the computed length must have been exact. */
  finish(): Buffer {
    if (this.pos !== this.buf.length) {
      throw new Error(`internal: message body written ${this.pos} of ${this.buf.length} bytes`);
    }
    return this.buf;
  }
}

/** A message with an empty body (Sync, Flush, ParseComplete, …). */
export function emptyMessage(code: number): Buffer {
  return new MessageWriter(code, 0).finish();
}

/** Checks that `msg` is an empty-bodied message of that code. */
export function parseEmpty(msg: Buffer, code: number, what: string): void {
  openMessage(msg, code, what).done();
}
