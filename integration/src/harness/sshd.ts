import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runOk, tailLines } from './exec';
import { harnessLog, keepLogsFromEnv, safeName, saveLog } from './logs';
import { freePort } from './ports';
import type { SshdOptions, SshdTarget, StopOptions, StopResult } from './provider';

/** Host key types `startLocalSshd` can generate (`ssh-keygen -t`). */
export type SshHostKeyType = 'ed25519' | 'ecdsa' | 'rsa';

/** `SshdOptions` plus knobs only the local sshd has (benchmarks, host-key tests). */
export interface LocalSshdOptions extends SshdOptions {
  /** sshd `MaxStartups` (default sshd's 10:30:100): raise it to open many connections at once. */
  maxStartups?: number;
  /** sshd `MaxSessions`, channels per connection (default sshd's 10). */
  maxSessions?: number;
  /** Host keys to generate, in this order (default `['ed25519']`); the first is `hostPublicKey`. */
  hostKeyTypes?: readonly SshHostKeyType[];
  /** sshd `AcceptEnv` patterns (default none: sshd ignores every env request). */
  acceptEnv?: readonly string[];
  /**
   * sshd `X11Forwarding yes` (loopback displays from 6010 on); its `xauth` (Debian's, which must
   * be installed) keeps the cookies in the sshd's temp dir rather than the user's ~/.Xauthority.
   */
  x11Forwarding?: boolean;
}

/** A local sshd, with every host key it serves. */
export interface LocalSshdTarget extends SshdTarget {
  /** `type AAAA… comment` of each host key, in the order of `hostKeyTypes`. */
  readonly hostPublicKeys: readonly string[];
  /** The private host key files, in the same order (for tests that need the key itself). */
  readonly hostKeyPaths: readonly string[];
}

/** Debian's OpenSSH server (package openssh-server); sshd must be started by absolute path. */
export const SSHD = '/usr/sbin/sshd';
const START_ATTEMPTS = 3;
const live = new Map<string, () => void>();
let hooked = false;

function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const stop of live.values()) stop();
  });
}

