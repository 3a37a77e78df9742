import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import {
  type ApprovalGate,
  type AuditSink,
  type Authenticator,
  type CommandInput,
  type ConnectionContext,
  type CredentialVault,
  type Decision,
  Errors,
  type Identity,
  type Masker,
  type MaskingProfile,
  PgFrameReader,
  type PolicyDecider,
  type Resource,
  SessionPipeline,
  strictestClass,
  TollgateError,
} from '@tollgate/core';
import type { TargetConnection } from '../target/index';
import { connectTarget, sendCancel } from '../target/index';
import {
  type BackendKey,
  buildAuthenticationCleartextPassword,
  buildAuthenticationOk,
  buildBackendKeyData,
  buildParameterStatus,
  buildParse,
  buildQuery,
  buildReadyForQuery,
  errorResponse,
  FrontendCode,
  formatOf,
  negotiateProtocolVersion,
  noticeResponse,
  parseBind,
  parseClose,
  parseDescribe,
  parseExecute,
  parseFunctionCall,
  parseParse,
  parsePasswordMessage,
  parseQuery,
  parseStartupPhase,
  type StartupMessage,
} from '../wire/index';
import type { CancelKeys } from './cancel';
import type { CapturedResult } from './capture';
import type { CatalogNamesOptions, CatalogRegistry, TableNames } from './catalog';
import { ClassificationCache, type ClassifiedStatement, type SqlClassifier } from './classify';
import { Refusals } from './denial';
import { ChunkReader } from './io';
import { type ResultMasking, SCAN_EVERYTHING } from './masking';

export { SCAN_EVERYTHING } from './masking';

import { type Expectation, newStatementRun, ResultStream, type StatementRun } from './results';

export interface PostgresAdapterOptions {
  readonly authenticator: Authenticator;
  readonly policy: PolicyDecider;
  readonly approvals: ApprovalGate;
  readonly audit: AuditSink;
  readonly vault: CredentialVault;
  readonly classify: SqlClassifier;
  readonly masking: ResultMasking;
  /** Masks statement text and parameters before they are audited or shown to reviewers. */
  readonly textMasker: Masker;
  /** Profile for results when the deciding rule names none: scan every column for everything. */
  readonly defaultProfile?: MaskingProfile;
  /** TLS for agents (answer to SSLRequest); without it SSLRequest is answered 'N'. */
  readonly tls?: SecureContext;
  /** Refuse sessions that did not negotiate TLS. */
  readonly requireTls?: boolean;
  /** Accept tokens over plaintext from non-loopback clients (default false). */
  readonly allowPlaintextPasswords?: boolean;
  /** Largest message accepted from either side (default 64 MiB). */
  readonly maxMessageLength?: number;
  readonly connectTimeoutMs?: number;
  /**
   * Table names for `table:` column rules, looked up in each target's catalog over a connection
   * of the gateway's own (bounds: docs/postgres.md, "Masking results"); `false` turns it off
   * and leaves the fail-safe.
   */
  readonly tableLookup?: false | CatalogNamesOptions;
}

export interface CancelRoute {
  readonly host: string;
  readonly port: number;
  readonly tls: Resource['tls'];
  readonly key: BackendKey;
}

const STARTUP_MAX = 10_000;
const MAX_TEXT_IN_AUDIT = 64 * 1024;
const MAX_PARAM_IN_AUDIT = 4096;

/** What the gateway remembers about a prepared statement (extended protocol). */
interface Prepared {
  readonly cmd: CommandInput;
  readonly decision: Decision;
  readonly approvalId: string | undefined;
  /** Refused at Parse: the target never prepared it. */
  readonly refused: boolean;
}

interface Portal {
  readonly prepared: Prepared | undefined;
  readonly params: unknown[];
}

function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

function fatal(err: TollgateError): Buffer {
  return errorResponse(err, 'FATAL');
}

/**
 * One agent connection: start-up, authentication, target connection, then every message the
 * agent sends, decided and audited before it is forwarded; every result masked on the way back.
 */
