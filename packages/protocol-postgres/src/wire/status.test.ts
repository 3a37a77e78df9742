import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildBackendKeyData,
  buildParameterStatus,
  buildReadyForQuery,
  parseBackendKeyData,
  parseParameterStatus,
  parseReadyForQuery,
} from './status';
import { rawMessage, truncated, violation } from './testing';

describe('ParameterStatus (B)', () => {
  it('round-trips', () => {
    assert.deepEqual(parseParameterStatus(buildParameterStatus('server_version', '15.14 (Debian)')), {
      type: 'ParameterStatus',
      name: 'server_version',
      value: '15.14 (Debian)',
    });
  });

  it('refuses a missing value', () => {
    assert.throws(
      () => parseParameterStatus(rawMessage('S', Buffer.from('TimeZone\0UTC'))),
      violation(/parameter value/),
    );
  });
});

describe('BackendKeyData (B)', () => {
  it('round-trips negative secrets', () => {
    assert.deepEqual(parseBackendKeyData(buildBackendKeyData({ pid: 31337, secret: -2 })), {
      type: 'BackendKeyData',
      pid: 31337,
      secret: -2,
    });
  });

  it('refuses a short or long key', () => {
    assert.throws(
      () => parseBackendKeyData(truncated(buildBackendKeyData({ pid: 1, secret: 2 }), 6)),
      violation(/secret key/),
    );
    assert.throws(
      () => parseBackendKeyData(rawMessage('K', Buffer.alloc(12))),
      violation(/4 unexpected trailing/),
    );
  });
});

describe('ReadyForQuery (B)', () => {
  it('round-trips I, T and E', () => {
    for (const status of ['I', 'T', 'E'] as const) {
      assert.deepEqual(parseReadyForQuery(buildReadyForQuery(status)), { type: 'ReadyForQuery', status });
    }
  });

  it('refuses another status', () => {
    assert.throws(() => parseReadyForQuery(rawMessage('Z', Buffer.from('X'))), violation(/status 0x58/));
  });
});
