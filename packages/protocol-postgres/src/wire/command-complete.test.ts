import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildCommandComplete,
  buildEmptyQueryResponse,
  parseCommandComplete,
  parseEmptyQueryResponse,
  splitCommandTag,
} from './command-complete';
import { rawMessage, violation } from './testing';

describe('CommandComplete (B)', () => {
  it('splits the tag into command and row count', () => {
    const cases: Array<[string, string, number | undefined]> = [
      ['SELECT 3', 'SELECT', 3],
      ['INSERT 0 12', 'INSERT', 12],
      ['UPDATE 0', 'UPDATE', 0],
      ['DELETE 7', 'DELETE', 7],
      ['MERGE 2', 'MERGE', 2],
      ['COPY 1000000', 'COPY', 1000000],
      ['FETCH 50', 'FETCH', 50],
      ['MOVE 1', 'MOVE', 1],
      ['CREATE TABLE', 'CREATE TABLE', undefined],
      ['BEGIN', 'BEGIN', undefined],
      ['DROP TABLE', 'DROP TABLE', undefined],
    ];
    for (const [tag, command, rows] of cases) {
      assert.deepEqual(
        parseCommandComplete(buildCommandComplete(tag)),
        { type: 'CommandComplete', tag, command, rows },
        tag,
      );
    }
    assert.deepEqual(splitCommandTag('SELECT x'), { command: 'SELECT x', rows: undefined });
  });

  it('refuses a tag without NUL', () => {
    assert.throws(
      () => parseCommandComplete(rawMessage('C', Buffer.from('SELECT 1'))),
      violation(/command tag/),
    );
  });
});

describe('EmptyQueryResponse (B)', () => {
  it('round-trips', () => {
    assert.deepEqual(parseEmptyQueryResponse(buildEmptyQueryResponse()), { type: 'EmptyQueryResponse' });
  });
});
