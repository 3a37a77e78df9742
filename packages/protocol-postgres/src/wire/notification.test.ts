import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildNotificationResponse, parseNotificationResponse } from './notification';
import { fuzzParse } from './testing';

describe('NotificationResponse (B)', () => {
  it('round-trips', () => {
    const m = { pid: 77, channel: 'orders', payload: '{"id":1}' };
    assert.deepEqual(parseNotificationResponse(buildNotificationResponse(m)), {
      type: 'NotificationResponse',
      ...m,
    });
    fuzzParse(buildNotificationResponse(m), parseNotificationResponse);
  });
});
