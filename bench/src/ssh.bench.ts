/**
 * SSH data path, side by side in one run against one harness sshd (Debian's OpenSSH) and one
 * gateway in front of it:
 *
 * - transfer: a file of `--mb` MiB (log-like text, written to a temp dir and deleted after) copied
 *   with OpenSSH 9's scp (which speaks sftp) down from and up to the target, and streamed by an
 *   exec of `cat FILE` (the gateway masks that stream) read to the end by OpenSSH ssh; direct and
 *   through the gateway, MB/s and the ratio to direct (median of `--copy-runs`);
 * - exec round trips: sequential `true` execs on one connection with the ssh2 client for
 *   `--exec-seconds`, and full connect + exec + close cycles for `--connect-seconds`, per second;
 * - sessions: `--sessions` ssh2 connections through the gateway, each with an exec (`cat`, echoing
 *   one line back to prove the path) held open at the same time; the gateway's RSS and heap before
 *   and after (garbage collected), divided by the sessions opened.
 *
 * The gateway runs in a child process (this file, forked) so that its memory and CPU are its own:
 * token or registered-key authentication, policy, a durable write-ahead audit record per command
 * (SQLite, synchronous=FULL), and the streaming masker on every exec output stream (sftp reads are
 * not masked: the sftp rule names no masking profile). Runs alternate
 * direct and gateway so that drift on a shared machine hits both alike; only ratios are compared.
 *
 *   node bench/dist/ssh.bench.js [--mb 1024] [--copy-runs 1] [--exec-seconds 5]
 *     [--connect-seconds 5] [--sessions 500] [--session-batch 20] [--transfers scp-get,scp-put,exec-cat]
 *     [--profile-gateway DIR] [--out bench/results/ssh.local.json]
 *
 * `--profile-gateway DIR` writes a V8 CPU profile of the gateway process (node --cpu-prof) there.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { run, sshKeygen, startLocalSshd } from '@tollgate/integration';
import { Client, type ConnectConfig } from 'ssh2';

export interface SshBenchOptions {
  /** Size of the transferred file, MiB (default 1024). */
  mb?: number;
  /** Transfers per endpoint and kind; the median counts (default 1; 0 skips them). */
  copyRuns?: number;
  /** Seconds of sequential `true` execs on one connection, per endpoint (default 5; 0 skips). */
  execSeconds?: number;
  /** Seconds of connect + exec + close cycles, per endpoint (default 5; 0 skips). */
  connectSeconds?: number;
  /** Sessions held open through the gateway at once (default 500; 0 skips). */
  sessions?: number;
  /** Sessions being opened at the same time while building up (default 20). */
  sessionBatch?: number;
  /** Transfer kinds to run (default all three). */
  transfers?: TransferRow['kind'][];
  /** Write a V8 CPU profile of the gateway process into this directory (`--cpu-prof`). */
  profileDir?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

export type Endpoint = 'direct' | 'tollgate';

export interface TransferRow {
  /** `scp-get`: scp from the target; `scp-put`: scp to the target; `exec-cat`: `ssh host cat FILE`. */
  kind: 'scp-get' | 'scp-put' | 'exec-cat';
  endpoint: Endpoint;
  /** Bytes the client received (exec-cat; masking may change the length) or the file size. */
  bytes: number;
  /** Median wall time, seconds (connection included). */
  seconds: number | null;
  mbPerSec: number | null;
  runs: number[];
  /** MB/s / direct MB/s, same kind. */
  ratio: number | null;
  error?: string;
}

export interface RateRow {
  /** `exec`: sequential `true` execs on one connection; `connect`: connect + exec + close. */
  kind: 'exec' | 'connect';
  endpoint: Endpoint;
  count: number;
  seconds: number;
  perSec: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** perSec / direct perSec, same kind. */
  ratio: number | null;
  error?: string;
}

export interface SessionsRow {
  requested: number;
  opened: number;
  failed: number;
  firstError?: string;
  /** Wall time to open them all, seconds. */
  openSeconds: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  /** (RSS after - before) / opened, KiB. */
  rssPerSessionKiB: number | null;
  heapPerSessionKiB: number | null;
  /** Sessions that still echoed after all were open (a sample of up to 20). */
  sampleStillAlive: number;
  sampleSize: number;
}

