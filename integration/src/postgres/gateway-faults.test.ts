import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  buildPasswordMessage,
  buildQuery,
  buildStartupMessage,
  parseErrorResponse,
} from '@tollgate/protocol-postgres';
import { pgClient, psql } from '../harness/index';
import { pendingApprovals, resourceYaml, useGatewayFixture } from './fixture';

/**
 * Bad input and faults on the PostgreSQL path: each gets a clear, protocol-native error, the
 * gateway process keeps serving, and the audit log says what happened.
 */

/** Reads from a raw socket until `done(bytes)` or the socket closes; bounded by a timeout. */
function exchange(
  port: number,
  send: Buffer[],
  done: (b: Buffer) => boolean = () => false,
  timeoutMs = 10_000,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms; got ${Buffer.concat(got).toString('latin1')}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(got));
    };
    s.on('connect', () => {
      for (const b of send) s.write(b);
    });
    s.on('data', (c: Buffer) => {
      got.push(c);
      if (done(Buffer.concat(got))) finish();
    });
    s.on('error', () => {});
    s.on('close', finish);
  });
}

/** The first ErrorResponse in a byte stream. */
function firstError(b: Buffer): { code?: string; message?: string; severity?: string } {
  for (let i = 0; i + 5 <= b.length; ) {
    const len = b.readInt32BE(i + 1);
    if (b[i] === 0x45) return parseErrorResponse(b.subarray(i, i + 1 + len)).fields;
    i += 1 + len;
  }
  return {};
}

