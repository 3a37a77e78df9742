import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors, TollgateError } from '@tollgate/core';
import {
  buildErrorResponse,
  buildNoticeResponse,
  errorResponse,
  noticeResponse,
  type PgErrorFields,
  parseErrorResponse,
  parseNoticeResponse,
} from './error';
import { fuzzParse, rawMessage, violation } from './testing';

const full: PgErrorFields = {
  severity: 'ERROR',
  severityNonLocalized: 'ERROR',
  code: '23505',
  message: 'duplicate key value violates unique constraint "users_pkey"',
  detail: 'Key (id)=(1) already exists.',
  hint: 'pick another id',
  position: '15',
  internalPosition: '3',
  internalQuery: 'SELECT 1',
  where: 'PL/pgSQL function f() line 3',
  schema: 'public',
  table: 'users',
  column: 'id',
  dataType: 'integer',
  constraint: 'users_pkey',
  file: 'nbtinsert.c',
  line: '666',
  routine: '_bt_check_unique',
};

describe('ErrorResponse and NoticeResponse (B)', () => {
  it('round-trip every named field', () => {
    assert.deepEqual(parseErrorResponse(buildErrorResponse(full)), { type: 'ErrorResponse', fields: full });
    assert.deepEqual(parseNoticeResponse(buildNoticeResponse(full)), {
      type: 'NoticeResponse',
      fields: full,
    });
  });

  it('keep fields with letters they do not name', () => {
    const f: PgErrorFields = { severity: 'ERROR', code: 'XX000', message: 'm', other: [['Z', 'future']] };
    assert.deepEqual(parseErrorResponse(buildErrorResponse(f)).fields, f);
  });

  it('refuse a field without NUL and a missing terminator', () => {
    assert.throws(
      () => parseErrorResponse(rawMessage('E', Buffer.from('SERROR'))),
      violation(/field 'S'.*no NUL/),
    );
    assert.throws(
      () => parseErrorResponse(rawMessage('E', Buffer.from('SERROR\0'))),
      violation(/truncated: field type/),
    );
    fuzzParse(buildErrorResponse(full), parseErrorResponse);
  });
});

describe('errorResponse', () => {
  it('answers a TollgateError with its SQLSTATE, message and hint', () => {
    const err = new TollgateError(Errors.APPROVAL_DENIED, 'DROP TABLE users was denied by bob', {
      hint: 'approval id apr_123',
    });
    assert.deepEqual(parseErrorResponse(errorResponse(err)).fields, {
      severity: 'ERROR',
      severityNonLocalized: 'ERROR',
      code: '42501',
      message: 'DROP TABLE users was denied by bob',
      hint: 'approval id apr_123',
    });
    assert.equal(parseErrorResponse(errorResponse(err, 'FATAL')).fields.severity, 'FATAL');
  });

  it('answers a plain spec, and survives a NUL in the text', () => {
    const f = parseErrorResponse(
      errorResponse({ severity: 'FATAL', code: '28P01', message: 'bad\0token', detail: 'd' }),
    ).fields;
    assert.deepEqual(f, {
      severity: 'FATAL',
      severityNonLocalized: 'FATAL',
      code: '28P01',
      message: 'badtoken',
      detail: 'd',
    });
  });

  it('noticeResponse defaults to NOTICE 00000', () => {
    assert.deepEqual(parseNoticeResponse(noticeResponse({ message: 'waiting for approval' })).fields, {
      severity: 'NOTICE',
      severityNonLocalized: 'NOTICE',
      code: '00000',
      message: 'waiting for approval',
    });
  });
});
