import { type CredentialVault, PgFrameReader, type Resource } from '@tollgate/core';
import { connectTarget, type TargetConnection } from '../target/index';
import { BackendCode, buildQuery, buildTerminate, parseDataRow, parseErrorResponse } from '../wire/index';

/**
 * Table names for the table OIDs of RowDescription, so that `table:` column rules can match.
 * `name` answers from what is known now; `lookup` asks the target's catalog and never rejects.
 */
export interface TableNames {
  /** `schema.table` for a table OID, when known (and fresh). */
  name(oid: number): string | undefined;
  /** The OIDs among `oids` worth looking up now: not 0, not known, and no failure back-off. */
  missing(oids: readonly number[]): number[];
  /** Looks the OIDs up; resolves (never rejects) once done, failed or timed out. */
  lookup(oids: readonly number[]): Promise<void>;
}

export interface CatalogNamesOptions {
  /** Most OIDs remembered (default 4096); the oldest are dropped first. */
  readonly maxEntries?: number;
  /** How long a name is trusted (default 60 s): a renamed table is seen after this. */
  readonly ttlMs?: number;
  /** Bound on one lookup, connection included (default 2 s). */
  readonly timeoutMs?: number;
  /** After a failed lookup, no lookups for this long (default 5 s): the fail-safe applies. */
  readonly backoffMs?: number;
  /** The catalog connection is closed after this long without a lookup (default 30 s). */
  readonly idleMs?: number;
  readonly now?: () => number;
}

const MAX_OID = 0xffff_ffff;

/**
 * OID → `schema.table` for one target database, from its catalog (pg_class, pg_namespace), over
 * one connection of the gateway's own, opened on first use with the resource's credential and
 * closed when idle. Lookups run one at a time. Bounded: a fixed number of names, each trusted
 * for `ttlMs`; a lookup that fails or takes longer than `timeoutMs` closes the connection,
 * forgets every name and pauses lookups for `backoffMs` — callers then see no name, which is
 * the fail-safe case of docs/postgres.md ("Masking results").
 */
export class CatalogNames implements TableNames {
  readonly #names = new Map<number, { name: string; at: number }>();
  /** OIDs asked for recently, named or not: not asked again within the TTL. */
  readonly #asked = new Map<number, number>();
  readonly #opts: Required<Omit<CatalogNamesOptions, 'now'>> & { now: () => number };
  #conn: CatalogConnection | undefined;
  #chain: Promise<void> = Promise.resolve();
  #failedAt = Number.NEGATIVE_INFINITY;
  #idle: NodeJS.Timeout | undefined;
  /** Lookups that failed (for tests and metrics). */
  failures = 0;

  constructor(
    private readonly connect: () => Promise<TargetConnection>,
    opts: CatalogNamesOptions = {},
  ) {
    this.#opts = {
      maxEntries: opts.maxEntries ?? 4096,
      ttlMs: opts.ttlMs ?? 60_000,
      timeoutMs: opts.timeoutMs ?? 2000,
      backoffMs: opts.backoffMs ?? 5000,
      idleMs: opts.idleMs ?? 30_000,
      now: opts.now ?? Date.now,
    };
  }

  name(oid: number): string | undefined {
    const e = this.#names.get(oid);
    if (!e) return undefined;
    if (this.#opts.now() - e.at > this.#opts.ttlMs) {
      this.#names.delete(oid);
      return undefined;
    }
    return e.name;
  }

  missing(oids: readonly number[]): number[] {
    if (this.#opts.now() - this.#failedAt < this.#opts.backoffMs) return [];
    const out: number[] = [];
    for (const oid of oids) {
      if (oid <= 0 || oid > MAX_OID || !Number.isInteger(oid) || out.includes(oid) || this.name(oid))
        continue;
      const asked = this.#asked.get(oid);
      if (asked !== undefined && this.#opts.now() - asked <= this.#opts.ttlMs) continue;
      out.push(oid);
    }
    return out;
  }

  lookup(oids: readonly number[]): Promise<void> {
    const run = this.#chain.then(() => this.#bounded(oids));
    this.#chain = run;
    return run;
  }

  /** Closes the catalog connection (the names stay). */
  close(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#conn?.close();
    this.#conn = undefined;
  }

  async #bounded(oids: readonly number[]): Promise<void> {
    const todo = this.missing(oids);
    if (todo.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('catalog lookup timed out')), this.#opts.timeoutMs);
    });
    try {
      await Promise.race([this.#query(todo), timeout]);
      this.#keepAlive();
    } catch {
      this.failures++;
      this.#failedAt = this.#opts.now();
      this.#names.clear();
      this.#asked.clear();
      this.close();
    } finally {
      clearTimeout(timer);
    }
  }

  async #query(oids: readonly number[]): Promise<void> {
    if (!this.#conn || this.#conn.closed) this.#conn = new CatalogConnection(await this.connect());
    const rows = await this.#conn.query(
      'SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c ' +
        'JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ' +
        `WHERE c.oid IN (${oids.join(',')})`,
    );
    const at = this.#opts.now();
    for (const oid of oids) this.#asked.set(oid, at);
    if (this.#asked.size > this.#opts.maxEntries) this.#asked.clear();
    for (const [oid, schema, table] of rows) {
      if (oid === null || schema === null || table === null) continue;
      if (this.#names.size >= this.#opts.maxEntries) {
        const oldest = this.#names.keys().next().value;
        if (oldest !== undefined) this.#names.delete(oldest);
      }
      this.#names.set(Number(oid), { name: `${schema}.${table}`, at });
    }
  }

  #keepAlive(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.close(), this.#opts.idleMs);
    this.#idle.unref();
  }
}

