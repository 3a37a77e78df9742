import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { CommandInput, Decision, Forward, Masker, SessionPipeline, TollgateError } from '@tollgate/core';
import { type Attributes, type SFTPWrapper, utils } from 'ssh2';

const { OPEN_MODE, STATUS_CODE } = utils.sftp;
/** Largest READ the gateway asks the target for on the agent's behalf. */
const MAX_READ = 256 * 1024;
/** Open handles per sftp session. */
const MAX_HANDLES = 1024;
const WRITE_FLAGS = OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC;

type Verdict = Forward | { kind: 'reject'; error: TollgateError };

export interface SftpPorts {
  readonly pipeline: SessionPipeline;
  /**
   * Decides each command (one per path: rename has two), lets the strictest decision govern (see
   * `strictest`), records it write-ahead and (for require-approval) waits: the session's `#govern`.
   */
  readonly govern: (cmds: readonly [CommandInput, ...CommandInput[]]) => Promise<Verdict>;
  readonly log: (line: string) => void;
  /**
   * The masker for reads through a handle whose deciding rule names this masking profile; no
   * profile, no masking (sftp data is passed as it is).
   */
  readonly maskerFor?: (profile: string) => Masker;
}

interface OpenHandle {
  readonly target: Buffer;
  readonly path: string;
  readonly dir: boolean;
  readonly auditSeq: number | undefined;
  readonly opened: number;
  /** Reads are masked with it (length-preserving only). */
  readonly masker: Masker | undefined;
  bytesRead: number;
  bytesWritten: number;
  masked: Record<string, number>;
}

/**
 * Proxies one sftp subsystem operation by operation: the agent's requests arrive on `agent`
 * (ssh2's server side), are decided and audited, and are replayed on `target` (ssh2's client
 * side). Handles are the gateway's own (the target's never reach the agent).
 *
 * Policy: opening a file for writing, remove, rename, mkdir, rmdir, setstat are `sftp-write`
 * with the path in the audit record (rename: both); opening a file for reading is `sftp-read`.
 * Each carries its path as `detail.path` for `when: { paths }` rules, normalised (see
 * `resolvePath`), and the target is asked for that normalised path; a rename is decided for both
 * paths and the strictest decision governs.
 * Closing a file records bytes read and written. Listing and stat go through once the session's
 * `sftp-read` decision allowed the subsystem. `SYMLINK` and extensions are refused (OP_UNSUPPORTED).
 *
 * Reads are masked when the rule that allowed the open names a masking profile (see `maskedRead`).
 */
