import {
  classifySql as nativeClassifySql,
  classifySqlAsync as nativeClassifySqlAsync,
  type SqlClassification,
  type SqlClassifyOptions,
  type SqlStatement,
} from '@tollgate/native';

export type { SqlClassification, SqlClassifyOptions, SqlStatement } from '@tollgate/native';

/**
 * What a SQL statement may do. The policy's action classes for PostgreSQL; see
 * docs/sql-classification.md for which statement falls in which class.
 */
export type SqlClass = SqlStatement['class'];

/**
 * Every class, least restricted first: `read < utility < transaction < write < ddl < admin <
 * dangerous < unknown`. `unknown` (unparseable input, `EXECUTE` of a prepared statement, a
 * statement kind the classifier does not know) is the most restricted.
 */
export const STRICTNESS: readonly SqlClass[] = Object.freeze([
  'read',
  'utility',
  'transaction',
  'write',
  'ddl',
  'admin',
  'dangerous',
  'unknown',
] as const);

/** True when `s` names a class. */
export function isSqlClass(s: string): s is SqlClass {
  return (STRICTNESS as readonly string[]).includes(s);
}

/**
 * The most restricted of `classes` (the class that governs a multi-statement message);
 * `read` when there are none, as for an empty query. A name that is not a class counts as
 * `unknown`.
 */
export function strictestClass(classes: Iterable<string>): SqlClass {
  let top = 0;
  for (const c of classes) {
    const i = (STRICTNESS as readonly string[]).indexOf(c);
    top = Math.max(top, i < 0 ? STRICTNESS.length - 1 : i);
  }
  return STRICTNESS[top] ?? 'unknown';
}

/**
 * Classifies every statement of a SQL string natively with the PostgreSQL parser
 * (libpg_query): one call per Query or Parse message, never per statement. Never throws for
 * bad SQL: input that does not parse is a single `unknown` statement spanning the input.
 * Statement `start`/`end` are UTF-8 byte offsets (they index a Buffer, not a JS string; see
 * `statementText`). Inputs above 1 MiB are `unknown` without being parsed. Pass the session's
 * `standardConformingStrings` when the server reports it off.
 */
export function classifySql(sql: string | Buffer, options?: SqlClassifyOptions): SqlClassification {
  return nativeClassifySql(sql, options);
}

/**
 * Input size above which `classifySqlAsync` is the better call: classifying costs roughly
 * 10–25 µs per statement, so a 64 KiB string of short statements holds the event loop for
 * tens of milliseconds.
 */
export const SQL_ASYNC_THRESHOLD_BYTES = 64 * 1024;

/**
 * `classifySql` on a libuv worker thread (the input is copied first), for messages above
 * `SQL_ASYNC_THRESHOLD_BYTES`, so that one large message does not stall every other session.
 */
export function classifySqlAsync(
  sql: string | Buffer,
  options?: SqlClassifyOptions,
): Promise<SqlClassification> {
  return nativeClassifySqlAsync(sql, options);
}

/** The text of one classified statement of `sql`. */
export function statementText(sql: string | Buffer, statement: SqlStatement): string {
  const bytes = typeof sql === 'string' ? Buffer.from(sql, 'utf8') : sql;
  return bytes.subarray(statement.start, statement.end).toString('utf8');
}
