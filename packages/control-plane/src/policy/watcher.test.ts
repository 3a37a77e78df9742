import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Identity } from '@tollgate/core';
import { PolicyInvalidError } from './load';
import { type PolicyReloadResult, PolicyWatcher } from './watcher';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tollgate-policy-'));
  dirs.push(d);
  return d;
}

const agent: Identity = { subject: 'a', kind: 'oidc', issuer: 'https://idp', groups: ['agents'] };

/** A valid policy allowing `action` on db to agents. */
function policyText(action: string): string {
  return `version: 1
resources:
  db: { protocol: postgres, address: 127.0.0.1:5432 }
rules:
  - { name: agents-${action}, subjects: [{ group: agents }], resources: [db], actions: [${action}], effect: allow }
`;
}

/** Collects reload results; `next()` waits (bounded) for the next one. */
class Reloads {
  readonly seen: PolicyReloadResult[] = [];
  #waiters: Array<(r: PolicyReloadResult) => void> = [];
  readonly onReload = (r: PolicyReloadResult) => {
    this.seen.push(r);
    for (const w of this.#waiters.splice(0)) w(r);
  };
  next(timeoutMs = 10_000): Promise<PolicyReloadResult> {
    return this.until(() => true, timeoutMs);
  }
  /**
   * The next result that satisfies `pred`. An in-place write truncates before it writes, so a
   * reload may first see a partial file (and report it) before it sees the whole one.
   */
  until(pred: (r: PolicyReloadResult) => boolean, timeoutMs = 10_000): Promise<PolicyReloadResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no policy reload within ${timeoutMs} ms`)), timeoutMs);
      const wait = (r: PolicyReloadResult) => {
        if (!pred(r)) return this.#waiters.push(wait);
        clearTimeout(timer);
        resolve(r);
      };
      this.#waiters.push(wait);
    });
  }
}

function allows(w: PolicyWatcher, action: string): boolean {
  return w.decide({ identity: agent, resource: 'db', action }).effect === 'allow';
}

describe('PolicyWatcher', () => {
  it('refuses to start on an invalid file', () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, 'version: 1\nrulez: []\n');
    const before = process.listenerCount('SIGHUP');
    assert.throws(() => new PolicyWatcher(file), PolicyInvalidError);
    assert.equal(process.listenerCount('SIGHUP'), before);
  });

  it('reloads when the file is rewritten in place', async () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, policyText('read'));
    const reloads = new Reloads();
    const w = new PolicyWatcher(file, { onReload: reloads.onReload, signal: false, debounceMs: 20 });
    try {
      const old = w.policy.hash;
      assert.ok(allows(w, 'read'));
      const next = reloads.until((r) => r.ok);
      writeFileSync(file, policyText('write'));
      const r = await next;
      assert.deepEqual([r.ok, r.trigger, r.changed, r.previousHash], [true, 'file', true, old]);
      assert.equal(r.hash, w.policy.hash);
      assert.ok(allows(w, 'write'));
      assert.ok(!allows(w, 'read'));
    } finally {
      w.stop();
    }
  });

  it('follows editors that write a new file and rename it over the old one', async () => {
    const dir = tempDir();
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, policyText('read'));
    const reloads = new Reloads();
    const w = new PolicyWatcher(file, { onReload: reloads.onReload, signal: false, debounceMs: 20 });
    try {
      for (const action of ['write', 'ddl']) {
        const next = reloads.next();
        writeFileSync(join(dir, '.policy.yaml.swp'), policyText(action));
        renameSync(join(dir, '.policy.yaml.swp'), file);
        const r = await next;
        assert.ok(r.ok, r.error?.message);
        assert.ok(allows(w, action), `after replacing the file with one allowing ${action}`);
      }
    } finally {
      w.stop();
    }
  });

  it('follows a Kubernetes ConfigMap volume (the ..data symlink is swapped)', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'policy.yaml'), policyText('read'));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
    const reloads = new Reloads();
    const w = new PolicyWatcher(join(dir, 'policy.yaml'), {
      onReload: reloads.onReload,
      signal: false,
      debounceMs: 20,
    });
    try {
      const next = reloads.next();
      mkdirSync(join(dir, '..v2'));
      writeFileSync(join(dir, '..v2', 'policy.yaml'), policyText('write'));
      symlinkSync('..v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      const r = await next;
      assert.ok(r.ok, r.error?.message);
      assert.ok(allows(w, 'write'));
    } finally {
      w.stop();
    }
  });

  it('keeps the previous policy when an edit breaks the file, and reports the positioned error', async () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, policyText('read'));
    const reloads = new Reloads();
    const w = new PolicyWatcher(file, { onReload: reloads.onReload, signal: false, debounceMs: 20 });
    try {
      const good = w.policy;
      let next = reloads.until((r) => r.error?.message.includes('permit') === true);
      writeFileSync(file, policyText('read').replace('effect: allow', 'effect: permit'));
      const r = await next;
      assert.equal(r.ok, false);
      assert.equal(r.hash, good.hash);
      assert.equal(r.changed, false);
      assert.ok(r.error instanceof PolicyInvalidError);
      assert.match(
        r.error.message,
        /policy\.yaml:5:\d+: rules\[0\]\.effect: must be one of allow, deny, require-approval \(got 'permit'\)$/,
      );
      assert.equal(w.policy, good);
      assert.ok(allows(w, 'read'));

      // fixing the file is picked up
      next = reloads.until((r) => r.ok);
      writeFileSync(file, policyText('write'));
      await next;
      assert.ok(allows(w, 'write'));
    } finally {
      w.stop();
    }
  });

  it('reloads on SIGHUP, reporting even when nothing changed', async () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, policyText('read'));
    const reloads = new Reloads();
    const w = new PolicyWatcher(file, { onReload: reloads.onReload, watchFile: false });
    try {
      let next = reloads.next();
      process.kill(process.pid, 'SIGHUP');
      let r = await next;
      assert.deepEqual([r.ok, r.trigger, r.changed], [true, 'signal', false]);

      writeFileSync(file, policyText('write'));
      next = reloads.next();
      process.kill(process.pid, 'SIGHUP');
      r = await next;
      assert.deepEqual([r.ok, r.trigger, r.changed], [true, 'signal', true]);
      assert.ok(allows(w, 'write'));

      rmSync(file);
      next = reloads.next();
      process.kill(process.pid, 'SIGHUP');
      r = await next;
      assert.equal(r.ok, false);
      assert.match(r.error?.message ?? '', /policy\.yaml: cannot read the policy file \(ENOENT\)$/);
      assert.ok(allows(w, 'write'));
    } finally {
      w.stop();
    }
  });

  it('stop() removes the signal handler and the watch', async () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, policyText('read'));
    const before = process.listenerCount('SIGHUP');
    const reloads = new Reloads();
    const w = new PolicyWatcher(file, { onReload: reloads.onReload, debounceMs: 20 });
    assert.equal(process.listenerCount('SIGHUP'), before + 1);
    w.stop();
    assert.equal(process.listenerCount('SIGHUP'), before);
    writeFileSync(file, policyText('write'));
    // nothing may arrive: wait a bounded while, far beyond the debounce
    await assert.rejects(reloads.next(500), /no policy reload/);
    assert.equal(reloads.seen.length, 0);
    assert.ok(allows(w, 'read'));
  });

  it('reload() can be called directly', () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, policyText('read'));
    const w = new PolicyWatcher(file, { signal: false, watchFile: false });
    writeFileSync(file, policyText('ddl'));
    const r = w.reload();
    assert.deepEqual([r.ok, r.trigger, r.changed], [true, 'manual', true]);
    assert.ok(allows(w, 'ddl'));
    w.stop();
  });
});
