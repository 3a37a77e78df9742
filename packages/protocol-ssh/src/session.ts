import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  type ApprovalGate,
  type AuditSink,
  type Authenticator,
  type CommandInput,
  type ConnectionContext,
  type CredentialVault,
  type Decision,
  Errors,
  type Forward,
  type Identity,
  identityRef,
  type Masker,
  type MaskingProfile,
  type PolicyDecider,
  type Resource,
  SessionPipeline,
  TollgateError,
} from '@tollgate/core';
import {
  type AuthContext,
  type Client,
  type ClientCallback,
  type ClientChannel,
  type Connection,
  type PseudoTtyInfo,
  type ServerChannel,
  type Session,
  type SFTPWrapper,
  type TcpipRequestInfo,
  utils,
  type X11Details,
  type X11Info,
  type X11Options,
} from 'ssh2';
import { ForwardedAgent, openAgentChannel } from './forwarding';
import { installFlowGuard, sftpStderr } from './guard';
import { OutputMasking } from './output';
import { ChannelRecorder } from './recording';
import { endSftp, proxySftp, strictest } from './sftp';
import { parseCommandLine, ShellParseError } from './shell-words';
import { connectTarget, fingerprint as keyId } from './target';

export interface SshAdapterOptions {
  readonly authenticator: Authenticator;
  readonly policy: PolicyDecider;
  readonly approvals: ApprovalGate;
  readonly audit: AuditSink;
  readonly vault: CredentialVault;
  /** Masks command output streams, and command text before it is audited or shown to reviewers. */
  readonly masker: Masker;
  /**
   * The masker for a rule's masking profile (its entities and styles; column rules do not apply
   * to SSH output). Without it, output is masked with `masker` whatever the rule says.
   */
  readonly profileMasker?: (profile: MaskingProfile) => Masker;
  /** Where the gateway's host key lives; generated there on first start (mode 0600). */
  readonly hostKeyFile: string;
  /** Bound on connecting and logging in to a target (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Bound on the agent's authentication phase (default 30 s). */
  readonly authTimeoutMs?: number;
  /** Session recording of exec and shell channels (on by default; see docs/ssh.md). */
  readonly recording?: SshRecordingOptions;
}

/**
 * Exec and shell channels are recorded as asciicast v2 events in `recording` audit records
 * (chunks of one channel each, chained like every record). sftp and forwarded ports are not.
 */
export interface SshRecordingOptions {
  /** Default true. */
  readonly enabled?: boolean;
  /** Record what the agent types into a shell, masked with the channel's masker (default true). */
  readonly input?: boolean;
  /** A chunk (one audit record) is cut at this many JSON characters of events (default 64 Ki). */
  readonly chunkChars?: number;
  /** Longest events wait before they are stored (default 1000 ms). */
  readonly flushMs?: number;
  /** Bytes recorded per channel before the recording stops, marked truncated (default 64 MiB). */
  readonly maxBytes?: number;
}

const METHODS: ('publickey' | 'password')[] = ['publickey', 'password'];
const MAX_AUTH_FAILURES = 6;
const MAX_TEXT_IN_AUDIT = 16 * 1024;
/** With a pty, output held back by the masker is released after this much quiet. */
const IDLE_FLUSH_MS = 40;
/**
 * Bound on what waits in the agent's socket: past it, target output stops being read until the
 * socket drains (a client advertising a huge window and never reading cannot make the gateway
 * buffer without bound).
 */
const AGENT_BACKLOG = 1024 * 1024;
let guardWarned = false;

/**
 * One agent connection, after ssh2 finished the key exchange: authentication (token as the
 * password, or a registered public key), the target connection, then each channel request:
 * `exec`, `shell` (with a pty), the `sftp` subsystem and `direct-tcpip` forwarding; everything
 * else is refused (see docs/ssh.md).
 */
export class SshSession {
  #pipeline: SessionPipeline | undefined;
  #resource: Resource | undefined;
  #target: Promise<Client> | undefined;
  #failures = 0;
  #execs = 0;
  /** Why the gateway closed the connection (a protocol violation), for session.end. */
  #endReason: string | undefined;
  /** The decision that allowed agent forwarding on this connection, once one did. */
  #agentDecision: Decision | undefined;
  /** The audit record of the x11-req that allowed X11 forwarding, once one did. */
  #x11Seq: number | undefined;
  #x11Channels = 0;
  readonly #gone = new AbortController();
  readonly #backlog: () => Promise<void> | undefined;

  /** `socket`: the agent's socket, watched for backpressure (see `AGENT_BACKLOG`). */
  constructor(
    private readonly client: Connection,
    private readonly ctx: ConnectionContext,
    private readonly opts: SshAdapterOptions,
    socket?: Socket,
  ) {
    this.#backlog = drainWaiter(socket, AGENT_BACKLOG);
  }

