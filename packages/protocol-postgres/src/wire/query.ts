// Query (F, 'Q'): one simple-protocol query string, possibly several statements.

import { cstringLength, MessageWriter, openMessage } from './buffer';
import { FrontendCode } from './codes';

export interface Query {
  readonly type: 'Query';
  readonly sql: string;
}

export function parseQuery(msg: Buffer): Query {
  const r = openMessage(msg, FrontendCode.Query, 'Query');
  const sql = r.cstring('query string');
  r.done();
  return { type: 'Query', sql };
}

export function buildQuery(sql: string): Buffer {
  return new MessageWriter(FrontendCode.Query, cstringLength(sql)).cstring(sql, 'query string').finish();
}
