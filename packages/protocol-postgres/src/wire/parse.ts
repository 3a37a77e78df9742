// Parse (F, 'P') and its answer ParseComplete (B, '1').

import { cstringLength, emptyMessage, MessageWriter, openMessage, parseEmpty } from './buffer';
import { BackendCode, FrontendCode } from './codes';

export interface Parse {
  readonly type: 'Parse';
  /** Prepared statement name; '' is the unnamed statement. */
  readonly name: string;
  readonly sql: string;
  /** Parameter type OIDs the client pins (0 = let the server infer); may be fewer than the parameters. */
  readonly paramTypes: number[];
}

export function parseParse(msg: Buffer): Parse {
  const r = openMessage(msg, FrontendCode.Parse, 'Parse');
  const name = r.cstring('statement name');
  const sql = r.cstring('query string');
  const n = r.count16('parameter type count', 4);
  const paramTypes = new Array<number>(n);
  // OIDs are unsigned 32-bit
  for (let i = 0; i < n; i++) paramTypes[i] = r.uint32('parameter type OID');
  r.done();
  return { type: 'Parse', name, sql, paramTypes };
}

export function buildParse(m: Omit<Parse, 'type'>): Buffer {
  const w = new MessageWriter(
    FrontendCode.Parse,
    cstringLength(m.name) + cstringLength(m.sql) + 2 + 4 * m.paramTypes.length,
  )
    .cstring(m.name, 'statement name')
    .cstring(m.sql, 'query string')
    .count16(m.paramTypes.length, 'parameter type count');
  for (const oid of m.paramTypes) w.uint32(oid);
  return w.finish();
}

export function buildParseComplete(): Buffer {
  return emptyMessage(BackendCode.ParseComplete);
}

export interface ParseComplete {
  readonly type: 'ParseComplete';
}

export function parseParseComplete(msg: Buffer): ParseComplete {
  parseEmpty(msg, BackendCode.ParseComplete, 'ParseComplete');
  return { type: 'ParseComplete' };
}
