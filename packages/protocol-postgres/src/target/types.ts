import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Errors, type Secret, type TlsSettings, TollgateError } from '@tollgate/core';
import type { BackendKey, PgErrorFields } from '../wire';

/** How to reach and log in to a PostgreSQL target. */
export interface TargetOptions {
  readonly host: string;
  readonly port: number;
  /** Role at the target. */
  readonly user: string;
  /** Held by the gateway; revealed only to compute the answer to the server's request. */
  readonly password: Secret | undefined;
  readonly database: string;
  /** undefined = `disable`. `require`: TLS, no verification; `verify-full`: CA + host name. */
  readonly tls: TlsSettings | undefined;
  /**
   * Run-time parameters passed through from the agent's StartupMessage (application_name,
   * client_encoding, DateStyle, …). `user`, `database`, `replication` and `_pq_.*` are dropped:
   * the gateway decides those. `options` is passed as given — it can set any GUC
   * (`-c role=…`), so the caller filters it.
   */
  readonly startupParams?: Readonly<Record<string, string>> | ReadonlyMap<string, string>;
  /** Bound on the whole connection set-up: TCP, TLS, start-up and authentication. */
  readonly connectTimeoutMs: number;
  /** Largest message accepted from the target during start-up (default 1 MiB). */
  readonly maxStartupMessageLength?: number;
}

/** How the target authenticated the gateway. */
export type TargetAuthMethod = 'trust' | 'password' | 'md5' | 'scram-sha-256';

/** A target session, authenticated and ready for query. */
export interface TargetConnection {
  /**
   * The connection, paused, with no listeners of ours left on it: attach your own 'data',
   * 'error' and 'close' listeners at once (an 'error' with no listener crashes the process),
   * then resume.
   */
  readonly socket: Socket | TLSSocket;
  /** Bytes the target sent after ReadyForQuery that were already read (usually empty). */
  readonly leftover: Buffer;
  /** ParameterStatus values from start-up (server_version, client_encoding, TimeZone, …). */
  readonly parameters: Map<string, string>;
  /** The target's cancel key. It never leaves the gateway. */
  readonly backendKey: BackendKey;
  /** `server_version` as reported, e.g. `15.14 (Debian 15.14-0+deb12u1)`. */
  readonly serverVersion: string;
  readonly encrypted: boolean;
  readonly authMethod: TargetAuthMethod;
  /** NoticeResponses received during start-up. */
  readonly notices: PgErrorFields[];
}

/** Where to send a CancelRequest. */
export interface CancelTarget {
  readonly host: string;
  readonly port: number;
  /** When set and not `disable`, the request goes over TLS like the session did. */
  readonly tls?: TlsSettings | undefined;
}

/**
 * A target refused or broke the connection. `kind` is TARGET_UNAVAILABLE; when the target
 * itself answered with an ErrorResponse, `server` carries its fields (SQLSTATE in
 * `server.code`) and the message quotes it. Never carries a credential.
 */
export class TargetError extends TollgateError {
  readonly server: PgErrorFields | undefined;

  constructor(message: string, options?: { hint?: string; cause?: unknown; server?: PgErrorFields }) {
    super(Errors.TARGET_UNAVAILABLE, message, options);
    this.name = 'TargetError';
    this.server = options?.server;
  }

  /** The target's SQLSTATE when it sent one, else the registry's (08006). */
  get sqlstate(): string {
    return this.server?.code || this.kind.sqlstate;
  }
}
