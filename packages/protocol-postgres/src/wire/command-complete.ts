// CommandComplete (B, 'C') and EmptyQueryResponse (B, 'I').

import { cstringLength, emptyMessage, MessageWriter, openMessage, parseEmpty } from './buffer';
import { BackendCode } from './codes';

export interface CommandComplete {
  readonly type: 'CommandComplete';
  /** The tag as sent, e.g. `INSERT 0 3`, `CREATE TABLE`. */
  readonly tag: string;
  /** The command words of the tag, e.g. `INSERT`, `CREATE TABLE`, `SELECT`. */
  readonly command: string;
  /** Rows affected or returned, for the commands whose tag carries a count; else undefined. */
  readonly rows: number | undefined;
}

// Tags ending in a row count; INSERT carries an OID (always 0 now) before it.
const COUNTED = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'FETCH', 'MOVE', 'COPY']);

/** Splits a command tag into its command words and row count. */
export function splitCommandTag(tag: string): { command: string; rows: number | undefined } {
  const space = tag.indexOf(' ');
  const first = space < 0 ? tag : tag.slice(0, space);
  if (space < 0 || !COUNTED.has(first)) return { command: tag, rows: undefined };
  const last = tag.slice(tag.lastIndexOf(' ') + 1);
  if (!/^\d+$/.test(last)) return { command: tag, rows: undefined };
  return { command: first, rows: Number(last) };
}

export function parseCommandComplete(msg: Buffer): CommandComplete {
  const r = openMessage(msg, BackendCode.CommandComplete, 'CommandComplete');
  const tag = r.cstring('command tag');
  r.done();
  return { type: 'CommandComplete', tag, ...splitCommandTag(tag) };
}

export function buildCommandComplete(tag: string): Buffer {
  return new MessageWriter(BackendCode.CommandComplete, cstringLength(tag))
    .cstring(tag, 'command tag')
    .finish();
}

export function buildEmptyQueryResponse(): Buffer {
  return emptyMessage(BackendCode.EmptyQueryResponse);
}

export interface EmptyQueryResponse {
  readonly type: 'EmptyQueryResponse';
}

export function parseEmptyQueryResponse(msg: Buffer): EmptyQueryResponse {
  parseEmpty(msg, BackendCode.EmptyQueryResponse, 'EmptyQueryResponse');
  return { type: 'EmptyQueryResponse' };
}
