import { type KeyObject, verify as verifySignature } from 'node:crypto';
import type { Backend, HeadRow, StoredRow } from './backend';
import {
  type CanonicalParts,
  canonicalParts,
  checkpointPayload,
  GENESIS_HASH,
  recordHash,
} from './canonical';
import { keyIdOf } from './signing';
import type { Checkpoint, VerifyFinding, VerifyReport } from './types';

const MAX_FINDINGS = 1000;
/** Anomalies kept whole (with their canonical parts) for the relocation search. */
const MAX_RELOCATABLE = 256;
const MAX_ANOMALIES = 10_000;
const SMALL_GAP = 64;

/** The canonical parts of a stored row (identity and data are stored as canonical JSON text). */
export function partsOfRow(r: StoredRow): CanonicalParts {
  return canonicalParts({
    type: r.type,
    at: r.at,
    sessionId: r.sessionId,
    identityJson: r.identity,
    resource: r.resource,
    action: r.action,
    decision: r.decision,
    approvalId: r.approvalId,
    dataJson: r.data,
  });
}

/** One row that is not simply in place, or a run of rows shifted by the same offset. */
interface Anomaly {
  p: number;
  /** Last position of a run of rows all shifted by `claimed - p`. */
  end: number;
  /** The position the row's content hashes at; undefined when none was found (altered). */
  claimed: number | undefined;
  linkOk: boolean;
  afterGap: boolean;
  subjectOk: boolean;
  /** The row's prevHash is the hash of the row two positions back (one record was put in between). */
  linksPrevPrev: boolean;
  relocate?: { parts: CanonicalParts; prevHash: string; hash: string };
}

interface Range {
  from: number;
  to: number;
}

function subjectMatches(r: StoredRow): boolean {
  if (r.identity === undefined) return r.subject === undefined;
  try {
    const id = JSON.parse(r.identity) as { subject?: unknown };
    return id.subject === r.subject || (id.subject === undefined && r.subject === undefined);
  } catch {
    return false;
  }
}

function claimedPosition(parts: CanonicalParts, r: StoredRow): number | undefined {
  if (recordHash(parts, r.seq, r.prevHash) === r.hash) return r.seq;
  if (r.seq > 1 && recordHash(parts, r.seq - 1, r.prevHash) === r.hash) return r.seq - 1;
  if (recordHash(parts, r.seq + 1, r.prevHash) === r.hash) return r.seq + 1;
  return undefined;
}

function signatureOk(publicKey: KeyObject, seq: number, hash: string, at: number, sig: string): boolean {
  try {
    return verifySignature(
      null,
      Buffer.from(checkpointPayload(seq, hash, at)),
      publicKey,
      Buffer.from(sig, 'base64'),
    );
  } catch {
    return false;
  }
}

/** Verification state for one walk over the chain. */
class Walk {
  readonly findings: VerifyFinding[] = [];
  moreFindings = 0;
  records = 0;
  checkpoints = 0;
  first: StoredRow | undefined;
  last: StoredRow | undefined;
  prevHash2: string | undefined;
  gaps: Range[] = [];
  gapsDropped = 0;
  anomalies: Anomaly[] = [];
  anomaliesDropped = 0;
  relocatable = 0;
  /** `throughSeq` of every `checkpoint.prune` event seen. */
  pruneThrough = new Set<number>();
  /** Checkpoints that could anchor a pruned start: seq → whether they are valid. */
  anchors = new Map<number, { ok: boolean; hash: string }>();
  /** Checkpoint mismatches, reported unless the record there was moved (then the move explains it). */
  mismatches: VerifyFinding[] = [];
  /** Positions holding a record written at another position. */
  moved = new Set<number>();

  constructor(readonly publicKey: KeyObject | undefined) {}

  add(f: VerifyFinding): void {
    if (this.findings.length < MAX_FINDINGS) this.findings.push(f);
    else this.moreFindings++;
  }

