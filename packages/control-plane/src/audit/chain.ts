import type { AuditEventInput } from '@tollgate/core';
import type { Build, Extension, HeadRow, StoredRow } from './backend';
import { type CanonicalParts, canonicalJson, canonicalParts, recordHash } from './canonical';
import type { Signer } from './signing';
import type { Checkpoint } from './types';

/**
 * How the chain is extended: the pure part of the audit store, shared by the main thread
 * (PostgreSQL) and the SQLite writer thread. Every function here runs inside the transaction
 * that holds the chain lock, on the head read in that transaction.
 */

/** A record's identity and data together, as canonical JSON characters. */
export const MAX_RECORD_CHARS = 1 << 20;

/** An event checked and turned into canonical text, waiting for its position. */
export interface Prepared {
  at: number;
  type: string;
  sessionId: string | undefined;
  identityJson: string | undefined;
  subject: string | undefined;
  resource: string | undefined;
  action: string | undefined;
  decision: string | undefined;
  approvalId: string | undefined;
  dataJson: string | undefined;
}

function optString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new TypeError(`audit event: ${field} must be a string`);
  // PostgreSQL text cannot hold NUL; refusing it here keeps one bad event from failing a batch.
  if (v.includes('\0')) throw new TypeError(`audit event: ${field} contains a NUL character`);
  return v;
}

/**
 * Canonical identities by object, for identities that cannot change (frozen, with frozen
 * groups): a session pipeline passes the same one with every record of the session.
 */
const identityTexts = new WeakMap<object, string>();

function identityJson(identity: NonNullable<AuditEventInput['identity']>): string {
  const frozen = Object.isFrozen(identity) && Object.isFrozen(identity.groups);
  if (!frozen) return canonicalJson(identity);
  let text = identityTexts.get(identity);
  if (text === undefined) {
    text = canonicalJson(identity);
    identityTexts.set(identity, text);
  }
  return text;
}

/** Checks an event and canonicalises its identity and data; throws a TypeError naming the field. */
export function prepare(e: AuditEventInput): Prepared {
  const at = e.at === undefined ? Date.now() : Math.trunc(e.at);
  if (!Number.isSafeInteger(at)) throw new TypeError('audit event: at must be epoch milliseconds');
  const type = optString(e.type, 'type');
  if (!type) throw new TypeError('audit event: type is required');
  const p: Prepared = {
    at,
    type,
    sessionId: optString(e.sessionId, 'sessionId'),
    identityJson: e.identity === undefined ? undefined : identityJson(e.identity),
    subject: e.identity?.subject,
    resource: optString(e.resource, 'resource'),
    action: optString(e.action, 'action'),
    decision: optString(e.decision, 'decision'),
    approvalId: optString(e.approvalId, 'approvalId'),
    dataJson: e.data === undefined ? undefined : canonicalJson(e.data),
  };
  if ((p.identityJson?.length ?? 0) + (p.dataJson?.length ?? 0) > MAX_RECORD_CHARS) {
    throw new TypeError(`audit event: identity and data exceed ${MAX_RECORD_CHARS} characters`);
  }
  return p;
}

/** What the store's configuration says about checkpoints and signatures. */
export interface ChainRules {
  /** Records between periodic checkpoints. */
  readonly every: number;
  /** Time between periodic checkpoints when records were appended. */
  readonly intervalMs: number;
  readonly signer: Signer;
}

/**
 * One chain-extending transaction, as data (so that it can be posted to the writer thread).
 * `now` is taken by the caller, so that a batch's checkpoints and head carry one time.
 */
export type WriteOp =
  /** Signs the empty head of a fresh log, so that wiping it back to empty does not go unnoticed. */
  | { readonly kind: 'genesis' }
  | { readonly kind: 'append'; readonly events: readonly Prepared[]; readonly now: number }
  /** A checkpoint at the head unless one is there (`periodic`: only when the interval has passed). */
  | { readonly kind: 'checkpoint'; readonly periodic: boolean; readonly now: number }
  /** The prune anchor checkpoint and the `checkpoint.prune` record (rows are deleted afterwards). */
  | { readonly kind: 'prune'; readonly before: number; readonly now: number };

