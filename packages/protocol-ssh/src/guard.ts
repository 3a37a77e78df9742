import type { Connection } from 'ssh2';

/**
 * RFC 4254 §5.2 flow-control checks that ssh2's server does not make, for one agent connection:
 *
 * - `SSH_MSG_CHANNEL_DATA` / `CHANNEL_EXTENDED_DATA` longer than what is left of the channel's
 *   incoming window (ssh2 1.17 lets the window go negative and keeps pushing the data into the
 *   channel's readable buffer: a client that ignores the window makes the gateway buffer
 *   without bound);
 * - `SSH_MSG_CHANNEL_WINDOW_ADJUST` that takes the outgoing window past 2^32-1 (ssh2 adds
 *   without a check).
 *
 * A violation calls `onViolation(reason)` once (the connection's 'error' event then carries a
 * `FlowControlError` saying the same: log that one), sends `SSH_MSG_DISCONNECT` (protocol error),
 * stops parsing the connection and closes the socket; the packet and everything after it are
 * dropped.
 *
 * DEPENDS ON ssh2 INTERNALS (checked against ssh2 1.17.0: lib/server.js, lib/protocol/
 * Protocol.js, lib/protocol/handlers.misc.js, lib/Channel.js): `conn._protocol._handlers`
 * (the message handlers the server passes to its Protocol, called as `(proto, recipient, …)`),
 * `conn._chanMgr.get(id)` (a `Channel`, or a `Session` whose windows are in `_chanInfo`, shared
 * with its `_channel`), `channel.incoming.window` / `outgoing.window`, `proto.disconnect`, and
 * `conn._sock`. `installFlowGuard` throws when one of them is missing, and guard.test.ts runs
 * it on a real ssh2 connection, so an ssh2 upgrade that moves them fails the tests.
 */
export function installFlowGuard(conn: Connection, onViolation: (reason: string) => void): void {
  const c = conn as unknown as Internals;
  const proto = c._protocol;
  const handlers = proto?._handlers;
  const sock = c._sock;
  if (
    !handlers ||
    typeof proto.disconnect !== 'function' ||
    typeof handlers.CHANNEL_DATA !== 'function' ||
    typeof handlers.CHANNEL_EXTENDED_DATA !== 'function' ||
    typeof handlers.CHANNEL_WINDOW_ADJUST !== 'function' ||
    typeof c._chanMgr?.get !== 'function' ||
    typeof sock?.destroySoon !== 'function'
  ) {
    throw new Error(
      'ssh2 internals changed: Connection._protocol._handlers.CHANNEL_* / _chanMgr.get / _sock are not where ssh2 1.17 keeps them; the flow-control guard cannot be installed',
    );
  }
  let violated = false;
  const windows = (id: number): Windows | undefined => {
    const ch = c._chanMgr.get(id);
    if (typeof ch !== 'object' || ch === null) return undefined;
    const w = (ch as { _chanInfo?: Windows })._chanInfo ?? (ch as Windows);
    return typeof w.incoming?.window === 'number' && typeof w.outgoing?.window === 'number' ? w : undefined;
  };
  const refuse = (reason: string): never => {
    violated = true;
    onViolation(reason);
    try {
      proto.disconnect(PROTOCOL_ERROR);
    } catch {
      // the socket is already gone
    }
    // ssh2's own fatal path does the same: no more parsing of what the peer sends
    sock.removeAllListeners('data');
    sock.resume();
    sock.destroySoon();
    // unwinds the packet loop of the current read (ssh2 ends the socket and emits the error)
    throw new FlowControlError(`protocol error: ${reason}; connection closed`);
  };
  const data =
    (next: DataHandler, what: string): DataHandler =>
    (p, recipient, payload, ...rest) => {
      if (violated) return;
      const w = windows(recipient);
      if (w && payload.length > w.incoming.window)
        refuse(
          `${what} of ${payload.length} bytes on channel ${recipient} exceeds its window (${Math.max(0, w.incoming.window)} bytes left)`,
        );
      return next(p, recipient, payload, ...rest);
    };
  const nextAdjust = handlers.CHANNEL_WINDOW_ADJUST;
  handlers.CHANNEL_DATA = data(handlers.CHANNEL_DATA, 'channel data');
  handlers.CHANNEL_EXTENDED_DATA = data(handlers.CHANNEL_EXTENDED_DATA, 'extended channel data');
  handlers.CHANNEL_WINDOW_ADJUST = (p, recipient, amount) => {
    if (violated) return;
    const w = windows(recipient);
    if (w && w.outgoing.window + amount > MAX_WINDOW)
      refuse(`window adjust of ${amount} bytes on channel ${recipient} takes the window past 2^32-1`);
    return nextAdjust(p, recipient, amount);
  };
}