export function proxySftp(agent: SFTPWrapper, ready: Promise<SFTPWrapper>, ports: SftpPorts): void {
  ready.catch(() => {});
  // Requests arrive from the moment the subsystem is accepted (OpenSSH does not wait for the
  // confirmation); each waits for the target side, in arrival order.
  const on = <A extends unknown[]>(
    ev: string,
    fn: (target: SFTPWrapper, id: number, ...args: A) => unknown,
  ) =>
    agent.on(ev, (id: number, ...args: A) => {
      ready.then(
        (t) => fn(t, id, ...args),
        () => agent.status(id, STATUS_CODE.FAILURE, 'sftp is not available'),
      );
    });
  const handles = new Map<string, OpenHandle>();
  let next = 0;
  const failure = (id: number, err: unknown) => {
    const e = err as { code?: number; message?: string } | undefined;
    const code = typeof e?.code === 'number' ? e.code : STATUS_CODE.FAILURE;
    agent.status(id, code, e?.message ?? 'failure');
  };
  const newHandle = (
    h: Omit<OpenHandle, 'bytesRead' | 'bytesWritten' | 'opened' | 'masked'>,
  ): Buffer | undefined => {
    if (handles.size >= MAX_HANDLES) return undefined;
    const id = Buffer.alloc(4);
    id.writeUInt32BE(next++ >>> 0);
    handles.set(id.toString('hex'), { ...h, opened: Date.now(), bytesRead: 0, bytesWritten: 0, masked: {} });
    return id;
  };
  const handleOf = (id: number, h: Buffer): OpenHandle | undefined => {
    const found = handles.get(h.toString('hex'));
    if (!found) agent.status(id, STATUS_CODE.FAILURE, 'invalid handle');
    return found;
  };
  let home: Promise<string | undefined> | undefined;
  const decided = async (
    target: SFTPWrapper,
    id: number,
    action: 'sftp-read' | 'sftp-write',
    op: string,
    paths: [string, ...string[]],
  ) => {
    const text = `sftp ${op} ${paths.join(' -> ')}`;
    const fingerprint = createHash('sha256').update(text).digest('hex').slice(0, 16);
    let v: Verdict;
    let resolved: string[];
    try {
      if (paths.some((p) => !p.startsWith('/'))) home ??= serverHome(target);
      const cwd = home === undefined ? undefined : await home;
      resolved = paths.map((p) => resolvePath(p, cwd));
      const data = { op, paths, resolved: resolved.map((r) => (r.startsWith('/') ? r : null)) };
      const cmds = paths.map(
        (_, i): CommandInput => ({
          action,
          text,
          fingerprint,
          detail: { path: resolved[i] as string },
          data,
        }),
      ) as [CommandInput, ...CommandInput[]];
      v = await ports.govern(cmds);
    } catch (err) {
      ports.log(`sftp ${op}: ${(err as Error).message}`);
      agent.status(id, STATUS_CODE.FAILURE, 'tollgate: internal error');
      return undefined;
    }
    if (v.kind === 'reject') {
      agent.status(id, STATUS_CODE.PERMISSION_DENIED, `tollgate: ${v.error.message}`);
      return undefined;
    }
    // the target is asked for the path that was decided (no `..` left for it to read differently)
    return { ...v, at: resolved as [string, ...string[]] };
  };
  const done = (seq: number | undefined, data: Record<string, unknown>, t0: number) => {
    if (seq === undefined) return;
    ports.pipeline
      .result(seq, { durationMs: Date.now() - t0, data })
      .catch((err: Error) => ports.log(`sftp result not recorded: ${err.message}`));
  };
  const simple =
    (id: number, seq: number | undefined, t0: number, op: string) => (err: Error | null | undefined) => {
      if (err) failure(id, err);
      else agent.status(id, STATUS_CODE.OK);
      done(seq, { op, ...(err ? { error: err.message } : {}) }, t0);
    };

  on('OPEN', async (target: SFTPWrapper, id: number, path: string, flags: number, attrs: Attributes) => {
    const writing = (flags & WRITE_FLAGS) !== 0;
    const v = await decided(
      target,
      id,
      writing ? 'sftp-write' : 'sftp-read',
      writing ? 'open-write' : 'open-read',
      [path],
    );
    if (!v) return;
    target.open(v.at[0], flags, attrs, (err, th) => {
      if (err) {
        failure(id, err);
        done(v.auditSeq, { op: 'open', error: err.message }, Date.now());
        return;
      }
      const masker = v.masking && ports.maskerFor ? ports.maskerFor(v.masking) : undefined;
      const h = newHandle({ target: th, path, dir: false, auditSeq: v.auditSeq, masker });
      if (!h) {
        target.close(th, () => {});
        agent.status(id, STATUS_CODE.FAILURE, 'too many open handles');
        return;
      }
      agent.handle(id, h);
    });
  });
  on('READ', (target: SFTPWrapper, id: number, h: Buffer, offset: number, len: number) => {
    const o = handleOf(id, h);
    if (!o) return;
    if (o.masker) {
      maskedRead(target, o, offset, Math.min(len, MAX_READ)).then(
        (data) => (data.length ? agent.data(id, data) : agent.status(id, STATUS_CODE.EOF)),
        (err: Error & { code?: number }) => {
          if (err instanceof LengthChange) ports.log(`sftp read of ${o.path} refused: ${err.message}`);
          failure(id, err);
        },
      );
      return;
    }
    // unzeroed: only the `n` bytes the read wrote are passed on
    const buf = Buffer.allocUnsafe(Math.min(len, MAX_READ));
    target.read(o.target, buf, 0, buf.length, offset, (err, n) => {
      if (err) return failure(id, err);
      if (n === 0) return agent.status(id, STATUS_CODE.EOF);
      o.bytesRead += n;
      agent.data(id, buf.subarray(0, n));
    });
  });
  on('WRITE', (target: SFTPWrapper, id: number, h: Buffer, offset: number, data: Buffer) => {
    const o = handleOf(id, h);
    if (!o) return;
    target.write(o.target, data, 0, data.length, offset, (err) => {
      if (err) return failure(id, err);
      o.bytesWritten += data.length;
      agent.status(id, STATUS_CODE.OK);
    });
  });
  on('CLOSE', (target: SFTPWrapper, id: number, h: Buffer) => {
    const o = handleOf(id, h);
    if (!o) return;
    handles.delete(h.toString('hex'));
    target.close(o.target, (err) => {
      if (err) failure(id, err);
      else agent.status(id, STATUS_CODE.OK);
      if (!o.dir) done(o.auditSeq, closeData(o), o.opened);
    });
  });
  on('FSTAT', (target: SFTPWrapper, id: number, h: Buffer) => {
    const o = handleOf(id, h);
    if (o) target.fstat(o.target, (err, st) => (err ? failure(id, err) : agent.attrs(id, st)));
  });
  on('FSETSTAT', (target: SFTPWrapper, id: number, h: Buffer, attrs: Attributes) => {
    const o = handleOf(id, h);
    if (o)
      target.fsetstat(o.target, attrs, (err) => (err ? failure(id, err) : agent.status(id, STATUS_CODE.OK)));
  });
  on('OPENDIR', (target: SFTPWrapper, id: number, path: string) => {
    target.opendir(path, (err, th) => {
      if (err) return failure(id, err);
      const h = newHandle({ target: th, path, dir: true, auditSeq: undefined, masker: undefined });
      if (!h) {
        target.close(th, () => {});
        return agent.status(id, STATUS_CODE.FAILURE, 'too many open handles');
      }
      agent.handle(id, h);
    });
  });
  on('READDIR', (target: SFTPWrapper, id: number, h: Buffer) => {
    const o = handleOf(id, h);
    if (!o) return;
    const readdir = target.readdir as unknown as (
      h: Buffer,
      opts: { full: boolean },
      cb: (err: Error | undefined, list: { filename: string; longname: string; attrs: Attributes }[]) => void,
    ) => void;
    readdir.call(target, o.target, { full: true }, (err, list) =>
      err ? failure(id, err) : agent.name(id, list),
    );
  });
  on('STAT', (target, id: number, path: string) =>
    target.stat(path, (err, st) => (err ? failure(id, err) : agent.attrs(id, st))),
  );
  on('LSTAT', (target, id: number, path: string) =>
    target.lstat(path, (err, st) => (err ? failure(id, err) : agent.attrs(id, st))),
  );
  on('REALPATH', (target: SFTPWrapper, id: number, path: string) =>
    target.realpath(path, (err, abs) =>
      err ? failure(id, err) : agent.name(id, [{ filename: abs, longname: abs, attrs: {} as Attributes }]),
    ),
  );
  on('READLINK', (target: SFTPWrapper, id: number, path: string) =>
    target.readlink(path, (err, to) =>
      err ? failure(id, err) : agent.name(id, [{ filename: to, longname: to, attrs: {} as Attributes }]),
    ),
  );
  on('REMOVE', async (target: SFTPWrapper, id: number, path: string) => {
    const t0 = Date.now();
    const v = await decided(target, id, 'sftp-write', 'remove', [path]);
    if (v) target.unlink(v.at[0], simple(id, v.auditSeq, t0, 'remove'));
  });
  on('RMDIR', async (target: SFTPWrapper, id: number, path: string) => {
    const t0 = Date.now();
    const v = await decided(target, id, 'sftp-write', 'rmdir', [path]);
    if (v) target.rmdir(v.at[0], simple(id, v.auditSeq, t0, 'rmdir'));
  });
  on('MKDIR', async (target: SFTPWrapper, id: number, path: string, attrs: Attributes) => {
    const t0 = Date.now();
    const v = await decided(target, id, 'sftp-write', 'mkdir', [path]);
    if (v) target.mkdir(v.at[0], attrs, simple(id, v.auditSeq, t0, 'mkdir'));
  });
  on('SETSTAT', async (target: SFTPWrapper, id: number, path: string, attrs: Attributes) => {
    const t0 = Date.now();
    const v = await decided(target, id, 'sftp-write', 'setstat', [path]);
    if (v) target.setstat(v.at[0], attrs, simple(id, v.auditSeq, t0, 'setstat'));
  });
  on('RENAME', async (target: SFTPWrapper, id: number, from: string, to: string) => {
    const t0 = Date.now();
    const v = await decided(target, id, 'sftp-write', 'rename', [from, to]);
    if (v) target.rename(v.at[0], v.at[1] as string, simple(id, v.auditSeq, t0, 'rename'));
  });
  agent.on('SYMLINK', (id: number) =>
    agent.status(id, STATUS_CODE.OP_UNSUPPORTED, 'symlink is not supported'),
  );
  agent.on('EXTENDED', (id: number) =>
    agent.status(id, STATUS_CODE.OP_UNSUPPORTED, 'extensions are not supported'),
  );
  // the agent's EOF ends the subsystem: close the channel so that its client can exit
  agent.on('end', () => endSftp(agent, 0));
  agent.on('close', async () => {
    const target = await ready.catch(() => undefined);
    for (const o of handles.values()) {
      target?.close(o.target, () => {});
      if (!o.dir) done(o.auditSeq, { ...closeData(o), unclosed: true }, o.opened);
    }
    handles.clear();
    target?.end();
  });
}