  /** Resolves when the connection has closed and the session end is recorded. */
  run(): Promise<void> {
    const { client, ctx } = this;
    const authTimer = setTimeout(() => {
      ctx.log(`ssh ${ctx.remote}: no authentication within the time limit; closing`);
      client.end();
    }, this.opts.authTimeoutMs ?? 30_000);
    const onShutdown = () => client.end();
    ctx.signal.addEventListener('abort', onShutdown, { once: true });
    try {
      // the violation itself is logged once, from the 'error' event the guard raises
      installFlowGuard(client, (reason) => {
        this.#endReason = `protocol error: ${reason}`;
      });
    } catch (err) {
      if (!guardWarned) ctx.log(`ssh: ${(err as Error).message}`);
      guardWarned = true;
    }

    client.on('authentication', (a) => {
      this.#authenticate(a).catch((err: Error) => {
        ctx.log(`ssh ${ctx.remote}: authentication error: ${err.message}`);
        a.reject(METHODS);
      });
    });
    client.on('ready', () => clearTimeout(authTimer));
    client.on('session', (accept, reject) => {
      if (!this.#pipeline) return reject();
      this.#channels(accept());
    });
    client.on('tcpip', (accept, reject, info) => {
      if (!this.#pipeline) return reject();
      this.#forward(accept, reject, info).catch((err: Error) => {
        this.ctx.log(`ssh ${this.ctx.remote}: port forwarding failed: ${err.message}`);
        reject();
      });
    });
    // Not built yet: remote forwarding, Unix sockets (docs/ssh.md).
    client.on('openssh.streamlocal', (_accept, reject) => reject());
    client.on('request', (_accept, reject) => reject?.());
    client.on('error', (err) => ctx.log(`ssh ${ctx.remote}: ${err.message}`));

    return new Promise<void>((resolve) => {
      client.once('close', () => {
        clearTimeout(authTimer);
        ctx.signal.removeEventListener('abort', onShutdown);
        this.#gone.abort('client disconnected');
        this.#target?.then((t) => t.end()).catch(() => {});
        const end = { execs: this.#execs, ...(this.#endReason ? { reason: this.#endReason } : {}) };
        const done = this.#pipeline ? this.#pipeline.end(end) : Promise.resolve();
        done.finally(resolve);
      });
    });
  }

  // --- 2. authenticate ------------------------------------------------------------------------

  async #authenticate(a: AuthContext): Promise<void> {
    if (this.#pipeline) return a.reject(); // already authenticated
    if (a.method !== 'password' && a.method !== 'publickey') return a.reject(METHODS);
    const at = a.username.lastIndexOf('@');
    const resourceName = at >= 0 ? a.username.slice(at + 1) : a.username;
    const claimed = at >= 0 ? a.username.slice(0, at) : undefined;

    let identity: Identity;
    try {
      if (a.method === 'password') {
        identity = await this.opts.authenticator.authenticateToken(a.password);
      } else {
        const found = await this.opts.authenticator.authenticatePublicKey({
          algorithm: a.key.algo,
          data: a.key.data,
        });
        if (!found)
          throw new TollgateError(Errors.AUTH_FAILED, `public key ${keyId(a.key.data)} is not registered`);
        // Without a signature the client only asks whether the key would do (RFC 4252 §7).
        if (!a.signature || !a.blob) return a.accept();
        const parsed = utils.parseKey(a.key.data);
        const key = Array.isArray(parsed) ? parsed[0] : parsed;
        if (!key || key instanceof Error || key.verify(a.blob, a.signature, a.hashAlgo) !== true) {
          throw new TollgateError(Errors.AUTH_FAILED, `bad signature for public key ${keyId(a.key.data)}`);
        }
        identity = found;
      }
      if (claimed !== undefined && claimed !== identity.subject) {
        throw new TollgateError(
          Errors.AUTH_FAILED,
          `user "${claimed}" does not match the credential's identity "${identity.subject}"`,
        );
      }
    } catch (err) {
      const e =
        err instanceof TollgateError ? err : new TollgateError(Errors.AUTH_FAILED, 'authentication failed');
      await this.#authFailure(a, resourceName, e.message);
      return;
    }

    const resource = this.opts.policy.resource(resourceName);
    if (resource?.protocol !== 'ssh') {
      await this.#authFailure(a, resourceName, `no SSH resource named "${resourceName}"`);
      return;
    }
    let pipeline: SessionPipeline;
    try {
      pipeline = await SessionPipeline.open(
        { policy: this.opts.policy, approvals: this.opts.approvals, audit: this.opts.audit },
        { protocol: 'ssh', identity, resource: resource.name, remote: this.ctx.remote },
        { auth: { method: a.method }, start: { method: a.method } },
      );
    } catch (err) {
      // fail closed: no session without its records
      this.ctx.log(`ssh ${this.ctx.remote}: audit store unavailable: ${(err as Error).message}`);
      return a.reject(METHODS);
    }
    this.#pipeline = pipeline;
    this.#resource = resource;
    // 3. connect: started now, awaited by the first command that is forwarded
    this.#target = connectTarget(resource, {
      vault: this.opts.vault,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 10_000,
      agent: this.#forwardedAgent(pipeline),
    });
    this.#target.then(
      (t) => t.on('x11', (info, accept, reject) => this.#x11Channel(info, accept, reject)),
      () => {},
    );
    a.accept();
  }

  async #authFailure(a: AuthContext, resource: string, reason: string): Promise<void> {
    await this.opts.audit
      .append({
        type: 'auth.failure',
        resource,
        data: { protocol: 'ssh', user: a.username, method: a.method, remote: this.ctx.remote, reason },
      })
      .catch(() => {});
    this.ctx.log(`ssh ${this.ctx.remote}: authentication failed: ${reason}`);
    if (++this.#failures >= MAX_AUTH_FAILURES) {
      a.reject();
      this.client.end();
      return;
    }
    a.reject(METHODS);
  }

  /**
   * Local port forwarding (`direct-tcpip`, `ssh -L`): decided as `port-forward` with
   * `detail.destination` = `host:port` as the agent named it (resolved at the target), audited
   * write-ahead, opened from the target, and its bytes both ways recorded when it closes.
   * Forwarded bytes are not masked (they are an opaque TCP stream).
   */
  async #forward(accept: () => ServerChannel, reject: () => void, info: TcpipRequestInfo): Promise<void> {
    const pipeline = this.#pipeline as SessionPipeline;
    const destination = `${info.destIP.includes(':') ? `[${info.destIP}]` : info.destIP}:${info.destPort}`;
    const cmd: CommandInput = {
      action: 'port-forward',
      text: `direct-tcpip ${destination}`,
      fingerprint: createHash('sha256').update(destination).digest('hex').slice(0, 16),
      detail: { destination },
      data: { destination, origin: `${info.srcIP}:${info.srcPort}` },
    };
    const t0 = Date.now();
    const verdict = await this.#govern(pipeline, cmd, pipeline.decide(cmd), this.#gone.signal, (id) =>
      this.ctx.log(`ssh ${this.ctx.remote}: port forward to ${destination} held for approval ${id}`),
    );
    if (verdict.kind === 'reject') return reject();
    const done = (r: { errorCode?: string; bytesIn?: number; bytesOut?: number }) =>
      pipeline
        .result(verdict.auditSeq, {
          durationMs: Date.now() - t0,
          bytes: (r.bytesIn ?? 0) + (r.bytesOut ?? 0),
          ...(r.errorCode ? { errorCode: r.errorCode } : {}),
          data: { destination, bytesIn: r.bytesIn ?? 0, bytesOut: r.bytesOut ?? 0 },
        })
        .catch(() => {});
    let target: Client;
    try {
      target = await (this.#target as Promise<Client>);
    } catch (err) {
      reject();
      await done({ errorCode: err instanceof TollgateError ? err.code : 'target-unavailable' });
      return;
    }
    target.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, remote) => {
      if (err) {
        reject();
        void done({ errorCode: 'open-failed' });
        return;
      }
      void splice(accept(), remote, this.#backlog).then(done);
    });
  }

  /**
   * The agent the target connection offers to the target: relays to the agent's own agent while a
   * decision allowed agent forwarding, and records each signature request (write-ahead) as a
   * `command` record (`agent-forward`, the key's fingerprint and type, never the data signed),
   * its outcome as a `command.result`.
   */
  #forwardedAgent(pipeline: SessionPipeline): ForwardedAgent {
    return new ForwardedAgent({
      allowed: () => this.#agentDecision !== undefined,
      open: () => openAgentChannel(this.client),
      signing: async (key) => {
        const fp = keyId(key.getPublicSSH());
        const seq = await pipeline.record(
          {
            action: 'agent-forward',
            text: `agent signature with ${key.type} ${fp}`,
            fingerprint: 'agent-sign',
            data: { use: 'sign', key: fp, keyType: key.type },
          },
          'allow',
          this.#agentDecision as Decision,
        );
        const t0 = Date.now();
        return (err) => {
          pipeline
            .result(seq, { durationMs: Date.now() - t0, ...(err ? { errorCode: 'agent-refused' } : {}) })
            .catch(() => {});
        };
      },
    });
  }

  /**
   * An X11 connection the target opened (its sshd's X11 display): opened as an `x11` channel to
   * the agent's client and relayed both ways, unmasked, with backpressure; each one adds a
   * `command.result` (bytes, origin) to the x11-req's record. Refused unless X11 was allowed.
   */
  #x11Channel(info: X11Details, accept: () => ClientChannel, reject: () => void): void {
    const pipeline = this.#pipeline;
    const seq = this.#x11Seq;
    if (!pipeline || seq === undefined) {
      reject();
      return;
    }
    const n = ++this.#x11Channels;
    const origin = `${info.srcIP}:${info.srcPort}`;
    this.client.x11(info.srcIP, info.srcPort, (err, ch) => {
      if (err) {
        reject();
        return;
      }
      const t0 = Date.now();
      void splice(ch, accept(), this.#backlog).then((r) =>
        pipeline
          .result(seq, {
            durationMs: Date.now() - t0,
            bytes: r.bytesIn + r.bytesOut,
            data: { x11Channel: n, origin, bytesIn: r.bytesIn, bytesOut: r.bytesOut },
          })
          .catch(() => {}),
      );
    });
  }

  /**
   * An `auth-agent-req` or `x11-req`: decided (`agent-forward` / `x11`), recorded, held for
   * approval like a port forward (silently), and answered. True when allowed.
   */
  async #allowForwarding(action: 'agent-forward' | 'x11', what: string, data?: Record<string, unknown>) {
    const pipeline = this.#pipeline;
    if (!pipeline) return false;
    const cmd: CommandInput = {
      action,
      text: `${what} request`,
      fingerprint: action,
      ...(data ? { data } : {}),
    };
    const d = pipeline.decide(cmd);
    const recorded = d.effect === 'deny' ? { ...cmd, data: { ...data, reason: d.reason } } : cmd;
    const verdict = await this.#govern(pipeline, recorded, d, this.#gone.signal, (id) =>
      this.ctx.log(`ssh ${this.ctx.remote}: ${what} held for approval ${id}`),
    ).catch((err: Error) => ({ kind: 'reject' as const, error: err }));
    if (verdict.kind === 'reject') {
      if (d.effect !== 'deny')
        this.ctx.log(`ssh ${this.ctx.remote}: ${what} refused: ${verdict.error.message}`);
      return false;
    }
    if (action === 'agent-forward') this.#agentDecision ??= verdict.decision;
    else this.#x11Seq ??= verdict.auditSeq;
    return true;
  }

  // --- 4. channels --------------------------------------------------------------------------

  #channels(s: Session): void {
    let running: ClientChannel | undefined;
    let pty: PseudoTtyInfo | undefined;
    let rec: ChannelRecorder | undefined;
    s.on('pty', (accept, _reject, info) => {
      pty = info;
      accept?.();
    });
    s.on('window-change', (accept, _reject, info) => {
      accept?.();
      if (pty) pty = { ...pty, ...info };
      running?.setWindow(info.rows, info.cols, info.height, info.width);
      rec?.resize(info.cols, info.rows);
    });
    const env = new EnvRequests(this.#resource?.env ?? []);
    s.on('env', (accept, reject, info) => (env.offer(info.key, info.val) ? accept?.() : reject?.()));
    // decided when asked (the reply waits for the decision); the exec or shell waits for both
    const fwd: ChannelForwarding = {};
    s.on('x11', (accept, reject, info) => {
      fwd.x11 = this.#allowForwarding('x11', 'X11 forwarding', {
        single: info.single,
        protocol: info.protocol,
        screen: info.screen,
      }).then((ok) => {
        if (ok) accept?.();
        else reject?.();
        return ok ? x11Options(info) : undefined;
      });
    });
    s.on('auth-agent', (accept, reject) => {
      fwd.agent = this.#allowForwarding('agent-forward', 'agent forwarding').then((ok) => {
        if (ok) accept?.();
        else reject?.();
        return ok;
      });
    });
    s.on('sftp', (accept, reject) => {
      this.#sftp(accept, reject).catch((err: Error) => {
        this.ctx.log(`ssh ${this.ctx.remote}: sftp failed: ${err.message}`);
      });
    });
    s.on('subsystem', (_accept, reject) => reject?.());
    s.on('signal', (accept, _reject, info) => {
      accept?.();
      running?.signal(info.name);
    });
    const start = (ch: ServerChannel, command: string | undefined) => {
      this.#execs++;
      rec = this.#recorder(command, pty);
      rec?.onFail((err) => {
        // fail closed: what would follow could not be recorded
        this.ctx.log(`ssh ${this.ctx.remote}: recording not stored, closing the channel: ${err.message}`);
        refuse(
          ch,
          new TollgateError(
            Errors.AUDIT_UNAVAILABLE,
            'audit store unavailable: the session recording cannot be stored',
          ),
        );
        running?.close();
      });
      this.#run(ch, command, pty, env, fwd, rec, (t) => {
        running = t;
      }).catch((err: Error) => {
        this.ctx.log(`ssh ${this.ctx.remote}: channel failed: ${err.message}`);
        refuse(
          ch,
          new TollgateError(Errors.PROTOCOL_VIOLATION, 'internal error while running the command'),
          rec,
        );
      });
    };
    s.on('shell', (accept) => {
      const ch = accept?.();
      if (ch) start(ch, undefined);
    });
    s.on('exec', (accept, _reject, info) => {
      const ch = accept?.();
      if (ch) start(ch, info.command);
    });
  }

  /**
   * The sftp subsystem, accepted at once (OpenSSH sends its first request without waiting for the
   * confirmation); requests wait until the `sftp-read` decision allowed the subsystem and the
   * target's sftp is open. A refusal closes the channel; the decision is audited.
   */
  async #sftp(accept: (() => SFTPWrapper) | undefined, reject: (() => void) | undefined): Promise<void> {
    const pipeline = this.#pipeline as SessionPipeline;
    const log = (line: string) => this.ctx.log(`ssh ${this.ctx.remote}: ${line}`);
    const agent = accept?.();
    if (!agent) return reject?.();
    /** A held operation is named in the gateway log and on the channel's stderr (OpenSSH shows it). */
    const held = (what: string, id: string, until: number) => {
      log(`${what} held for approval ${id}`);
      try {
        sftpStderr(agent, heldLine(id, until, what));
      } catch (err) {
        log(`sftp: cannot tell the client about approval ${id}: ${(err as Error).message}`);
      }
    };
    // one command per path (rename: two); the strictest decision governs and is recorded
    const govern = (cmds: readonly [CommandInput, ...CommandInput[]]) => {
      const decisions = cmds.map((c) => pipeline.decide(c));
      const at = strictest(decisions);
      const chosen = cmds[at] as CommandInput;
      const cmd: CommandInput =
        cmds.length > 1
          ? { ...chosen, data: { ...chosen.data, governedBy: chosen.detail?.path ?? null } }
          : chosen;
      return this.#govern(pipeline, cmd, decisions[at] as Decision, this.#gone.signal, (id, until) =>
        held(cmd.text, id, until),
      );
    };
    const ready = (async () => {
      const v = await govern([{ action: 'sftp-read', text: 'sftp (subsystem)', fingerprint: 'sftp' }]);
      if (v.kind === 'reject') throw v.error;
      const target = await (this.#target as Promise<Client>);
      return new Promise<SFTPWrapper>((resolve, fail) =>
        target.sftp((err, remote) => (err ? fail(err) : resolve(remote))),
      );
    })();
    proxySftp(agent, ready, { pipeline, govern, log, maskerFor: (profile) => this.#outputMasker(profile) });
    await ready.catch((err: Error) => {
      log(`sftp refused: ${err.message}`);
      endSftp(agent, err instanceof TollgateError ? err.kind.sshExit : 255);
    });
  }

  /** The recorder of a new exec or shell channel, unless recording is off. */
  #recorder(command: string | undefined, pty: PseudoTtyInfo | undefined): ChannelRecorder | undefined {
    const o = this.opts.recording ?? {};
    if (o.enabled === false) return undefined;
    const s = (this.#pipeline as SessionPipeline).session;
    return new ChannelRecorder({
      kind: command === undefined ? 'shell' : 'exec',
      channel: this.#execs,
      width: pty?.cols || 80,
      height: pty?.rows || 24,
      ...(pty?.term ? { term: pty.term } : {}),
      ...(command !== undefined ? { command: this.#maskText(command) } : {}),
      ...(o.chunkChars ? { chunkChars: o.chunkChars } : {}),
      ...(o.flushMs ? { flushMs: o.flushMs } : {}),
      ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}),
      write: async (chunk, full) => {
        await this.opts.audit.append(
          {
            type: 'recording',
            sessionId: s.id,
            identity: identityRef(s.identity),
            resource: s.resource,
            data: { ...chunk },
          },
          { lazy: !full },
        );
      },
    });
  }

  /** One exec (`command`) or interactive shell (`command` undefined) channel, start to end. */
  async #run(
    ch: ServerChannel,
    command: string | undefined,
    pty: PseudoTtyInfo | undefined,
    env: EnvRequests,
    fwd: ChannelForwarding,
    rec: ChannelRecorder | undefined,
    started: (t: ClientChannel) => void,
  ): Promise<void> {
    const pipeline = this.#pipeline as SessionPipeline;
    const gone = new AbortController();
    const onGone = () => gone.abort('client disconnected');
    ch.once('close', onGone);
    this.#gone.signal.addEventListener('abort', onGone, { once: true });
    try {
      await this.#relay(pipeline, ch, command, pty, env, fwd, rec, started, gone.signal);
    } finally {
      this.#gone.signal.removeEventListener('abort', onGone);
      await rec?.close();
    }
  }

  async #relay(
    pipeline: SessionPipeline,
    ch: ServerChannel,
    command: string | undefined,
    pty: PseudoTtyInfo | undefined,
    env: EnvRequests,
    fwd: ChannelForwarding,
    rec: ChannelRecorder | undefined,
    started: (t: ClientChannel) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const t0 = Date.now();
    const say = (text: string) => {
      rec?.output(Buffer.from(text), 'stderr');
      ch.stderr.write(text);
    };
    const verdict =
      command === undefined
        ? await this.#decideShell(pipeline, say, signal, env.audit())
        : await this.#decide(pipeline, command, say, signal, env.audit());
    if (verdict.kind === 'reject') return refuse(ch, verdict.error, rec);

    let target: Client;
    try {
      target = await (this.#target as Promise<Client>);
    } catch (err) {
      const e =
        err instanceof TollgateError
          ? err
          : new TollgateError(Errors.TARGET_UNAVAILABLE, 'target unavailable');
      await pipeline
        .result(verdict.auditSeq, { durationMs: Date.now() - t0, errorCode: e.code })
        .catch(() => {});
      return refuse(ch, e, rec);
    }
    if (signal.aborted) {
      await pipeline
        .result(verdict.auditSeq, { durationMs: Date.now() - t0, errorCode: 'client-gone' })
        .catch(() => {});
      return;
    }
    const window = pty
      ? {
          term: pty.term,
          rows: pty.rows,
          cols: pty.cols,
          height: pty.height,
          width: pty.width,
          modes: pty.modes,
        }
      : undefined;
    // allowed env requests go to the target as env requests of its own (its sshd's AcceptEnv decides)
    const vars = env.passed();
    const [agentForward, x11] = await Promise.all([fwd.agent, fwd.x11]);
    let refusedByTarget: string | undefined;
    const openWith = (asked: boolean, cb: ClientCallback) => {
      const o = {
        ...(vars ? { env: vars } : {}),
        ...(asked && agentForward ? { agentForward: true } : {}),
        ...(asked && x11 ? { x11 } : {}),
      };
      if (command === undefined) target.shell(window ?? false, o, cb);
      else target.exec(command, { ...(window ? { pty: window } : {}), ...o }, cb);
    };
    // a target that refuses X11 or agent forwarding (its sshd config) runs the command without
    // them, as OpenSSH goes on: the refused request is said on stderr and in the result record
    const open = (cb: ClientCallback) =>
      openWith(true, (err, stream) => {
        const m =
          err && (agentForward || x11) ? /Unable to request (X11|agent forwarding)/.exec(err.message) : null;
        if (!m) return cb(err, stream);
        refusedByTarget = m[1] === 'X11' ? 'x11' : 'agent-forward';
        say(`tollgate: the target refused ${m[1]} forwarding; running without it\n`);
        openWith(false, cb);
      });
    const masker = this.#outputMasker(verdict.masking);
    if (command === undefined && this.opts.recording?.input !== false) rec?.recordInput(masker);
    const r = await runAtTarget(
      open,
      ch,
      masker,
      pty ? IDLE_FLUSH_MS : undefined,
      started,
      rec,
      this.#backlog,
    ).catch((err: Error) => {
      refuse(
        ch,
        new TollgateError(Errors.TARGET_UNAVAILABLE, `${this.#resource?.name}: ${err.message}`),
        rec,
      );
      return undefined;
    });
    await rec?.close();
    await pipeline
      .result(verdict.auditSeq, {
        durationMs: Date.now() - t0,
        bytes: r ? r.bytesOut + r.bytesErr : 0,
        masked: r?.masked ?? {},
        ...(r && r.code !== 0
          ? { errorCode: r.code === null ? (r.signal ?? 'no-exit-status') : String(r.code) }
          : {}),
        data: r
          ? {
              exitStatus: r.code,
              ...(r.signal ? { signal: r.signal } : {}),
              bytesOut: r.bytesOut,
              bytesErr: r.bytesErr,
              bytesIn: r.bytesIn,
              ...(refusedByTarget ? { refusedByTarget } : {}),
              ...(rec?.failure ? { recording: 'failed: channel closed' } : {}),
            }
          : { error: 'target channel failed' },
      })
      .catch((err: Error) => this.ctx.log(`ssh ${this.ctx.remote}: result not recorded: ${err.message}`));
  }

  /**
   * Classifies the command (every program it runs), decides on each (`exec`, with
   * `detail.program`), and lets the strictest decision govern: deny, then require-approval,
   * then allow. Writes the write-ahead record; holds for approval when asked to.
   */
  async #decide(
    pipeline: SessionPipeline,
    command: string,
    say: (text: string) => void,
    signal: AbortSignal,
    extra: Record<string, unknown>,
  ): Promise<Forward | { kind: 'reject'; error: TollgateError }> {
    const text = this.#maskText(command);
    const fingerprint = createHash('sha256').update(command).digest('hex').slice(0, 16);
    let programs: readonly string[];
    try {
      programs = parseCommandLine(command).programs;
    } catch (err) {
      const reason = err instanceof ShellParseError ? err.message : 'unreadable command';
      const cmd: CommandInput = { action: 'exec', text, fingerprint, data: { parseError: reason, ...extra } };
      const d: Decision = {
        effect: 'deny',
        rule: null,
        reason: `the command cannot be classified: ${reason}`,
      };
      try {
        await pipeline.record(cmd, 'deny', d);
      } catch (e) {
        return { kind: 'reject', error: e as TollgateError };
      }
      return { kind: 'reject', error: pipeline.denial(cmd, d) };
    }
    const base: CommandInput = { action: 'exec', text, fingerprint, data: { programs } };
    const cmds: CommandInput[] = programs.length
      ? programs.map((program) => ({ ...base, detail: { program } }))
      : [base];
    const decisions = cmds.map((c) => pipeline.decide(c));
    let at = decisions.findIndex((d) => d.effect === 'deny');
    if (at < 0) at = decisions.findIndex((d) => d.effect === 'require-approval');
    if (at < 0) at = 0;
    const cmd = {
      ...(cmds[at] as CommandInput),
      data: { programs, governedBy: programs[at] ?? null, ...extra },
    };
    const d = decisions[at] as Decision;

    return this.#govern(pipeline, cmd, d, signal, (id, until) => say(heldLine(id, until)));
  }

  /** An interactive shell: one decision (`shell`) for the whole channel. */
  async #decideShell(
    pipeline: SessionPipeline,
    say: (text: string) => void,
    signal: AbortSignal,
    extra: Record<string, unknown>,
  ): Promise<Forward | { kind: 'reject'; error: TollgateError }> {
    const cmd: CommandInput = {
      action: 'shell',
      text: '(interactive shell)',
      fingerprint: 'shell',
      ...(Object.keys(extra).length ? { data: extra } : {}),
    };
    return this.#govern(pipeline, cmd, pipeline.decide(cmd), signal, (id, until) => say(heldLine(id, until)));
  }

  /** Records the decision; holds for approval (telling the agent how) when the policy asks. */
  async #govern(
    pipeline: SessionPipeline,
    cmd: CommandInput,
    d: Decision,
    signal: AbortSignal,
    tell: (approvalId: string, until: number) => void,
  ): Promise<Forward | { kind: 'reject'; error: TollgateError }> {
    if (d.effect === 'require-approval') {
      const held = await pipeline.hold(cmd, d);
      if (held.kind === 'reject') return held;
      tell(held.approval.id, held.until);
      return pipeline.awaitApproval(held, signal);
    }
    let seq: number;
    try {
      seq = await pipeline.record(cmd, d.effect, d);
    } catch (err) {
      return { kind: 'reject', error: err as TollgateError };
    }
    if (d.effect === 'deny') return { kind: 'reject', error: pipeline.denial(cmd, d) };
    return { kind: 'forward', auditSeq: seq, decision: d, approvalId: undefined, masking: d.masking };
  }

  /** The masker for a command's output: the deciding rule's profile, else the default. */
  #outputMasker(profileName: string | undefined): Masker {
    const profile = profileName ? this.opts.policy.maskingProfile(profileName) : undefined;
    return profile && this.opts.profileMasker ? this.opts.profileMasker(profile) : this.opts.masker;
  }

  #maskText(text: string): string {
    const t = text.length > MAX_TEXT_IN_AUDIT ? `${text.slice(0, MAX_TEXT_IN_AUDIT)}…` : text;
    return this.opts.masker.mask(t).output.toString('utf8');
  }
}

