import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildDataRow,
  buildNoData,
  buildParameterDescription,
  buildRowDescription,
  type FieldDescription,
  parseDataRow,
  parseNoData,
  parseParameterDescription,
  parseRowDescription,
} from './row';
import { bodyOf, fuzzParse, rawMessage, truncated, violation } from './testing';

const fields: FieldDescription[] = [
  { name: 'id', tableOid: 16384, column: 1, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
  { name: 'email', tableOid: 16384, column: 2, typeOid: 1043, typeSize: -1, typeModifier: 259, format: 0 },
  {
    name: '?column?',
    tableOid: 0,
    column: 0,
    typeOid: 4294967295,
    typeSize: -1,
    typeModifier: -1,
    format: 1,
  },
];

describe('RowDescription (B)', () => {
  it('round-trips every column attribute', () => {
    assert.deepEqual(parseRowDescription(buildRowDescription(fields)), { type: 'RowDescription', fields });
    assert.deepEqual(parseRowDescription(buildRowDescription([])), { type: 'RowDescription', fields: [] });
  });

  it('refuses a field count past the end and truncated fields', () => {
    const m = buildRowDescription(fields.slice(0, 1));
    const body = Buffer.from(bodyOf(m));
    body.writeUInt16BE(2, 0);
    assert.throws(
      () => parseRowDescription(rawMessage('T', body)),
      violation(/field count 2 runs past the end/),
    );
    assert.throws(() => parseRowDescription(truncated(m, m.length - 5 - 1)), violation(/format code/));
    fuzzParse(buildRowDescription(fields), parseRowDescription);
  });
});

describe('DataRow (B)', () => {
  it('round-trips text, binary, empty and NULL values', () => {
    const row = parseDataRow(buildDataRow(['1', Buffer.from([0xde, 0xad]), '', null]));
    assert.deepEqual(row.values, [Buffer.from('1'), Buffer.from([0xde, 0xad]), Buffer.alloc(0), null]);
  });

  it('refuses a value length past the end', () => {
    const m = buildDataRow(['abc']);
    m.writeInt32BE(50, 7);
    assert.throws(() => parseDataRow(m), violation(/column 1 needs 50 byte/));
    fuzzParse(buildDataRow(['a', null, 'bc']), parseDataRow);
  });
});

describe('NoData and ParameterDescription (B)', () => {
  it('round-trip', () => {
    assert.deepEqual(parseNoData(buildNoData()), { type: 'NoData' });
    assert.deepEqual(parseParameterDescription(buildParameterDescription([23, 25, 0])), {
      type: 'ParameterDescription',
      paramTypes: [23, 25, 0],
    });
  });

  it('carries up to 65535 parameters', () => {
    const many = new Array<number>(40000).fill(23);
    assert.equal(parseParameterDescription(buildParameterDescription(many)).paramTypes.length, 40000);
  });

  it('refuses a count past the end', () => {
    const m = buildParameterDescription([23]);
    m.writeUInt16BE(3, 5);
    assert.throws(() => parseParameterDescription(m), violation(/parameter count 3 runs past the end/));
  });
});
