// connectTarget and sendCancel against scripted targets: the misbehaviours a real PostgreSQL
// cannot be made to show (forged SCRAM signatures, early success, data injected after 'S',
// silence). integration/src/postgres/target-connect.test.ts covers the real server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { Secret, TollgateError } from '@tollgate/core';
import {
  buildAuthenticationMD5Password,
  buildAuthenticationOk,
  buildAuthenticationSASL,
  buildAuthenticationSASLContinue,
  buildAuthenticationSASLFinal,
  buildBackendKeyData,
  buildCommandComplete,
  buildErrorResponse,
  buildNoticeResponse,
  buildParameterStatus,
  buildQuery,
  buildReadyForQuery,
  parsePasswordMessage,
  parseQuery,
  parseSASLInitialResponse,
  parseStartupPhase,
  type StartupMessage,
} from '../wire';
import { sendCancel } from './cancel';
import { connectTarget } from './connect';
import { md5PasswordHash } from './md5';
import { SocketReader } from './socket-reader';
import { TargetError, type TargetOptions } from './types';

const PASSWORD = 'correct-horse-battery-staple';
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

interface Peer {
  socket: Socket;
  reader: SocketReader;
  /** The next start-up-phase message (no type byte). */
  startup(): Promise<Buffer>;
  /** The next regular message. */
  message(): Promise<Buffer>;
}

