import { Errors, TollgateError } from '@tollgate/core';
import type { Pool, PoolClient, PoolConfig, QueryConfig } from 'pg';
import {
  type Backend,
  type Build,
  CHECKPOINT_COLUMNS,
  COLUMNS,
  type Extension,
  HEAD_COLUMNS,
  type HeadRow,
  opt,
  type PruneBoundary,
  type StoredRow,
  type TailState,
  whereClause,
} from './backend';
import { GENESIS_HASH } from './canonical';
import { checkpointFromDb, headFromDb, rowFromDb, rowValues } from './sqlite';
import type { AuditQuery, Checkpoint } from './types';

const DDL = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  type TEXT NOT NULL,
  session_id TEXT,
  identity TEXT,
  subject TEXT,
  resource TEXT,
  action TEXT,
  decision TEXT,
  approval_id TEXT,
  data TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (subject, at);
CREATE INDEX IF NOT EXISTS audit_log_resource ON audit_log (resource, at);
CREATE INDEX IF NOT EXISTS audit_log_session ON audit_log (session_id);
CREATE INDEX IF NOT EXISTS audit_log_approval ON audit_log (approval_id) WHERE approval_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  seq BIGINT PRIMARY KEY,
  hash TEXT NOT NULL,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  signature TEXT,
  key_id TEXT
);
CREATE TABLE IF NOT EXISTS audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL,
  at BIGINT NOT NULL,
  signature TEXT,
  key_id TEXT,
  cp_seq BIGINT NOT NULL,
  cp_at BIGINT NOT NULL
);
INSERT INTO audit_head (id, ${HEAD_COLUMNS}) VALUES (1, 0, '${GENESIS_HASH}', 0, NULL, NULL, 0, 0)
  ON CONFLICT (id) DO NOTHING;
