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
    return new Promise<void>((resolve) => {
      let session: Promise<void> | undefined;
      // One ssh2 server per connection: it has no socket of its own, only this one injected.
      const server = new Server({ hostKeys: [{ key: this.hostKey.key }], ident: 'Tollgate' }, (client) => {
        session = new SshSession(client, ctx, this.opts).run();
        session.then(resolve, resolve);
      });
      server.on('error', (err: Error) => ctx.log(`ssh ${ctx.remote}: ${err.message}`));
      // Bounded: a peer that never sends its identification line costs one timer
      const hello = setTimeout(() => {
        if (!session) socket.destroy();
      }, this.opts.authTimeoutMs ?? 30_000);
      socket.once('close', () => {
        clearTimeout(hello);
        if (!session) resolve();
      });
      server.injectSocket(socket);
    });
  }
}
