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

export interface GatewayOptions {
  readonly controlPlane: ControlPlaneConfig;
  readonly postgres?: PostgresListenerConfig;
  readonly masking?: MaskingConfig;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
}

/** A running gateway: the control plane and the protocol listeners. */
export class Gateway {
  private constructor(
    readonly controlPlane: ControlPlane,
    readonly postgres: Listener | undefined,
  ) {}

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const log = opts.log ?? (() => {});
    const env = opts.env ?? process.env;
    const cp = await ControlPlane.start(opts.controlPlane, { env, log });
    let pg: Listener | undefined;
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
      return new Gateway(cp, pg);
    } catch (err) {
      await pg?.close(0);
      await cp.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    await this.postgres?.close();
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
