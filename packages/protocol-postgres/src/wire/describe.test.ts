import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDescribe, parseDescribe } from './describe';
import { rawMessage, violation } from './testing';

describe('Describe (F)', () => {
  it('round-trips statements and portals, named and unnamed', () => {
    for (const m of [
      { target: 'S' as const, name: 'stmt' },
      { target: 'P' as const, name: '' },
    ]) {
      assert.deepEqual(parseDescribe(buildDescribe(m)), { type: 'Describe', ...m });
    }
  });

  it('refuses another target kind and a missing name', () => {
    assert.throws(
      () => parseDescribe(rawMessage('D', Buffer.from('Xname\0'))),
      violation(/target kind 0x58/),
    );
    assert.throws(() => parseDescribe(rawMessage('D', Buffer.from('S'))), violation(/name.*no NUL/));
    assert.throws(() => parseDescribe(rawMessage('D', Buffer.alloc(0))), violation(/truncated: target kind/));
  });
});
