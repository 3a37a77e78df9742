import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildClose, buildCloseComplete, parseClose, parseCloseComplete } from './close';
import { rawMessage, violation } from './testing';

describe('Close (F)', () => {
  it('round-trips statements and portals', () => {
    assert.deepEqual(parseClose(buildClose({ target: 'S', name: 's1' })), {
      type: 'Close',
      target: 'S',
      name: 's1',
    });
    assert.deepEqual(parseClose(buildClose({ target: 'P', name: '' })), {
      type: 'Close',
      target: 'P',
      name: '',
    });
  });

  it('refuses another target kind', () => {
    assert.throws(
      () => parseClose(rawMessage('C', Buffer.from('Q\0'))),
      violation(/Close message: target kind 0x51/),
    );
  });
});

describe('CloseComplete (B)', () => {
  it('round-trips', () => {
    assert.deepEqual(parseCloseComplete(buildCloseComplete()), { type: 'CloseComplete' });
  });
});
