// Execute (F, 'E') and PortalSuspended (B, 's'), its answer when the row limit is reached.

import { cstringLength, emptyMessage, MessageWriter, openMessage, parseEmpty } from './buffer';
import { BackendCode, FrontendCode } from './codes';

export interface Execute {
  readonly type: 'Execute';
  /** '' is the unnamed portal. */
  readonly portal: string;
  /** Row limit; 0 means no limit. */
  readonly maxRows: number;
}

export function parseExecute(msg: Buffer): Execute {
  const r = openMessage(msg, FrontendCode.Execute, 'Execute');
  const portal = r.cstring('portal name');
  const maxRows = r.int32('row limit');
  r.done();
  return { type: 'Execute', portal, maxRows };
}

export function buildExecute(m: Omit<Execute, 'type'>): Buffer {
  return new MessageWriter(FrontendCode.Execute, cstringLength(m.portal) + 4)
    .cstring(m.portal, 'portal name')
    .int32(m.maxRows)
    .finish();
}

export function buildPortalSuspended(): Buffer {
  return emptyMessage(BackendCode.PortalSuspended);
}

export interface PortalSuspended {
  readonly type: 'PortalSuspended';
}

export function parsePortalSuspended(msg: Buffer): PortalSuspended {
  parseEmpty(msg, BackendCode.PortalSuspended, 'PortalSuspended');
  return { type: 'PortalSuspended' };
}