  /** Signature check of a checkpoint or the head; findings only when a public key is given. */
  checkSignature(
    what: 'checkpoint' | 'head',
    seq: number,
    hash: string,
    at: number,
    sig: string | undefined,
    keyId: string | undefined,
  ): boolean {
    const pk = this.publicKey;
    if (!pk) return true;
    const name = what === 'head' ? `the head (seq ${seq})` : `checkpoint at seq ${seq}`;
    if (sig === undefined) {
      this.add({ kind: 'bad-signature', seq, subject: what, message: `${name} is not signed` });
      return false;
    }
    if (signatureOk(pk, seq, hash, at, sig)) return true;
    const other =
      keyId && keyId !== keyIdOf(pk) ? ` (it names key ${keyId}, not the given key ${keyIdOf(pk)})` : '';
    this.add({
      kind: 'bad-signature',
      seq,
      subject: what,
      message: `${name}: signature does not verify${other}`,
    });
    return false;
  }

  row(r: StoredRow): void {
    this.records++;
    const prev = this.last;
    let afterGap = false;
    if (prev && r.seq > prev.seq + 1) {
      if (this.gaps.length < MAX_ANOMALIES) this.gaps.push({ from: prev.seq + 1, to: r.seq - 1 });
      else this.gapsDropped++;
      afterGap = true;
    }
    if (!this.first) this.first = r;
    let parts: CanonicalParts | undefined;
    try {
      parts = partsOfRow(r);
    } catch {
      parts = undefined;
    }
    const claimed = parts ? claimedPosition(parts, r) : undefined;
    let linkOk: boolean;
    if (prev) linkOk = !afterGap && r.prevHash === prev.hash;
    else linkOk = r.seq !== 1 || r.prevHash === GENESIS_HASH;
    const subjectOk = subjectMatches(r);
    if (r.type === 'checkpoint.prune' && r.data !== undefined) {
      try {
        const t = (JSON.parse(r.data) as { throughSeq?: unknown }).throughSeq;
        if (typeof t === 'number' && this.pruneThrough.size < 100_000) this.pruneThrough.add(t);
      } catch {
        // an unreadable prune record is reported as altered by its hash
      }
    }
    if (claimed !== r.seq || !linkOk || !subjectOk) {
      this.anomaly(r, parts, claimed, linkOk, afterGap, subjectOk);
    }
    this.prevHash2 = prev?.hash;
    this.last = r;
  }

  private anomaly(
    r: StoredRow,
    parts: CanonicalParts | undefined,
    claimed: number | undefined,
    linkOk: boolean,
    afterGap: boolean,
    subjectOk: boolean,
  ): void {
    const shift = claimed === undefined ? undefined : claimed - r.seq;
    const lastA = this.anomalies[this.anomalies.length - 1];
    // A renumbered run: every row one place off, each linking to the one before.
    if (
      shift !== undefined &&
      shift !== 0 &&
      lastA &&
      lastA.end === r.seq - 1 &&
      lastA.claimed !== undefined &&
      lastA.claimed - lastA.p === shift &&
      linkOk &&
      subjectOk
    ) {
      lastA.end = r.seq;
      return;
    }
    if (this.anomalies.length >= MAX_ANOMALIES) {
      this.anomaliesDropped++;
      return;
    }
    const a: Anomaly = {
      p: r.seq,
      end: r.seq,
      claimed,
      linkOk,
      afterGap,
      subjectOk,
      linksPrevPrev: this.last !== undefined && this.prevHash2 !== undefined && r.prevHash === this.prevHash2,
    };
    if (claimed === undefined && parts && this.relocatable < MAX_RELOCATABLE) {
      a.relocate = { parts, prevHash: r.prevHash, hash: r.hash };
      this.relocatable++;
    }
    this.anomalies.push(a);
  }

