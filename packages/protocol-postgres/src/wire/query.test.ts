import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildQuery, parseQuery } from './query';
import { rawMessage, truncated, violation, withTrailing } from './testing';

describe('Query (F)', () => {
  it('round-trips multi-statement and UTF-8 text', () => {
    const sql = "SELECT 'zoë'; DROP TABLE t; -- ✓";
    const msg = buildQuery(sql);
    assert.equal(msg[0], 0x51);
    assert.equal(msg.readInt32BE(1), msg.length - 1);
    assert.deepEqual(parseQuery(msg), { type: 'Query', sql });
    assert.deepEqual(parseQuery(buildQuery('')), { type: 'Query', sql: '' });
  });

  it('refuses a query string without NUL, trailing bytes and a wrong length', () => {
    assert.throws(
      () => parseQuery(truncated(buildQuery('SELECT 1'), 8)),
      violation(/Query message: query string.*no NUL/),
    );
    assert.throws(
      () => parseQuery(withTrailing(buildQuery('SELECT 1'), Buffer.from('; DROP'))),
      violation(/6 unexpected trailing/),
    );
    const m = buildQuery('SELECT 1');
    m.writeInt32BE(4, 1);
    assert.throws(() => parseQuery(m), violation(/declares length 4 but is 13/));
    assert.throws(() => parseQuery(Buffer.from([0x51, 0, 0])), violation(/shorter than its 5-byte header/));
  });

  it('stops at the first NUL: text after it is trailing data, not a second statement', () => {
    const hidden = rawMessage('Q', Buffer.from('SELECT 1\0DROP TABLE t\0'));
    assert.throws(() => parseQuery(hidden), violation(/13 unexpected trailing/));
  });

  it('refuses to build a query containing NUL', () => {
    assert.throws(() => buildQuery('SELECT 1\0'), violation(/NUL/));
  });
});