`;

// Any constant works; it only has to be the same in every gateway process.
const SCHEMA_LOCK = 0x746f6c6c; // 'toll'

const INSERT_ROWS = `INSERT INTO audit_log (${COLUMNS})
  SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`;

const UPSERT_CHECKPOINT = `INSERT INTO audit_checkpoint (${CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
  ON CONFLICT (seq) DO UPDATE SET hash = excluded.hash, at = excluded.at, kind = excluded.kind,
    signature = excluded.signature, key_id = excluded.key_id`;

/** `host:port/database` of a pool config, without user or password. */
export function postgresLabel(config: PoolConfig): string {
  let host = config.host;
  let port = config.port === undefined ? undefined : String(config.port);
  let db = config.database;
  if (config.connectionString) {
    try {
      const u = new URL(config.connectionString);
      host ??= u.hostname;
      port ??= u.port || '5432';
      db ??= decodeURIComponent(u.pathname.replace(/^\//, ''));
    } catch {
      // an unparsable string: say nothing about it rather than risk echoing a secret
    }
  }
  return `postgres ${host ?? 'localhost'}:${port ?? '5432'}/${db ?? ''}`;
}

/** The audit tables in a PostgreSQL database shared by several gateway processes. */
export class PostgresBackend implements Backend {
  readonly label: string;
  readonly #pool: Pool;
  #readOnly = false;

  constructor(pool: Pool, config: PoolConfig) {
    this.#pool = pool;
    this.label = postgresLabel(config);
  }

  async init(readOnly: boolean): Promise<void> {
    this.#readOnly = readOnly;
    if (readOnly) {
      const r = await this.#pool.query(
        "SELECT to_regclass('audit_log') IS NOT NULL AND to_regclass('audit_head') IS NOT NULL AND to_regclass('audit_checkpoint') IS NOT NULL AS ok",
      );
      if (!r.rows[0]?.ok)
        throw new TollgateError(Errors.NOT_FOUND, `${this.label} holds no audit log (no audit tables)`);
      return;
    }
    await this.#transaction(30_000, async (c) => {
      // CREATE TABLE IF NOT EXISTS races between processes starting together; serialise it.
      await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await c.query(DDL);
    });
  }

  async #connect(timeoutMs: number): Promise<PoolClient> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const connecting = this.#pool.connect();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`no connection within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([connecting, timeout]);
    } finally {
      clearTimeout(timer);
      if (timedOut)
        connecting.then(
          (c) => c.release(),
          () => {},
        );
    }
  }

  async #transaction<T>(timeoutMs: number, body: (c: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#connect(timeoutMs);
    let clean = false;
    try {
      await client.query('BEGIN');
      const out = await body(client);
      await client.query('COMMIT');
      clean = true;
      return out;
    } finally {
      if (!clean) await client.query('ROLLBACK').catch(() => {});
      // A client that failed mid-transaction is dropped rather than reused.
      client.release(!clean);
    }
  }

  async extend(
    build: Build,
    opts: { pruneBefore?: number; timeoutMs: number },
  ): Promise<Extension | undefined> {
    if (this.#readOnly)
      throw new TollgateError(Errors.AUDIT_UNAVAILABLE, `${this.label} was opened read-only`);
    const q = (text: string, values: unknown[] = []): QueryConfig =>
      ({
        text,
        values,
        query_timeout: opts.timeoutMs,
      }) as QueryConfig;
    let result: Extension | undefined;
    await this.#transaction(opts.timeoutMs, async (c) => {
      // The head row is the chain lock: every gateway process waits here for its turn.
      const h = await c.query(q(`SELECT ${HEAD_COLUMNS} FROM audit_head WHERE id = 1 FOR UPDATE`));
      const head = headFromDb(h.rows[0]);
      if (!head) throw new Error('audit_head row is missing');
      const boundary =
        opts.pruneBefore === undefined ? undefined : await this.#boundary(c, q, opts.pruneBefore, head);
      const ext = build(head, boundary);
      if (!ext) return;
      if (ext.rows.length > 0) await c.query(q(INSERT_ROWS, columnArrays(ext.rows)));
      for (const cp of ext.checkpoints) {
        await c.query(
          q(UPSERT_CHECKPOINT, [cp.seq, cp.hash, cp.at, cp.kind, cp.signature ?? null, cp.keyId ?? null]),
        );
      }
      const n = ext.head;
      await c.query(
        q(
          'UPDATE audit_head SET seq = $1, hash = $2, at = $3, signature = $4, key_id = $5, cp_seq = $6, cp_at = $7 WHERE id = 1',
          [n.seq, n.hash, n.at, n.signature ?? null, n.keyId ?? null, n.cpSeq, n.cpAt],
        ),
      );
      result = ext;
    });
    return result;
  }

  async #boundary(
    c: PoolClient,
    q: (text: string, values?: unknown[]) => QueryConfig,
    before: number,
    head: HeadRow,
  ): Promise<PruneBoundary | undefined> {
    const r = await c.query(
      q(
        'SELECT (SELECT min(seq) FROM audit_log) AS first, (SELECT min(seq) FROM audit_log WHERE at >= $1) AS keep',
        [Math.ceil(before)],
      ),
    );
    const first = opt(r.rows[0]?.first as string | null);
    if (first === undefined) return undefined;
    const keep = opt(r.rows[0]?.keep as string | null);
    const seq = keep === undefined ? head.seq : Number(keep) - 1;
    if (seq < Number(first)) return undefined;
    const hr = await c.query(q('SELECT hash FROM audit_log WHERE seq = $1', [seq]));
    const hash = hr.rows[0]?.hash as string | undefined;
    if (hash === undefined) throw new Error(`audit record ${seq} is missing; run verify`);
    return { firstSeq: Number(first), seq, hash };
  }

  async readHead(): Promise<HeadRow | undefined> {
    const r = await this.#pool.query(`SELECT ${HEAD_COLUMNS} FROM audit_head WHERE id = 1`);
    return headFromDb(r.rows[0]);
  }

  async tail(afterSeq: number): Promise<TailState> {
    const r = await this.#pool.query(
      `SELECT h.seq, h.hash, h.at, h.signature, h.key_id, h.cp_seq, h.cp_at, b.n, b.lo, b.hi
       FROM (SELECT 1) one
       LEFT JOIN audit_head h ON h.id = 1
       CROSS JOIN LATERAL (
         SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM audit_log WHERE seq > GREATEST($1::int8, h.seq)
       ) b`,
      [afterSeq],
    );
    const row = r.rows[0] as Record<string, unknown>;
    return {
      head: row.seq === null ? undefined : headFromDb(row),
      beyondCount: Number(row.n ?? 0),
      beyondMin: row.lo === null ? undefined : Number(row.lo),
      beyondMax: row.hi === null ? undefined : Number(row.hi),
    };
  }

  async page(afterSeq: number, limit: number): Promise<StoredRow[]> {
    const r = await this.#pool.query(
      `SELECT ${COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [afterSeq, limit],
    );
    return r.rows.map(rowFromDb);
  }

  async checkpointPage(afterSeq: number, limit: number): Promise<Checkpoint[]> {
    const r = await this.#pool.query(
      `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoint WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [afterSeq, limit],
    );
    return r.rows.map(checkpointFromDb);
  }

  async checkpointAt(seq: number): Promise<Checkpoint | undefined> {
    const r = await this.#pool.query(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoint WHERE seq = $1`, [
      seq,
    ]);
    return r.rows[0] ? checkpointFromDb(r.rows[0]) : undefined;
  }

  async query(q: AuditQuery, limit: number): Promise<StoredRow[]> {
    const w = whereClause(q);
    let i = 0;
    const sql = `SELECT ${COLUMNS} FROM audit_log ${w.sql} ORDER BY seq LIMIT ?`.replace(
      /\?/g,
      () => `$${++i}`,
    );
    const r = await this.#pool.query(sql, [...w.params, limit]);
    return r.rows.map(rowFromDb);
  }

  async deleteThrough(through: number, chunk: number): Promise<number> {
    const r = await this.#pool.query(
      'DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE seq <= $1 ORDER BY seq LIMIT $2)',
      [through, chunk],
    );
    return r.rowCount ?? 0;
  }

  async deleteCheckpointsBefore(seq: number): Promise<void> {
    await this.#pool.query('DELETE FROM audit_checkpoint WHERE seq < $1', [seq]);
  }
}

function columnArrays(rows: StoredRow[]): unknown[][] {
  const cols: unknown[][] = Array.from({ length: 13 }, () => new Array(rows.length));
  rows.forEach((r, i) => {
    const v = rowValues(r);
    for (let c = 0; c < 13; c++) (cols[c] as unknown[])[i] = v[c];
  });
  return cols;
}