/** `SHA256:…` of an OpenSSH public key line, as `ssh-keygen -lf` prints it. */
export function publicKeyFingerprint(line: string): string {
  const blob = Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Generates an unencrypted key pair (Ed25519 unless `type` says) at `path` / `path.pub`; returns the public line. */
export async function sshKeygen(
  path: string,
  comment = 'tollgate-test',
  type: SshHostKeyType = 'ed25519',
): Promise<string> {
  const bits = type === 'rsa' ? ['-b', '3072'] : type === 'ecdsa' ? ['-b', '256'] : [];
  await runOk('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', comment, '-f', path], {
    timeoutMs: 60_000,
  });
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

/**
 * Starts Debian's OpenSSH sshd as a local process for one suite: a fresh temp dir with generated
 * host keys, an authorized key for the login user (the user running the tests), listening on
 * 127.0.0.1 on a random port, logging to a file that is kept when the suite failed.
 */
export async function startLocalSshd(opts: LocalSshdOptions): Promise<LocalSshdTarget> {
  const suite = opts.suite;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  const user = userInfo().username;
  const dir = await mkdtemp(join(tmpdir(), `tollgate-${safeName(suite).slice(0, 40)}-sshd-`));
  const logPath = join(dir, 'sshd.log');
  const conf = join(dir, 'sshd_config');
  let child: ChildProcess | undefined;
  let port = 0;

  const kill = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  installExitHook();
  live.set(dir, () => {
    kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const readLog = () => readFile(logPath, 'utf8').catch(() => '');

  const hostPublicKeys: string[] = [];
  const hostKeyPaths: string[] = [];
  let clientPublicKey: string;
  const clientKeyPath = join(dir, 'client_ed25519');
  try {
    // privilege separation directory (Debian: /run/sshd), needed when sshd runs as root
    if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
    for (const type of opts.hostKeyTypes ?? ['ed25519']) {
      const hostKeyPath = join(dir, `ssh_host_${type}_key`);
      if (hostKeyPaths.includes(hostKeyPath)) continue;
      hostPublicKeys.push(await sshKeygen(hostKeyPath, 'tollgate-test-host', type));
      hostKeyPaths.push(hostKeyPath);
    }
    if (hostKeyPaths.length === 0) throw new Error('hostKeyTypes names no host key type');
    clientPublicKey = await sshKeygen(clientKeyPath, 'tollgate-test-client');
    await writeFile(
      join(dir, 'authorized_keys'),
      `${[clientPublicKey, ...(opts.authorizedKeys ?? [])].join('\n')}\n`,
      {
        mode: 0o600,
      },
    );
    const xauth = join(dir, 'xauth');
    if (opts.x11Forwarding) {
      await writeFile(xauth, `#!/bin/sh\nXAUTHORITY=${join(dir, 'Xauthority')} exec /usr/bin/xauth "$@"\n`, {
        mode: 0o755,
      });
    }
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      await writeFile(
        conf,
        [
          '# Written by the Tollgate integration harness.',
          `Port ${port}`,
          'ListenAddress 127.0.0.1',
          ...hostKeyPaths.map((p) => `HostKey ${p}`),
          `PidFile ${join(dir, 'sshd.pid')}`,
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          // the temp dir sits under world-writable /tmp, which StrictModes refuses
          'StrictModes no',
          'PubkeyAuthentication yes',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'PermitRootLogin prohibit-password',
          'UsePAM no',
          'AllowTcpForwarding yes',
          'Subsystem sftp /usr/lib/openssh/sftp-server',
          'LogLevel VERBOSE',
          ...(opts.maxStartups !== undefined ? [`MaxStartups ${opts.maxStartups}`] : []),
          ...(opts.maxSessions !== undefined ? [`MaxSessions ${opts.maxSessions}`] : []),
          ...(opts.acceptEnv?.length ? [`AcceptEnv ${opts.acceptEnv.join(' ')}`] : []),
          ...(opts.x11Forwarding
            ? ['X11Forwarding yes', 'X11UseLocalhost yes', `XAuthLocation ${xauth}`]
            : []),
          '',
        ].join('\n'),
      );
      await runOk(SSHD, ['-t', '-f', conf], { timeoutMs: 10_000 });
      const fd = openSync(logPath, 'a');
      child = spawn(SSHD, ['-D', '-e', '-f', conf], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      child.on('error', () => {});
      const up = await waitForBanner(port, child, deadline);
      if (up) break;
      const log = await readLog();
      kill();
      if (attempt < START_ATTEMPTS && /Address already in use|Bind to port/i.test(log)) {
        harnessLog(`port ${port} was taken before sshd could bind it; retrying on another port`);
        continue;
      }
      throw new Error(`sshd did not answer on 127.0.0.1:${port}`);
    }
  } catch (e) {
    kill();
    const log = await readLog();
    const kept = await saveLog(suite, log).catch(() => undefined);
    live.delete(dir);
    await rm(dir, { recursive: true, force: true });
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(
      `local sshd did not start for suite '${suite}': ${message}\n` +
        `--- last lines of the sshd log${kept ? ` (kept at ${kept})` : ''} ---\n${tailLines(log, 40) || '(empty)'}`,
    );
  }

  let stopping: Promise<StopResult> | undefined;
  let finalLog: string | undefined;
  const proc = child as ChildProcess;
  const hostPublicKey = hostPublicKeys[0] as string;
  const target: LocalSshdTarget = {
    kind: 'sshd',
    provider: 'local',
    suite,
    host: '127.0.0.1',
    port,
    user,
    clientKeyPath,
    clientPublicKey,
    hostPublicKey,
    hostKeyFingerprint: publicKeyFingerprint(hostPublicKey),
    hostPublicKeys,
    hostKeyPaths,
    logPath,
    logs: async () => finalLog ?? (await readLog()),
    stop: (o: StopOptions = {}) => {
      stopping ??= (async (): Promise<StopResult> => {
        try {
          if (proc.exitCode === null && proc.signalCode === null) {
            const exited = new Promise((r) => proc.once('exit', r));
            proc.kill('SIGTERM');
            await Promise.race([exited, sleep(5_000)]);
            if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
          }
          finalLog = await readLog();
          if (o.keepLogs === true || keepLogsFromEnv())
            return { keptLogPath: await saveLog(suite, finalLog) };
          return {};
        } finally {
          live.delete(dir);
          await rm(dir, { recursive: true, force: true, maxRetries: 3 });
        }
      })();
      return stopping;
    },
  };
  harnessLog(`local sshd for '${suite}' on 127.0.0.1:${port} as ${user} (dir ${dir})`);
  return target;
}

/** Waits until the port answers with an SSH identification line; false if sshd exited. */
async function waitForBanner(port: number, child: ChildProcess, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const banner = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      const t = setTimeout(() => {
        s.destroy();
        resolve('');
      }, 1_000);
      s.once('data', (b) => {
        clearTimeout(t);
        s.destroy();
        resolve(b.toString('latin1'));
      });
      s.once('error', () => {
        clearTimeout(t);
        resolve('');
      });
    });
    if (banner.startsWith('SSH-2.0-')) return true;
    await sleep(100);
  }
  throw new Error(`sshd did not answer on 127.0.0.1:${port} before the start-up deadline`);
}
