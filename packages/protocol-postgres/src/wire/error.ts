// ErrorResponse (B, 'E') and NoticeResponse (B, 'N'): a list of (field letter, string) pairs.
import { TollgateError } from '@tollgate/core';
import { MessageWriter, openMessage } from './buffer';
import { BackendCode } from './codes';

/**
 * The fields of an ErrorResponse or NoticeResponse, by name. `severity`, `code` and `message`
 * are always sent by PostgreSQL (the parser leaves them '' if a peer omits them).
 */
export interface PgErrorFields {
  /** S: ERROR, FATAL, PANIC, WARNING, NOTICE, DEBUG, INFO, LOG (possibly localized). */
  severity: string;
  /** V: the severity, never localized (PostgreSQL 9.6+). */
  severityNonLocalized?: string;
  /** C: SQLSTATE. */
  code: string;
  /** M: primary message. */
  message: string;
  /** D */
  detail?: string;
  /** H */
  hint?: string;
  /** P: 1-based character index into the query string. */
  position?: string;
  /** p */
  internalPosition?: string;
  /** q */
  internalQuery?: string;
  /** W: context (call stack). */
  where?: string;
  /** s */
  schema?: string;
  /** t */
  table?: string;
  /** c */
  column?: string;
  /** d */
  dataType?: string;
  /** n */
  constraint?: string;
  /** F: source file. */
  file?: string;
  /** L: source line. */
  line?: string;
  /** R: source routine. */
  routine?: string;
  /** Fields whose letters are not named above, in order (letter, value). */
  other?: Array<[string, string]>;
}

type NamedField = Exclude<keyof PgErrorFields, 'other'>;

/** Field letter → name, in the order the builder writes them. */
const FIELD_BY_LETTER: ReadonlyArray<readonly [string, NamedField]> = [
  ['S', 'severity'],
  ['V', 'severityNonLocalized'],
  ['C', 'code'],
  ['M', 'message'],
  ['D', 'detail'],
  ['H', 'hint'],
  ['P', 'position'],
  ['p', 'internalPosition'],
  ['q', 'internalQuery'],
  ['W', 'where'],
  ['s', 'schema'],
  ['t', 'table'],
  ['c', 'column'],
  ['d', 'dataType'],
  ['n', 'constraint'],
  ['F', 'file'],
  ['L', 'line'],
  ['R', 'routine'],
];
const NAME_OF = new Map<number, NamedField>(FIELD_BY_LETTER.map(([l, n]) => [l.charCodeAt(0), n]));

export interface ErrorResponse {
  readonly type: 'ErrorResponse';
  readonly fields: PgErrorFields;
}

export interface NoticeResponse {
  readonly type: 'NoticeResponse';
  readonly fields: PgErrorFields;
}

function parseFields(msg: Buffer, code: number, what: string): PgErrorFields {
  const r = openMessage(msg, code, what);
  const fields: PgErrorFields = { severity: '', code: '', message: '' };
  for (;;) {
    const letter = r.byte('field type');
    if (letter === 0) break;
    const value = r.cstring(`field '${String.fromCharCode(letter)}'`);
    const name = NAME_OF.get(letter);
    if (name !== undefined) fields[name] = value;
    else {
      fields.other ??= [];
      fields.other.push([String.fromCharCode(letter), value]);
    }
  }
  r.done();
  return fields;
}

export function parseErrorResponse(msg: Buffer): ErrorResponse {
  return { type: 'ErrorResponse', fields: parseFields(msg, BackendCode.ErrorResponse, 'ErrorResponse') };
}

export function parseNoticeResponse(msg: Buffer): NoticeResponse {
  return { type: 'NoticeResponse', fields: parseFields(msg, BackendCode.NoticeResponse, 'NoticeResponse') };
}

// A NUL would end the field early on the wire: drop it rather than fail while reporting an error.
function clean(s: string): string {
  return s.includes('\0') ? s.replaceAll('\0', '') : s;
}

function buildFields(code: number, f: PgErrorFields): Buffer {
  const pairs: Array<[number, string]> = [];
  for (const [letter, name] of FIELD_BY_LETTER) {
    const v = f[name];
    if (v !== undefined) pairs.push([letter.charCodeAt(0), clean(v)]);
  }
  for (const [letter, v] of f.other ?? []) pairs.push([letter.charCodeAt(0), clean(v)]);
  let body = 1;
  for (const [, v] of pairs) body += 1 + Buffer.byteLength(v) + 1;
  const w = new MessageWriter(code, body);
  for (const [letter, v] of pairs) w.byte(letter).cstring(v);
  return w.byte(0).finish();
}

export function buildErrorResponse(fields: PgErrorFields): Buffer {
  return buildFields(BackendCode.ErrorResponse, fields);
}

export function buildNoticeResponse(fields: PgErrorFields): Buffer {
  return buildFields(BackendCode.NoticeResponse, fields);
}

/** What the gateway says in an error it raises itself. */
export interface ErrorSpec {
  severity: 'ERROR' | 'FATAL' | 'PANIC';
  /** SQLSTATE. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/**
 * The ErrorResponse for a gateway error. A TollgateError answers with its kind's SQLSTATE, its
 * message and hint, severity ERROR unless `severity` says FATAL (use FATAL when the connection
 * is closed after it, as in start-up and authentication failures).
 */
export function errorResponse(err: TollgateError | ErrorSpec, severity?: ErrorSpec['severity']): Buffer {
  const spec: ErrorSpec =
    err instanceof TollgateError
      ? {
          severity: severity ?? 'ERROR',
          code: err.kind.sqlstate,
          message: err.message,
          ...(err.hint !== undefined ? { hint: err.hint } : {}),
        }
      : { ...err, severity: severity ?? err.severity };
  const fields: PgErrorFields = {
    severity: spec.severity,
    severityNonLocalized: spec.severity,
    code: spec.code,
    message: spec.message,
  };
  if (spec.detail !== undefined) fields.detail = spec.detail;
  if (spec.hint !== undefined) fields.hint = spec.hint;
  return buildErrorResponse(fields);
}

/** A NoticeResponse from the gateway (severity NOTICE unless given: WARNING, INFO, …). */
export function noticeResponse(n: {
  severity?: string;
  code?: string;
  message: string;
  detail?: string;
  hint?: string;
}): Buffer {
  const severity = n.severity ?? 'NOTICE';
  const fields: PgErrorFields = {
    severity,
    severityNonLocalized: severity,
    code: n.code ?? '00000',
    message: n.message,
  };
  if (n.detail !== undefined) fields.detail = n.detail;
  if (n.hint !== undefined) fields.hint = n.hint;
  return buildNoticeResponse(fields);
}
