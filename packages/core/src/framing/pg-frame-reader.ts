import { framePgMessagesInto } from '@tollgate/native';
import { Errors, TollgateError } from '../errors';

/** One complete PostgreSQL message. `code` is 0 for a start-up-phase message. */
export interface PgMessage {
  code: number;
  /** The whole message, type byte and length included. */
  bytes: Buffer;
}

/**
 * Complete messages as the native framer indexes them, without an object per message:
 * `index` holds one (code, start, length) triple per message, offsets into `buf`, in order and
 * contiguous (each message starts where the one before it ends). `index` is the reader's own
 * array, valid until the next `pushFrames`: copy what must outlive it.
 */
export interface PgFrames {
  buf: Buffer;
  index: Uint32Array;
}

/** Bytes of a regular message's header: the type byte and the 4-byte length. */
const HEADER = 5;

/**
 * Turns TCP chunks into complete PostgreSQL messages. Framing runs natively, one call per
 * chunk, into an index array the reader keeps (no allocation per read). A message cut by a
 * read is kept as a list of pieces; once complete, only its own bytes are joined and the rest
 * of the chunk is framed where it lies, so a read costs no copy of the chunk and a large
 * message split over many reads costs one. A declared length above `maxMessageLength` is a
 * protocol error before anything is buffered for it.
 */
export class PgFrameReader {
  readonly maxMessageLength: number;
  #startup: boolean;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #needed = 0;
  /** The native framer's output: consumed, needed, then a triple per message (grown on demand). */
  #out = new Uint32Array(2 + 3 * 256);

  constructor(options: { maxMessageLength: number; startup?: boolean }) {
    this.maxMessageLength = options.maxMessageLength;
    this.#startup = options.startup ?? false;
  }

  /** Switches from start-up framing (no type byte) to regular framing; returns messages already buffered. */
  endStartup(): PgMessage[] {
    this.#startup = false;
    this.#needed = 0;
    return this.#pendingBytes > 0 ? this.push(Buffer.alloc(0)) : [];
  }

  /** Bytes held for an incomplete message. */
  get buffered(): number {
    return this.#pendingBytes;
  }

  /** Feeds a chunk and returns the messages it completes, in order. */
  push(chunk: Buffer): PgMessage[] {
    const out: PgMessage[] = [];
    for (const { buf, index } of this.pushFrames(chunk)) {
      for (let i = 0; i + 2 < index.length; i += 3) {
        const start = index[i + 1] as number;
        out.push({ code: index[i] as number, bytes: buf.subarray(start, start + (index[i + 2] as number)) });
      }
    }
    return out;
  }

  /**
   * `push`, returning the framer's index instead of an object per message: for the paths that
   * handle messages by the thousand (result rows), where only some messages need a `Buffer`.
   * Usually one `PgFrames`; two when the chunk completes a message an earlier read cut (that
   * message alone, then the rest of the chunk).
   */
  pushFrames(chunk: Buffer): PgFrames[] {
    const held = this.#pendingBytes;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes < this.#needed) return [];
    const total = this.#cutLength(held);
    if (total === 0) {
      const buf = this.#pending.length === 1 ? chunk : Buffer.concat(this.#pending, this.#pendingBytes);
      return this.#frame(buf);
    }
    if (this.#pendingBytes < total) {
      this.#needed = total;
      return [];
    }
    const take = total - held;
    const pieces = this.#pending;
    pieces[pieces.length - 1] = chunk.subarray(0, take);
    const message = Buffer.concat(pieces, total);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#needed = 0;
    const first: PgFrames = { buf: message, index: Uint32Array.of(message[0] as number, 0, total) };
    return take === chunk.length ? [first] : [first, ...this.#frame(chunk.subarray(take))];
  }

  /**
   * The length of the message the last read cut after `held` bytes, known once its header is
   * in; 0 when everything pending is to be framed as it is: nothing was cut, start-up bytes
   * (framed differently), or a bad declared length (the framer reports it, as it does for a
   * message within one read).
   */
  #cutLength(held: number): number {
    if (held === 0 || this.#startup || this.#needed === 0) return 0;
    if (held >= HEADER) return this.#needed;
    // only the header's bytes are joined (concat stops at the length it is given)
    const header = Buffer.concat(this.#pending, HEADER);
    const total = header.readInt32BE(1) + 1;
    return total < HEADER || total > this.maxMessageLength ? 0 : total;
  }

  /** Frames `buf`, which starts on a message boundary; keeps its incomplete tail. */
  #frame(buf: Buffer): PgFrames[] {
    let n: number;
    try {
      n = framePgMessagesInto(buf, this.maxMessageLength, this.#startup, this.#out);
      if (2 + 3 * n > this.#out.length) {
        this.#out = new Uint32Array(2 + 3 * Math.max(n, 2 * ((this.#out.length - 2) / 3)));
        n = framePgMessagesInto(buf, this.maxMessageLength, this.#startup, this.#out);
      }
    } catch (err) {
      const message = (err as Error).message;
      const kind = message.includes('above the limit') ? Errors.MESSAGE_TOO_LARGE : Errors.PROTOCOL_VIOLATION;
      throw new TollgateError(kind, message, { cause: err });
    }
    const consumed = this.#out[0] as number;
    // start-up framing stops after one message: the rest stays buffered until endStartup()
    const rest = buf.subarray(consumed);
    this.#needed = this.#out[1] as number;
    this.#pending = rest.length > 0 ? [rest] : [];
    this.#pendingBytes = rest.length;
    return n > 0 ? [{ buf, index: this.#out.subarray(2, 2 + 3 * n) }] : [];
  }
}
