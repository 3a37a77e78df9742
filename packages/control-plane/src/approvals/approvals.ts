import {
  type ApprovalGate,
  type ApprovalRequest,
  type ApprovalRequestInput,
  type ApprovalStatus,
  type AuditEventInput,
  type AuditSink,
  Errors,
  type Identity,
  identityRef,
  TollgateError,
} from '@tollgate/core';
import type { StoreDb } from '../store/database';
import { KeyedMutex } from './locks';
import {
  type ApprovalRow,
  approvalCount,
  cleanReason,
  LIMITS,
  newRow,
  notPending,
  type Step,
  type StoredVote,
  toRequest,
  voteRefusal,
} from './model';
import type { ApprovalStore } from './store';
import { PostgresApprovalStore } from './store-postgres';
import { SqliteApprovalStore } from './store-sqlite';
import { NoWake, PostgresWake, SqliteWake, type WakeSource } from './wake';
import { deliverWebhook, type WebhookTarget, webhookPayload } from './webhook';

export interface ApprovalsOptions {
  /**
   * Where every request and status change is recorded (`approval.request`,
   * `approval.decision`). An operation resolves only after its audit record is durable; when the
   * sink fails, the operation fails with `AUDIT_UNAVAILABLE` and changes nothing.
   */
  audit: AuditSink;
  /** Optional signed notification of each new request (see docs/approvals.md). */
  webhook?: WebhookTarget;
  /** Clock in epoch milliseconds (default `Date.now`); tests move it to reach expiry. */
  now?: () => number;
  /** Operational log lines (webhook failures, lost LISTEN connection); default: stderr. */
  log?: (line: string) => void;
}

export interface ApprovalListFilter {
  status?: ApprovalStatus;
  /**
   * Only requests this identity may decide: one of its groups is a reviewer group, it is not the
   * requester, and it has not voted on the request yet.
   */
  reviewer?: Identity;
  /** Newest first; default 100, at most 1000. */
  limit?: number;
}

/** Counters for metrics and tests; `wakeups` counts waited requests resolved, by what woke them. */
export interface ApprovalsStats {
  readonly requests: number;
  readonly decisions: number;
  readonly waiting: number;
  readonly wakeups: {
    /** A decision, cancellation or expiry made through this instance. */
    readonly local: number;
    /** Another process or gateway (PostgreSQL NOTIFY, SQLite signal file). */
    readonly remote: number;
    /** The expiry timer. */
    readonly timer: number;
  };
}

type WakeKind = keyof ApprovalsStats['wakeups'];

interface Waiter {
  resolve(r: ApprovalRequest): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** setTimeout's longest delay; longer expiries re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const SWEEP_CHUNK = 500;

/**
 * Just-in-time approvals on the control-plane store (SQLite or PostgreSQL).
 *
 * Lifecycle of a request: an adapter whose policy says `require-approval` calls `request()`
 * (durable, audited, webhook announced) and then `wait()`. Reviewers call `approve()` / `deny()`
 * (from the CLI or the HTTP API, in this process or another one). The waiter resolves as soon as
 * the request leaves `pending` — approved, denied, expired (at `expiresAt`) or cancelled (the
 * waiter's signal aborted) — and the adapter calls `releases()` before running the command.
 *
 * Rules: no self-approval (reviewer subject and issuer equal the requester's), the reviewer must be
 * in one of the requirement's reviewer groups, one vote per reviewer, a reason is required to
 * deny; `approvals` distinct approvals approve, one deny denies. A request that left `pending`
 * accepts no further vote. Votes are serialised per request across processes and gateways, so
 * concurrent votes all count and a request is approved exactly once.
 *
 * Wake-ups, without polling: in-process event when the decision is made through this instance;
 * PostgreSQL LISTEN/NOTIFY from other gateways; on SQLite, a signal file watched with `fs.watch`
 * for other processes on the same database file; a timer at `expiresAt` for expiry.
 *
 * `close()` does not close the `StoreDb`, which the caller owns.
 */
export class Approvals implements ApprovalGate {
  readonly #store: ApprovalStore;
  readonly #wake: WakeSource;
  readonly #audit: AuditSink;
  readonly #webhook: WebhookTarget | undefined;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  readonly #mutex = new KeyedMutex();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Ids being re-read; `true` when another re-read was asked for meanwhile. */
  readonly #checking = new Map<string, boolean>();
  readonly #deliveries = new Set<Promise<void>>();
  #sweeping = false;
  #sweepAgain = false;
  #closed = false;
  readonly #stats = { requests: 0, decisions: 0, wakeups: { local: 0, remote: 0, timer: 0 } };