/**
 * The index of the decision that governs several (one per path of a rename): a deny, else a
 * require-approval, else the first (all allow).
 */
export function strictest(decisions: readonly Decision[]): number {
  const deny = decisions.findIndex((d) => d.effect === 'deny');
  if (deny >= 0) return deny;
  // no require-approval (-1): the first
  const held = decisions.findIndex((d) => d.effect === 'require-approval');
  return Math.max(held, 0);
}

/**
 * The path an operation names, normalised lexically (`.`, `..`, repeated slashes): absolute ones
 * as they are, relative ones against the sftp server's working directory (`cwd`, what its
 * REALPATH of `.` answered). Without `cwd` a relative path is returned unchanged: the policy
 * cannot resolve it and lets it match deny rules only.
 */
export function resolvePath(path: string, cwd: string | undefined): string {
  if (path.startsWith('/')) return posix.resolve(path);
  return cwd === undefined ? path : posix.resolve(cwd, path);
}

/** The sftp server's working directory (relative paths resolve against it); `undefined` if unknown. */
function serverHome(target: SFTPWrapper): Promise<string | undefined> {
  return new Promise((resolve) =>
    target.realpath('.', (err, abs) => resolve(!err && abs.startsWith('/') ? abs : undefined)),
  );
}

function closeData(o: OpenHandle): Record<string, unknown> {
  return {
    op: 'close',
    path: o.path,
    bytesRead: o.bytesRead,
    bytesWritten: o.bytesWritten,
    ...(o.masker ? { maskedRead: true } : {}),
    ...(Object.keys(o.masked).length ? { masked: o.masked } : {}),
  };
}

