// Start-up phase: StartupMessage (F), SSLRequest (F), GSSENCRequest (F), CancelRequest (F),
// NegotiateProtocolVersion (B). Start-up messages have no type byte: int32 length, int32 code.

import { cstringLength, MessageReader, MessageWriter, openMessage, violation } from './buffer';
import { BackendCode, StartupCode } from './codes';

export interface StartupMessage {
  readonly type: 'StartupMessage';
  /** Always 3: other major versions are refused by the parser. */
  readonly major: number;
  readonly minor: number;
  /** Run-time parameters (`user`, `database`, `application_name`, `options`, …), `_pq_.*` excluded. */
  readonly params: Map<string, string>;
  /** Protocol options requested with `_pq_.` names (name → value), in order. */
  readonly protocolOptions: Map<string, string>;
}

export interface SSLRequest {
  readonly type: 'SSLRequest';
}

export interface GSSENCRequest {
  readonly type: 'GSSENCRequest';
}

/** The key a server hands out in BackendKeyData, presented again to cancel a query. */
export interface BackendKey {
  readonly pid: number;
  readonly secret: number;
}

export interface CancelRequest extends BackendKey {
  readonly type: 'CancelRequest';
}

export type StartupPhaseMessage = StartupMessage | SSLRequest | GSSENCRequest | CancelRequest;

/** Highest protocol version the gateway speaks on either side. */
export const PROTOCOL_VERSION = { major: 3, minor: 0 } as const;

/**
 * Parses the first message of a connection (as PgFrameReader delivers it in start-up mode:
 * int32 length, int32 version or request code, body). Protocol versions other than 3.x are a
 * PROTOCOL_VIOLATION naming the version; 3.x with x > 0 parses, and `negotiateProtocolVersion`
 * gives the answer that steps the client down to 3.0.
 */
export function parseStartupPhase(msg: Buffer): StartupPhaseMessage {
  if (msg.length < 8) throw violation(`start-up message is ${msg.length} byte(s), shorter than 8`);
  const len = msg.readInt32BE(0);
  if (len !== msg.length) {
    throw violation(`start-up message declares length ${len} but is ${msg.length} byte(s) long`);
  }
  const code = msg.readInt32BE(4);
  switch (code) {
    case StartupCode.SSLRequest:
      new MessageReader(msg, 'SSLRequest', 8).done();
      return { type: 'SSLRequest' };
    case StartupCode.GSSENCRequest:
      new MessageReader(msg, 'GSSENCRequest', 8).done();
      return { type: 'GSSENCRequest' };
    case StartupCode.CancelRequest: {
      const r = new MessageReader(msg, 'CancelRequest', 8);
      const pid = r.int32('process ID');
      const secret = r.int32('secret key');
      r.done();
      return { type: 'CancelRequest', pid, secret };
    }
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) {
    throw violation(
      `unsupported frontend protocol ${major}.${minor}: Tollgate speaks protocol 3.0 (PostgreSQL 7.4 and later clients)`,
    );
  }
  return parseStartupBody(msg, major, minor);
}

function parseStartupBody(msg: Buffer, major: number, minor: number): StartupMessage {
  const r = new MessageReader(msg, 'StartupMessage', 8);
  const params = new Map<string, string>();
  const protocolOptions = new Map<string, string>();
  for (;;) {
    const name = r.cstring('parameter name');
    if (name === '') break;
    const value = r.cstring(`value of parameter "${name}"`);
    (name.startsWith('_pq_.') ? protocolOptions : params).set(name, value);
  }
  r.done();
  return { type: 'StartupMessage', major, minor, params, protocolOptions };
}

/** Builds a StartupMessage (protocol 3.0 unless `minor` says otherwise). */
export function buildStartupMessage(
  params: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  minor = 0,
): Buffer {
  const entries = params instanceof Map ? [...params] : Object.entries(params);
  let body = 4 + 1;
  for (const [k, v] of entries) body += cstringLength(k) + cstringLength(v);
  const w = new MessageWriter(0, body).int32((3 << 16) | minor);
  for (const [k, v] of entries) {
    if (k === '') throw violation('StartupMessage parameter name is empty');
    w.cstring(k, 'parameter name').cstring(v, `value of parameter "${k}"`);
  }
  return w.byte(0).finish();
}

export function buildSSLRequest(): Buffer {
  return new MessageWriter(0, 4).int32(StartupCode.SSLRequest).finish();
}

export function buildGSSENCRequest(): Buffer {
  return new MessageWriter(0, 4).int32(StartupCode.GSSENCRequest).finish();
}

export function buildCancelRequest(key: BackendKey): Buffer {
  return new MessageWriter(0, 12).int32(StartupCode.CancelRequest).int32(key.pid).int32(key.secret).finish();
}

export interface NegotiateProtocolVersion {
  readonly type: 'NegotiateProtocolVersion';
  /** The version the server will speak (newest it supports for the requested major). */
  readonly major: number;
  readonly minor: number;
  /** `_pq_.` options the server did not recognise. */
  readonly unrecognizedOptions: string[];
}

/**
 * The NegotiateProtocolVersion a server speaking 3.0 owes this StartupMessage, or undefined
 * when none is due (the client asked for 3.0 and no `_pq_.` option). Sent before the
 * authentication request; the connection then continues in 3.0.
 */
export function negotiateProtocolVersion(startup: StartupMessage): Buffer | undefined {
  if (startup.minor <= PROTOCOL_VERSION.minor && startup.protocolOptions.size === 0) return undefined;
  return buildNegotiateProtocolVersion({
    major: PROTOCOL_VERSION.major,
    minor: PROTOCOL_VERSION.minor,
    unrecognizedOptions: [...startup.protocolOptions.keys()],
  });
}

export function buildNegotiateProtocolVersion(m: Omit<NegotiateProtocolVersion, 'type'>): Buffer {
  let body = 8;
  for (const o of m.unrecognizedOptions) body += cstringLength(o);
  // PostgreSQL sends the whole version (major << 16 | minor), which is what libpq reads
  const w = new MessageWriter(BackendCode.NegotiateProtocolVersion, body)
    .int32((m.major << 16) | m.minor)
    .int32(m.unrecognizedOptions.length);
  for (const o of m.unrecognizedOptions) w.cstring(o, 'option name');
  return w.finish();
}

export function parseNegotiateProtocolVersion(msg: Buffer): NegotiateProtocolVersion {
  const r = openMessage(msg, BackendCode.NegotiateProtocolVersion, 'NegotiateProtocolVersion');
  const version = r.int32('protocol version');
  const n = r.int32('option count');
  if (n < 0 || n > r.remaining) {
    throw violation(`NegotiateProtocolVersion message: option count ${n} does not fit the message`);
  }
  const unrecognizedOptions: string[] = [];
  for (let i = 0; i < n; i++) unrecognizedOptions.push(r.cstring('option name'));
  r.done();
  return {
    type: 'NegotiateProtocolVersion',
    major: version >>> 16,
    minor: version & 0xffff,
    unrecognizedOptions,
  };
}
