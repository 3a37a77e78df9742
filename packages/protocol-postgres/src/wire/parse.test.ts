import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildParse, buildParseComplete, parseParse, parseParseComplete } from './parse';
import { fuzzParse, truncated, violation } from './testing';

describe('Parse (F)', () => {
  it('round-trips named and unnamed statements with parameter types', () => {
    for (const m of [
      { name: 'stmt_1', sql: 'SELECT $1::int + $2', paramTypes: [23, 0] },
      { name: '', sql: 'SELECT 1', paramTypes: [] },
      // OIDs are unsigned: the largest one survives
      { name: 's', sql: 'SELECT $1', paramTypes: [4294967295] },
    ]) {
      assert.deepEqual(parseParse(buildParse(m)), { type: 'Parse', ...m });
    }
  });

  it('accepts 65535 parameter types, as PostgreSQL does', () => {
    const paramTypes = new Array<number>(65535).fill(25);
    assert.equal(parseParse(buildParse({ name: '', sql: 'x', paramTypes })).paramTypes.length, 65535);
    assert.throws(
      () => buildParse({ name: '', sql: 'x', paramTypes: new Array<number>(65536).fill(0) }),
      violation(/65535/),
    );
  });

  it('refuses a parameter count past the end and damaged bodies', () => {
    const m = buildParse({ name: 'a', sql: 'SELECT $1', paramTypes: [23] });
    assert.throws(
      () => parseParse(truncated(m, m.length - 5 - 2)),
      violation(/parameter type count 1 runs past the end/),
    );
    assert.throws(() => parseParse(truncated(m, 3)), violation(/query string.*no NUL/));
    const { refused } = fuzzParse(m, parseParse);
    assert.ok(refused > 0);
  });
});

describe('ParseComplete (B)', () => {
  it('round-trips and refuses a body', () => {
    assert.deepEqual(parseParseComplete(buildParseComplete()), { type: 'ParseComplete' });
    assert.deepEqual([...buildParseComplete()], [0x31, 0, 0, 0, 4]);
  });
});
