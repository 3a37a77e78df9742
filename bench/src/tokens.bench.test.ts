import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatTokensReport, runTokensBench } from './tokens.bench';

// Keeps the benchmark runnable; asserts shape, never an absolute rate.
describe('token verification benchmark (smoke, short run)', () => {
  it('verifies every kind of token and reports a rate for each', { timeout: 120_000 }, async () => {
    const r = await runTokensBench({ timeMs: 50 });
    assert.deepEqual(
      r.rows.map((x) => x.name),
      [
        'OIDC RS256 (warm JWKS)',
        'OIDC ES256 (warm JWKS)',
        'gateway token EdDSA',
        'API key, SQLite lookup',
        'TokenAuthenticator dispatch + OIDC RS256',
      ],
    );
    for (const row of r.rows) assert.ok(row.opsPerSec > 0 && Number.isFinite(row.opsPerSec), row.name);
    assert.match(formatTokensReport(r), /ops\/s/);
  });
});