function heldLine(id: string, until: number, what = 'command'): string {
  return `tollgate: ${what} held for approval (${id}) until ${new Date(until).toISOString()}; a reviewer runs: tollgate approvals approve ${id}\n`;
}

/**
 * Writes the error the way an SSH client shows it (stderr + exit status) and closes the channel;
 * with a recorder, the message is recorded as the client sees it.
 */
export function refuse(ch: ServerChannel, err: TollgateError, rec?: ChannelRecorder): void {
  try {
    if (!ch.writable) return;
    const text = `tollgate: ${err.message}\n${err.hint ? `tollgate: hint: ${err.hint}\n` : ''}`;
    if (!rec?.failure) rec?.output(Buffer.from(text), 'stderr');
    ch.stderr.write(text);
    ch.exit(err.kind.sshExit);
    ch.end();
  } catch {
    // the client is gone
  }
}

interface RunResult {
  code: number | null;
  signal: string | undefined;
  bytesOut: number;
  bytesErr: number;
  bytesIn: number;
  masked: Record<string, number>;
}

/**
 * Runs the command at the target and relays it: agent input to the target, target stdout and
 * stderr back through a streaming masker each (a value split across packets is still masked),
 * then the exit status or signal. Backpressure both ways: target output stops being read while
 * the agent's channel or its socket (`backlog`) is full.
 */
