import type { Socket } from 'node:net';
import type { Protocol } from '../control/policy';

/**
 * A protocol adapter: everything between an accepted socket and the target, for one protocol.
 * The listener owns sockets, limits and shutdown; the adapter owns the protocol. A session
 * goes through these phases, in this order (see docs/architecture.md for the picture):
 *
 * 1. **handshake** — protocol negotiation with the client (PostgreSQL: SSLRequest → TLS,
 *    StartupMessage; SSH: key exchange). Bad input gets a protocol-native error and the
 *    connection closes; nothing reaches a target.
 * 2. **authenticate** — the client's token (password, bearer, key) goes to the control
 *    plane's `Authenticator`; the identity is fixed for the session. Failures are audited.
 * 3. **connect** — the adapter resolves the policy resource the client named, takes the
 *    credential from the vault and opens the target connection. The client never sees it.
 * 4. **commands** — each command the client sends is classified by the adapter and run through
 *    `SessionPipeline.command`: forward, hold (wait for approval, then forward or reject), or
 *    reject with a protocol-native error. The write-ahead audit record is durable first.
 * 5. **results** — target output passes through the masker before it reaches the client;
 *    `SessionPipeline.result` records rows, bytes, duration and masked counts.
 * 6. **end** — either side closes, the listener shuts down (`signal` aborts), or a limit is hit;
 *    held approvals are cancelled and `session.end` is recorded.
 */
export interface ProtocolAdapter {
  readonly protocol: Protocol;
  /**
   * Serves one accepted connection until it ends. Must not throw: every failure is answered
   * the way the client expects and ends the connection; the process is never at risk.
   */
  serve(socket: Socket, ctx: ConnectionContext): Promise<void>;
}

export interface ConnectionContext {
  /** Client address as `ip:port`. */
  readonly remote: string;
  /** Aborted when the listener shuts down; adapters end the session politely. */
  readonly signal: AbortSignal;
  /** One line per event; never given a secret or a raw sensitive value. */
  readonly log: (line: string) => void;
}
