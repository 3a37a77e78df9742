import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generateHostKey } from '@tollgate/protocol-ssh';
import { publicKeyFingerprint, run, runOk } from '../harness/index';
import type { LocalSshdTarget } from '../harness/sshd';
import { SshFixture } from './fixture';

/**
 * Target host keys checked against OpenSSH known_hosts files (the resource's `knownHosts`), end
 * to end: Debian's sshd with Ed25519, ECDSA and RSA host keys, its keys collected with the real
 * `ssh-keyscan` and hashed with `ssh-keygen -H`, the real gateway, the ssh2 client as the agent.
 */

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('SSH targets checked against known_hosts', () => {
  /** `ssh-keyscan` lines of the target, by key type. */
  const scanned = new Map<string, string>();
  const other = generateHostKey().public;

  /** Scans the target's keys, writes the known_hosts files next to the policy, returns the policy. */
  const setup = async (t: LocalSshdTarget, dir: string): Promise<string> => {
    const scan = await runOk('ssh-keyscan', ['-p', String(t.port), '-t', 'ed25519,ecdsa,rsa', '127.0.0.1'], {
      timeoutMs: 30_000,
    });
    for (const line of scan.stdout.split('\n').filter((l) => l.startsWith('['))) {
      scanned.set(line.split(' ')[1] as string, line);
    }
    assert.deepEqual([...scanned.keys()].sort(), ['ecdsa-sha2-nistp256', 'ssh-ed25519', 'ssh-rsa']);
    const name = `[127.0.0.1]:${t.port}`;
    const ed = scanned.get('ssh-ed25519') as string;
    const edKey = ed.split(' ').slice(1).join(' ');
    // all keys, names hashed by ssh-keygen -H (relative path: resolved next to the policy file)
    writeFileSync(join(dir, 'hashed_known_hosts'), `${[...scanned.values()].join('\n')}\n`);
    await runOk('ssh-keygen', ['-q', '-H', '-f', join(dir, 'hashed_known_hosts')], { timeoutMs: 20_000 });
    // only the RSA key: the gateway must ask the target for an RSA host key
    writeFileSync(join(dir, 'rsa_known_hosts'), `# only RSA\n${scanned.get('ssh-rsa')}\n`);
    // entries for other hosts only
    writeFileSync(join(dir, 'other_known_hosts'), `[127.0.0.1]:1 ${edKey}\nbox.internal ${edKey}\n`);
    // the host with a key that is not the target's
    writeFileSync(join(dir, 'wrong_known_hosts'), `${name} ${other}\n`);
    // the target's key listed, but revoked
    writeFileSync(join(dir, 'revoked_known_hosts'), `${ed}\n@revoked * ${edKey}\n`);
    const resource = (n: string, extra: string) => `  ${n}:
    protocol: ssh
    address: 127.0.0.1:${t.port}
    username: ${t.user}
    credential: { file: ${t.clientKeyPath} }
${extra}`;
    const names = ['kh-hashed', 'kh-rsa', 'kh-other', 'kh-wrong', 'kh-revoked', 'kh-and-pin', 'kh-wrong-pin'];
    return `version: 1
resources:
${resource('kh-hashed', '    knownHosts: hashed_known_hosts\n')}${resource('kh-rsa', `    knownHosts: ${join(dir, 'rsa_known_hosts')}\n`)}${resource('kh-other', '    knownHosts: other_known_hosts\n')}${resource('kh-wrong', '    knownHosts: wrong_known_hosts\n')}${resource('kh-revoked', '    knownHosts: revoked_known_hosts\n')}${resource('kh-and-pin', `    knownHosts: hashed_known_hosts\n    hostKey: ${t.hostKeyFingerprint}\n`)}${resource('kh-wrong-pin', `    knownHosts: hashed_known_hosts\n    hostKey: ${publicKeyFingerprint(other)}\n`)}rules:
  - name: agents-exec
    subjects: [{ group: agents }]
    resources: [${names.join(', ')}]
    actions: [exec]
    effect: allow
`;
  };
  const fx = new SshFixture({
    suite: 'ssh-known-hosts',
    sshd: { hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'] },
    policy: setup,
    startTimeoutMs: 90_000,
  }).register();
  const { dir } = fx;

  const exec = (resource: string, command: string) => fx.ssh2Exec(resource, fx.apiKey(), command);

  // a keyscan line is `[host]:port type base64`
  const fingerprintOf = (type: string) =>
    publicKeyFingerprint((scanned.get(type) as string).split(' ').slice(1).join(' '));

  test('a hashed known_hosts from ssh-keyscan (a path relative to the policy file) admits the target', {
    timeout: 40_000,
  }, async () => {
    assert.doesNotMatch(readFileSync(join(dir, 'hashed_known_hosts'), 'utf8'), /127\.0\.0\.1/);
    const r = await exec('kh-hashed', 'echo checked against known_hosts');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'checked against known_hosts\n');
  });

  test('a file that lists only the RSA key: the gateway asks the target for that type', {
    timeout: 40_000,
  }, async () => {
    const r = await exec('kh-rsa', 'echo rsa');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'rsa\n');
  });

  test('no entry for the target: refused, naming the file, the host and the presented key', {
    timeout: 40_000,
  }, async () => {
    const r = await exec('kh-other', 'echo should not run');
    assert.equal(r.code, 255);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      new RegExp(
        `tollgate: host key of kh-other \\(127\\.0\\.0\\.1:${fx.target.port}\\) does not match: the target presented ${reEscape(fingerprintOf('ssh-ed25519'))} \\(ssh-ed25519\\), and ${reEscape(join(dir, 'other_known_hosts'))} has no entry for \\[127\\.0\\.0\\.1\\]:${fx.target.port}`,
      ),
    );
  });

  test('a different key listed for the target: refused, naming the file and both fingerprints', {
    timeout: 40_000,
  }, async () => {
    const r = await exec('kh-wrong', 'echo should not run');
    assert.equal(r.code, 255);
    assert.match(
      r.stderr,
      new RegExp(`the target presented ${reEscape(fingerprintOf('ssh-ed25519'))} \\(ssh-ed25519\\)`),
    );
    assert.match(r.stderr, new RegExp(`${reEscape(join(dir, 'wrong_known_hosts'))} does not list for`));
    assert.match(
      r.stderr,
      new RegExp(`it lists ${reEscape(publicKeyFingerprint(other))} \\(ssh-ed25519, line 1\\)`),
    );
  });

  test('a key marked @revoked is refused even though another line lists it', {
    timeout: 40_000,
  }, async () => {
    const r = await exec('kh-revoked', 'echo should not run');
    assert.equal(r.code, 255);
    assert.match(r.stderr, new RegExp(`${reEscape(join(dir, 'revoked_known_hosts'))}:2 marks @revoked`));
  });

  test('with both knownHosts and hostKey, the key must pass both', { timeout: 40_000 }, async () => {
    const ok = await exec('kh-and-pin', 'echo both');
    assert.equal(ok.code, 0, ok.stderr);
    const r = await exec('kh-wrong-pin', 'echo should not run');
    assert.equal(r.code, 255);
    assert.match(r.stderr, new RegExp(`the policy pins ${reEscape(publicKeyFingerprint(other))}`));
  });

  test('the check reads the file at each connection: a fixed file admits the target without a reload', {
    timeout: 40_000,
  }, async () => {
    const path = join(dir, 'wrong_known_hosts');
    const before = readFileSync(path, 'utf8');
    writeFileSync(path, `${scanned.get('ecdsa-sha2-nistp256')}\n`);
    try {
      const r = await exec('kh-wrong', 'echo fixed');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'fixed\n');
    } finally {
      writeFileSync(path, before);
    }
    // what ssh-keygen -F finds in the file agrees with the gateway
    const found = await run(
      'ssh-keygen',
      ['-F', `[127.0.0.1]:${fx.target.port}`, '-f', join(dir, 'hashed_known_hosts')],
      {
        timeoutMs: 10_000,
      },
    );
    assert.equal(found.code, 0);
  });
});
