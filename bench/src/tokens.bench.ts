/**
 * Token verifications per second, side by side in one run: OIDC access tokens (RS256 and ES256,
 * issued by a real local OpenID provider, JWKS already cached), the gateway's own EdDSA tokens,
 * service-account API keys looked up in SQLite, and the TokenAuthenticator's dispatch on top of
 * an RS256 token. One verification at a time (sequential), as one session's authentication is.
 *
 *   node bench/dist/tokens.bench.js [--time 2000] [--out bench/results/tokens.local.json]
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  closeStore,
  GatewayTokens,
  OidcVerifier,
  openSqlite,
  ServiceAccounts,
  TokenAuthenticator,
} from '@tollgate/control-plane';
import { startTestIdp } from '@tollgate/control-plane/dist/identity/testing/oidc-provider';

export interface TokenRow {
  name: string;
  opsPerSec: number;
  meanUs: number;
  p99Us: number;
  samples: number;
}

export interface TokenReport {
  date: string;
  node: string;
  cpu: string;
  rows: TokenRow[];
}

export async function runTokensBench(options: { timeMs: number }): Promise<TokenReport> {
  const idp = await startTestIdp({ accessTokenTtlSec: 3600 });
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-tokens-bench-'));
  const db = openSqlite(join(dir, 'control-plane.db'));
  try {
    const rs = new OidcVerifier({ issuer: idp.issuer, audience: idp.rs256Audience });
    const es = new OidcVerifier({ issuer: idp.issuer, audience: idp.es256Audience });
    const rsToken = await idp.token({ alg: 'RS256' });
    const esToken = await idp.token({ alg: 'ES256' });
    const gateway = new GatewayTokens({
      privateKey: generateKeyPairSync('ed25519').privateKey,
      ttlSeconds: 3600,
    });
    const gwToken = (
      await gateway.issue({ subject: 'ann', kind: 'saml', issuer: 'https://idp', groups: ['dba'] })
    ).token;
    const accounts = await ServiceAccounts.open(db);
    // a table with some rows, not just the one being looked up
    for (let i = 0; i < 200; i++) await accounts.create({ name: `bench-${i}`, groups: ['g'] });
    const { apiKey } = await accounts.create({ name: 'bench-agent', groups: ['etl'] });
    const auth = new TokenAuthenticator({ oidc: [rs], gatewayTokens: gateway, serviceAccounts: accounts });
    // warm: JWKS fetched, keys imported, statements prepared
    for (const check of [
      rs.verify(rsToken),
      es.verify(esToken),
      gateway.verify(gwToken),
      accounts.verify(apiKey),
    ]) {
      await check;
    }

    // tinybench is ESM-only; this package is CommonJS
    const { Bench } = await import('tinybench');
    const bench = new Bench({
      time: options.timeMs,
      warmupTime: Math.min(500, options.timeMs / 4),
      throws: true,
    });
    bench
      .add('OIDC RS256 (warm JWKS)', () => rs.verify(rsToken))
      .add('OIDC ES256 (warm JWKS)', () => es.verify(esToken))
      .add('gateway token EdDSA', () => gateway.verify(gwToken))
      .add('API key, SQLite lookup', () => accounts.verify(apiKey))
      .add('TokenAuthenticator dispatch + OIDC RS256', () => auth.authenticateToken(rsToken));
    await bench.run();
    const rows: TokenRow[] = bench.tasks.map((task) => {
      const r = task.result;
      if (!('latency' in r)) throw new Error(`${task.name}: ${'error' in r ? String(r.error) : r.state}`);
      return {
        name: task.name,
        opsPerSec: 1000 / r.latency.mean,
        meanUs: r.latency.mean * 1000,
        p99Us: r.latency.p99 * 1000,
        samples: r.latency.samplesCount,
      };
    });
    await accounts.close();
    return {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      rows,
    };
  } finally {
    await closeStore(db);
    await idp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatTokensReport(r: TokenReport): string {
  const lines = [
    `${r.cpu}; node ${r.node}; sequential verifications`,
    `${'verification'.padEnd(44)} ${'ops/s'.padStart(10)} ${'mean µs'.padStart(9)} ${'p99 µs'.padStart(9)}`,
  ];
  for (const row of r.rows) {
    lines.push(
      `${row.name.padEnd(44)} ${Math.round(row.opsPerSec).toString().padStart(10)} ${row.meanUs.toFixed(1).padStart(9)} ${row.p99Us.toFixed(1).padStart(9)}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      time: { type: 'string', default: '2000' },
      out: { type: 'string', default: join(__dirname, '..', 'results', 'tokens.local.json') },
    },
  });
  const report = await runTokensBench({ timeMs: Number(values.time) });
  console.log(formatTokensReport(report));
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwritten to ${values.out}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
