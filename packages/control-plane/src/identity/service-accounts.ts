import { Errors, type Identity, type PresentedPublicKey, TollgateError } from '@tollgate/core';
import type { StoreDb } from '../store/database';
import { apiKeyId, apiKeyMatches, hashApiKey, newApiKey } from './api-key';
import { authFailed, configInvalid, show } from './auth-error';
import { type Sql, sqlFor } from './sql';
import { parseOpenSshPublicKey, sshFingerprint } from './ssh-key';

/** An SSH public key registered to a service account (the blob itself is not listed). */
export interface ServiceAccountSshKey {
  readonly algorithm: string;
  /** `SHA256:<base64>`, as `ssh-keygen -lf` prints it. */
  readonly fingerprint: string;
  readonly comment: string;
  readonly addedAt: number;
}

/** A service account as stored; never includes its API key or the key's hash. */
export interface ServiceAccount {
  readonly name: string;
  readonly groups: readonly string[];
  readonly description: string | undefined;
  /** Public id of the API key (`tgk_<keyId>_…`), to tell keys apart in logs and listings. */
  readonly keyId: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  readonly expiresAt: number | undefined;
  readonly revokedAt: number | undefined;
  readonly status: 'active' | 'expired' | 'revoked';
  readonly sshKeys: readonly ServiceAccountSshKey[];
}