  /** A checkpoint at a position the walk has reached; `row` is the record there, if present. */
  checkpoint(cp: Checkpoint, row: StoredRow | undefined, firstSeq: number | undefined): void {
    this.checkpoints++;
    const sigOk = this.checkSignature('checkpoint', cp.seq, cp.hash, cp.at, cp.signature, cp.keyId);
    if (row) {
      const hashOk = row.hash === cp.hash;
      if (!hashOk) {
        this.mismatches.push({
          kind: 'checkpoint-mismatch',
          seq: cp.seq,
          subject: 'checkpoint',
          message: `checkpoint at seq ${cp.seq} names hash ${cp.hash.slice(0, 16)}…, the record there has ${row.hash.slice(0, 16)}…`,
        });
      }
      if (cp.kind === 'prune') this.anchors.set(cp.seq, { ok: sigOk && hashOk, hash: cp.hash });
      return;
    }
    if (firstSeq !== undefined && cp.seq === firstSeq - 1) {
      this.anchors.set(cp.seq, { ok: sigOk, hash: cp.hash });
      return;
    }
    // Below a prune anchor: left over from before pruning, nothing to check it against.
    // Inside a gap: the gap is reported as removed records.
  }
}

export interface VerifySource extends Pick<Backend, 'readHead' | 'tail' | 'page' | 'checkpointPage'> {}

/**
 * Walks the chain page by page (bounded memory) and reports, by position, every record that
 * was altered, removed, inserted or reordered, every broken link, and every checkpoint or head
 * whose signature or hash does not hold. See docs/audit.md for what each finding means.
 */
export async function verifyChain(
  src: VerifySource,
  opts: { publicKey?: KeyObject; pageSize?: number },
): Promise<VerifyReport> {
  const pageSize = Math.max(1, Math.min(opts.pageSize ?? 5000, 50_000));
  const w = new Walk(opts.publicKey);
  const head0 = await src.readHead();
  const limit = head0?.seq ?? Number.MAX_SAFE_INTEGER;

  let cps: Checkpoint[] = [];
  let cpAfter = 0;
  let cpsDone = false;
  const nextCheckpoint = async (): Promise<Checkpoint | undefined> => {
    if (cps.length === 0 && !cpsDone) {
      cps = (await src.checkpointPage(cpAfter, pageSize)).filter((c) => c.seq <= limit);
      const lastCp = cps[cps.length - 1];
      if (lastCp) cpAfter = lastCp.seq;
      else cpsDone = true;
    }
    return cps[0];
  };

  let after = 0;
  for (;;) {
    const page = (await src.page(after, pageSize)).filter((r) => r.seq <= limit);
    for (const r of page) {
      // checkpoints at positions before this row (missing records, or the prune anchor)
      for (let cp = await nextCheckpoint(); cp && cp.seq < r.seq; cp = await nextCheckpoint()) {
        cps.shift();
        w.checkpoint(cp, undefined, w.first?.seq ?? r.seq);
      }
      w.row(r);
      const cp = await nextCheckpoint();
      if (cp && cp.seq === r.seq) {
        cps.shift();
        w.checkpoint(cp, r, w.first?.seq);
      }
    }
    const lastRow = page[page.length - 1];
    if (!lastRow || page.length < pageSize || lastRow.seq >= limit) break;
    after = lastRow.seq;
    // let other work run between pages
    await new Promise((resolve) => setImmediate(resolve));
  }
  const beyondCheckpoints: Checkpoint[] = [];
  for (let cp = await nextCheckpoint(); cp; cp = await nextCheckpoint()) {
    cps.shift();
    w.checkpoints++;
    w.checkSignature('checkpoint', cp.seq, cp.hash, cp.at, cp.signature, cp.keyId);
    beyondCheckpoints.push(cp);
  }

  const tail = await src.tail(limit);
  checkStart(w);
  classify(w);
  checkEnd(w, head0, beyondCheckpoints, tail.beyondCount, tail.beyondMin, tail.beyondMax);
  return report(w, head0);
}