function runAtTarget(
  open: (cb: ClientCallback) => void,
  ch: ServerChannel,
  masker: Masker,
  idleFlushMs: number | undefined,
  started: (t: ClientChannel) => void,
  rec: ChannelRecorder | undefined,
  backlog: () => Promise<void> | undefined,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    open((err, stream) => {
      if (err) return reject(err);
      started(stream);
      // a peer that goes away mid-stream ends this channel, never the process
      for (const e of [stream, stream.stderr, ch, ch.stderr]) e.on('error', () => {});
      const r: RunResult = {
        code: null,
        signal: undefined,
        bytesOut: 0,
        bytesErr: 0,
        bytesIn: 0,
        masked: {},
      };
      let dump = false;
      let desc: string | undefined;
      const relay = (
        from: NodeJS.ReadableStream & { pause(): unknown; resume(): unknown },
        to: NodeJS.WritableStream,
        which: 'stdout' | 'stderr',
        count: (n: number) => void,
      ): OutputMasking => {
        const hold = holder(from);
        const m = new OutputMasking(
          masker,
          (masked) => {
            if (rec?.failure) return; // fail closed: nothing leaves unrecorded
            rec?.output(masked, which);
            if (!to.write(masked)) hold(new Promise((resolve) => to.once('drain', resolve)));
            const full = backlog();
            if (full) hold(full);
            if (rec?.backlogged) hold(rec.drained());
          },
          idleFlushMs,
        );
        from.on('data', (chunk: Buffer) => {
          count(chunk.length);
          try {
            m.write(chunk);
          } catch {
            // fail closed: nothing unmasked leaves
            stream.close();
          }
        });
        return m;
      };
      const out = relay(stream, ch, 'stdout', (n) => {
        r.bytesOut += n;
      });
      const errs = relay(stream.stderr, ch.stderr, 'stderr', (n) => {
        r.bytesErr += n;
      });
      ch.on('data', (chunk: Buffer) => {
        r.bytesIn += chunk.length;
        rec?.input(chunk);
        if (!stream.write(chunk)) {
          ch.pause();
          stream.once('drain', () => ch.resume());
        }
      });
      ch.on('end', () => stream.end());
      ch.once('close', () => stream.close());
      stream.on(
        'exit',
        (code: number | null, signal?: string, coreDumped?: boolean, description?: string) => {
          r.code = code;
          r.signal = signal ?? undefined;
          dump = coreDumped === true;
          desc = description;
        },
      );
      stream.once('close', () => {
        try {
          out.finish();
          errs.finish();
          // a channel refused meanwhile (recording failed) keeps the exit status it was given
          if (!ch.writableEnded) {
            if (r.code !== null) ch.exit(r.code);
            else if (r.signal) ch.exit(r.signal, dump, desc ?? '');
            ch.end();
          }
        } catch {
          // the client is gone
        }
        for (const m of [out.counts, errs.counts])
          for (const [k, v] of Object.entries(m)) r.masked[k] = (r.masked[k] ?? 0) + v;
        resolve(r);
      });
    });
  });
}

