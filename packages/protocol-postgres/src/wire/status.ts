// Session status: ParameterStatus (B, 'S'), BackendKeyData (B, 'K'), ReadyForQuery (B, 'Z').

import { cstringLength, MessageWriter, openMessage, violation } from './buffer';
import { BackendCode } from './codes';
import type { BackendKey } from './startup';

export interface ParameterStatus {
  readonly type: 'ParameterStatus';
  readonly name: string;
  readonly value: string;
}

export function parseParameterStatus(msg: Buffer): ParameterStatus {
  const r = openMessage(msg, BackendCode.ParameterStatus, 'ParameterStatus');
  const name = r.cstring('parameter name');
  const value = r.cstring('parameter value');
  r.done();
  return { type: 'ParameterStatus', name, value };
}

export function buildParameterStatus(name: string, value: string): Buffer {
  return new MessageWriter(BackendCode.ParameterStatus, cstringLength(name) + cstringLength(value))
    .cstring(name, 'parameter name')
    .cstring(value, 'parameter value')
    .finish();
}

export interface BackendKeyData extends BackendKey {
  readonly type: 'BackendKeyData';
}

/** Protocol 3.0 keys: int32 process ID, int32 secret. */
export function parseBackendKeyData(msg: Buffer): BackendKeyData {
  const r = openMessage(msg, BackendCode.BackendKeyData, 'BackendKeyData');
  const pid = r.int32('process ID');
  const secret = r.int32('secret key');
  r.done();
  return { type: 'BackendKeyData', pid, secret };
}

export function buildBackendKeyData(key: BackendKey): Buffer {
  return new MessageWriter(BackendCode.BackendKeyData, 8).int32(key.pid).int32(key.secret).finish();
}

/** I idle, T in a transaction block, E in a failed transaction block. */
export type TransactionStatus = 'I' | 'T' | 'E';

export interface ReadyForQuery {
  readonly type: 'ReadyForQuery';
  readonly status: TransactionStatus;
}

export function parseReadyForQuery(msg: Buffer): ReadyForQuery {
  const r = openMessage(msg, BackendCode.ReadyForQuery, 'ReadyForQuery');
  const b = r.byte('transaction status');
  r.done();
  if (b !== 0x49 && b !== 0x54 && b !== 0x45) {
    throw violation(`ReadyForQuery message: transaction status 0x${b.toString(16)} is not 'I', 'T' or 'E'`);
  }
  return { type: 'ReadyForQuery', status: String.fromCharCode(b) as TransactionStatus };
}

export function buildReadyForQuery(status: TransactionStatus): Buffer {
  return new MessageWriter(BackendCode.ReadyForQuery, 1).byte(status.charCodeAt(0)).finish();
}