/** One simple query at a time over an authenticated target connection; rows as text. */
class CatalogConnection {
  readonly #conn: TargetConnection;
  readonly #frames = new PgFrameReader({ maxMessageLength: 1 << 20 });
  #pending:
    | {
        rows: (string | null)[][];
        error?: Error;
        resolve: (r: (string | null)[][]) => void;
        reject: (e: Error) => void;
      }
    | undefined;
  closed = false;

  constructor(conn: TargetConnection) {
    this.#conn = conn;
    const s = conn.socket;
    s.on('data', (chunk: Buffer) => this.#data(chunk));
    s.on('error', () => {});
    s.on('close', () => {
      this.closed = true;
      this.#pending?.reject(new Error('the catalog connection closed'));
      this.#pending = undefined;
    });
    // The gateway's own helper connection never keeps the process alive.
    s.unref();
    s.resume();
    if (conn.leftover.length > 0) this.#data(conn.leftover);
  }

  query(sql: string): Promise<(string | null)[][]> {
    if (this.closed) return Promise.reject(new Error('the catalog connection is closed'));
    return new Promise((resolve, reject) => {
      this.#pending = { rows: [], resolve, reject };
      this.#conn.socket.write(buildQuery(sql));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#pending?.reject(new Error('the catalog connection closed'));
    this.#pending = undefined;
    const s = this.#conn.socket;
    s.end(buildTerminate());
    setTimeout(() => s.destroy(), 1000).unref();
  }

  #data(chunk: Buffer): void {
    let msgs: ReturnType<PgFrameReader['push']>;
    try {
      msgs = this.#frames.push(chunk);
    } catch (e) {
      this.#pending?.reject(e as Error);
      this.close();
      return;
    }
    for (const m of msgs) {
      const p = this.#pending;
      if (!p) continue;
      if (m.code === BackendCode.DataRow)
        p.rows.push(parseDataRow(m.bytes).values.map((v) => (v === null ? null : v.toString('utf8'))));
      else if (m.code === BackendCode.ErrorResponse)
        p.error = new Error(`catalog query failed: ${parseErrorResponse(m.bytes).fields.code ?? 'XX000'}`);
      else if (m.code === BackendCode.ReadyForQuery) {
        this.#pending = undefined;
        if (p.error) p.reject(p.error);
        else p.resolve(p.rows);
      }
    }
  }
}

/**
 * The `CatalogNames` of each target database, shared by the sessions of one adapter: keyed by
 * the resource's address, database, login and TLS settings (a policy reload that changes them
 * gets a new one). Bounded: at most `maxTargets`, the oldest closed first.
 */
export class CatalogRegistry {
  readonly #byTarget = new Map<string, CatalogNames>();

  constructor(
    private readonly opts: CatalogNamesOptions = {},
    readonly maxTargets = 256,
  ) {}

  /** The names of the resource's database; lookups log in as `user` with the resource's credential. */
  for(resource: Resource, user: string, vault: CredentialVault): CatalogNames {
    const database = resource.database ?? resource.name;
    const key = JSON.stringify([resource.address, database, user, resource.tls, resource.credential]);
    const known = this.#byTarget.get(key);
    if (known) return known;
    const i = resource.address.lastIndexOf(':');
    const host = resource.address.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(resource.address.slice(i + 1));
    const names = new CatalogNames(
      async () =>
        connectTarget({
          host,
          port,
          user,
          password: resource.credential ? await vault.resolve(resource.credential) : undefined,
          database,
          tls: resource.tls,
          startupParams: { application_name: 'tollgate-catalog' },
          connectTimeoutMs: this.opts.timeoutMs ?? 2000,
        }),
      this.opts,
    );
    if (this.#byTarget.size >= this.maxTargets) {
      const [oldestKey, oldest] = this.#byTarget.entries().next().value ?? [];
      oldest?.close();
      if (oldestKey !== undefined) this.#byTarget.delete(oldestKey);
    }
    this.#byTarget.set(key, names);
    return names;
  }

  closeAll(): void {
    for (const n of this.#byTarget.values()) n.close();
    this.#byTarget.clear();
  }
}
