import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Errors, TollgateError, YamlSource } from '@tollgate/core';
import type { Node } from 'yaml';
import {
  auditStoreOptions,
  loadAuditPublicKey,
  loadAuditSigningKey,
  readAuditConfig,
  retentionCutoff,
} from './config';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-audit-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function read(yaml: string) {
  const src = new YamlSource(join(dir, 'tollgate.yaml'), yaml);
  const root = src.map(src.root, '', ['audit']);
  return readAuditConfig(src, root.get('audit') as Node);
}

function configError(yaml: string, message: RegExp): void {
  assert.throws(
    () => read(yaml),
    (e: unknown) => {
      assert.ok(e instanceof TollgateError);
      assert.equal(e.kind, Errors.CONFIG_INVALID);
      assert.match(e.message, message);
      return true;
    },
  );
}

describe('audit config', () => {
  it('reads the audit section, resolving the key file next to the config', () => {
    const cfg = read(
      'audit:\n  signingKey: { file: keys/audit.pem }\n  checkpointEvery: 500\n  checkpointIntervalSeconds: 30\n  retentionDays: 400\n',
    );
    assert.deepEqual(cfg, {
      signingKey: { file: join(dir, 'keys', 'audit.pem') },
      checkpointEvery: 500,
      checkpointIntervalSeconds: 30,
      retentionDays: 400,
    });
    assert.equal(retentionCutoff(cfg, 1000 * 86_400_000), 600 * 86_400_000);
    assert.equal(retentionCutoff({}), undefined);
    assert.deepEqual(read('audit:\n  signingKey: { env: TG_AUDIT_KEY }\n'), {
      signingKey: { env: 'TG_AUDIT_KEY' },
    });
  });

  it('names the file, line and field of a mistake', () => {
    configError('audit:\n  checkpointEvry: 5\n', /tollgate\.yaml:2:3: audit\.checkpointEvry: unknown field/);
    configError(
      'audit:\n  checkpointEvery: 0\n',
      /tollgate\.yaml:2:20: audit\.checkpointEvery: expected a positive whole number/,
    );
    configError(
      'audit:\n  checkpointEvery: 2.5\n',
      /audit\.checkpointEvery: expected a positive whole number/,
    );
    configError(
      'audit:\n  retentionDays: forever\n',
      /tollgate\.yaml:2:18: audit\.retentionDays: expected a positive number/,
    );
    configError(
      'audit:\n  signingKey: { file: a.pem, env: K }\n',
      /audit\.signingKey: give exactly one of file/,
    );
    configError('audit:\n  signingKey: { path: a.pem }\n', /audit\.signingKey\.path: unknown field/);
  });

  it('loads an Ed25519 key from a file or the environment, never echoing it', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const file = join(dir, 'audit.pem');
    writeFileSync(file, pem);
    assert.equal(loadAuditSigningKey({ file }).asymmetricKeyType, 'ed25519');
    const opts = auditStoreOptions({ signingKey: { env: 'K' }, checkpointIntervalSeconds: 2 }, { K: pem });
    assert.equal(opts.checkpointIntervalMs, 2000);
    assert.ok(opts.signingKey);
    const pubFile = join(dir, 'audit.pub.pem');
    writeFileSync(pubFile, publicKey.export({ type: 'spki', format: 'pem' }));
    assert.equal(loadAuditPublicKey(pubFile).type, 'public');
    assert.equal(loadAuditPublicKey(file).type, 'public', 'a private key file gives its public half');

    const garbled = 'hunter2-not-a-pem-s3cr3t';
    for (const [ref, env, msg] of [
      [{ env: 'K' }, {}, /environment variable K is not set or empty/],
      [{ env: 'K' }, { K: garbled }, /environment variable K does not hold a PEM private key/],
      [{ file: join(dir, 'missing.pem') }, {}, /cannot read file .*missing\.pem: ENOENT/],
    ] as const) {
      assert.throws(
        () => loadAuditSigningKey(ref, env),
        (e: unknown) => {
          assert.ok(e instanceof TollgateError);
          assert.match(e.message, msg);
          assert.ok(!e.message.includes('s3cr3t') && !e.message.includes(pem.slice(40, 70)));
          return true;
        },
      );
    }
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    assert.throws(
      () => loadAuditSigningKey({ env: 'K' }, { K: ec.toString() }),
      /holds a ec key; checkpoints are signed with Ed25519/,
    );
  });
});
