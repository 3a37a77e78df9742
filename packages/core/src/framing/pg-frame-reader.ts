import { framePgMessages } from '@tollgate/native';
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
 * contiguous (each message starts where the one before it ends).
 */
export interface PgFrames {
  buf: Buffer;
  index: Uint32Array;
}

const NO_FRAMES: PgFrames = { buf: Buffer.alloc(0), index: new Uint32Array(0) };

/**
 * Turns TCP chunks into complete PostgreSQL messages. Framing runs natively, one call per
 * chunk; a split message is kept as a list of pieces and joined once, when complete, so a large
 * message split over many reads costs one copy. A declared length above `maxMessageLength`
 * is a protocol error before anything is buffered for it.
 */
export class PgFrameReader {
  readonly maxMessageLength: number;
  #startup: boolean;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #needed = 0;

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
    const { buf, index } = this.pushFrames(chunk);
    const out: PgMessage[] = [];
    for (let i = 0; i + 2 < index.length; i += 3) {
      const start = index[i + 1] as number;
      out.push({ code: index[i] as number, bytes: buf.subarray(start, start + (index[i + 2] as number)) });
    }
    return out;
  }

  /**
   * `push`, returning the framer's index instead of an object per message: for the paths that
   * handle messages by the thousand (result rows), where only some messages need a `Buffer`.
   */
  pushFrames(chunk: Buffer): PgFrames {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    if (this.#pendingBytes < this.#needed) return NO_FRAMES;
    let buf = this.#pending.length === 1 ? chunk : Buffer.concat(this.#pending, this.#pendingBytes);
    let r: ReturnType<typeof framePgMessages>;
    try {
      r = framePgMessages(buf, this.maxMessageLength, this.#startup);
    } catch (err) {
      const message = (err as Error).message;
      const kind = message.includes('above the limit') ? Errors.MESSAGE_TOO_LARGE : Errors.PROTOCOL_VIOLATION;
      throw new TollgateError(kind, message, { cause: err });
    }
    const frames: PgFrames = { buf, index: r.frames };
    // start-up framing stops after one message: the rest stays buffered until endStartup()
    buf = buf.subarray(r.consumed);
    this.#needed = r.needed;
    this.#pending = buf.length > 0 ? [buf] : [];
    this.#pendingBytes = buf.length;
    return frames;
  }
}
