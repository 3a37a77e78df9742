import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import type { ApprovalRequest } from '@tollgate/core';
import { Gateway, type GatewayOptions } from '@tollgate/gateway';
import {
  endpointFromTarget,
  FailureTracker,
  type PgEndpoint,
  type PostgresTarget,
  seedCustomers,
  selectProvider,
} from '../harness/index';

/** A real PostgreSQL target with a seeded `customers` table behind a real gateway. */
export interface GatewayFixture {
  readonly target: PostgresTarget;
  readonly gw: Gateway;
  readonly dir: string;
  /** API keys by service-account name. */
  readonly keys: Readonly<Record<string, string>>;
  /** Lines the gateway logged. */
  readonly logs: string[];
  /** The gateway's PostgreSQL endpoint for a service account and a resource. */
  ep(account: string, database: string): PgEndpoint;
  stop(keepLogs: boolean): Promise<void>;
}

export interface GatewayFixtureOptions {
  suite: string;
  policy: (target: PostgresTarget) => string;
  accounts: Readonly<Record<string, string[]>>;
  rows?: number;
  postgres?: Partial<NonNullable<GatewayOptions['postgres']>>;
}

/**
 * Starts the fixture in the enclosing suite's `before` hook and stops it in `after` (the
 * target's logs kept when a test failed). Returns an accessor that fails clearly when the
 * start did not succeed.
 */
export function useGatewayFixture(opts: GatewayFixtureOptions): () => GatewayFixture {
  const failures = new FailureTracker();
  let fx: GatewayFixture | undefined;
  before(
    async () => {
      fx = await startGatewayFixture(opts);
    },
    { timeout: 150_000 },
  );
  afterEach(failures.afterEach);
  after(() => fx?.stop(failures.failed), { timeout: 60_000 });
  return () => {
    assert.ok(fx, 'the gateway fixture did not start');
    return fx;
  };
}

export async function startGatewayFixture(opts: GatewayFixtureOptions): Promise<GatewayFixture> {
  const target = await (await selectProvider()).startPostgres({ suite: opts.suite });
  const dir = mkdtempSync(join(tmpdir(), `tollgate-${opts.suite}-`));
  const logs: string[] = [];
  try {
    const seeded = await seedCustomers(endpointFromTarget(target), opts.rows ?? 200);
    assert.equal(seeded.code, 0, seeded.stderr);
    writeFileSync(join(dir, 'policy.yaml'), opts.policy(target));
    const gw = await Gateway.start({
      controlPlane: {
        store: { sqlite: join(dir, 'state.db') },
        policyFile: join(dir, 'policy.yaml'),
        api: { host: '127.0.0.1', port: 0 },
      },
      postgres: { host: '127.0.0.1', port: 0, ...opts.postgres },
      env: { ...process.env, TG_TEST_TARGET_PASSWORD: target.password },
      log: (l) => logs.push(l),
    });
    const keys: Record<string, string> = {};
    for (const [name, groups] of Object.entries(opts.accounts)) {
      keys[name] = (await gw.controlPlane.serviceAccounts.create({ name, groups })).apiKey;
    }
    return {
      target,
      gw,
      dir,
      keys,
      logs,
      ep: (account, database) => ({
        name: 'tollgate',
        host: '127.0.0.1',
        port: gw.postgres?.port ?? 0,
        user: account,
        password: keys[account] ?? '',
        database,
        sslmode: 'disable',
      }),
      async stop(keepLogs) {
        await gw.stop();
        await target.stop({ keepLogs });
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await target.stop({ keepLogs: true });
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A policy resource block for the fixture's target. */
export function resourceYaml(name: string, target: PostgresTarget): string {
  return `  ${name}:
    protocol: postgres
    address: 127.0.0.1:${target.port}
    database: ${target.database}
    username: ${target.user}
    credential: { env: TG_TEST_TARGET_PASSWORD }
`;
}

/**
 * The pending approval requests, once there is at least one: polls the control plane every
 * 50 ms, at most `attempts` times (a held statement reaches it asynchronously).
 */
export async function pendingApprovals(gw: Gateway, attempts = 200): Promise<ApprovalRequest[]> {
  let pending: ApprovalRequest[] = [];
  for (let i = 0; i < attempts && pending.length === 0; i++) {
    pending = await gw.controlPlane.approvals.list({ status: 'pending' });
    if (pending.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  return pending;
}
