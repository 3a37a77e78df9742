import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReport, runMaskingBench } from './masking.bench';

// Keeps the benchmark runnable; asserts shape, never an absolute time.
describe('masking benchmark (smoke, 1 MiB)', () => {
  it('runs every task side by side and reports ratios', async () => {
    const r = await runMaskingBench({ mb: 1, iterations: 1 });
    assert.equal(r.rows.length, 7);
    for (const row of r.rows) {
      assert.ok(row.gbps > 0 && Number.isFinite(row.gbps), row.name);
    }
    assert.ok(r.rows.filter((x) => x.vsBaseline !== null).length === 4);
    const framing = r.rows.filter((x) => x.name.startsWith('PG framing'));
    assert.equal(framing.length, 3);
    for (const row of framing) assert.ok((row.messagesPerSec ?? 0) > 0, row.name);
    assert.match(formatReport(r), /x JS/);
  });
});