export interface SshBenchReport {
  date: string;
  node: string;
  cpu: string;
  /** 1, 5 and 15 minute load averages at the start: the machine is shared. */
  loadAverage: number[];
  openssh: string;
  config: Required<Omit<SshBenchOptions, 'log' | 'profileDir'>>;
  transfer: TransferRow[];
  rates: RateRow[];
  sessions: SessionsRow | null;
}

// --- the gateway child ------------------------------------------------------------------------

interface ChildStart {
  dir: string;
  sshdPort: number;
  sshdUser: string;
  sshdKeyPath: string;
  hostKeyFingerprint: string;
  agentPublicKey: string;
}
interface ChildReady {
  port: number;
  apiKey: string;
}
interface ChildMemory {
  rss: number;
  heapUsed: number;
}
type ToChild = { start: ChildStart } | { memory: true } | { stop: true };
type FromChild = { ready: ChildReady } | { memory: ChildMemory } | { error: string };

const policyFor = (c: ChildStart) => `version: 1
resources:
  bench:
    protocol: ssh
    address: 127.0.0.1:${c.sshdPort}
    username: ${c.sshdUser}
    credential: { file: ${c.sshdKeyPath} }
    hostKey: ${c.hostKeyFingerprint}
maskingProfiles:
  everything: { otherwise: scan }
rules:
  - name: bench-exec
    subjects: [{ serviceAccount: bench-agent }]
    resources: [bench]
    actions: [exec]
    effect: allow
    masking: everything
  # no masking profile: sftp data passes as it is (a profile here would mask sftp reads)
  - name: bench-sftp
    subjects: [{ serviceAccount: bench-agent }]
    resources: [bench]
    actions: [sftp-read, sftp-write]
    effect: allow
`;

