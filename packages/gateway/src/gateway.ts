import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ControlPlane, type ControlPlaneConfig } from '@tollgate/control-plane';
import {
  classifySql,
  Errors,
  engineOptions,
  Listener,
  Masker,
  type MaskingConfig,
  TollgateError,
} from '@tollgate/core';
import { PostgresAdapter, ResultMasking } from '@tollgate/protocol-postgres';
import { SshAdapter, type SshRecordingOptions } from '@tollgate/protocol-ssh';

/** The `postgres:` config section: where agents' PostgreSQL clients connect. */
export interface PostgresListenerConfig {
  readonly host: string;
  readonly port: number;
  /** PEM files of the certificate agents see when they ask for TLS. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  readonly requireTls?: boolean;
  readonly allowPlaintextPasswords?: boolean;
  readonly maxMessageLength?: number;
}

/** The `ssh:` config section: where agents' SSH clients connect. */
export interface SshListenerConfig {
  readonly host: string;
  readonly port: number;
  /** The gateway's host key; an Ed25519 key is generated there (mode 0600) on first start. */
  readonly hostKeyFile: string;
  /** Bound on connecting and logging in to a target, in milliseconds (default 10 000). */
  readonly connectTimeoutMs?: number;
  /** Session recording (`ssh.recording`: enabled, input, maxBytes); defaults in docs/ssh.md. */
  readonly recording?: SshRecordingOptions;
}

export interface GatewayOptions {
  readonly controlPlane: ControlPlaneConfig;
  readonly postgres?: PostgresListenerConfig;
  readonly ssh?: SshListenerConfig;
  readonly masking?: MaskingConfig;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
}

/** A running gateway: the control plane and the protocol listeners. */
export class Gateway {
  private constructor(
    readonly controlPlane: ControlPlane,
    readonly postgres: Listener | undefined,
    readonly ssh: Listener | undefined,
  ) {}

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const log = opts.log ?? (() => {});
    const env = opts.env ?? process.env;
    const cp = await ControlPlane.start(opts.controlPlane, { env, log });
    let pg: Listener | undefined;
    let ssh: Listener | undefined;
    try {
      if (opts.postgres) {
        const c = opts.postgres;
        const base = opts.masking ?? {};
        const adapter = new PostgresAdapter({
          authenticator: cp.authenticator,
          policy: cp.policy,
          approvals: cp.approvals,
          audit: cp.audit,
          vault: cp.vault,
          classify: (sql, o) => classifySql(sql, o),
          masking: new ResultMasking(base, env),
          textMasker: new Masker(engineOptions(base, env)),
          ...(c.tls ? { tls: secureContext(c.tls) } : {}),
          ...(c.requireTls !== undefined ? { requireTls: c.requireTls } : {}),
          ...(c.allowPlaintextPasswords !== undefined
            ? { allowPlaintextPasswords: c.allowPlaintextPasswords }
            : {}),
          ...(c.maxMessageLength !== undefined ? { maxMessageLength: c.maxMessageLength } : {}),
        });
        pg = new Listener(adapter, { host: c.host, port: c.port, log });
        const port = await pg.listen();
        log(`postgres listener on ${c.host}:${port}`);
      }
      if (opts.ssh) {
        const c = opts.ssh;
        // one compiled engine per profile, as for PostgreSQL results
        const sshProfiles = new ResultMasking(opts.masking ?? {}, env);
        const adapter = new SshAdapter({
          authenticator: cp.authenticator,
          policy: cp.policy,
          approvals: cp.approvals,
          audit: cp.audit,
          vault: cp.vault,
          masker: new Masker(engineOptions(opts.masking ?? {}, env)),
          profileMasker: (p) => sshProfiles.masker(p),
          hostKeyFile: c.hostKeyFile,
          ...(c.connectTimeoutMs !== undefined ? { connectTimeoutMs: c.connectTimeoutMs } : {}),
          ...(c.recording ? { recording: c.recording } : {}),
        });
        ssh = new Listener(adapter, { host: c.host, port: c.port, log });
        const port = await ssh.listen();
        log(`ssh listener on ${c.host}:${port} (host key ${adapter.hostKey.fingerprint})`);
      }
      return new Gateway(cp, pg, ssh);
    } catch (err) {
      await ssh?.close(0);
      await pg?.close(0);
      await cp.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.postgres?.close(), this.ssh?.close()]);
    await this.controlPlane.stop();
  }
}

function secureContext(t: { certFile: string; keyFile: string }) {
  try {
    return createSecureContext({ cert: readFileSync(t.certFile), key: readFileSync(t.keyFile) });
  } catch (err) {
    throw new TollgateError(
      Errors.CONFIG_INVALID,
      `postgres.tls: cannot load ${t.certFile} / ${t.keyFile}: ${(err as Error).message}`,
    );
  }
}
