import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gateway } from '@tollgate/gateway';
import { endpointFromTarget, type PostgresTarget } from '@tollgate/integration';
import { registerBenchEndpoint } from './postgres.bench';

/**
 * The bench's masking profiles. `everything` scans every column of every result for every
 * entity: the most a masking gateway can be asked to do. `columns` is what an operator who knows
 * the `customers` table writes: its PII columns redacted as their entity without scanning, number
 * and time columns kept, the rest (names, cities, and pgbench's columns) scanned.
 */
const PROFILES = {
  everything: '{ otherwise: scan }',
  columns: `
    otherwise: scan
    columns:
      - { column: email, action: { redactAs: email } }
      - { column: phone, action: { redactAs: phone } }
      - { column: card_number, action: { redactAs: card } }
      - { column: ssn, action: { redactAs: ssn } }
      - { column: iban, action: { redactAs: iban } }
      - { type: numeric, action: keep }
      - { type: int8, action: keep }
      - { type: timestamptz, action: keep }`,
} as const;

/**
 * Tollgate in the PostgreSQL bench, with everything a production gateway does on: token
 * authentication, classification of every statement with the PostgreSQL parser, policy, a
 * durable (SQLite, synchronous=FULL, group-committed) write-ahead audit record per statement and
 * its result record, and masking by one of the profiles above.
 */
async function startTollgate(
  target: PostgresTarget,
  name: string,
  durableAudit: boolean,
  profile: keyof typeof PROFILES = 'everything',
) {
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
  bench: ${PROFILES[profile]}
rules:
  - name: bench-agent
    subjects: [{ serviceAccount: bench-agent }]
    resources: [bench]
    actions: [read, write, transaction, utility]
    effect: allow
    masking: bench
`,
  );
  const gw = await Gateway.start({
    controlPlane: {
      store: { sqlite: durableAudit ? join(dir, 'state.db') : ':memory:' },
      policyFile: join(dir, 'policy.yaml'),
    },
    postgres: { host: '127.0.0.1', port: 0 },
    env: { ...process.env, TOLLGATE_BENCH_TARGET_PASSWORD: target.password },
  });
  const { apiKey } = await gw.controlPlane.serviceAccounts.create({ name: 'bench-agent', groups: [] });
  return {
    inProcess: true,
    endpoint: {
      name,
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
}

/**
 * The ceiling of any gateway whose data path runs in Node.js: a TCP relay in this process that
 * parses nothing, audits nothing and masks nothing (socket to socket, no Nagle). What Tollgate
 * reaches is best read against this row as well as against direct and PgBouncer.
 */
async function startNodeRelay(target: PostgresTarget) {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = netConnect(target.port, target.host);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return {
    inProcess: true,
    endpoint: {
      ...endpointFromTarget(target, 'node-relay'),
      host: '127.0.0.1',
      port: typeof address === 'object' && address ? address.port : 0,
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

registerBenchEndpoint({ name: 'node-relay', start: startNodeRelay });
registerBenchEndpoint({ name: 'tollgate', start: (target) => startTollgate(target, 'tollgate', true) });
registerBenchEndpoint({
  name: 'tollgate-cols',
  start: (target) => startTollgate(target, 'tollgate-cols', true, 'columns'),
});

/**
 * A measurement of what the durable write-ahead record costs, not a configuration to run:
 * with TOLLGATE_BENCH_AUDIT_IN_MEMORY=1 the bench also runs a gateway whose audit store is an
 * in-memory SQLite database (the same records, hashes and checkpoints, committed on the main
 * thread, no fsync and no writer thread). The difference to `tollgate` is the price of the
 * guarantee that a statement's record is on disk before the statement reaches the target.
 */
if (process.env.TOLLGATE_BENCH_AUDIT_IN_MEMORY === '1') {
  registerBenchEndpoint({
    name: 'tg-memaudit',
    start: (target) => startTollgate(target, 'tg-memaudit', false),
  });
}