export class PostgresSession {
  #client: Socket | TLSSocket;
  #reader: ChunkReader;
  #target: TargetConnection | undefined;
  #pipeline: SessionPipeline | undefined;
  #results: ResultStream | undefined;
  readonly #refusals = new Refusals();
  readonly #prepared = new Map<string, Prepared>();
  readonly #portals = new Map<string, Portal>();
  readonly #gone = new AbortController();
  #gatewayKey: BackendKey | undefined;
  #encrypted = false;
  #statements = 0;
  #standardStrings = true;
  #onTargetClose: (() => void) | undefined;
  /** Table names for `table:` column rules, from the target's catalog. */
  #tables: TableNames | undefined;
  /** Bytes read but not yet consumed by start-up and authentication. */
  #carry: Buffer = Buffer.alloc(0);

  constructor(
    socket: Socket,
    private readonly ctx: ConnectionContext,
    private readonly opts: PostgresAdapterOptions,
    private readonly cancelKeys: CancelKeys<CancelRoute>,
    private readonly classified: ClassificationCache = new ClassificationCache(0),
    private readonly catalogs?: CatalogRegistry,
  ) {
    this.#client = socket;
    this.#reader = new ChunkReader(socket);
    // A held statement waits on this: a client that goes away cancels its approval request.
    socket.once('close', () => this.#gone.abort('client disconnected'));
  }

  get #maxLen(): number {
    return this.opts.maxMessageLength ?? 64 << 20;
  }

  async run(): Promise<void> {
    const onShutdown = () => this.#gone.abort('gateway shutting down');
    this.ctx.signal.addEventListener('abort', onShutdown, { once: true });
    try {
      const startup = await this.#startup();
      if (!startup) return;
      const ok = await this.#login(startup);
      if (!ok) return;
      await this.#commands();
    } catch (err) {
      const e =
        err instanceof TollgateError
          ? err
          : new TollgateError(Errors.PROTOCOL_VIOLATION, `session ended: ${(err as Error).message}`);
      this.#send(fatal(e));
      this.ctx.log(`postgres ${this.ctx.remote}: ${e.message}`);
    } finally {
      this.ctx.signal.removeEventListener('abort', onShutdown);
      this.#gone.abort('client disconnected');
      if (this.#gatewayKey) this.cancelKeys.release(this.#gatewayKey);
      // The session is ending on purpose: no "target closed the connection" for the client.
      if (this.#onTargetClose) this.#target?.socket.off('close', this.#onTargetClose);
      this.#target?.socket.destroy();
      await this.#pipeline?.end({ statements: this.#statements });
      this.#client.end();
    }
  }

  #send(b: Buffer | Buffer[]): boolean {
    if (this.#client.destroyed || !this.#client.writable) return false;
    if (Array.isArray(b)) {
      if (b.length === 0) return true;
      return this.#client.write(b.length === 1 ? (b[0] as Buffer) : Buffer.concat(b));
    }
    return this.#client.write(b);
  }

  // --- 1. handshake -------------------------------------------------------------------------

  /**
   * The next whole message of the start-up phase (`startup`: no type byte) or of authentication,
   * read one at a time so that bytes a client sends ahead are kept, in `#carry`, for the next
   * phase. `undefined` when the client is gone.
   */
  async #take(startup: boolean): Promise<Buffer | undefined> {
    const head = startup ? 4 : 5;
    const max = startup ? STARTUP_MAX : 64 * 1024;
    for (;;) {
      const c = this.#carry;
      if (c.length >= head) {
        const len = c.readInt32BE(startup ? 0 : 1);
        if (len < 4 || len > max) {
          throw new TollgateError(
            len > max ? Errors.MESSAGE_TOO_LARGE : Errors.PROTOCOL_VIOLATION,
            `${startup ? 'start-up' : 'authentication'} message length ${len} is ${len < 4 ? 'invalid' : `above the limit of ${max} bytes`}`,
          );
        }
        const total = startup ? len : len + 1;
        if (c.length >= total) {
          this.#carry = c.subarray(total);
          return c.subarray(0, total);
        }
      }
      const chunk = await this.#reader.read();
      if (chunk === null) return undefined;
      this.#carry = c.length ? Buffer.concat([c, chunk]) : chunk;
    }
  }

  /** Reads start-up messages until a StartupMessage; answers SSL/GSS requests and cancels. */
  async #startup(): Promise<StartupMessage | undefined> {
    for (;;) {
      const msg = await this.#take(true);
      if (!msg) return undefined;
      const m = parseStartupPhase(msg);
      switch (m.type) {
        case 'SSLRequest':
          if (this.#encrypted || !this.opts.tls) {
            this.#send(Buffer.from('N'));
            continue;
          }
          await this.#upgrade();
          continue;
        case 'GSSENCRequest':
          this.#send(Buffer.from('N'));
          continue;
        case 'CancelRequest':
          await this.#relayCancel(m);
          return undefined;
        case 'StartupMessage': {
          const nego = negotiateProtocolVersion(m);
          if (nego) this.#send(nego);
          return m;
        }
      }
    }
  }

