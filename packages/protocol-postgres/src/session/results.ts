import {
  type Counts,
  type Masker,
  type MaskingProfile,
  PgFrameReader,
  type PgFrames,
  type RowPlan,
} from '@tollgate/core';
import {
  BackendCode,
  buildCopyData,
  buildErrorResponse,
  buildNoticeResponse,
  buildNotificationResponse,
  type FieldDescription,
  formatOf,
  parseCommandComplete,
  parseErrorResponse,
  parseNoticeResponse,
  parseNotificationResponse,
  parseParameterStatus,
  parseReadyForQuery,
  parseRowDescription,
  type TransactionStatus,
} from '../wire/index';
import { RowCapture } from './capture';
import type { TableNames } from './catalog';
import type { Refusals } from './denial';
import { type ResultMasking, SCAN_EVERYTHING, usesTables } from './masking';

/** One statement execution the gateway forwarded, from its write-ahead record to its result. */
export interface StatementRun {
  readonly auditSeq: number;
  readonly startedAt: number;
  readonly profile: MaskingProfile;
  rows: number;
  bytes: number;
  masked: Counts;
  errorCode: string | undefined;
  /** `CommandComplete` tag, or `skipped` when an earlier error kept it from running. */
  outcome: string | undefined;
  /** The first masked rows, when the profile asks for `capture` (made on the first row). */
  capture?: RowCapture;
}

/** A statement that has not produced anything yet; `auditSeq` is set once its record is written. */
export function newStatementRun(profile: MaskingProfile, auditSeq = 0): StatementRun {
  return {
    auditSeq,
    startedAt: Date.now(),
    profile,
    rows: 0,
    bytes: 0,
    masked: {},
    errorCode: undefined,
    outcome: undefined,
  };
}

/**
 * What the target will answer to each forwarded frontend message, in order. The results path
 * walks this queue to know which statement a DataRow belongs to, which columns it has, and
 * when a statement ends.
 */
export type Expectation =
  | { readonly kind: 'parse' }
  | {
      readonly kind: 'bind';
      readonly portal: string;
      readonly statement: string;
      readonly resultFormats: readonly number[];
    }
  | { readonly kind: 'describe'; readonly target: 'S' | 'P'; readonly name: string }
  | { readonly kind: 'execute'; readonly portal: string; readonly run: StatementRun | undefined }
  | { readonly kind: 'close'; readonly target: 'S' | 'P'; readonly name: string }
  | { readonly kind: 'sync' }
  | { readonly kind: 'query'; readonly runs: StatementRun[] }
  | { readonly kind: 'function'; readonly run: StatementRun | undefined };

const D = BackendCode.DataRow;
const COPY_DATA = BackendCode.CopyData;

/**
 * The target → client direction of one session: frames the target's bytes, masks DataRows and
 * COPY data in native code (one call per run of rows), swaps refusal errors for the gateway's,
 * and reports each statement's result. Bounded: messages over `maxMessageLength` end the
 * session with a protocol error.
 */
export class ResultStream {
  readonly #reader: PgFrameReader;
  readonly #queue: Expectation[] = [];
  #head = 0;
  readonly #statements = new Map<string, readonly FieldDescription[]>();
  readonly #portals = new Map<
    string,
    { statement: string; resultFormats: readonly number[]; fields?: readonly FieldDescription[] }
  >();
  /** Columns of the result set being sent now (simple query 'T', or the executing portal). */
  #fields: readonly FieldDescription[] | undefined;
  /** The execute expectation `#fields` was set for. */
  #fieldsFor: Expectation | undefined;
  #plan: { plan: RowPlan | undefined; masker: Masker } | undefined;
  #failed = false;
  #queryIndex = 0;
  #copyOut = false;
  #copyBinary = false;
  #tables: TableNames | undefined;
  readonly #tableOf = (oid: number): string | undefined => this.#tables?.name(oid);
  #onResume: (out: Buffer[] | Error) => void = () => {};
  /** Messages waiting for a table-name lookup (copies: the frame buffer is reused). */
  #held: PgFrames[] | undefined;
  #waitedFor: readonly FieldDescription[] | undefined;
  transactionStatus: TransactionStatus = 'I';

