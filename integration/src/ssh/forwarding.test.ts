import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Gateway } from '@tollgate/gateway';
import { publicKeyFingerprint, run, type SshdTarget, sshKeygen } from '../harness/index';
import { SshFixture, sshResource } from './fixture';

/**
 * Agent forwarding and X11 through the gateway when policy allows them: OpenSSH `ssh -A` with a
 * real `ssh-agent` (the key stays in the agent; the target lists it and signs with it), and the
 * ssh2 client as an X server that echoes what the target's X11 display receives.
 */

const policy = (t: SshdTarget) => `version: 1
resources:
${sshResource('fwd', t)}${sshResource('plain', t)}rules:
  - name: agents-exec
    subjects: [{ group: agents }]
    resources: [fwd, plain]
    actions: [exec]
    effect: allow
  - name: forwarding
    subjects: [{ group: agents }]
    resources: [fwd]
    actions: [agent-forward, x11]
    effect: allow
`;

type AuditRecords = Awaited<ReturnType<Gateway['controlPlane']['audit']['query']>>;

describe('SSH agent forwarding and X11 through the gateway', () => {
  const fx = new SshFixture({
    suite: 'ssh-forwarding',
    sshd: { x11Forwarding: true },
    opensshClient: true,
    policy: (t) => policy(t),
  }).register();

  /** Audit records of `action`, polled until `until` holds (bounded). */
  const records = async (action: string, until: (r: AuditRecords) => boolean): Promise<AuditRecords> => {
    let recs: AuditRecords = [];
    for (let i = 0; i < 50; i++) {
      const audit = fx.gw.controlPlane.audit;
      // result records carry no action: they point at their command by commandSeq
      const cmds = (await audit.query({ types: ['command'], actions: [action] })) ?? [];
      const seqs = new Set(cmds.map((x) => x.seq));
      const results = ((await audit.query({ types: ['command.result'] })) ?? []).filter((x) =>
        seqs.has(Number(x.data?.commandSeq)),
      );
      recs = [...cmds, ...results];
      if (until(recs)) break;
      await sleep(100);
    }
    return recs;
  };

  /** A real ssh-agent on a socket in the suite's dir, holding one fresh Ed25519 key. */
  let agents = 0;
  const startAgent = async (): Promise<{ sock: string; pub: string; fp: string; stop: () => void }> => {
    const n = ++agents;
    const sock = join(fx.dir, `agent-${n}.sock`);
    const key = join(fx.dir, `forwarded-${n}_ed25519`);
    const fp = publicKeyFingerprint(await sshKeygen(key, 'forwarded-key'));
    const agent: ChildProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    agent.on('error', () => {});
    const stop = () => agent.kill('SIGTERM');
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(50);
      // the socket file appears when the agent binds it, a moment before it listens: a busy
      // machine can refuse the first connection
      const add = () =>
        run('ssh-add', [key], { timeoutMs: 10_000, env: { ...process.env, SSH_AUTH_SOCK: sock } });
      let r = await add();
      for (let i = 0; i < 20 && r.code !== 0 && /Connection refused/.test(r.stderr); i++) {
        await sleep(100);
        r = await add();
      }
      if (r.code !== 0) throw new Error(`ssh-add exited with status ${r.code}: ${r.stderr}`);
    } catch (err) {
      stop(); // a running agent would keep the test process alive
      throw err;
    }
    return { sock, pub: `${key}.pub`, fp, stop };
  };

  test('ssh -A: the target lists and signs with the agent key; each signature is audited', {
    timeout: 60_000,
  }, async () => {
    const agent = await startAgent();
    try {
      const env = { ...process.env, SSH_AUTH_SOCK: agent.sock };
      const ssh = (command: string) =>
        run(
          'ssh',
          [...fx.clientOptions(), '-n', '-A', '-p', String(fx.port), '-l', 'fwd', '127.0.0.1', '--', command],
          {
            timeoutMs: 30_000,
            env,
          },
        );
      const r = await ssh('ssh-add -l');
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`^256 ${agent.fp.replace(/[+/]/g, '\\$&')} forwarded-key \\(ED25519\\)`),
      );
      // ssh-add -T signs with the key through the agent and verifies the signature
      const t = await ssh(`ssh-add -T ${agent.pub}`);
      assert.equal(t.code, 0, t.stderr);

      const recs = await records('agent-forward', (rs) => rs.some((x) => x.data?.use === 'sign'));
      const allowed = recs.filter((x) => x.type === 'command' && x.data?.text === 'agent forwarding request');
      assert.ok(allowed.length >= 2, 'each agent forwarding request is audited');
      assert.ok(allowed.every((x) => x.decision === 'allow' && x.data?.rule === 'forwarding'));
      const signed = recs.find((x) => x.type === 'command' && x.data?.use === 'sign');
      assert.equal(signed?.data?.key, agent.fp);
      assert.equal(signed?.data?.keyType, 'ssh-ed25519');
    } finally {
      agent.stop();
    }
  });

  test('ssh -A where policy allows no agent forwarding: the target has no agent, the refusal is audited', {
    timeout: 60_000,
  }, async () => {
    const agent = await startAgent();
    try {
      const r = await run(
        'ssh',
        [
          ...fx.clientOptions(),
          '-n',
          '-A',
          '-p',
          String(fx.port),
          '-l',
          'plain',
          '127.0.0.1',
          '--',
          'ssh-add -l',
        ],
        { timeoutMs: 30_000, env: { ...process.env, SSH_AUTH_SOCK: agent.sock } },
      );
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /Could not open a connection to your authentication agent/);
      const recs = await records('agent-forward', (rs) => rs.some((x) => x.decision === 'deny'));
      const denied = recs.find((x) => x.decision === 'deny');
      assert.match(String(denied?.data?.reason), /^no policy rule allows action 'agent-forward'/);
    } finally {
      agent.stop();
    }
  });

  test('X11: a connection to the target display reaches the client and back; audited with its bytes', {
    timeout: 60_000,
  }, async () => {
    // an "X client" at the target: writes to $DISPLAY's TCP port and prints the reply
    const script = join(fx.dir, 'x11-ping.sh');
    writeFileSync(
      script,
      [
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
        'd=${DISPLAY#*:}; d=${d%%.*}',
        'exec 3<>/dev/tcp/127.0.0.1/$((6000 + d))',
        "printf 'ping\\n' >&3",
        'head -n 1 <&3',
        '',
      ].join('\n'),
    );
    const c = await fx.ssh2Connect('fwd', fx.apiKey());
    try {
      let x11Opened = 0;
      c.on('x11', (_info, accept) => {
        x11Opened++;
        const s = accept();
        s.on('data', (b: Buffer) => s.write(b));
        s.on('end', () => s.end());
      });
      const out = await new Promise<string>((resolve, reject) => {
        c.exec(`bash ${script}`, { x11: true }, (err, stream) => {
          if (err) return reject(err);
          const chunks: Buffer[] = [];
          stream.on('data', (b: Buffer) => chunks.push(b));
          stream.stderr.on('data', () => {});
          stream.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
        });
      });
      assert.equal(out, 'ping\n');
      assert.equal(x11Opened, 1);
    } finally {
      c.end();
    }
    const recs = await records('x11', (rs) => rs.some((x) => x.type === 'command.result'));
    const req = recs.find((x) => x.type === 'command' && x.decision === 'allow');
    assert.equal(req?.data?.rule, 'forwarding');
    assert.equal(req?.data?.protocol, 'MIT-MAGIC-COOKIE-1');
    assert.ok(!JSON.stringify(recs).includes('cookie'), 'the cookie is never audited');
    const result = recs.find((x) => x.type === 'command.result');
    assert.equal(result?.data?.bytesIn, 5);
    assert.equal(result?.data?.bytesOut, 5);
  });
});
