import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Errors, TollgateError } from '../errors';
import type { ApprovalGate, ApprovalRequest, ApprovalRequestInput } from './approvals';
import type { AuditEventInput, AuditRecord, AuditSink } from './audit';
import { type CredentialVault, Secret } from './credentials';
import type { Authenticator, Identity, PresentedPublicKey } from './identity';
import type {
  ActionRequest,
  CredentialRef,
  Decision,
  MaskingProfile,
  PolicyDecider,
  Resource,
} from './policy';

/**
 * An in-memory control plane for adapter unit tests: the same interfaces as the real one
 * (SQLite/PostgreSQL stores, OIDC, policy files), none of the persistence. Not for production.
 */

export class MemoryAuditSink implements AuditSink {
  readonly records: AuditRecord[] = [];
  /** When set, `append` rejects as a full or unreachable store would. */
  failing: string | undefined;

  async append(event: AuditEventInput): Promise<AuditRecord> {
    if (this.failing !== undefined) {
      throw new TollgateError(Errors.AUDIT_UNAVAILABLE, `audit store unavailable: ${this.failing}`);
    }
    const prevHash = this.records.at(-1)?.hash ?? '0'.repeat(64);
    const base = { ...event, at: event.at ?? Date.now(), seq: this.records.length + 1, prevHash };
    const record: AuditRecord = {
      ...base,
      hash: createHash('sha256').update(JSON.stringify(base)).digest('hex'),
    };
    this.records.push(record);
    return record;
  }
}

export class StaticAuthenticator implements Authenticator {
  constructor(
    private readonly tokens: ReadonlyMap<string, Identity>,
    private readonly keys: ReadonlyMap<string, Identity> = new Map(),
  ) {}
  async authenticateToken(token: string): Promise<Identity> {
    const id = this.tokens.get(token);
    if (!id) throw new TollgateError(Errors.AUTH_FAILED, 'token not recognised');
    return id;
  }
  async authenticatePublicKey(key: PresentedPublicKey): Promise<Identity | undefined> {
    return this.keys.get(`${key.algorithm} ${key.data.toString('base64')}`);
  }
}

export class StaticPolicy implements PolicyDecider {
  constructor(
    private readonly decideFn: (req: ActionRequest) => Decision,
    private readonly resources: ReadonlyMap<string, Resource> = new Map(),
    private readonly profiles: ReadonlyMap<string, MaskingProfile> = new Map(),
  ) {}
  decide(req: ActionRequest): Decision {
    return this.decideFn(req);
  }
  resource(name: string): Resource | undefined {
    return this.resources.get(name);
  }
  maskingProfile(name: string): MaskingProfile | undefined {
    return this.profiles.get(name);
  }
}

export class MemoryVault implements CredentialVault {
  constructor(private readonly values: ReadonlyMap<string, string>) {}
  async resolve(ref: CredentialRef): Promise<Secret> {
    const name = 'env' in ref ? ref.env : ref.file;
    const v = this.values.get(name);
    if (v === undefined)
      throw new TollgateError(Errors.CREDENTIAL_UNAVAILABLE, `credential ${name} is not set`);
    return new Secret(v);
  }
}

/**
 * Approvals held in memory. Tests decide with `approve` / `deny` (n-of-m, no self-approval,
 * reason to deny) and waiters wake at once; expiry uses a timer.
 */
export class MemoryApprovals implements ApprovalGate {
  readonly #requests = new Map<string, ApprovalRequest>();
  readonly #events = new EventEmitter();
  readonly #released = new Set<string>();

  async request(input: ApprovalRequestInput): Promise<ApprovalRequest> {
    const now = Date.now();
    const r: ApprovalRequest = {
      ...input,
      id: `apr_${randomBytes(12).toString('hex')}`,
      status: 'pending',
      createdAt: now,
      expiresAt: now + input.requirement.timeoutMs,
      votes: [],
      endReason: undefined,
    };
    this.#requests.set(r.id, r);
    setTimeout(() => this.#end(r.id, 'expired', 'timed out'), input.requirement.timeoutMs).unref();
    return r;
  }

  get(id: string): ApprovalRequest {
    const r = this.#requests.get(id);
    if (!r) throw new TollgateError(Errors.NOT_FOUND, `no approval request ${id}`);
    return r;
  }

  pending(): ApprovalRequest[] {
    return [...this.#requests.values()].filter((r) => r.status === 'pending');
  }

  approve(id: string, reviewer: Identity): ApprovalRequest {
    const r = this.#pending(id, reviewer);
    const votes = [
      ...r.votes,
      { reviewer: reviewer.subject, verdict: 'approve' as const, reason: undefined, at: Date.now() },
    ];
    const done = votes.length >= r.requirement.approvals;
    return this.#set({ ...r, votes, status: done ? 'approved' : 'pending' });
  }

  deny(id: string, reviewer: Identity, reason: string): ApprovalRequest {
    if (!reason.trim()) throw new TollgateError(Errors.APPROVAL_INVALID, 'a reason is required to deny');
    const r = this.#pending(id, reviewer);
    const votes = [
      ...r.votes,
      { reviewer: reviewer.subject, verdict: 'deny' as const, reason, at: Date.now() },
    ];
    return this.#set({ ...r, votes, status: 'denied', endReason: reason });
  }

  wait(id: string, opts: { signal?: AbortSignal } = {}): Promise<ApprovalRequest> {
    return new Promise((resolve) => {
      const check = () => {
        const r = this.get(id);
        if (r.status === 'pending') return false;
        this.#events.off(id, check);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(r);
        return true;
      };
      const onAbort = () => this.#end(id, 'cancelled', String(opts.signal?.reason ?? 'aborted'));
      if (check()) return;
      this.#events.on(id, check);
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async releases(id: string, sessionId: string, fingerprint: string): Promise<boolean> {
    const r = this.#requests.get(id);
    if (r?.status !== 'approved' || r.sessionId !== sessionId || r.fingerprint !== fingerprint) return false;
    if (this.#released.has(id)) return false;
    this.#released.add(id);
    return true;
  }

  #pending(id: string, reviewer: Identity): ApprovalRequest {
    const r = this.get(id);
    if (r.status !== 'pending')
      throw new TollgateError(Errors.APPROVAL_INVALID, `approval ${id} is already ${r.status}`);
    if (reviewer.subject === r.requester.subject && reviewer.issuer === r.requester.issuer) {
      throw new TollgateError(Errors.APPROVAL_INVALID, 'you cannot approve your own request');
    }
    if (r.votes.some((v) => v.reviewer === reviewer.subject)) {
      throw new TollgateError(Errors.APPROVAL_INVALID, `${reviewer.subject} has already voted on ${id}`);
    }
    return r;
  }

  #end(id: string, status: 'expired' | 'cancelled', reason: string): void {
    const r = this.#requests.get(id);
    if (r?.status === 'pending') this.#set({ ...r, status, endReason: reason });
  }

  #set(r: ApprovalRequest): ApprovalRequest {
    this.#requests.set(r.id, r);
    this.#events.emit(r.id);
    return r;
  }
}