/** A chain that does not start at 1 must start from a signed prune anchor named by a prune event. */
function checkStart(w: Walk): void {
  const first = w.first;
  if (!first || first.seq === 1) return;
  const candidates = [...w.pruneThrough].filter((t) => t >= first.seq - 1).sort((a, b) => a - b);
  for (const t of candidates) {
    const anchor = w.anchors.get(t);
    if (!anchor?.ok) continue;
    if (t === first.seq - 1 && anchor.hash !== first.prevHash) continue;
    return;
  }
  const anchor = w.anchors.get(first.seq - 1);
  const why =
    anchor === undefined
      ? 'no signed prune checkpoint anchors the start'
      : !anchor.ok
        ? `the checkpoint at seq ${first.seq - 1} does not verify`
        : anchor.hash !== first.prevHash
          ? `the checkpoint at seq ${first.seq - 1} does not match record ${first.seq}'s prevHash`
          : `no checkpoint.prune record names seq ${first.seq - 1}`;
  w.add({
    kind: 'removed',
    seq: 1,
    endSeq: first.seq - 1,
    subject: 'record',
    message: `records 1..${first.seq - 1} are missing and were not pruned: ${why}`,
  });
}

function relocate(w: Walk): void {
  const candidates = new Set<number>();
  for (const a of w.anomalies) for (let p = a.p; p <= a.end && p - a.p < SMALL_GAP; p++) candidates.add(p);
  for (const g of w.gaps) {
    if (g.to - g.from < SMALL_GAP) for (let p = g.from; p <= g.to; p++) candidates.add(p);
    else {
      candidates.add(g.from);
      candidates.add(g.to);
    }
  }
  for (const a of w.anomalies) {
    if (!a.relocate) continue;
    for (const s of candidates) {
      if (s !== a.p && recordHash(a.relocate.parts, s, a.relocate.prevHash) === a.relocate.hash) {
        a.claimed = s;
        break;
      }
    }
  }
}

function classify(w: Walk): void {
  relocate(w);
  const out: VerifyFinding[] = [];
  const moved = new Set<number>();
  const byPos = new Map<number, Anomaly>();
  for (const a of w.anomalies) {
    byPos.set(a.p, a);
    if (a.claimed !== undefined && a.claimed !== a.p) for (let p = a.p; p <= a.end; p++) moved.add(p);
  }
  w.moved = moved;
  const paired = new Set<number>();
  for (const g of w.gaps) {
    const n = g.to - g.from + 1;
    out.push({
      kind: 'removed',
      seq: g.from,
      ...(n > 1 ? { endSeq: g.to } : {}),
      subject: 'record',
      message:
        n > 1 ? `records ${g.from}..${g.to} are missing (${n} records)` : `record ${g.from} is missing`,
    });
  }
  for (const a of w.anomalies) {
    if (a.claimed !== undefined && a.claimed !== a.p) {
      if (paired.has(a.p)) continue;
      out.push(...moveFindings(a, byPos, paired));
      continue;
    }
    if (a.claimed === undefined) {
      const link = a.linkOk || a.afterGap ? '' : `, and its prevHash does not link to record ${a.p - 1}`;
      out.push({
        kind: 'altered',
        seq: a.p,
        subject: 'record',
        message: `record ${a.p} was altered: its content does not match its hash${link}`,
      });
    } else if (!a.linkOk && !a.afterGap && !moved.has(a.p - 1)) {
      out.push({
        kind: 'broken-link',
        seq: a.p,
        subject: 'record',
        message:
          a.p === 1
            ? 'record 1 does not start from the genesis hash'
            : `record ${a.p}'s prevHash is not record ${a.p - 1}'s hash: record ${a.p - 1} was rewritten with a recomputed hash, or ${a.p}'s link was edited`,
      });
    }
    if (!a.subjectOk) {
      out.push({
        kind: 'altered',
        seq: a.p,
        subject: 'record',
        message: `record ${a.p} was altered: its subject column does not match the identity in the record`,
      });
    }
  }
  // A record found to be inserted is not also reported as altered.
  const inserted = new Set(out.filter((f) => f.kind === 'inserted').map((f) => f.seq));
  const kept = out.filter((f) => !(f.kind === 'altered' && inserted.has(f.seq)));
  out.length = 0;
  out.push(...kept, ...w.mismatches.filter((f) => !moved.has(f.seq)));
  if (w.gapsDropped > 0) {
    const lastGap = w.gaps[w.gaps.length - 1] as Range;
    out.push({
      kind: 'removed',
      seq: lastGap.to + 1,
      subject: 'record',
      message: `${w.gapsDropped} further gaps after seq ${lastGap.to} (not itemised)`,
    });
  }
  if (w.anomaliesDropped > 0) {
    out.push({
      kind: 'altered',
      seq: (w.anomalies[w.anomalies.length - 1]?.end ?? 0) + 1,
      subject: 'record',
      message: `${w.anomaliesDropped} further records after this position do not verify (not itemised)`,
    });
  }
  out.sort((x, y) => x.seq - y.seq);
  for (const f of out) w.add(f);
}

