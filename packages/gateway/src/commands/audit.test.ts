import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeStore, openAuditStore, openSqlite } from '@tollgate/control-plane';
import type { AuditEventInput, Identity } from '@tollgate/core';
import { type CliRun, runCli } from '../testing/run-cli';

const _BIN = join(__dirname, '..', '..', 'bin', 'tollgate.js');

function tollgate(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(args, { env, unset: ['TOLLGATE_STORE', 'TOLLGATE_AUDIT_PUBLIC_KEY'] });
}

const ann: Identity = { subject: 'ann', kind: 'oidc', issuer: 'https://idp.example.com', groups: ['agents'] };
const bot: Identity = { subject: 'ci-bot', kind: 'service-account', issuer: 'tollgate', groups: ['ci'] };
const day = (iso: string, h = 12) => Date.parse(`${iso}T${String(h).padStart(2, '0')}:00:00Z`);

/** A quarter of gateway activity: two approved and one denied dangerous command, reads, one out of window. */
function events(): AuditEventInput[] {
  const cmd = (
    at: number,
    identity: Identity,
    action: string,
    command: string,
    extra: Partial<AuditEventInput> = {},
  ) =>
    ({
      type: 'command',
      at,
      identity,
      resource: 'billing-db',
      sessionId: 's1',
      action,
      decision: 'allow',
      data: { command },
      ...extra,
    }) as AuditEventInput;
  const approval = (
    at: number,
    id: string,
    reviewer: string,
    verdict: string,
    reason: string,
  ): AuditEventInput[] => [
    { type: 'approval.request', at: at - 1000, approvalId: id, resource: 'billing-db' },
    {
      type: 'approval.decision',
      at,
      approvalId: id,
      decision: verdict === 'approve' ? 'approved' : 'denied',
      data: { reviewer, verdict, reason },
    },
  ];
  return [
    { type: 'session.start', at: day('2026-06-30'), identity: ann, sessionId: 's0' },
    cmd(day('2026-06-30'), ann, 'dangerous', 'DROP TABLE old_q2', {
      approvalId: 'apr-0',
      decision: 'approved',
    }),
    cmd(day('2026-07-02'), ann, 'read', 'SELECT count(*) FROM invoices'),
    ...approval(day('2026-07-03', 9), 'apr-1', 'bob', 'approve', 'CHG-101'),
    cmd(day('2026-07-03', 10), ann, 'dangerous', 'TRUNCATE staging_invoices', {
      approvalId: 'apr-1',
      decision: 'approved',
    }),
    ...approval(day('2026-08-14', 9), 'apr-2', 'carol', 'deny', 'no change ticket'),
    cmd(day('2026-08-14', 10), bot, 'dangerous', 'DELETE FROM invoices', {
      approvalId: 'apr-2',
      decision: 'denied',
    }),
    cmd(day('2026-09-30', 23), bot, 'dangerous', 'DROP INDEX invoices_tmp', {
      approvalId: 'apr-3',
      decision: 'approved',
    }),
    ...approval(day('2026-10-01', 1), 'apr-3', 'bob', 'approve', 'CHG-140'),
    cmd(day('2026-10-05'), ann, 'dangerous', 'DROP TABLE q4', { approvalId: 'apr-4', decision: 'approved' }),
  ];
}

