import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, type ClientChannel, type Connection, Server } from 'ssh2';
import { HelloWatch } from './adapter';
import { installFlowGuard, sftpStderr } from './guard';
import { generateHostKey } from './host-key';

/**
 * The guard on a real ssh2 server and client over loopback. If an ssh2 upgrade moves the
 * internals guard.ts relies on, the first test fails with "ssh2 internals changed".
 */
describe('installFlowGuard (ssh2 internals)', () => {
  const violations: string[] = [];
  const installErrors: Error[] = [];
  const received = new Map<number, number>();
  let server: Server;
  let port = 0;

  before(async () => {
    const hostKey = generateHostKey().private;
    server = new Server({ hostKeys: [hostKey] }, (conn: Connection) => {
      try {
        installFlowGuard(conn, (reason) => violations.push(reason));
      } catch (err) {
        installErrors.push(err as Error);
      }
      conn.on('error', () => {});
      conn.on('authentication', (a) => a.accept());
      conn.on('session', (accept) => {
        accept().on('exec', (acc) => {
          const ch = acc();
          let n = 0;
          ch.on('data', (b: Buffer) => {
            n += b.length;
          });
          ch.on('end', () => {
            received.set(received.size, n);
            ch.exit(0);
            ch.end();
          });
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const connect = (): Promise<Client> =>
    new Promise((resolve, reject) => {
      const c = new Client();
      c.once('ready', () => resolve(c));
      c.once('error', reject);
      c.connect({ host: '127.0.0.1', port, username: 'u', password: 'p', hostVerifier: () => true });
    });
  const exec = (c: Client): Promise<ClientChannel> =>
    new Promise((resolve, reject) => c.exec('x', (e, s) => (e ? reject(e) : resolve(s))));
  const raw = (c: Client, s: ClientChannel) => {
    const p = (c as unknown as { _protocol: { channelWindowAdjust(id: number, n: number): void } })._protocol;
    const id = (s as unknown as { outgoing: { id: number } }).outgoing.id;
    return { adjust: (n: number) => p.channelWindowAdjust(id, n) };
  };

  it('installs on a real ssh2 1.x server connection', async () => {
    const c = await connect();
    c.end();
    assert.deepEqual(
      installErrors.map((e) => e.message),
      [],
    );
  });

  it('lets an honest client send far more than one window', async () => {
    const c = await connect();
    const s = await exec(c);
    const chunk = Buffer.alloc(64 * 1024, 'a');
    for (let i = 0; i < 128; i++) {
      if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
    }
    s.end();
    s.resume();
    await new Promise((r) => s.once('close', r));
    c.end();
    assert.equal([...received.values()].pop(), 8 * 1024 * 1024);
    assert.deepEqual(violations, []);
  });

  it('closes the connection on a window adjust past 2^32-1, once, with the reason', async () => {
    const c = await connect();
    c.on('error', () => {});
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const s = await exec(c);
    raw(c, s).adjust(0xffffffff);
    raw(c, s).adjust(0xffffffff);
    await closed;
    assert.equal(violations.length, 1);
    assert.match(
      violations[0] as string,
      /^window adjust of 4294967295 bytes on channel \d+ takes the window past 2\^32-1$/,
    );
    violations.length = 0;
  });

  it('refuses an object that is not an ssh2 server connection, saying the internals changed', () => {
    assert.throws(() => installFlowGuard({} as Connection, () => {}), /ssh2 internals changed/);
  });
});

describe('HelloWatch', () => {
  const watch = (...chunks: string[]) => {
    const w = new HelloWatch();
    for (const c of chunks) w.seen(Buffer.from(c, 'latin1'));
    return w;
  };

  it('names the reason without repeating what the peer sent', () => {
    const http = watch('GET /secret-token HTTP/1.1\r\n').reason(false, 30_000);
    assert.match(
      http,
      /^not an SSH client: its first line does not start with "SSH-" \(28 bytes received\)$/,
    );
    assert.match(watch().reason(false, 30_000), /closed without sending/);
    assert.match(watch('SS', 'H-1.5-old\r\n').reason(false, 30_000), /^invalid SSH identification line/);
    assert.match(watch('SSH-2.0-', 'a'.repeat(9000)).reason(false, 30_000), /longer than 8192 bytes/);
    assert.match(watch('SSH-2.0-x').reason(false, 30_000), /in the middle of its identification line/);
    assert.match(watch('SSH-').reason(true, 30_000), /^no SSH identification line within 30 s/);
  });
});

describe('sftpStderr (ssh2 internals)', () => {
  it('writes stderr on a real ssh2 sftp channel and counts it against the window', async () => {
    const results: Array<{ ok: boolean; before: number; after: number } | Error> = [];
    const server = new Server({ hostKeys: [generateHostKey().private] }, (conn: Connection) => {
      conn.on('error', () => {});
      conn.on('authentication', (a) => a.accept());
      conn.on('session', (accept) => {
        accept().on('sftp', (acc) => {
          const sftp = acc();
          const out = (sftp as unknown as { outgoing: { window: number } }).outgoing;
          try {
            const before = out.window;
            const ok = sftpStderr(sftp, 'tollgate: held\n');
            results.push({ ok, before, after: out.window });
            // a notice larger than the window is not sent
            results.push({ ok: sftpStderr(sftp, 'x'.repeat(out.window + 1)), before: 0, after: 0 });
          } catch (err) {
            results.push(err as Error);
          }
          sftp.end();
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const c = new Client();
    try {
      await new Promise<void>((resolve, reject) => {
        c.once('ready', () => resolve());
        c.once('error', reject);
        c.connect({ host: '127.0.0.1', port, username: 'u', password: 'p', hostVerifier: () => true });
      });
      await new Promise<void>((resolve) => c.sftp(() => resolve()));
      for (let i = 0; i < 100 && results.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    } finally {
      c.end();
      await new Promise<void>((r) => server.close(() => r()));
    }
    const first = results[0];
    assert.ok(first && !(first instanceof Error), String(first));
    assert.deepEqual(first, {
      ok: true,
      before: first.before,
      after: first.before - 'tollgate: held\n'.length,
    });
    assert.equal((results[1] as { ok: boolean }).ok, false);
  });
});
