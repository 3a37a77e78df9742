import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import { Gateway } from '@tollgate/gateway';
import { Client, type ConnectConfig } from 'ssh2';
import {
  FailureTracker,
  publicKeyFingerprint,
  type RunResult,
  run,
  sshKeygen,
  startLocalSshd,
} from '../harness/index';
import type { SshdTarget } from '../harness/provider';
import type { LocalSshdOptions, LocalSshdTarget } from '../harness/sshd';

/**
 * A policy resource (YAML, indented under `resources:`) for the sshd target: its address, login
 * with `keyFile` (the target's client key by default), and pinned host key; `extra` lines follow.
 */
export function sshResource(name: string, t: SshdTarget, extra = '', keyFile = t.clientKeyPath): string {
  return `  ${name}:
    protocol: ssh
    address: 127.0.0.1:${t.port}
    username: ${t.user}
    credential: { file: ${keyFile} }
    hostKey: ${t.hostKeyFingerprint}
${extra}`;
}

/** What an exec through the gateway returned to the client. */
export interface ExecResult {
  code: number | null;
  signal: string | undefined;
  stdout: string;
  stderr: string;
}

export interface SshFixtureOptions {
  /** Names the temporary directory and the sshd's kept log. */
  readonly suite: string;
  /** The policy file's text; may write files next to it (in `dir`) first. */
  readonly policy: (target: LocalSshdTarget, dir: string) => string | Promise<string>;
  /** Knobs of the local sshd (host key types, AcceptEnv, …). */
  readonly sshd?: Omit<LocalSshdOptions, 'suite'>;
  /** Start the control-plane HTTP API too (on a free port). */
  readonly api?: boolean;
  /** Service accounts created in group `agents` (default `['agent']`); their API keys in `keys`. */
  readonly accounts?: readonly string[];
  /**
   * Register an Ed25519 key for the first account (`agentKeyPath`) and write `known_hosts`
   * pinning the gateway's host key, for OpenSSH clients.
   */
  readonly opensshClient?: boolean;
  /** Bound on starting everything (default 60 s). */
  readonly startTimeoutMs?: number;
}

/**
 * One SSH suite's world: Debian's OpenSSH sshd as the target, the real gateway in front of it
 * (control plane on SQLite in a temporary directory, SSH listener on a free port), service
 * accounts, and the clients the suites drive (the ssh2 client, OpenSSH `ssh`). `register()`
 * installs the node:test hooks: start before the suite, stop after it (keeping the sshd log and
 * printing the gateway log when a test failed).
 */
export class SshFixture {
  readonly failures = new FailureTracker();
  readonly dir: string;
  readonly logs: string[] = [];
  /** API key of each service account. */
  readonly keys = new Map<string, string>();
  #target: LocalSshdTarget | undefined;
  #gw: Gateway | undefined;

