import type { Duplex } from 'node:stream';

/**
 * Pull-style reading from a socket: `read()` resolves with the next chunk, `null` at the end.
 * At most `highWater` bytes are queued before the socket is paused (backpressure towards the
 * peer). `detach()` stops reading so the socket can be handed on (the TLS upgrade).
 */
export class ChunkReader {
  readonly #chunks: Buffer[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  readonly #onData = (c: Buffer) => {
    this.#chunks.push(c);
    this.#queued += c.length;
    if (this.#queued >= this.highWater) this.sock.pause();
    this.#notify();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };
  readonly #onError = (err: Error) => {
    this.#error = err;
    this.#ended = true;
    this.#notify();
  };

  constructor(
    readonly sock: Duplex,
    private readonly highWater = 1 << 20,
  ) {
    sock.on('data', this.#onData);
    sock.on('end', this.#onEnd);
    sock.on('close', this.#onEnd);
    sock.on('error', this.#onError);
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** The next chunk (all queued chunks joined), or `null` when the peer is gone. */
  async read(): Promise<Buffer | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const out =
      this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#queued);
    this.#chunks.length = 0;
    this.#queued = 0;
    if (this.sock.isPaused()) this.sock.resume();
    return out;
  }

  get error(): Error | undefined {
    return this.#error;
  }

  /** Stops reading; returns bytes received but not yet read. */
  detach(): Buffer {
    this.sock.pause();
    this.sock.off('data', this.#onData);
    this.sock.off('end', this.#onEnd);
    this.sock.off('close', this.#onEnd);
    this.sock.off('error', this.#onError);
    const rest = Buffer.concat(this.#chunks);
    this.#chunks.length = 0;
    this.#queued = 0;
    return rest;
  }
}