/** The forwarding a session channel asked for before its exec or shell, once decided. */
interface ChannelForwarding {
  agent?: Promise<boolean>;
  x11?: Promise<X11Options | undefined>;
}

/**
 * The client's x11-req as the target's x11-req: same screen, protocol and cookie (OpenSSH's
 * client sends a made-up cookie and swaps in the real one on each X11 channel, so the cookie
 * passes through unchanged; ssh2 hands it over as a Buffer of hex text).
 */
function x11Options(info: X11Info): X11Options {
  const cookie = info.cookie as unknown as Buffer | string;
  return {
    single: info.single,
    screen: info.screen,
    protocol: info.protocol,
    cookie: Buffer.isBuffer(cookie) ? cookie.toString('latin1') : cookie,
  };
}

/**
 * Relays a channel to the agent and one to the target both ways until either closes: the agent's
 * bytes go through `pipe` (which waits for the target), the target's by hand so that reading
 * stops while the agent's channel or its socket (`backlog`) is full. Resolves with the counts.
 */
function splice(
  ch: ServerChannel,
  remote: ClientChannel,
  backlog: () => Promise<void> | undefined,
): Promise<{ bytesIn: number; bytesOut: number }> {
  return new Promise((resolve) => {
    ch.on('error', () => {});
    remote.on('error', () => {});
    const r = { bytesIn: 0, bytesOut: 0 };
    ch.on('data', (b: Buffer) => {
      r.bytesIn += b.length;
    });
    ch.pipe(remote);
    const hold = holder(remote);
    remote.on('data', (b: Buffer) => {
      r.bytesOut += b.length;
      if (!ch.write(b)) hold(new Promise((resolve) => ch.once('drain', resolve)));
      const full = backlog();
      if (full) hold(full);
    });
    remote.once('end', () => ch.end());
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      ch.destroy();
      remote.destroy();
      resolve(r);
    };
    ch.once('close', close);
    remote.once('close', close);
  });
}

