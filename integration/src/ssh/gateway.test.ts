import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Identity } from '@tollgate/core';
import type { Gateway } from '@tollgate/gateway';
import { freePort, run, type SshdTarget } from '../harness/index';
import { SshFixture } from './fixture';

/**
 * The SSH data path end to end: Debian's OpenSSH sshd as the target, the real gateway (control
 * plane on SQLite, SSH listener), and real clients — OpenSSH `ssh` with a public key registered
 * to a service account, and the ssh2 client with the service account's API key as the password.
 */

const OTHER_KEY = `SHA256:${'A'.repeat(43)}`;

const policy = (t: SshdTarget, keyFile: string, echoPort: number, downPort: number) => `version: 1
roles:
  admin: [{ group: platform-admins }]
  reviewer: [{ group: ops }]
resources:
  box:
    protocol: ssh
    address: 127.0.0.1:${t.port}
    username: ${t.user}
    credential: { file: ${keyFile} }
    hostKey: ${t.hostKeyFingerprint}
    env: [LANG, TG_*]
  box-moved:
    protocol: ssh
    address: 127.0.0.1:${t.port}
    username: ${t.user}
    credential: { file: ${keyFile} }
    hostKey: ${OTHER_KEY}
  box-ro:
    protocol: ssh
    address: 127.0.0.1:${t.port}
    username: ${t.user}
    credential: { file: ${keyFile} }
    hostKey: ${t.hostKeyFingerprint}
  box-down:
    protocol: ssh
    address: 127.0.0.1:${downPort}
    username: ${t.user}
    credential: { file: ${keyFile} }
    hostKey: ${t.hostKeyFingerprint}
maskingProfiles:
  ops:
    otherwise: scan
    styles: { card: last4 }
rules:
  - name: agents-exec
    subjects: [{ group: agents }]
    resources: [box, box-moved, box-down]
    actions: [exec]
    effect: allow
    masking: ops
  - name: rm-needs-ops
    subjects: [{ group: agents }]
    resources: [box]
    actions: [exec]
    when: { programs: [rm] }
    effect: require-approval
    approval: { reviewers: [ops], approvals: 1, timeout: 2m }
  - name: agents-sftp
    subjects: [{ group: agents }]
    resources: [box, box-ro]
    actions: [sftp-read]
    effect: allow
  - name: agents-sftp-write
    subjects: [{ group: agents }]
    resources: [box]
    actions: [sftp-write]
    effect: allow
  - name: agents-shell
    subjects: [{ group: agents }]
    resources: [box]
    actions: [shell]
    effect: allow
  - name: forward-to-echo
    subjects: [{ group: agents }]
    resources: [box]
    actions: [port-forward]
    when: { destinations: ['127.0.0.1:${echoPort}'] }
    effect: allow
  - name: x11-allowed
    subjects: [{ group: agents }]
    resources: [box]
    actions: [x11]
    effect: allow
  - name: no-uname
    subjects: [{ group: agents }]
    resources: [box]
    actions: [exec]
    when: { programs: [uname] }
    effect: deny
    reason: uname is not for agents
`;

const reviewer: Identity = { subject: 'ops1', kind: 'service-account', issuer: 'tollgate', groups: ['ops'] };

