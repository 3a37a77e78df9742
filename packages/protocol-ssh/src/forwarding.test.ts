import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { AgentProtocol, BaseAgent, Client, type Connection, type ParsedKey, Server, utils } from 'ssh2';
import { ForwardedAgent, openAgentChannel } from './forwarding';
import { generateHostKey } from './host-key';

function parsed(text: string): ParsedKey {
  const k = utils.parseKey(text);
  const key = Array.isArray(k) ? k[0] : k;
  if (!key || key instanceof Error) throw new Error('bad test key');
  return key;
}

/** The agent's own agent (its `ssh-agent`), as the ssh2 client offers it: one Ed25519 key. */
class KeyAgent extends BaseAgent<ParsedKey> {
  readonly seen: number[] = [];
  constructor(
    private readonly priv: ParsedKey,
    private readonly pub: ParsedKey,
  ) {
    super();
  }
  override getStream(cb: (err: Error | undefined, stream?: Duplex) => void): void {
    const p = new AgentProtocol(false);
    p.on('identities', (req) => {
      this.seen.push(11);
      p.getIdentitiesReply(req, [this.pub]);
    });
    p.on('sign', (req, _key, data: Buffer) => {
      this.seen.push(13);
      p.signReply(req, this.priv.sign(data) as Buffer);
    });
    cb(undefined, p);
  }
  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void {
    cb(undefined, [this.pub]);
  }
  sign(_k: ParsedKey, _d: Buffer, _o: unknown, cb?: (err: Error | undefined) => void): void {
    cb?.(new Error('not used'));
  }
}

/**
 * ForwardedAgent over a real ssh2 server and client: the server opens `auth-agent@openssh.com`
 * channels back to the client (through ssh2 internals: if an upgrade moves them, this fails),
 * lists the client agent's key, has it sign, and refuses requests other than list and sign.
 */
describe('ForwardedAgent (ssh2 internals)', () => {
  const pair = generateHostKey();
  const priv = parsed(pair.private);
  const pub = parsed(pair.public);
  const userAgent = new KeyAgent(priv, pub);
  const signed: string[] = [];
  let server: Server;
  let port = 0;
  let agentAt: Promise<ForwardedAgent>;

  before(async () => {
    let ready: (a: ForwardedAgent) => void = () => {};
    agentAt = new Promise((r) => {
      ready = r;
    });
    server = new Server({ hostKeys: [generateHostKey().private] }, (conn: Connection) => {
      conn.on('error', () => {});
      conn.on('authentication', (a) => a.accept());
      conn.on('session', (accept) => {
        const s = accept();
        let allowed = false;
        s.on('auth-agent', (acc) => {
          allowed = true;
          acc?.();
        });
        s.on('exec', (acc) => {
          const ch = acc();
          ready(
            new ForwardedAgent({
              allowed: () => allowed,
              open: () => openAgentChannel(conn),
              signing: async (key) => {
                signed.push(key.type);
                return () => {};
              },
            }),
          );
          ch.on('error', () => {});
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('lists the key, signs with it (audited), refuses anything else', async () => {
    const c = new Client();
    await new Promise<void>((resolve, reject) => {
      c.once('ready', () => resolve());
      c.once('error', reject);
      c.connect({
        host: '127.0.0.1',
        port,
        username: 'u',
        password: 'p',
        hostVerifier: () => true,
        agent: userAgent,
        agentForward: true,
      });
    });
    try {
      c.exec('x', () => {});
      const agent = await agentAt;
      const keys = await new Promise<ParsedKey[]>((resolve, reject) =>
        agent.getIdentities((err, k) => (err || !k ? reject(err) : resolve(k as ParsedKey[]))),
      );
      assert.equal(keys.length, 1);
      assert.deepEqual(keys[0]?.getPublicSSH(), pub.getPublicSSH());
      const data = Buffer.from('challenge');
      const sig = await new Promise<Buffer>((resolve, reject) =>
        agent.sign(keys[0] as ParsedKey, data, {}, (err, s) => (err || !s ? reject(err) : resolve(s))),
      );
      assert.equal(pub.verify(data, sig), true);
      assert.deepEqual(signed, ['ssh-ed25519']);

      // the stream the target's agent channel is piped to: an add-identity request (17) fails (5)
      const stream = await new Promise<Duplex>((resolve, reject) =>
        agent.getStream((err, s) => (err || !s ? reject(err) : resolve(s))),
      );
      const reply = new Promise<Buffer>((resolve) => stream.once('data', resolve));
      stream.write(Buffer.from([0, 0, 0, 1, 17]));
      assert.deepEqual(await reply, Buffer.from([0, 0, 0, 1, 5]));
      stream.destroy();
      assert.deepEqual(userAgent.seen, [11, 13], 'only the list and the signature reached the agent');
    } finally {
      c.end();
    }
  });
});
