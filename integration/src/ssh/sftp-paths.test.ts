import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type SFTPWrapper, utils } from 'ssh2';
import { SshFixture, sshResource } from './fixture';

/**
 * Path conditions (`when: { paths }`) on sftp operations end to end: Debian's OpenSSH sshd as
 * the target, the real gateway, the ssh2 sftp client as the agent. Writes are allowed under one
 * tree of the fixture's directory only; a deny rule guards a second tree.
 */

const { STATUS_CODE } = utils.sftp;

describe('sftp path conditions', () => {
  const fx = new SshFixture({
    suite: 'ssh-sftp-paths',
    opensshClient: true,
    policy: (t, dir) => `version: 1
roles:
  reviewer: [{ group: ops }]
resources:
${sshResource('box', t)}rules:
  - name: sftp-open
    subjects: [{ group: agents }]
    resources: [box]
    actions: [sftp-read]
    effect: allow
  - name: app-tree
    subjects: [{ group: agents }]
    resources: [box]
    actions: [sftp-write]
    when: { paths: ['${dir}/app/**'] }
    effect: allow
  - name: locked
    subjects: [{ group: agents }]
    resources: [box]
    actions: [sftp-read, sftp-write]
    when: { paths: ['${dir}/app/locked/**'] }
    effect: deny
    reason: the locked tree is off limits
  - name: releases
    subjects: [{ group: agents }]
    resources: [box]
    actions: [sftp-write]
    when: { paths: ['${dir}/app/releases/**'] }
    effect: require-approval
    approval: { reviewers: [ops], approvals: 1, timeout: 2m }
`,
  }).register();
  const { dir } = fx;

  type Cb<T> = (err: Error | null | undefined, v?: T) => void;
  const call = <T>(f: (cb: Cb<T>) => void) =>
    new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));
  /** The sftp error's status code (ssh2 puts it on `code`). */
  const refusal = async (p: Promise<unknown>) => {
    const err = await p.then(
      () => undefined,
      (e: Error & { code?: number }) => e,
    );
    assert.ok(err, 'the operation is refused');
    return err;
  };

  test('writes under the allowed tree work; writes outside it are refused and audited', {
    timeout: 40_000,
  }, async () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'locked'), { recursive: true });
    const c = await fx.ssh2Connect('box', fx.apiKey());
    try {
      const sftp = await call<SFTPWrapper>((cb) => c.sftp(cb));
      await call((cb) => sftp.writeFile(`${app}/a.txt`, 'inside', cb));
      assert.equal(readFileSync(join(app, 'a.txt'), 'utf8'), 'inside');
      await call((cb) => sftp.writeFile(`${app}/nowhere/..//c.txt`, 'normalised', cb));
      assert.equal(
        readFileSync(join(app, 'c.txt'), 'utf8'),
        'normalised',
        'the decided path is the one written',
      );
      // `..` and `//` are resolved before matching: this path is outside the tree
      for (const path of [`${dir}/outside.txt`, `${app}/..//outside.txt`]) {
        const err = await refusal(call((cb) => sftp.writeFile(path, 'outside', cb)));
        assert.equal(err.code, STATUS_CODE.PERMISSION_DENIED, path);
        assert.match(err.message, /tollgate: policy denies sftp-write on box/);
      }
      assert.ok(!existsSync(join(dir, 'outside.txt')), 'nothing was written outside the tree');
      // the deny rule wins inside the allowed tree, and names its reason
      const locked = await refusal(call((cb) => sftp.writeFile(`${app}/locked/x.txt`, 'x', cb)));
      assert.equal(locked.code, STATUS_CODE.PERMISSION_DENIED);
      assert.match(locked.message, /the locked tree is off limits/);
      // a rename out of the tree is refused: both paths are decided, the strictest governs
      const moved = await refusal(call((cb) => sftp.rename(`${app}/a.txt`, `${dir}/a.txt`, cb)));
      assert.equal(moved.code, STATUS_CODE.PERMISSION_DENIED);
      assert.ok(existsSync(join(app, 'a.txt')) && !existsSync(join(dir, 'a.txt')));
      await call((cb) => sftp.rename(`${app}/a.txt`, `${app}/b.txt`, cb));
      // a relative path resolves against the sftp server's directory (the login's home)
      const rel = await refusal(call((cb) => sftp.writeFile('tollgate-relative.txt', 'x', cb)));
      assert.equal(rel.code, STATUS_CODE.PERMISSION_DENIED);
      sftp.end();
    } finally {
      c.end();
    }

    const recs = (await fx.gw.controlPlane.audit.query({ types: ['command'] })) ?? [];
    const data = (r: (typeof recs)[number]) =>
      r.data as { text?: string; rule?: string | null; resolved?: (string | null)[]; governedBy?: string };
    const byText = (text: string) => recs.filter((r) => data(r).text === text);
    assert.equal(byText(`sftp open-write ${app}/a.txt`)[0]?.decision, 'allow');
    const outside = byText(`sftp open-write ${dir}/outside.txt`)[0];
    assert.equal(outside?.decision, 'deny', 'the refused write is audited');
    assert.equal(outside && data(outside).rule, null);
    const dotted = byText(`sftp open-write ${app}/..//outside.txt`)[0];
    assert.deepEqual(dotted && data(dotted).resolved, [`${dir}/outside.txt`]);
    const locked = byText(`sftp open-write ${app}/locked/x.txt`)[0];
    assert.equal(locked && data(locked).rule, 'locked');
    const moved = byText(`sftp rename ${app}/a.txt -> ${dir}/a.txt`)[0];
    assert.equal(moved?.decision, 'deny');
    assert.equal(moved && data(moved).governedBy, `${dir}/a.txt`);
    assert.equal(byText(`sftp rename ${app}/a.txt -> ${app}/b.txt`)[0]?.decision, 'allow');
    const rel = byText('sftp open-write tollgate-relative.txt')[0];
    assert.match(String(rel && data(rel).resolved?.[0]), /^\/(.+\/)?tollgate-relative\.txt$/);
  });

  test('OpenSSH sftp: a held upload is named on the client stderr, waits for the reviewer, then lands', {
    timeout: 60_000,
  }, async () => {
    const releases = join(dir, 'app', 'releases');
    mkdirSync(releases, { recursive: true });
    writeFileSync(join(dir, 'v2.tar'), 'release two\n');
    writeFileSync(join(dir, 'release.batch'), `put ${dir}/v2.tar ${releases}/v2.tar\n`);
    const reviewer = {
      subject: 'ops1',
      kind: 'service-account' as const,
      issuer: 'tollgate',
      groups: ['ops'],
    };
    const child = spawn(
      'sftp',
      [...fx.clientOptions(), '-b', join(dir, 'release.batch'), '-P', String(fx.port), 'box@127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    let stderr = '';
    let approving: Promise<unknown> | undefined;
    let approvalId: string | undefined;
    child.stdout.resume();
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      const m = /tollgate: sftp open-write \S+ held for approval \((\S+?)\)/.exec(stderr);
      if (m && !approving) {
        approvalId = m[1] as string;
        assert.ok(!existsSync(join(releases, 'v2.tar')), 'nothing is written before the approval');
        approving = fx.gw.controlPlane.approvals.approve(approvalId, reviewer, 'release 2');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(killer);
    await approving;
    assert.ok(approvalId, `the client's stderr names the approval: ${stderr}`);
    assert.equal(code, 0, stderr);
    assert.equal(readFileSync(join(releases, 'v2.tar'), 'utf8'), 'release two\n');
    const recs = (await fx.gw.controlPlane.audit.query({ approvalId })) ?? [];
    assert.ok(recs.some((r) => r.type === 'command' && r.decision === 'approved'));
  });
});
