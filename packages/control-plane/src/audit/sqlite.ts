import { Errors, TollgateError } from '@tollgate/core';
import type Database from 'better-sqlite3';
import {
  type Backend,
  type Build,
  CHECKPOINT_COLUMNS,
  COLUMNS,
  type ExtendOptions,
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
import type { AuditQuery, Checkpoint } from './types';

const DDL = `
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
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
CREATE INDEX IF NOT EXISTS audit_log_approval ON audit_log (approval_id) WHERE approval_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_checkpoint (
  seq INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  signature TEXT,
  key_id TEXT
);
CREATE TABLE IF NOT EXISTS audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  at INTEGER NOT NULL,
  signature TEXT,
  key_id TEXT,
  cp_seq INTEGER NOT NULL,
  cp_at INTEGER NOT NULL
);
INSERT OR IGNORE INTO audit_head (id, ${HEAD_COLUMNS}) VALUES (1, 0, '${GENESIS_HASH}', 0, NULL, NULL, 0, 0);
CREATE TABLE IF NOT EXISTS audit_lookup (
  field TEXT NOT NULL,
  key TEXT NOT NULL,
  at INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (field, key, at, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_lookup_seq ON audit_lookup (seq);
CREATE TABLE IF NOT EXISTS audit_index_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  indexed_through INTEGER NOT NULL
);
`;

/**
 * Records are found by session, subject and resource through `audit_lookup`, which is brought
 * up to date in the transaction of every append that leaves at least this many records behind
 * it; the newer ones (fewer than this plus one batch) are found by scanning them. An index on
 * `audit_log` for each of those columns would be updated with every record, at a place of its
 * own per session, agent and resource: a commit with records of 64 busy sessions of 64 agents
 * wrote over a hundred more pages, and durable appends per second halved (measured: sessions
 * alone 35–38k → 56–62k/s; distinct agents on top 60k → 30k/s). Here those pages are written
 * once per this many records.
 */
export const LOOKUP_EVERY = 2048;

/** The audit_log columns found through `audit_lookup`, by the `field` they are filed under. */
const LOOKUP_FIELDS = { session: 'session_id', subject: 'subject', resource: 'resource' } as const;

/** Lookup entries for the records after `@through` (all fields in one statement). */
const INDEX_LOOKUPS = `INSERT OR IGNORE INTO audit_lookup (field, key, at, seq)
  ${Object.entries(LOOKUP_FIELDS)
    .map(
      ([field, col]) =>
        `SELECT '${field}', ${col}, at, seq FROM audit_log WHERE seq > @through AND ${col} IS NOT NULL`,
    )
    .join('\n  UNION ALL ')}`;

/**
 * Databases written before `audit_lookup` existed: index every record once, then drop the
 * per-record indexes it replaces. Runs at a writable open; does nothing the second time.
 */
function migrateLookups(db: Database.Database): void {
  db.transaction(() => {
    if (db.prepare('SELECT 1 FROM audit_index_state WHERE id = 1').get()) return;
    const max = db.prepare('SELECT coalesce(max(seq), 0) FROM audit_log').pluck().get() as number;
    db.prepare(INDEX_LOOKUPS).run({ through: 0 });
    db.prepare('INSERT INTO audit_index_state (id, indexed_through) VALUES (1, ?)').run(max);
    db.exec(`DROP INDEX IF EXISTS audit_log_session; DROP INDEX IF EXISTS audit_log_subject;
      DROP INDEX IF EXISTS audit_log_resource;`);
  }).immediate();
}

type Row = Record<string, unknown>;

export function rowFromDb(r: Row): StoredRow {
  return {
    seq: Number(r.seq),
    at: Number(r.at),
    type: String(r.type),
    sessionId: opt(r.session_id as string | null),
    identity: opt(r.identity as string | null),
    subject: opt(r.subject as string | null),
    resource: opt(r.resource as string | null),
    action: opt(r.action as string | null),
    decision: opt(r.decision as string | null),
    approvalId: opt(r.approval_id as string | null),
    data: opt(r.data as string | null),
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

export function headFromDb(r: Row | undefined): HeadRow | undefined {
  if (!r) return undefined;
  return {
    seq: Number(r.seq),
    hash: String(r.hash),
    at: Number(r.at),
    signature: opt(r.signature as string | null),
    keyId: opt(r.key_id as string | null),
    cpSeq: Number(r.cp_seq),
    cpAt: Number(r.cp_at),
  };
}

export function checkpointFromDb(r: Row): Checkpoint {
  return {
    seq: Number(r.seq),
    hash: String(r.hash),
    at: Number(r.at),
    kind: String(r.kind) as Checkpoint['kind'],
    signature: opt(r.signature as string | null),
    keyId: opt(r.key_id as string | null),
  };
}

export function rowValues(r: StoredRow): unknown[] {
  return [
    r.seq,
    r.at,
    r.type,
    r.sessionId ?? null,
    r.identity ?? null,
    r.subject ?? null,
    r.resource ?? null,
    r.action ?? null,
    r.decision ?? null,
    r.approvalId ?? null,
    r.data ?? null,
    r.prevHash,
    r.hash,
  ];
}

/** The audit tables in an embedded SQLite file (WAL, synchronous = FULL, see `openSqlite`). */
export class SqliteBackend implements Backend {
  readonly label: string;
  readonly #db: Database.Database;
  #stmts: ReturnType<SqliteBackend['prepare']> | undefined;

  constructor(db: Database.Database, path: string) {
    this.#db = db;
    this.label = `sqlite ${path}`;
  }

  async init(readOnly: boolean): Promise<void> {
    if (!readOnly) {
      this.#db.exec(DDL);
      migrateLookups(this.#db);
    } else {
      const t = this.#db
        .prepare(
          "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('audit_log', 'audit_head', 'audit_checkpoint')",
        )
        .get() as { n: number };
      if (t.n !== 3)
        throw new TollgateError(Errors.NOT_FOUND, `${this.label} holds no audit log (no audit tables)`);
    }
    this.#stmts = this.prepare(readOnly);
  }

  /** Prepares the statements on tables that another connection created (the writer thread's). */
  attach(): void {
    this.#stmts = this.prepare(false);
  }

  private prepare(readOnly: boolean) {
    const db = this.#db;
    const writes = readOnly
      ? undefined
      : {
          insert: db.prepare(`INSERT INTO audit_log (${COLUMNS}) VALUES (${'?, '.repeat(12)}?)`),
          upsertCheckpoint: db.prepare(
            `INSERT INTO audit_checkpoint (${CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (seq) DO UPDATE SET hash = excluded.hash, at = excluded.at, kind = excluded.kind,
               signature = excluded.signature, key_id = excluded.key_id`,
          ),
          updateHead: db.prepare(
            'UPDATE audit_head SET seq = ?, hash = ?, at = ?, signature = ?, key_id = ?, cp_seq = ?, cp_at = ? WHERE id = 1',
          ),
          deleteThrough: db.prepare(
            'DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE seq <= ? ORDER BY seq LIMIT ?)',
          ),
          deleteCheckpoints: db.prepare('DELETE FROM audit_checkpoint WHERE seq < ?'),
          indexedThrough: db.prepare('SELECT indexed_through FROM audit_index_state WHERE id = 1').pluck(),
          indexLookups: db.prepare(INDEX_LOOKUPS),
          setIndexedThrough: db.prepare('UPDATE audit_index_state SET indexed_through = ? WHERE id = 1'),
          // lookup entries of records that are gone (after a prune chunk)
          pruneLookups: db.prepare(
            'DELETE FROM audit_lookup WHERE seq < (SELECT coalesce(min(seq), ?) FROM audit_log)',
          ),
        };
    // a log opened read-only may predate audit_lookup: its queries then filter audit_log alone
    const lookups =
      db
        .prepare(
          "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('audit_lookup', 'audit_index_state')",
        )
        .pluck()
        .get() === 2;
    return {
      writes,
      lookups,
      head: db.prepare(`SELECT ${HEAD_COLUMNS} FROM audit_head WHERE id = 1`),
      page: db.prepare(`SELECT ${COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`),
      checkpointPage: db.prepare(
        `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoint WHERE seq > ? ORDER BY seq LIMIT ?`,
      ),
      checkpointAt: db.prepare(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoint WHERE seq = ?`),
      tail: db.prepare(
        `SELECT h.seq, h.hash, h.at, h.signature, h.key_id, h.cp_seq, h.cp_at,
           (SELECT count(*) FROM audit_log WHERE seq > max(?, h.seq)) AS beyond_count,
           (SELECT min(seq) FROM audit_log WHERE seq > max(?, h.seq)) AS beyond_min,
           (SELECT max(seq) FROM audit_log WHERE seq > max(?, h.seq)) AS beyond_max
         FROM (SELECT 1 AS one) LEFT JOIN audit_head h ON h.id = 1`,
      ),
      firstSeq: db.prepare('SELECT min(seq) AS s FROM audit_log'),
      firstAtOrAfter: db.prepare('SELECT min(seq) AS s FROM audit_log WHERE at >= ?'),
      hashAt: db.prepare('SELECT hash FROM audit_log WHERE seq = ?'),
    };
  }

  private get s() {
    if (!this.#stmts) throw new Error('audit store used before init');
    return this.#stmts;
  }

  private get w() {
    const w = this.s.writes;
    if (!w) throw new TollgateError(Errors.AUDIT_UNAVAILABLE, `${this.label} was opened read-only`);
    return w;
  }

  async extend(build: Build, opts: ExtendOptions): Promise<Extension | undefined> {
    return this.extendNow(build, opts);
  }

  /** `extend`, synchronously (the writer thread runs without an event loop turn per request). */
  extendNow(build: Build, opts: ExtendOptions): Extension | undefined {
    const w = this.w;
    const run = this.#db.transaction((): Extension | undefined => {
      const head = headFromDb(this.s.head.get() as Row | undefined);
      if (!head) throw new Error('audit_head row is missing');
      const boundary = opts.pruneBefore === undefined ? undefined : this.boundary(opts.pruneBefore, head);
      const ext = build(head, boundary);
      if (!ext) return undefined;
      const insert = w.insert;
      for (const r of ext.rows) {
        insert.run(
          r.seq,
          r.at,
          r.type,
          r.sessionId ?? null,
          r.identity ?? null,
          r.subject ?? null,
          r.resource ?? null,
          r.action ?? null,
          r.decision ?? null,
          r.approvalId ?? null,
          r.data ?? null,
          r.prevHash,
          r.hash,
        );
      }
      for (const c of ext.checkpoints) {
        w.upsertCheckpoint.run(c.seq, c.hash, c.at, c.kind, c.signature ?? null, c.keyId ?? null);
      }
      if (ext.rows.length > 0) {
        const through = Number(w.indexedThrough.get() ?? 0);
        if (ext.head.seq - through >= LOOKUP_EVERY) {
          w.indexLookups.run({ through });
          w.setIndexedThrough.run(ext.head.seq);
        }
      }
      const h = ext.head;
      w.updateHead.run(h.seq, h.hash, h.at, h.signature ?? null, h.keyId ?? null, h.cpSeq, h.cpAt);
      opts.beforeCommit?.();
      return ext;
    });
    // IMMEDIATE takes the write lock before reading the head, so two processes on one file
    // cannot both extend from the same head.
    return run.immediate();
  }

  private boundary(before: number, head: HeadRow): PruneBoundary | undefined {
    const first = (this.s.firstSeq.get() as { s: number | null }).s;
    if (first === null) return undefined;
    const keep = (this.s.firstAtOrAfter.get(before) as { s: number | null }).s;
    const seq = keep === null ? head.seq : keep - 1;
    if (seq < first) return undefined;
    const row = this.s.hashAt.get(seq) as { hash: string } | undefined;
    if (!row) throw new Error(`audit record ${seq} is missing; run verify`);
    return { firstSeq: first, seq, hash: row.hash };
  }

  async readHead(): Promise<HeadRow | undefined> {
    return headFromDb(this.s.head.get() as Row | undefined);
  }

  async tail(afterSeq: number): Promise<TailState> {
    const r = this.s.tail.get(afterSeq, afterSeq, afterSeq) as Row;
    return {
      head: r.seq === null ? undefined : headFromDb(r),
      beyondCount: Number(r.beyond_count ?? 0),
      beyondMin: opt(r.beyond_min as number | null),
      beyondMax: opt(r.beyond_max as number | null),
    };
  }

  async page(afterSeq: number, limit: number): Promise<StoredRow[]> {
    return (this.s.page.all(afterSeq, limit) as Row[]).map(rowFromDb);
  }

  async checkpointPage(afterSeq: number, limit: number): Promise<Checkpoint[]> {
    return (this.s.checkpointPage.all(afterSeq, limit) as Row[]).map(checkpointFromDb);
  }

  async checkpointAt(seq: number): Promise<Checkpoint | undefined> {
    const r = this.s.checkpointAt.get(seq) as Row | undefined;
    return r ? checkpointFromDb(r) : undefined;
  }

  async query(q: AuditQuery, limit: number): Promise<StoredRow[]> {
    const w = whereClause(q);
    let sql = w.sql;
    const params = w.params;
    if (this.s.lookups) {
      // the first of session, subject, resource asked for: its filed records (in the time
      // window), and those filed later (see LOOKUP_EVERY); whereClause has the rest
      const by = (
        [
          ['session', q.sessionId],
          ['subject', q.subject],
          ['resource', q.resource],
        ] as const
      ).find(([, v]) => v !== undefined);
      if (by) {
        const [field, key] = by;
        const window = `${q.from !== undefined ? ' AND at >= ?' : ''}${q.to !== undefined ? ' AND at < ?' : ''}`;
        sql += ` AND seq IN (SELECT seq FROM audit_lookup WHERE field = '${field}' AND key = ?${window}
          UNION ALL SELECT seq FROM audit_log WHERE ${LOOKUP_FIELDS[field]} = ?
            AND seq > (SELECT indexed_through FROM audit_index_state WHERE id = 1))`;
        params.push(
          key,
          ...(q.from !== undefined ? [Math.ceil(q.from)] : []),
          ...(q.to !== undefined ? [Math.ceil(q.to)] : []),
          key,
        );
      }
    }
    const rows = this.#db
      .prepare(`SELECT ${COLUMNS} FROM audit_log ${sql} ORDER BY seq LIMIT ?`)
      .all(...params, limit) as Row[];
    return rows.map(rowFromDb);
  }

  async deleteThrough(through: number, chunk: number): Promise<number> {
    return this.deleteThroughNow(through, chunk);
  }

  deleteThroughNow(through: number, chunk: number): number {
    const w = this.w;
    return this.#db.transaction(() => {
      const n = w.deleteThrough.run(through, chunk).changes;
      w.pruneLookups.run(through + 1);
      return n;
    })();
  }

  async deleteCheckpointsBefore(seq: number): Promise<void> {
    this.deleteCheckpointsBeforeNow(seq);
  }

  deleteCheckpointsBeforeNow(seq: number): void {
    this.w.deleteCheckpoints.run(seq);
  }
}
