import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Identity } from '../control/identity';
import { MemoryApprovals, MemoryAuditSink, StaticPolicy } from '../control/memory';
import type { ActionRequest, Decision } from '../control/policy';
import { Errors } from '../errors';
import { newSessionId, SessionPipeline } from './pipeline';

const agent: Identity = {
  subject: 'etl-bot',
  kind: 'service-account',
  issuer: 'tollgate',
  groups: ['agents'],
};
const reviewer: Identity = { subject: 'dba', kind: 'oidc', issuer: 'https://idp', groups: ['dba'] };

function decide(req: ActionRequest): Decision {
  switch (req.action) {
    case 'read':
      return { effect: 'allow', rule: 'reads', masking: 'pii' };
    case 'dangerous':
      return {
        effect: 'require-approval',
        rule: 'drops',
        approval: { reviewers: ['dba'], approvals: 1, timeoutMs: 60_000 },
        masking: undefined,
      };
    default:
      return { effect: 'deny', rule: null, reason: 'no rule allows this' };
  }
}

function setup() {
  const audit = new MemoryAuditSink();
  const approvals = new MemoryApprovals();
  const session = {
    id: newSessionId(),
    protocol: 'postgres' as const,
    identity: agent,
    resource: 'payments-db',
    remote: '127.0.0.1:5555',
    startedAt: Date.now(),
  };
  const pipeline = new SessionPipeline(session, { policy: new StaticPolicy(decide), approvals, audit });
  return { audit, approvals, pipeline };
}

const cmd = (action: string, text: string) => ({ action, text, fingerprint: `fp:${text}` });

describe('SessionPipeline', () => {
  it('allows with a durable write-ahead record naming identity, session, rule and masking', async () => {
    const { audit, pipeline } = setup();
    const v = await pipeline.command(cmd('read', 'SELECT 1'));
    assert.equal(v.kind, 'forward');
    assert.ok(v.kind === 'forward');
    assert.equal(v.masking, 'pii');
    const rec = audit.records.at(-1);
    assert.equal(rec?.seq, v.auditSeq);
    assert.equal(rec?.type, 'command');
    assert.equal(rec?.decision, 'allow');
    assert.equal(rec?.identity?.subject, 'etl-bot');
    assert.equal(rec?.data?.rule, 'reads');
    await pipeline.result(v.auditSeq, { rows: 1, durationMs: 2, masked: { email: 1 } });
    assert.equal(audit.records.at(-1)?.data?.commandSeq, v.auditSeq);
  });

  it('rejects denied commands with 42501 and records the denial', async () => {
    const { audit, pipeline } = setup();
    const v = await pipeline.command(cmd('admin', 'ALTER SYSTEM SET x = 1'));
    assert.equal(v.kind, 'reject');
    assert.ok(v.kind === 'reject');
    assert.equal(v.error.kind, Errors.ACCESS_DENIED);
    assert.equal(v.error.kind.sqlstate, '42501');
    assert.equal(audit.records.at(-1)?.decision, 'deny');
  });

  it('fails closed when the audit store cannot write', async () => {
    const { audit, pipeline } = setup();
    audit.failing = 'disk full';
    const v = await pipeline.command(cmd('read', 'SELECT 1'));
    assert.ok(v.kind === 'reject');
    assert.equal(v.error.kind, Errors.AUDIT_UNAVAILABLE);
  });

  it('holds for approval, then forwards with a second record that carries the approval id', async () => {
    const { audit, approvals, pipeline } = setup();
    const v = await pipeline.command(cmd('dangerous', 'DROP TABLE t'));
    assert.ok(v.kind === 'hold');
    const waiting = pipeline.awaitApproval(v);
    approvals.approve(v.approval.id, reviewer);
    const done = await waiting;
    assert.ok(done.kind === 'forward');
    assert.equal(done.approvalId, v.approval.id);
    const last = audit.records.at(-1);
    assert.equal(last?.decision, 'approved');
    assert.equal(last?.approvalId, v.approval.id);
  });

  it('a denied approval rejects with the reason and the approval id as hint', async () => {
    const { approvals, pipeline } = setup();
    const v = await pipeline.command(cmd('dangerous', 'TRUNCATE t'));
    assert.ok(v.kind === 'hold');
    const waiting = pipeline.awaitApproval(v);
    approvals.deny(v.approval.id, reviewer, 'month-end freeze');
    const done = await waiting;
    assert.ok(done.kind === 'reject');
    assert.equal(done.error.kind, Errors.APPROVAL_DENIED);
    assert.match(done.error.message, /month-end freeze/);
    assert.match(done.error.hint ?? '', new RegExp(v.approval.id));
  });

  it('a client that goes away cancels its approval request', async () => {
    const { approvals, pipeline } = setup();
    const v = await pipeline.command(cmd('dangerous', 'DROP TABLE t'));
    assert.ok(v.kind === 'hold');
    const ac = new AbortController();
    const waiting = pipeline.awaitApproval(v, ac.signal);
    ac.abort('client disconnected');
    const done = await waiting;
    assert.ok(done.kind === 'reject');
    assert.equal(approvals.get(v.approval.id).status, 'cancelled');
    assert.equal(approvals.get(v.approval.id).endReason, 'client disconnected');
  });
});
