import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Gateway } from '@tollgate/gateway';
import { Client, type ClientChannel } from 'ssh2';
import { FailureTracker, LocalProvider, type SshdTarget } from '../harness/index';

/**
 * Hostile or broken SSH clients against the real gateway (control plane on SQLite, SSH listener)
 * in front of Debian's OpenSSH sshd: garbage and overlong version lines, a 1 GiB packet length,
 * an oversized packet, a window adjust past 2^32-1 and data beyond the window after
 * authentication. Each time: that connection is closed (with a log line that says why once the
 * version exchange is done), the process stays up and does not allocate the declared size, other
 * sessions keep working, and the audit log holds a complete session.start / session.end for an
 * authenticated session. Cases the gateway does not handle yet run as `todo` (see `TODO`).
 *
 * The post-authentication cases drive the ssh2 client's protocol object directly
 * (`_protocol.channelData` / `channelWindowAdjust`), which writes packets without the client's
 * own window and size checks; they need ssh2 1.x internals and say so when those are missing.
 */

interface RawProtocol {
  channelData(chan: number, data: Buffer): void;
  channelWindowAdjust(chan: number, amount: number): void;
}

const policy = (t: SshdTarget) => `version: 1
resources:
  box:
    protocol: ssh
    address: 127.0.0.1:${t.port}
    username: ${t.user}
    credential: { file: ${t.clientKeyPath} }
    hostKey: ${t.hostKeyFingerprint}
rules:
  - name: agents-exec
    subjects: [{ group: agents }]
    resources: [box]
    actions: [exec]
    effect: allow
`;

const MiB = 1024 * 1024;

/** Tests of cases the gateway does not handle yet (run as `todo`: reported, not failing). */
const TODO = {
  preHeaderLog: 'a connection refused before the version exchange is logged with the reason',
  windowOverflow: 'a window adjust past 2^32-1 ends that session, recorded start and end',
  flood: 'data far beyond the advertised window ends that session and is not buffered',
};

