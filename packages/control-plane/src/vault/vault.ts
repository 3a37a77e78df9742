import { constants, promises as fs } from 'node:fs';
import { type CredentialRef, type CredentialVault, Errors, Secret, TollgateError } from '@tollgate/core';

/**
 * Where target credentials come from. A credential reference in the policy is a mapping with one
 * key, the provider kind, and one value, the locator: `{ env: PAYMENTS_DB_PASSWORD }`,
 * `{ file: /run/secrets/db }`. Each kind is served by a `CredentialProvider`; an external secret
 * manager becomes one more provider (`{ vault: kv/data/db#password }`) registered on the vault
 * (and one more variant of the policy schema's `credential`).
 */
export interface CredentialProvider {
  /** The reference key this provider serves (`env`, `file`, …). */
  readonly kind: string;
  /** Reads the secret at the locator, fresh on every call (so rotation needs no restart). */
  resolve(locator: string): Promise<Secret>;
  /** How errors name a locator, e.g. `environment variable X`, `file /run/secrets/db`. */
  describe(locator: string): string;
}

/** A reference of any registered kind: exactly one key. `CredentialRef` is the built-in subset. */
export type AnyCredentialRef = CredentialRef | Readonly<Record<string, string>>;

function unavailable(what: string, problem: string, hint?: string): TollgateError {
  return new TollgateError(Errors.CREDENTIAL_UNAVAILABLE, `credential from ${what}: ${problem}`, { hint });
}

/** `{ env: NAME }`: the value of an environment variable, as is (no trimming). */
export class EnvCredentialProvider implements CredentialProvider {
  readonly kind = 'env';
  readonly #env: NodeJS.ProcessEnv;
  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.#env = env;
  }
  describe(name: string): string {
    return `environment variable ${name}`;
  }
  async resolve(name: string): Promise<Secret> {
    const value = this.#env[name];
    if (value === undefined) {
      throw unavailable(this.describe(name), 'not set', "set it in the gateway process's environment");
    }
    if (value === '') throw unavailable(this.describe(name), 'set but empty');
    return new Secret(value);
  }
}

export interface FileCredentialOptions {
  /** Accept files any user may read (mode o+r). Default false: such files are refused. */
  readonly allowWorldReadable?: boolean;
  /** Largest file read, in bytes (default 64 KiB: passwords and private keys fit). */
  readonly maxBytes?: number;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'does not exist',
  EACCES: 'permission denied for the gateway user',
  EPERM: 'permission denied for the gateway user',
  EISDIR: 'is a directory, not a file',
  ELOOP: 'has a symbolic link loop',
  ENOTDIR: 'a part of the path is not a directory',
};

/**
 * `{ file: /path }`: the content of a file as UTF-8, with one trailing newline (`\n` or `\r\n`)
 * removed. Symbolic links are followed (Kubernetes secret volumes use them). Refuses files that
 * are missing, unreadable, not regular, empty, larger than `maxBytes`, or readable by every user.
 */
export class FileCredentialProvider implements CredentialProvider {
  readonly kind = 'file';
  readonly #allowWorldReadable: boolean;
  readonly #maxBytes: number;
  constructor(opts: FileCredentialOptions = {}) {
    this.#allowWorldReadable = opts.allowWorldReadable ?? false;
    this.#maxBytes = opts.maxBytes ?? 64 * 1024;
  }
  describe(path: string): string {
    return `file ${path}`;
  }
  async resolve(path: string): Promise<Secret> {
    const what = this.describe(path);
    if (!path.startsWith('/')) throw unavailable(what, 'the path must be absolute');
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw unavailable(what, `${ERRNO_TEXT[code] ?? 'cannot be opened'} (${code})`);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw unavailable(what, 'is not a regular file');
      if (!this.#allowWorldReadable && (st.mode & 0o004) !== 0) {
        const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
        throw unavailable(
          what,
          `is readable by every user (mode ${mode})`,
          'restrict it (chmod o-r, or defaultMode: 0440 on a Kubernetes secret volume), or allow world-readable credential files explicitly (allowWorldReadable)',
        );
      }
      if (st.size > this.#maxBytes) throw unavailable(what, `is larger than ${this.#maxBytes} bytes`);
      const buf = Buffer.alloc(this.#maxBytes + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n > this.#maxBytes) throw unavailable(what, `is larger than ${this.#maxBytes} bytes`);
      }
      let text = buf.toString('utf8', 0, n);
      buf.fill(0);
      if (text.endsWith('\r\n')) text = text.slice(0, -2);
      else if (text.endsWith('\n')) text = text.slice(0, -1);
      if (text === '') throw unavailable(what, 'is empty');
      return new Secret(text);
    } catch (err) {
      if (err instanceof TollgateError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw unavailable(what, `cannot be read (${code})`);
    } finally {
      await handle.close();
    }
  }
}

export interface EnvFileVaultOptions extends FileCredentialOptions {
  /** Environment for `{ env }` references (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** More providers, e.g. for an external secret manager. */
  readonly providers?: readonly CredentialProvider[];
}

/**
 * The gateway's `CredentialVault`: a registry of providers keyed by reference kind, with `env`
 * and `file` built in. Values are returned only as `Secret`s; errors name the reference (the
 * variable or the file), never a value.
 */
export class EnvFileVault implements CredentialVault {
  readonly #providers = new Map<string, CredentialProvider>();

  constructor(opts: EnvFileVaultOptions = {}) {
    this.register(new EnvCredentialProvider(opts.env));
    this.register(new FileCredentialProvider(opts));
    for (const p of opts.providers ?? []) this.register(p);
  }

  /** Adds a provider for a new reference kind; a kind can be registered once. */
  register(provider: CredentialProvider): this {
    if (this.#providers.has(provider.kind)) {
      throw new TollgateError(
        Errors.CONFIG_INVALID,
        `a credential provider for '${provider.kind}' is already registered`,
      );
    }
    this.#providers.set(provider.kind, provider);
    return this;
  }

  /** The registered reference kinds. */
  kinds(): string[] {
    return [...this.#providers.keys()];
  }

  /** How errors and logs name a reference: `environment variable X`, `file /p`. */
  describe(ref: AnyCredentialRef): string {
    const [kind, locator] = this.#split(ref);
    return this.#providers.get(kind)?.describe(locator) ?? `${kind} ${locator}`;
  }

  resolve(ref: AnyCredentialRef): Promise<Secret> {
    let kind: string;
    let locator: string;
    try {
      [kind, locator] = this.#split(ref);
    } catch (err) {
      return Promise.reject(err);
    }
    const provider = this.#providers.get(kind);
    if (!provider) {
      return Promise.reject(
        new TollgateError(
          Errors.CREDENTIAL_UNAVAILABLE,
          `no credential provider for '${kind}' references (registered: ${this.kinds().join(', ')})`,
        ),
      );
    }
    return provider.resolve(locator);
  }

  #split(ref: AnyCredentialRef): [string, string] {
    const entries = Object.entries(ref as Record<string, unknown>);
    const first = entries[0];
    if (entries.length !== 1 || !first || typeof first[1] !== 'string') {
      throw new TollgateError(
        Errors.CREDENTIAL_UNAVAILABLE,
        `a credential reference needs exactly one of ${this.kinds().join(', ')}, naming a string`,
      );
    }
    return [first[0], first[1]];
  }
}
