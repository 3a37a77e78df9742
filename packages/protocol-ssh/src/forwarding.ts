import type { Duplex } from 'node:stream';
import {
  AgentProtocol,
  BaseAgent,
  type Connection,
  type IdentityCallback,
  type ParsedKey,
  type SignCallback,
  type SigningRequestOptions,
} from 'ssh2';

/** ssh2 1.17's channel window and packet size (lib/Channel.js), announced like its own opens. */
const WINDOW = 2 * 1024 * 1024;
const PACKET = 32 * 1024;
const AGENT_CHANNEL = 'auth-agent@openssh.com';

interface OpenInternals {
  _protocol?: { openssh_authAgent?: (id: number, window: number, packet: number) => void };
  _chanMgr?: { add?: (wrapper: unknown) => number };
}

/**
 * Opens an `auth-agent@openssh.com` channel to the agent's client (the OpenSSH agent-forwarding
 * channel: the client connects it to its `SSH_AUTH_SOCK`). The client accepts it only after it
 * sent `auth-agent-req@openssh.com` itself.
 *
 * DEPENDS ON ssh2 INTERNALS (checked against ssh2 1.17.0, lib/server.js `openChannel`): the
 * server's Connection has no public method for this channel type, so this does what its
 * `openChannel` does for `x11`: `conn._chanMgr.add(callback with .type)`, then
 * `conn._protocol.openssh_authAgent(id, window, packetSize)`; ssh2's CHANNEL_OPEN_CONFIRMATION /
 * FAILURE handlers then call the callback. Rejects (never throws) when they are missing.
 */
export function openAgentChannel(conn: Connection): Promise<Duplex> {
  const c = conn as unknown as OpenInternals;
  const proto = c._protocol;
  const mgr = c._chanMgr;
  return new Promise<Duplex>((resolve, reject) => {
    if (typeof proto?.openssh_authAgent !== 'function' || typeof mgr?.add !== 'function') {
      reject(
        new Error(
          'ssh2 internals changed: Connection._protocol.openssh_authAgent / _chanMgr.add are not where ssh2 1.17 keeps them; agent forwarding is unavailable',
        ),
      );
      return;
    }
    const opened = (err: Error | undefined, ch: Duplex) => (err ? reject(err) : resolve(ch));
    const id = mgr.add(Object.assign(opened, { type: AGENT_CHANNEL }));
    if (id === -1) {
      reject(new Error('no free channels'));
      return;
    }
    proto.openssh_authAgent(id, WINDOW, PACKET);
  });
}

/** What the session decides and records about forwarded agent use. */
export interface AgentForwardingHooks {
  /** Whether agent forwarding was allowed on this connection (checked at each use). */
  allowed(): boolean;
  /** Opens a channel to the agent's own agent (see `openAgentChannel`). */
  open(): Promise<Duplex>;
  /**
   * Called before a signature request is relayed, with the key it names: records it (write-ahead)
   * and returns what to call with the outcome. A rejection refuses the request (fail closed).
   */
  signing(key: ParsedKey): Promise<(err: Error | undefined) => void>;
}

/**
 * The agent the gateway's target connection (ssh2 Client `agent`) forwards to the target: a relay
 * to the agent's own agent, over an `auth-agent@openssh.com` channel back to the agent's client.
 * Private keys never reach the gateway; it passes identity lists and signatures.
 *
 * Each agent channel the target opens (`getStream`) is answered by an agent-protocol server at
 * the gateway (ssh2 `AgentProtocol`, server role) that relays exactly two requests through one
 * channel to the agent's client (client role): REQUEST_IDENTITIES and SIGN_REQUEST. Every other
 * request (adding or removing keys, locking, extensions such as `session-bind@openssh.com`) is
 * answered with SSH_AGENT_FAILURE without reaching the agent. Keys ssh2 cannot parse
 * (certificates, FIDO `sk-` keys) are left out of the lists.
 */
export class ForwardedAgent extends BaseAgent<ParsedKey> {
  constructor(private readonly hooks: AgentForwardingHooks) {
    super();
  }

  /** ssh2 calls this for each `auth-agent@openssh.com` channel the target opens. */
  override getStream(cb: (err: Error | undefined, stream?: Duplex) => void): void {
    if (!this.hooks.allowed()) {
      cb(new Error('agent forwarding is not allowed'));
      return;
    }
    this.#upstream().then(
      ({ up, ch }) => {
        const down = new AgentProtocol(false);
        down.on('error', () => down.destroy());
        down.on('identities', (req) => {
          up.getIdentities((err, keys) =>
            err || !keys ? down.failureReply(req) : down.getIdentitiesReply(req, keys),
          );
        });
        down.on('sign', (req, key: ParsedKey, data: Buffer, flags: SigningRequestOptions) => {
          this.#sign(up, key, data, flags, (err, sig) =>
            err || !sig ? down.failureReply(req) : down.signReply(req, sig),
          );
        });
        let closed = false;
        const close = () => {
          if (closed) return;
          closed = true;
          down.destroy();
          ch.destroy();
        };
        down.once('close', close);
        down.once('end', close);
        ch.once('close', close);
        cb(undefined, down);
      },
      (err: Error) => cb(err),
    );
  }

  /** One identity list over a channel of its own (the target connection never uses it itself). */
  getIdentities(cb: IdentityCallback<ParsedKey>): void {
    if (!this.hooks.allowed()) {
      cb(new Error('agent forwarding is not allowed'));
      return;
    }
    this.#upstream().then(
      ({ up, ch }) =>
        up.getIdentities((err, keys) => {
          ch.destroy();
          cb(err ?? undefined, keys);
        }),
      (err: Error) => cb(err),
    );
  }

  /** One signature over a channel of its own, recorded like a forwarded one. */
  sign(key: ParsedKey, data: Buffer, options: SigningRequestOptions | SignCallback, cb?: SignCallback): void {
    const done = (typeof options === 'function' ? options : cb) ?? (() => {});
    const opts = typeof options === 'function' ? {} : options;
    if (!this.hooks.allowed()) {
      done(new Error('agent forwarding is not allowed'));
      return;
    }
    this.#upstream().then(
      ({ up, ch }) =>
        this.#sign(up, key, data, opts, (err, sig) => {
          ch.destroy();
          done(err, sig);
        }),
      (err: Error) => done(err),
    );
  }

  #sign(
    up: AgentProtocol,
    key: ParsedKey,
    data: Buffer,
    flags: SigningRequestOptions,
    cb: (err: Error | undefined, sig?: Buffer) => void,
  ): void {
    this.hooks.signing(key).then(
      (outcome) => {
        up.sign(key, data, flags.hash ? { hash: flags.hash } : {}, (err, sig) => {
          outcome(err ?? undefined);
          cb(err ?? undefined, sig);
        });
      },
      (err: Error) => cb(err),
    );
  }

  async #upstream(): Promise<{ up: AgentProtocol; ch: Duplex }> {
    const ch = await this.hooks.open();
    const up = new AgentProtocol(true);
    up.on('error', () => ch.destroy());
    ch.on('error', () => {});
    ch.once('close', () => up.destroy());
    up.pipe(ch).pipe(up);
    return { up, ch };
  }
}
