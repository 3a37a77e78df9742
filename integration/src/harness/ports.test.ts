import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort } from './ports';

function listenOn(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve()));
  });
}

test('freePort returns distinct ports that can be bound on 127.0.0.1', { timeout: 10_000 }, async () => {
  const ports = [
    ...(await Promise.all([freePort(), freePort(), freePort(), freePort()])),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  assert.equal(new Set(ports).size, ports.length, `ports are not distinct: ${ports.join(', ')}`);
  for (const port of ports) {
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `not a TCP port: ${port}`);
    await listenOn(port);
  }
});
