import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAuditReport, runAuditBench } from './audit.bench';

// Keeps the benchmark runnable; asserts shape, never a time.
describe('audit benchmark (smoke, SQLite, a few hundred events)', () => {
  it('runs the sequential and concurrent variants and verifies what they wrote', async () => {
    const r = await runAuditBench({ events: 600, sequential: 20, concurrency: 50, postgres: false });
    assert.deepEqual(
      r.rows.map((x) => [x.store, x.mode, x.events]),
      [
        ['sqlite', 'sequential', 20],
        ['sqlite', 'concurrent', 600],
      ],
    );
    for (const row of r.rows) assert.ok(row.eventsPerSec > 0 && Number.isFinite(row.eventsPerSec));
    const [seq, conc] = r.rows;
    assert.equal(seq?.commits, 20, 'one commit per awaited append');
    assert.ok((conc?.commits ?? 600) < 600, 'concurrent appends share commits');
    assert.ok((conc?.verifyPerSec ?? 0) > 0);
    assert.match(formatAuditReport(r), /sqlite\s+concurrent/);
  });
});
