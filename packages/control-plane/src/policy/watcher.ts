import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import {
  type ActionRequest,
  type Decision,
  Errors,
  type Identity,
  type MaskingProfile,
  type PolicyDecider,
  type Resource,
  TollgateError,
} from '@tollgate/core';
import { type PolicyLoadOptions, parsePolicy, readPolicyText } from './load';
import type { Explanation, Policy, PolicyRole } from './policy';

export type ReloadTrigger = 'signal' | 'file' | 'manual';

/**
 * The outcome of one reload attempt, for the gateway's log and its `policy.reload` audit event.
 * On failure the previous policy stays in force and `error` says why (positioned, no secrets).
 */
export interface PolicyReloadResult {
  readonly ok: boolean;
  readonly trigger: ReloadTrigger;
  readonly file: string;
  /** Hash of the policy in force after the attempt (the previous one when it failed). */
  readonly hash: string;
  readonly previousHash: string;
  /** False when the file was reloaded but its content had not changed. */
  readonly changed: boolean;
  readonly error?: TollgateError;
}

export interface PolicyWatcherOptions {
  /** Called after every reload attempt that read the file; must not throw. */
  readonly onReload?: (result: PolicyReloadResult) => void;
  /** Quiet time after the last file event before the file is read again (default 100 ms). */
  readonly debounceMs?: number;
  /** Reload on this signal (default `SIGHUP`); `false`: no signal handler. */
  readonly signal?: NodeJS.Signals | false;
  /** Watch the file's directory for changes (default true). */
  readonly watchFile?: boolean;
  readonly load?: PolicyLoadOptions;
}

/**
 * Holds the policy in force and replaces it when the file changes or the process gets SIGHUP.
 * An invalid new file never replaces a valid policy: the previous one stays and `onReload`
 * receives the positioned error. It is itself a `PolicyDecider` that always asks the policy in
 * force, so adapters can be handed the watcher once.
 *
 * File changes are seen by watching the directory, not the file, so editors that write a new
 * file and rename it over the old one, and Kubernetes ConfigMap volumes (which swap a `..data`
 * symlink) are followed. Events are debounced and the file is re-read only when its content hash
 * differs from the policy in force (and from the last rejected content).
 */
export class PolicyWatcher implements PolicyDecider {
  readonly file: string;
  #policy: Policy;
  readonly #opts: PolicyWatcherOptions;
  #rejectedHash: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  readonly #onSignal = () => {
    this.reload('signal');
  };
  #stopped = false;

  /** Loads the file now; throws `PolicyInvalidError` when the initial file is not valid. */
  constructor(file: string, opts: PolicyWatcherOptions = {}) {
    this.file = resolve(file);
    this.#opts = opts;
    this.#policy = parsePolicy(readPolicyText(this.file), this.file, opts.load);
    if (opts.watchFile !== false) this.#watch();
    if (opts.signal !== false) process.on(opts.signal ?? 'SIGHUP', this.#onSignal);
  }

  /** The policy in force. */
  get policy(): Policy {
    return this.#policy;
  }

  decide(req: ActionRequest): Decision {
    return this.#policy.decide(req);
  }

  explain(req: ActionRequest): Explanation {
    return this.#policy.explain(req);
  }

  resource(name: string): Resource | undefined {
    return this.#policy.resource(name);
  }

  maskingProfile(name: string): MaskingProfile | undefined {
    return this.#policy.maskingProfile(name);
  }

  hasRole(identity: Identity, role: PolicyRole): boolean {
    return this.#policy.hasRole(identity, role);
  }

  /**
   * Reads the file and replaces the policy when it is valid. Always reports to `onReload` (even
   * when nothing changed) except for file events whose content is already known.
   */
  reload(trigger: ReloadTrigger = 'manual'): PolicyReloadResult {
    const previous = this.#policy;
    let text: string;
    try {
      text = readPolicyText(this.file);
    } catch (err) {
      return this.#report(trigger, previous, err as TollgateError, undefined);
    }
    const hash = sha256(text);
    if (trigger === 'file' && (hash === previous.hash || hash === this.#rejectedHash)) {
      return {
        ok: hash === previous.hash,
        trigger,
        file: this.file,
        hash: previous.hash,
        previousHash: previous.hash,
        changed: false,
      };
    }
    try {
      this.#policy = parsePolicy(text, this.file, this.#opts.load);
      this.#rejectedHash = undefined;
      return this.#report(trigger, previous, undefined, hash);
    } catch (err) {
      this.#rejectedHash = hash;
      return this.#report(trigger, previous, toTollgateError(err), hash);
    }
  }

  /** Removes the signal handler and the directory watch; pending debounced reloads are dropped. */
  stop(): void {
    this.#stopped = true;
    if (this.#opts.signal !== false) process.off(this.#opts.signal ?? 'SIGHUP', this.#onSignal);
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #watch(): void {
    const name = basename(this.file);
    this.#watcher = watch(dirname(this.file), { persistent: false }, (_event, changed) => {
      // `changed` may be null on some platforms, and ConfigMap volumes change `..data`, not the
      // file itself: any event in the directory schedules a read; the hash check filters noise.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      this.#schedule();
    });
    this.#watcher.on('error', (err) => {
      this.#report('file', this.#policy, toTollgateError(err), undefined);
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#stopped) this.reload('file');
    }, this.#opts.debounceMs ?? 100);
    this.#timer.unref();
  }

  #report(
    trigger: ReloadTrigger,
    previous: Policy,
    error: TollgateError | undefined,
    hash: string | undefined,
  ): PolicyReloadResult {
    const result: PolicyReloadResult =
      error === undefined
        ? {
            ok: true,
            trigger,
            file: this.file,
            hash: this.#policy.hash,
            previousHash: previous.hash,
            changed: hash !== previous.hash,
          }
        : {
            ok: false,
            trigger,
            file: this.file,
            hash: previous.hash,
            previousHash: previous.hash,
            changed: false,
            error,
          };
    try {
      this.#opts.onReload?.(result);
    } catch (err) {
      process.emitWarning(`policy onReload callback threw: ${(err as Error).message}`);
    }
    return result;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function toTollgateError(err: unknown): TollgateError {
  if (err instanceof TollgateError) return err;
  return new TollgateError(Errors.CONFIG_INVALID, `policy reload failed: ${(err as Error).message}`);
}