describe('tollgate audit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-audit-cli-'));
  const path = join(dir, 'tollgate.db');
  const pub = join(dir, 'audit.pub.pem');
  const otherPub = join(dir, 'other.pub.pem');
  const store = `sqlite:${path}`;

  before(async () => {
    const keys = generateKeyPairSync('ed25519');
    writeFileSync(pub, keys.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(otherPub, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const db = openSqlite(path);
    const s = await openAuditStore(db, { signingKey: keys.privateKey, checkpointEvery: 5 });
    for (const e of events()) await s.append(e);
    await s.close();
    await closeStore(db);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('verify: exit 0 and a summary for an intact log', async () => {
    const r = await tollgate(['audit', 'verify', '--store', store, '--public-key', pub]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^ok: 13 records \(seq 1\.\.13\), 2 checkpoints, signatures verified\nhead: seq 13, hash [0-9a-f]{64} \(signed\)\n$/,
    );
    assert.equal(r.stderr, '');
  });

  it('verify: warns when no public key checks the signatures; --format json', async () => {
    const r = await tollgate(['audit', 'verify', '--format', 'json'], { TOLLGATE_STORE: store });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.ok, true);
    assert.equal(report.signatures, 'unchecked');
    assert.match(r.stderr, /no --public-key/);
  });

  it('verify: a different public key fails every signature', async () => {
    const r = await tollgate(['audit', 'verify', '--store', store, '--public-key', otherPub]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAILED: /);
    assert.match(
      r.stdout,
      /seq 5: bad-signature \(checkpoint\): checkpoint at seq 5: signature does not verify/,
    );
  });

  it('query: filters by time window, action and type, as JSON Lines', async () => {
    const r = await tollgate([
      'audit',
      'query',
      '--store',
      store,
      '--from',
      '2026-07-01',
      '--to',
      '2026-10-01',
      '--action',
      'dangerous',
      '--type',
      'command',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.data.command),
      ['TRUNCATE staging_invoices', 'DELETE FROM invoices', 'DROP INDEX invoices_tmp'],
    );
    assert.ok(lines.every((l) => /^[0-9a-f]{64}$/.test(l.hash) && l.approvals === undefined));
  });

  it('query: identity, epoch-millisecond bounds, limit and a table', async () => {
    const r = await tollgate([
      'audit',
      'query',
      '--store',
      store,
      '--identity',
      'ci-bot',
      '--from',
      String(day('2026-01-01')),
      '--format',
      'table',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trimEnd().split('\n');
    assert.match(rows[0] ?? '', /^SEQ\s+TIME\s+TYPE\s+IDENTITY\s+RESOURCE\s+ACTION\s+DECISION\s+COMMAND$/);
    assert.equal(rows.length, 3);
    assert.match(
      rows[1] ?? '',
      /2026-08-14T10:00:00\.000Z\s+command\s+ci-bot\s+billing-db\s+dangerous\s+denied\s+DELETE FROM invoices/,
    );
    const one = await tollgate(['audit', 'query', '--store', store, '--after-seq', '4', '--limit', '1']);
    assert.deepEqual(
      one.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
      [5],
    );
  });

  it('answers "every high-risk command last quarter, who approved it, and prove nothing is missing" in one command', async () => {
    const r = await tollgate(
      [
        'audit',
        'query',
        '--from',
        '2026-07-01',
        '--to',
        '2026-10-01',
        '--type',
        'command',
        '--action',
        'dangerous',
        '--with-approvals',
        '--verify',
        '--public-key',
        pub,
      ],
      { TOLLGATE_STORE: store },
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    const verify = lines.pop();
    const who = lines.map((l) => [
      l.data.command,
      l.approvals.map(
        (a: { data: { reviewer: string; verdict: string; reason: string } }) =>
          `${a.data.reviewer}:${a.data.verdict}:${a.data.reason}`,
      ),
    ]);
    assert.deepEqual(who, [
      ['TRUNCATE staging_invoices', ['bob:approve:CHG-101']],
      ['DELETE FROM invoices', ['carol:deny:no change ticket']],
      ['DROP INDEX invoices_tmp', ['bob:approve:CHG-140']],
    ]);
    assert.equal(verify.verify.ok, true);
    assert.equal(verify.verify.matched, 3);
    assert.equal(verify.verify.signatures, 'verified');
    assert.equal(verify.verify.records, 13);

    const table = await tollgate(
      [
        'audit',
        'query',
        '--from',
        '2026-07-01',
        '--to',
        '2026-10-01',
        '--type',
        'command',
        '--action',
        'dangerous',
        '--with-approvals',
        '--verify',
        '--format',
        'table',
      ],
      { TOLLGATE_STORE: store, TOLLGATE_AUDIT_PUBLIC_KEY: pub },
    );
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /APPROVALS/);
    assert.match(table.stdout, /carol:deny\s+DELETE FROM invoices/);
    assert.match(table.stdout, /\n3 records matched\nverify: ok: 13 records/);
  });

  it('refuses a missing store, an unknown file and a bad time with clear errors', async () => {
    const none = await tollgate(['audit', 'verify']);
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /no store: pass --store sqlite:PATH\|postgres:\/\/\.\.\. or set TOLLGATE_STORE/,
    );
    const missing = await tollgate(['audit', 'verify', '--store', `sqlite:${join(dir, 'nope.db')}`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no audit store at .*nope\.db/);
    const badTime = await tollgate(['audit', 'query', '--store', store, '--from', 'last tuesday']);
    assert.equal(badTime.code, 2);
    assert.match(badTime.stderr, /--from: not an ISO 8601 date or epoch milliseconds: last tuesday/);
  });

  it('verify: exit 1 and every tampered record named by position', async () => {
    const copy = join(dir, 'tampered.db');
    const db = openSqlite(path);
    db.kind === 'sqlite' && db.db.exec(`VACUUM INTO '${copy}'`);
    await closeStore(db);
    const t = openSqlite(copy);
    if (t.kind === 'sqlite') {
      t.db.exec("UPDATE audit_log SET decision = 'allow' WHERE seq = 9");
      t.db.exec('DELETE FROM audit_log WHERE seq = 12');
    }
    await closeStore(t);
    const r = await tollgate(['audit', 'verify', '--store', `sqlite:${copy}`, '--public-key', pub]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^FAILED: 2 findings \(1 altered, 1 removed\)/);
    assert.match(
      r.stdout,
      /\n {2}seq 9: altered: record 9 was altered: its content does not match its hash\n/,
    );
    assert.match(r.stdout, /\n {2}seq 12: removed: record 12 is missing\n/);
    const q = await tollgate([
      'audit',
      'query',
      '--store',
      `sqlite:${copy}`,
      '--type',
      'session.start',
      '--verify',
      '--public-key',
      pub,
    ]);
    assert.equal(q.code, 1);
    assert.equal(JSON.parse(q.stdout.trimEnd().split('\n').pop() as string).verify.ok, false);
  });
});