export interface CreateServiceAccount {
  name: string;
  groups: string[];
  /** Epoch milliseconds after which the key stops working. */
  expiresAt?: number;
  description?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const GROUP = /^[^\s,\p{Cc}]{1,128}$/u;
const ISSUER = 'tollgate';

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS tg_service_accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    groups_json TEXT NOT NULL,
    description TEXT,
    key_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
  )`,
  `CREATE TABLE IF NOT EXISTS tg_service_account_ssh_keys (
    fingerprint TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES tg_service_accounts(id),
    algorithm TEXT NOT NULL,
    blob TEXT NOT NULL,
    comment TEXT NOT NULL,
    added_at BIGINT NOT NULL
  )`,
  'CREATE INDEX IF NOT EXISTS tg_service_account_ssh_keys_account ON tg_service_account_ssh_keys (account_id)',
];

interface AccountRow {
  id: string;
  name: string;
  groups_json: string;
  description: string | null;
  key_hash: string;
  created_at: number | string;
  expires_at: number | string | null;
  revoked_at: number | string | null;
}

interface KeyRow {
  account_id: string;
  fingerprint: string;
  algorithm: string;
  blob: string;
  comment: string;
  added_at: number | string;
}

const opt = (v: number | string | null): number | undefined => (v === null ? undefined : Number(v));

/**
 * Service accounts: named, non-human identities with an API key and optional SSH public keys,
 * stored in the control-plane database (SQLite or PostgreSQL; tables `tg_service_accounts` and
 * `tg_service_account_ssh_keys`).
 *
 * - An API key is `tgk_<id>_<secret>`: a recognisable prefix, a 12-character public id and a
 *   43-character base62 secret (~256 bits). It is returned once by `create`; only its SHA-256
 *   is stored, compared in constant time.
 * - Every `verify` reads the database: nothing is cached, so `revoke` (from any process sharing
 *   the database, e.g. the CLI) and expiry take effect at once.
 * - The resolved identity is `{ subject: name, kind: 'service-account', issuer: 'tollgate' }`
 *   with the account's groups.
 */
export class ServiceAccounts {
  readonly #sql: Sql;
  readonly #now: () => number;
  #closed = false;

  private constructor(sql: Sql, now: () => number) {
    this.#sql = sql;
    this.#now = now;
  }

  /** Creates the tables if needed. The caller keeps owning `db` (close it with `closeStore`). */
  static async open(db: StoreDb, opts: { now?: () => number } = {}): Promise<ServiceAccounts> {
    const sql = sqlFor(db);
    await sql.migrate(SCHEMA, 'tollgate.identity.schema');
    return new ServiceAccounts(sql, opts.now ?? Date.now);
  }

  /** Creates an account; the returned `apiKey` is the only copy there will ever be. */
  async create(o: CreateServiceAccount): Promise<{ account: ServiceAccount; apiKey: string }> {
    const sql = this.#db();
    checkName(o.name);
    const groups = checkGroups(o.groups);
    const now = this.#now();
    if (o.expiresAt !== undefined && !(Number.isFinite(o.expiresAt) && o.expiresAt > now)) {
      throw configInvalid(`service account ${show(o.name)}: the expiry must be in the future`);
    }
    if (o.description !== undefined && o.description.length > 500) {
      throw configInvalid(`service account ${show(o.name)}: the description is longer than 500 characters`);
    }
    const { id, key } = newApiKey();
    try {
      await sql.run(
        'INSERT INTO tg_service_accounts (id, name, groups_json, description, key_hash, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)',
        [
          id,
          o.name,
          JSON.stringify(groups),
          o.description ?? null,
          hashApiKey(key),
          now,
          o.expiresAt ?? null,
        ],
      );
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw configInvalid(
          `service account ${show(o.name)} already exists (names are not reused, even after revoke)`,
        );
      }
      throw err;
    }
    const account = await this.get(o.name);
    return { account: account as ServiceAccount, apiKey: key };
  }

  /** Resolves an API key to its identity; rejects with a specific `AUTH_FAILED`. */
  async verify(apiKey: string): Promise<Identity> {
    const sql = this.#db();
    const id = typeof apiKey === 'string' ? apiKeyId(apiKey) : undefined;
    if (id === undefined) throw authFailed('malformed API key (expected tgk_<id>_<secret>)');
    const [row] = await sql.all<AccountRow>('SELECT * FROM tg_service_accounts WHERE id = ?', [id]);
    if (!row || !apiKeyMatches(apiKey, row.key_hash)) throw authFailed('API key is not recognised');
    return this.#identity(row);
  }

  /** Revokes an account's API key and SSH keys at once. Revoking twice is harmless. */
  async revoke(name: string): Promise<void> {
    const sql = this.#db();
    const changed = await sql.run(
      'UPDATE tg_service_accounts SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL',
      [this.#now(), name],
    );
    if (changed === 0 && !(await this.get(name))) throw notFound(name);
  }

  /** Every account, revoked and expired ones included, by name. */
  async list(): Promise<ServiceAccount[]> {
    const sql = this.#db();
    const rows = await sql.all<AccountRow>('SELECT * FROM tg_service_accounts ORDER BY name');
    const keys = await sql.all<KeyRow>(
      'SELECT * FROM tg_service_account_ssh_keys ORDER BY added_at, fingerprint',
    );
    return rows.map((r) => this.#account(r, keys));
  }

  async get(name: string): Promise<ServiceAccount | undefined> {
    const sql = this.#db();
    const [row] = await sql.all<AccountRow>('SELECT * FROM tg_service_accounts WHERE name = ?', [name]);
    if (!row) return undefined;
    const keys = await sql.all<KeyRow>(
      'SELECT * FROM tg_service_account_ssh_keys WHERE account_id = ? ORDER BY added_at, fingerprint',
      [row.id],
    );
    return this.#account(row, keys);
  }

  /** Registers an SSH public key (OpenSSH format) to an active account; one account per key. */
  async addPublicKey(name: string, openSshPublicKey: string): Promise<void> {
    const sql = this.#db();
    const key = parseOpenSshPublicKey(openSshPublicKey);
    const [row] = await sql.all<AccountRow>('SELECT * FROM tg_service_accounts WHERE name = ?', [name]);
    if (!row) throw notFound(name);
    if (row.revoked_at !== null) throw configInvalid(`service account ${show(name)} is revoked`);
    const [owner] = await sql.all<{ name: string }>(
      'SELECT a.name FROM tg_service_account_ssh_keys k JOIN tg_service_accounts a ON a.id = k.account_id WHERE k.fingerprint = ?',
      [key.fingerprint],
    );
    if (owner) throw duplicateKey(key.fingerprint, owner.name);
    try {
      await sql.run(
        'INSERT INTO tg_service_account_ssh_keys (fingerprint, account_id, algorithm, blob, comment, added_at) VALUES (?, ?, ?, ?, ?, ?)',
        [key.fingerprint, row.id, key.algorithm, key.blob.toString('base64'), key.comment, this.#now()],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw duplicateKey(key.fingerprint, 'another service account');
      throw err;
    }
  }

  /**
   * The identity an SSH public key is registered to, matched on the exact key blob; `undefined`
   * when no account has it. A key of a revoked or expired account rejects with `AUTH_FAILED`.
   * The caller must still check the client's signature with this key.
   */
  async findByPublicKey(key: PresentedPublicKey): Promise<Identity | undefined> {
    const sql = this.#db();
    const [row] = await sql.all<AccountRow & { blob: string }>(
      'SELECT a.*, k.blob FROM tg_service_account_ssh_keys k JOIN tg_service_accounts a ON a.id = k.account_id WHERE k.fingerprint = ?',
      [sshFingerprint(key.data)],
    );
    if (!row || !Buffer.from(row.blob, 'base64').equals(key.data)) return undefined;
    return this.#identity(row);
  }

  /** Stops using the database; the `StoreDb` itself stays open for its owner. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  #db(): Sql {
    if (this.#closed) throw new Error('service accounts: used after close()');
    return this.#sql;
  }

  #identity(row: AccountRow): Identity {
    const now = this.#now();
    const revokedAt = opt(row.revoked_at);
    if (revokedAt !== undefined) {
      throw authFailed(
        `service account ${show(row.name)} was revoked at ${new Date(revokedAt).toISOString()}`,
      );
    }
    const expiresAt = opt(row.expires_at);
    if (expiresAt !== undefined && now >= expiresAt) {
      throw authFailed(`service account ${show(row.name)} expired at ${new Date(expiresAt).toISOString()}`);
    }
    return {
      subject: row.name,
      kind: 'service-account',
      issuer: ISSUER,
      groups: JSON.parse(row.groups_json) as string[],
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
  }

  #account(row: AccountRow, keys: readonly KeyRow[]): ServiceAccount {
    const expiresAt = opt(row.expires_at);
    const revokedAt = opt(row.revoked_at);
    const status =
      revokedAt !== undefined
        ? 'revoked'
        : expiresAt !== undefined && this.#now() >= expiresAt
          ? 'expired'
          : 'active';
    return {
      name: row.name,
      groups: JSON.parse(row.groups_json) as string[],
      description: row.description ?? undefined,
      keyId: row.id,
      createdAt: Number(row.created_at),
      expiresAt,
      revokedAt,
      status,
      sshKeys: keys
        .filter((k) => k.account_id === row.id)
        .map((k) => ({
          algorithm: k.algorithm,
          fingerprint: k.fingerprint,
          comment: k.comment,
          addedAt: Number(k.added_at),
        })),
    };
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw configInvalid(
      `service account name ${show(name)}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
}

function checkGroups(groups: readonly string[]): string[] {
  if (!Array.isArray(groups)) throw configInvalid('groups: expected a list of group names');
  for (const g of groups) {
    if (typeof g !== 'string' || !GROUP.test(g)) {
      throw configInvalid(`group ${show(g)}: 1 to 128 characters, no spaces, commas or control characters`);
    }
  }
  return [...new Set(groups)];
}

function notFound(name: string): TollgateError {
  return new TollgateError(Errors.NOT_FOUND, `service account ${show(name)} does not exist`);
}

function duplicateKey(fingerprint: string, owner: string): TollgateError {
  return configInvalid(
    `SSH key ${fingerprint} is already registered to ${owner === 'another service account' ? owner : `service account ${show(owner)}`}`,
  );
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
