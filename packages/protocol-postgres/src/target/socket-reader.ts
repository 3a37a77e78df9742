import type { Socket } from 'node:net';

/**
 * Reads whole PostgreSQL messages from a socket during connection set-up, with a bound on
 * message length. `detach()` removes its listeners, pauses the socket and returns the bytes read
 * but not consumed, so the socket can be handed over with nothing lost.
 */
export class SocketReader {
  readonly #socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #failure: Error | undefined;
  #ended = false;
  #wake: (() => void) | undefined;
  readonly #onData = (chunk: Buffer): void => {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#notify();
  };
  readonly #onError = (err: Error): void => {
    this.fail(this.#mapError(err));
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#notify();
  };

  readonly #mapError: (err: Error) => Error;

  /** `mapError` turns a socket error into the error reads reject with. */
  constructor(socket: Socket, mapError: (err: Error) => Error = (e) => e) {
    this.#socket = socket;
    this.#mapError = mapError;
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
  }

  /** Makes every pending and later read reject with `err` (first failure wins). */
  fail(err: Error): void {
    this.#failure ??= err;
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async #fill(n: number, onEnd: () => Error): Promise<void> {
    while (this.#buf.length < n) {
      if (this.#failure) throw this.#failure;
      if (this.#ended) throw onEnd();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#failure) throw this.#failure;
  }

  /** Exactly `n` bytes. */
  async readBytes(n: number, onEnd: () => Error): Promise<Buffer> {
    await this.#fill(n, onEnd);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** One whole message: type byte, int32 length, body. */
  async readMessage(
    maxLength: number,
    onEnd: () => Error,
    onTooLong: (len: number) => Error,
  ): Promise<Buffer> {
    await this.#fill(5, onEnd);
    const len = this.#buf.readInt32BE(1);
    if (len < 4 || len > maxLength) throw onTooLong(len);
    return this.readBytes(1 + len, onEnd);
  }

  /** Stops reading: listeners off, socket paused; returns what was read and not consumed. */
  detach(): Buffer {
    this.#socket.pause();
    this.#socket.off('data', this.#onData);
    this.#socket.off('error', this.#onError);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onEnd);
    const rest = this.#buf;
    this.#buf = Buffer.alloc(0);
    return rest;
  }
}
