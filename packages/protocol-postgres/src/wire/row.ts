// Result shape and rows: RowDescription (B, 'T'), DataRow (B, 'D'), NoData (B, 'n'),
// ParameterDescription (B, 't').

import { cstringLength, emptyMessage, MessageWriter, openMessage, parseEmpty } from './buffer';
import { BackendCode } from './codes';

/** One column of a RowDescription. */
export interface FieldDescription {
  readonly name: string;
  /** OID of the source table, or 0 when the column is not a plain table column. */
  readonly tableOid: number;
  /** Attribute number of the column in that table, or 0. */
  readonly column: number;
  readonly typeOid: number;
  /** pg_type.typlen: negative for variable-width types. */
  readonly typeSize: number;
  /** pg_attribute.atttypmod: type-specific, -1 when none. */
  readonly typeModifier: number;
  /** 0 text, 1 binary (0 in a RowDescription answering a statement Describe). */
  readonly format: number;
}

export interface RowDescription {
  readonly type: 'RowDescription';
  readonly fields: FieldDescription[];
}

export function parseRowDescription(msg: Buffer): RowDescription {
  const r = openMessage(msg, BackendCode.RowDescription, 'RowDescription');
  // each field is at least a 1-byte name and 18 bytes of numbers
  const n = r.count16('field count', 19);
  const fields = new Array<FieldDescription>(n);
  for (let i = 0; i < n; i++) {
    fields[i] = {
      name: r.cstring('field name'),
      tableOid: r.uint32('table OID'),
      column: r.int16('column number'),
      typeOid: r.uint32('type OID'),
      typeSize: r.int16('type size'),
      typeModifier: r.int32('type modifier'),
      format: r.int16('format code'),
    };
  }
  r.done();
  return { type: 'RowDescription', fields };
}

export function buildRowDescription(fields: readonly FieldDescription[]): Buffer {
  let body = 2;
  for (const f of fields) body += cstringLength(f.name) + 18;
  const w = new MessageWriter(BackendCode.RowDescription, body).count16(fields.length, 'field count');
  for (const f of fields) {
    w.cstring(f.name, 'field name')
      .uint32(f.tableOid)
      .int16(f.column)
      .uint32(f.typeOid)
      .int16(f.typeSize)
      .int32(f.typeModifier)
      .int16(f.format);
  }
  return w.finish();
}

export interface DataRow {
  readonly type: 'DataRow';
  /** Column values as views into the message; null is SQL NULL. */
  readonly values: Array<Buffer | null>;
}

/**
 * Parses one DataRow. For tests and for the gateway's own small answers: rows on the data path
 * go through the native masker whole chunks at a time, never through this.
 */
export function parseDataRow(msg: Buffer): DataRow {
  const r = openMessage(msg, BackendCode.DataRow, 'DataRow');
  const n = r.count16('column count', 4);
  const values = new Array<Buffer | null>(n);
  for (let i = 0; i < n; i++) values[i] = r.lengthPrefixed(`column ${i + 1}`);
  r.done();
  return { type: 'DataRow', values };
}

/** Builds a DataRow; strings are written as UTF-8 text. */
export function buildDataRow(values: ReadonlyArray<Uint8Array | string | null>): Buffer {
  const bufs = values.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
  let body = 2;
  for (const b of bufs) body += 4 + (b?.length ?? 0);
  const w = new MessageWriter(BackendCode.DataRow, body).count16(bufs.length, 'column count');
  for (const b of bufs) w.lengthPrefixed(b);
  return w.finish();
}

export function buildNoData(): Buffer {
  return emptyMessage(BackendCode.NoData);
}

export interface NoData {
  readonly type: 'NoData';
}

export function parseNoData(msg: Buffer): NoData {
  parseEmpty(msg, BackendCode.NoData, 'NoData');
  return { type: 'NoData' };
}

export interface ParameterDescription {
  readonly type: 'ParameterDescription';
  /** Type OID of each parameter of the described statement. */
  readonly paramTypes: number[];
}

export function parseParameterDescription(msg: Buffer): ParameterDescription {
  const r = openMessage(msg, BackendCode.ParameterDescription, 'ParameterDescription');
  const n = r.count16('parameter count', 4);
  const paramTypes = new Array<number>(n);
  for (let i = 0; i < n; i++) paramTypes[i] = r.uint32('parameter type OID');
  r.done();
  return { type: 'ParameterDescription', paramTypes };
}

export function buildParameterDescription(paramTypes: readonly number[]): Buffer {
  const w = new MessageWriter(BackendCode.ParameterDescription, 2 + 4 * paramTypes.length).count16(
    paramTypes.length,
    'parameter count',
  );
  for (const oid of paramTypes) w.uint32(oid);
  return w.finish();
}
