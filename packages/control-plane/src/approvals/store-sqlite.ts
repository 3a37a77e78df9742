import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Errors, TollgateError } from '@tollgate/core';
import type Database from 'better-sqlite3';
import { type ApprovalRow, apply, type Mutation, type Step } from './model';
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS approval_requests (
  id TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
  requester_subject TEXT NOT NULL,
  requester_issuer TEXT NOT NULL,
  requester TEXT NOT NULL,
  resource TEXT NOT NULL,
  session_id TEXT NOT NULL,
  action TEXT NOT NULL,
  command TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  reviewers TEXT NOT NULL,
  approvals_needed INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL,
  audit_seq INTEGER,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  decided_at INTEGER,
  end_reason TEXT,
  released_at INTEGER,
  claim TEXT,
  claim_until INTEGER
);
CREATE INDEX IF NOT EXISTS approval_requests_status ON approval_requests (status, created_at);
CREATE TABLE IF NOT EXISTS approval_votes (
  approval_id TEXT NOT NULL REFERENCES approval_requests (id) ON DELETE CASCADE,
  reviewer_issuer TEXT NOT NULL,
  reviewer_subject TEXT NOT NULL,
  reviewer TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),
  reason TEXT,
  at INTEGER NOT NULL,
  PRIMARY KEY (approval_id, reviewer_issuer, reviewer_subject)
);`;

/**
 * How long a claim holds a request while its decision is audited. A process that dies holding a
 * claim blocks that request for at most this long.
 */
const CLAIM_LEASE_MS = 15_000;
/** How long a decision waits for another process's claim on the same request before giving up. */
const CLAIM_WAIT_MS = 20_000;

/**
 * SQLite approval store. better-sqlite3 transactions are synchronous, and the audit store may
 * write to the same file, so no SQLite transaction is held across the asynchronous audit append.
 * Instead a request is *claimed*: a short `BEGIN IMMEDIATE` transaction checks that nobody else
 * holds it and records a claim token with a lease; the audit runs; a second `BEGIN IMMEDIATE`
 * transaction re-checks the token, applies the change and drops the claim. Two processes deciding
 * on the same request are serialised by the claim, so neither vote is lost.
 */
export class SqliteApprovalStore implements ApprovalStore {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  async init(): Promise<void> {
    this.#db.exec(SCHEMA);
  }

  async create(row: ApprovalRow, beforeCommit: () => Promise<void>): Promise<void> {
    const token = claimToken();
    const marks = INSERT_COLUMNS.split(',')
      .map(() => '?')
      .join(', ');
    this.#db
      .prepare(
        `INSERT INTO approval_requests (${INSERT_COLUMNS}, claim, claim_until) VALUES (${marks}, ?, ?)`,
      )
      .run(...insertValues(row), token, Date.now() + CLAIM_LEASE_MS);
    try {
      await beforeCommit();
    } catch (err) {
      this.#db.prepare('DELETE FROM approval_requests WHERE id = ? AND claim = ?').run(row.id, token);
      throw err;
    }
    this.#unclaim(row.id, token);
  }

  async get(id: string): Promise<ApprovalRow | undefined> {
    const r = this.#db.prepare('SELECT * FROM approval_requests WHERE id = ?').get(id) as
      | DbRequest
      | undefined;
    if (!r) return undefined;
    return rowFromDb(r, this.#votes([id]).get(id) ?? []);
  }

  async list(q: ListQuery): Promise<ApprovalRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.status) {
      where.push('r.status = ?');
      args.push(q.status);
    }
    if (q.reviewer) {
      where.push(
        'EXISTS (SELECT 1 FROM json_each(r.reviewers) g WHERE g.value IN (SELECT value FROM json_each(?)))',
        'NOT (r.requester_subject = ? AND r.requester_issuer = ?)',
        'NOT EXISTS (SELECT 1 FROM approval_votes v WHERE v.approval_id = r.id AND v.reviewer_subject = ? AND v.reviewer_issuer = ?)',
      );
      const { subject, issuer, groups } = q.reviewer;
      args.push(JSON.stringify(groups), subject, issuer, subject, issuer);
    }
    const sql =
      `SELECT * FROM approval_requests r ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
      'ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?';
    const rows = this.#db.prepare(sql).all(...args, q.limit) as DbRequest[];
    const votes = this.#votes(rows.map((r) => r.id));
    return rows.map((r) => rowFromDb(r, votes.get(r.id) ?? []));
  }

  async settled(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = this.#db
      .prepare(
        "SELECT id FROM approval_requests WHERE id IN (SELECT value FROM json_each(?)) AND status <> 'pending'",
      )
      .all(JSON.stringify(ids)) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  async locked(
    id: string,
    step: (row: ApprovalRow) => Promise<Step>,
  ): Promise<{ row: ApprovalRow; error?: Error }> {
    const token = claimToken();
    const row = await this.#acquire(id, token);
    let result: Step;
    try {
      result = await step(row);
    } catch (err) {
      this.#unclaim(id, token);
      throw err;
    }
    const committed = this.#commit(row, token, result.mutation);
    return result.error ? { row: committed, error: result.error } : { row: committed };
  }

  async release(id: string, sessionId: string, fingerprint: string, at: number): Promise<boolean> {
    const r = this.#db
      .prepare(
        `UPDATE approval_requests SET released_at = ?
         WHERE id = ? AND status = 'approved' AND session_id = ? AND fingerprint = ? AND released_at IS NULL`,
      )
      .run(at, id, sessionId, fingerprint);
    return r.changes === 1;
  }

  #votes(ids: readonly string[]): Map<string, DbVote[]> {
    if (ids.length === 0) return new Map();
    const rows = this.#db
      .prepare(
        'SELECT approval_id, reviewer, verdict, reason, at FROM approval_votes ' +
          'WHERE approval_id IN (SELECT value FROM json_each(?)) ORDER BY at, rowid',
      )
      .all(JSON.stringify(ids)) as DbVote[];
    return votesById(rows);
  }

  /** Claims request `id`, waiting (bounded) while another process holds it. */
  async #acquire(id: string, token: string): Promise<ApprovalRow> {
    const deadline = Date.now() + CLAIM_WAIT_MS;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      const row = this.#tryClaim(id, token);
      if (row) return row;
      if (Date.now() + delay > deadline) {
        throw new TollgateError(
          Errors.APPROVAL_INVALID,
          `approval ${id}: another decision on this request is still being recorded`,
          { hint: 'try again in a few seconds' },
        );
      }
      // Contention back-off between processes on one claim; waiters never come through here.
      await sleep(delay + Math.floor(Math.random() * delay));
    }
  }

  #tryClaim(id: string, token: string): ApprovalRow | undefined {
    return this.#db
      .transaction((): ApprovalRow | undefined => {
        const r = this.#db.prepare('SELECT * FROM approval_requests WHERE id = ?').get(id) as
          | (DbRequest & { claim: string | null; claim_until: number | null })
          | undefined;
        if (!r) throw new TollgateError(Errors.NOT_FOUND, `approval ${id} not found`);
        const now = Date.now();
        if (r.claim !== null && (r.claim_until ?? 0) > now) return undefined;
        this.#db
          .prepare('UPDATE approval_requests SET claim = ?, claim_until = ? WHERE id = ?')
          .run(token, now + CLAIM_LEASE_MS, id);
        return rowFromDb(r, this.#votes([id]).get(id) ?? []);
      })
      .immediate();
  }

  #unclaim(id: string, token: string): void {
    this.#db
      .prepare('UPDATE approval_requests SET claim = NULL, claim_until = NULL WHERE id = ? AND claim = ?')
      .run(id, token);
  }

  #commit(row: ApprovalRow, token: string, m: Mutation | undefined): ApprovalRow {
    return this.#db
      .transaction((): ApprovalRow => {
        const held = this.#db.prepare('SELECT claim FROM approval_requests WHERE id = ?').get(row.id) as
          | { claim: string | null }
          | undefined;
        if (held?.claim !== token) {
          throw new TollgateError(
            Errors.APPROVAL_INVALID,
            `approval ${row.id}: the change was not recorded (its lock lease ran out); try again`,
          );
        }
        if (m?.vote) {
          const v = m.vote;
          this.#db
            .prepare(
              'INSERT INTO approval_votes (approval_id, reviewer_issuer, reviewer_subject, reviewer, verdict, reason, at) ' +
                'VALUES (?, ?, ?, ?, ?, ?, ?)',
            )
            .run(
              row.id,
              v.reviewer.issuer,
              v.reviewer.subject,
              JSON.stringify(v.reviewer),
              v.verdict,
              v.reason ?? null,
              v.at,
            );
        }
        const next = m ? apply(row, m) : row;
        this.#db
          .prepare(
            'UPDATE approval_requests SET status = ?, decided_at = ?, end_reason = ?, claim = NULL, claim_until = NULL WHERE id = ?',
          )
          .run(next.status, next.decidedAt ?? null, next.endReason ?? null, row.id);
        return next;
      })
      .immediate();
  }
}

function claimToken(): string {
  return randomBytes(12).toString('base64url');
}
