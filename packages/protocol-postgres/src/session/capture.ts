import type { ResultCapture } from '@tollgate/core';
import type { FieldDescription } from '../wire/index';
import { TEXT_LIKE_BINARY } from './masking';

/** What a statement's `command.result` audit record carries under `capture`. */
export interface CapturedResult {
  /** Column names from RowDescription; absent when the gateway did not see the columns. */
  readonly columns?: readonly string[];
  /** The first rows, each value as text (`null` for SQL NULL); COPY OUT: one value per line. */
  readonly rows: readonly (readonly (string | null)[])[];
  /** COPY TO STDOUT data rather than a result set. */
  readonly copy?: true;
  /** The byte bound cut the last row (its cut value ends with `…`, later values are left out). */
  readonly truncated?: true;
}

const ELLIPSIS = '…';

/**
 * Keeps the first rows of one statement's result, after masking, exactly as the client received
 * them: bounded by row count and by the bytes of the values kept. Fed only masked bytes; once
 * full it ignores everything (callers check `full` to skip the work).
 *
 * Values: text-format columns are decoded as UTF-8; binary-format columns of text-like types
 * (whose binary form is their text, and which the masker scans) likewise, jsonb without its
 * version byte; every other binary-format value is recorded as `<binary N bytes>` — its bytes
 * are not text and were not scanned, so they are not copied into the audit log.
 */
export class RowCapture {
  readonly #rows: (string | null)[][] = [];
  #columns: readonly string[] | undefined;
  #bytes = 0;
  #truncated = false;
  #copy = false;
  #full = false;

  constructor(private readonly limit: ResultCapture) {}

  get full(): boolean {
    return this.#full;
  }

  /** A run of masked DataRow messages; `fields` are the result's columns when known. */
  addDataRows(msgs: Buffer, fields: readonly FieldDescription[] | undefined): void {
    if (this.#full) return;
    if (this.#columns === undefined && fields) this.#columns = fields.map((f) => f.name);
    for (let i = 0; i < msgs.length && !this.#full; ) {
      const end = i + 1 + msgs.readInt32BE(i + 1);
      this.#row(msgs, i + 5, end, fields);
      i = end;
    }
  }

  /** Masked COPY OUT text (whole lines, as sent); `binary` for `COPY … (FORMAT binary)`. */
  addCopy(text: Buffer, binary: boolean): void {
    if (this.#full) return;
    this.#copy = true;
    if (binary) {
      this.#keep([`<binary ${text.length} bytes>`]);
      return;
    }
    for (let at = 0; at < text.length && !this.#full; ) {
      const nl = text.indexOf(0x0a, at);
      const end = nl < 0 ? text.length : nl;
      this.#keep([text.subarray(at, end)]);
      at = end + 1;
    }
  }

  /** The record's `capture` value; `undefined` when nothing was seen. */
  toJSON(): CapturedResult | undefined {
    if (this.#rows.length === 0 && this.#columns === undefined) return undefined;
    return {
      ...(this.#columns ? { columns: this.#columns } : {}),
      rows: this.#rows,
      ...(this.#copy ? { copy: true as const } : {}),
      ...(this.#truncated ? { truncated: true as const } : {}),
    };
  }

  /** One DataRow body: int16 field count, then per field int32 length (-1: NULL) and bytes. */
  #row(b: Buffer, at: number, end: number, fields: readonly FieldDescription[] | undefined): void {
    const n = b.readInt16BE(at);
    let p = at + 2;
    const values: (Buffer | string | null)[] = [];
    for (let k = 0; k < n && p + 4 <= end; k++) {
      const len = b.readInt32BE(p);
      p += 4;
      if (len < 0) {
        values.push(null);
        continue;
      }
      values.push(decodable(b.subarray(p, p + len), fields?.[k]));
      p += len;
    }
    this.#keep(values);
  }

  /** Adds a row while the bounds allow; the row that crosses the byte bound is cut. */
  #keep(values: readonly (Buffer | string | null)[]): void {
    const row: (string | null)[] = [];
    for (const v of values) {
      if (v === null) {
        row.push(null);
        continue;
      }
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      const room = this.limit.maxBytes - this.#bytes;
      if (bytes.length > room) {
        row.push(`${cutUtf8(bytes, room)}${ELLIPSIS}`);
        this.#bytes = this.limit.maxBytes;
        this.#truncated = true;
        this.#full = true;
        break;
      }
      this.#bytes += bytes.length;
      row.push(typeof v === 'string' ? v : v.toString('utf8'));
    }
    this.#rows.push(row);
    if (this.#rows.length >= this.limit.rows) this.#full = true;
  }
}

/** The bytes to decode as text, or the placeholder for an opaque binary value. */
function decodable(v: Buffer, field: FieldDescription | undefined): Buffer | string {
  if (!field || field.format === 0) return v;
  if (!TEXT_LIKE_BINARY.has(field.typeOid)) return `<binary ${v.length} bytes>`;
  // jsonb's binary form: a version byte (1), then the text.
  return field.typeOid === 3802 && v[0] === 1 ? v.subarray(1) : v;
}

/** The longest prefix of `b` within `max` bytes that ends on a UTF-8 character boundary, as text. */
function cutUtf8(b: Buffer, max: number): string {
  let end = Math.max(0, Math.min(max, b.length));
  while (end > 0 && end < b.length && ((b[end] as number) & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}
