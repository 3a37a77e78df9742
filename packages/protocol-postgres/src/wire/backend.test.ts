import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PgFrameReader } from '@tollgate/core';
import { buildAuthenticationOk, buildAuthenticationSASL } from './auth';
import { type BackendMessage, parseBackend } from './backend';
import { buildBindComplete } from './bind';
import { buildCloseComplete } from './close';
import { buildCommandComplete, buildEmptyQueryResponse } from './command-complete';
import { buildCopyData, buildCopyDone, buildCopyResponse } from './copy';
import { buildErrorResponse, buildNoticeResponse, errorResponse } from './error';
import { buildPortalSuspended } from './execute';
import { buildFunctionCallResponse } from './function-call';
import { buildNotificationResponse } from './notification';
import { buildParseComplete } from './parse';
import { buildDataRow, buildNoData, buildParameterDescription, buildRowDescription } from './row';
import { buildNegotiateProtocolVersion } from './startup';
import { buildBackendKeyData, buildParameterStatus, buildReadyForQuery } from './status';
import { fuzzParse, rawMessage, violation } from './testing';

const stream = [
  buildNegotiateProtocolVersion({ major: 3, minor: 0, unrecognizedOptions: [] }),
  buildAuthenticationSASL(['SCRAM-SHA-256']),
  buildAuthenticationOk(),
  buildParameterStatus('client_encoding', 'UTF8'),
  buildBackendKeyData({ pid: 1, secret: 2 }),
  buildReadyForQuery('I'),
  buildParseComplete(),
  buildParameterDescription([25]),
  buildRowDescription([
    { name: 'n', tableOid: 0, column: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
  ]),
  buildBindComplete(),
  buildDataRow(['alice@example.com']),
  buildPortalSuspended(),
  buildCommandComplete('SELECT 1'),
  buildEmptyQueryResponse(),
  buildNoData(),
  buildCloseComplete(),
  buildCopyResponse('out', 0, [0]),
  buildCopyData(Buffer.from('x\n')),
  buildCopyDone(),
  buildNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'hello' }),
  buildNotificationResponse({ pid: 3, channel: 'c', payload: 'p' }),
  buildFunctionCallResponse(null),
  buildErrorResponse({
    severity: 'ERROR',
    code: '57014',
    message: 'canceling statement due to user request',
  }),
  errorResponse({ severity: 'FATAL', code: '08P01', message: 'bye' }),
  buildReadyForQuery('E'),
];
const all = Buffer.concat(stream);
const expected = stream.map(parseBackend);

function frame(chunks: Buffer[]): BackendMessage[] {
  const r = new PgFrameReader({ maxMessageLength: 1 << 20 });
  const out: BackendMessage[] = [];
  for (const c of chunks) for (const m of r.push(c)) out.push(parseBackend(m.bytes));
  assert.equal(r.buffered, 0);
  return out;
}

describe('parseBackend', () => {
  it('dispatches every backend message type', () => {
    assert.deepEqual(
      expected.map((m) => m.type),
      [
        'NegotiateProtocolVersion',
        'AuthenticationSASL',
        'AuthenticationOk',
        'ParameterStatus',
        'BackendKeyData',
        'ReadyForQuery',
        'ParseComplete',
        'ParameterDescription',
        'RowDescription',
        'BindComplete',
        'DataRow',
        'PortalSuspended',
        'CommandComplete',
        'EmptyQueryResponse',
        'NoData',
        'CloseComplete',
        'CopyOutResponse',
        'CopyData',
        'CopyDone',
        'NoticeResponse',
        'NotificationResponse',
        'FunctionCallResponse',
        'ErrorResponse',
        'ErrorResponse',
        'ReadyForQuery',
      ],
    );
  });

  it('refuses an unknown type byte', () => {
    assert.throws(
      () => parseBackend(rawMessage('!', Buffer.alloc(0))),
      violation(/unknown backend message type '!'/),
    );
  });

  it('never throws anything but PROTOCOL_VIOLATION on damaged messages', () => {
    for (const m of stream) fuzzParse(m, parseBackend);
  });
});

describe('backend messages through PgFrameReader (split reads)', () => {
  it('split at the beginning, middle and end of every message', () => {
    assert.deepEqual(frame([all]), expected);
    let offset = 0;
    for (const m of stream) {
      for (const cut of [
        offset + 1,
        offset + 4,
        offset + 5,
        offset + Math.floor(m.length / 2),
        offset + m.length - 1,
      ]) {
        assert.deepEqual(frame([all.subarray(0, cut), all.subarray(cut)]), expected, `cut ${cut}`);
      }
      offset += m.length;
    }
  });

  it('byte at a time', () => {
    assert.deepEqual(frame([...all].map((b) => Buffer.from([b]))), expected);
  });
});
