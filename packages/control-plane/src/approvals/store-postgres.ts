import { Errors, TollgateError } from '@tollgate/core';
import type { Pool, PoolClient } from 'pg';
import { Semaphore } from './locks';
import { type ApprovalRow, apply, type Step } from './model';
import {
  type ApprovalStore,
  type DbRequest,
  type DbVote,
  INSERT_COLUMNS,
  insertValues,
  type ListQuery,
  rowFromDb,
  votesById,
} from './store';

/** LISTEN/NOTIFY channel; the payload is the id of the request that changed. */
export const APPROVALS_CHANNEL = 'tollgate_approvals';

/** Serialises concurrent schema creation by several gateways (an arbitrary constant key). */
const SCHEMA_LOCK_KEY = 0x746f6c6c;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS approval_requests (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
  requester_subject TEXT NOT NULL,
  requester_issuer TEXT NOT NULL,
  requester JSONB NOT NULL,
  resource TEXT NOT NULL,
  session_id TEXT NOT NULL,
  action TEXT NOT NULL,
  command TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  reviewers JSONB NOT NULL,
  approvals_needed INTEGER NOT NULL,
  timeout_ms BIGINT NOT NULL,
  audit_seq BIGINT,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  decided_at BIGINT,
  end_reason TEXT,
  released_at BIGINT,
  seq BIGSERIAL
);
CREATE INDEX IF NOT EXISTS approval_requests_status ON approval_requests (status, created_at);
CREATE TABLE IF NOT EXISTS approval_votes (
  approval_id TEXT NOT NULL REFERENCES approval_requests (id) ON DELETE CASCADE,
  reviewer_issuer TEXT NOT NULL,
  reviewer_subject TEXT NOT NULL,
  reviewer JSONB NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),
  reason TEXT,
  at BIGINT NOT NULL,
  seq BIGSERIAL,
  PRIMARY KEY (approval_id, reviewer_issuer, reviewer_subject)
);`;

/** Bound on waiting for another gateway's row lock on the same request. */
const LOCK_TIMEOUT = '20s';

/**
 * PostgreSQL approval store, shared by several gateways. A change runs in one transaction that
 * holds the request row with `SELECT … FOR UPDATE` while the caller audits, then writes the change
 * and `pg_notify`s the request id, which PostgreSQL delivers to listeners only on commit.
 */
export class PostgresApprovalStore implements ApprovalStore {
  readonly #pool: Pool;
  /** Leaves pool clients for the audit store and readers while decisions hold theirs. */
  readonly #writers = new Semaphore(4);

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async init(): Promise<void> {
    await this.#tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
      await c.query(SCHEMA);
    });
  }

  async create(row: ApprovalRow, beforeCommit: () => Promise<void>): Promise<void> {
    const marks = insertValues(row)
      .map((_, i) => `$${i + 1}`)
      .join(', ');
    await this.#tx(async (c) => {
      await c.query(`INSERT INTO approval_requests (${INSERT_COLUMNS}) VALUES (${marks})`, insertValues(row));
      await beforeCommit();
    });
  }

  async get(id: string): Promise<ApprovalRow | undefined> {
    const r = await this.#pool.query<DbRequest>('SELECT * FROM approval_requests WHERE id = $1', [id]);
    const first = r.rows[0];
    if (!first) return undefined;
    return rowFromDb(first, (await this.#votes(this.#pool, [id])).get(id) ?? []);
  }

  async list(q: ListQuery): Promise<ApprovalRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown): string => {
      args.push(v);
      return `$${args.length}`;
    };
    if (q.status) where.push(`r.status = ${arg(q.status)}`);
    if (q.reviewer) {
      const { subject, issuer, groups } = q.reviewer;
      const s = arg(subject);
      const i = arg(issuer);
      where.push(
        `EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.reviewers) g(name) WHERE g.name = ANY(${arg([...groups])}::text[]))`,
        `NOT (r.requester_subject = ${s} AND r.requester_issuer = ${i})`,
        `NOT EXISTS (SELECT 1 FROM approval_votes v WHERE v.approval_id = r.id AND v.reviewer_subject = ${s} AND v.reviewer_issuer = ${i})`,
      );
    }
    const sql =
      `SELECT * FROM approval_requests r ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
      `ORDER BY r.created_at DESC, r.seq DESC LIMIT ${arg(q.limit)}`;
    const rows = (await this.#pool.query<DbRequest>(sql, args)).rows;
    const votes = await this.#votes(
      this.#pool,
      rows.map((r) => r.id),
    );
    return rows.map((r) => rowFromDb(r, votes.get(r.id) ?? []));
  }

  async settled(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const r = await this.#pool.query<{ id: string }>(
      "SELECT id FROM approval_requests WHERE id = ANY($1::text[]) AND status <> 'pending'",
      [[...ids]],
    );
    return r.rows.map((x) => x.id);
  }

  async locked(
    id: string,
    step: (row: ApprovalRow) => Promise<Step>,
  ): Promise<{ row: ApprovalRow; error?: Error }> {
    return this.#tx(async (c) => {
      await c.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      const r = await c.query<DbRequest>('SELECT * FROM approval_requests WHERE id = $1 FOR UPDATE', [id]);
      const first = r.rows[0];
      if (!first) throw new TollgateError(Errors.NOT_FOUND, `approval ${id} not found`);
      const row = rowFromDb(first, (await this.#votes(c, [id])).get(id) ?? []);
      const result = await step(row);
      const m = result.mutation;
      if (!m) return result.error ? { row, error: result.error } : { row };
      const next = apply(row, m);
      if (m.vote) {
        const v = m.vote;
        await c.query(
          'INSERT INTO approval_votes (approval_id, reviewer_issuer, reviewer_subject, reviewer, verdict, reason, at) ' +
            'VALUES ($1, $2, $3, $4, $5, $6, $7)',
          [
            id,
            v.reviewer.issuer,
            v.reviewer.subject,
            JSON.stringify(v.reviewer),
            v.verdict,
            v.reason ?? null,
            v.at,
          ],
        );
      }
      await c.query(
        'UPDATE approval_requests SET status = $2, decided_at = $3, end_reason = $4 WHERE id = $1',
        [id, next.status, next.decidedAt ?? null, next.endReason ?? null],
      );
      await c.query('SELECT pg_notify($1, $2)', [APPROVALS_CHANNEL, id]);
      return result.error ? { row: next, error: result.error } : { row: next };
    });
  }

  async release(id: string, sessionId: string, fingerprint: string, at: number): Promise<boolean> {
    const r = await this.#pool.query(
      `UPDATE approval_requests SET released_at = $4
       WHERE id = $1 AND status = 'approved' AND session_id = $2 AND fingerprint = $3 AND released_at IS NULL`,
      [id, sessionId, fingerprint, at],
    );
    return r.rowCount === 1;
  }

  async #votes(q: Pool | PoolClient, ids: readonly string[]): Promise<Map<string, DbVote[]>> {
    if (ids.length === 0) return new Map();
    const r = await q.query<DbVote>(
      'SELECT approval_id, reviewer, verdict, reason, at FROM approval_votes WHERE approval_id = ANY($1::text[]) ORDER BY at, seq',
      [[...ids]],
    );
    return votesById(r.rows);
  }

  /** One transaction on a dedicated client; rolls back on any error. */
  async #tx<T>(body: (c: PoolClient) => Promise<T>): Promise<T> {
    return this.#writers.run(async () => {
      const c = await this.#pool.connect();
      let broken = false;
      try {
        await c.query('BEGIN');
        const out = await body(c);
        await c.query('COMMIT');
        return out;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw lockTimeout(err);
      } finally {
        c.release(broken);
      }
    });
  }
}

function lockTimeout(err: unknown): unknown {
  if ((err as { code?: unknown })?.code !== '55P03') return err;
  return new TollgateError(
    Errors.APPROVAL_INVALID,
    'another decision on this request is still being recorded',
    {
      hint: 'try again in a few seconds',
      cause: err,
    },
  );
}
