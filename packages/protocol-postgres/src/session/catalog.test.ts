import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MaskingProfile } from '@tollgate/core';
import {
  BackendCode,
  buildCommandComplete,
  buildDataRow,
  buildReadyForQuery,
  buildRowDescription,
  parseDataRow,
} from '../wire/index';
import { CatalogNames, type TableNames } from './catalog';
import { Refusals } from './denial';
import { ResultMasking } from './masking';
import { newStatementRun, ResultStream, type StatementRun } from './results';

const profile: MaskingProfile = Object.freeze({
  name: 'by-table',
  columns: Object.freeze([
    Object.freeze({ table: 'public.directory', column: 'email', action: 'keep' as const }),
    Object.freeze({ table: 'secrets', action: Object.freeze({ redactAs: 'ssn' }) }),
  ]),
  otherwise: 'scan',
  entities: undefined,
  styles: Object.freeze({}),
  defaultStyle: undefined,
});

const col = (name: string, tableOid: number) => ({
  name,
  tableOid,
  column: 1,
  typeOid: 25,
  typeSize: -1,
  typeModifier: -1,
  format: 0,
});

/** Names that become known when the test says so; counts lookups. */
class Deferred implements TableNames {
  readonly known = new Map<number, string>();
  lookups = 0;
  release: () => void = () => {};
  constructor(readonly answer: Map<number, string>) {}
  name(oid: number): string | undefined {
    return this.known.get(oid);
  }
  missing(oids: readonly number[]): number[] {
    return oids.filter((o) => o !== 0 && !this.known.has(o));
  }
  lookup(): Promise<void> {
    this.lookups++;
    return new Promise((resolve) => {
      this.release = () => {
        for (const [k, v] of this.answer) this.known.set(k, v);
        resolve();
      };
    });
  }
}

function run(): StatementRun {
  return newStatementRun(profile, 1);
}

function values(out: Buffer[]): (string | null)[][] {
  const rows: (string | null)[][] = [];
  const b = Buffer.concat(out);
  for (let i = 0; i < b.length; ) {
    const end = i + 1 + b.readInt32BE(i + 1);
    if (b[i] === BackendCode.DataRow)
      rows.push(parseDataRow(b.subarray(i, end)).values.map((v) => v?.toString() ?? null));
    i = end;
  }
  return rows;
}

const response = Buffer.concat([
  buildRowDescription([col('email', 100), col('note', 200)]),
  buildDataRow(['ann@example.com', 'ann@example.com']),
  buildDataRow(['bob@example.com', 'plain']),
  buildCommandComplete('SELECT 2'),
  buildReadyForQuery('I'),
]);

async function through(
  names: Deferred,
  answer: boolean,
  cut = 40,
): Promise<{ before: Buffer[]; after: Buffer[] }> {
  const resumed: Buffer[][] = [];
  const s = new ResultStream(new ResultMasking(), new Refusals(), () => {}, 1 << 20);
  s.useTables(names, (out) => {
    assert.ok(Array.isArray(out));
    resumed.push(out);
  });
  s.expect({ kind: 'query', runs: [run()] });
  const before = [...s.push(response.subarray(0, cut)), ...s.push(response.subarray(cut))];
  assert.equal(s.holding, true, 'rows wait for the table names');
  assert.deepEqual(values(before), [], 'no DataRow reaches the client before the names are known');
  if (answer) names.release();
  else {
    names.answer.clear();
    names.release();
  }
  for (let i = 0; i < 100 && resumed.length === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(s.holding, false);
  return { before, after: resumed.flat() };
}

describe('table names for table: column rules', () => {
  it('holds the rows until the names are known, then plans by table name', async () => {
    const names = new Deferred(
      new Map([
        [100, 'public.directory'],
        [200, 'public.secrets'],
      ]),
    );
    const { before, after } = await through(names, true);
    assert.equal(before.length, 1, 'the RowDescription went ahead');
    assert.deepEqual(values(after), [
      ['ann@example.com', '[REDACTED:ssn]'],
      ['bob@example.com', '[REDACTED:ssn]'],
    ]);
    assert.equal(names.lookups, 1);
  });

  it('holds whatever a read brings after the row that started the hold, at any cut', async () => {
    // a cut inside the first DataRow: the read that completes it starts the hold, and the rest
    // of that read (framed apart from the cut row) must wait with it
    const rowDescription = buildRowDescription([col('email', 100), col('note', 200)]).length;
    for (let cut = rowDescription + 1; cut < response.length; cut++) {
      const names = new Deferred(
        new Map([
          [100, 'public.directory'],
          [200, 'public.secrets'],
        ]),
      );
      const { before, after } = await through(names, true, cut);
      assert.equal(before.length, 1, `cut ${cut}: only the RowDescription went ahead`);
      assert.deepEqual(
        values(after),
        [
          ['ann@example.com', '[REDACTED:ssn]'],
          ['bob@example.com', '[REDACTED:ssn]'],
        ],
        `cut ${cut}`,
      );
      const tail = Buffer.concat(after).subarray(-buildReadyForQuery('I').length);
      assert.deepEqual(tail, buildReadyForQuery('I'), `cut ${cut}: nothing lost after the rows`);
    }
  });

  it('without names (lookup failed) the fail-safe plan applies: keep rules do not, masking ones do', async () => {
    const names = new Deferred(new Map());
    const { after } = await through(names, false);
    // The `secrets` redaction applies to every column of an unknown table, the keep to none.
    assert.deepEqual(values(after), [
      ['[REDACTED:ssn]', '[REDACTED:ssn]'],
      ['[REDACTED:ssn]', '[REDACTED:ssn]'],
    ]);
    assert.equal(names.lookups, 1, 'one wait per result set, even when the names stay unknown');
  });
});

describe('CatalogNames bounds', () => {
  it('a lookup that cannot connect settles, forgets, and backs off', async () => {
    let now = 1_000_000;
    let connects = 0;
    const names = new CatalogNames(
      async () => {
        connects++;
        throw new Error('target down');
      },
      { now: () => now, backoffMs: 5000 },
    );
    assert.deepEqual(names.missing([0, 16384, 16384, 16385]), [16384, 16385]);
    await names.lookup([16384]);
    assert.equal(names.failures, 1);
    assert.equal(names.name(16384), undefined);
    assert.deepEqual(names.missing([16384]), [], 'no lookups during the back-off');
    now += 5001;
    assert.deepEqual(names.missing([16384]), [16384]);
    assert.equal(connects, 1);
  });

  it('a lookup that hangs is cut at its time bound', async () => {
    const names = new CatalogNames(() => new Promise(() => {}), { timeoutMs: 30 });
    await names.lookup([16384]);
    assert.equal(names.failures, 1);
  });
});
