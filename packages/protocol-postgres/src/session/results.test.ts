import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Errors, TollgateError } from '@tollgate/core';
import {
  BackendCode,
  buildBindComplete,
  buildCommandComplete,
  buildCopyData,
  buildCopyDone,
  buildDataRow,
  buildParseComplete,
  buildReadyForQuery,
  buildRowDescription,
  errorResponse,
  parseDataRow,
  parseErrorResponse,
} from '../wire/index';
import { REFUSAL_MARKER, Refusals } from './denial';
import { ResultMasking } from './masking';
import { newStatementRun, ResultStream, type StatementRun } from './results';
import { SCAN_EVERYTHING } from './session';

const field = (name: string, typeOid = 25, format = 0) => ({
  name,
  tableOid: 0,
  column: 0,
  typeOid,
  typeSize: -1,
  typeModifier: -1,
  format,
});

function run(): StatementRun {
  return newStatementRun(SCAN_EVERYTHING, 1);
}

/** Splits `bytes` at `cuts` and feeds the pieces; returns the concatenated output. */
function feed(stream: ResultStream, bytes: Buffer, cuts: number[]): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(...stream.push(bytes.subarray(at, c)));
    at = c;
  }
  return Buffer.concat(out);
}

function messages(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; ) {
    const len = b.readInt32BE(i + 1);
    out.push(b.subarray(i, i + 1 + len));
    i += 1 + len;
  }
  return out;
}

const masking = new ResultMasking();

