/**
 * Target providers: where the real systems that the integration suites talk to come from.
 *
 * A provider starts real targets (PostgreSQL today; sshd and kube-apiserver later) either as containers
 * (testcontainers, when a Docker engine is reachable) or as local processes (Debian's binaries). Both
 * providers hand back the same target shapes, so every suite runs unchanged on either.
 *
 * Adding a target kind: add its name to `TargetKind`, an options type and a target type extending
 * `Target` below, an optional `startXxx()` method on `TargetProvider`, and implement it in
 * `local.ts` and `containers.ts` (see integration/README.md).
 */

export type ProviderName = 'testcontainers' | 'local';

/** Kinds of target a provider may be able to start. `postgres` everywhere; `sshd` by the local provider. */
export type TargetKind = 'postgres' | 'sshd' | 'kube-apiserver';

export interface StopOptions {
  /**
   * Copy the target's log to integration/logs/<suite>-<timestamp>.log before tearing down (pass
   * `true` when the suite failed). `TOLLGATE_KEEP_LOGS=1` keeps logs regardless.
   */
  keepLogs?: boolean;
}

export interface StopResult {
  /** Where the log was copied, when it was kept. */
  keptLogPath?: string;
}

/** What every started target has in common. */
export interface Target {
  readonly kind: TargetKind;
  readonly provider: ProviderName;
  /** Name of the suite that started the target; used to name kept logs. */
  readonly suite: string;
  /** Host that clients connect to over TCP (127.0.0.1 for local targets). */
  readonly host: string;
  /** TCP port that clients connect to. */
  readonly port: number;
  /** Path of the server log on this machine, when there is one (local provider). */
  readonly logPath: string | undefined;
  /** Current text of the server log (whole log, as far as it was captured). */
  logs(): Promise<string>;
  /**
   * Tear the target down: always stops it and removes its temporary state. Idempotent; never leaves a
   * process behind. Keeps the log when asked (see `StopOptions`).
   */
  stop(opts?: StopOptions): Promise<StopResult>;
}

export interface PostgresOptions {
  /** Suite name, used for temp dir and kept-log names: letters, digits, `.`, `_`, `-`. */
  suite: string;
  /** Database created for the suite (default `tollgate`). */
  database?: string;
  /** Password-authenticated superuser role (default `tollgate_test`). */
  user?: string;
  /** Its password (default: random). */
  password?: string;
  /** Extra server settings (`postgresql.conf` / `-c` name = value). */
  settings?: Record<string, string>;
  /** Bound on the whole start-up, in milliseconds (default 60 000 local, 120 000 containers). */
  startTimeoutMs?: number;
  /**
   * pg_hba.conf lines placed before the harness's default `scram-sha-256` host line (first match
   * wins), e.g. `host all md5_user all md5`. Use the address `all`: container clients do not come
   * from 127.0.0.1.
   */
  hba?: readonly string[];
  /** Serve TLS with this certificate and private key (PEM): sets `ssl = on`. */
  tls?: { readonly certPem: string; readonly keyPem: string };
}

export interface PostgresTarget extends Target {
  readonly kind: 'postgres';
  /** Superuser role that authenticates with SCRAM-SHA-256 over TCP. */
  readonly user: string;
  readonly password: string;
  /** Database created for the suite. */
  readonly database: string;
  /** Server major version, e.g. `15`. */
  readonly serverVersion: string;
  /**
   * Directory of the server's Unix socket (trust auth, for setup), when the provider has one
   * (local provider only).
   */
  readonly socketDir: string | undefined;
  /** `postgresql://user:password@host:port/database`, with overrides. */
  connectionString(overrides?: { user?: string; password?: string; database?: string }): string;
  /** libpq environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE) for real clients over TCP. */
  clientEnv(overrides?: { user?: string; password?: string; database?: string }): Record<string, string>;
}

export interface TargetProvider {
  readonly name: ProviderName;
  /** Whether this provider can start targets of that kind. */
  supports(kind: TargetKind): boolean;
  /** Starts a fresh PostgreSQL server for one suite; rejects with the server log's tail on failure. */
  startPostgres(opts: PostgresOptions): Promise<PostgresTarget>;
  /** Starts a fresh OpenSSH sshd for one suite (local provider only, so far). */
  startSshd?(opts: SshdOptions): Promise<SshdTarget>;
  // Later: startKubeApiserver(opts: KubeApiserverOptions): Promise<KubeApiserverTarget>;
}

export interface SshdOptions {
  /** Suite name, used for temp dir and kept-log names: letters, digits, `.`, `_`, `-`. */
  suite: string;
  /** More `authorized_keys` lines for the login user, besides the generated client key. */
  authorizedKeys?: readonly string[];
  /** Bound on the whole start-up, in milliseconds (default 30 000). */
  startTimeoutMs?: number;
}

export interface SshdTarget extends Target {
  readonly kind: 'sshd';
  /** The login user at the target (the user running the tests), authorized by `clientKeyPath`. */
  readonly user: string;
  /** Private key file (OpenSSH format, unencrypted, Ed25519) authorized for `user`. */
  readonly clientKeyPath: string;
  readonly clientPublicKey: string;
  /** `ssh-ed25519 AAAA… comment`: the target's host key. */
  readonly hostPublicKey: string;
  /** `SHA256:…` of the host key, as a policy resource pins it. */
  readonly hostKeyFingerprint: string;
}

export const POSTGRES_DEFAULTS = {
  user: 'tollgate_test',
  database: 'tollgate',
  image: 'postgres:15',
} as const;

/** Builds the shared parts of a PostgresTarget: connection string and libpq environment. */
export function postgresConnection(t: {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}): Pick<PostgresTarget, 'connectionString' | 'clientEnv'> {
  return {
    connectionString(o = {}) {
      const user = encodeURIComponent(o.user ?? t.user);
      const password = encodeURIComponent(o.password ?? t.password);
      const database = encodeURIComponent(o.database ?? t.database);
      const host = t.host.includes(':') ? `[${t.host}]` : t.host;
      return `postgresql://${user}:${password}@${host}:${t.port}/${database}`;
    },
    clientEnv(o = {}) {
      return {
        PGHOST: t.host,
        PGPORT: String(t.port),
        PGUSER: o.user ?? t.user,
        PGPASSWORD: o.password ?? t.password,
        PGDATABASE: o.database ?? t.database,
      };
    },
  };
}
