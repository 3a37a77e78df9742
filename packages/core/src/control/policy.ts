import type { Identity } from './identity';

/**
 * Policy decisions. Adapters classify what an agent asks for into an action class and ask a
 * `PolicyDecider` what to do; the decider never sees bytes, only the request below.
 */

export type Protocol = 'postgres' | 'ssh' | 'kubernetes' | 'http';

/** Action classes each adapter emits. Rules name these. */
export const ACTION_CLASSES = {
  postgres: ['read', 'write', 'ddl', 'dangerous', 'admin', 'transaction', 'utility', 'unknown'],
  ssh: ['exec', 'shell', 'sftp-read', 'sftp-write', 'port-forward', 'agent-forward', 'x11'],
  kubernetes: [],
  http: [],
} as const satisfies Record<Protocol, readonly string[]>;

export type ActionClass = (typeof ACTION_CLASSES)[Protocol][number];

export interface ActionRequest {
  readonly identity: Identity;
  /** Policy resource name (the target). */
  readonly resource: string;
  /** Action class, one of `ACTION_CLASSES[protocol]`. */
  readonly action: string;
  /**
   * Optional detail rules may match on (SSH port-forward destination `host:port`, SSH exec
   * program name, sftp path, tables touched). Absent fields never match a rule that asks for them.
   */
  readonly detail?: {
    readonly destination?: string;
    readonly program?: string;
    /**
     * The file an sftp operation names, absolute and normalised as far as the adapter knows it.
     * A relative path is one the adapter could not resolve: allow and require-approval rules with
     * `paths` do not match it, deny rules do (fail closed).
     */
    readonly path?: string;
    readonly tables?: readonly string[];
  };
}

export interface ApprovalRequirement {
  /** Groups whose members may approve or deny. */
  readonly reviewers: readonly string[];
  /** Distinct approvals needed (n of m). */
  readonly approvals: number;
  /** How long the request stays open, in milliseconds. */
  readonly timeoutMs: number;
}

/** What the policy says about one request. `rule` is the matching rule's name (`null`: default deny). */
export type Decision =
  | { readonly effect: 'allow'; readonly rule: string; readonly masking: string | undefined }
  | { readonly effect: 'deny'; readonly rule: string | null; readonly reason: string }
  | {
      readonly effect: 'require-approval';
      readonly rule: string;
      readonly approval: ApprovalRequirement;
      readonly masking: string | undefined;
    };

/** Reference to a credential held by the gateway (see `CredentialVault`). */
export type CredentialRef = { readonly env: string } | { readonly file: string };

export interface TlsSettings {
  /** `disable`: plaintext; `require`: TLS without verification; `verify-full`: CA + hostname. */
  readonly mode: 'disable' | 'require' | 'verify-full';
  /** PEM file of the CA that signs the target's certificate (for `verify-full`). */
  readonly caFile?: string;
  readonly serverName?: string;
}

export interface Resource {
  readonly name: string;
  readonly protocol: Protocol;
  /** `host:port` of the target. */
  readonly address: string;
  readonly tls: TlsSettings | undefined;
  /** The login name used at the target (PostgreSQL role, SSH user). */
  readonly username: string | undefined;
  /** Password or private key held by the gateway. */
  readonly credential: CredentialRef | undefined;
  /** SSH only: pinned host key fingerprint (`SHA256:…`) of the target. */
  readonly hostKey: string | undefined;
  /** SSH only: an OpenSSH known_hosts file (absolute path) listing the target's host keys. */
  readonly knownHosts?: string;
  /**
   * SSH only: environment variable names an agent may pass to the target (a name ending in `*`
   * is a prefix, `LC_*`); env requests for other names are refused. Absent: none pass.
   */
  readonly env?: readonly string[];
  /** PostgreSQL only: the database at the target (default: the resource name). */
  readonly database: string | undefined;
}

/** One column rule of a masking profile; all given matchers must match (case-insensitive). */
export interface ColumnMaskRule {
  readonly column?: string;
  readonly table?: string;
  /** PostgreSQL type name, e.g. `text`, `varchar`, `jsonb`. */
  readonly type?: string;
  /** Redact the whole value as this entity, or `keep` to leave it alone; else scan it. */
  readonly action: { readonly redactAs: string } | { readonly scan: readonly string[] | 'all' } | 'keep';
}

/**
 * Capture of the first result rows of each statement into its `command.result` audit record.
 * The rows are the masked rows exactly as the client received them; capture stops at `rows`
 * rows or `maxBytes` bytes of values, whichever comes first.
 */
export interface ResultCapture {
  /** Most rows kept per statement (at least 1). */
  readonly rows: number;
  /** Most bytes of values kept per statement (UTF-8); the row that crosses it is cut. */
  readonly maxBytes: number;
}

export interface MaskingProfile {
  readonly name: string;
  /** Rules in order; the first matching rule applies to a column. */
  readonly columns: readonly ColumnMaskRule[];
  /** What happens to columns no rule matches. */
  readonly otherwise: 'scan' | 'keep';
  /** Entities scanned for by `scan` (default: all built-ins). */
  readonly entities: readonly string[] | undefined;
  /** Style per entity and default. */
  readonly styles: Readonly<Record<string, string>>;
  readonly defaultStyle: string | undefined;
  /** Keep the first masked result rows of each statement in its audit record (off when absent). */
  readonly capture?: ResultCapture;
}

export interface PolicyDecider {
  /** Deny by default: a request no rule matches is denied with `rule: null`. */
  decide(req: ActionRequest): Decision;
  resource(name: string): Resource | undefined;
  maskingProfile(name: string): MaskingProfile | undefined;
}