/** The outcome of a `WriteOp`: what was written (undefined: nothing), and the head it started from. */
export interface WriteResult {
  readonly ext: Extension | undefined;
  readonly head: HeadRow;
  /** An append committed in the same transaction as the one before it (a pipelined writer's group). */
  readonly joined?: boolean;
}

function signed(h: HeadRow, rules: ChainRules): HeadRow {
  return { ...h, signature: rules.signer.sign(h.seq, h.hash, h.at), keyId: rules.signer.keyId };
}

function checkpoint(
  seq: number,
  hash: string,
  at: number,
  kind: Checkpoint['kind'],
  rules: ChainRules,
): Checkpoint {
  return { seq, hash, at, kind, signature: rules.signer.sign(seq, hash, at), keyId: rules.signer.keyId };
}

/** The rows, checkpoints and signed head that append `events` (with their canonical `parts`) after `head`. */
export function buildAppend(
  head: HeadRow,
  events: readonly Prepared[],
  parts: readonly CanonicalParts[],
  now: number,
  rules: ChainRules,
): Extension {
  let seq = head.seq;
  let prev = head.hash;
  let cpSeq = head.cpSeq;
  let cpAt = head.cpAt;
  const rows: StoredRow[] = [];
  const checkpoints: Checkpoint[] = [];
  for (let i = 0; i < events.length; i++) {
    const ev = events[i] as Prepared;
    seq++;
    const hash = recordHash(parts[i] as CanonicalParts, seq, prev);
    rows.push({
      seq,
      at: ev.at,
      type: ev.type,
      sessionId: ev.sessionId,
      identity: ev.identityJson,
      subject: ev.subject,
      resource: ev.resource,
      action: ev.action,
      decision: ev.decision,
      approvalId: ev.approvalId,
      data: ev.dataJson,
      prevHash: prev,
      hash,
    });
    prev = hash;
    if (seq - cpSeq >= rules.every) {
      checkpoints.push(checkpoint(seq, hash, now, 'periodic', rules));
      cpSeq = seq;
      cpAt = now;
    }
  }
  const next = { seq, hash: prev, at: now, signature: undefined, keyId: undefined, cpSeq, cpAt };
  return { rows, checkpoints, head: signed(next, rules) };
}

/**
 * The build function of `op` for `Backend.extend`. What does not depend on the head (the records'
 * canonical text around `prevHash` and `seq`) is done here, before the chain lock is taken.
 */
export function buildFor(op: WriteOp, rules: ChainRules): Build {
  switch (op.kind) {
    case 'genesis':
      return (head) => {
        if (head.seq !== 0 || head.signature !== undefined) return undefined;
        return { rows: [], checkpoints: [], head: signed({ ...head }, rules) };
      };
    case 'append': {
      const parts = op.events.map((ev) => canonicalParts(ev));
      return (head) => buildAppend(head, op.events, parts, op.now, rules);
    }
    case 'checkpoint':
      return (head) => {
        if (head.seq === 0 || head.cpSeq === head.seq) return undefined;
        if (op.periodic && op.now - head.cpAt < rules.intervalMs) return undefined;
        const made = checkpoint(head.seq, head.hash, op.now, op.periodic ? 'periodic' : 'manual', rules);
        return {
          rows: [],
          checkpoints: [made],
          head: signed({ ...head, at: op.now, cpSeq: head.seq, cpAt: op.now }, rules),
        };
      };
    case 'prune':
      return (head, boundary) => {
        if (!boundary) return undefined;
        const anchor = checkpoint(boundary.seq, boundary.hash, op.now, 'prune', rules);
        const ev = prepare({
          type: 'checkpoint.prune',
          at: op.now,
          data: {
            before: op.before,
            throughSeq: boundary.seq,
            removed: boundary.seq - boundary.firstSeq + 1,
            anchorHash: boundary.hash,
          },
        });
        const out = buildAppend(head, [ev], [canonicalParts(ev)], op.now, rules);
        out.checkpoints.unshift(anchor);
        return out;
      };
  }
}