  constructor(
    private readonly masking: ResultMasking,
    private readonly refusals: Refusals,
    private readonly onDone: (run: StatementRun) => void,
    maxMessageLength: number,
    private readonly onParameter: (name: string, value: string) => void = () => {},
    private readonly fallback: MaskingProfile = SCAN_EVERYTHING,
  ) {
    this.#reader = new PgFrameReader({ maxMessageLength });
  }

  /** Registers what a forwarded message will produce; call in forwarding order. */
  expect(e: Expectation): void {
    this.#queue.push(e);
    if (e.kind === 'bind')
      this.#portals.set(e.portal, { statement: e.statement, resultFormats: e.resultFormats });
  }

  /** Statements whose results are still outstanding. */
  get outstanding(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Lets `table:` column rules match by name: before the first DataRow of a result set whose
   * profile has table rules and whose table OIDs are not yet named, the stream holds — that
   * DataRow and everything after it wait (push returns nothing, `holding` is true) until
   * `tables.lookup` settles; then the rest is processed and handed to `onResume` (an Error when
   * the target's bytes were bad). The lookup is bounded by `tables`; without names the
   * fail-safe plan applies.
   */
  useTables(tables: TableNames, onResume: (out: Buffer[] | Error) => void): void {
    this.#tables = tables;
    this.#onResume = onResume;
  }

  /** Waiting for table names; the session pauses the target meanwhile. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  /** Feeds target bytes; returns what to send the client, in order. */
  push(chunk: Buffer): Buffer[] {
    let out: Buffer[] = [];
    // a message the last read cut comes first, alone: a hold it starts holds the rest too
    for (const frames of this.#reader.pushFrames(chunk)) {
      if (this.#held) holdFrom(this.#held, frames, 0);
      else {
        const more = this.#process(frames);
        out = out.length === 0 ? more : out.concat(more);
      }
    }
    return out;
  }

  /** Handles framed messages in order; DataRows and COPY data by the run, without a Buffer each. */
  #process({ buf, index }: PgFrames): Buffer[] {
    const out: Buffer[] = [];
    let runStart = -1;
    let runEnd = 0;
    let runCount = 0;
    let runCode = 0;
    const flushRows = () => {
      if (runStart < 0) return;
      const run = buf.subarray(runStart, runEnd);
      out.push(runCode === D ? this.#maskRows(run, runCount) : this.#maskCopyRun(run));
      runStart = -1;
    };
    for (let i = 0; i < index.length; i += 3) {
      const mcode = index[i] as number;
      const start = index[i + 1] as number;
      const len = index[i + 2] as number;
      // DataRows (and COPY OUT data) come in runs, contiguous in the frame buffer: mask each
      // run in one native call.
      const code = mcode === D && !this.#copyOut ? D : mcode === COPY_DATA && this.#copyOut ? COPY_DATA : 0;
      if (code !== 0) {
        if (runStart >= 0 && runCode === code && runEnd === start) {
          runEnd += len;
          runCount++;
          continue;
        }
        flushRows();
        const wait = code === D ? this.#tableWait() : undefined;
        if (wait) {
          this.#held = [];
          holdFrom(this.#held, { buf, index }, i);
          void wait.then(() => this.#resume());
          return out;
        }
        runStart = start;
        runEnd = start + len;
        runCount = 1;
        runCode = code;
        continue;
      }
      flushRows();
      out.push(this.#message(mcode, buf.subarray(start, start + len)));
    }
    flushRows();
    return out;
  }

  /** A lookup to wait for before planning the current result set, if its plan needs table names. */
  #tableWait(): Promise<void> | undefined {
    const t = this.#tables;
    if (!t) return undefined;
    this.#selectFields();
    // One wait per result set: OIDs the catalog did not name stay unnamed (fail-safe).
    if (this.#plan || !this.#fields || this.#waitedFor === this.#fields) return undefined;
    if (!usesTables(this.#currentRun()?.profile ?? this.fallback)) return undefined;
    const missing = t.missing(this.#fields.map((f) => f.tableOid));
    if (missing.length === 0) return undefined;
    this.#waitedFor = this.#fields;
    return t.lookup(missing);
  }

  #resume(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    let out: Buffer[] | Error;
    try {
      out = this.#process(joinFrames(held));
    } catch (err) {
      out = err as Error;
    }
    this.#onResume(out);
  }

  /**
   * A run of COPY OUT CopyData messages: their payloads are scanned as one text (one native
   * call), and when anything was masked the output is sent again one line per CopyData, as the
   * server sends rows. Unchanged runs pass as they came.
   */
  #maskCopyRun(msgs: Buffer): Buffer {
    const run = this.#currentRun();
    const payloads: Buffer[] = [];
    for (let i = 0; i < msgs.length; ) {
      const end = i + 1 + msgs.readInt32BE(i + 1);
      payloads.push(msgs.subarray(i + 5, end));
      i = end;
    }
    const text = payloads.length === 1 ? (payloads[0] as Buffer) : Buffer.concat(payloads);
    if (run) {
      run.rows += payloads.length;
      run.bytes += text.length;
    }
    const r = this.masking.masker(run?.profile ?? this.fallback).mask(text);
    const counts = Object.entries(r.counts);
    const cap = run && captureOf(run);
    if (cap) cap.addCopy(counts.length === 0 ? text : r.output, this.#copyBinary);
    if (counts.length === 0) return msgs;
    if (run) for (const [k, v] of counts) run.masked[k] = (run.masked[k] ?? 0) + v;
    const out: Buffer[] = [];
    const o = r.output;
    for (let at = 0; at < o.length; ) {
      const nl = o.indexOf(0x0a, at);
      const end = nl < 0 ? o.length : nl + 1;
      out.push(buildCopyData(o.subarray(at, end)));
      at = end;
    }
    return Buffer.concat(out);
  }

  #maskRows(rows: Buffer, count: number): Buffer {
    const run = this.#currentRun();
    const p = this.#currentPlan(run);
    if (run) {
      run.rows += count;
      run.bytes += rows.length;
    }
    const cap = run && captureOf(run);
    if (!p.plan) {
      cap?.addDataRows(rows, this.#fields);
      return rows;
    }
    const r = p.masker.maskDataRows(rows, p.plan);
    if (run) for (const [k, v] of Object.entries(r.counts)) run.masked[k] = (run.masked[k] ?? 0) + v;
    // Only what the client receives is captured: the masked output.
    cap?.addDataRows(r.output, this.#fields);
    return r.output;
  }

  /** For an Execute at the head: the columns of the portal it runs, once per Execute. */
  #selectFields(): void {
    const head = this.#queue[this.#head];
    if (head?.kind === 'execute' && this.#fieldsFor !== head) {
      this.#fieldsFor = head;
      this.#portalFields(head.portal);
    }
  }

  #currentPlan(run: StatementRun | undefined): { plan: RowPlan | undefined; masker: Masker } {
    this.#selectFields();
    if (this.#plan) return this.#plan;
    // Rows the gateway cannot attribute to a statement are masked with the strictest profile.
    const profile = run?.profile ?? this.fallback;
    const masker = this.masking.masker(profile);
    const fields = this.#fields;
    // Columns unknown (no Describe seen): scan every column, never pass rows unmasked.
    const plan = fields
      ? this.masking.plan(
          profile,
          fields.map((f) => ({ name: f.name, tableOid: f.tableOid, typeOid: f.typeOid, format: f.format })),
          this.#tableOf,
        )
      : masker.rowPlan([], { action: 'scan' });
    this.#plan = { plan, masker };
    return this.#plan;
  }

  #setFields(fields: readonly FieldDescription[] | undefined): void {
    this.#fields = fields;
    this.#plan = undefined;
  }

  #currentRun(): StatementRun | undefined {
    const e = this.#queue[this.#head];
    if (!e) return undefined;
    if (e.kind === 'execute' || e.kind === 'function') return e.run;
    if (e.kind === 'query') return e.runs[this.#queryIndex];
    return undefined;
  }

  #pop(): Expectation | undefined {
    const e = this.#queue[this.#head];
    if (!e) return undefined;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    return e;
  }

  #finish(run: StatementRun | undefined, outcome: string, errorCode?: string): void {
    if (!run || run.outcome !== undefined) return;
    run.outcome = outcome;
    if (errorCode) run.errorCode = errorCode;
    this.onDone(run);
  }

  #message(code: number, b: Buffer): Buffer {
    const head = this.#queue[this.#head];
    switch (code) {
      case BackendCode.ParseComplete:
      case BackendCode.BindComplete:
        this.#pop();
        return b;
      case BackendCode.CloseComplete: {
        const e = this.#pop();
        if (e?.kind === 'close') (e.target === 'S' ? this.#statements : this.#portals).delete(e.name);
        return b;
      }
      case BackendCode.ParameterDescription:
        return b;
      case BackendCode.RowDescription: {
        const fields = parseRowDescription(b).fields;
        if (head?.kind === 'describe') {
          this.#pop();
          if (head.target === 'S') this.#statements.set(head.name, fields);
          else {
            const p = this.#portals.get(head.name);
            if (p) p.fields = fields;
          }
        } else {
          this.#setFields(fields);
        }
        return b;
      }
      case BackendCode.NoData:
        if (head?.kind === 'describe') {
          this.#pop();
          if (head.target === 'S') this.#statements.set(head.name, []);
        }
        return b;
      case BackendCode.CommandComplete:
      case BackendCode.EmptyQueryResponse:
      case BackendCode.PortalSuspended: {
        const tag =
          code === BackendCode.CommandComplete
            ? parseCommandComplete(b).tag
            : code === BackendCode.PortalSuspended
              ? 'suspended'
              : 'empty';
        const run = this.#currentRun();
        if (this.#copyOut) this.#copyOut = false;
        if (head?.kind === 'query') {
          this.#finish(run, tag);
          this.#queryIndex++;
          this.#setFields(undefined);
        } else if (head?.kind === 'execute') {
          this.#finish(run, tag);
          this.#pop();
        }
        return b;
      }
      case BackendCode.ErrorResponse: {
        const ours = this.refusals.replace(b);
        const fields = ours ? undefined : parseErrorResponse(b).fields;
        const sqlstate = ours ? '42501' : (fields?.code ?? 'XX000');
        this.#copyOut = false;
        if (head?.kind === 'query') {
          this.#finish(this.#currentRun(), 'error', sqlstate);
          this.#queryIndex++;
        } else if (head && head.kind !== 'sync') {
          // The failed message, and everything up to Sync is skipped by the target.
          this.#finish(this.#currentRun(), 'error', sqlstate);
          this.#failed = true;
          while (this.#queue[this.#head] && this.#queue[this.#head]?.kind !== 'sync') {
            const e = this.#pop();
            if (e?.kind === 'execute') this.#finish(e.run, 'skipped');
          }
        }
        return ours ?? this.#maskNotice(b, 'E');
      }
      case BackendCode.NoticeResponse:
        return this.#maskNotice(b, 'N');
      case BackendCode.NotificationResponse: {
        const n = parseNotificationResponse(b);
        const masked = this.#maskText(n.payload);
        return masked === n.payload
          ? b
          : buildNotificationResponse({ pid: n.pid, channel: n.channel, payload: masked });
      }
      case BackendCode.ReadyForQuery: {
        this.transactionStatus = parseReadyForQuery(b).status;
        const e = this.#pop();
        if (e?.kind === 'query') for (const r of e.runs) this.#finish(r, 'skipped');
        this.#queryIndex = 0;
        this.#failed = false;
        this.#setFields(undefined);
        return b;
      }
      case BackendCode.CopyOutResponse:
      case BackendCode.CopyBothResponse:
        this.#copyOut = true;
        // Int8 overall format after the code and length: 0 text, 1 binary.
        this.#copyBinary = b[5] === 1;
        return b;
      case BackendCode.CopyDone:
        return b;
      case BackendCode.FunctionCallResponse: {
        if (head?.kind === 'function') {
          this.#pop();
          this.#finish(head.run, 'function');
        }
        return b;
      }
      case BackendCode.ParameterStatus: {
        const p = parseParameterStatus(b);
        this.onParameter(p.name, p.value);
        return b;
      }
      default:
        // Notice, Notification, CopyInResponse: passed on as they are.
        if (code === D) return this.#maskRows(b, 1);
        return b;
    }
  }

  #maskText(text: string): string {
    const profile = this.#currentRun()?.profile ?? this.fallback;
    const r = this.masking.masker(profile).mask(text);
    return Object.keys(r.counts).length === 0 ? text : r.output.toString('utf8');
  }

  /**
   * Errors and notices can quote data ("Key (email)=(ann@example.com) already exists", a
   * RAISE NOTICE with a value): their free-text fields are scanned like result values.
   */
  #maskNotice(b: Buffer, kind: 'E' | 'N'): Buffer {
    const fields = kind === 'E' ? parseErrorResponse(b).fields : parseNoticeResponse(b).fields;
    let changed = false;
    for (const k of ['message', 'detail', 'hint', 'where', 'internalQuery'] as const) {
      const v = fields[k];
      if (v === undefined) continue;
      const m = this.#maskText(v);
      if (m !== v) {
        fields[k] = m;
        changed = true;
      }
    }
    if (!changed) return b;
    return kind === 'E' ? buildErrorResponse(fields) : buildNoticeResponse(fields);
  }

  /** For Execute: the columns of the portal it runs (Describe 'P', else the statement's with Bind formats). */
  #portalFields(portal: string): void {
    const p = this.#portals.get(portal);
    if (!p) this.#setFields(undefined);
    else if (p.fields) this.#setFields(p.fields);
    else {
      const s = this.#statements.get(p.statement);
      this.#setFields(s?.map((f, i) => ({ ...f, format: formatOf(p.resultFormats, i) })));
    }
  }

  get failed(): boolean {
    return this.#failed;
  }
}

/** The run's row capture when its profile asks for one and it still has room, else undefined. */
function captureOf(run: StatementRun): RowCapture | undefined {
  const limit = run.profile.capture;
  if (!limit) return undefined;
  run.capture ??= new RowCapture(limit);
  return run.capture.full ? undefined : run.capture;
}

/**
 * Appends a copy of the messages of `f` from the `from`-th on to `held` (the frame buffer is
 * the socket's and may be reused once this read is handled).
 */
function holdFrom(held: PgFrames[], f: PgFrames, fromTriple: number): void {
  const ix = f.index;
  if (fromTriple >= ix.length) return;
  const start = ix[fromTriple + 1] as number;
  const last = ix.length - 3;
  const end = (ix[last + 1] as number) + (ix[last + 2] as number);
  const index = ix.slice(fromTriple);
  for (let k = 1; k < index.length; k += 3) index[k] = (index[k] as number) - start;
  held.push({ buf: Buffer.from(f.buf.subarray(start, end)), index });
}

/** One `PgFrames` for several, in order. */
function joinFrames(all: readonly PgFrames[]): PgFrames {
  if (all.length === 1) return all[0] as PgFrames;
  const index = new Uint32Array(all.reduce((n, f) => n + f.index.length, 0));
  let at = 0;
  let base = 0;
  for (const f of all) {
    for (let k = 0; k < f.index.length; k += 3) {
      index[at++] = f.index[k] as number;
      index[at++] = (f.index[k + 1] as number) + base;
      index[at++] = f.index[k + 2] as number;
    }
    base += f.buf.length;
  }
  return { buf: Buffer.concat(all.map((f) => f.buf)), index };
}
