// FunctionCall (F, 'F') and FunctionCallResponse (B, 'V').

import { MessageWriter, openMessage, violation } from './buffer';
import { BackendCode, FrontendCode } from './codes';

export interface FunctionCall {
  readonly type: 'FunctionCall';
  /** OID of the function to call. */
  readonly functionOid: number;
  /** Argument format codes: none (all text), one (applies to all) or one per argument. */
  readonly argFormats: number[];
  /** Argument values as views into the message; null is SQL NULL. */
  readonly args: Array<Buffer | null>;
  readonly resultFormat: number;
}

export interface FunctionCallResponse {
  readonly type: 'FunctionCallResponse';
  /** The result; null is SQL NULL. */
  readonly value: Buffer | null;
}

export function parseFunctionCall(msg: Buffer): FunctionCall {
  const r = openMessage(msg, FrontendCode.FunctionCall, 'FunctionCall');
  const functionOid = r.uint32('function OID');
  const nf = r.count16('argument format code count', 2);
  const argFormats = new Array<number>(nf);
  for (let i = 0; i < nf; i++) argFormats[i] = r.int16('argument format code');
  const n = r.count16('argument count', 4);
  if (nf > 1 && nf !== n)
    throw violation(`FunctionCall message has ${nf} argument format codes for ${n} arguments`);
  const args = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) args[i] = r.lengthPrefixed(`argument ${i + 1}`);
  const resultFormat = r.int16('result format code');
  r.done();
  return { type: 'FunctionCall', functionOid, argFormats, args, resultFormat };
}

export function buildFunctionCall(m: Omit<FunctionCall, 'type'>): Buffer {
  let body = 4 + 2 + 2 * m.argFormats.length + 2 + 2;
  for (const a of m.args) body += 4 + (a?.length ?? 0);
  const w = new MessageWriter(FrontendCode.FunctionCall, body)
    .uint32(m.functionOid)
    .count16(m.argFormats.length, 'argument format code count');
  for (const f of m.argFormats) w.int16(f);
  w.count16(m.args.length, 'argument count');
  for (const a of m.args) w.lengthPrefixed(a);
  return w.int16(m.resultFormat).finish();
}

export function parseFunctionCallResponse(msg: Buffer): FunctionCallResponse {
  const r = openMessage(msg, BackendCode.FunctionCallResponse, 'FunctionCallResponse');
  const value = r.lengthPrefixed('result');
  r.done();
  return { type: 'FunctionCallResponse', value };
}

export function buildFunctionCallResponse(value: Uint8Array | null): Buffer {
  return new MessageWriter(BackendCode.FunctionCallResponse, 4 + (value?.length ?? 0))
    .lengthPrefixed(value)
    .finish();
}
