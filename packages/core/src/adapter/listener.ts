import { setMaxListeners } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Errors, TollgateError } from '../errors';
import type { ProtocolAdapter } from './adapter';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Connections beyond this are closed at once (default 10 000). */
  readonly maxConnections?: number;
  /** Idle sockets: none here; adapters bound their own waits. */
  readonly log?: (line: string) => void;
}

/**
 * Owns one listening socket for one adapter: accepts, counts, limits, and shuts down by
 * aborting every session's signal and then destroying what is left after a grace period.
 */
export class Listener {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #shutdown = new AbortController();
  readonly #sessions = new Set<Promise<void>>();
  #port = 0;

  constructor(
    readonly adapter: ProtocolAdapter,
    private readonly opts: ListenerOptions,
  ) {
    const log = opts.log ?? (() => {});
    // Every session listens for shutdown on this one signal.
    setMaxListeners(0, this.#shutdown.signal);
    this.#server = createServer({ noDelay: true }, (socket) => {
      if (this.#sockets.size >= (opts.maxConnections ?? 10_000)) {
        log(`${adapter.protocol}: connection limit reached; refusing ${socket.remoteAddress}`);
        socket.destroy();
        return;
      }
      this.#sockets.add(socket);
      socket.on('error', () => {});
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      const session = adapter
        .serve(socket, { remote, signal: this.#shutdown.signal, log })
        .catch((err: Error) => log(`${adapter.protocol} ${remote}: session failed: ${err.message}`))
        .finally(() => {
          this.#sockets.delete(socket);
          this.#sessions.delete(session);
          if (!socket.destroyed) socket.destroy();
        });
      this.#sessions.add(session);
    });
    this.#server.on('error', (err) => log(`${adapter.protocol} listener: ${err.message}`));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) =>
        reject(
          new TollgateError(
            Errors.CONFIG_INVALID,
            `${this.adapter.protocol}: cannot listen on ${this.opts.host}:${this.opts.port}: ${err.message}`,
          ),
        );
      this.#server.once('error', onError);
      this.#server.listen(this.opts.port, this.opts.host, () => {
        this.#server.off('error', onError);
        const addr = this.#server.address();
        this.#port = typeof addr === 'object' && addr ? addr.port : 0;
        resolve(this.#port);
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops accepting, asks sessions to end, and destroys what remains after `graceMs`. */
  async close(graceMs = 5000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#shutdown.abort(new Error('gateway shutting down'));
    const all = Promise.allSettled([...this.#sessions]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      all,
      new Promise<void>((r) => {
        timer = setTimeout(r, graceMs);
      }),
    ]);
    clearTimeout(timer);
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
