import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import {
  type ApiServices,
  Approvals,
  type AuditStore,
  closeStore,
  controlPlaneRoutes,
  openAuditStore,
  openSqlite,
  type StoreDb,
} from '@tollgate/control-plane';
import type { ApprovalRequest, Identity } from '@tollgate/core';
import { type CliRun, runCli } from './testing/run-cli';

/**
 * `tollgate serve` as a user runs it: a real process on a SQLite store and a policy file, with
 * the control-plane API called over HTTP and through the `tollgate approvals` CLI. Every JSON
 * response is checked against the schema the OpenAPI document publishes for its operation.
 */

const BIN = join(__dirname, '..', 'bin', 'tollgate.js');
const ROUTES = controlPlaneRoutes({} as ApiServices);

const POLICY = `version: 1
roles:
  admin: [{ group: platform-admins }]
  reviewer: [{ group: dba-reviewers }]
resources:
  payments-db:
    protocol: postgres
    address: 127.0.0.1:5432
    username: tollgate_svc
    credential: { env: PAYMENTS_DB_PASSWORD }
rules:
  - name: agents-read
    subjects: [{ group: agents }]
    resources: [payments-db]
    actions: [read]
    effect: allow
  - name: drop-needs-two
    subjects: [{ group: agents }]
    resources: [payments-db]
    actions: [dangerous]
    effect: require-approval
    approval: { reviewers: [dba-reviewers], approvals: 2, timeout: 10m }
`;

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(args, { env });
}

