// Bind (F, 'B') and its answer BindComplete (B, '2').

import {
  cstringLength,
  emptyMessage,
  type MessageReader,
  MessageWriter,
  openMessage,
  parseEmpty,
  violation,
} from './buffer';
import { BackendCode, FrontendCode } from './codes';

export interface Bind {
  readonly type: 'Bind';
  /** Destination portal; '' is the unnamed portal. */
  readonly portal: string;
  /** Source prepared statement; '' is the unnamed statement. */
  readonly statement: string;
  /** Parameter format codes: none (all text), one (applies to all) or one per parameter. */
  readonly paramFormats: number[];
  /** Parameter values as views into the message (no copy); null is SQL NULL. */
  readonly params: Array<Buffer | null>;
  /** Result column format codes, same convention as `paramFormats`. */
  readonly resultFormats: number[];
}

/**
 * The format code of parameter or column `i` under the "none / one / one each" convention of
 * Bind and FunctionCall (0 text, 1 binary).
 */
export function formatOf(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  if (formats.length === 1) return formats[0] as number;
  return formats[i] ?? 0;
}

function readFormats(r: MessageReader, field: string): number[] {
  const n = r.count16(`${field} count`, 2);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const f = r.int16(field);
    if (f !== 0 && f !== 1)
      throw violation(`${r.what} message: ${field} ${f} is neither 0 (text) nor 1 (binary)`);
    out[i] = f;
  }
  return out;
}

export function parseBind(msg: Buffer): Bind {
  const r = openMessage(msg, FrontendCode.Bind, 'Bind');
  const portal = r.cstring('portal name');
  const statement = r.cstring('statement name');
  const paramFormats = readFormats(r, 'parameter format code');
  const n = r.count16('parameter count', 4);
  if (paramFormats.length > 1 && paramFormats.length !== n) {
    throw violation(`Bind message has ${paramFormats.length} parameter format codes for ${n} parameters`);
  }
  const params = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) params[i] = r.lengthPrefixed(`parameter ${i + 1}`);
  const resultFormats = readFormats(r, 'result format code');
  r.done();
  return { type: 'Bind', portal, statement, paramFormats, params, resultFormats };
}

export function buildBind(m: Omit<Bind, 'type'>): Buffer {
  let body = cstringLength(m.portal) + cstringLength(m.statement) + 2 + 2 * m.paramFormats.length + 2;
  for (const p of m.params) body += 4 + (p?.length ?? 0);
  body += 2 + 2 * m.resultFormats.length;
  const w = new MessageWriter(FrontendCode.Bind, body)
    .cstring(m.portal, 'portal name')
    .cstring(m.statement, 'statement name')
    .count16(m.paramFormats.length, 'parameter format code count');
  for (const f of m.paramFormats) w.int16(f);
  w.count16(m.params.length, 'parameter count');
  for (const p of m.params) w.lengthPrefixed(p);
  w.count16(m.resultFormats.length, 'result format code count');
  for (const f of m.resultFormats) w.int16(f);
  return w.finish();
}

export function buildBindComplete(): Buffer {
  return emptyMessage(BackendCode.BindComplete);
}

export interface BindComplete {
  readonly type: 'BindComplete';
}

export function parseBindComplete(msg: Buffer): BindComplete {
  parseEmpty(msg, BackendCode.BindComplete, 'BindComplete');
  return { type: 'BindComplete' };
}
