import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { Errors, Secret, TollgateError } from '@tollgate/core';
import { type CredentialProvider, EnvFileVault } from './vault';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tollgate-vault-'));
  dirs.push(d);
  return d;
}
function secretFile(content: string | Buffer, mode = 0o600): string {
  const f = join(tempDir(), 'secret');
  writeFileSync(f, content);
  chmodSync(f, mode);
  return f;
}

const VALUE = 'hunter2-S3cr3t-Value';

/** Every way a value could leak from an error. */
function errorText(err: unknown): string {
  const e = err as TollgateError;
  return [e.message, e.stack, e.hint, inspect(e, { depth: 5 }), JSON.stringify(e), String(e)].join('\n');
}

async function refusal(vault: EnvFileVault, ref: Record<string, string>): Promise<TollgateError> {
  try {
    await vault.resolve(ref);
  } catch (err) {
    assert.ok(err instanceof TollgateError, String(err));
    assert.equal(err.code, 'TG_CREDENTIAL_UNAVAILABLE');
    assert.ok(!errorText(err).includes(VALUE), 'the error shows the secret value');
    return err;
  }
  assert.fail(`expected ${JSON.stringify(ref)} to be refused`);
}

describe('EnvFileVault: environment variables', () => {
  it('resolves { env } to a Secret', async () => {
    const vault = new EnvFileVault({ env: { DB_PASSWORD: VALUE } });
    const s = await vault.resolve({ env: 'DB_PASSWORD' });
    assert.ok(s instanceof Secret);
    assert.equal(s.reveal(), VALUE);
  });

  it('names the variable when it is not set or empty', async () => {
    const vault = new EnvFileVault({ env: { EMPTY: '' } });
    assert.equal(
      (await refusal(vault, { env: 'MISSING' })).message,
      'credential from environment variable MISSING: not set',
    );
    assert.equal(
      (await refusal(vault, { env: 'EMPTY' })).message,
      'credential from environment variable EMPTY: set but empty',
    );
  });
});

describe('EnvFileVault: files', () => {
  it('resolves { file }, removing one trailing newline only', async () => {
    const vault = new EnvFileVault();
    assert.equal((await vault.resolve({ file: secretFile(`${VALUE}\n`) })).reveal(), VALUE);
    assert.equal((await vault.resolve({ file: secretFile(`${VALUE}\r\n`) })).reveal(), VALUE);
    assert.equal((await vault.resolve({ file: secretFile(`${VALUE}\n\n`) })).reveal(), `${VALUE}\n`);
    assert.equal((await vault.resolve({ file: secretFile(` ${VALUE} `) })).reveal(), ` ${VALUE} `);
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
    assert.equal((await vault.resolve({ file: secretFile(key, 0o400) })).reveal(), key.slice(0, -1));
  });

  it('reads the file again on every resolve (rotation needs no restart)', async () => {
    const vault = new EnvFileVault();
    const f = secretFile('one\n');
    assert.equal((await vault.resolve({ file: f })).reveal(), 'one');
    writeFileSync(f, 'two\n');
    assert.equal((await vault.resolve({ file: f })).reveal(), 'two');
  });

  it('follows symbolic links (Kubernetes secret volumes)', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, '..data'));
    writeFileSync(join(dir, '..data', 'password'), VALUE, { mode: 0o440 });
    symlinkSync(join('..data', 'password'), join(dir, 'password'));
    assert.equal((await new EnvFileVault().resolve({ file: join(dir, 'password') })).reveal(), VALUE);
  });

  it('refuses missing, relative, directory, empty and oversized files, naming the file', async () => {
    const vault = new EnvFileVault({ maxBytes: 64 });
    const dir = tempDir();
    const missing = join(dir, 'nope');
    assert.equal(
      (await refusal(vault, { file: missing })).message,
      `credential from file ${missing}: does not exist (ENOENT)`,
    );
    assert.equal(
      (await refusal(vault, { file: 'secret.txt' })).message,
      'credential from file secret.txt: the path must be absolute',
    );
    assert.equal(
      (await refusal(vault, { file: dir })).message,
      `credential from file ${dir}: is not a regular file`,
    );
    const empty = secretFile('\n');
    assert.equal((await refusal(vault, { file: empty })).message, `credential from file ${empty}: is empty`);
    const big = secretFile(`${VALUE}${'x'.repeat(100)}`);
    assert.equal(
      (await refusal(vault, { file: big })).message,
      `credential from file ${big}: is larger than 64 bytes`,
    );
  });

  it('refuses files every user can read, unless allowed', async () => {
    const f = secretFile(VALUE, 0o644);
    const err = await refusal(new EnvFileVault(), { file: f });
    assert.equal(err.message, `credential from file ${f}: is readable by every user (mode 0644)`);
    assert.match(err.hint ?? '', /chmod o-r/);
    assert.equal((await new EnvFileVault({ allowWorldReadable: true }).resolve({ file: f })).reveal(), VALUE);
  });

  it('refuses files the gateway user cannot read', {
    skip: process.getuid?.() === 0 && 'root reads any file',
  }, async () => {
    const f = secretFile(VALUE, 0o000);
    assert.equal(
      (await refusal(new EnvFileVault(), { file: f })).message,
      `credential from file ${f}: permission denied for the gateway user (EACCES)`,
    );
  });
});