describe('SSH through the gateway', () => {
  // a TCP echo service next to the target, for port forwarding
  const echo: Server = createServer((sock) => sock.pipe(sock));
  let echoPort = 0;
  before(async () => {
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as { port: number }).port;
  });
  const fx = new SshFixture({
    suite: 'ssh-gateway',
    // the target accepts more than the policy lets through: the policy is what refuses
    sshd: { acceptEnv: ['LANG', 'TG_*', 'SECRET_*'] },
    api: true,
    opensshClient: true,
    policy: async (t) => policy(t, t.clientKeyPath, echoPort, await freePort()),
  }).register();
  after(() => echo.close());
  const { dir } = fx;
  const port = () => fx.port;
  const clientOptions = () => fx.clientOptions();
  const openssh = (user: string, command: string) => fx.openssh(user, command);
  const ssh2Connect = (user: string, password: string) => fx.ssh2Connect(user, password);
  const ssh2Exec = (user: string, password: string, command: string, onStderr?: (text: string) => void) =>
    fx.ssh2Exec(user, password, command, onStderr);

  test('OpenSSH ssh with a registered key runs an allowed command and sees its output', {
    timeout: 40_000,
  }, async () => {
    const r = await openssh('box', 'echo hello from the target');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from the target\n');
    const r2 = await openssh('agent@box', 'exit 3');
    assert.equal(r2.code, 3, 'the exit status passes through');
  });

  test('the ssh2 client with the API key as password runs an allowed command', {
    timeout: 40_000,
  }, async () => {
    const r = await ssh2Exec('box', fx.apiKey(), 'echo via ssh2; echo to-stderr >&2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'via ssh2\n');
    assert.equal(r.stderr, 'to-stderr\n');
  });

  test('PII in command output is masked, also when a value is split across SSH packets', {
    timeout: 40_000,
  }, async () => {
    const file = join(dir, 'customers.txt');
    writeFileSync(file, 'name: Jane Roe\ncard: 4111 1111 1111 1111\nemail: jane.roe@example.com\n');
    const r = await openssh('box', `cat ${file}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /name: Jane Roe/);
    assert.doesNotMatch(r.stdout, /4111 1111 1111 1111/);
    assert.doesNotMatch(r.stdout, /jane\.roe@example\.com/);
    assert.match(r.stdout, /email: \[REDACTED:email\]/);
    assert.match(r.stdout, /card: \D*1111\n/, "the rule's masking profile keeps the card's last 4");
    // the two halves leave the target in separate writes, a moment apart
    const split = await ssh2Exec('box', fx.apiKey(), `printf '4111 1111 '; sleep 0.5; printf '1111 1111\\n'`);
    assert.equal(split.code, 0, split.stderr);
    assert.doesNotMatch(split.stdout, /4111 1111 1111 1111/);
    assert.match(split.stdout, /1111\n$/, "the rule's profile keeps the card's last 4 digits");
    const recs = await fx.gw.controlPlane.audit.query({ types: ['command.result'] });
    assert.ok(
      recs?.some((x) => JSON.stringify(x.data ?? {}).includes('"masked"')),
      'the result record counts masked values',
    );
  });

  test('rm -rf is held for approval, approved by a reviewer, then runs', { timeout: 60_000 }, async () => {
    const victim = join(dir, 'x');
    mkdirSync(join(victim, 'sub'), { recursive: true });
    let approvalId: string | undefined;
    let approving: Promise<unknown> | undefined;
    const r = await ssh2Exec('box', fx.apiKey(), `rm -rf ${victim}`, (stderr) => {
      const m = /held for approval \((\S+?)\)/.exec(stderr);
      if (m && !approving) {
        approvalId = m[1];
        assert.ok(existsSync(victim), 'nothing runs before the approval');
        approving = fx.gw.controlPlane.approvals.approve(m[1] as string, reviewer, 'cleanup');
      }
    });
    await approving;
    assert.ok(approvalId, `stderr should name the approval: ${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(victim), 'the approved rm ran at the target');
    const records = await fx.gw.controlPlane.audit.query({ approvalId: approvalId as string });
    assert.ok(records?.some((x) => x.type === 'command' && x.decision === 'approved'));
  });

  test('a denied program (also inside sh -c) gets a clear message and a non-zero exit', {
    timeout: 40_000,
  }, async () => {
    const r = await openssh('box', `sh -c 'echo before; uname -a'`);
    assert.equal(r.code, 77);
    assert.equal(r.stdout, '', 'nothing ran');
    assert.match(r.stderr, /tollgate: policy denies exec on box: uname is not for agents/);
  });

  test('a wrong token is refused and audited without the token', { timeout: 40_000 }, async () => {
    const wrong = 'tgk_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';
    await assert.rejects(ssh2Exec('box', wrong, 'echo hi'), (e: Error & { level?: string }) => {
      assert.equal(e.level, 'client-authentication');
      return true;
    });
    const recs = await fx.gw.controlPlane.audit.query({ types: ['auth.failure'] });
    assert.ok((recs?.length ?? 0) >= 1);
    assert.ok(!JSON.stringify(recs).includes('BBBBBBBB'), 'the presented token is never recorded');
    const ok = await ssh2Exec('box', fx.apiKey(), 'echo still serving');
    assert.equal(ok.stdout, 'still serving\n');
  });

  test('a target whose host key does not match the pin is refused with a clear error', {
    timeout: 40_000,
  }, async () => {
    const r = await openssh('box-moved', 'echo should not run');
    assert.equal(r.code, 255);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /host key of box-moved .* does not match/);
    assert.match(r.stderr, new RegExp(`pins ${OTHER_KEY}`));
  });

  test('a client that goes away while its command is held cancels the approval request', {
    timeout: 40_000,
  }, async () => {
    const c = await ssh2Connect('box', fx.apiKey());
    const id = await new Promise<string>((resolve, reject) => {
      c.exec(`rm -rf ${join(dir, 'never')}`, (e, stream) => {
        if (e) return reject(e);
        let err = '';
        stream.stderr.on('data', (b: Buffer) => {
          err += b.toString('utf8');
          const m = /held for approval \((\S+?)\)/.exec(err);
          if (m) resolve(m[1] as string);
        });
      });
    });
    c.end();
    let status = '';
    for (let i = 0; i < 100 && status !== 'cancelled'; i++) {
      status = (await fx.gw.controlPlane.approvals.get(id))?.status ?? '';
      if (status !== 'cancelled') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 'cancelled');
  });

  test('an interactive shell with a pty: output masked, window changes passed through', {
    timeout: 40_000,
  }, async () => {
    const c = await ssh2Connect('box', fx.apiKey());
    try {
      const out = await new Promise<string>((resolve, reject) => {
        c.shell({ rows: 24, cols: 80, term: 'xterm' }, (e, stream) => {
          if (e) return reject(e);
          let text = '';
          stream.on('data', (b: Buffer) => {
            text += b.toString('utf8');
            if (text.includes('size-one:24 80') && !text.includes('resized')) {
              stream.setWindow(30, 100, 480, 640);
              stream.write('echo resized; echo size-two:$(stty size); exit\n');
            }
          });
          stream.on('close', () => resolve(text));
          stream.write("echo size-one:$(stty size); echo 'card 4111 1111 1111 1111'\n");
        });
      });
      assert.match(out, /size-one:24 80/);
      assert.match(out, /size-two:30 100/);
      assert.doesNotMatch(out, /4111 1111 1111 1111/, 'what the terminal shows is masked');
    } finally {
      c.end();
    }
  });

  test('port forwarding is allowed to one destination and refused for another', {
    timeout: 40_000,
  }, async () => {
    const c = await ssh2Connect('box', fx.apiKey());
    try {
      const echoed = await new Promise<string>((resolve, reject) => {
        c.forwardOut('127.0.0.1', 40000, '127.0.0.1', echoPort, (e, stream) => {
          if (e) return reject(e);
          let got = '';
          stream.on('data', (b: Buffer) => {
            got += b.toString('utf8');
            if (got.includes('\n')) {
              resolve(got);
              stream.end();
            }
          });
          stream.write('ping through tollgate\n');
        });
      });
      assert.equal(echoed, 'ping through tollgate\n');
      await assert.rejects(
        new Promise((resolve, reject) =>
          c.forwardOut('127.0.0.1', 40001, '127.0.0.1', fx.target.port ?? 22, (e, s) =>
            e ? reject(e) : resolve(s),
          ),
        ),
        (e: Error & { reason?: number }) => {
          // ssh2's server answers every rejected open with SSH_OPEN_CONNECT_FAILED, no description
          assert.equal(e.reason, 2);
          return true;
        },
      );
      let recs: Awaited<ReturnType<Gateway['controlPlane']['audit']['query']>> = [];
      for (let i = 0; i < 50; i++) {
        recs = (await fx.gw.controlPlane.audit.query({ types: ['command', 'command.result'] })) ?? [];
        if (recs.some((x) => x.type === 'command.result' && JSON.stringify(x.data).includes(`${echoPort}`)))
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const fwd = recs.filter((x) => x.action === 'port-forward');
      assert.ok(fwd.some((x) => x.decision === 'allow'));
      assert.ok(fwd.some((x) => x.decision === 'deny'));
    } finally {
      c.end();
    }
  });

  test('env requests pass for names the resource allows and are refused for others, names audited', {
    timeout: 40_000,
  }, async () => {
    const c = await ssh2Connect('box', fx.apiKey());
    try {
      const env = { LANG: 'C.UTF-8', TG_MODE: 'blue', SECRET_TOKEN: 'do-not-pass' };
      const out = await new Promise<string>((resolve, reject) =>
        c.exec(`printf '%s|%s|%s\\n' "$LANG" "$TG_MODE" "$SECRET_TOKEN"`, { env }, (e, s) => {
          if (e) return reject(e);
          const got: Buffer[] = [];
          s.on('data', (b: Buffer) => got.push(b));
          s.stderr.resume();
          s.once('close', () => resolve(Buffer.concat(got).toString('utf8')));
        }),
      );
      assert.equal(out, 'C.UTF-8|blue|\n', 'SECRET_TOKEN is not set at the target');
    } finally {
      c.end();
    }
    const recs = (await fx.gw.controlPlane.audit.query({ types: ['command'], actions: ['exec'] })) ?? [];
    const rec = recs.find((r) => String(r.data?.text).includes('$SECRET_TOKEN'));
    assert.deepEqual(rec?.data?.env, ['LANG', 'TG_MODE']);
    assert.deepEqual(rec?.data?.envRefused, ['SECRET_TOKEN']);
    assert.doesNotMatch(JSON.stringify(recs), /do-not-pass|C\.UTF-8/, 'values are never audited');
  });

  test('agent forwarding refused by policy and X11 refused by the target, each audited', {
    timeout: 40_000,
  }, async () => {
    // OpenSSH asks for X11 forwarding when DISPLAY is set (with made-up cookie data without xauth);
    // the policy allows it, this target's sshd does not (X11Forwarding no): the command runs without
    const r = await run(
      'ssh',
      [...clientOptions(), '-n', '-X', '-p', String(port()), '-l', 'box', '127.0.0.1', '--', 'echo ran'],
      { timeoutMs: 30_000, env: { ...process.env, DISPLAY: ':0' } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
    assert.match(r.stderr, /tollgate: the target refused X11 forwarding; running without it/);
    // OpenSSH asks for agent forwarding only with a reachable agent; the ssh2 client asks anyway
    const c = await fx.ssh2Connect('box', fx.apiKey(), {
      agent: join(dir, 'no-agent.sock'),
      agentForward: true,
    });
    try {
      // the ssh2 client gives up on the exec when its agent forwarding request is refused
      const refused = await new Promise<Error | undefined>((resolve) => c.exec('true', (e) => resolve(e)));
      assert.match(String(refused?.message), /Unable to request agent forwarding/);
    } finally {
      c.end();
    }
    const last = async (action: string) => {
      let rec: Awaited<ReturnType<Gateway['controlPlane']['audit']['query']>>[number] | undefined;
      for (let i = 0; i < 50 && !rec; i++) {
        rec = ((await fx.gw.controlPlane.audit.query({ types: ['command'], actions: [action] })) ?? []).at(
          -1,
        );
        if (!rec) await new Promise((r) => setTimeout(r, 100));
      }
      return rec;
    };
    const agent = await last('agent-forward');
    assert.equal(agent?.decision, 'deny', 'agent forwarding refusal audited');
    assert.match(String(agent?.data?.reason), /^no policy rule allows action 'agent-forward'/);
    const x11 = await last('x11');
    assert.equal(x11?.decision, 'allow');
    assert.equal(x11?.data?.rule, 'x11-allowed');
    const echo = (
      (await fx.gw.controlPlane.audit.query({ types: ['command'], actions: ['exec'] })) ?? []
    ).find((x) => x.data?.text === 'echo ran');
    let result: Awaited<ReturnType<Gateway['controlPlane']['audit']['query']>>[number] | undefined;
    for (let i = 0; i < 50 && !result; i++) {
      result = ((await fx.gw.controlPlane.audit.query({ types: ['command.result'] })) ?? []).find(
        (x) => x.data?.commandSeq === echo?.seq,
      );
      if (!result) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(result?.data?.refusedByTarget, 'x11');
  });

  test('a target that is down gets a clear error and the gateway keeps serving', {
    timeout: 40_000,
  }, async () => {
    const r = await openssh('box-down', 'echo should not run');
    assert.equal(r.code, 255);
    assert.match(r.stderr, /tollgate: cannot reach box-down \(127\.0\.0\.1:\d+\): .*ECONNREFUSED/);
    const ok = await openssh('box', 'echo still serving');
    assert.equal(ok.stdout, 'still serving\n');
  });

  test('sftp (ssh2 client): files written, read, listed, renamed and removed, each audited', {
    timeout: 40_000,
  }, async () => {
    const c = await ssh2Connect('box', fx.apiKey());
    const base = join(dir, 'sftp-area');
    mkdirSync(base, { recursive: true });
    try {
      const sftp = await new Promise<import('ssh2').SFTPWrapper>((resolve, reject) =>
        c.sftp((e, s) => (e ? reject(e) : resolve(s))),
      );
      const call = <T>(f: (cb: (err: Error | null | undefined, v?: T) => void) => void) =>
        new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));
      const payload = Buffer.alloc(300_000, 'tollgate sftp ');
      await call((cb) => sftp.writeFile(`${base}/a.txt`, payload, cb));
      const back = await call<Buffer>((cb) => sftp.readFile(`${base}/a.txt`, cb));
      assert.ok(back.equals(payload), 'what was written is read back');
      const list = await call<{ filename: string }[]>((cb) => sftp.readdir(base, cb));
      assert.deepEqual(
        list.map((x) => x.filename),
        ['a.txt'],
      );
      await call((cb) => sftp.rename(`${base}/a.txt`, `${base}/b.txt`, cb));
      await call((cb) => sftp.mkdir(`${base}/d`, cb));
      await call((cb) => sftp.unlink(`${base}/b.txt`, cb));
      await call((cb) => sftp.rmdir(`${base}/d`, cb));
      assert.ok(!existsSync(`${base}/b.txt`) && !existsSync(`${base}/d`));
      sftp.end();
    } finally {
      c.end();
    }
    let recs: Awaited<ReturnType<Gateway['controlPlane']['audit']['query']>> = [];
    for (let i = 0; i < 50; i++) {
      recs = (await fx.gw.controlPlane.audit.query({ types: ['command', 'command.result'] })) ?? [];
      if (
        recs.some(
          (x) =>
            x.type === 'command.result' && (x.data as { bytesWritten?: number })?.bytesWritten === 300_000,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const texts = recs
      .filter((x) => x.type === 'command')
      .map((x) => String((x.data as { text?: string })?.text));
    for (const op of ['open-write', 'open-read', 'rename', 'mkdir', 'remove', 'rmdir'])
      assert.ok(
        texts.some((t) => t.startsWith(`sftp ${op} ${base}`)),
        `${op} is audited with its path`,
      );
    assert.ok(
      recs.some(
        (x) => x.type === 'command.result' && (x.data as { bytesRead?: number })?.bytesRead === 300_000,
      ),
      'bytes read are recorded at close',
    );
  });

  test('OpenSSH sftp and scp: reads allowed on a read-only resource, writes refused', {
    timeout: 60_000,
  }, async () => {
    const area = join(dir, 'ro-area');
    mkdirSync(area, { recursive: true });
    writeFileSync(join(area, 'report.txt'), 'quarterly numbers\n');
    const batch = (name: string, lines: string[]) => {
      writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
      return run(
        'sftp',
        [...clientOptions(), '-b', join(dir, name), '-P', String(port()), 'box-ro@127.0.0.1'],
        { timeoutMs: 30_000 },
      );
    };
    const got = await batch('get.batch', [`get ${area}/report.txt ${dir}/report-copy.txt`]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(
      await (await import('node:fs/promises')).readFile(join(dir, 'report-copy.txt'), 'utf8'),
      'quarterly numbers\n',
    );
    const put = await batch('put.batch', [`put ${dir}/report-copy.txt ${area}/uploaded.txt`]);
    assert.notEqual(put.code, 0);
    assert.match(put.stderr, /Permission denied|policy denies/i);
    assert.ok(!existsSync(join(area, 'uploaded.txt')), 'nothing was written');
    // OpenSSH 9 scp speaks sftp: an upload to the writable resource works
    const scp = await run(
      'scp',
      [
        ...clientOptions(),
        '-P',
        String(port()),
        join(dir, 'report-copy.txt'),
        `box@127.0.0.1:${area}/scp.txt`,
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(scp.code, 0, scp.stderr);
    assert.ok(existsSync(join(area, 'scp.txt')));
  });

  test('large output arrives whole; a client leaving mid-stream harms nothing', {
    timeout: 60_000,
  }, async () => {
    const big = await ssh2Exec('box', fx.apiKey(), "head -c 20000000 /dev/zero | tr '\\0' x");
    assert.equal(big.code, 0, big.stderr);
    assert.equal(big.stdout.length, 20_000_000);
    const c = await ssh2Connect('box', fx.apiKey());
    await new Promise<void>((resolve, reject) => {
      c.exec("head -c 50000000 /dev/zero | tr '\\0' y", (e, stream) => {
        if (e) return reject(e);
        stream.once('data', () => {
          c.end();
          resolve();
        });
      });
    });
    const ok = await openssh('box', 'echo still serving');
    assert.equal(ok.stdout, 'still serving\n');
  });
});