/** Runs in the forked child: one gateway with an SSH listener, driven by messages. */
async function gatewayChild(): Promise<void> {
  const { Gateway } = await import('@tollgate/gateway');
  const send = (m: FromChild) => process.send?.(m);
  let gw: Awaited<ReturnType<typeof Gateway.start>> | undefined;
  process.on('message', async (m: ToChild) => {
    try {
      if ('start' in m) {
        const c = m.start;
        writeFileSync(join(c.dir, 'policy.yaml'), policyFor(c));
        gw = await Gateway.start({
          controlPlane: {
            store: { sqlite: join(c.dir, 'state.db') },
            policyFile: join(c.dir, 'policy.yaml'),
          },
          ssh: { host: '127.0.0.1', port: 0, hostKeyFile: join(c.dir, 'gateway_host_key') },
        });
        const sa = await gw.controlPlane.serviceAccounts.create({ name: 'bench-agent', groups: [] });
        await gw.controlPlane.serviceAccounts.addPublicKey('bench-agent', c.agentPublicKey);
        send({ ready: { port: gw.ssh?.port ?? 0, apiKey: sa.apiKey } });
      } else if ('memory' in m) {
        const gc = (globalThis as { gc?: () => void }).gc;
        for (let i = 0; i < 3; i++) {
          gc?.();
          await new Promise((r) => setTimeout(r, 50));
        }
        const u = process.memoryUsage();
        send({ memory: { rss: u.rss, heapUsed: u.heapUsed } });
      } else if ('stop' in m) {
        await gw?.stop();
        process.exit(0);
      }
    } catch (e) {
      send({ error: e instanceof Error ? e.message : String(e) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** The gateway child seen from the bench. */
class GatewayProcess {
  private constructor(private readonly child: ChildProcess) {}

  static async start(
    c: ChildStart,
    profileDir?: string,
    timeoutMs = 60_000,
  ): Promise<{ gw: GatewayProcess; ready: ChildReady }> {
    const child = fork(__filename, ['--gateway-child'], {
      execArgv: ['--expose-gc', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const gw = new GatewayProcess(child);
    const ready = await gw.ask<ChildReady>({ start: c }, 'ready', timeoutMs).catch(async (e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    });
    return { gw, ready };
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  memory(): Promise<ChildMemory> {
    return this.ask<ChildMemory>({ memory: true }, 'memory', 30_000);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ stop: true } satisfies ToChild);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  }

  private ask<T>(m: ToChild, key: 'ready' | 'memory', timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (e?: Error, v?: T) => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        if (e) reject(e);
        else resolve(v as T);
      };
      const onMessage = (r: FromChild) => {
        if ('error' in r) done(new Error(`gateway: ${r.error}`));
        else if (key in r) done(undefined, (r as Record<string, unknown>)[key] as T);
      };
      const onExit = (code: number | null) => done(new Error(`the gateway process exited (${code})`));
      const timer = setTimeout(
        () => done(new Error(`the gateway did not answer '${key}' in time`)),
        timeoutMs,
      );
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(m);
    });
  }
}

// --- measurements -----------------------------------------------------------------------------

interface Side {
  endpoint: Endpoint;
  port: number;
  /** The SSH user name (the resource at the gateway). */
  user: string;
  /** OpenSSH identity file. */
  keyPath: string;
  /** ssh2 client credentials. */
  auth: Pick<ConnectConfig, 'privateKey' | 'password'>;
}

const firstLine = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).split('\n').slice(0, 4).join(' | ');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a == null || b == null || b === 0 ? null : Number((a / b).toFixed(3));

const sshOptions = (side: Side): string[] => [
  '-F',
  '/dev/null',
  '-i',
  side.keyPath,
  '-o',
  'IdentitiesOnly=yes',
  '-o',
  'BatchMode=yes',
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'LogLevel=ERROR',
];

/** Log-like text: realistic for the masker (a few emails and addresses), not compressible by repetition alone. */
async function writeTestFile(path: string, bytes: number): Promise<void> {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < 4 * 1024 * 1024; i++) {
    const id = randomBytes(8).toString('hex');
    const extra = i % 97 === 0 ? ` user=ops${i % 13}@example.com from=10.${i % 250}.3.${i % 200}` : '';
    const line = `2026-11-27T17:${String(i % 60).padStart(2, '0')}:00.${String(i % 1000).padStart(3, '0')}Z INFO req=${id} path=/api/v1/items/${i} status=200 bytes=${(i * 7919) % 100000}${extra}\n`;
    lines.push(line);
    size += line.length;
  }
  const block = Buffer.from(lines.join(''));
  const out = createWriteStream(path);
  let left = bytes;
  while (left > 0) {
    const chunk = left >= block.length ? block : block.subarray(0, left);
    left -= chunk.length;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

/** Runs `file args`, stdout counted and dropped; rejects on a non-zero exit or the time bound. */
function timed(
  file: string,
  args: string[],
  timeoutMs: number,
): Promise<{ seconds: number; stdoutBytes: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdoutBytes = 0;
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      stdoutBytes += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (stderr.length < 4096) stderr += b.toString('utf8');
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolve({ seconds, stdoutBytes });
      else
        reject(
          new Error(
            `${file} exited ${code ?? signal}${signal === 'SIGKILL' ? ' (time bound)' : ''}: ${stderr.trim()}`,
          ),
        );
    });
  });
}

async function transferOnce(
  kind: TransferRow['kind'],
  side: Side,
  file: string,
  work: string,
  timeoutMs: number,
): Promise<{ seconds: number; bytes: number }> {
  const size = statSync(file).size;
  const remote = `${side.user}@127.0.0.1`;
  if (kind === 'exec-cat') {
    const r = await timed(
      'ssh',
      [...sshOptions(side), '-p', String(side.port), remote, '--', `cat ${file}`],
      timeoutMs,
    );
    if (side.endpoint === 'direct' && r.stdoutBytes !== size)
      throw new Error(`read ${r.stdoutBytes} of ${size} bytes`);
    if (r.stdoutBytes < size * 0.9) throw new Error(`read only ${r.stdoutBytes} of ${size} bytes`);
    return { seconds: r.seconds, bytes: r.stdoutBytes };
  }
  const copy = join(work, `copy-${kind}-${side.endpoint}`);
  try {
    const [from, to] = kind === 'scp-get' ? [`${remote}:${file}`, copy] : [file, `${remote}:${copy}`];
    const r = await timed('scp', [...sshOptions(side), '-q', '-P', String(side.port), from, to], timeoutMs);
    const got = statSync(copy).size;
    if (got !== size) throw new Error(`copied ${got} of ${size} bytes`);
    return { seconds: r.seconds, bytes: size };
  } finally {
    rmSync(copy, { force: true });
  }
}

function connectSsh2(side: Side, timeoutMs = 20_000): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    c.once('ready', () => {
      c.removeListener('error', reject);
      c.on('error', () => {});
      resolve(c);
    });
    c.once('error', reject);
    c.connect({
      host: '127.0.0.1',
      port: side.port,
      username: side.user,
      ...side.auth,
      readyTimeout: timeoutMs,
      hostVerifier: () => true,
    });
  });
}