/** Pauses `from` until every promise handed to the returned function has settled. */
function holder(from: { pause(): unknown; resume(): unknown }): (until: Promise<unknown>) => void {
  let waiting = 0;
  return (until) => {
    if (waiting++ === 0) from.pause();
    const done = () => {
      if (--waiting === 0) from.resume();
    };
    until.then(done, done);
  };
}

/**
 * While `sock` holds more than `bound` bytes not yet written, a promise that settles when it
 * drained (or closed), shared by every caller; `undefined` otherwise.
 */
function drainWaiter(sock: Socket | undefined, bound: number): () => Promise<void> | undefined {
  let waiting: Promise<void> | undefined;
  return () => {
    if (!sock || sock.writableLength <= bound) return undefined;
    waiting ??= new Promise<void>((resolve) => {
      const done = () => {
        sock.off('drain', done);
        sock.off('close', done);
        waiting = undefined;
        resolve();
      };
      // past the socket's highWaterMark its last write returned false, so 'drain' will come
      sock.on('drain', done);
      sock.on('close', done);
    });
    return waiting;
  };
}

/** Most env requests kept per session channel (accepted or refused); more are refused unrecorded. */
const MAX_ENV = 64;

/**
 * The env requests of one session channel: names the resource's `env` list allows are kept (to
 * pass to the target), others refused. Only names are audited, never values.
 */
