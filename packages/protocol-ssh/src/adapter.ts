import type { Socket } from 'node:net';
import type { ConnectionContext, ProtocolAdapter } from '@tollgate/core';
import { Server } from 'ssh2';
import { type HostKey, loadOrCreateHostKey } from './host-key';
import { type SshAdapterOptions, SshSession } from './session';

/**
 * The SSH adapter: unmodified clients (OpenSSH ssh, the ssh2 client) connect with the policy
 * resource as the user name (`resource` or `identity@resource`) and authenticate with their
 * gateway token as the password or with a public key registered to their identity. The core
 * `Listener` owns the socket; each accepted socket is handed to an ssh2 server for the key
 * exchange (`injectSocket`), and everything after that is an `SshSession`. See docs/ssh.md.
 */
export class SshAdapter implements ProtocolAdapter {
  readonly protocol = 'ssh' as const;
  /** The gateway's host key: agents pin `hostKey.publicKey` in their known_hosts. */
  readonly hostKey: HostKey;

  constructor(private readonly opts: SshAdapterOptions) {
    this.hostKey = loadOrCreateHostKey(opts.hostKeyFile);
  }

  serve(socket: Socket, ctx: ConnectionContext): Promise<void> {
    socket.setNoDelay(true);
    const helloMs = this.opts.authTimeoutMs ?? 30_000;
    return new Promise<void>((resolve) => {
      let session: Promise<void> | undefined;
      let timedOut = false;
      const hello = new HelloWatch();
      // One ssh2 server per connection: it has no socket of its own, only this one injected.
      // Its 'connection' event comes once the client's version line is read.
      const server = new Server({ hostKeys: [{ key: this.hostKey.key }], ident: 'Tollgate' }, (client) => {
        hello.stop();
        session = new SshSession(client, ctx, this.opts, socket).run();
        session.then(resolve, resolve);
      });
      server.on('error', (err: Error) => ctx.log(`ssh ${ctx.remote}: ${err.message}`));
      // Bounded: a peer that never sends its identification line costs one timer
      const timer = setTimeout(() => {
        if (session) return;
        timedOut = true;
        socket.destroy();
      }, helloMs);
      socket.once('close', () => {
        clearTimeout(timer);
        if (session) return;
        // ssh2 silences what goes wrong before the version exchange: say it here, once
        ctx.log(
          `ssh ${ctx.remote}: connection closed before the SSH version exchange: ${hello.reason(timedOut, helloMs)}`,
        );
        resolve();
      });
      server.injectSocket(socket);
      // after injectSocket: ssh2 has paused the socket, so this listener does not start the flow
      hello.watch(socket);
    });
  }
}

/** ssh2 refuses an identification line longer than this (lib/protocol/Protocol.js). */
const MAX_IDENT_LINE = 8192;

/**
 * Watches what a peer sends before the SSH version exchange completes, so that a connection
 * refused or dropped then can be logged with a reason. Keeps a few counters, never the bytes
 * (they could be anything, secrets included).
 */
export class HelloWatch {
  #total = 0;
  #lineEnded = false;
  #ssh: boolean | undefined;
  #head = '';
  #socket: Socket | undefined;
  readonly #onData = (b: Buffer) => this.seen(b);

  /** Counts what `socket` delivers until `stop()`. */
  watch(socket: Socket): void {
    this.#socket = socket;
    socket.on('data', this.#onData);
  }

  /** Counts one chunk from the peer. */
  seen(b: Buffer): void {
    this.#total += b.length;
    if (this.#ssh === undefined && this.#head.length < 4) {
      this.#head += b.subarray(0, 4 - this.#head.length).toString('latin1');
      if (this.#head.length >= 4 || b.includes(0x0a)) this.#ssh = this.#head === 'SSH-';
    }
    if (!this.#lineEnded && b.includes(0x0a)) this.#lineEnded = true;
  }

  stop(): void {
    this.#socket?.off('data', this.#onData);
  }

  /** Why the exchange did not happen, from what was seen. */
  reason(timedOut: boolean, timeoutMs: number): string {
    const got = `${this.#total} bytes received`;
    if (timedOut) return `no SSH identification line within ${Math.round(timeoutMs / 1000)} s (${got})`;
    if (this.#total === 0) return 'the peer closed without sending an SSH identification line';
    if (this.#ssh === false) return `not an SSH client: its first line does not start with "SSH-" (${got})`;
    if (!this.#lineEnded && this.#total >= MAX_IDENT_LINE)
      return `identification line longer than ${MAX_IDENT_LINE} bytes (${got})`;
    if (this.#lineEnded) return `invalid SSH identification line (${got}; only SSH-2.0 is spoken)`;
    return `the peer closed in the middle of its identification line (${got})`;
  }
}
