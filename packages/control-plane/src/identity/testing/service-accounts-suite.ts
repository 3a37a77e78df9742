import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type PresentedPublicKey, TollgateError } from '@tollgate/core';
import type { StoreDb } from '../../store/database';
import { ServiceAccounts } from '../service-accounts';
import { sqlFor } from '../sql';

/** An OpenSSH key pair made by the real `ssh-keygen`. */
export interface TestSshKey {
  /** The `.pub` line. */
  readonly publicLine: string;
  readonly presented: PresentedPublicKey;
  /** What `ssh-keygen -lf` prints as the fingerprint. */
  readonly fingerprint: string;
  readonly pubFile: string;
}

export function makeSshKey(
  dir: string,
  name: string,
  type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519',
): TestSshKey {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@test`, '-f', file], {
    stdio: 'ignore',
    timeout: 60_000,
  });
  const publicLine = readFileSync(`${file}.pub`, 'utf8');
  const [algorithm = '', b64 = ''] = publicLine.trim().split(/\s+/);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], {
    encoding: 'utf8',
  }).split(/\s+/)[1] as string;
  return {
    publicLine,
    presented: { algorithm, data: Buffer.from(b64, 'base64') },
    fingerprint,
    pubFile: `${file}.pub`,
  };
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TollgateError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

const KEY_SHAPE = /^tgk_[0-9A-Za-z]{12}_[0-9A-Za-z]{43}$/;

/**
 * The service-account repository tests, run on SQLite (unit tests) and on a real PostgreSQL
 * (integration). `open` returns a new connection to the same database each time it is called;
 * `close` closes one.
 */
export function serviceAccountsSuite(
  label: string,
  store: { open(): Promise<StoreDb>; close(db: StoreDb): Promise<void> },
): void {
  describe(`ServiceAccounts on ${label}`, () => {
    let db: StoreDb;
    let accounts: ServiceAccounts;
    let clock = 0;
    const now = () => Date.now() + clock;
    const run = randomBytes(3).toString('hex');
    const n = (name: string) => `${name}-${run}`;
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tollgate-sa-'));
      db = await store.open();
      accounts = await ServiceAccounts.open(db, { now });
    });
    after(async () => {
      await accounts?.close();
      if (db) await store.close(db);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('creates an account whose API key resolves to its identity and groups', async () => {
      const { account, apiKey } = await accounts.create({
        name: n('ci-deploy'),
        groups: ['deployers', 'readers', 'deployers'],
        description: 'CI pipeline',
      });
      assert.match(apiKey, KEY_SHAPE);
      assert.equal(apiKey.split('_')[1], account.keyId);
      assert.deepEqual(
        { ...account, createdAt: 0 },
        {
          name: n('ci-deploy'),
          groups: ['deployers', 'readers'],
          description: 'CI pipeline',
          keyId: account.keyId,
          createdAt: 0,
          expiresAt: undefined,
          revokedAt: undefined,
          status: 'active',
          sshKeys: [],
        },
      );
      assert.deepEqual(await accounts.verify(apiKey), {
        subject: n('ci-deploy'),
        kind: 'service-account',
        issuer: 'tollgate',
        groups: ['deployers', 'readers'],
      });
    });

    it('stores only a SHA-256 of the key, never the key or its secret', async () => {
      const { account, apiKey } = await accounts.create({ name: n('hash-only'), groups: ['g'] });
      const rows = await sqlFor(db).all<Record<string, unknown>>(
        'SELECT * FROM tg_service_accounts WHERE name = ?',
        [n('hash-only')],
      );
      const dump = JSON.stringify(rows);
      const secret = apiKey.split('_')[2] as string;
      assert.ok(!dump.includes(apiKey) && !dump.includes(secret));
      assert.equal(rows[0]?.key_hash, createHash('sha256').update(apiKey).digest('hex'));
      assert.ok(!JSON.stringify(await accounts.list()).includes(secret));
      assert.ok(!JSON.stringify(account).includes(secret));
    });

    it('refuses wrong, malformed and unknown keys', async () => {
      const { apiKey } = await accounts.create({ name: n('wrong-secret'), groups: ['g'] });
      const last = apiKey.at(-1) === 'a' ? 'b' : 'a';
      await rejects(
        accounts.verify(apiKey.slice(0, -1) + last),
        'TG_AUTH_FAILED',
        /^API key is not recognised$/,
      );
      await rejects(
        accounts.verify(`tgk_${'A'.repeat(12)}_${'B'.repeat(43)}`),
        'TG_AUTH_FAILED',
        /^API key is not recognised$/,
      );
      await rejects(accounts.verify('tgk_short'), 'TG_AUTH_FAILED', /^malformed API key/);
      await rejects(accounts.verify(`${apiKey}x`), 'TG_AUTH_FAILED', /^malformed API key/);
    });

    it('expires keys at their expiry time', async () => {
      const expiresAt = now() + 3_600_000;
      const { apiKey } = await accounts.create({ name: n('short-lived'), groups: ['g'], expiresAt });
      assert.equal((await accounts.verify(apiKey)).expiresAt, expiresAt);
      clock = 3_600_000;
      try {
        await rejects(
          accounts.verify(apiKey),
          'TG_AUTH_FAILED',
          new RegExp(
            `^service account "${n('short-lived')}" expired at ${new Date(expiresAt).toISOString()}$`,
          ),
        );
        assert.equal((await accounts.get(n('short-lived')))?.status, 'expired');
      } finally {
        clock = 0;
      }
      await rejects(
        accounts.create({ name: n('born-expired'), groups: ['g'], expiresAt: now() - 1 }),
        'TG_CONFIG_INVALID',
        /the expiry must be in the future/,
      );
    });

    it('revocation takes effect at once, also for another connection to the same database', async () => {
      const { apiKey } = await accounts.create({ name: n('revoke-me'), groups: ['g'] });
      const otherDb = await store.open();
      try {
        const other = await ServiceAccounts.open(otherDb);
        assert.equal((await other.verify(apiKey)).subject, n('revoke-me'));
        await accounts.revoke(n('revoke-me'));
        await rejects(
          other.verify(apiKey),
          'TG_AUTH_FAILED',
          new RegExp(`^service account "${n('revoke-me')}" was revoked at `),
        );
        await rejects(accounts.verify(apiKey), 'TG_AUTH_FAILED', /was revoked at/);
        await accounts.revoke(n('revoke-me')); // twice is harmless
        assert.equal((await other.get(n('revoke-me')))?.status, 'revoked');
        await other.close();
      } finally {
        await store.close(otherDb);
      }
      await rejects(accounts.revoke(n('nobody')), 'TG_NOT_FOUND', /does not exist/);
    });

    it('refuses bad names, bad groups and a name already taken', async () => {
      await rejects(
        accounts.create({ name: 'has space', groups: [] }),
        'TG_CONFIG_INVALID',
        /service account name "has space"/,
      );
      await rejects(
        accounts.create({ name: '-lead', groups: [] }),
        'TG_CONFIG_INVALID',
        /service account name/,
      );
      await rejects(accounts.create({ name: n('g'), groups: ['a,b'] }), 'TG_CONFIG_INVALID', /group "a,b"/);
      await accounts.create({ name: n('taken'), groups: [] });
      await rejects(accounts.create({ name: n('taken'), groups: [] }), 'TG_CONFIG_INVALID', /already exists/);
    });

    it('lists every account by name with its status', async () => {
      const names = (await accounts.list()).map((a) => a.name).filter((x) => x.endsWith(run));
      assert.deepEqual(names, [...names].sort());
      const byName = new Map((await accounts.list()).map((a) => [a.name, a]));
      assert.equal(byName.get(n('revoke-me'))?.status, 'revoked');
      assert.equal(byName.get(n('ci-deploy'))?.status, 'active');
    });

    it('registers SSH public keys and finds the account by the exact key blob', async () => {
      const ed = makeSshKey(dir, 'ed');
      const rsa = makeSshKey(dir, 'rsa', 'rsa');
      const ec = makeSshKey(dir, 'ec', 'ecdsa');
      const stranger = makeSshKey(dir, 'stranger');
      await accounts.create({ name: n('ssh-bot'), groups: ['ops'] });
      await accounts.addPublicKey(n('ssh-bot'), ed.publicLine);
      await accounts.addPublicKey(n('ssh-bot'), `# rsa key\n${rsa.publicLine}`);
      await accounts.addPublicKey(n('ssh-bot'), ec.publicLine);
      const account = await accounts.get(n('ssh-bot'));
      assert.deepEqual(
        account?.sshKeys.map((k) => k.fingerprint).sort(),
        [ed.fingerprint, rsa.fingerprint, ec.fingerprint].sort(),
      );
      assert.equal(account?.sshKeys.find((k) => k.algorithm === 'ssh-ed25519')?.comment, 'ed@test');
      for (const k of [ed, rsa, ec]) {
        assert.deepEqual(await accounts.findByPublicKey(k.presented), {
          subject: n('ssh-bot'),
          kind: 'service-account',
          issuer: 'tollgate',
          groups: ['ops'],
        });
      }
      // an RSA client announces rsa-sha2-256; the blob is what matches
      assert.equal(
        (await accounts.findByPublicKey({ ...rsa.presented, algorithm: 'rsa-sha2-256' }))?.subject,
        n('ssh-bot'),
      );
      assert.equal(await accounts.findByPublicKey(stranger.presented), undefined);
      await accounts.create({ name: n('ssh-other'), groups: [] });
      await rejects(
        accounts.addPublicKey(n('ssh-other'), ed.publicLine),
        'TG_CONFIG_INVALID',
        new RegExp(`already registered to service account "${n('ssh-bot')}"`),
      );
      await rejects(
        accounts.addPublicKey(n('nobody'), stranger.publicLine),
        'TG_NOT_FOUND',
        /does not exist/,
      );
      await rejects(
        accounts.addPublicKey(n('ssh-other'), 'ssh-ed25519 AAAA'),
        'TG_CONFIG_INVALID',
        /not a ssh-ed25519 key blob/,
      );
      await accounts.revoke(n('ssh-bot'));
      await rejects(accounts.findByPublicKey(ed.presented), 'TG_AUTH_FAILED', /was revoked at/);
      await rejects(
        accounts.addPublicKey(n('ssh-bot'), stranger.publicLine),
        'TG_CONFIG_INVALID',
        /is revoked/,
      );
    });
  });
}