function moveFindings(a: Anomaly, byPos: Map<number, Anomaly>, paired: Set<number>): VerifyFinding[] {
  const claimed = a.claimed as number;
  const shift = claimed - a.p;
  const other = byPos.get(claimed);
  // Two rows that hold each other's records.
  if (a.end === a.p && other && other.end === other.p && other.claimed === a.p) {
    paired.add(a.p);
    paired.add(claimed);
    const [lo, hi] = a.p < claimed ? [a.p, claimed] : [claimed, a.p];
    return [
      {
        kind: 'reordered',
        seq: lo,
        otherSeq: hi,
        subject: 'record',
        message: `records ${lo} and ${hi} were swapped: position ${lo} holds the record written at ${hi} and vice versa`,
      },
    ];
  }
  if (a.end > a.p || Math.abs(shift) === 1) {
    const out: VerifyFinding[] = [];
    const range = a.end > a.p ? `${a.p}..${a.end}` : `${a.p}`;
    const orig = a.end > a.p ? `${a.p + shift}..${a.end + shift}` : `${a.p + shift}`;
    if (shift === -1 && a.linksPrevPrev) {
      out.push({
        kind: 'inserted',
        seq: a.p - 1,
        subject: 'record',
        message: `record ${a.p - 1} was inserted: it is not part of the chain (the records after it were renumbered by +1)`,
      });
    }
    if (shift === 1 && !a.linkOk) {
      out.push({
        kind: 'removed',
        seq: a.p,
        subject: 'record',
        message: `the record written at seq ${a.p} is missing (the records after it were renumbered by -1)`,
      });
    }
    out.push({
      kind: 'reordered',
      seq: a.p,
      ...(a.end > a.p ? { endSeq: a.end } : {}),
      otherSeq: a.p + shift,
      subject: 'record',
      message: `position${a.end > a.p ? 's' : ''} ${range} hold${a.end > a.p ? '' : 's'} the record${a.end > a.p ? 's' : ''} written at ${orig}`,
    });
    return out;
  }
  return [
    {
      kind: 'reordered',
      seq: a.p,
      otherSeq: claimed,
      subject: 'record',
      message: `position ${a.p} holds the record written at seq ${claimed}`,
    },
  ];
}

