import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import type { Client, ClientChannel } from 'ssh2';
import type { SshdTarget } from '../harness/index';
import { SshFixture, sshResource } from './fixture';

/**
 * Hostile or broken SSH clients against the real gateway (control plane on SQLite, SSH listener)
 * in front of Debian's OpenSSH sshd: garbage and overlong version lines, a 1 GiB packet length,
 * an oversized packet, a window adjust past 2^32-1 and data beyond the window after
 * authentication. Each time: that connection is closed with a log line that says why (before
 * the version exchange too, where ssh2 itself says nothing), the process stays up and does not allocate the declared size, other
 * sessions keep working, and the audit log holds a complete session.start / session.end for an
 * authenticated session, whose session.end names the protocol error. A client that advertises a
 * huge window and stops reading does not make the gateway buffer the target's output.
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
${sshResource('box', t)}rules:
  - name: agents-exec
    subjects: [{ group: agents }]
    resources: [box]
    actions: [exec]
    effect: allow
`;

const MiB = 1024 * 1024;

describe('SSH gateway: bad input from clients', () => {
  const fx = new SshFixture({
    suite: 'ssh-faults',
    accounts: ['agent', 'fault-bigpacket', 'fault-window', 'fault-flood', 'fault-noread'],
    policy: (t) => policy(t),
  }).register();
  const { logs } = fx;
  const port = () => fx.port;

  const ssh2Connect = (account: string): Promise<Client> => fx.ssh2Connect('box', fx.apiKey(account));

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
        (await fx.gw.controlPlane.audit.query({ subject, types: ['session.start', 'session.end'] })) ?? [];
      if (recs.some((r) => r.type === 'session.end') || i >= 100) return recs.map((r) => r.type);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  /** The `data` of `subject`'s session.end record. */
  const sessionEnd = async (subject: string): Promise<Record<string, unknown>> => {
    const recs = (await fx.gw.controlPlane.audit.query({ subject, types: ['session.end'] })) ?? [];
    return (recs[0]?.data ?? {}) as Record<string, unknown>;
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

  test('a connection refused before the version exchange is logged with the reason', {
    timeout: 30_000,
  }, async () => {
    const sock = await rawSocket();
    const closed = closedWithin(sock, 10_000);
    sock.write('GET / HTTP/1.1\r\n\r\n');
    await closed;
    const line = await waitForLog(
      /ssh 127\.0\.0\.1:\d+: connection closed before the SSH version exchange/,
      2_000,
    );
    assert.match(line, /not an SSH client/);
    assert.doesNotMatch(line, /GET|HTTP/, 'what the peer sent is not logged');
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

  test('a window adjust past 2^32-1 ends that session, recorded start and end', {
    timeout: 40_000,
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
    await waitForLog(
      /ssh 127\.0\.0\.1:\d+: protocol error: window adjust of 4294967295 bytes .* past 2\^32-1/,
    );
    assert.match(String((await sessionEnd('fault-window')).reason), /^protocol error: window adjust/);
  });

  test('data far beyond the advertised window ends that session and is not buffered', {
    timeout: 60_000,
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
    await waitForLog(
      /ssh 127\.0\.0\.1:\d+: protocol error: channel data of \d+ bytes on channel \d+ exceeds its window/,
    );
    assert.match(String((await sessionEnd('fault-flood')).reason), /^protocol error: channel data/);
  });

  test('a client that advertises a huge window and stops reading does not make the gateway buffer the output', {
    timeout: 90_000,
  }, async () => {
    const c = await ssh2Connect('fault-noread');
    c.on('error', () => {});
    const total = 48 * MiB;
    const s = await execOn(c, `head -c ${total} /dev/zero | tr '\\0' x`);
    // nearly 4 GiB of window: the gateway may send everything without waiting for an adjust
    const extra = 0xffffffff - 4 * MiB;
    rawProtocol(c).channelWindowAdjust(remoteId(s), extra);
    const incoming = (s as unknown as { incoming?: { window?: number } }).incoming;
    assert.equal(typeof incoming?.window, 'number', 'ssh2 internals changed: ClientChannel.incoming is gone');
    (incoming as { window: number }).window += extra; // so the client accepts what it allowed
    const sock = (c as unknown as { _sock?: Socket })._sock;
    assert.ok(sock, 'ssh2 internals changed: Client._sock is gone');
    let got = 0;
    s.on('data', (b: Buffer) => {
      got += b.length;
    });
    const exited = new Promise<number | null>((r) => s.once('exit', (code: number | null) => r(code)));
    const closed = new Promise((r) => s.once('close', r));
    sock.pause();
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    }
    const stalled = got;
    sock.resume();
    assert.equal(await exited, 0);
    await closed;
    c.end();
    assert.ok(stalled < total, 'the client read nothing while paused');
    assert.ok(
      peak < 16 * MiB,
      `array buffers grew by ${(peak / MiB).toFixed(1)} MiB while the client did not read`,
    );
    assert.equal(got, total, 'every byte arrived once the client read again');
  });

  test('every session opened during these attacks has its end recorded', { timeout: 30_000 }, async () => {
    const open = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const recs = (await fx.gw.controlPlane.audit.query({ types: ['session.start', 'session.end'] })) ?? [];
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