describe('EnvFileVault: the value never leaks', () => {
  it('not through JSON, inspect, String, template strings or console-style formatting', async () => {
    const vault = new EnvFileVault({ env: { PW: VALUE } });
    for (const s of [await vault.resolve({ env: 'PW' }), await vault.resolve({ file: secretFile(VALUE) })]) {
      const shown = [
        JSON.stringify(s),
        JSON.stringify({ credential: s }),
        inspect(s),
        inspect({ nested: { s } }, { depth: 10, showHidden: true }),
        String(s),
        `${s}`,
        `password=${s}`,
        s.toString(),
      ];
      for (const text of shown) assert.ok(!text.includes(VALUE), `leaked in: ${text}`);
      assert.equal(`${s}`, '[secret]');
      assert.equal(JSON.stringify({ s }), '{"s":"[secret]"}');
      assert.equal(Object.keys(s).length, 0);
    }
  });

  it('not in errors, even when the refused file holds the value', async () => {
    await refusal(new EnvFileVault(), { file: secretFile(VALUE, 0o644) });
    await refusal(new EnvFileVault({ maxBytes: 8 }), { file: secretFile(VALUE) });
  });
});

describe('EnvFileVault: providers', () => {
  it('an external provider resolves its own reference kind', async () => {
    const calls: string[] = [];
    const external: CredentialProvider = {
      kind: 'vault',
      describe: (locator) => `vault secret ${locator}`,
      async resolve(locator) {
        calls.push(locator);
        // a provider reports the locator, never a value
        if (locator !== 'kv/db#password') {
          throw new TollgateError(
            Errors.CREDENTIAL_UNAVAILABLE,
            `credential from ${this.describe(locator)}: not found`,
          );
        }
        return new Secret(VALUE);
      },
    };
    const vault = new EnvFileVault({ providers: [external] });
    assert.deepEqual(vault.kinds(), ['env', 'file', 'vault']);
    assert.equal((await vault.resolve({ vault: 'kv/db#password' })).reveal(), VALUE);
    assert.equal(
      (await refusal(vault, { vault: 'kv/other' })).message,
      'credential from vault secret kv/other: not found',
    );
    assert.deepEqual(calls, ['kv/db#password', 'kv/other']);
    assert.equal(vault.describe({ env: 'PW' }), 'environment variable PW');
    assert.equal(vault.describe({ vault: 'kv/x' }), 'vault secret kv/x');
  });

  it('refuses unknown kinds, malformed references and a second provider for a kind', async () => {
    const vault = new EnvFileVault();
    assert.equal(
      (await refusal(vault, { aws: 'x' })).message,
      "no credential provider for 'aws' references (registered: env, file)",
    );
    assert.equal(
      (await refusal(vault, { env: 'A', file: '/b' })).message,
      'a credential reference needs exactly one of env, file, naming a string',
    );
    assert.equal(
      (await refusal(vault, {})).message,
      'a credential reference needs exactly one of env, file, naming a string',
    );
    assert.throws(
      () => vault.register({ kind: 'env', describe: (l) => l, resolve: async () => new Secret('x') }),
      /a credential provider for 'env' is already registered/,
    );
  });
});
