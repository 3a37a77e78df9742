import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeStore, openSqlite, ServiceAccounts, type StoreDb } from '@tollgate/control-plane';
import { makeSshKey } from '@tollgate/control-plane/dist/identity/testing/service-accounts-suite';
import { type CliRun, runCli } from '../testing/run-cli';
import { parseExpiry } from './service-accounts';

const _BIN = join(__dirname, '..', '..', 'bin', 'tollgate.js');

function tollgate(args: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<CliRun> {
  return runCli(args, { env, unset: ['TOLLGATE_STORE'], input: stdin });
}

describe('tollgate service-accounts (the real CLI on a SQLite store)', () => {
  let dir: string;
  let file: string;
  let store: string;
  let db: StoreDb;
  let accounts: ServiceAccounts;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-sa-cli-'));
    file = join(dir, 'control-plane.db');
    store = `sqlite:${file}`;
    db = openSqlite(file);
    accounts = await ServiceAccounts.open(db);
  });
  after(async () => {
    if (db) await closeStore(db);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('create prints the API key once, and the key works', async () => {
    const r = await tollgate([
      'service-accounts',
      'create',
      'ci-deploy',
      '--groups',
      'deployers, readers',
      '--store',
      store,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^tgk_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}\n$/);
    const key = r.stdout.trim();
    assert.match(
      r.stderr,
      /^created service account ci-deploy \(groups: deployers, readers; expires: never\)\n/,
    );
    assert.match(r.stderr, /shown only this once/);
    assert.ok(!r.stderr.includes(key));
    assert.deepEqual(await accounts.verify(key), {
      subject: 'ci-deploy',
      kind: 'service-account',
      issuer: 'tollgate',
      groups: ['deployers', 'readers'],
    });
    // list never shows the key again
    const l = await tollgate(['service-accounts', 'list', '--store', store]);
    assert.equal(l.code, 0, l.stderr);
    assert.ok(!l.stdout.includes(key.split('_')[2] as string));
    assert.match(l.stdout, /^NAME\s+STATUS\s+GROUPS\s+EXPIRES\s+KEY\s+SSH KEYS\n/);
    assert.match(
      l.stdout,
      new RegExp(`ci-deploy\\s+active\\s+deployers,readers\\s+-\\s+tgk_${key.split('_')[1]}_…\\s+0`),
    );
  });

  it('revoke from the CLI stops a key at once in a process holding the same store open', async () => {
    const r = await tollgate(['service-accounts', 'create', 'etl', '--groups', 'etl', '--expires', '30d'], {
      TOLLGATE_STORE: store,
    });
    assert.equal(r.code, 0, r.stderr);
    const key = r.stdout.trim();
    const expires = (await accounts.verify(key)).expiresAt as number;
    assert.ok(Math.abs(expires - (Date.now() + 30 * 86_400_000)) < 120_000);
    const rv = await tollgate(['service-accounts', 'revoke', 'etl', '--store', store]);
    assert.equal(rv.code, 0, rv.stderr);
    assert.equal(rv.stdout, 'revoked service account etl\n');
    await assert.rejects(accounts.verify(key), /service account "etl" was revoked at/);
    const l = await tollgate(['service-accounts', 'list', '--json', '--store', store]);
    const etl = l.stdout
      .trim()
      .split('\n')
      .map((x) => JSON.parse(x))
      .find((a) => a.name === 'etl');
    assert.equal(etl.status, 'revoked');
    assert.ok(!('apiKey' in etl));
  });

  it('add-key registers an OpenSSH public key', async () => {
    const key = makeSshKey(dir, 'runner');
    await tollgate(['service-accounts', 'create', 'runner', '--groups', 'ops', '--store', store]);
    const r = await tollgate(['service-accounts', 'add-key', 'runner', key.pubFile, '--store', store]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `registered ssh-ed25519 key ${key.fingerprint} for service account runner\n`);
    assert.equal((await accounts.findByPublicKey(key.presented))?.subject, 'runner');
    const other = makeSshKey(dir, 'other');
    const viaStdin = await tollgate(
      ['service-accounts', 'add-key', 'runner', '-', '--store', store],
      {},
      other.publicLine,
    );
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    assert.equal((await accounts.findByPublicKey(other.presented))?.subject, 'runner');
  });

  it('gives clear errors and exit statuses', async () => {
    const noStore = await tollgate(['service-accounts', 'list']);
    assert.equal(noStore.code, 2);
    assert.match(noStore.stderr, /no store: pass --store/);
    const dup = await tollgate([
      'service-accounts',
      'create',
      'ci-deploy',
      '--groups',
      'x',
      '--store',
      store,
    ]);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /service account "ci-deploy" already exists/);
    assert.equal(dup.stdout, '');
    const noGroups = await tollgate(['service-accounts', 'create', 'x', '--store', store]);
    assert.equal(noGroups.code, 2);
    assert.match(noGroups.stderr, /--groups is required/);
    const badExpiry = await tollgate([
      'service-accounts',
      'create',
      'x',
      '--groups',
      'a',
      '--expires',
      'soon',
      '--store',
      store,
    ]);
    assert.equal(badExpiry.code, 2);
    assert.match(badExpiry.stderr, /--expires "soon": give a duration/);
    const unknown = await tollgate(['service-accounts', 'revoke', 'nobody', '--store', store]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /service account "nobody" does not exist/);
    const missing = await tollgate([
      'service-accounts',
      'add-key',
      'runner',
      join(dir, 'nope.pub'),
      '--store',
      store,
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope.pub: no such file/);
    const help = await tollgate(['service-accounts', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /create NAME --groups a,b/);
    const top = await tollgate(['--help']);
    assert.match(top.stdout, /service-accounts\s+create, list, revoke service accounts/);
  });

  it('parses expiry durations and dates', () => {
    const now = Date.UTC(2026, 0, 1);
    assert.equal(parseExpiry('30d', now), now + 30 * 86_400_000);
    assert.equal(parseExpiry('12h', now), now + 12 * 3_600_000);
    assert.equal(parseExpiry('2w', now), now + 14 * 86_400_000);
    assert.equal(parseExpiry('2027-01-31', now), Date.UTC(2027, 0, 31));
    assert.equal(parseExpiry('2027-01-31T10:00:00Z', now), Date.UTC(2027, 0, 31, 10));
    assert.throws(() => parseExpiry('0d', now), /give a duration/);
    assert.throws(() => parseExpiry('tomorrow', now), /give a duration/);
  });
});
