import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MaskingProfile } from '@tollgate/core';
import { buildDataRow, parseDataRow } from '../wire/index';
import { ResultMasking } from './masking';

const profile = (p: Partial<MaskingProfile>): MaskingProfile => ({
  name: 'p',
  columns: [],
  otherwise: 'scan',
  entities: undefined,
  styles: {},
  defaultStyle: undefined,
  ...p,
});

const col = (name: string, typeOid = 25, format = 0) => ({ name, tableOid: 16384, typeOid, format });

function apply(
  m: ResultMasking,
  p: MaskingProfile,
  cols: ReturnType<typeof col>[],
  values: string[],
): (string | null)[] {
  const plan = m.plan(p, cols);
  const row = buildDataRow(values);
  if (!plan) return values;
  return parseDataRow(m.masker(p).maskDataRows(row, plan).output).values.map((v) => v?.toString() ?? null);
}

describe('ResultMasking: per-column plans from a masking profile', () => {
  const m = new ResultMasking();

  it('redactAs replaces a whole value whatever it looks like; keep leaves it; the rest is scanned', () => {
    const p = profile({
      columns: [
        { column: 'secret', action: { redactAs: 'aws_secret_key' } },
        { column: 'email', action: 'keep' },
      ],
    });
    const out = apply(
      m,
      p,
      [col('secret'), col('email'), col('note')],
      ['hunter2', 'kept@example.com', 'mail x@example.com'],
    );
    assert.deepEqual(out, ['[REDACTED:aws_secret_key]', 'kept@example.com', 'mail [REDACTED:email]']);
  });

  it('otherwise: keep passes unmatched columns; no plan at all when every column is kept', () => {
    const p = profile({
      otherwise: 'keep',
      columns: [{ type: 'text', column: 'note', action: { scan: ['email'] } }],
    });
    assert.equal(m.plan(p, [col('id', 23), col('other')]), undefined);
    assert.deepEqual(apply(m, p, [col('other'), col('note')], ['a@example.com', 'b@example.com']), [
      'a@example.com',
      '[REDACTED:email]',
    ]);
  });

  it('table rules: unknown table names make masking rules apply and keeping rules not (fail safe)', () => {
    const p = profile({
      otherwise: 'keep',
      columns: [
        { table: 'audit_log', action: 'keep' },
        { table: 'customers', column: 'ssn', action: { redactAs: 'ssn' } },
      ],
    });
    assert.deepEqual(apply(m, p, [col('ssn'), col('name')], ['not-an-ssn', 'Ann']), [
      '[REDACTED:ssn]',
      'Ann',
    ]);
  });

  it('binary non-text columns are kept even when the profile scans everything', () => {
    const p = profile({});
    const plan = m.plan(p, [col('n', 20, 1)]);
    assert.equal(plan, undefined);
  });

  it('reuses the plan for the same columns', () => {
    const p = profile({});
    assert.equal(m.plan(p, [col('a'), col('b')]), m.plan(p, [col('a'), col('b')]));
  });
});