describe('tollgate serve: control-plane API', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-serve-'));
  const dbPath = join(dir, 'state', 'tollgate.db');
  let server: ChildProcess | undefined;
  let serverLog = '';
  let base = '';
  const keys: Record<string, string> = {};
  let store: StoreDb | undefined;
  let audit: AuditStore | undefined;
  let approvals: Approvals | undefined;
  const gate = (): Approvals => {
    assert.ok(approvals, 'approvals not opened');
    return approvals;
  };
  const agent: Identity = {
    subject: 'etl-bot',
    kind: 'service-account',
    issuer: 'tollgate',
    groups: ['agents'],
  };

  /** Calls the API and checks the body against the documented schema of the operation. */
  async function call(
    method: string,
    path: string,
    opts: { as?: string; body?: unknown; raw?: string } = {},
    // biome-ignore lint/suspicious/noExplicitAny: the tests read fields of JSON bodies
  ): Promise<{ status: number; body: any; text: string; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (opts.as) headers.authorization = `Bearer ${keys[opts.as]}`;
    if (opts.body !== undefined || opts.raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(opts.raw !== undefined
        ? { body: opts.raw }
        : opts.body !== undefined
          ? { body: JSON.stringify(opts.body) }
          : {}),
    });
    const text = await res.text();
    const json = (res.headers.get('content-type') ?? '').startsWith('application/json')
      ? JSON.parse(text)
      : undefined;
    const route = ROUTES.find(
      (r) =>
        r.method === method.toLowerCase() &&
        new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(path.split('?')[0] as string),
    );
    if (route && res.status === route.response.status && route.response.schema && json !== undefined) {
      const errors = [...Value.Errors(route.response.schema, json)].map((e) => `${e.path}: ${e.message}`);
      assert.deepEqual(
        errors,
        [],
        `${method} ${path} response does not match the OpenAPI schema of ${route.operationId}`,
      );
    }
    if (res.status >= 400 && json)
      assert.equal(typeof json.error?.message, 'string', 'errors carry {error:{code,message}}');
    return { status: res.status, body: json, text, headers: res.headers };
  }

  before(async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'audit.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    writeFileSync(
      join(dir, 'tollgate.yaml'),
      `store: { sqlite: state/tollgate.db }\npolicy: { file: policy.yaml }\napi: { listen: 127.0.0.1:0 }\naudit: { signingKey: { file: audit.pem }, checkpointEvery: 5 }\n`,
    );
    for (const [name, groups] of [
      ['admin', 'platform-admins'],
      ['rev1', 'dba-reviewers'],
      ['rev2', 'dba-reviewers'],
      ['etl-bot', 'agents'],
    ] as const) {
      const r = await run([
        'service-accounts',
        'create',
        name,
        '--groups',
        groups,
        '--store',
        `sqlite:${dbPath}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      keys[name] = r.stdout.trim();
    }
    server = spawn(process.execPath, [BIN, 'serve', '--config', join(dir, 'tollgate.yaml')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${serverLog}`)), 30_000);
      server?.stderr?.on('data', (c: Buffer) => {
        serverLog += c.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serverLog);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
      server?.on('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${serverLog}`)));
    });
    // The data path's side of an approval, in this process on the same store: it holds a
    // command and waits; the gateway process wakes it when reviewers decide.
    store = openSqlite(dbPath);
    audit = await openAuditStore(store, {});
    approvals = await Approvals.open(store, { audit });
  });

  after(async () => {
    await approvals?.close();
    await audit?.close();
    if (store) await closeStore(store);
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves health, readiness, metrics and its OpenAPI document (the committed one)', async () => {
    assert.deepEqual((await call('GET', '/healthz')).body, { status: 'ok' });
    const ready = await call('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.ready, true);
    const metrics = await call('GET', '/metrics');
    assert.match(metrics.text, /^# TYPE tollgate_audit_appended_total gauge$/m);
    assert.match(metrics.text, /tollgate_api_requests_total\{operation="health",status="200"\} 1/);
    const doc = await call('GET', '/openapi.json');
    const committed = JSON.parse(
      readFileSync(join(__dirname, '..', '..', 'control-plane', 'openapi.json'), 'utf8'),
    );
    assert.deepEqual(
      doc.body,
      committed,
      'served OpenAPI document differs from packages/control-plane/openapi.json',
    );
    // Every documented operation exists on the server (answers with something other than 404/405).
    for (const [path, ops] of Object.entries(doc.body.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(ops)) {
        const concrete = path.replace(/\{\w+\}/g, 'nonexistent');
        const res = await fetch(`${base}${concrete}`, { method: method.toUpperCase() });
        assert.ok(res.status !== 405, `${method} ${path} is documented but not served`);
        await res.arrayBuffer();
      }
    }
  });

  it('authenticates every non-public call and enforces roles', async () => {
    const none = await call('GET', '/v1/whoami');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="tollgate"');
    const forged = await fetch(`${base}/v1/whoami`, { headers: { authorization: 'Bearer tgk_bogus_bogus' } });
    assert.equal(forged.status, 401);
    const who = await call('GET', '/v1/whoami', { as: 'rev1' });
    assert.equal(who.body.identity.subject, 'rev1');
    assert.deepEqual(who.body.roles, ['reviewer']);
    assert.equal((await call('GET', '/v1/approvals', { as: 'etl-bot' })).status, 403);
    const auditAsReviewer = await call('GET', '/v1/audit/events', { as: 'rev1' });
    assert.equal(auditAsReviewer.status, 403);
    assert.match(auditAsReviewer.body.error.message, /rev1 does not have the admin role/);
    assert.equal((await call('GET', '/v1/nope', { as: 'admin' })).status, 404);
    assert.equal((await call('DELETE', '/v1/approvals', { as: 'admin' })).status, 405);
  });

  it('a held command waits until two reviewers approve through the CLI and the API', async () => {
    const held = await gate().request({
      requester: agent,
      resource: 'payments-db',
      sessionId: 'sess-1',
      action: 'dangerous',
      command: 'DROP TABLE ledger_archive',
      fingerprint: 'fp-drop-ledger-archive',
      requirement: { reviewers: ['dba-reviewers'], approvals: 2, timeoutMs: 600_000 },
    });
    let woke: ApprovalRequest | undefined;
    const waiting = gate()
      .wait(held.id)
      .then((r) => {
        woke = r;
        return r;
      });

    const listed = await call('GET', '/v1/approvals', { as: 'rev1' });
    assert.deepEqual(
      listed.body.approvals.map((a: ApprovalRequest) => a.id),
      [held.id],
    );
    const env = { TOLLGATE_SERVER: base, TOLLGATE_TOKEN: keys.rev1 };
    const show = await run(['approvals', 'show', held.id], env);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /command: +DROP TABLE ledger_archive/);
    assert.match(show.stdout, /needs: +2 approval\(s\) from dba-reviewers/);

    const first = await run(['approvals', 'approve', held.id, '--reason', 'archive is in cold storage'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /vote recorded \(pending\)/);
    const again = await run(['approvals', 'approve', held.id], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already voted|no longer/);
    assert.equal(woke, undefined, 'one approval of two must not release the command');

    const second = await call('POST', `/v1/approvals/${held.id}/approve`, { as: 'rev2', body: {} });
    assert.equal(second.status, 200);
    assert.equal(second.body.status, 'approved');
    const decided = await Promise.race([
      waiting,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('waiter not woken')), 20_000)),
    ]);
    assert.equal(decided.status, 'approved');
    assert.deepEqual(
      decided.votes.map((v) => v.reviewer),
      ['rev1', 'rev2'],
    );
    assert.equal(await gate().releases(held.id, 'sess-1', 'fp-drop-ledger-archive'), true);
  });

  it('deny needs a reason; the agent cannot decide its own request', async () => {
    const held = await gate().request({
      requester: agent,
      resource: 'payments-db',
      sessionId: 'sess-2',
      action: 'dangerous',
      command: 'TRUNCATE payments',
      fingerprint: 'fp-truncate',
      requirement: { reviewers: ['dba-reviewers'], approvals: 1, timeoutMs: 600_000 },
    });
    const env = { TOLLGATE_SERVER: base, TOLLGATE_TOKEN: keys.rev1 };
    const noReason = await run(['approvals', 'deny', held.id], env);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /--reason is required/);
    const emptyReason = await call('POST', `/v1/approvals/${held.id}/deny`, {
      as: 'rev1',
      body: { reason: '' },
    });
    assert.equal(emptyReason.status, 400);
    assert.match(emptyReason.body.error.message, /body\.reason/);
    const badJson = await call('POST', `/v1/approvals/${held.id}/deny`, { as: 'rev1', raw: '{not json' });
    assert.equal(badJson.status, 400);
    const self = await call('POST', `/v1/approvals/${held.id}/approve`, { as: 'etl-bot', body: {} });
    assert.equal(self.status, 403);
    const denied = await run(['approvals', 'deny', held.id, '--reason', 'not during month-end close'], env);
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(denied.stdout, /denied/);
    const r = await gate().wait(held.id);
    assert.equal(r.status, 'denied');
    assert.equal(await gate().releases(held.id, 'sess-2', 'fp-truncate'), false);
  });

  it('admins query the audit log (JSON and JSON Lines), verify it and test the policy', async () => {
    const decisions = await call('GET', '/v1/audit/events?type=approval.decision', { as: 'admin' });
    assert.equal(decisions.status, 200);
    const verdicts = decisions.body.records.map((r: { data: { verdict?: string } }) => r.data.verdict);
    assert.ok(verdicts.includes('approve') && verdicts.includes('deny'), JSON.stringify(verdicts));
    const lines = await call('GET', '/v1/audit/events?type=approval.request&format=jsonl', { as: 'admin' });
    assert.equal(lines.headers.get('content-type'), 'application/x-ndjson');
    const parsed = lines.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(parsed.length, 2);
    assert.equal((await call('GET', '/v1/audit/events?from=yesterday', { as: 'admin' })).status, 400);
    const verify = await call('GET', '/v1/audit/verify', { as: 'admin' });
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body));

    const test = await call('POST', '/v1/policy/test', {
      as: 'admin',
      body: {
        identity: { subject: 'etl-bot', kind: 'service-account', groups: ['agents'] },
        resource: 'payments-db',
        action: 'dangerous',
      },
    });
    assert.equal(test.status, 200);
    assert.equal(test.body.decision.effect, 'require-approval');
    assert.equal(test.body.decision.rule, 'drop-needs-two');
  });

  it('service accounts are created and revoked at once through the API; keys are never listed', async () => {
    const created = await call('POST', '/v1/service-accounts', {
      as: 'admin',
      body: { name: 'nightly-report', groups: ['agents'] },
    });
    assert.equal(created.status, 201);
    keys.nightly = created.body.apiKey;
    assert.equal((await call('GET', '/v1/whoami', { as: 'nightly' })).status, 200);
    const listed = await call('GET', '/v1/service-accounts', { as: 'admin' });
    assert.ok(listed.body.serviceAccounts.some((a: { name: string }) => a.name === 'nightly-report'));
    assert.ok(!listed.text.includes(keys.nightly as string), 'API keys must never be listed');
    assert.equal((await call('DELETE', '/v1/service-accounts/nightly-report', { as: 'admin' })).status, 200);
    const after = await call('GET', '/v1/whoami', { as: 'nightly' });
    assert.equal(after.status, 401);
    assert.match(after.body.error.message, /revoked/);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => server?.on('exit', (code) => resolve(code)));
    server?.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!serverLog.includes(keys.admin as string), 'the gateway log must not contain API keys');
  });
});
