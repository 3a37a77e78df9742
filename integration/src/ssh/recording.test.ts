import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AuditEventInput,
  type AuditRecord,
  type Identity,
  Listener,
  Masker,
  MemoryApprovals,
  MemoryAuditSink,
  MemoryVault,
  StaticAuthenticator,
  StaticPolicy,
} from '@tollgate/core';
import { runCli } from '@tollgate/gateway';
import { type RecordingChunk, SshAdapter } from '@tollgate/protocol-ssh';
import { Client, type ClientChannel } from 'ssh2';
import { run, type SshdTarget } from '../harness/index';
import { SshFixture } from './fixture';

/**
 * Session recording end to end: real clients (the ssh2 client with a pty, OpenSSH `ssh -tt`)
 * through the real gateway to Debian's sshd; then the real `tollgate replay` reads the recording
 * back from the gateway's audit store and must reproduce exactly the bytes the client saw.
 */

const CARD = '4111 1111 1111 1111';
const EMAIL = 'jane.roe@example.com';

const policy = (t: SshdTarget, keyFile: string) => `version: 1
roles:
  admin: [{ group: platform-admins }]
resources:
  box:
    protocol: ssh
    address: 127.0.0.1:${t.port}
    username: ${t.user}
    credential: { file: ${keyFile} }
    hostKey: ${t.hostKeyFingerprint}
  box-full:
    protocol: ssh
    address: 127.0.0.1:${t.port}
    username: ${t.user}
    credential: { file: ${keyFile} }
    hostKey: ${t.hostKeyFingerprint}
maskingProfiles:
  ops:
    otherwise: scan
    styles: { card: last4 }
  same-length:
    otherwise: scan
    defaultStyle: last4
rules:
  - name: agents-shell-exec
    subjects: [{ group: agents }]
    resources: [box]
    actions: [shell, exec]
    effect: allow
    masking: ops
  - name: no-uname
    subjects: [{ group: agents }]
    resources: [box]
    actions: [exec]
    when: { programs: [uname] }
    effect: deny
    reason: uname is not for agents
  - name: sftp-masked
    subjects: [{ group: agents }]
    resources: [box]
    actions: [sftp-read]
    effect: allow
    masking: same-length
  - name: sftp-masked-full
    subjects: [{ group: agents }]
    resources: [box-full]
    actions: [sftp-read]
    effect: allow
    masking: ops
`;

