// Close (F, 'C') and its answer CloseComplete (B, '3').

import { cstringLength, emptyMessage, MessageWriter, openMessage, parseEmpty } from './buffer';
import { BackendCode, FrontendCode } from './codes';
import { type PortalOrStatement, readTargetKind } from './describe';

export interface Close {
  readonly type: 'Close';
  readonly target: PortalOrStatement;
  /** '' is the unnamed statement or portal. */
  readonly name: string;
}

export function parseClose(msg: Buffer): Close {
  const r = openMessage(msg, FrontendCode.Close, 'Close');
  const target = readTargetKind(r);
  const name = r.cstring('name');
  r.done();
  return { type: 'Close', target, name };
}

export function buildClose(m: Omit<Close, 'type'>): Buffer {
  return new MessageWriter(FrontendCode.Close, 1 + cstringLength(m.name))
    .byte(m.target.charCodeAt(0))
    .cstring(m.name, 'name')
    .finish();
}

export function buildCloseComplete(): Buffer {
  return emptyMessage(BackendCode.CloseComplete);
}

export interface CloseComplete {
  readonly type: 'CloseComplete';
}

export function parseCloseComplete(msg: Buffer): CloseComplete {
  parseEmpty(msg, BackendCode.CloseComplete, 'CloseComplete');
  return { type: 'CloseComplete' };
}
