import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PgFrameReader } from '@tollgate/core';
import { buildPasswordMessage } from './auth';
import { buildBind } from './bind';
import { buildClose } from './close';
import { buildFlush, buildSync, buildTerminate } from './control';
import { buildCopyData, buildCopyDone, buildCopyFail } from './copy';
import { buildDescribe } from './describe';
import { buildExecute } from './execute';
import { parseFrontend } from './frontend';
import { buildFunctionCall } from './function-call';
import { buildParse } from './parse';
import { buildQuery } from './query';
import { fuzzParse, rawMessage, violation } from './testing';

/** One of every frontend message, as a pipelined client would send them. */
const stream = [
  buildQuery('SELECT 1; SELECT 2'),
  buildParse({ name: 's1', sql: 'SELECT * FROM users WHERE email = $1', paramTypes: [25] }),
  buildBind({
    portal: '',
    statement: 's1',
    paramFormats: [],
    params: [Buffer.from('alice@example.com'), null],
    resultFormats: [1],
  }),
  buildDescribe({ target: 'P', name: '' }),
  buildExecute({ portal: '', maxRows: 100 }),
  buildFlush(),
  buildSync(),
  buildClose({ target: 'S', name: 's1' }),
  buildCopyData(Buffer.from('1\tbob\n')),
  buildCopyDone(),
  buildCopyFail('cancelled'),
  buildFunctionCall({ functionOid: 1598, argFormats: [], args: [], resultFormat: 0 }),
  buildPasswordMessage('token'),
  buildTerminate(),
];
const all = Buffer.concat(stream);
const expected = stream.map(parseFrontend);

function frame(chunks: Buffer[]): ReturnType<typeof parseFrontend>[] {
  const r = new PgFrameReader({ maxMessageLength: 1 << 20 });
  const out: ReturnType<typeof parseFrontend>[] = [];
  for (const c of chunks) for (const m of r.push(c)) out.push(parseFrontend(m.bytes));
  assert.equal(r.buffered, 0);
  return out;
}

describe('parseFrontend', () => {
  it('dispatches every frontend message type', () => {
    assert.deepEqual(
      expected.map((m) => m.type),
      [
        'Query',
        'Parse',
        'Bind',
        'Describe',
        'Execute',
        'Flush',
        'Sync',
        'Close',
        'CopyData',
        'CopyDone',
        'CopyFail',
        'FunctionCall',
        'PasswordData',
        'Terminate',
      ],
    );
  });

  it('refuses an unknown type byte, naming it', () => {
    assert.throws(
      () => parseFrontend(rawMessage('z', Buffer.alloc(0))),
      violation(/unknown frontend message type 'z'/),
    );
    assert.throws(
      () => parseFrontend(rawMessage(0x01, Buffer.alloc(0))),
      violation(/unknown frontend message type 0x01/),
    );
    // backend-only types are not frontend messages
    assert.throws(
      () => parseFrontend(rawMessage('T', Buffer.alloc(2))),
      violation(/unknown frontend message type 'T'/),
    );
  });

  it('never throws anything but PROTOCOL_VIOLATION on damaged messages', () => {
    for (const m of stream) fuzzParse(m, parseFrontend);
  });
});

describe('frontend messages through PgFrameReader (split reads)', () => {
  it('a whole buffer', () => {
    assert.deepEqual(frame([all]), expected);
  });

  it('split at the beginning, middle and end of every message', () => {
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
