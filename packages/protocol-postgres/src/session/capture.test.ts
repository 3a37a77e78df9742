import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MaskingProfile } from '@tollgate/core';
import {
  buildCommandComplete,
  buildCopyData,
  buildCopyDone,
  buildCopyResponse,
  buildDataRow,
  buildReadyForQuery,
  buildRowDescription,
} from '../wire/index';
import { RowCapture } from './capture';
import { Refusals } from './denial';
import { ResultMasking } from './masking';
import { newStatementRun, ResultStream, type StatementRun } from './results';

const field = (name: string, typeOid = 25, format = 0) => ({
  name,
  tableOid: 0,
  column: 0,
  typeOid,
  typeSize: -1,
  typeModifier: -1,
  format,
});

const profile = (rows: number, maxBytes = 4096): MaskingProfile =>
  Object.freeze({
    name: 'capture',
    columns: Object.freeze([]),
    otherwise: 'scan',
    entities: undefined,
    styles: Object.freeze({}),
    defaultStyle: undefined,
    capture: Object.freeze({ rows, maxBytes }),
  });

function run(p: MaskingProfile): StatementRun {
  return newStatementRun(p, 1);
}

const masking = new ResultMasking();

/** Feeds a whole simple-query response one byte at a time; returns the finished run. */
function through(p: MaskingProfile, response: Buffer): StatementRun {
  const s = new ResultStream(masking, new Refusals(), () => {}, 1 << 20);
  const r = run(p);
  s.expect({ kind: 'query', runs: [r] });
  for (let i = 0; i < response.length; i++) s.push(response.subarray(i, i + 1));
  return r;
}

describe('result capture', () => {
  it('keeps the first N rows as the client got them (masked), with the column names', () => {
    const rows = Array.from({ length: 5 }, (_, i) =>
      buildDataRow([String(i + 1), `user${i}@example.com`, i === 1 ? null : 'card 4111 1111 1111 1111']),
    );
    const r = through(
      profile(3),
      Buffer.concat([
        buildRowDescription([field('id', 23), field('email'), field('note')]),
        ...rows,
        buildCommandComplete('SELECT 5'),
        buildReadyForQuery('I'),
      ]),
    );
    assert.equal(r.rows, 5);
    assert.deepEqual(r.capture?.toJSON(), {
      columns: ['id', 'email', 'note'],
      rows: [
        ['1', '[REDACTED:email]', 'card [REDACTED:card]'],
        ['2', '[REDACTED:email]', null],
        ['3', '[REDACTED:email]', 'card [REDACTED:card]'],
      ],
    });
    assert.doesNotMatch(JSON.stringify(r.capture), /example\.com|4111/);
  });

  it('a profile without capture keeps nothing', () => {
    const p = { ...profile(1) } as { capture?: unknown };
    delete p.capture;
    const r = through(
      p as MaskingProfile,
      Buffer.concat([
        buildRowDescription([field('a')]),
        buildDataRow(['x']),
        buildCommandComplete('SELECT 1'),
      ]),
    );
    assert.equal(r.capture, undefined);
  });

  it('stops at the byte bound, cutting the crossing row on a character boundary', () => {
    const r = through(
      profile(10, 12),
      Buffer.concat([
        buildRowDescription([field('a'), field('b')]),
        buildDataRow(['abcd', 'éé']), // 4 + 4 bytes
        buildDataRow(['xyzéw', 'never']), // 'xyz' fits (3 bytes), 'é' would cross 12
        buildDataRow(['later']),
        buildCommandComplete('SELECT 3'),
      ]),
    );
    assert.deepEqual(r.capture?.toJSON(), {
      columns: ['a', 'b'],
      rows: [['abcd', 'éé'], ['xyz…']],
      truncated: true,
    });
  });

  it('binary values: text-like types decoded (jsonb without its version byte), others as a placeholder', () => {
    const r = through(
      profile(2),
      Buffer.concat([
        buildRowDescription([field('n', 20, 1), field('t', 25, 1), field('j', 3802, 1)]),
        buildDataRow([Buffer.alloc(8, 7), 'mail ann@example.com', Buffer.from('\x01{"k": 1}')]),
        buildCommandComplete('SELECT 1'),
      ]),
    );
    assert.deepEqual(r.capture?.toJSON()?.rows, [['<binary 8 bytes>', 'mail [REDACTED:email]', '{"k": 1}']]);
  });

  it('COPY TO STDOUT: the first masked lines', () => {
    const r = through(
      profile(2),
      Buffer.concat([
        buildCopyResponse('out', 0, [0, 0]),
        buildCopyData(Buffer.from('1\tann@example.com\n')),
        buildCopyData(Buffer.from('2\tbob@example.com\n')),
        buildCopyData(Buffer.from('3\tcid@example.com\n')),
        buildCopyDone(),
        buildCommandComplete('COPY 3'),
      ]),
    );
    assert.deepEqual(r.capture?.toJSON(), {
      rows: [['1\t[REDACTED:email]'], ['2\t[REDACTED:email]']],
      copy: true,
    });
  });

  it('RowCapture ignores rows once full', () => {
    const c = new RowCapture({ rows: 1, maxBytes: 100 });
    c.addDataRows(Buffer.concat([buildDataRow(['a']), buildDataRow(['b'])]), undefined);
    assert.ok(c.full);
    assert.deepEqual(c.toJSON(), { rows: [['a']] });
  });
});