  private constructor(db: StoreDb, opts: ApprovalsOptions) {
    this.#audit = opts.audit;
    this.#webhook = opts.webhook;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    const onChange = (id: string | undefined): void => (id ? this.#check(id, 'remote') : this.#sweep());
    if (db.kind === 'sqlite') {
      this.#store = new SqliteApprovalStore(db.db);
      const inMemory = db.path === '' || db.path === ':memory:' || db.db.memory;
      this.#wake = inMemory ? new NoWake() : new SqliteWake(db.path, onChange, this.#log);
    } else {
      this.#store = new PostgresApprovalStore(db.pool);
      this.#wake = new PostgresWake(db.config, onChange, this.#log);
    }
  }

  /** Creates the approval tables if needed (`CREATE TABLE IF NOT EXISTS`) and returns the service. */
  static async open(db: StoreDb, opts: ApprovalsOptions): Promise<Approvals> {
    const a = new Approvals(db, opts);
    await a.#store.init();
    return a;
  }

  /**
   * Records a durable pending request and its `approval.request` audit event (before resolving),
   * then announces it to the webhook without waiting for it. Rejects with `APPROVAL_INVALID` for a
   * malformed input and `AUDIT_UNAVAILABLE` (nothing stored) when the audit sink fails.
   */
  async request(input: ApprovalRequestInput): Promise<ApprovalRequest> {
    this.#ensureOpen();
    const row = newRow(input, this.#now());
    await this.#store.create(row, () =>
      this.#record({
        type: 'approval.request',
        at: row.createdAt,
        sessionId: row.sessionId,
        identity: row.requester,
        resource: row.resource,
        action: row.action,
        decision: 'require-approval',
        approvalId: row.id,
        data: {
          command: row.command,
          fingerprint: row.fingerprint,
          reviewers: [...row.requirement.reviewers],
          approvalsNeeded: row.requirement.approvals,
          timeoutMs: row.requirement.timeoutMs,
          expiresAt: row.expiresAt,
          ...(row.auditSeq === undefined ? {} : { commandSeq: row.auditSeq }),
        },
      }),
    );
    this.#stats.requests++;
    this.#announce(row);
    return toRequest(row);
  }

  /**
   * Resolves once request `id` leaves `pending` (approved, denied, expired, cancelled), at once
   * when it already has. Aborting `signal` cancels the request (`cancelled`, `endReason` from
   * `signal.reason`, audited) and resolves with it. Rejects with `NOT_FOUND` for an unknown id, and
   * with `AUDIT_UNAVAILABLE` when expiry or cancellation cannot be audited — the held command must
   * then be refused.
   */
  async wait(id: string, opts?: { signal?: AbortSignal }): Promise<ApprovalRequest> {
    this.#ensureOpen();
    const signal = opts?.signal;
    const row = await this.#current(id);
    if (row.status !== 'pending') return toRequest(row);
    if (signal?.aborted) return toRequest(await this.#cancel(id, abortReason(signal)));
    return new Promise<ApprovalRequest>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (signal) {
        w.signal = signal;
        w.onAbort = () => this.#abort(id, w, signal);
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      const set = this.#waiters.get(id) ?? new Set<Waiter>();
      this.#waiters.set(id, set);
      set.add(w);
      this.#arm(id, row.expiresAt);
      this.#wake.start();
      // A decision may have landed between the read above and the registration.
      this.#check(id, 'remote');
    });
  }

  /**
   * True only for an approved request made for exactly this session and fingerprint, and only
   * the first time: releasing consumes the approval, so it can never run a second command, not
   * even the same text again later in the session. False for an unknown id.
   */
  async releases(id: string, sessionId: string, fingerprint: string): Promise<boolean> {
    this.#ensureOpen();
    if (typeof id !== 'string' || typeof sessionId !== 'string' || typeof fingerprint !== 'string')
      return false;
    return this.#store.release(id, sessionId, fingerprint, this.#now());
  }

  /** The request with its votes; a pending request past `expiresAt` is expired first. `NOT_FOUND` if unknown. */
  async get(id: string): Promise<ApprovalRequest> {
    this.#ensureOpen();
    return toRequest(await this.#current(id));
  }

  /** Requests newest first, filtered; pending requests past `expiresAt` are expired first. */
  async list(filter: ApprovalListFilter = {}): Promise<ApprovalRequest[]> {
    this.#ensureOpen();
    const limit = Math.min(Math.max(Math.trunc(filter.limit ?? LIMITS.listDefault), 1), LIMITS.listMax);
    const rows = await this.#store.list({ status: filter.status, reviewer: filter.reviewer, limit });
    const out: ApprovalRow[] = [];
    for (const r of rows) {
      const row = this.#due(r) ? await this.#expire(r.id, 'local') : r;
      if (filter.status === undefined || row.status === filter.status) out.push(row);
    }
    return out.map(toRequest);
  }

  /**
   * Records an approval by `reviewer`. When it is the n-th distinct approval the request becomes
   * `approved` and its waiter is woken. Refusals: `NOT_FOUND`; `APPROVAL_INVALID` for
   * self-approval, a second vote by the same reviewer, or a request that is no longer pending
   * (the message names its status); `FORBIDDEN` when the reviewer is in no reviewer group;
   * `AUDIT_UNAVAILABLE` (vote not recorded) when the audit sink fails.
   */
  async approve(id: string, reviewer: Identity, reason?: string): Promise<ApprovalRequest> {
    this.#ensureOpen();
    return toRequest(await this.#vote(id, reviewer, 'approve', cleanReason(reason)));
  }

  /** Denies the request (one deny is final). A non-blank `reason` is required; else as `approve`. */
  async deny(id: string, reviewer: Identity, reason: string): Promise<ApprovalRequest> {
    this.#ensureOpen();
    const why = cleanReason(reason);
    if (why === undefined) {
      throw new TollgateError(Errors.APPROVAL_INVALID, `approval ${id}: a reason is required to deny`);
    }
    return toRequest(await this.#vote(id, reviewer, 'deny', why));
  }

  stats(): ApprovalsStats {
    let waiting = 0;
    for (const s of this.#waiters.values()) waiting += s.size;
    return { ...this.#stats, wakeups: { ...this.#stats.wakeups }, waiting };
  }

  /**
   * Stops the service: requests still being waited on here are cancelled (`gateway shutting
   * down`) and their waiters resolve; pending webhook deliveries finish (bounded by their
   * timeout). The `StoreDb` stays open.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await Promise.all(
      [...this.#waiters.keys()].map((id) =>
        this.#cancel(id, 'gateway shutting down').catch((err: unknown) => this.#fail(id, err)),
      ),
    );
    await this.#mutex.idle();
    await Promise.all([...this.#deliveries]);
    await this.#wake.close();
  }

  // --- decisions -------------------------------------------------------------------------------

  async #vote(
    id: string,
    reviewer: Identity,
    verdict: 'approve' | 'deny',
    reason: string | undefined,
  ): Promise<ApprovalRow> {
    const row = await this.#change(
      id,
      async (row): Promise<Step> => {
        if (this.#due(row)) return this.#expiryStep(row, true);
        const refusal = voteRefusal(row, reviewer);
        if (refusal) throw refusal;
        const at = this.#now();
        const vote: StoredVote = { reviewer: identityRef(reviewer), verdict, reason, at };
        const approvals = approvalCount([...row.votes, vote]);
        const needed = row.requirement.approvals;
        const status: ApprovalStatus =
          verdict === 'deny' ? 'denied' : approvals >= needed ? 'approved' : 'pending';
        await this.#record({
          ...this.#eventBase(row, at, status),
          identity: identityRef(reviewer),
          data: {
            reviewer: reviewer.subject,
            reviewerIssuer: reviewer.issuer,
            verdict,
            reason: reason ?? null,
            status,
            approvals,
            approvalsNeeded: needed,
          },
        });
        return { mutation: status === 'pending' ? { vote } : { vote, status, decidedAt: at } };
      },
      'local',
    );
    this.#stats.decisions++;
    return row;
  }

  /** Marks a pending request cancelled; a request that already left pending is returned as is. */
  #cancel(id: string, reason: string): Promise<ApprovalRow> {
    return this.#change(
      id,
      async (row): Promise<Step> => {
        if (row.status !== 'pending') return {};
        const at = this.#now();
        await this.#record({
          ...this.#eventBase(row, at, 'cancelled'),
          identity: row.requester,
          data: { reviewer: null, verdict: null, reason, status: 'cancelled' },
        });
        return { mutation: { status: 'cancelled', decidedAt: at, endReason: reason } };
      },
      'local',
    );
  }

  #expire(id: string, source: WakeKind): Promise<ApprovalRow> {
    return this.#change(
      id,
      (row) => (this.#due(row) ? this.#expiryStep(row, false) : Promise.resolve({})),
      source,
    );
  }

  /** Durably expires `row` (audited); with `refuse`, the caller then gets the not-pending error. */
  async #expiryStep(row: ApprovalRow, refuse: boolean): Promise<Step> {
    const at = this.#now();
    await this.#record({
      ...this.#eventBase(row, at, 'expired'),
      identity: row.requester,
      data: { reviewer: null, verdict: null, reason: 'no decision before expiresAt', status: 'expired' },
    });
    const step: Step = { mutation: { status: 'expired', decidedAt: at } };
    return refuse ? { ...step, error: notPending({ ...row, status: 'expired' }) } : step;
  }

  /**
   * Runs `step` with the request locked (per id in this process, and across processes by the
   * store), then tells other processes and wakes local waiters if it changed something.
   */
  async #change(
    id: string,
    step: (row: ApprovalRow) => Promise<Step>,
    source: WakeKind,
  ): Promise<ApprovalRow> {
    let changed = false;
    const { row, error } = await this.#mutex.run(id, () =>
      this.#store.locked(id, async (r) => {
        const s = await step(r);
        changed = s.mutation !== undefined;
        return s;
      }),
    );
    if (changed) {
      this.#wake.committed(id);
      if (row.status !== 'pending') this.#settle(id, row, source);
    }
    if (error) throw error;
    return row;
  }

  #eventBase(row: ApprovalRow, at: number, decision: ApprovalStatus): AuditEventInput {
    return {
      type: 'approval.decision',
      at,
      sessionId: row.sessionId,
      resource: row.resource,
      action: row.action,
      decision,
      approvalId: row.id,
    };
  }

  /** Appends to the audit sink; any failure becomes `AUDIT_UNAVAILABLE` and aborts the change. */
  async #record(event: AuditEventInput): Promise<void> {
    try {
      await this.#audit.append(event);
    } catch (err) {
      if (err instanceof TollgateError && err.kind === Errors.AUDIT_UNAVAILABLE) throw err;
      throw new TollgateError(
        Errors.AUDIT_UNAVAILABLE,
        'the audit store cannot write; the approval change was not made',
        {
          cause: err,
        },
      );
    }
  }

  #announce(row: ApprovalRow): void {
    const target = this.#webhook;
    if (!target) return;
    const p = deliverWebhook(target, webhookPayload(row), this.#now()).then((line) => {
      if (line) this.#log(line);
    });
    this.#deliveries.add(p);
    void p.finally(() => this.#deliveries.delete(p));
  }

  // --- waiting ---------------------------------------------------------------------------------

  async #current(id: string): Promise<ApprovalRow> {
    const row = await this.#store.get(id);
    if (!row) throw new TollgateError(Errors.NOT_FOUND, `approval ${id} not found`);
    return this.#due(row) ? this.#expire(id, 'local') : row;
  }

  #due(row: ApprovalRow): boolean {
    return row.status === 'pending' && this.#now() >= row.expiresAt;
  }

  #abort(id: string, w: Waiter, signal: AbortSignal): void {
    this.#cancel(id, abortReason(signal)).then(
      (row) => {
        // Cancelled here (or decided just before): every waiter of `id` has been settled, this one too.
        if (this.#waiters.get(id)?.has(w)) this.#settle(id, row, 'local');
      },
      (err: unknown) => {
        this.#drop(id, w);
        w.reject(err);
      },
    );
  }

  /** Re-reads a waited request and resolves its waiters if it left pending (coalesced per id). */
  #check(id: string, source: WakeKind): void {
    if (!this.#waiters.has(id)) return;
    if (this.#checking.has(id)) {
      this.#checking.set(id, true);
      return;
    }
    this.#checking.set(id, false);
    void (async () => {
      try {
        do {
          this.#checking.set(id, false);
          const row = await this.#store.get(id);
          if (!row) throw new TollgateError(Errors.NOT_FOUND, `approval ${id} not found`);
          if (row.status !== 'pending') this.#settle(id, row, source);
          else if (this.#due(row)) await this.#expire(id, source);
          else this.#arm(id, row.expiresAt);
        } while (this.#checking.get(id) === true && this.#waiters.has(id));
      } catch (err) {
        this.#fail(id, err);
      } finally {
        this.#checking.delete(id);
      }
    })();
  }

  /** Re-checks every waited request that another process may have changed. */
  #sweep(): void {
    if (this.#sweeping) {
      this.#sweepAgain = true;
      return;
    }
    this.#sweeping = true;
    void (async () => {
      try {
        do {
          this.#sweepAgain = false;
          const ids = [...this.#waiters.keys()];
          for (let i = 0; i < ids.length; i += SWEEP_CHUNK) {
            for (const id of await this.#store.settled(ids.slice(i, i + SWEEP_CHUNK)))
              this.#check(id, 'remote');
          }
        } while (this.#sweepAgain);
      } catch (err) {
        this.#log(`approvals: re-reading waited requests failed: ${(err as Error).message}`);
      } finally {
        this.#sweeping = false;
      }
    })();
  }

  #arm(id: string, expiresAt: number): void {
    if (this.#timers.has(id) || this.#closed) return;
    const delay = Math.min(Math.max(expiresAt - this.#now(), 0), MAX_TIMER_MS);
    const t = setTimeout(() => {
      this.#timers.delete(id);
      this.#check(id, 'timer');
    }, delay);
    t.unref();
    this.#timers.set(id, t);
  }

  #settle(id: string, row: ApprovalRow, source: WakeKind): void {
    const set = this.#waiters.get(id);
    if (!set) return;
    this.#forget(id);
    this.#stats.wakeups[source]++;
    const req = toRequest(row);
    for (const w of set) {
      detach(w);
      w.resolve(req);
    }
  }

  #fail(id: string, err: unknown): void {
    const set = this.#waiters.get(id);
    if (!set) return;
    this.#forget(id);
    for (const w of set) {
      detach(w);
      w.reject(err);
    }
  }

  #drop(id: string, w: Waiter): void {
    const set = this.#waiters.get(id);
    detach(w);
    if (!set?.delete(w) || set.size > 0) return;
    this.#forget(id);
  }

  #forget(id: string): void {
    this.#waiters.delete(id);
    const t = this.#timers.get(id);
    if (t) clearTimeout(t);
    this.#timers.delete(id);
    if (this.#waiters.size === 0) this.#wake.idle();
  }

  #ensureOpen(): void {
    if (this.#closed) throw new Error('Approvals: used after close()');
  }
}

function detach(w: Waiter): void {
  if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
}

/** A short text for `endReason`: the abort reason's string or message, else `aborted`. */
function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  let text = 'aborted';
  if (typeof r === 'string') text = r;
  else if (r instanceof Error && r.name !== 'AbortError' && r.message) text = r.message;
  return text.slice(0, 200) || 'aborted';
}
