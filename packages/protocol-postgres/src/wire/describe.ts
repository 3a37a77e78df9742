// Describe (F, 'D'): a prepared statement ('S') or a portal ('P').

import { cstringLength, type MessageReader, MessageWriter, openMessage, violation } from './buffer';
import { FrontendCode } from './codes';

/** 'S' a prepared statement, 'P' a portal. */
export type PortalOrStatement = 'S' | 'P';

export interface Describe {
  readonly type: 'Describe';
  readonly target: PortalOrStatement;
  /** '' is the unnamed statement or portal. */
  readonly name: string;
}

/** Reads the 'S'/'P' byte shared by Describe and Close. */
export function readTargetKind(r: MessageReader): PortalOrStatement {
  const b = r.byte('target kind');
  if (b === 0x53) return 'S';
  if (b === 0x50) return 'P';
  throw violation(
    `${r.what} message: target kind 0x${b.toString(16)} is neither 'S' (statement) nor 'P' (portal)`,
  );
}

export function parseDescribe(msg: Buffer): Describe {
  const r = openMessage(msg, FrontendCode.Describe, 'Describe');
  const target = readTargetKind(r);
  const name = r.cstring('name');
  r.done();
  return { type: 'Describe', target, name };
}

export function buildDescribe(m: Omit<Describe, 'type'>): Buffer {
  return new MessageWriter(FrontendCode.Describe, 1 + cstringLength(m.name))
    .byte(m.target.charCodeAt(0))
    .cstring(m.name, 'name')
    .finish();
}
