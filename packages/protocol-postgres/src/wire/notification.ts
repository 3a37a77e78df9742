// NotificationResponse (B, 'A'): a NOTIFY delivered to a listening session.

import { cstringLength, MessageWriter, openMessage } from './buffer';
import { BackendCode } from './codes';

export interface NotificationResponse {
  readonly type: 'NotificationResponse';
  /** Process ID of the notifying backend. */
  readonly pid: number;
  readonly channel: string;
  readonly payload: string;
}

export function parseNotificationResponse(msg: Buffer): NotificationResponse {
  const r = openMessage(msg, BackendCode.NotificationResponse, 'NotificationResponse');
  const pid = r.int32('process ID');
  const channel = r.cstring('channel');
  const payload = r.cstring('payload');
  r.done();
  return { type: 'NotificationResponse', pid, channel, payload };
}

export function buildNotificationResponse(m: Omit<NotificationResponse, 'type'>): Buffer {
  return new MessageWriter(
    BackendCode.NotificationResponse,
    4 + cstringLength(m.channel) + cstringLength(m.payload),
  )
    .int32(m.pid)
    .cstring(m.channel, 'channel')
    .cstring(m.payload, 'payload')
    .finish();
}