describe('SSH gateway: bad input from clients', () => {
  const failures = new FailureTracker();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-ssh-faults-'));
  let target: SshdTarget | undefined;
  let gw: Gateway | undefined;
  const logs: string[] = [];
  const keys = new Map<string, string>();

  before(
    async () => {
      target = await new LocalProvider().startSshd({ suite: 'ssh-faults' });
      writeFileSync(join(dir, 'policy.yaml'), policy(target));
      gw = await Gateway.start({
        controlPlane: { store: { sqlite: join(dir, 'state.db') }, policyFile: join(dir, 'policy.yaml') },
        ssh: { host: '127.0.0.1', port: 0, hostKeyFile: join(dir, 'gateway-host-key') },
        log: (l) => logs.push(l),
      });
      for (const name of ['agent', 'fault-bigpacket', 'fault-window', 'fault-flood']) {
        const sa = await gw.controlPlane.serviceAccounts.create({ name, groups: ['agents'] });
        keys.set(name, sa.apiKey);
      }
    },
    { timeout: 60_000 },
  );
  // the todo tests fail until the gateway handles their case: no reason to keep the sshd log
  afterEach((t) => {
    if (!Object.values(TODO).includes(t.name)) failures.afterEach(t);
  });
  after(async () => {
    await gw?.stop();
    await target?.stop({ keepLogs: failures.failed });
    if (failures.failed) process.stderr.write(`gateway log:\n${logs.join('\n')}\n`);
    rmSync(dir, { recursive: true, force: true });
  });

  const port = () => gw?.ssh?.port ?? 0;

  const ssh2Connect = (account: string): Promise<Client> =>
    new Promise((resolve, reject) => {
      const c = new Client();
      c.once('ready', () => resolve(c));
      c.once('error', reject);
      c.connect({
        host: '127.0.0.1',
        port: port(),
        username: 'box',
        password: keys.get(account) as string,
        readyTimeout: 20_000,
        hostVerifier: () => true,
      });
    });

  const execOn = (c: Client, command: string): Promise<ClientChannel> =>
    new Promise((resolve, reject) => c.exec(command, (e, s) => (e ? reject(e) : resolve(s))));

  /** A fresh agent runs `echo` through the gateway: the process is up and serving. */
  const stillServing = async () => {
    const c = await ssh2Connect('agent');
    try {
      const s = await execOn(c, 'echo still serving');
      const out: Buffer[] = [];
      s.on('data', (b: Buffer) => out.push(b));
      await new Promise((r) => s.once('close', r));
      assert.equal(Buffer.concat(out).toString('utf8'), 'still serving\n');
    } finally {
      c.end();
    }
  };

  /** Resolves with what the peer sent once it closed the socket; rejects after `ms`. */
  const closedWithin = (sock: Socket, ms: number): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const got: Buffer[] = [];
      const t = setTimeout(() => reject(new Error(`the gateway kept the connection open for ${ms} ms`)), ms);
      sock.on('data', (b: Buffer) => got.push(b));
      sock.on('error', () => {});
      sock.once('close', () => {
        clearTimeout(t);
        resolve(Buffer.concat(got));
      });
    });

  const rawSocket = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = connect(port(), '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });

  const waitForLog = async (re: RegExp, ms = 5_000): Promise<string> => {
    const until = Date.now() + ms;
    for (;;) {
      const hit = logs.find((l) => re.test(l));
      if (hit) return hit;
      if (Date.now() > until)
        assert.fail(`no gateway log line matches ${re}; log:\n${logs.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /** session.start and session.end of `subject`'s sessions, in order; waits for the end. */
  const sessionRecords = async (subject: string): Promise<string[]> => {
    for (let i = 0; ; i++) {
      const recs =
        (await gw?.controlPlane.audit.query({ subject, types: ['session.start', 'session.end'] })) ?? [];
      if (recs.some((r) => r.type === 'session.end') || i >= 100) return recs.map((r) => r.type);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const rawProtocol = (c: Client): RawProtocol => {
    const p = (c as unknown as { _protocol?: Partial<RawProtocol> })._protocol;
    if (typeof p?.channelData !== 'function' || typeof p.channelWindowAdjust !== 'function') {
      assert.fail('ssh2 internals changed: Client._protocol.channelData/channelWindowAdjust are gone');
    }
    return p as RawProtocol;
  };
  const remoteId = (s: ClientChannel): number => {
    const id = (s as unknown as { outgoing?: { id?: number } }).outgoing?.id;
    assert.equal(typeof id, 'number', 'ssh2 internals changed: ClientChannel.outgoing.id is gone');
    return id as number;
  };

  // ssh2 closes these before the version exchange completes and silences the error (its
  // onClientPreHeaderError): the adapter never sees a session, so nothing is audited.
  test('garbage instead of an SSH version line is refused and the connection closed', {
    timeout: 30_000,
  }, async () => {
    const sock = await rawSocket();
    const closed = closedWithin(sock, 10_000);
    sock.write('GET / HTTP/1.1\r\nHost: gateway\r\n\r\n');
    const answer = await closed;
    assert.equal(answer.toString('latin1'), 'SSH-2.0-Tollgate\r\n', 'the gateway sent only its version line');
    await stillServing();
  });

  test('an endless version line is cut off at the limit, not buffered', { timeout: 30_000 }, async () => {
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const sock = await rawSocket();
    const closed = closedWithin(sock, 10_000);
    // up to 16 MiB without a newline: ssh2 refuses a line past 8 KiB
    let sent = 0;
    while (!sock.destroyed && sock.writable && sent < 16 * MiB) {
      sock.write(Buffer.alloc(64 * 1024, 'A'));
      sent += 64 * 1024;
      await new Promise((r) => setImmediate(r));
    }
    await closed;
    assert.ok(sent < 16 * MiB, 'the gateway closed the connection before 16 MiB were sent');
    const grew = process.memoryUsage().arrayBuffers - before;
    assert.ok(grew < 32 * MiB, `array buffers grew by ${(grew / MiB).toFixed(1)} MiB`);
    await stillServing();
  });

  test(TODO.preHeaderLog, {
    timeout: 30_000,
    todo: 'ssh2 silences errors before the version line; the adapter logs nothing for them yet',
  }, async () => {
    const sock = await rawSocket();
    const closed = closedWithin(sock, 10_000);
    sock.write('GET / HTTP/1.1\r\n\r\n');
    await closed;
    await waitForLog(/ssh 127\.0\.0\.1:\d+: .*(Greetings|identification|version)/i, 2_000);
  });

  test('a 1 GiB packet length after the version exchange closes the connection without allocating it', {
    timeout: 30_000,
  }, async () => {
    global.gc?.();
    const before = process.memoryUsage();
    const sock = await rawSocket();
    const closed = closedWithin(sock, 10_000);
    sock.write('SSH-2.0-faults_test\r\n');
    // binary packet: uint32 packet_length (1 GiB), byte padding_length, then the start of a payload
    const packet = Buffer.alloc(64, 0x41);
    packet.writeUInt32BE(1024 * MiB, 0);
    packet[4] = 4;
    sock.write(packet);
    const answer = await closed;
    assert.match(answer.toString('latin1'), /^SSH-2\.0-Tollgate\r\n/);
    await waitForLog(/ssh .*Bad packet length/);
    const grew = process.memoryUsage().arrayBuffers - before.arrayBuffers;
    assert.ok(grew < 64 * MiB, `array buffers grew by ${(grew / MiB).toFixed(1)} MiB for a declared 1 GiB`);
    await stillServing();
  });

  test('an oversized packet after authentication ends that session, recorded start and end', {
    timeout: 40_000,
  }, async () => {
    const c = await ssh2Connect('fault-bigpacket');
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.on('error', () => {});
    const s = await execOn(c, 'sleep 30');
    // one CHANNEL_DATA packet of 1 MiB: past any SSH implementation's maximum packet size
    rawProtocol(c).channelData(remoteId(s), Buffer.alloc(MiB, 'x'));
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the connection stayed open')), 10_000)),
    ]);
    await waitForLog(/ssh .*Bad packet length/);
    assert.deepEqual(await sessionRecords('fault-bigpacket'), ['session.start', 'session.end']);
    await stillServing();
  });

  test(TODO.windowOverflow, {
    timeout: 40_000,
    todo: 'ssh2 adds window adjusts without an overflow check, and the adapter does not guard against it yet',
  }, async () => {
    const c = await ssh2Connect('fault-window');
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.on('error', () => {});
    const s = await execOn(c, 'sleep 30');
    const p = rawProtocol(c);
    // RFC 4254 §5.2: the window must not be increased above 2^32-1 bytes
    p.channelWindowAdjust(remoteId(s), 0xffffffff);
    p.channelWindowAdjust(remoteId(s), 0xffffffff);
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise<string>((r) => setTimeout(() => r('open'), 5_000)),
    ]);
    if (outcome === 'open') c.end();
    await stillServing();
    assert.deepEqual(await sessionRecords('fault-window'), ['session.start', 'session.end']);
    assert.equal(outcome, 'closed', 'the gateway should close a connection whose window overflows');
  });

  test(TODO.flood, {
    timeout: 60_000,
    todo: 'ssh2 accepts data past the window once it went negative, and the adapter does not guard against it yet',
  }, async () => {
    const c = await ssh2Connect('fault-flood');
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.on('error', () => {});
    // `sleep` never reads its stdin: nothing drains what the gateway accepts
    const s = await execOn(c, 'sleep 30');
    const p = rawProtocol(c);
    global.gc?.();
    const before = process.memoryUsage().rss;
    const chunk = Buffer.alloc(32 * 1024, 'y');
    let sent = 0;
    let open = true;
    void closed.then(() => {
      open = false;
    });
    // 64 MiB against a 2 MiB window, in packets of the agreed size, as fast as TCP takes them
    while (open && sent < 64 * MiB) {
      p.channelData(remoteId(s), chunk);
      sent += chunk.length;
      if (sent % MiB === 0) await new Promise((r) => setImmediate(r));
    }
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise<string>((r) => setTimeout(() => r('open'), 5_000)),
    ]);
    global.gc?.();
    const grew = process.memoryUsage().rss - before;
    if (outcome === 'open') c.end();
    await stillServing();
    assert.deepEqual(await sessionRecords('fault-flood'), ['session.start', 'session.end']);
    assert.equal(
      outcome,
      'closed',
      `the gateway should close a connection that ignores its window (RSS grew ${(grew / MiB).toFixed(0)} MiB)`,
    );
  });

  test('every session opened during these attacks has its end recorded', { timeout: 30_000 }, async () => {
    const open = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const recs = (await gw?.controlPlane.audit.query({ types: ['session.start', 'session.end'] })) ?? [];
      open.clear();
      for (const r of recs) {
        if (r.type === 'session.start') open.add(String(r.sessionId));
        else open.delete(String(r.sessionId));
      }
      if (open.size === 0 && recs.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual([...open], [], 'sessions without a session.end record');
  });
});