describe('ResultStream (target → client)', () => {
  const response = Buffer.concat([
    buildRowDescription([field('id', 23), field('email'), field('note')]),
    buildDataRow(['1', 'ann@example.com', 'card 4111 1111 1111 1111']),
    buildDataRow(['2', null, 'nothing here']),
    buildCommandComplete('SELECT 2'),
    buildReadyForQuery('I'),
  ]);

  for (const cuts of [
    [],
    [1],
    [7],
    [response.length - 3],
    Array.from({ length: response.length - 1 }, (_, i) => i + 1),
  ]) {
    it(`masks DataRows of a simple query, split at ${cuts.length > 3 ? 'every byte' : `[${cuts.join(', ')}]`}`, () => {
      const done: StatementRun[] = [];
      const s = new ResultStream(masking, new Refusals(), (r) => done.push(r), 1 << 20);
      const r = run();
      s.expect({ kind: 'query', runs: [r] });
      const out = messages(feed(s, response, cuts));
      assert.equal(out.length, 5);
      const rows = out
        .filter((m) => m[0] === BackendCode.DataRow)
        .map((m) => parseDataRow(m).values.map((v) => v?.toString() ?? null));
      assert.deepEqual(rows, [
        ['1', '[REDACTED:email]', 'card [REDACTED:card]'],
        ['2', null, 'nothing here'],
      ]);
      assert.equal(done.length, 1);
      assert.equal(r.rows, 2);
      assert.equal(r.outcome, 'SELECT 2');
      assert.deepEqual(r.masked, { email: 1, card: 1 });
    });
  }

  it('an Execute without a Describe is still masked (every column scanned)', () => {
    const s = new ResultStream(masking, new Refusals(), () => {}, 1 << 20);
    const r = run();
    s.expect({ kind: 'parse' });
    s.expect({ kind: 'bind', portal: '', statement: '', resultFormats: [] });
    s.expect({ kind: 'execute', portal: '', run: r });
    s.expect({ kind: 'sync' });
    const out = messages(
      feed(
        s,
        Buffer.concat([
          buildParseComplete(),
          buildBindComplete(),
          buildDataRow(['bob@example.org']),
          buildCommandComplete('SELECT 1'),
          buildReadyForQuery('I'),
        ]),
        [],
      ),
    );
    assert.equal(parseDataRow(out[2] as Buffer).values[0]?.toString(), '[REDACTED:email]');
    assert.equal(r.rows, 1);
  });

  it('binary values of non-text types pass untouched; text types are scanned', () => {
    const s = new ResultStream(masking, new Refusals(), () => {}, 1 << 20);
    const r = run();
    s.expect({ kind: 'query', runs: [r] });
    const int8 = Buffer.from([0, 0, 0, 0, 0x40, 0x41, 0x42, 0x43]);
    const out = messages(
      feed(
        s,
        Buffer.concat([
          buildRowDescription([field('n', 20, 1), field('e', 25, 1)]),
          buildDataRow([int8, 'x@example.com']),
          buildCommandComplete('SELECT 1'),
        ]),
        [],
      ),
    );
    const row = parseDataRow(out[1] as Buffer).values;
    assert.deepEqual(row[0], int8);
    assert.equal(row[1]?.toString(), '[REDACTED:email]');
  });

  it("swaps the target's error for a refusal statement with the gateway's own", () => {
    const refusals = new Refusals();
    const stmt = refusals.statement(
      new TollgateError(Errors.ACCESS_DENIED, 'policy denies dangerous on shop: no', { hint: "rule 'x'" }),
    );
    assert.match(stmt, new RegExp(`^SELECT ${REFUSAL_MARKER}[0-9a-f]{16}\\(\\)$`));
    const fn = stmt.slice('SELECT '.length);
    const targetError = errorResponse({
      severity: 'ERROR',
      code: '42883',
      message: `function ${fn} does not exist`,
    });
    const s = new ResultStream(masking, refusals, () => {}, 1 << 20);
    s.expect({ kind: 'query', runs: [] });
    const out = messages(feed(s, Buffer.concat([targetError, buildReadyForQuery('I')]), [3]));
    const f = parseErrorResponse(out[0] as Buffer).fields;
    assert.equal(f.code, '42501');
    assert.equal(f.message, 'policy denies dangerous on shop: no');
    assert.equal(f.hint, "rule 'x'");
    // A client's own error that merely mentions the marker passes through unchanged.
    const s2 = new ResultStream(masking, refusals, () => {}, 1 << 20);
    s2.expect({ kind: 'query', runs: [] });
    const own = errorResponse({
      severity: 'ERROR',
      code: '22P02',
      message: `invalid input: ${REFUSAL_MARKER}0000000000000000`,
    });
    assert.equal(parseErrorResponse(messages(feed(s2, own, []))[0] as Buffer).fields.code, '22P02');
  });

  it('errors, notices and notifications that quote data are masked too', () => {
    const s = new ResultStream(masking, new Refusals(), () => {}, 1 << 20);
    s.expect({ kind: 'query', runs: [run()] });
    const dup = errorResponse({
      severity: 'ERROR',
      code: '23505',
      message: 'duplicate key value violates unique constraint "customers_email_key"',
      detail: 'Key (email)=(ann@example.com) already exists.',
    });
    const out = messages(feed(s, Buffer.concat([dup, buildReadyForQuery('I')]), []));
    const f = parseErrorResponse(out[0] as Buffer).fields;
    assert.equal(f.code, '23505');
    assert.equal(f.detail, 'Key (email)=([REDACTED:email]) already exists.');
  });

  it('COPY OUT data is masked a run at a time and sent one row per CopyData', () => {
    const s = new ResultStream(masking, new Refusals(), () => {}, 1 << 20);
    const r = run();
    s.expect({ kind: 'query', runs: [r] });
    const copyOut = Buffer.from([0x48, 0, 0, 0, 7, 0, 0, 0]); // CopyOutResponse, text, 0 columns
    const rows = ['1,ann@example.com\n', '2,plain\n', '3,4111 1111 1111 1111\n'].map((t) =>
      buildCopyData(Buffer.from(t)),
    );
    const all = Buffer.concat([
      copyOut,
      ...rows,
      buildCopyDone(),
      buildCommandComplete('COPY 3'),
      buildReadyForQuery('I'),
    ]);
    const out = messages(feed(s, all, [9, 30]));
    const data = out.filter((m) => m[0] === BackendCode.CopyData).map((m) => m.subarray(5).toString());
    assert.deepEqual(data, ['1,[REDACTED:email]\n', '2,plain\n', '3,[REDACTED:card]\n']);
    assert.equal(r.rows, 3);
    assert.deepEqual(r.masked, { email: 1, card: 1 });
    assert.equal(r.outcome, 'COPY 3');
  });
});
