import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildCopyData,
  buildCopyDone,
  buildCopyFail,
  buildCopyResponse,
  parseCopyData,
  parseCopyDone,
  parseCopyFail,
  parseCopyResponse,
} from './copy';
import { fuzzParse, rawMessage, violation } from './testing';

describe('CopyData, CopyDone (F & B), CopyFail (F)', () => {
  it('round-trip', () => {
    const data = Buffer.from('1\talice@example.com\n2\t\\N\n');
    assert.deepEqual(parseCopyData(buildCopyData(data)), { type: 'CopyData', data });
    assert.deepEqual(parseCopyData(buildCopyData(Buffer.alloc(0))), {
      type: 'CopyData',
      data: Buffer.alloc(0),
    });
    assert.deepEqual(parseCopyDone(buildCopyDone()), { type: 'CopyDone' });
    assert.deepEqual(parseCopyFail(buildCopyFail('client aborted')), {
      type: 'CopyFail',
      reason: 'client aborted',
    });
  });

  it('refuse a CopyFail without NUL', () => {
    assert.throws(
      () => parseCopyFail(rawMessage('f', Buffer.from('oops'))),
      violation(/CopyFail message: error message/),
    );
  });
});

describe('CopyInResponse, CopyOutResponse, CopyBothResponse (B)', () => {
  it('round-trip text and binary formats', () => {
    assert.deepEqual(parseCopyResponse(buildCopyResponse('in', 0, [0, 0, 0])), {
      type: 'CopyInResponse',
      format: 0,
      columnFormats: [0, 0, 0],
    });
    assert.deepEqual(parseCopyResponse(buildCopyResponse('out', 1, [1, 1])), {
      type: 'CopyOutResponse',
      format: 1,
      columnFormats: [1, 1],
    });
    assert.deepEqual(parseCopyResponse(buildCopyResponse('both', 0, [])), {
      type: 'CopyBothResponse',
      format: 0,
      columnFormats: [],
    });
  });

  it('refuse an unknown overall format and a column count past the end', () => {
    assert.throws(() => parseCopyResponse(buildCopyResponse('out', 3, [])), violation(/overall format 3/));
    const m = buildCopyResponse('in', 0, [0]);
    m.writeUInt16BE(9, 6);
    assert.throws(() => parseCopyResponse(m), violation(/column count 9 runs past the end/));
    fuzzParse(buildCopyResponse('out', 0, [0, 0]), parseCopyResponse);
  });
});