describe('PostgreSQL path: bad input and faults', () => {
  const f = useGatewayFixture({
    suite: 'pg-faults',
    accounts: { agent: ['agents'], dba1: ['dba'] },
    policy: (t) => `version: 1
roles:
  reviewer: [{ group: dba }]
resources:
${resourceYaml('shop', t)}  nowhere:
    protocol: postgres
    address: 127.0.0.1:1
    database: x
    username: x
    credential: { env: TG_TEST_TARGET_PASSWORD }
rules:
  - name: agents-work
    subjects: [{ group: agents }]
    resources: [shop, nowhere]
    actions: [read, write, transaction, utility]
    effect: allow
  - name: drops-wait
    subjects: [{ group: agents }]
    resources: [shop]
    actions: [dangerous, ddl]
    effect: require-approval
    approval: { reviewers: [dba], approvals: 1, timeout: 5m }
`,
  });

  const port = () => f().gw.postgres?.port ?? 0;
  const hello = () => buildStartupMessage({ user: 'agent', database: 'shop' });
  const stillServes = async () => {
    const r = await psql({ ...f().ep('agent', 'shop') }, { sql: 'SELECT count(*) FROM customers;' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '200');
  };

  test('a wrong protocol version is refused with a clear error', { timeout: 20_000 }, async () => {
    const v2 = Buffer.alloc(8);
    v2.writeInt32BE(8, 0);
    v2.writeInt32BE(2 << 16, 4);
    const err = firstError(await exchange(port(), [v2]));
    assert.equal(err.severity, 'FATAL');
    assert.match(err.message ?? '', /protocol 2\.0/);
    await stillServes();
  });

  test('garbage after start-up is a protocol violation (08P01), nothing forwarded', {
    timeout: 20_000,
  }, async () => {
    // A well-formed frame of a type no client may send.
    const garbage = Buffer.from([0x21, 0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef]);
    const b = await exchange(
      port(),
      [hello(), buildPasswordMessage(f().keys.agent as string), garbage],
      (x) => x.includes(Buffer.from('08P01')),
    );
    assert.equal(firstError(b).code, '08P01');
    await stillServes();
  });

  test('an oversized message is refused before it is buffered', { timeout: 20_000 }, async () => {
    const huge = Buffer.alloc(5);
    huge[0] = 0x51;
    huge.writeInt32BE(0x7ffffff0, 1);
    const b = await exchange(port(), [hello(), buildPasswordMessage(f().keys.agent as string), huge], (x) =>
      x.includes(Buffer.from('54000')),
    );
    assert.equal(firstError(b).code, '54000');
    await stillServes();
  });

  test('an unknown resource and a wrong token get FATAL errors; failures are audited', {
    timeout: 20_000,
  }, async () => {
    const unknown = await psql({ ...f().ep('agent', 'no-such-db') }, { sql: 'SELECT 1;' });
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no PostgreSQL resource named "no-such-db"/);
    const bad = await psql(
      { ...f().ep('agent', 'shop'), password: 'tgk_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB' },
      { sql: 'SELECT 1;' },
    );
    assert.notEqual(bad.code, 0);
    const recs = await f().gw.controlPlane.audit.query({ types: ['auth.failure'] });
    assert.ok(recs.length >= 1);
    assert.ok(!JSON.stringify(recs).includes('BBBBBBBB'), 'the presented token is never recorded');
  });

  test('a target that is down gets a clear FATAL error', { timeout: 30_000 }, async () => {
    const r = await psql({ ...f().ep('agent', 'nowhere') }, { sql: 'SELECT 1;' });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot reach nowhere/);
    await stillServes();
  });

  test('CancelRequest through the gateway cancels the running query (57014)', {
    timeout: 30_000,
  }, async () => {
    const c = await pgClient(f().ep('agent', 'shop'));
    try {
      const running = c.query('SELECT pg_sleep(20)').then(
        () => undefined,
        (e: { code?: string }) => e.code,
      );
      await new Promise((r) => setTimeout(r, 300));
      // The key the gateway gave this client; the CancelRequest goes on a new connection.
      const pid = (c as unknown as { processID: number }).processID;
      const secret = (c as unknown as { secretKey: number }).secretKey;
      const cancel = Buffer.alloc(16);
      cancel.writeInt32BE(16, 0);
      cancel.writeInt32BE(80877102, 4);
      cancel.writeInt32BE(pid, 8);
      cancel.writeInt32BE(secret, 12);
      await exchange(port(), [cancel]);
      assert.equal(await running, '57014');
    } finally {
      await c.end();
    }
  });

  test('a statement split across TCP packets byte by byte is still decided as a whole', {
    timeout: 30_000,
  }, async () => {
    const cp = f().gw.controlPlane;
    const sock = connect(port(), '127.0.0.1');
    sock.setNoDelay(true);
    const got: Buffer[] = [];
    sock.on('data', (c: Buffer) => got.push(c));
    sock.on('error', () => {});
    sock.write(hello());
    sock.write(buildPasswordMessage(f().keys.agent as string));
    const q = buildQuery('/* a */ dRoP TaBlE customers');
    for (const byte of q) {
      sock.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    const pending = await pendingApprovals(f().gw, 100);
    assert.equal(pending.length, 1);
    const a = pending[0] as { id: string; action: string };
    assert.equal(a.action, 'dangerous');
    const dba = { subject: 'dba1', kind: 'service-account' as const, issuer: 'tollgate', groups: ['dba'] };
    await cp.approvals.deny(a.id, dba, 'not today');
    for (let i = 0; i < 100 && !Buffer.concat(got).includes(Buffer.from('42501')); i++)
      await new Promise((r) => setTimeout(r, 50));
    const err = firstError(Buffer.concat(got));
    sock.destroy();
    assert.equal(err.code, '42501');
    assert.match(err.message ?? '', /denied: not today/);
    await stillServes();
  });

  test('a client that disconnects while held cancels its approval request', { timeout: 30_000 }, async () => {
    const cp = f().gw.controlPlane;
    const sock = connect(port(), '127.0.0.1');
    sock.on('error', () => {});
    sock.write(hello());
    sock.write(buildPasswordMessage(f().keys.agent as string));
    await new Promise((r) => setTimeout(r, 500));
    sock.write(buildQuery('DROP TABLE customers'));
    const pending = await pendingApprovals(f().gw, 100);
    assert.equal(pending.length, 1);
    const id = (pending[0] as { id: string }).id;
    sock.destroy();
    let status = 'pending';
    for (let i = 0; i < 100 && status === 'pending'; i++) {
      status = (await cp.approvals.get(id)).status;
      if (status === 'pending') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 'cancelled');
    assert.equal((await cp.approvals.get(id)).endReason, 'client disconnected');
    await stillServes();
  });

  test('a target killed mid-query gives the client an error; the gateway keeps serving', {
    timeout: 60_000,
  }, async () => {
    const c = await pgClient(f().ep('agent', 'shop'));
    c.on('error', () => {});
    const running = c.query('SELECT pg_sleep(20)').then(
      () => 'finished',
      (e: Error) => e.message,
    );
    await new Promise((r) => setTimeout(r, 300));
    const t = f().target;
    await psql(t, {
      sql: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(20)%' AND pid <> pg_backend_pid();",
    });
    const msg = await running;
    assert.notEqual(msg, 'finished');
    await c.end().catch(() => {});
    await stillServes();
  });

  test('TLS: clients that ask for it get it; the server refuses plaintext when required', {
    timeout: 60_000,
  }, async () => {
    const dir = f().dir;
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    const { Gateway } = await import('@tollgate/gateway');
    const tlsGw = await Gateway.start({
      controlPlane: { store: { sqlite: join(dir, 'state.db') }, policyFile: join(dir, 'policy.yaml') },
      postgres: {
        host: '127.0.0.1',
        port: 0,
        tls: { certFile: join(dir, 'c.pem'), keyFile: join(dir, 'k.pem') },
        requireTls: true,
      },
      env: { ...process.env, TG_TEST_TARGET_PASSWORD: f().target.password },
    });
    try {
      const ep = { ...f().ep('agent', 'shop'), port: tlsGw.postgres?.port ?? 0 };
      const secure = await psql(
        { ...ep, sslmode: 'require' },
        { sql: 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();' },
      );
      assert.equal(secure.code, 0, secure.stderr);
      const plain = await psql({ ...ep, sslmode: 'disable' }, { sql: 'SELECT 1;' });
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /requires TLS/);
    } finally {
      await tlsGw.stop();
    }
  });
});