  async #upgrade(): Promise<void> {
    const raw = this.#client as Socket;
    const rest = this.#reader.detach();
    // Bytes sent before the handshake would be read as if they had been encrypted (CVE-2021-23222).
    if (rest.length > 0 || this.#carry.length > 0) {
      throw new TollgateError(Errors.PROTOCOL_VIOLATION, 'data after SSLRequest before the TLS handshake');
    }
    raw.write('S');
    const tls = new TLSSocket(raw, { isServer: true, secureContext: this.opts.tls as SecureContext });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new TollgateError(Errors.PROTOCOL_VIOLATION, 'TLS handshake timed out')),
        10_000,
      );
      tls.once('secure', () => {
        clearTimeout(timer);
        resolve();
      });
      tls.once('error', (err) => {
        clearTimeout(timer);
        reject(new TollgateError(Errors.PROTOCOL_VIOLATION, `TLS handshake failed: ${err.message}`));
      });
    });
    this.#client = tls;
    this.#reader = new ChunkReader(tls);
    this.#encrypted = true;
  }

  async #relayCancel(key: BackendKey): Promise<void> {
    const route = this.cancelKeys.lookup(key);
    // As PostgreSQL does: no answer either way, so a key cannot be probed.
    if (!route) return;
    await sendCancel({ host: route.host, port: route.port, tls: route.tls }, route.key, {
      timeoutMs: 5000,
    }).catch(() => {});
  }

  // --- 2./3. authenticate and connect ---------------------------------------------------------

  async #login(startup: StartupMessage): Promise<boolean> {
    const encoding = startup.params.get('client_encoding');
    if (encoding !== undefined && !isSafeEncoding(encoding)) {
      this.#send(fatal(unsafeEncoding(encoding)));
      return false;
    }
    const user = startup.params.get('user') ?? '';
    const database = startup.params.get('database') ?? user;
    const remoteAddr = this.ctx.remote.slice(0, this.ctx.remote.lastIndexOf(':')).replace(/^\[|\]$/g, '');
    if (!this.#encrypted && this.opts.requireTls) {
      this.#send(
        fatal(
          new TollgateError(Errors.AUTH_FAILED, 'this gateway requires TLS', {
            hint: 'connect with sslmode=require',
          }),
        ),
      );
      return false;
    }
    if (!this.#encrypted && !this.opts.allowPlaintextPasswords && !isLoopback(remoteAddr)) {
      this.#send(
        fatal(
          new TollgateError(Errors.AUTH_FAILED, 'tokens are accepted only over TLS or from loopback', {
            hint: 'connect with sslmode=require',
          }),
        ),
      );
      return false;
    }
    this.#send(buildAuthenticationCleartextPassword());
    const pw = await this.#take(false);
    if (!pw) return false;
    if (pw[0] !== FrontendCode.PasswordData) {
      throw new TollgateError(Errors.PROTOCOL_VIOLATION, 'expected a password message');
    }
    const token = parsePasswordMessage(pw).password;

    let identity: Identity;
    try {
      identity = await this.opts.authenticator.authenticateToken(token);
      if (user !== identity.subject) {
        throw new TollgateError(
          Errors.AUTH_FAILED,
          `user "${user}" does not match the token's identity "${identity.subject}"`,
          {
            hint: 'set the connection user to the identity your token names',
          },
        );
      }
    } catch (err) {
      const e =
        err instanceof TollgateError ? err : new TollgateError(Errors.AUTH_FAILED, 'authentication failed');
      await this.opts.audit
        .append({
          type: 'auth.failure',
          resource: database,
          data: { protocol: 'postgres', user, remote: this.ctx.remote, reason: e.message },
        })
        .catch(() => {});
      this.#send(fatal(e));
      return false;
    }

    const resource = this.opts.policy.resource(database);
    if (resource?.protocol !== 'postgres') {
      const e = new TollgateError(Errors.NOT_FOUND, `no PostgreSQL resource named "${database}"`, {
        hint: 'the connection database names a resource of the gateway policy',
      });
      this.#send(
        errorResponse({ severity: 'FATAL', code: '3D000', message: e.message, hint: e.hint as string }),
      );
      return false;
    }

    let pipeline: SessionPipeline;
    try {
      pipeline = await SessionPipeline.open(
        { policy: this.opts.policy, approvals: this.opts.approvals, audit: this.opts.audit },
        { protocol: 'postgres', identity, resource: resource.name, remote: this.ctx.remote },
        {
          auth: { tls: this.#encrypted },
          start: { application: startup.params.get('application_name') ?? null, tls: this.#encrypted },
        },
      );
    } catch (err) {
      this.#send(
        fatal(
          err instanceof TollgateError
            ? err
            : new TollgateError(Errors.AUDIT_UNAVAILABLE, 'audit store unavailable'),
        ),
      );
      return false;
    }
    this.#pipeline = pipeline;

    let target: TargetConnection;
    const [host, portText] = splitAddress(resource.address);
    try {
      const password = resource.credential ? await this.opts.vault.resolve(resource.credential) : undefined;
      const passthrough = new Map<string, string>();
      for (const [k, v] of startup.params)
        if (k !== 'user' && k !== 'database' && k !== 'options') passthrough.set(k, v);
      target = await connectTarget({
        host,
        port: Number(portText),
        user: resource.username ?? user,
        password,
        database: resource.database ?? resource.name,
        tls: resource.tls,
        startupParams: passthrough,
        connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      });
    } catch (err) {
      const e =
        err instanceof TollgateError
          ? err
          : new TollgateError(Errors.TARGET_UNAVAILABLE, 'target unavailable');
      this.#send(
        fatal(new TollgateError(Errors.TARGET_UNAVAILABLE, `cannot reach ${resource.name}: ${e.message}`)),
      );
      await pipeline.end({ error: e.message });
      this.#pipeline = undefined;
      return false;
    }
    this.#target = target;
    this.#tables = this.catalogs?.for(resource, resource.username ?? user, this.opts.vault);
    this.#gatewayKey = this.cancelKeys.issue({
      host,
      port: Number(portText),
      tls: resource.tls,
      key: target.backendKey,
    });
    const hello: Buffer[] = [buildAuthenticationOk()];
    for (const [k, v] of target.parameters) hello.push(buildParameterStatus(k, v));
    hello.push(buildBackendKeyData(this.#gatewayKey), buildReadyForQuery('I'));
    this.#send(hello);
    return true;
  }

  // --- 4./5. commands and results -------------------------------------------------------------

  async #commands(): Promise<void> {
    const target = this.#target as TargetConnection;
    this.#standardStrings = target.parameters.get('standard_conforming_strings') !== 'off';
    const results = new ResultStream(
      this.opts.masking,
      this.#refusals,
      (run) => this.#done(run),
      this.#maxLen,
      (name, value) => this.#parameter(name, value),
    );
    this.#results = results;
    const tsock = target.socket;
    let targetGone = false;
    const badTarget = (err: Error) => {
      this.#send(
        fatal(new TollgateError(Errors.PROTOCOL_VIOLATION, `bad message from the target: ${err.message}`)),
      );
      this.#client.destroy();
    };
    // Results wait while table names are looked up: the target is paused, the client sees nothing.
    let draining = false;
    const deliver = (out: Buffer[]) => {
      if (!this.#send(out) && !draining) {
        draining = true;
        this.#client.once('drain', () => {
          draining = false;
          if (!results.holding) tsock.resume();
        });
      }
      if (results.holding || draining) tsock.pause();
      else tsock.resume();
    };
    if (this.#tables)
      results.useTables(this.#tables, (out) => (out instanceof Error ? badTarget(out) : deliver(out)));
    tsock.on('data', (chunk: Buffer) => {
      let out: Buffer[];
      try {
        out = results.push(chunk);
      } catch (err) {
        badTarget(err as Error);
        return;
      }
      deliver(out);
    });
    tsock.on('error', () => {});
    this.#onTargetClose = () => {
      targetGone = true;
      if (!this.#client.destroyed) {
        this.#send(fatal(new TollgateError(Errors.TARGET_UNAVAILABLE, 'the target closed the connection')));
        this.#client.end();
      }
    };
    tsock.on('close', this.#onTargetClose);
    if (target.leftover.length > 0) tsock.emit('data', target.leftover);
    tsock.resume();

    const frames = new PgFrameReader({ maxMessageLength: this.#maxLen });
    let early: Buffer | null = this.#carry.length ? this.#carry : null;
    this.#carry = Buffer.alloc(0);
    for (;;) {
      const chunk = early ?? (await this.#reader.read());
      early = null;
      if (chunk === null || targetGone) return;
      const msgs = frames.push(chunk);
      if (msgs.length === 0) continue;
      const terminate = await this.#batch(msgs.map((m) => m.bytes));
      if (terminate) return;
    }
  }

  /**
   * The classifier must read statements the way the target will: it follows
   * standard_conforming_strings, and the session ends if the client encoding leaves UTF-8 (in
   * encodings such as SJIS or GBK a multi-byte character can end in a quote or backslash byte).
   */
  #parameter(name: string, value: string): void {
    if (name === 'standard_conforming_strings') this.#standardStrings = value !== 'off';
    if (name === 'client_encoding' && !isSafeEncoding(value)) {
      this.#send(fatal(unsafeEncoding(value)));
      this.#client.destroy();
    }
  }

  /**
   * Decides, audits (write-ahead, group-committed) and forwards one read's worth of messages.
   * Returns true when the client sent Terminate.
   */
  async #batch(msgs: Buffer[]): Promise<boolean> {
    const pipeline = this.#pipeline as SessionPipeline;
    const results = this.#results as ResultStream;
    let out: Buffer[] = [];
    let expects: Expectation[] = [];
    let records: Array<Promise<unknown>> = [];
    const flush = async () => {
      if (records.length) {
        const settled = await Promise.allSettled(records);
        const failed = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
        if (failed) {
          throw failed.reason instanceof TollgateError
            ? failed.reason
            : new TollgateError(Errors.AUDIT_UNAVAILABLE, 'audit store unavailable: command refused');
        }
      }
      for (const e of expects) results.expect(e);
      if (out.length) await this.#forward(out);
      out = [];
      expects = [];
      records = [];
    };
    for (const m of msgs) {
      switch (m[0]) {
        case FrontendCode.Query: {
          const { sql } = parseQuery(m);
          const r = await this.#decideText(sql, flush);
          if (r.kind === 'refuse') {
            out.push(buildQuery(this.#refusals.statement(r.error)));
            expects.push({ kind: 'query', runs: [] });
          } else {
            const runs = r.statements.map((cmd) =>
              this.#run(pipeline.record(cmd, r.decisionLabel, r.decision, r.approvalId), r.profile, records),
            );
            out.push(m);
            expects.push({ kind: 'query', runs: await Promise.all(runs) });
          }
          break;
        }
        case FrontendCode.Parse: {
          const p = parseParse(m);
          const r = await this.#decideText(p.sql, flush);
          if (r.kind === 'refuse') {
            this.#prepared.set(p.name, {
              cmd: r.cmd,
              decision: r.decision,
              approvalId: undefined,
              refused: true,
            });
            out.push(buildParse({ name: p.name, sql: this.#refusals.statement(r.error), paramTypes: [] }));
          } else {
            const cmd = r.statements.length === 1 ? (r.statements[0] as CommandInput) : r.whole;
            this.#prepared.set(p.name, {
              cmd,
              decision: r.decision,
              approvalId: r.approvalId,
              refused: false,
            });
            out.push(m);
          }
          expects.push({ kind: 'parse' });
          break;
        }
        case FrontendCode.Bind: {
          const b = parseBind(m);
          const prepared = this.#prepared.get(b.statement);
          const params = b.params.map((v, i) => this.#auditParam(v, formatOf(b.paramFormats, i)));
          this.#portals.set(b.portal, { prepared, params });
          out.push(m);
          expects.push({
            kind: 'bind',
            portal: b.portal,
            statement: b.statement,
            resultFormats: b.resultFormats,
          });
          break;
        }
        case FrontendCode.Execute: {
          const { portal } = parseExecute(m);
          const p = this.#portals.get(portal);
          const prepared = p?.prepared;
          let run: StatementRun | undefined;
          if (prepared && !prepared.refused) {
            const label = prepared.approvalId ? 'approved' : prepared.decision.effect;
            const cmd = { ...prepared.cmd, data: { ...prepared.cmd.data, params: p.params } };
            run = await this.#run(
              pipeline.record(cmd, label, prepared.decision, prepared.approvalId),
              profileOf(this.opts, prepared.decision),
              records,
            );
          }
          out.push(m);
          expects.push({ kind: 'execute', portal, run });
          break;
        }
        case FrontendCode.Describe: {
          const d = parseDescribe(m);
          out.push(m);
          expects.push({ kind: 'describe', target: d.target, name: d.name });
          break;
        }
        case FrontendCode.Close: {
          const c = parseClose(m);
          if (c.target === 'S') this.#prepared.delete(c.name);
          else this.#portals.delete(c.name);
          out.push(m);
          expects.push({ kind: 'close', target: c.target, name: c.name });
          break;
        }
        case FrontendCode.Sync:
          out.push(m);
          expects.push({ kind: 'sync' });
          break;
        case FrontendCode.Flush:
        case FrontendCode.CopyData:
        case FrontendCode.CopyDone:
        case FrontendCode.CopyFail:
          out.push(m);
          break;
        case FrontendCode.FunctionCall: {
          const f = parseFunctionCall(m);
          const cmd: CommandInput = {
            action: 'unknown',
            text: `FunctionCall oid=${f.functionOid}`,
            fingerprint: `functioncall:${f.functionOid}`,
            data: { reasons: ['fast-path FunctionCall: the function cannot be classified'] },
          };
          const decision = pipeline.decide(cmd);
          if (decision.effect === 'allow') {
            const run = await this.#run(
              pipeline.record(cmd, 'allow', decision),
              profileOf(this.opts, decision),
              records,
            );
            out.push(m);
            expects.push({ kind: 'function', run });
          } else {
            await flush();
            const err =
              decision.effect === 'deny'
                ? pipeline.denial(cmd, decision)
                : new TollgateError(
                    Errors.ACCESS_DENIED,
                    'FunctionCall needs approval, which the fast-path protocol cannot wait for',
                  );
            await pipeline.record(cmd, 'deny', decision);
            out.push(buildQuery(this.#refusals.statement(err)));
            expects.push({ kind: 'function', run: undefined });
          }
          break;
        }
        case FrontendCode.Terminate:
          await flush();
          return true;
        default:
          throw new TollgateError(
            Errors.PROTOCOL_VIOLATION,
            `unexpected message type '${String.fromCharCode(m[0] as number)}' after start-up`,
          );
      }
    }
    await flush();
    return false;
  }

  async #forward(out: Buffer[]): Promise<void> {
    const tsock = (this.#target as TargetConnection).socket;
    const ok = tsock.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
    if (!ok) await new Promise<void>((resolve) => tsock.once('drain', resolve));
  }

  /** Starts a write-ahead record (joined into the batch's group commit) for one execution. */
  async #run(
    seq: Promise<number>,
    profile: MaskingProfile,
    records: Array<Promise<unknown>>,
  ): Promise<StatementRun> {
    const run = newStatementRun(profile);
    records.push(
      seq.then((s) => {
        (run as { auditSeq: number }).auditSeq = s;
      }),
    );
    this.#statements++;
    return run;
  }

  #done(run: StatementRun): void {
    if (run.auditSeq === 0) return;
    this.#pipeline
      ?.result(run.auditSeq, {
        durationMs: Date.now() - run.startedAt,
        rows: run.rows,
        bytes: run.bytes,
        masked: run.masked,
        ...(run.errorCode ? { errorCode: run.errorCode } : {}),
        data: { outcome: run.outcome, ...capturedOf(run) },
      })
      .catch((err: Error) =>
        this.ctx.log(`postgres ${this.ctx.remote}: cannot record a result: ${err.message}`),
      );
  }

  #maskText(text: string): string {
    const t = text.length > MAX_TEXT_IN_AUDIT ? `${text.slice(0, MAX_TEXT_IN_AUDIT)}…` : text;
    return this.opts.textMasker.mask(t).output.toString('utf8');
  }

  #auditParam(v: Buffer | null, format: number): unknown {
    if (v === null) return null;
    if (format === 1) return `<binary ${v.length} bytes>`;
    const s =
      v.length > MAX_PARAM_IN_AUDIT
        ? `${v.subarray(0, MAX_PARAM_IN_AUDIT).toString('utf8')}…`
        : v.toString('utf8');
    return this.opts.textMasker.mask(s).output.toString('utf8');
  }

  /**
   * Classifies a query string and decides it statement by statement; the strictest decision
   * governs: any deny refuses it all, any approval holds it all (one request for the whole
   * text), otherwise it is allowed. A hold flushes what is queued and waits here, with the
   * client waiting too.
   */
  async #decideText(
    sql: string,
    flush: () => Promise<void>,
  ): Promise<
    | { kind: 'refuse'; error: TollgateError; cmd: CommandInput; decision: Decision }
    | {
        kind: 'forward';
        statements: CommandInput[];
        whole: CommandInput;
        decision: Decision;
        decisionLabel: string;
        approvalId: string | undefined;
        profile: MaskingProfile;
      }
  > {
    const pipeline = this.#pipeline as SessionPipeline;
    const scs = this.#standardStrings;
    // Classification depends on the text alone (cached); the decisions below are made every time.
    const c = this.classified.get(sql, scs, () => ({
      statements: this.opts.classify(sql, { standardConformingStrings: scs }).statements,
      maskedText: this.#maskText(sql),
    }));
    const text = c.maskedText;
    const stmts = c.statements;
    const cmds: CommandInput[] = stmts.map((s) => ({
      action: s.class,
      text: stmts.length === 1 ? text : `${s.command} (statement of: ${text})`,
      fingerprint: s.fingerprint,
      detail: { tables: s.tables },
      data: { command: s.command, tables: s.tables, ...(s.reasons.length ? { reasons: s.reasons } : {}) },
    }));
    const strictest = strictestClass(stmts.map((s) => s.class));
    const whole: CommandInput = {
      action: stmts.length ? strictest : 'utility',
      text,
      // One statement (the usual case) is its own fingerprint; several are hashed together.
      fingerprint:
        stmts.length === 1
          ? (stmts[0] as ClassifiedStatement).fingerprint
          : createHash('sha256')
              .update(stmts.map((s) => s.fingerprint).join(';'))
              .digest('hex')
              .slice(0, 16),
      data: { statements: stmts.length },
    };
    const decisions = cmds.map((c) => pipeline.decide(c));
    const denied = decisions.findIndex((d) => d.effect === 'deny');
    if (denied >= 0) {
      const d = decisions[denied] as Decision & { effect: 'deny' };
      const cmd = cmds[denied] as CommandInput;
      await Promise.all(
        cmds.map((c, i) =>
          pipeline.record(c, i === denied ? 'deny' : 'deny (another statement)', decisions[i] as Decision),
        ),
      );
      return { kind: 'refuse', error: pipeline.denial(cmd, d), cmd, decision: d };
    }
    const approval = decisions.findIndex((d) => d.effect === 'require-approval');
    if (approval >= 0) {
      const d = decisions[approval] as Decision & { effect: 'require-approval' };
      await flush();
      const held = await pipeline.hold({ ...whole, action: cmds[approval]?.action ?? whole.action }, d);
      if (held.kind === 'reject') throw held.error;
      this.#send(
        noticeResponse({
          message: `tollgate: ${held.command.action} statement held for approval (${held.approval.id}); waiting until ${new Date(held.until).toISOString()}`,
          hint: `a reviewer runs: tollgate approvals approve ${held.approval.id}`,
        }),
      );
      const done = await pipeline.awaitApproval(held, this.#gone.signal);
      if (done.kind === 'reject') return { kind: 'refuse', error: done.error, cmd: whole, decision: d };
      return {
        kind: 'forward',
        statements: cmds,
        whole,
        decision: d,
        decisionLabel: 'approved',
        approvalId: done.approvalId,
        profile: profileOf(this.opts, d),
      };
    }
    const d = decisions[0] ?? ({ effect: 'allow', rule: '(empty query)', masking: undefined } as Decision);
    return {
      kind: 'forward',
      statements: cmds,
      whole,
      decision: d,
      decisionLabel: 'allow',
      approvalId: undefined,
      profile: profileOf(this.opts, d),
    };
  }
}