/** A TCP server that runs `script` for each connection, with framed reads. */
async function target(script: (peer: Peer) => Promise<void> | void): Promise<number> {
  const server = createServer((socket) => {
    const reader = new SocketReader(socket);
    const ended = (): Error => new Error('client went away');
    const peer: Peer = {
      socket,
      reader,
      async startup() {
        const len = (await reader.readBytes(4, ended)).readInt32BE(0);
        const rest = await reader.readBytes(len - 4, ended);
        const msg = Buffer.alloc(len);
        msg.writeInt32BE(len, 0);
        rest.copy(msg, 4);
        return msg;
      },
      message: () => reader.readMessage(1 << 20, ended, () => new Error('too long')),
    };
    Promise.resolve(script(peer)).catch(() => socket.destroy());
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

function options(port: number, extra: Partial<TargetOptions> = {}): TargetOptions {
  return {
    host: '127.0.0.1',
    port,
    user: 'app',
    password: new Secret(PASSWORD),
    database: 'shop',
    tls: undefined,
    connectTimeoutMs: 5_000,
    ...extra,
  };
}

function sessionStart(): Buffer {
  return Buffer.concat([
    buildParameterStatus('server_version', '15.99 (fake)'),
    buildParameterStatus('client_encoding', 'UTF8'),
    buildBackendKeyData({ pid: 4242, secret: 77 }),
    buildReadyForQuery('I'),
  ]);
}

/** A rejection: TargetError (TARGET_UNAVAILABLE) whose message matches and never holds the password. */
function targetError(re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof TargetError, `not a TargetError: ${inspect(e)}`);
    assert.equal(e.code, 'TG_TARGET_UNAVAILABLE');
    assert.match(e.message, re);
    assert.ok(!inspect(e).includes(PASSWORD), 'the password leaked into the error');
    return true;
  };
}

/** The server side of SCRAM up to server-first; returns the client nonce. */
async function scramFirst(peer: Peer): Promise<string> {
  peer.socket.write(buildAuthenticationSASL(['SCRAM-SHA-256']));
  const init = parseSASLInitialResponse(await peer.message());
  const nonce = /r=([^,]+)/.exec(init.data?.toString() ?? '')?.[1] ?? '';
  peer.socket.write(buildAuthenticationSASLContinue(Buffer.from(`r=${nonce}server,s=c2FsdHNhbHQ=,i=16`)));
  return nonce;
}

describe('connectTarget against scripted targets', () => {
  it('passes the agent parameters minus reserved ones, and hands over a paused socket with the leftover bytes', async () => {
    let seen: StartupMessage | undefined;
    const extra = buildNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'after ready' });
    const port = await target(async (peer) => {
      seen = parseStartupPhase(await peer.startup()) as StartupMessage;
      peer.socket.write(Buffer.concat([buildAuthenticationOk(), sessionStart(), extra]));
      const q = parseQuery(await peer.message());
      peer.socket.write(
        Buffer.concat([buildCommandComplete(`SELECT ${q.sql.length}`), buildReadyForQuery('I')]),
      );
    });
    const c = await connectTarget(
      options(port, {
        startupParams: {
          application_name: 'psql',
          user: 'intruder',
          database: 'other',
          replication: 'database',
          _pq_x: 'kept-because-not-a-protocol-option',
          '_pq_.compression': 'on',
        },
      }),
    );
    assert.deepEqual(seen && [...seen.params], [
      ['user', 'app'],
      ['database', 'shop'],
      ['application_name', 'psql'],
      ['_pq_x', 'kept-because-not-a-protocol-option'],
    ]);
    assert.equal(seen?.protocolOptions.size, 0);
    assert.equal(c.authMethod, 'trust');
    assert.equal(c.serverVersion, '15.99 (fake)');
    assert.deepEqual(c.backendKey, { pid: 4242, secret: 77 });
    assert.equal(c.parameters.get('client_encoding'), 'UTF8');
    // bytes after ReadyForQuery are never lost: in `leftover` if already read, else on the socket
    assert.equal(c.socket.isPaused(), true);
    assert.equal(c.encrypted, false);
    let received = c.leftover;
    c.socket.on('data', (b: Buffer) => {
      received = Buffer.concat([received, b]);
    });
    c.socket.on('error', () => undefined);
    c.socket.resume();
    c.socket.write(buildQuery('SELECT 1'));
    const complete = Buffer.concat([buildCommandComplete('SELECT 8'), buildReadyForQuery('I')]);
    for (let i = 0; i < 100 && received.length < extra.length + complete.length; i++)
      await once(c.socket, 'data');
    assert.deepEqual(received, Buffer.concat([extra, complete]));
    c.socket.destroy();
  });

  it('answers md5 with the salted hash', async () => {
    let answer = '';
    const salt = Buffer.from([9, 8, 7, 6]);
    const port = await target(async (peer) => {
      await peer.startup();
      peer.socket.write(buildAuthenticationMD5Password(salt));
      answer = parsePasswordMessage(await peer.message()).password;
      peer.socket.write(Buffer.concat([buildAuthenticationOk(), sessionStart()]));
    });
    const c = await connectTarget(options(port));
    assert.equal(c.authMethod, 'md5');
    assert.equal(answer, md5PasswordHash('app', PASSWORD, salt));
    c.socket.destroy();
  });

  it('refuses a SCRAM server signature that does not match', async () => {
    const port = await target(async (peer) => {
      await peer.startup();
      await scramFirst(peer);
      await peer.message();
      peer.socket.write(
        buildAuthenticationSASLFinal(Buffer.from('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')),
      );
      peer.socket.write(Buffer.concat([buildAuthenticationOk(), sessionStart()]));
    });
    await assert.rejects(
      connectTarget(options(port)),
      targetError(/SCRAM authentication with target .* failed: the server signature does not match/),
    );
  });

  it('refuses AuthenticationOk before the SCRAM exchange completes', async () => {
    const port = await target(async (peer) => {
      await peer.startup();
      peer.socket.write(buildAuthenticationSASL(['SCRAM-SHA-256']));
      await peer.message();
      peer.socket.write(Buffer.concat([buildAuthenticationOk(), sessionStart()]));
    });
    await assert.rejects(
      connectTarget(options(port)),
      targetError(/reported success before proving it knows the password/),
    );
  });

  it('refuses methods it does not implement, naming them', async () => {
    const gss = await target(async (peer) => {
      await peer.startup();
      peer.socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 7]));
    });
    await assert.rejects(
      connectTarget(options(gss)),
      targetError(/asks for GSSAPI authentication, which Tollgate does not support/),
    );
    const plus = await target(async (peer) => {
      await peer.startup();
      peer.socket.write(buildAuthenticationSASL(['SCRAM-SHA-256-PLUS']));
    });
    await assert.rejects(
      connectTarget(options(plus)),
      targetError(/offers SASL mechanisms SCRAM-SHA-256-PLUS; Tollgate supports SCRAM-SHA-256/),
    );
  });

  it('refuses to send a password it does not have', async () => {
    const port = await target(async (peer) => {
      await peer.startup();
      peer.socket.write(buildAuthenticationMD5Password(Buffer.alloc(4)));
    });
    await assert.rejects(
      connectTarget(options(port, { password: undefined })),
      targetError(/asks for a password for role "app", but this resource has no credential/),
    );
  });

  it("carries the server's ErrorResponse, SQLSTATE included", async () => {
    const port = await target(async (peer) => {
      await peer.startup();
      peer.socket.write(buildAuthenticationMD5Password(Buffer.alloc(4)));
      await peer.message();
      peer.socket.write(
        buildErrorResponse({
          severity: 'FATAL',
          code: '28P01',
          message: 'password authentication failed for user "app"',
        }),
      );
    });
    const err = await connectTarget(options(port)).catch((e: unknown) => e);
    targetError(
      /refused the login of role "app": password authentication failed for user "app" \(SQLSTATE 28P01\)/,
    )(err);
    assert.equal((err as TargetError).server?.code, '28P01');
    assert.equal((err as TargetError).sqlstate, '28P01');
    assert.match((err as TargetError).hint ?? '', /credential/);
  });

  it("refuses TLS when the target answers 'N', and data injected after 'S'", async () => {
    const no = await target(async (peer) => {
      await peer.startup();
      peer.socket.write('N');
    });
    await assert.rejects(
      connectTarget(options(no, { tls: { mode: 'require' } })),
      targetError(/does not accept TLS connections \(it answered 'N' to SSLRequest\)/),
    );
    const injected = await target(async (peer) => {
      await peer.startup();
      peer.socket.write(Buffer.concat([Buffer.from('S'), buildAuthenticationOk()]));
    });
    await assert.rejects(
      connectTarget(options(injected, { tls: { mode: 'require' } })),
      targetError(/sent unencrypted data after accepting TLS/),
    );
  });

  it('gives up on a silent target after connectTimeoutMs, naming the stage', async () => {
    const port = await target(async (peer) => {
      await peer.startup();
    });
    await assert.rejects(
      connectTarget(options(port, { connectTimeoutMs: 300 })),
      targetError(/did not complete the connection within 300 ms \(stuck in authentication\)/),
    );
  });

  it('reports a target that hangs up, resets the connection, or sends an oversized message', async () => {
    const hangup = await target(async (peer) => {
      await peer.startup();
      peer.socket.end();
    });
    await assert.rejects(
      connectTarget(options(hangup)),
      targetError(/closed the connection during authentication/),
    );
    const huge = await target(async (peer) => {
      await peer.startup();
      peer.socket.write(Buffer.from([0x52, 0x7f, 0, 0, 0]));
    });
    await assert.rejects(connectTarget(options(huge)), targetError(/message of declared length 2130706432/));
    const reset = await target(async (peer) => {
      await peer.startup();
      peer.socket.resetAndDestroy();
    });
    await assert.rejects(
      connectTarget(options(reset)),
      targetError(/^connection to target 127\.0\.0\.1:\d+ failed during authentication: .*\(ECONNRESET\)$/),
    );
  });

  it('refuses a target that is not listening', async () => {
    const port = await target(() => undefined);
    servers.pop()?.close();
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(
      connectTarget(options(port)),
      targetError(
        new RegExp(`^target 127\\.0\\.0\\.1:${port} is not accepting connections \\(ECONNREFUSED\\)$`),
      ),
    );
  });

  it('names an unreadable CA file as a configuration error', async () => {
    await assert.rejects(
      connectTarget(options(1, { tls: { mode: 'verify-full', caFile: '/nonexistent/ca.pem' } })),
      (e: unknown) =>
        e instanceof TollgateError &&
        e.code === 'TG_CONFIG_INVALID' &&
        /cannot read the CA file \/nonexistent\/ca\.pem/.test(e.message),
    );
  });
});

describe('sendCancel against scripted targets', () => {
  it('delivers the key and resolves when the target hangs up', async () => {
    let got: unknown;
    const port = await target(async (peer) => {
      got = parseStartupPhase(await peer.startup());
      peer.socket.end();
    });
    await sendCancel({ host: '127.0.0.1', port }, { pid: 31, secret: -5 });
    assert.deepEqual(got, { type: 'CancelRequest', pid: 31, secret: -5 });
  });

  it('gives up on a target that keeps the connection open', async () => {
    const port = await target(async (peer) => {
      await peer.startup();
    });
    await assert.rejects(
      sendCancel({ host: '127.0.0.1', port }, { pid: 1, secret: 1 }, { timeoutMs: 200 }),
      targetError(/did not take the cancel request within 200 ms/),
    );
  });

  it('does nothing for a key with pid 0', async () => {
    await sendCancel({ host: '127.0.0.1', port: 1 }, { pid: 0, secret: 0 });
  });
});