  constructor(private readonly opts: SshFixtureOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `tollgate-${opts.suite}-`));
  }

  get target(): LocalSshdTarget {
    if (!this.#target) throw new Error('the fixture has not started');
    return this.#target;
  }

  get gw(): Gateway {
    if (!this.#gw) throw new Error('the fixture has not started');
    return this.#gw;
  }

  /** The gateway's SQLite store. */
  get storePath(): string {
    return join(this.dir, 'state.db');
  }

  get port(): number {
    return this.#gw?.ssh?.port ?? 0;
  }

  /** API key of `account` (default the first). */
  apiKey(account = this.opts.accounts?.[0] ?? 'agent'): string {
    return this.keys.get(account) ?? '';
  }

  /** The first account's registered private key (with `opensshClient`). */
  get agentKeyPath(): string {
    return join(this.dir, 'agent_ed25519');
  }

  gatewayPublicKey(): string {
    const adapter = this.#gw?.ssh?.adapter as unknown as { hostKey: { publicKey: string } };
    return adapter.hostKey.publicKey;
  }

  /** Installs before/afterEach/after hooks for the enclosing suite. */
  register(): this {
    before(() => this.start(), { timeout: this.opts.startTimeoutMs ?? 60_000 });
    afterEach(this.failures.afterEach);
    after(() => this.stop());
    return this;
  }

  async start(): Promise<void> {
    const o = this.opts;
    this.#target = await startLocalSshd({ suite: o.suite, ...o.sshd });
    writeFileSync(join(this.dir, 'policy.yaml'), await o.policy(this.#target, this.dir));
    this.#gw = await Gateway.start({
      controlPlane: {
        store: { sqlite: this.storePath },
        policyFile: join(this.dir, 'policy.yaml'),
        ...(o.api ? { api: { host: '127.0.0.1', port: 0 } } : {}),
      },
      ssh: { host: '127.0.0.1', port: 0, hostKeyFile: join(this.dir, 'gateway-host-key') },
      log: (l) => this.logs.push(l),
    });
    for (const name of o.accounts ?? ['agent']) {
      const sa = await this.#gw.controlPlane.serviceAccounts.create({ name, groups: ['agents'] });
      this.keys.set(name, sa.apiKey);
    }
    if (o.opensshClient) {
      const first = o.accounts?.[0] ?? 'agent';
      await this.#gw.controlPlane.serviceAccounts.addPublicKey(
        first,
        await sshKeygen(this.agentKeyPath, first),
      );
      writeFileSync(join(this.dir, 'known_hosts'), `[127.0.0.1]:${this.port} ${this.gatewayPublicKey()}\n`);
    }
  }

  async stop(): Promise<void> {
    await this.#gw?.stop();
    await this.#target?.stop({ keepLogs: this.failures.failed });
    if (this.failures.failed) process.stderr.write(`gateway log:\n${this.logs.join('\n')}\n`);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** ssh2 client options for the gateway, its host key pinned; `extra` adds or overrides. */
  connectConfig(user: string, password: string, extra: ConnectConfig = {}): ConnectConfig {
    const gatewayKey = publicKeyFingerprint(this.gatewayPublicKey());
    return {
      host: '127.0.0.1',
      port: this.port,
      username: user,
      password,
      readyTimeout: 20_000,
      hostVerifier: (key: Buffer) => publicKeyFingerprint(`x ${key.toString('base64')}`) === gatewayKey,
      ...extra,
    };
  }

  /** An authenticated ssh2 client (the token as password). */
  ssh2Connect(user: string, password: string, extra: ConnectConfig = {}): Promise<Client> {
    return new Promise((resolve, reject) => {
      const c = new Client();
      c.once('ready', () => resolve(c));
      c.once('error', reject);
      c.connect(this.connectConfig(user, password, extra));
    });
  }

  /** One exec through the ssh2 client; `onStderr` sees stderr (so far) as it arrives. */
  ssh2Exec(
    user: string,
    password: string,
    command: string,
    onStderr?: (text: string) => void,
  ): Promise<ExecResult> {
    return new Promise((resolve, reject) => {
      const c = new Client();
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      c.on('ready', () => {
        c.exec(command, (e, stream) => {
          if (e) return reject(e);
          let code: number | null = null;
          let signal: string | undefined;
          stream.on('data', (b: Buffer) => out.push(b));
          stream.stderr.on('data', (b: Buffer) => {
            err.push(b);
            onStderr?.(Buffer.concat(err).toString('utf8'));
          });
          stream.on('exit', (c0: number | null, s?: string) => {
            code = c0;
            signal = s;
          });
          stream.on('close', () => {
            c.end();
            resolve({
              code,
              signal,
              stdout: Buffer.concat(out).toString('utf8'),
              stderr: Buffer.concat(err).toString('utf8'),
            });
          });
        });
      });
      c.on('error', reject);
      c.connect(this.connectConfig(user, password));
    });
  }

  /** OpenSSH options: the registered key only, the gateway's host key pinned, no prompts. */
  clientOptions(): string[] {
    return [
      '-F',
      '/dev/null',
      '-i',
      this.agentKeyPath,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'PasswordAuthentication=no',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${join(this.dir, 'known_hosts')}`,
    ];
  }

  /** OpenSSH `ssh -n` running `command` as `user` through the gateway. */
  openssh(user: string, command: string): Promise<RunResult> {
    return run(
      'ssh',
      [...this.clientOptions(), '-n', '-p', String(this.port), '-l', user, '127.0.0.1', '--', command],
      { timeoutMs: 30_000 },
    );
  }
}
