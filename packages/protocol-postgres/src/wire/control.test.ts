import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildFlush, buildSync, buildTerminate, parseFlush, parseSync, parseTerminate } from './control';
import { rawMessage, violation } from './testing';

describe('Sync, Flush, Terminate (F)', () => {
  it('are five bytes and round-trip', () => {
    assert.deepEqual([...buildSync()], [0x53, 0, 0, 0, 4]);
    assert.deepEqual(parseSync(buildSync()), { type: 'Sync' });
    assert.deepEqual(parseFlush(buildFlush()), { type: 'Flush' });
    assert.deepEqual(parseTerminate(buildTerminate()), { type: 'Terminate' });
  });

  it('refuse a body', () => {
    assert.throws(
      () => parseSync(rawMessage('S', Buffer.from('x'))),
      violation(/Sync message has 1 unexpected trailing/),
    );
    assert.throws(
      () => parseTerminate(rawMessage('X', Buffer.from('xy'))),
      violation(/Terminate message has 2/),
    );
  });
});
