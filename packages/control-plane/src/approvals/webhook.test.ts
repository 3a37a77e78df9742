import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type ApprovalRequestInput, Secret } from '@tollgate/core';
import { closeStore, openSqlite, type StoreDb } from '../store/database';
import { Approvals } from './approvals';
import { MemoryAudit } from './testing/memory-audit';
import { verifyWebhook } from './webhook';

const SECRET = 'whsec-test-0123456789abcdef';

interface Delivery {
  headers: IncomingMessage['headers'];
  body: string;
  verified: boolean;
}

/** A real receiver that checks the signature the way a chat bot would. */
class Receiver {
  readonly deliveries: Delivery[] = [];
  /** What to do with the next deliveries: answer 204, 500, or hold the response. */
  mode: 'ok' | 'error' | 'hold' = 'ok';
  readonly #held: ServerResponse[] = [];
  readonly #arrivals: Array<() => void> = [];
  server: Server = createServer((req, res) => this.#handle(req, res));

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/T0KEN-IN-PATH`;
  }

  next(): Promise<void> {
    return new Promise((r) => this.#arrivals.push(r));
  }

  async stop(): Promise<void> {
    for (const r of this.#held) r.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const timestamp = req.headers['x-tollgate-timestamp'] as string | undefined;
      // Recomputed here independently of the library: HMAC-SHA256 over `<timestamp>.<raw body>`.
      const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${body}`).digest('hex')}`;
      const verified =
        req.method === 'POST' &&
        req.headers['x-tollgate-signature'] === expected &&
        Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
      this.deliveries.push({ headers: req.headers, body, verified });
      this.#arrivals.shift()?.();
      if (this.mode === 'hold') this.#held.push(res);
      else res.writeHead(this.mode === 'ok' ? 204 : 500).end();
    });
  }
}

const input = (over: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput => ({
  requester: { subject: 'ci-bot', kind: 'oidc', issuer: 'https://idp.test', groups: ['agents'] },
  resource: 'prod-db',
  sessionId: 'sess-1',
  action: 'dangerous',
  command: "DELETE FROM cards WHERE pan = '[card]'",
  fingerprint: 'fp-1',
  requirement: { reviewers: ['dba'], approvals: 1, timeoutMs: 60_000 },
  ...over,
});

describe('approval webhook', () => {
  const receiver = new Receiver();
  let url = '';
  let store: StoreDb;

  before(async () => {
    url = await receiver.start();
    store = openSqlite(':memory:');
  });
  after(async () => {
    await receiver.stop();
    await closeStore(store);
  });

  const open = (logs: string[], timeoutMs = 2_000): Promise<Approvals> =>
    Approvals.open(store, {
      audit: new MemoryAudit(),
      webhook: { url, secret: new Secret(SECRET), timeoutMs },
      log: (l) => logs.push(l),
    });

  test('a new request is POSTed as signed JSON that the receiver verifies', { timeout: 30_000 }, async () => {
    const logs: string[] = [];
    const a = await open(logs);
    receiver.mode = 'ok';
    const arrived = receiver.next();
    const r = await a.request(input());
    await arrived;
    await a.close();
    const d = receiver.deliveries.at(-1);
    assert.ok(d);
    assert.equal(d.verified, true, 'signature must verify with the shared secret');
    assert.equal(d.headers['content-type'], 'application/json');
    assert.match(String(d.headers['x-tollgate-signature']), /^sha256=[0-9a-f]{64}$/);
    const body = JSON.parse(d.body);
    assert.equal(body.type, 'approval.request');
    assert.equal(body.id, r.id);
    assert.deepEqual(body.requester, { subject: 'ci-bot', issuer: 'https://idp.test', kind: 'oidc' });
    assert.equal(body.resource, 'prod-db');
    assert.equal(body.action, 'dangerous');
    assert.equal(body.command, "DELETE FROM cards WHERE pan = '[card]'");
    assert.equal(body.expiresAt, new Date(r.expiresAt).toISOString());
    assert.deepEqual(body.reviewers, ['dba']);
    assert.deepEqual(logs, []);

    // The library's receiver-side check agrees, and refuses a replay or a tampered body.
    const headers = {
      signature: d.headers['x-tollgate-signature'] as string,
      timestamp: d.headers['x-tollgate-timestamp'] as string,
    };
    const now = Math.floor(Date.now() / 1000);
    assert.equal(verifyWebhook(SECRET, headers, d.body, now), true);
    assert.equal(
      verifyWebhook(SECRET, headers, d.body, now + 3600),
      false,
      'an hour-old delivery is a replay',
    );
    assert.equal(verifyWebhook(SECRET, headers, d.body.replace('prod-db', 'dev-db'), now), false);
    assert.equal(verifyWebhook('wrong-secret', headers, d.body, now), false);
    const shifted = String(Number(headers.timestamp) + 1);
    assert.equal(
      verifyWebhook(SECRET, { ...headers, timestamp: shifted }, d.body, now),
      false,
      'timestamp is signed',
    );
  });

  test('a slow receiver never holds up the request; the timeout is logged without secrets', {
    timeout: 30_000,
  }, async () => {
    const logs: string[] = [];
    const a = await open(logs, 300);
    receiver.mode = 'hold';
    const arrived = receiver.next();
    const r = await a.request(input({ sessionId: 'sess-slow' }));
    assert.equal(r.status, 'pending', 'request() resolved while the receiver holds its answer');
    await arrived;
    await a.close(); // waits for the delivery, bounded by its timeout
    assert.equal(logs.length, 1);
    assert.match(
      logs[0] ?? '',
      new RegExp(`webhook http://127\\.0\\.0\\.1:\\d+ for ${r.id} failed: timed out`),
    );
    assert.ok(!(logs[0] ?? '').includes(SECRET));
    assert.ok(!(logs[0] ?? '').includes('T0KEN-IN-PATH'), 'the URL path may hold a token: never logged');
  });

  test('an HTTP error or an unreachable receiver is logged; the request still succeeds', {
    timeout: 30_000,
  }, async () => {
    const logs: string[] = [];
    const a = await open(logs);
    receiver.mode = 'error';
    const arrived = receiver.next();
    const r = await a.request(input({ sessionId: 'sess-500' }));
    await arrived;
    await a.close();
    assert.match(logs[0] ?? '', new RegExp(`for ${r.id} answered HTTP 500$`));

    const closed = createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((res) => closed.close(res));
    const logs2: string[] = [];
    const b = await Approvals.open(store, {
      audit: new MemoryAudit(),
      webhook: { url: `http://127.0.0.1:${port}/x?token=abc`, secret: new Secret(SECRET) },
      log: (l) => logs2.push(l),
    });
    const r2 = await b.request(input({ sessionId: 'sess-down' }));
    assert.equal(r2.status, 'pending');
    await b.close();
    assert.match(logs2[0] ?? '', /failed: ECONNREFUSED/);
    assert.ok(!(logs2[0] ?? '').includes('token=abc'));
  });
});