/** One exec on an open connection, to its end; rejects on a non-zero exit. */
function execOnce(c: Client, command: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec '${command}' did not finish in time`)), timeoutMs);
    c.exec(command, (e, stream) => {
      if (e) {
        clearTimeout(timer);
        return reject(e);
      }
      let code: number | null = null;
      let err = '';
      stream.on('data', () => {});
      stream.stderr.on('data', (b: Buffer) => {
        err += b.toString('utf8');
      });
      stream.on('exit', (x: number | null) => {
        code = x;
      });
      stream.on('close', () => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`exec '${command}' exited ${code}: ${err.trim()}`));
      });
    });
  });
}

function closeSsh2(c: Client): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 5_000);
    c.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    c.end();
  });
}

/** Repeats `once` for `seconds` (and at most `maxCount` times); per-iteration latencies in ms. */
async function rate(
  kind: RateRow['kind'],
  side: Side,
  seconds: number,
  once: () => Promise<void>,
): Promise<RateRow> {
  const lat: number[] = [];
  const maxCount = 1_000_000;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  let error: string | undefined;
  try {
    while (process.hrtime.bigint() < until && lat.length < maxCount) {
      const t = process.hrtime.bigint();
      await once();
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  } catch (e) {
    error = firstLine(e);
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  lat.sort((a, b) => a - b);
  return {
    kind,
    endpoint: side.endpoint,
    count: lat.length,
    seconds: Number(elapsed.toFixed(3)),
    perSec: error || lat.length === 0 ? null : Number((lat.length / elapsed).toFixed(1)),
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    ratio: null,
    ...(error ? { error } : {}),
  };
}

async function execRate(side: Side, seconds: number): Promise<RateRow> {
  let c: Client | undefined;
  try {
    c = await connectSsh2(side);
    const conn = c;
    await execOnce(conn, 'true'); // warm: the gateway's target connection is up
    return await rate('exec', side, seconds, () => execOnce(conn, 'true'));
  } catch (e) {
    return {
      kind: 'exec',
      endpoint: side.endpoint,
      count: 0,
      seconds: 0,
      perSec: null,
      p50Ms: null,
      p99Ms: null,
      ratio: null,
      error: firstLine(e),
    };
  } finally {
    if (c) await closeSsh2(c);
  }
}

function connectRate(side: Side, seconds: number): Promise<RateRow> {
  return rate('connect', side, seconds, async () => {
    const c = await connectSsh2(side);
    try {
      await execOnce(c, 'true');
    } finally {
      await closeSsh2(c);
    }
  });
}

/** A session held open: a connection with `cat` running at the target, proven by an echo. */
interface HeldSession {
  client: Client;
  echo(): Promise<void>;
}

async function holdSession(side: Side, timeoutMs: number): Promise<HeldSession> {
  const client = await connectSsh2(side, timeoutMs);
  try {
    const stream = await new Promise<import('ssh2').ClientChannel>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('exec was not opened in time')), timeoutMs);
      client.exec('cat', (e, s) => {
        clearTimeout(t);
        if (e) reject(e);
        else resolve(s);
      });
    });
    // The gateway's masker holds back the last ~16 KiB of an exec stream (a value may continue):
    // each ping sends 64 KiB and waits until at least 32 KiB more have come back.
    const ping = Buffer.alloc(64 * 1024, 'ping ');
    let sent = 0;
    let received = 0;
    let waiter: (() => void) | undefined;
    stream.on('data', (b: Buffer) => {
      received += b.length;
      if (received >= sent - 32 * 1024) waiter?.();
    });
    const echo = () =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no echo in time')), timeoutMs);
        waiter = () => {
          waiter = undefined;
          clearTimeout(t);
          resolve();
        };
        sent += ping.length;
        stream.write(ping);
      });
    await echo();
    return { client, echo };
  } catch (e) {
    client.end();
    throw e;
  }
}

async function sessionsRun(
  side: Side,
  gw: GatewayProcess,
  n: number,
  batch: number,
  log: (l: string) => void,
): Promise<SessionsRow> {
  const before = await gw.memory();
  const held: HeldSession[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + Math.max(120_000, n * 400);
  let next = 0;
  const worker = async () => {
    while (next < n && Date.now() < deadline) {
      next++;
      try {
        held.push(await holdSession(side, 30_000));
      } catch (e) {
        failed++;
        firstError ??= firstLine(e);
      }
      if (held.length % 100 === 0) log(`sessions: ${held.length} open`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(batch, n)) }, worker));
  const openSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  const after = await gw.memory();
  const sample = held.filter((_, i) => i % Math.max(1, Math.floor(held.length / 20)) === 0).slice(0, 20);
  const alive = (await Promise.allSettled(sample.map((s) => s.echo()))).filter(
    (x) => x.status === 'fulfilled',
  ).length;
  log(`sessions: closing ${held.length}`);
  await Promise.all(held.map((s) => closeSsh2(s.client)));
  const mib = (b: number) => Number((b / 1048576).toFixed(1));
  const perKiB = (a: number, b: number) =>
    held.length === 0 ? null : Number(((a - b) / 1024 / held.length).toFixed(1));
  return {
    requested: n,
    opened: held.length,
    failed,
    ...(firstError ? { firstError } : {}),
    openSeconds: Number(openSeconds.toFixed(2)),
    rssBeforeMiB: mib(before.rss),
    rssAfterMiB: mib(after.rss),
    heapBeforeMiB: mib(before.heapUsed),
    heapAfterMiB: mib(after.heapUsed),
    rssPerSessionKiB: perKiB(after.rss, before.rss),
    heapPerSessionKiB: perKiB(after.heapUsed, before.heapUsed),
    sampleStillAlive: alive,
    sampleSize: sample.length,
  };
}

/** Runs the whole SSH benchmark (see the file comment) and returns the report. */
export async function runSshBench(opts: SshBenchOptions = {}): Promise<SshBenchReport> {
  const config = {
    mb: opts.mb ?? 1024,
    copyRuns: opts.copyRuns ?? 1,
    execSeconds: opts.execSeconds ?? 5,
    connectSeconds: opts.connectSeconds ?? 5,
    sessions: opts.sessions ?? 500,
    sessionBatch: opts.sessionBatch ?? 20,
    transfers: opts.transfers ?? (['scp-get', 'scp-put', 'exec-cat'] as TransferRow['kind'][]),
  };
  const log = opts.log ?? ((l: string) => process.stderr.write(`[ssh-bench] ${l}\n`));
  const openssh = await run('ssh', ['-V'], { timeoutMs: 10_000 });
  const report: SshBenchReport = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? 'unknown'} x${cpus().length}`,
    loadAverage: loadavg().map((x) => Number(x.toFixed(2))),
    openssh: openssh.stderr.trim() || openssh.stdout.trim(),
    config,
    transfer: [],
    rates: [],
    sessions: null,
  };
  const work = mkdtempSync(join(tmpdir(), 'tollgate-ssh-bench-'));
  const target = await startLocalSshd({
    suite: 'ssh-bench',
    maxStartups: Math.max(100, config.sessionBatch * 4),
    maxSessions: 16,
  });
  let gw: GatewayProcess | undefined;
  try {
    const agentKey = join(work, 'agent_ed25519');
    const { readFileSync } = await import('node:fs');
    const started = await GatewayProcess.start(
      {
        dir: work,
        sshdPort: target.port,
        sshdUser: target.user,
        sshdKeyPath: target.clientKeyPath,
        hostKeyFingerprint: target.hostKeyFingerprint,
        agentPublicKey: await sshKeygen(agentKey, 'bench-agent'),
      },
      opts.profileDir,
    );
    gw = started.gw;
    const sides: Side[] = [
      {
        endpoint: 'direct',
        port: target.port,
        user: target.user,
        keyPath: target.clientKeyPath,
        auth: { privateKey: readFileSync(target.clientKeyPath) },
      },
      {
        endpoint: 'tollgate',
        port: started.ready.port,
        user: 'bench',
        keyPath: agentKey,
        auth: { password: started.ready.apiKey },
      },
    ];

    if (config.copyRuns > 0 && config.mb > 0) {
      const file = join(work, 'payload.log');
      log(`writing a ${config.mb} MiB file`);
      await writeTestFile(file, config.mb * 1024 * 1024);
      const timeoutMs = Math.max(120_000, config.mb * 1_000);
      const kinds = config.transfers;
      const runs = new Map<string, { runs: number[]; bytes: number; error?: string }>();
      for (let i = 0; i < config.copyRuns; i++) {
        for (const kind of kinds) {
          for (const side of sides) {
            const key = `${kind}\0${side.endpoint}`;
            const entry = runs.get(key) ?? { runs: [], bytes: 0 };
            runs.set(key, entry);
            if (entry.error) continue;
            log(`${kind} ${i + 1}/${config.copyRuns}: ${side.endpoint}`);
            try {
              const r = await transferOnce(kind, side, file, work, timeoutMs);
              entry.runs.push(r.seconds);
              entry.bytes = r.bytes;
            } catch (e) {
              entry.error = firstLine(e);
              log(`${kind} through ${side.endpoint} failed: ${entry.error}`);
            }
          }
        }
      }
      rmSync(file, { force: true });
      for (const kind of kinds) {
        for (const side of sides) {
          const e = runs.get(`${kind}\0${side.endpoint}`) ?? { runs: [], bytes: 0 };
          const seconds = e.error || e.runs.length === 0 ? null : median(e.runs);
          report.transfer.push({
            kind,
            endpoint: side.endpoint,
            bytes: e.bytes,
            seconds: seconds === null ? null : Number(seconds.toFixed(3)),
            mbPerSec: seconds === null ? null : Number((config.mb / seconds).toFixed(1)),
            runs: e.runs.map((x) => Number(x.toFixed(3))),
            ratio: null,
            ...(e.error ? { error: e.error } : {}),
          });
        }
      }
    }

    if (config.execSeconds > 0) {
      for (const side of sides) {
        log(`exec round trips for ${config.execSeconds} s: ${side.endpoint}`);
        report.rates.push(await execRate(side, config.execSeconds));
      }
    }
    if (config.connectSeconds > 0) {
      for (const side of sides) {
        log(`connect + exec + close for ${config.connectSeconds} s: ${side.endpoint}`);
        report.rates.push(await connectRate(side, config.connectSeconds));
      }
    }
    if (config.sessions > 0) {
      log(`holding ${config.sessions} sessions open through the gateway`);
      report.sessions = await sessionsRun(sides[1] as Side, gw, config.sessions, config.sessionBatch, log);
    }

    for (const row of report.transfer) {
      const d = report.transfer.find((x) => x.endpoint === 'direct' && x.kind === row.kind);
      row.ratio = ratio(row.mbPerSec, d?.mbPerSec);
    }
    for (const row of report.rates) {
      const d = report.rates.find((x) => x.endpoint === 'direct' && x.kind === row.kind);
      row.ratio = ratio(row.perSec, d?.perSec);
    }
    return report;
  } finally {
    await gw?.stop().catch((e: unknown) => log(`stopping the gateway failed: ${firstLine(e)}`));
    await target.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

const fmt = (v: number | null | undefined, digits = 0): string =>
  v == null
    ? '–'
    : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The report as plain-text tables. */
export function formatSshReport(r: SshBenchReport): string {
  const out: string[] = [];
  out.push(`SSH data path (${r.openssh}; ${r.node}, ${r.cpu}, load ${r.loadAverage.join(' ')})`);
  if (r.transfer.length > 0) {
    out.push('', `transfer of a ${fmt(r.config.mb)} MiB file (median of ${r.config.copyRuns})`);
    out.push(
      `${'kind'.padEnd(10)}${'endpoint'.padEnd(10)}${'seconds'.padStart(9)}${'MB/s'.padStart(9)}${'× direct'.padStart(10)}`,
    );
    for (const x of r.transfer) {
      out.push(
        `${x.kind.padEnd(10)}${x.endpoint.padEnd(10)}${fmt(x.seconds, 2).padStart(9)}${fmt(x.mbPerSec, 1).padStart(9)}${fmt(x.ratio, 2).padStart(10)}${x.error ? `  error: ${x.error}` : ''}`,
      );
    }
  }
  if (r.rates.length > 0) {
    out.push('', 'exec round trips (ssh2 client): `true` on one connection; connect + exec + close');
    out.push(
      `${'kind'.padEnd(10)}${'endpoint'.padEnd(10)}${'count'.padStart(7)}${'per s'.padStart(9)}${'× direct'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`,
    );
    for (const x of r.rates) {
      out.push(
        `${x.kind.padEnd(10)}${x.endpoint.padEnd(10)}${String(x.count).padStart(7)}${fmt(x.perSec, 1).padStart(9)}${fmt(x.ratio, 2).padStart(10)}${fmt(x.p50Ms, 1).padStart(9)}${fmt(x.p99Ms, 1).padStart(9)}${x.error ? `  error: ${x.error}` : ''}`,
      );
    }
  }
  const s = r.sessions;
  if (s) {
    out.push(
      '',
      `sessions held open through the gateway: ${s.opened}/${s.requested} opened (${s.failed} failed) in ${fmt(s.openSeconds, 1)} s; ${s.sampleStillAlive}/${s.sampleSize} sampled still echo`,
      `gateway RSS ${fmt(s.rssBeforeMiB, 1)} → ${fmt(s.rssAfterMiB, 1)} MiB (${fmt(s.rssPerSessionKiB, 1)} KiB per session); heap ${fmt(s.heapBeforeMiB, 1)} → ${fmt(s.heapAfterMiB, 1)} MiB (${fmt(s.heapPerSessionKiB, 1)} KiB per session)`,
    );
    if (s.firstError) out.push(`first failure: ${s.firstError}`);
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '1024' },
      'copy-runs': { type: 'string', default: '1' },
      'exec-seconds': { type: 'string', default: '5' },
      'connect-seconds': { type: 'string', default: '5' },
      sessions: { type: 'string', default: '500' },
      'session-batch': { type: 'string', default: '20' },
      transfers: { type: 'string', default: 'scp-get,scp-put,exec-cat' },
      'profile-gateway': { type: 'string' },
      out: { type: 'string', default: join(__dirname, '..', 'results', 'ssh.local.json') },
    },
  });
  const report = await runSshBench({
    mb: Number(values.mb),
    copyRuns: Number(values['copy-runs']),
    execSeconds: Number(values['exec-seconds']),
    connectSeconds: Number(values['connect-seconds']),
    sessions: Number(values.sessions),
    sessionBatch: Number(values['session-batch']),
    transfers: values.transfers.split(',').map((k) => {
      if (k !== 'scp-get' && k !== 'scp-put' && k !== 'exec-cat')
        throw new Error(`--transfers: unknown kind '${k}'`);
      return k;
    }),
    ...(values['profile-gateway'] ? { profileDir: values['profile-gateway'] } : {}),
  });
  console.log(formatSshReport(report));
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${values.out}`);
}

if (require.main === module) {
  const job = process.argv.includes('--gateway-child') ? gatewayChild() : main();
  job.catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
