import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CredentialRef, Secret, YamlSource } from '@tollgate/core';
import { approvalsWebhook, readApprovalsConfig } from './config';

function read(text: string) {
  const src = new YamlSource('gateway.yaml', text);
  const root = src.map(src.root, '', ['approvals']);
  return readApprovalsConfig(src, root.get('approvals'));
}

function fails(text: string, message: RegExp): void {
  assert.throws(
    () => read(text),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TG_CONFIG_INVALID');
      assert.match(err.message, message);
      return true;
    },
  );
}

test('approvals config: webhook with env secret and timeout', () => {
  const cfg = read(
    [
      'approvals:',
      '  webhook:',
      '    url: https://chat.example.com/hooks/tollgate',
      '    secret: { env: TOLLGATE_WEBHOOK_SECRET }',
      '    timeoutSeconds: 2.5',
    ].join('\n'),
  );
  assert.deepEqual(cfg, {
    webhook: {
      url: 'https://chat.example.com/hooks/tollgate',
      secret: { env: 'TOLLGATE_WEBHOOK_SECRET' },
      timeoutMs: 2500,
    },
  });
  assert.deepEqual(read('approvals: {}'), {});
  const fromFile = read(
    'approvals:\n  webhook:\n    url: http://127.0.0.1:9000/x\n    secret: { file: /run/secrets/hook }\n',
  );
  assert.deepEqual(fromFile.webhook?.secret, { file: '/run/secrets/hook' });
  assert.equal(fromFile.webhook?.timeoutMs, 5000);
});

test('approvals config: errors name the file, line, column and field', () => {
  fails(
    'approvals:\n  webhook:\n    url: https://x\n    secret: { env: S }\n    retries: 3\n',
    /^gateway\.yaml:5:5: approvals\.webhook\.retries: unknown field/,
  );
  fails(
    'approvals:\n  webhook:\n    url: ftp://x\n    secret: { env: S }\n',
    /^gateway\.yaml:3:10: approvals\.webhook\.url: expected an http/,
  );
  fails('approvals:\n  webhook:\n    url: https://x\n', /approvals\.webhook\.secret: required/);
  fails('approvals:\n  webhook:\n    secret: { env: S }\n', /approvals\.webhook\.url: required/);
  fails(
    'approvals:\n  webhook:\n    url: https://x\n    secret: hunter2\n',
    /:4:13: approvals\.webhook\.secret: expected a mapping/,
  );
  fails(
    'approvals:\n  webhook:\n    url: https://x\n    secret: { env: S, file: /f }\n',
    /approvals\.webhook\.secret: expected exactly one of env or file/,
  );
  fails(
    'approvals:\n  webhook:\n    url: https://x\n    secret: { env: "1 BAD" }\n',
    /secret\.env: not an environment variable name/,
  );
  fails(
    'approvals:\n  webhook:\n    url: https://x\n    secret: { env: S }\n    timeoutSeconds: 0\n',
    /timeoutSeconds: expected a number/,
  );
  fails(
    'approvals:\n  webhook:\n    url: https://x\n    secret: { env: S }\n    timeoutSeconds: fast\n',
    /timeoutSeconds/,
  );
  fails('approvals: [1]\n', /^gateway\.yaml:1:12: approvals: expected a mapping/);
});

test('approvalsWebhook resolves the secret through the vault', async () => {
  const asked: CredentialRef[] = [];
  const vault = {
    async resolve(ref: CredentialRef) {
      asked.push(ref);
      return new Secret('s3cret');
    },
  };
  assert.equal(await approvalsWebhook({}, vault), undefined);
  const hook = await approvalsWebhook(
    { webhook: { url: 'https://x', secret: { env: 'HOOK' }, timeoutMs: 1000 } },
    vault,
  );
  assert.deepEqual(asked, [{ env: 'HOOK' }]);
  assert.equal(hook?.secret.reveal(), 's3cret');
  assert.equal(hook?.timeoutMs, 1000);
});
