import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type CliRun, runCli } from '../testing/run-cli';

const ROOT = join(__dirname, '..', '..', '..', '..');
const _BIN = join(ROOT, 'packages', 'gateway', 'bin', 'tollgate.js');
const EXAMPLE = join(ROOT, 'deploy', 'examples', 'policy.yaml');

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function writeTemp(name: string, text: string): string {
  const d = mkdtempSync(join(tmpdir(), 'tollgate-policy-cli-'));
  dirs.push(d);
  const f = join(d, name);
  writeFileSync(f, text);
  return f;
}

/** Runs the real `tollgate` CLI in a child process (bounded by a timeout). */
function tollgate(args: string[]): Promise<CliRun> {
  return runCli(args);
}

const testArgs = (...more: string[]) => ['policy', 'test', '--policy', EXAMPLE, ...more];
/** `policy test` for alice of sre-agents on the example's bastion. */
const bastionArgs = (action: string, ...more: string[]) =>
  testArgs(
    '--identity',
    'alice',
    '--groups',
    'sre-agents',
    '--resource',
    'bastion',
    '--action',
    action,
    ...more,
  );

describe('tollgate policy check', () => {
  it('accepts the example policy in deploy/examples', async () => {
    const r = await tollgate(['policy', 'check', EXAMPLE]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /policy\.yaml: valid \(4 resources, 2 masking profiles, \d+ rules; sha256 [0-9a-f]{16}\)\n$/,
    );
  });

  it('exits 2 with every positioned problem', async () => {
    const f = writeTemp(
      'policy.yaml',
      `version: 1
resources:
  db: { protocol: postgres, address: 127.0.0.1:5432 }
rules:
  - name: r1
    subjects: [{ group: agents }]
    resources: [db]
    actions: [read]
    effect: permit
  - { name: r2, subjects: [{ group: agents }], resources: [db], actions: [read], effect: allow, colour: red }
`,
    );
    const r = await tollgate(['policy', 'check', f]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.ok(
      r.stderr.startsWith(
        `tollgate: ${f}:9:13: rules[0].effect: must be one of allow, deny, require-approval (got 'permit')\n` +
          `${f}:10:97: rules[1].colour: unknown field (allowed here: name, description, subjects, resources, actions, when, effect, masking, approval, reason)\n`,
      ),
      r.stderr,
    );
    assert.match(r.stderr, /hint: the policy reference is docs\/policy\.md/);
  });

  it('--json reports problems as data', async () => {
    const f = writeTemp('policy.yaml', 'version: 1\nrules:\n  - { name: r }\n');
    const r = await tollgate(['policy', 'check', '--json', f]);
    assert.equal(r.code, 2);
    const out = JSON.parse(r.stdout) as { ok: boolean; problems: string[] };
    assert.equal(out.ok, false);
    assert.deepEqual(out.problems, [
      `${f}:3:5: rules[0].subjects: missing (required)`,
      `${f}:3:5: rules[0].resources: missing (required)`,
      `${f}:3:5: rules[0].actions: missing (required)`,
      `${f}:3:5: rules[0].effect: missing (required)`,
    ]);
    const ok = await tollgate(['policy', 'check', '--json', EXAMPLE]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { ok: boolean }).ok, true);
  });

  it('a missing file exits 2 naming it', async () => {
    const r = await tollgate(['policy', 'check', '/nonexistent/policy.yaml']);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^tollgate: \/nonexistent\/policy\.yaml: cannot read the policy file \(ENOENT\)\n/,
    );
  });

  it('custom masking entities come from the gateway config given with --config', async () => {
    const policy = writeTemp(
      'policy.yaml',
      'version: 1\nmaskingProfiles:\n  p: { entities: [card, employee_id] }\n',
    );
    const config = writeTemp(
      'tollgate.yaml',
      "masking:\n  custom:\n    - { name: employee_id, pattern: '\\bEMP-\\d{6}\\b' }\n",
    );
    assert.equal((await tollgate(['policy', 'check', policy])).code, 2);
    const r = await tollgate(['policy', 'check', '--config', config, policy]);
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('tollgate policy test', () => {
  it('prints the decision, the approval requirement, the masking profile and every rule', async () => {
    const r = await tollgate(
      testArgs('--identity', 'bot-7', '--groups', 'agents', '--resource', 'payments-db', '--action', 'ddl'),
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 4), [
      "request:  oidc 'bot-7' (groups: agents) runs 'ddl' on 'payments-db'",
      'decision: require-approval (rule risky-needs-two)',
      'approval: 2 approvals from [dba-reviewers] within 15m',
      'masking:  strict',
    ]);
    assert.ok(
      lines.some((l) => /^=> risky-needs-two +require-approval +decides: require-approval$/.test(l)),
      r.stdout,
    );
    assert.ok(
      lines.some((l) =>
        /^ - agents-read +allow +no match: action 'ddl' is not in \[read, transaction, utility\]$/.test(l),
      ),
    );
  });

  it('a service account, a default denial, and --expect', async () => {
    const args = testArgs(
      '--identity',
      'etl-bot',
      '--kind',
      'service-account',
      '--resource',
      'payments-db',
      '--action',
      'write',
      '--tables',
      'staging.orders,public.accounts',
    );
    const denied = await tollgate([...args, '--expect', 'deny']);
    assert.equal(denied.code, 0, denied.stderr);
    assert.match(denied.stdout, /^decision: deny \(default: no rule matched\)$/m);
    assert.match(
      denied.stdout,
      /etl-writes-staging .* when does not hold: tables \[staging\.orders, public\.accounts\] vs \[staging\.\*\] \(every one must match\)/,
    );
    const wrong = await tollgate([...args, '--expect', 'allow']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /expected allow, the policy decides deny/);
    const staging = await tollgate([
      ...testArgs('--identity', 'etl-bot', '--kind', 'service-account', '--resource', 'payments-db'),
      '--action',
      'write',
      '--tables',
      'staging.orders',
      '--expect',
      'allow',
    ]);
    assert.equal(staging.code, 0, staging.stderr + staging.stdout);
    assert.match(staging.stdout, /^masking: {2}pii$/m);
  });

  it('--json gives the decision and the explanation as data', async () => {
    const r = await tollgate(bastionArgs('exec', '--program', 'df', '--json'));
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      request: { identity: { subject: string; groups: string[] } };
      decision: { effect: string; rule: string };
      rules: Array<{ rule: string; matched: boolean; decisive: boolean; outcome: string }>;
      evaluation: string;
    };
    assert.deepEqual(out.decision, { effect: 'allow', rule: 'bastion-diagnostics' });
    assert.deepEqual(out.request.identity.groups, ['sre-agents']);
    assert.equal(
      out.rules
        .filter((x) => x.decisive)
        .map((x) => x.rule)
        .join(),
      'bastion-diagnostics',
    );
    assert.match(out.evaluation, /deny rule wins/);
  });

  it('--path decides sftp rules with path conditions on the normalised path', async () => {
    const decision = async (path: string) => {
      const r = await tollgate(bastionArgs('sftp-write', '--path', path, '--json'));
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { decision: { effect: string; rule: string | null } }).decision;
    };
    assert.deepEqual(await decision('/srv/app/releases/v2/app.tar.gz'), {
      effect: 'allow',
      rule: 'bastion-deploy-uploads',
    });
    const outside = await decision('/srv/app/releases/../../../root/.ssh/authorized_keys');
    assert.equal(outside.effect, 'deny');
    assert.equal(outside.rule, 'bastion-no-ssh-config');
    // relative: the gateway could not resolve it; only restricting rules match
    assert.equal((await decision('releases/app.tar.gz')).effect, 'deny');
  });

  it('usage errors exit 2', async () => {
    const r = await tollgate(['policy', 'test', '--policy', EXAMPLE, '--identity', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /test needs --resource/);
    const k = await tollgate(
      testArgs('--identity', 'x', '--kind', 'robot', '--resource', 'bastion', '--action', 'exec'),
    );
    assert.equal(k.code, 2);
    assert.match(k.stderr, /--kind must be one of oidc, saml, service-account/);
    assert.equal((await tollgate(['policy', 'frobnicate'])).code, 2);
  });
});

describe('tollgate policy schema', () => {
  it('prints the committed JSON schema', async () => {
    const r = await tollgate(['policy', 'schema']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      readFileSync(join(ROOT, 'packages', 'control-plane', 'policy.schema.json'), 'utf8'),
    );
    assert.equal((JSON.parse(r.stdout) as { title: string }).title, 'Tollgate policy');
  });

  it('is listed in tollgate --help', async () => {
    const r = await tollgate(['--help']);
    assert.match(r.stdout, /^ {2}policy +check a policy file/m);
  });
});