/** The head and the end of the chain: nothing removed from the end, nothing appended behind the head. */
function checkEnd(
  w: Walk,
  head: HeadRow | undefined,
  beyondCheckpoints: Checkpoint[],
  beyondCount: number,
  beyondMin: number | undefined,
  beyondMax: number | undefined,
): void {
  const lastSeq = w.last?.seq ?? 0;
  if (!head) {
    w.add({
      kind: 'checkpoint-mismatch',
      seq: lastSeq,
      subject: 'head',
      message: 'the chain head row is missing',
    });
  } else {
    w.checkSignature('head', head.seq, head.hash, head.at, head.signature, head.keyId);
    const theHead = head.signature ? 'the signed head' : 'the head';
    if (head.seq > lastSeq) {
      w.add({
        kind: 'removed',
        seq: lastSeq + 1,
        ...(head.seq > lastSeq + 1 ? { endSeq: head.seq } : {}),
        subject: 'record',
        message:
          head.seq > lastSeq + 1
            ? `records ${lastSeq + 1}..${head.seq} at the end are missing (${theHead} is at seq ${head.seq})`
            : `record ${head.seq} at the end is missing (${theHead} is at seq ${head.seq})`,
      });
    } else if (w.last && head.hash !== w.last.hash && !w.moved.has(head.seq)) {
      w.add({
        kind: 'checkpoint-mismatch',
        seq: head.seq,
        subject: 'head',
        message: `the head names hash ${head.hash.slice(0, 16)}… for seq ${head.seq}, the record there has ${w.last.hash.slice(0, 16)}…`,
      });
    } else if (!w.last && head.hash !== GENESIS_HASH && head.seq === 0) {
      w.add({
        kind: 'checkpoint-mismatch',
        seq: 0,
        subject: 'head',
        message: 'the head of the empty log is not the genesis hash',
      });
    }
  }
  // Without a head, checkpoints past the last record are the only witness of removed records.
  const lastCp = beyondCheckpoints[beyondCheckpoints.length - 1];
  if (!head && lastCp) {
    w.add({
      kind: 'removed',
      seq: lastSeq + 1,
      ...(lastCp.seq > lastSeq + 1 ? { endSeq: lastCp.seq } : {}),
      subject: 'record',
      message: `records ${lastSeq + 1}..${lastCp.seq} are missing: checkpoint at seq ${lastCp.seq} names them`,
    });
  }
  if (beyondCount > 0 && beyondMin !== undefined) {
    const range =
      beyondMax !== undefined && beyondMax > beyondMin ? `${beyondMin}..${beyondMax}` : `${beyondMin}`;
    w.add({
      kind: 'inserted',
      seq: beyondMin,
      ...(beyondMax !== undefined && beyondMax > beyondMin ? { endSeq: beyondMax } : {}),
      subject: 'record',
      message: `record${beyondCount > 1 ? 's' : ''} ${range} ${beyondCount > 1 ? 'were' : 'was'} inserted behind the ${head?.signature ? 'signed ' : ''}head (seq ${head?.seq ?? 0})`,
    });
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function report(w: Walk, head: HeadRow | undefined): VerifyReport {
  const findings = [...w.findings].sort((a, b) => a.seq - b.seq);
  const ok = findings.length === 0 && w.moreFindings === 0;
  const firstSeq = w.first?.seq ?? 0;
  const lastSeq = w.last?.seq ?? 0;
  const sig = w.publicKey ? 'signatures verified' : 'signatures not checked (no public key)';
  let summary: string;
  if (ok) {
    const span = w.records ? `seq ${firstSeq}..${lastSeq}` : 'empty log';
    summary = `ok: ${plural(w.records, 'record')} (${span}), ${plural(w.checkpoints, 'checkpoint')}, ${sig}`;
  } else {
    const counts = new Map<string, number>();
    for (const f of findings) counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
    const total = findings.length + w.moreFindings;
    const list = [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
    summary = `FAILED: ${plural(total, 'finding')} (${list}) in ${plural(w.records, 'record')}, ${plural(w.checkpoints, 'checkpoint')}, ${sig}`;
  }
  const first = w.first;
  const anchorSeq = first && first.seq > 1 ? first.seq - 1 : undefined;
  return {
    ok,
    records: w.records,
    firstSeq,
    lastSeq,
    checkpoints: w.checkpoints,
    signatures: w.publicKey ? 'verified' : 'unchecked',
    head: { seq: head?.seq ?? 0, hash: head?.hash ?? GENESIS_HASH, signed: head?.signature !== undefined },
    anchor: anchorSeq !== undefined && first ? { seq: anchorSeq, hash: first.prevHash } : undefined,
    findings,
    moreFindings: w.moreFindings,
    summary,
  };
}