/** The masking style would change the data's length: an offset-addressed read cannot carry that. */
export class LengthChange extends Error {
  readonly code = STATUS_CODE.FAILURE;
}

/**
 * A masked sftp READ. Reads are addressed by offset (and may arrive out of order, in parallel),
 * so no stream carries state from one read to the next: each read fetches its range plus the
 * masker's hold-back on both sides, masks that window at once, and returns the requested range.
 * A value that crosses the edge of the range is therefore still masked. The masked data must
 * keep its length (styles `last4` and `format` do; `full` and `hash` do not): otherwise the read
 * fails rather than shift the file's bytes or pass them unmasked.
 */
export async function maskedRead(
  target: SFTPWrapper,
  o: Pick<OpenHandle, 'target' | 'masker' | 'masked' | 'bytesRead'>,
  offset: number,
  len: number,
): Promise<Buffer> {
  const masker = o.masker as Masker;
  const context = masker.holdBack;
  const start = Math.max(0, offset - context);
  const window = await readRange(target, o.target, start, offset - start + len + context);
  const at = offset - start;
  if (window.length <= at) return Buffer.alloc(0);
  const { output } = masker.mask(window);
  if (output.length !== window.length) {
    throw new LengthChange(
      'tollgate: masking would change the length of the data; sftp reads need a length-preserving masking style (last4 or format)',
    );
  }
  const end = Math.min(window.length, at + len);
  if (!output.equals(window)) {
    for (const d of masker.detect(window)) {
      if (d.start >= at && d.start < end) o.masked[d.entity] = (o.masked[d.entity] ?? 0) + 1;
    }
  }
  o.bytesRead += end - at;
  return Buffer.from(output.subarray(at, end));
}

/** Reads `length` bytes from `offset`, fewer only at the end of the file (bounded loop). */
function readRange(target: SFTPWrapper, handle: Buffer, offset: number, length: number): Promise<Buffer> {
  // unzeroed: each read fills [got, got + n) and only [0, got) is returned
  const buf = Buffer.allocUnsafe(length);
  return new Promise((resolve, reject) => {
    let got = 0;
    let rounds = 0;
    const step = () => {
      if (got >= length || rounds++ > 64) return resolve(buf.subarray(0, got));
      target.read(handle, buf, got, length - got, offset + got, (err, n) => {
        if (err) {
          // EOF is a status, not a failure
          if ((err as { code?: number }).code === STATUS_CODE.EOF) return resolve(buf.subarray(0, got));
          return reject(err);
        }
        if (n === 0) return resolve(buf.subarray(0, got));
        got += n;
        step();
      });
    };
    step();
  });
}

/**
 * Ends the subsystem channel with an exit status, as sshd does (OpenSSH scp fails on a channel
 * that closes without one). ssh2's server-side SFTP object has no public method for it, so this
 * reaches its channel's protocol; if that ever changes, the channel still closes.
 */
export function endSftp(agent: SFTPWrapper, status: number): void {
  const a = agent as unknown as {
    _protocol?: { exitStatus?: (id: number, status: number) => void };
    outgoing?: { id: number; state: string };
  };
  try {
    if (a.outgoing?.state === 'open') a._protocol?.exitStatus?.(a.outgoing.id, status);
  } catch {
    // the channel is already going away
  }
  agent.end();
}