describe('SSH session recording, tollgate replay and masked sftp reads', () => {
  const fx = new SshFixture({
    suite: 'ssh-recording',
    api: true,
    opensshClient: true,
    policy: (t, dir) => {
      writeFileSync(join(dir, 'customers.txt'), `name: Jane Roe\ncard: ${CARD}\nemail: ${EMAIL}\n`);
      return policy(t, t.clientKeyPath);
    },
  }).register();
  const { dir, storePath } = fx;
  const customers = join(dir, 'customers.txt');
  const port = () => fx.port;

  const replay = (args: string[]) =>
    runCli(['replay', ...args, '--store', `sqlite:${storePath}`], {
      unset: ['TOLLGATE_STORE', 'TOLLGATE_AUDIT_PUBLIC_KEY'],
      timeoutMs: 30_000,
    });

  const connect = (user = 'box'): Promise<Client> => fx.ssh2Connect(user, fx.apiKey());

  /** The audit log's last position now: recordings of what follows have larger positions. */
  const head = async () => (await fx.gw.controlPlane.audit.query({}))?.at(-1)?.seq ?? 0;

  /** Waits for the complete recording of the (first) session that started after `afterSeq`. */
  const recordingAfter = async (afterSeq: number): Promise<AuditRecord[]> => {
    for (let i = 0; i < 100; i++) {
      const start = (await fx.gw.controlPlane.audit.query({ types: ['session.start'], afterSeq }))?.[0];
      if (start?.sessionId) {
        const recs =
          (await fx.gw.controlPlane.audit.query({ types: ['recording'], sessionId: start.sessionId })) ?? [];
        if (recs.some((r) => (r.data as unknown as RecordingChunk).final)) return recs;
      }
      await sleep(100);
    }
    throw new Error('no complete recording was stored');
  };

  /** Everything the client's terminal received, stdout and stderr in arrival order. */
  const shellSession = (c: Client, steps: (s: ClientChannel, seen: () => string) => Promise<void>) =>
    new Promise<Buffer>((resolve, reject) => {
      c.shell({ rows: 24, cols: 80, term: 'xterm' }, (e, s) => {
        if (e) return reject(e);
        const got: Buffer[] = [];
        s.on('data', (b: Buffer) => got.push(b));
        s.stderr.on('data', (b: Buffer) => got.push(b));
        s.on('close', () => resolve(Buffer.concat(got)));
        steps(s, () => Buffer.concat(got).toString('utf8')).catch(reject);
      });
    });

  const waitFor = async (seen: () => string, what: RegExp) => {
    for (let i = 0; i < 200 && !what.test(seen()); i++) await sleep(25);
    assert.match(seen(), what);
  };

  test('a shell session (ssh2 client, pty) replays to exactly what the client saw, masked', {
    timeout: 60_000,
  }, async () => {
    const before = await head();
    const c = await connect();
    let saw: Buffer;
    try {
      // each step waits for a marker the shell computes, so that the echoed command does not match
      saw = await shellSession(c, async (s, seen) => {
        s.write('export PS1="rec$ "; echo step-$((0+1))\n');
        await waitFor(seen, /step-1/);
        s.write(`cat ${customers}; echo step-$((1+1))\n`);
        await waitFor(seen, /step-2/);
        s.write(`echo typed ${CARD} and ${EMAIL}; echo step-$((2+1))\n`);
        await waitFor(seen, /step-3/);
        s.setWindow(30, 100, 640, 480);
        s.write('echo size:$(stty size)\n');
        await waitFor(seen, /size:30 100/);
        await sleep(300); // a pause the recording keeps
        s.write("printf 'caf\\303\\251 \\342\\202\\254 bad:\\377\\n'\n");
        await waitFor(seen, /bad:/);
        s.write('exit\n');
      });
    } finally {
      c.end();
    }
    const text = saw.toString('utf8');
    assert.doesNotMatch(text, new RegExp(CARD), 'the client saw no card number');
    assert.ok(!text.includes(EMAIL), 'the client saw no email address');
    assert.match(text, /card: \D*1111/);

    const recs = await recordingAfter(before);
    const session = recs[0]?.sessionId as string;
    const stored = JSON.stringify(recs);
    assert.doesNotMatch(stored, new RegExp(CARD), 'no card number in the recording (output or input)');
    assert.ok(!stored.includes(EMAIL), 'no email address in the recording (output or input)');

    const r = await replay([session, '--no-timing']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /audit chain verified/);
    assert.equal(r.stdoutBytes.length, saw.length);
    assert.ok(r.stdoutBytes.equals(saw), 'replay writes exactly the bytes the client saw');

    const file = join(dir, 'shell.cast');
    const ex = await replay([session, '--export', file]);
    assert.equal(ex.code, 0, ex.stderr);
    const [first, ...lines] = readFileSync(file, 'utf8').trimEnd().split('\n');
    const header = JSON.parse(first as string);
    assert.equal(header.version, 2);
    assert.equal(header.width, 80);
    assert.equal(header.height, 24);
    assert.deepEqual(header.env, { TERM: 'xterm' });
    assert.ok(Number.isInteger(header.timestamp));
    const evs = lines.map((l) => JSON.parse(l) as [number, string, string]);
    let t = 0;
    for (const e of evs) {
      assert.equal(e.length, 3);
      assert.ok(typeof e[0] === 'number' && e[0] >= t, 'times are monotonic');
      t = e[0];
      assert.ok(['o', 'i', 'r'].includes(e[1]), e[1]);
      assert.equal(typeof e[2], 'string');
    }
    assert.ok(
      evs.some((e) => e[1] === 'r' && e[2] === '100x30'),
      'the window change is recorded',
    );
    assert.ok(
      evs.some((e) => e[1] === 'i' && e[2].includes('cat ')),
      'what the agent typed is recorded',
    );
    assert.ok(t >= 0.3, 'the pause is in the timing');
    const shown = evs
      .filter((e) => e[1] === 'o')
      .map((e) => e[2])
      .join('');
    assert.equal(shown, text, 'the export shows what the client saw (U+FFFD for the invalid byte)');
    assert.match(shown, /café € bad:\ufffd/);
  });

  test('OpenSSH ssh -tt: the replay equals what ssh wrote to its terminal', { timeout: 60_000 }, async () => {
    const before = await head();
    const r = await run(
      'ssh',
      [
        '-tt',
        '-F',
        '/dev/null',
        '-i',
        fx.agentKeyPath,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
        '-p',
        String(port()),
        'box@127.0.0.1',
      ],
      { timeoutMs: 30_000, input: `cat ${customers}\nexit\n` },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /email: \[REDACTED:email\]/);
    assert.ok(!r.stdout.includes(EMAIL));
    const recs = await recordingAfter(before);
    const out = await replay([recs[0]?.sessionId as string, '--no-timing']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdoutBytes.toString('utf8'), r.stdout);
  });

  test("an exec session's recording has the command and the masked output", { timeout: 60_000 }, async () => {
    const before = await head();
    const c = await connect();
    const saw = await new Promise<{ out: string; err: string }>((resolve, reject) => {
      c.exec(`cat ${customers}; echo oops ${EMAIL} >&2`, (e, s) => {
        if (e) return reject(e);
        let out = '';
        let err = '';
        s.on('data', (b: Buffer) => {
          out += b.toString('utf8');
        });
        s.stderr.on('data', (b: Buffer) => {
          err += b.toString('utf8');
        });
        s.on('close', () => resolve({ out, err }));
      });
    }).finally(() => c.end());
    assert.match(saw.out, /email: \[REDACTED:email\]/);
    assert.equal(saw.err, 'oops [REDACTED:email]\n');

    const recs = await recordingAfter(before);
    const chunks = recs.map((x) => x.data as unknown as RecordingChunk);
    assert.equal(chunks[0]?.kind, 'exec');
    assert.equal(chunks[0]?.header?.command, `cat ${customers}; echo oops [REDACTED:email] >&2`);
    assert.ok(!JSON.stringify(recs).includes(EMAIL));
    const stdout = chunks.flatMap((ch) => ch.events.filter((e) => e[1] === 'o').map((e) => e[2])).join('');
    const stderr = chunks.flatMap((ch) => ch.events.filter((e) => e[1] === 'e').map((e) => e[2])).join('');
    assert.equal(stdout, saw.out);
    assert.equal(stderr, saw.err);
    const r = await replay([recs[0]?.sessionId as string, '--no-timing']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, saw.out.length + saw.err.length);
  });

  test('a refused command is recorded as the agent saw it; an unknown session is named', {
    timeout: 30_000,
  }, async () => {
    const before = await head();
    const c = await connect();
    const err = await new Promise<string>((resolve, reject) => {
      c.exec('uname -a', (e, s) => {
        if (e) return reject(e);
        let text = '';
        s.resume();
        s.stderr.on('data', (b: Buffer) => {
          text += b.toString('utf8');
        });
        s.on('close', () => resolve(text));
      });
    }).finally(() => c.end());
    assert.match(err, /policy denies exec on box: uname is not for agents/);
    const recs = await recordingAfter(before);
    const r = await replay([recs[0]?.sessionId as string, '--no-timing']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, err);
    const unknown = await replay(['ses_0000000000000000']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no session ses_0000000000000000 in the audit store/);
  });

  test('sftp reads are masked when the rule names a length-preserving profile, refused otherwise', {
    timeout: 60_000,
  }, async () => {
    // values placed across the 32 KiB boundaries of the client's reads
    const pad = (n: number) => 'x'.repeat(n);
    const plain = `${pad(32768 - 8)} ${CARD} ${pad(32768 - 30)} ${EMAIL} ${pad(1000)}\n`;
    const file = join(dir, 'export.csv');
    writeFileSync(file, plain);
    const read = async (user: string) => {
      const c = await connect(user);
      try {
        const sftp = await new Promise<import('ssh2').SFTPWrapper>((resolve, reject) =>
          c.sftp((e, x) => (e ? reject(e) : resolve(x))),
        );
        return await new Promise<Buffer>((resolve, reject) =>
          sftp.readFile(file, (e, b) => (e ? reject(e) : resolve(b))),
        );
      } finally {
        c.end();
      }
    };
    const got = (await read('box')).toString('utf8');
    assert.equal(got.length, plain.length, 'the file keeps its length');
    assert.ok(!got.includes(CARD) && !got.includes(EMAIL), 'no value leaves unmasked');
    assert.equal(got, plain.replace(CARD, '**** **** **** 1111').replace(EMAIL, '****.***@******e.com'));
    await assert.rejects(read('box-full'), /length-preserving masking style/);
    let recs: AuditRecord[] = [];
    for (let i = 0; i < 50; i++) {
      recs = (await fx.gw.controlPlane.audit.query({ types: ['command.result'] })) ?? [];
      if (recs.some((r) => (r.data as { maskedRead?: boolean }).maskedRead)) break;
      await sleep(100);
    }
    const closed = recs.find((r) => (r.data as { path?: string; maskedRead?: boolean }).maskedRead);
    assert.deepEqual((closed?.data as { masked?: unknown } | undefined)?.masked, { card: 1, email: 1 });
  });

  test('a recording chunk that cannot be stored ends the channel (fail closed)', {
    timeout: 60_000,
  }, async () => {
    const t: SshdTarget = fx.target;
    const agent: Identity = {
      subject: 'agent',
      kind: 'service-account',
      issuer: 'tollgate',
      groups: ['agents'],
    };
    /** Stores every record but recordings, which fail as a full disk would. */
    class NoRecordings extends MemoryAuditSink {
      override append(e: AuditEventInput): Promise<AuditRecord> {
        if (e.type === 'recording') return Promise.reject(new Error('disk full'));
        return super.append(e);
      }
    }
    const audit = new NoRecordings();
    const adapter = new SshAdapter({
      authenticator: new StaticAuthenticator(new Map([['tok', agent]])),
      policy: new StaticPolicy(
        () => ({ effect: 'allow', rule: 'all', reason: 'test' }) as never,
        new Map([
          [
            'box',
            {
              name: 'box',
              protocol: 'ssh',
              address: `127.0.0.1:${t.port}`,
              tls: undefined,
              username: t.user,
              credential: { file: 'target-key' },
              hostKey: t.hostKeyFingerprint,
              database: undefined,
            },
          ],
        ]),
      ),
      approvals: new MemoryApprovals(),
      audit,
      vault: new MemoryVault(new Map([['target-key', readFileSync(t.clientKeyPath, 'utf8')]])),
      masker: new Masker(),
      hostKeyFile: join(dir, 'failing-host-key'),
      recording: { flushMs: 50 },
    });
    const listener = new Listener(adapter, { host: '127.0.0.1', port: 0, log: (l) => fx.logs.push(l) });
    const lport = await listener.listen();
    try {
      const c = await new Promise<Client>((resolve, reject) => {
        const x = new Client();
        x.once('ready', () => resolve(x));
        x.once('error', reject);
        x.connect({ host: '127.0.0.1', port: lport, username: 'box', password: 'tok', readyTimeout: 20_000 });
      });
      const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
        // enough output to pass the masker's hold-back and fill a chunk at once
        c.exec("head -c 200000 /dev/zero | tr '\\0' a; sleep 3; echo two", (e, st) => {
          if (e) return reject(e);
          let out = '';
          let err = '';
          let code: number | null = null;
          st.on('data', (b: Buffer) => {
            out += b.toString();
          });
          st.stderr.on('data', (b: Buffer) => {
            err += b.toString();
          });
          st.on('exit', (x: number | null) => {
            code = x;
          });
          st.on('close', () => resolve({ code, out, err }));
        });
      }).finally(() => c.end());
      assert.equal(r.code, 75, JSON.stringify(r));
      assert.match(r.err, /tollgate: audit store unavailable: the session recording cannot be stored/);
      assert.doesNotMatch(r.out, /two/, 'nothing is relayed unrecorded');
      assert.ok(!audit.records.some((x) => x.type === 'recording'));
    } finally {
      await listener.close(1000);
    }
  });
});
