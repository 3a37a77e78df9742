import { randomBytes } from 'node:crypto';
import type { ApprovalGate, ApprovalRequest } from '../control/approvals';
import type { AppendOptions, AuditEventInput, AuditSink } from '../control/audit';
import { type Identity, identityRef } from '../control/identity';
import type { ActionRequest, Decision, PolicyDecider, Protocol } from '../control/policy';
import { Errors, TollgateError } from '../errors';

/**
 * The session pipeline every protocol adapter runs each command through:
 *
 *   classify (adapter) → decide (policy) → audit, write-ahead → forward | hold | reject
 *   … forward (adapter) → mask (adapter) → audit the result
 *
 * Outcomes are explicit values, not booleans: a command held for approval is a state of its
 * own (`hold`), which the adapter resolves with `awaitApproval` while its client waits.
 * Nothing is forwarded unless a durable audit record says so: if the audit store cannot
 * write, the command is rejected (fail closed).
 */

export interface SessionInfo {
  /** `ses_` + 16 random hex characters; in every audit record of the session. */
  readonly id: string;
  readonly protocol: Protocol;
  readonly identity: Identity;
  readonly resource: string;
  /** Client address as `ip:port`. */
  readonly remote: string;
  readonly startedAt: number;
}

export function newSessionId(): string {
  return `ses_${randomBytes(8).toString('hex')}`;
}

/** The control plane as the pipeline uses it. */
export interface PipelinePorts {
  readonly policy: PolicyDecider;
  readonly approvals: ApprovalGate;
  readonly audit: AuditSink;
}

export interface CommandInput {
  /** Action class from the adapter's classifier. */
  readonly action: string;
  /** Command text as reviewers and auditors see it: already masked. */
  readonly text: string;
  /** Normalised fingerprint; an approval releases only this command. */
  readonly fingerprint: string;
  readonly detail?: ActionRequest['detail'];
  /** Extra audit fields (masked parameters, classifier reasons, tables). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** Forward: the write-ahead record is durable (`auditSeq`). */
export interface Forward {
  readonly kind: 'forward';
  readonly auditSeq: number;
  readonly decision: Decision;
  readonly approvalId: string | undefined;
  /** Masking profile for the results, from the deciding rule. */
  readonly masking: string | undefined;
}

export interface Reject {
  readonly kind: 'reject';
  readonly error: TollgateError;
  readonly auditSeq: number | undefined;
}

/** Held until reviewers decide; resolve with `awaitApproval`. */
export interface Hold {
  readonly kind: 'hold';
  readonly approval: ApprovalRequest;
  readonly until: number;
  readonly command: CommandInput;
  readonly decision: Decision & { effect: 'require-approval' };
}

export type Verdict = Forward | Reject | Hold;

export interface ResultSummary {
  readonly rows?: number;
  readonly bytes?: number;
  readonly durationMs: number;
  /** Masked values per entity. */
  readonly masked?: Readonly<Record<string, number>>;
  /** SQLSTATE / exit status / HTTP status when the command failed at the target. */
  readonly errorCode?: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

export class SessionPipeline {
  /**
   * The identity as every record of the session carries it: built once and frozen, so that the
   * audit store can reuse its canonical form instead of serialising it per record.
   */
  readonly #identity: Identity;

  constructor(
    readonly session: SessionInfo,
    private readonly ports: PipelinePorts,
  ) {
    const ref = identityRef(session.identity);
    this.#identity = Object.freeze({ ...ref, groups: Object.freeze([...ref.groups]) });
  }

  /**
   * Opens a session for an authenticated identity: a new session id, then `auth.success` and
   * `session.start` records. Rejects (AUDIT_UNAVAILABLE) when they cannot be written: no
   * session without its records.
   */
  static async open(
    ports: PipelinePorts,
    s: Pick<SessionInfo, 'protocol' | 'identity' | 'resource' | 'remote'>,
    data: { auth?: Record<string, unknown>; start?: Record<string, unknown> } = {},
  ): Promise<SessionPipeline> {
    const pipeline = new SessionPipeline({ ...s, id: newSessionId(), startedAt: Date.now() }, ports);
    try {
      await pipeline.#append({
        type: 'auth.success',
        data: { protocol: s.protocol, remote: s.remote, ...data.auth },
      });
    } catch (err) {
      throw asAuditError(err);
    }
    await pipeline.start(data.start);
    return pipeline;
  }

