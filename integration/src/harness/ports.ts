import { createServer } from 'node:net';

const handedOut = new Set<number>();

/** Binds port 0 on `host`, reads the port the kernel chose, and closes the socket again. */
function probe(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected address for a TCP listener: ${String(address)}`));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}

/**
 * A TCP port that is free on `host` right now (default 127.0.0.1). Never returns the same port twice in
 * one process, so concurrent targets do not collide with each other; another process can still take the
 * port before it is used, so starters retry on "address in use".
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await probe(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`could not find a free TCP port on ${host} not already handed out after 50 attempts`);
}
