import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSshReport, runSshBench } from './ssh.bench';

// Keeps the benchmark runnable on a tiny configuration; asserts shape and ratios' presence, never a time.
describe('SSH benchmark (smoke: 2 MiB file, 1 s rates, 5 sessions)', () => {
  it('measures direct and the gateway side by side and holds sessions open', {
    timeout: 240_000,
  }, async () => {
    const r = await runSshBench({
      mb: 2,
      copyRuns: 1,
      execSeconds: 1,
      connectSeconds: 1,
      sessions: 5,
      sessionBatch: 3,
      log: () => undefined,
    });
    assert.deepEqual(
      r.transfer.map((x) => [x.kind, x.endpoint, x.error ?? null]),
      ['scp-get', 'scp-put', 'exec-cat'].flatMap((k) => [
        [k, 'direct', null],
        [k, 'tollgate', null],
      ]),
    );
    for (const x of r.transfer) assert.ok((x.mbPerSec ?? 0) > 0 && (x.ratio ?? 0) > 0, JSON.stringify(x));
    assert.equal(
      r.transfer.find((x) => x.kind === 'scp-get' && x.endpoint === 'tollgate')?.bytes,
      2 * 1024 * 1024,
    );
    assert.deepEqual(
      r.rates.map((x) => [x.kind, x.endpoint, x.error ?? null]),
      [
        ['exec', 'direct', null],
        ['exec', 'tollgate', null],
        ['connect', 'direct', null],
        ['connect', 'tollgate', null],
      ],
    );
    for (const x of r.rates) assert.ok(x.count > 0 && (x.ratio ?? 0) > 0, JSON.stringify(x));
    assert.equal(r.sessions?.opened, 5, r.sessions?.firstError);
    assert.equal(r.sessions?.sampleStillAlive, r.sessions?.sampleSize);
    assert.ok(r.sessions?.rssPerSessionKiB !== null);
    const table = formatSshReport(r);
    assert.match(table, /scp-get\s+tollgate/);
    assert.match(table, /5\/5 opened/);
  });
});