  /** Records the session start; a failure here refuses the session. */
  async start(data: Record<string, unknown> = {}): Promise<void> {
    await this.#append({
      type: 'session.start',
      data: { protocol: this.session.protocol, remote: this.session.remote, ...data },
    });
  }

  async end(data: Record<string, unknown> = {}): Promise<void> {
    await this.#append({
      type: 'session.end',
      data: { durationMs: Date.now() - this.session.startedAt, ...data },
    }).catch(() => {});
  }

  /** What the policy says about one command (no record written). */
  decide(cmd: CommandInput): Decision {
    return this.ports.policy.decide({
      identity: this.session.identity,
      resource: this.session.resource,
      action: cmd.action,
      ...(cmd.detail ? { detail: cmd.detail } : {}),
    });
  }

  /**
   * Writes a command's write-ahead record; resolves with its position once durable. Rejects
   * with `AUDIT_UNAVAILABLE` when the store cannot write: the caller must not forward.
   */
  async record(cmd: CommandInput, decision: string, d: Decision, approvalId?: string): Promise<number> {
    try {
      return await this.#commandRecord(cmd, decision, approvalId, d);
    } catch (err) {
      throw asAuditError(err);
    }
  }

  /** The error a denial answers with. */
  denial(cmd: CommandInput, decision: Decision & { effect: 'deny' }): TollgateError {
    return new TollgateError(
      Errors.ACCESS_DENIED,
      `policy denies ${cmd.action} on ${this.session.resource}: ${decision.reason}`,
      {
        hint: decision.rule ? `rule '${decision.rule}'` : 'no rule allows this (deny by default)',
      },
    );
  }

  /** Records the held command and opens its approval request. */
  async hold(cmd: CommandInput, decision: Decision & { effect: 'require-approval' }): Promise<Hold | Reject> {
    let seq: number;
    try {
      seq = await this.#commandRecord(cmd, decision.effect, undefined, decision);
    } catch (err) {
      return { kind: 'reject', error: asAuditError(err), auditSeq: undefined };
    }
    try {
      const approval = await this.ports.approvals.request({
        requester: this.session.identity,
        resource: this.session.resource,
        sessionId: this.session.id,
        action: cmd.action,
        command: cmd.text,
        fingerprint: cmd.fingerprint,
        requirement: decision.approval,
        auditSeq: seq,
      });
      return { kind: 'hold', approval, until: approval.expiresAt, command: cmd, decision };
    } catch (err) {
      return { kind: 'reject', error: asAuditError(err), auditSeq: seq };
    }
  }

  /** Decides one command and writes its write-ahead record (decide + record + hold). */
  async command(cmd: CommandInput): Promise<Verdict> {
    const decision = this.decide(cmd);
    if (decision.effect === 'require-approval') return this.hold(cmd, decision);
    let seq: number;
    try {
      seq = await this.#commandRecord(cmd, decision.effect, undefined, decision);
    } catch (err) {
      return { kind: 'reject', error: asAuditError(err), auditSeq: undefined };
    }
    if (decision.effect === 'deny')
      return { kind: 'reject', auditSeq: seq, error: this.denial(cmd, decision) };
    return { kind: 'forward', auditSeq: seq, decision, approvalId: undefined, masking: decision.masking };
  }

  /**
   * Waits for reviewers. Approved → a second write-ahead record (`approved`, with the approval
   * id) and forward; denied / expired → reject (42501, hint names the approval id). Aborting
   * (client gone) cancels the request, which the approvals service audits.
   */
  async awaitApproval(hold: Hold, signal?: AbortSignal): Promise<Forward | Reject> {
    const done = await this.ports.approvals.wait(hold.approval.id, signal ? { signal } : {});
    const id = done.id;
    const hint = `approval request ${id}`;
    const why = done.endReason ?? done.votes.find((v) => v.verdict === 'deny')?.reason;
    if (done.status === 'approved') {
      const released = await this.ports.approvals.releases(id, this.session.id, hold.command.fingerprint);
      if (released) {
        try {
          const seq = await this.#commandRecord(hold.command, 'approved', id, hold.decision);
          return {
            kind: 'forward',
            auditSeq: seq,
            decision: hold.decision,
            approvalId: id,
            masking: hold.decision.masking,
          };
        } catch (err) {
          return { kind: 'reject', error: asAuditError(err), auditSeq: undefined };
        }
      }
    }
    const seq = await this.#commandRecord(
      hold.command,
      done.status === 'approved' ? 'not-released' : done.status,
      id,
      hold.decision,
    ).catch(() => undefined);
    const error =
      done.status === 'expired'
        ? new TollgateError(
            Errors.APPROVAL_EXPIRED,
            `approval for ${hold.command.action} on ${this.session.resource} expired without a decision`,
            { hint },
          )
        : done.status === 'denied'
          ? new TollgateError(
              Errors.APPROVAL_DENIED,
              `approval for ${hold.command.action} on ${this.session.resource} was denied${why ? `: ${why}` : ''}`,
              { hint },
            )
          : new TollgateError(
              Errors.APPROVAL_DENIED,
              `approval ${done.status}${done.endReason ? `: ${done.endReason}` : ''}`,
              { hint },
            );
    return { kind: 'reject', error, auditSeq: seq };
  }

  /** Records what a forwarded command did. */
  async result(auditSeq: number, r: ResultSummary): Promise<void> {
    await this.#append(
      {
        type: 'command.result',
        data: {
          commandSeq: auditSeq,
          durationMs: r.durationMs,
          ...(r.rows !== undefined ? { rows: r.rows } : {}),
          ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
          ...(r.masked && Object.keys(r.masked).length ? { masked: r.masked } : {}),
          ...(r.errorCode ? { errorCode: r.errorCode } : {}),
          ...r.data,
        },
      },
      { lazy: true },
    );
  }

  async #commandRecord(
    cmd: CommandInput,
    decision: string,
    approvalId: string | undefined,
    d: Decision,
  ): Promise<number> {
    const rec = await this.#append({
      type: 'command',
      action: cmd.action,
      decision,
      ...(approvalId ? { approvalId } : {}),
      data: { text: cmd.text, fingerprint: cmd.fingerprint, rule: d.rule, ...cmd.data },
    });
    return rec.seq;
  }

  #append(e: Omit<AuditEventInput, 'sessionId' | 'identity' | 'resource'>, options?: AppendOptions) {
    return this.ports.audit.append(
      {
        ...e,
        sessionId: this.session.id,
        identity: this.#identity,
        resource: this.session.resource,
      },
      options,
    );
  }
}

function asAuditError(err: unknown): TollgateError {
  if (err instanceof TollgateError) return err;
  return new TollgateError(Errors.AUDIT_UNAVAILABLE, `audit store unavailable: ${(err as Error).message}`, {
    cause: err,
  });
}
