// COPY sub-protocol: CopyData (F & B, 'd'), CopyDone (F & B, 'c'), CopyFail (F, 'f'),
// CopyInResponse (B, 'G'), CopyOutResponse (B, 'H'), CopyBothResponse (B, 'W').

import { cstringLength, emptyMessage, MessageWriter, openMessage, parseEmpty, violation } from './buffer';
import { BackendCode, FrontendCode } from './codes';

export interface CopyData {
  readonly type: 'CopyData';
  /** The payload, as a view into the message. */
  readonly data: Buffer;
}

export interface CopyFail {
  readonly type: 'CopyFail';
  readonly reason: string;
}

/** The same code and layout in both directions. */
export function parseCopyData(msg: Buffer): CopyData {
  return { type: 'CopyData', data: openMessage(msg, FrontendCode.CopyData, 'CopyData').rest() };
}

export function buildCopyData(data: Uint8Array): Buffer {
  return new MessageWriter(FrontendCode.CopyData, data.length).bytes(data).finish();
}

export function buildCopyDone(): Buffer {
  return emptyMessage(FrontendCode.CopyDone);
}

export interface CopyDone {
  readonly type: 'CopyDone';
}

export function parseCopyDone(msg: Buffer): CopyDone {
  parseEmpty(msg, FrontendCode.CopyDone, 'CopyDone');
  return { type: 'CopyDone' };
}

export function parseCopyFail(msg: Buffer): CopyFail {
  const r = openMessage(msg, FrontendCode.CopyFail, 'CopyFail');
  const reason = r.cstring('error message');
  r.done();
  return { type: 'CopyFail', reason };
}

export function buildCopyFail(reason: string): Buffer {
  return new MessageWriter(FrontendCode.CopyFail, cstringLength(reason))
    .cstring(reason, 'error message')
    .finish();
}

export type CopyDirection = 'in' | 'out' | 'both';

export interface CopyResponse {
  readonly type: 'CopyInResponse' | 'CopyOutResponse' | 'CopyBothResponse';
  /** 0 textual (then every column format is 0), 1 binary. */
  readonly format: number;
  /** One format code per column. */
  readonly columnFormats: number[];
}

const COPY_RESPONSE = {
  in: { code: BackendCode.CopyInResponse, type: 'CopyInResponse' },
  out: { code: BackendCode.CopyOutResponse, type: 'CopyOutResponse' },
  both: { code: BackendCode.CopyBothResponse, type: 'CopyBothResponse' },
} as const;

/** Parses a CopyInResponse, CopyOutResponse or CopyBothResponse, whichever `msg` is. */
export function parseCopyResponse(msg: Buffer): CopyResponse {
  const code = msg[0];
  const spec =
    code === BackendCode.CopyInResponse
      ? COPY_RESPONSE.in
      : code === BackendCode.CopyOutResponse
        ? COPY_RESPONSE.out
        : COPY_RESPONSE.both;
  const r = openMessage(msg, spec.code, spec.type);
  const format = r.byte('overall format');
  if (format !== 0 && format !== 1)
    throw violation(`${spec.type} message: overall format ${format} is not 0 or 1`);
  const n = r.count16('column count', 2);
  const columnFormats = new Array<number>(n);
  for (let i = 0; i < n; i++) columnFormats[i] = r.int16('column format code');
  r.done();
  return { type: spec.type, format, columnFormats };
}

export function buildCopyResponse(
  direction: CopyDirection,
  format: number,
  columnFormats: readonly number[],
): Buffer {
  const w = new MessageWriter(COPY_RESPONSE[direction].code, 3 + 2 * columnFormats.length)
    .byte(format)
    .count16(columnFormats.length, 'column count');
  for (const f of columnFormats) w.int16(f);
  return w.finish();
}
