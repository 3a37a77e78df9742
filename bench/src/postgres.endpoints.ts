import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '@tollgate/gateway';
import type { PostgresTarget } from '@tollgate/integration';
import { registerBenchEndpoint } from './postgres.bench';

/**
 * Tollgate in the PostgreSQL bench, with everything a production gateway does on: token
 * authentication, classification of every statement with the PostgreSQL parser, policy, a
 * durable (SQLite, synchronous=FULL, group-committed) write-ahead audit record per statement and
 * its result record, and masking of every result column for every entity.
 */
registerBenchEndpoint({
  name: 'tollgate',
  async start(target: PostgresTarget) {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
    writeFileSync(
      join(dir, 'policy.yaml'),
      `version: 1
resources:
  bench:
    protocol: postgres
    address: ${target.host}:${target.port}
    database: ${target.database}
    username: ${target.user}
    credential: { env: TOLLGATE_BENCH_TARGET_PASSWORD }
maskingProfiles:
  everything: { otherwise: scan }
rules:
  - name: bench-agent
    subjects: [{ serviceAccount: bench-agent }]
    resources: [bench]
    actions: [read, write, transaction, utility]
    effect: allow
    masking: everything
`,
    );
    const gw = await Gateway.start({
      controlPlane: { store: { sqlite: join(dir, 'state.db') }, policyFile: join(dir, 'policy.yaml') },
      postgres: { host: '127.0.0.1', port: 0 },
      env: { ...process.env, TOLLGATE_BENCH_TARGET_PASSWORD: target.password },
    });
    const { apiKey } = await gw.controlPlane.serviceAccounts.create({ name: 'bench-agent', groups: [] });
    return {
      endpoint: {
        name: 'tollgate',
        host: '127.0.0.1',
        port: gw.postgres?.port ?? 0,
        user: 'bench-agent',
        password: apiKey,
        database: 'bench',
        sslmode: 'disable' as const,
      },
      async stop() {
        await gw.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
