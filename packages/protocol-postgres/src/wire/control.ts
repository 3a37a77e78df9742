// Sync (F, 'S'), Flush (F, 'H') and Terminate (F, 'X'): empty-bodied control messages.

import { emptyMessage, parseEmpty } from './buffer';
import { FrontendCode } from './codes';

export function buildSync(): Buffer {
  return emptyMessage(FrontendCode.Sync);
}

export interface Sync {
  readonly type: 'Sync';
}

export function parseSync(msg: Buffer): Sync {
  parseEmpty(msg, FrontendCode.Sync, 'Sync');
  return { type: 'Sync' };
}

export function buildFlush(): Buffer {
  return emptyMessage(FrontendCode.Flush);
}

export interface Flush {
  readonly type: 'Flush';
}

export function parseFlush(msg: Buffer): Flush {
  parseEmpty(msg, FrontendCode.Flush, 'Flush');
  return { type: 'Flush' };
}

export function buildTerminate(): Buffer {
  return emptyMessage(FrontendCode.Terminate);
}

export interface Terminate {
  readonly type: 'Terminate';
}

export function parseTerminate(msg: Buffer): Terminate {
  parseEmpty(msg, FrontendCode.Terminate, 'Terminate');
  return { type: 'Terminate' };
}