export class EnvRequests {
  readonly #vars: Record<string, string> = {};
  readonly #refused: string[] = [];
  #count = 0;

  constructor(private readonly allowed: readonly string[]) {}

  /** True when `name` may pass (then `value` is kept). */
  offer(name: string, value: string): boolean {
    if (this.#count >= MAX_ENV) return false;
    this.#count++;
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && envAllowed(this.allowed, name)) {
      this.#vars[name] = value;
      return true;
    }
    const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
    if (!this.#refused.includes(shown)) this.#refused.push(shown);
    return false;
  }

  /** The variables to set at the target, if any. */
  passed(): Record<string, string> | undefined {
    return Object.keys(this.#vars).length ? { ...this.#vars } : undefined;
  }

  /** What the command record says: `env` (names passed) and `envRefused`, when there were any. */
  audit(): Record<string, unknown> {
    const names = Object.keys(this.#vars);
    return {
      ...(names.length ? { env: names } : {}),
      ...(this.#refused.length ? { envRefused: [...this.#refused] } : {}),
    };
  }
}

/** Whether `name` is on the list: an exact name, or a prefix written with a trailing `*`. */
export function envAllowed(allowed: readonly string[], name: string): boolean {
  return allowed.some((a) => (a.endsWith('*') ? name.startsWith(a.slice(0, -1)) : a === name));
}