/** `{ capture }` for the result record when the profile captured rows. */
function capturedOf(run: StatementRun): { capture?: CapturedResult } {
  const c = run.capture?.toJSON();
  return c ? { capture: c } : {};
}

function profileOf(opts: PostgresAdapterOptions, d: Decision): MaskingProfile {
  const name = d.effect === 'deny' ? undefined : d.masking;
  return (name ? opts.policy.maskingProfile(name) : undefined) ?? opts.defaultProfile ?? SCAN_EVERYTHING;
}

/**
 * Client encodings whose multi-byte characters can end in an ASCII byte such as a quote or a
 * backslash (PostgreSQL allows them only as client encodings for that reason). Through them
 * the gateway would not split statements the way the server does, so they are refused; every
 * other encoding is ASCII-safe for statement syntax.
 */
const UNSAFE_CLIENT_ENCODINGS = new Set([
  'sjis',
  'shiftjis',
  'mskanji',
  'shiftjis2004',
  'win932',
  'cp932',
  'big5',
  'win950',
  'cp950',
  'gbk',
  'win936',
  'cp936',
  'gb18030',
  'uhc',
  'win949',
  'cp949',
  'johab',
]);

function unsafeEncoding(encoding: string): TollgateError {
  return new TollgateError(
    Errors.PROTOCOL_VIOLATION,
    `client_encoding ${encoding} is not supported through the gateway`,
    {
      hint: 'use UTF8: in this encoding a character can end in a quote byte, so statements could not be classified as the server reads them',
    },
  );
}

function isSafeEncoding(encoding: string): boolean {
  return !UNSAFE_CLIENT_ENCODINGS.has(
    encoding.trim().replace(/^'|'$/g, '').replace(/[-_]/g, '').toLowerCase(),
  );
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}