/** What the connection's 'error' event carries after a violation (its message names it). */
export class FlowControlError extends Error {
  readonly level = 'protocol';
}

/** RFC 4253 §11.1 SSH_DISCONNECT_PROTOCOL_ERROR. */
const PROTOCOL_ERROR = 2;
/** RFC 4254 §5.2: a window must not be increased above 2^32 - 1 bytes. */
const MAX_WINDOW = 0xffffffff;

type DataHandler = (p: unknown, recipient: number, data: Buffer, ...rest: unknown[]) => unknown;
type AdjustHandler = (p: unknown, recipient: number, amount: number) => unknown;
interface Windows {
  incoming: { window: number };
  outgoing: { window: number };
}
interface Internals {
  _protocol: {
    _handlers?: {
      CHANNEL_DATA: DataHandler;
      CHANNEL_EXTENDED_DATA: DataHandler;
      CHANNEL_WINDOW_ADJUST: AdjustHandler;
    };
    disconnect(reason: number): void;
  };
  _chanMgr: { get(id: number): unknown };
  _sock: {
    removeAllListeners(event: string): unknown;
    resume(): unknown;
    destroySoon(): void;
  };
}

/**
 * Writes `text` as stderr (`SSH_MSG_CHANNEL_EXTENDED_DATA`, type 1) on the channel of an sftp
 * subsystem, which ssh2 offers no stream for (its server-side `SFTP` has a stub `stderr`).
 * OpenSSH's sftp client shows it on its terminal; sftp clients that do not just drop it. Used
 * for notices only: when the channel's window or packet size has no room, nothing is sent and
 * the result is false.
 *
 * DEPENDS ON ssh2 INTERNALS (ssh2 1.17.0, lib/protocol/SFTP.js): `sftp._protocol.channelExtData`
 * and `sftp.outgoing` (`id`, `window`, `packetSize`, the same object ssh2 counts its own writes
 * against); throws when they are missing, and guard.test.ts checks them on a real ssh2 sftp
 * channel.
 */
export function sftpStderr(sftp: object, text: string): boolean {
  const s = sftp as SftpInternals;
  const out = s.outgoing;
  if (
    typeof s._protocol?.channelExtData !== 'function' ||
    typeof out?.id !== 'number' ||
    typeof out.window !== 'number' ||
    typeof out.packetSize !== 'number'
  ) {
    throw new Error(
      'ssh2 internals changed: SFTP._protocol.channelExtData / SFTP.outgoing are not where ssh2 1.17 keeps them; no stderr on sftp channels',
    );
  }
  const data = Buffer.from(text, 'utf8');
  if (data.length > out.window || data.length > out.packetSize || out.state === 'closed') return false;
  out.window -= data.length;
  s._protocol.channelExtData(out.id, data, STDERR);
  return true;
}

const STDERR = 1;

interface SftpInternals {
  _protocol?: { channelExtData?(id: number, data: Buffer, type: number): void };
  outgoing?: { id?: number; window?: number; packetSize?: number; state?: string };
}
