import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { TollgateError } from '@tollgate/core';
import { loadPolicyFile, PolicyInvalidError, parsePolicy } from './load';

const EXAMPLE = join(__dirname, '..', '..', '..', '..', 'deploy', 'examples', 'policy.yaml');

/** The problems `text` produces, as printed. */
function problems(text: string, opts?: { entities?: string[] }): string[] {
  try {
    parsePolicy(text, 'policy.yaml', opts);
  } catch (err) {
    assert.ok(err instanceof PolicyInvalidError, String(err));
    assert.equal(err.code, 'TG_CONFIG_INVALID');
    return [...err.problems];
  }
  assert.fail('expected the policy to be refused');
}

const RESOURCES = `version: 1
resources:
  db:
    protocol: postgres
    address: 127.0.0.1:5432
  box:
    protocol: ssh
    address: box.internal:22
    hostKey: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8
maskingProfiles:
  pii: { entities: [card, email] }
`;

describe('policy file: valid files', () => {
  it('loads the example policy in deploy/examples', () => {
    const p = loadPolicyFile(EXAMPLE);
    assert.ok(p.ruleNames().length >= 5);
    assert.match(p.hash, /^[0-9a-f]{64}$/);
    assert.equal(p.resource('payments-db')?.protocol, 'postgres');
  });

  it('accepts a file with only a version (it denies everything)', () => {
    const p = parsePolicy('version: 1\n', 'policy.yaml');
    assert.deepEqual(p.ruleNames(), []);
  });

  it('accepts custom masking entities the gateway config declares', () => {
    const text = 'version: 1\nmaskingProfiles:\n  p: { entities: [card, employee_id] }\n';
    assert.match(problems(text)[0] ?? '', /unknown entity 'employee_id'/);
    const p = parsePolicy(text, 'policy.yaml', { entities: ['employee_id'] });
    assert.deepEqual(p.maskingProfile('p')?.entities, ['card', 'employee_id']);
  });
});

describe('policy file: schema errors name the file, line, column and field', () => {
  it('an effect outside the enum', () => {
    const text = `${RESOURCES}rules:
  - name: r1
    subjects: [{ group: agents }]
    resources: [db]
    actions: [read]
    effect: permit
`;
    assert.deepEqual(problems(text), [
      "policy.yaml:17:13: rules[0].effect: must be one of allow, deny, require-approval (got 'permit')",
    ]);
  });

  it('unknown fields, at the field name, everywhere', () => {
    const text = `version: 1
colour: blue
resources:
  db:
    protocol: postgres
    adress: 127.0.0.1:5432
rules:
  - name: r1
    subjects: [{ group: agents, team: x }]
    resources: [db]
    actions: [read]
    effect: allow
    masks: pii
`;
    assert.deepEqual(problems(text), [
      'policy.yaml:2:1: colour: unknown field (allowed here: version, roles, resources, maskingProfiles, rules)',
      'policy.yaml:4:3: resources.db.address: missing (required)',
      'policy.yaml:6:5: resources.db.adress: unknown field (allowed here: description, protocol, address, database, username, credential, tls, hostKey, knownHosts, env)',
      'policy.yaml:9:33: rules[0].subjects[0].team: unknown field (allowed here: group, issuer)',
      'policy.yaml:13:5: rules[0].masks: unknown field (allowed here: name, description, subjects, resources, actions, when, effect, masking, approval, reason)',
    ]);
  });

  it('missing required fields and wrong types', () => {
    const text = `version: 1
rules:
  - name: r1
    resources: db
    actions: []
    effect: allow
`;
    assert.deepEqual(problems(text), [
      'policy.yaml:3:5: rules[0].subjects: missing (required)',
      "policy.yaml:4:16: rules[0].resources: must be a list (got 'db')",
      'policy.yaml:5:14: rules[0].actions: must not be empty',
    ]);
  });

  it('subjects: exactly one of group, identity, serviceAccount', () => {
    const text = `version: 1
roles:
  admin:
    - { group: a, identity: b }
    - { team: x }
    - { serviceAccount: bot, issuer: https://idp }
`;
    assert.deepEqual(problems(text), [
      'policy.yaml:4:7: roles.admin[0]: give exactly one of group, identity',
      'policy.yaml:5:7: roles.admin[1]: must be a mapping with one of the fields group, identity, serviceAccount (got {"team":"x"})',
      'policy.yaml:6:30: roles.admin[2].issuer: unknown field (allowed here: serviceAccount)',
    ]);
  });

  it('approval: approvals at least 1, reviewers not empty, a duration', () => {
    const text = `${RESOURCES}rules:
  - name: r1
    subjects: [{ group: agents }]
    resources: [db]
    actions: [ddl]
    effect: require-approval
    approval:
      reviewers: []
      approvals: 0
      timeout: 15 minutes
`;
    assert.deepEqual(problems(text), [
      'policy.yaml:19:18: rules[0].approval.reviewers: must not be empty',
      'policy.yaml:20:18: rules[0].approval.approvals: must be at least 1 (got 0)',
      "policy.yaml:21:16: rules[0].approval.timeout: must be a duration such as 90s, 15m, 1h or 1h30m (got '15 minutes')",
    ]);
  });

  it('credential references, addresses, host keys and names', () => {
    const text = `version: 1
resources:
  db:
    protocol: postgres
    address: db.internal
    credential: { env: A, file: /b }
  bad name:
    protocol: ssh
    address: x:22
    hostKey: md5:aa
`;
    assert.deepEqual(problems(text), [
      "policy.yaml:5:14: resources.db.address: must be host:port of the target ([v6::addr]:port for IPv6) (got 'db.internal')",
      'policy.yaml:6:17: resources.db.credential: give exactly one of env, file',
      "policy.yaml:7:3: resources[\"bad name\"]: not a valid key here (targets by name: a name of letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit))",
    ]);
  });

  it('the version', () => {
    assert.deepEqual(problems('version: 2\n'), ['policy.yaml:1:10: version: must be 1 (got 2)']);
    assert.deepEqual(problems('rules: []\n'), ['policy.yaml:1:1: version: missing (required)']);
  });

  it('YAML syntax errors, duplicate keys and empty files', () => {
    assert.throws(
      () => parsePolicy('version: 1\nrules: [\n', 'policy.yaml'),
      (err: TollgateError) => /^policy\.yaml:3:1: not valid YAML: /.test(err.message),
    );
    assert.throws(
      () => parsePolicy('version: 1\nversion: 1\n', 'policy.yaml'),
      (err: TollgateError) => /^policy\.yaml:2:1: not valid YAML: Map keys must be unique/.test(err.message),
    );
    assert.deepEqual(problems('# nothing\n'), ['policy.yaml: the policy file is empty']);
  });

  it('an unreadable file names the file', () => {
    assert.throws(
      () => loadPolicyFile('/nonexistent/policy.yaml'),
      (err: TollgateError) =>
        err.code === 'TG_CONFIG_INVALID' &&
        err.message === '/nonexistent/policy.yaml: cannot read the policy file (ENOENT)',
    );
  });
});

describe('policy file: semantic errors', () => {
  const rule = (fields: string) => `${RESOURCES}rules:
  - { name: r1, subjects: [{ group: agents }], ${fields} }
`;

  it('a rule naming an unknown resource, or a pattern matching none', () => {
    assert.deepEqual(problems(rule("resources: [db, payments, 'pay*'], actions: [read], effect: allow")), [
      "policy.yaml:13:64: rules[0].resources[1]: unknown resource 'payments' (resources: db, box)",
      "policy.yaml:13:74: rules[0].resources[2]: pattern 'pay*' matches no resource (resources: db, box)",
    ]);
  });

  it('an unknown masking profile, and masking on a deny rule', () => {
    assert.deepEqual(problems(rule('resources: [db], actions: [read], effect: allow, masking: phi')), [
      "policy.yaml:13:106: rules[0].masking: unknown masking profile 'phi' (profiles: pii)",
    ]);
    assert.deepEqual(problems(rule('resources: [db], actions: [read], effect: deny, masking: pii')), [
      'policy.yaml:13:96: rules[0].masking: a deny rule has no results to mask',
    ]);
  });

  it("an action class the resource's protocol never emits", () => {
    assert.deepEqual(problems(rule('resources: [db], actions: [read, exec], effect: allow')), [
      "policy.yaml:13:81: rules[0].actions[1]: 'exec' is not an action class of the resources this rule names (postgres: read, write, ddl, dangerous, admin, transaction, utility, unknown)",
    ]);
    // across protocols an action needs to belong to one of them
    parsePolicy(rule("resources: ['*'], actions: [read, exec], effect: allow"), 'policy.yaml');
  });

  it('duplicate rule names', () => {
    const text = `${RESOURCES}rules:
  - { name: r1, subjects: [{ group: a }], resources: [db], actions: [read], effect: allow }
  - { name: r1, subjects: [{ group: b }], resources: [db], actions: [write], effect: allow }
`;
    assert.deepEqual(problems(text), [
      "policy.yaml:14:13: rules[1].name: another rule is already named 'r1' (rules[0])",
    ]);
  });

  it('effect-specific fields', () => {
    assert.deepEqual(problems(rule('resources: [db], actions: [ddl], effect: require-approval')), [
      'policy.yaml:13:89: rules[0].effect: require-approval needs an approval: { reviewers, approvals, timeout }',
    ]);
    assert.deepEqual(
      problems(
        rule(
          'resources: [db], actions: [ddl], effect: allow, reason: no, approval: { reviewers: [a], timeout: 1m }',
        ),
      ),
      [
        'policy.yaml:13:96: rules[0].reason: is used only with effect deny (effect is allow)',
        'policy.yaml:13:108: rules[0].approval: is used only with effect require-approval (effect is allow)',
      ],
    );
  });

  it('approval timeouts between 1s and 24h', () => {
    const approval = (t: string) =>
      rule(
        `resources: [db], actions: [ddl], effect: require-approval, approval: { reviewers: [dba], timeout: ${t} }`,
      );
    for (const t of ['90s', '15m', '1h', '1h30m', '24h']) parsePolicy(approval(t), 'policy.yaml');
    for (const t of ['0s', '25h']) {
      assert.deepEqual(problems(approval(t)), [
        `policy.yaml:13:146: rules[0].approval.timeout: must be between 1s and 24h`,
      ]);
    }
  });

  it('resource fields that do not fit the protocol', () => {
    const text = `version: 1
resources:
  db:
    protocol: postgres
    address: 127.0.0.1:70000
    hostKey: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8
    tls: { mode: require, caFile: /etc/ca.pem }
  box:
    protocol: ssh
    address: box:22
    database: x
`;
    assert.deepEqual(problems(text), [
      'policy.yaml:5:14: resources.db.address: port 70000 is outside 1-65535',
      'policy.yaml:6:5: resources.db.hostKey: applies to ssh resources only (this one is postgres)',
      'policy.yaml:7:27: resources.db.tls.caFile: is used only with mode verify-full (mode is require)',
      "policy.yaml:9:15: resources.box.protocol: ssh resources need hostKey (the target's host key fingerprint: ssh-keygen -lf <key>.pub) or knownHosts (an OpenSSH known_hosts file)",
      'policy.yaml:11:5: resources.box.database: applies to postgres resources only (this one is ssh)',
    ]);
  });

  it('knownHosts: for ssh resources, instead of or besides hostKey, relative to the policy file', () => {
    const p = parsePolicy(
      `version: 1
resources:
  a: { protocol: ssh, address: a:22, knownHosts: keys/known_hosts }
  b: { protocol: ssh, address: b:22, knownHosts: /etc/ssh/ssh_known_hosts, hostKey: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8 }
`,
      '/etc/tollgate/policy.yaml',
    );
    assert.equal(p.resource('a')?.knownHosts, '/etc/tollgate/keys/known_hosts');
    assert.equal(p.resource('a')?.hostKey, undefined);
    assert.equal(p.resource('b')?.knownHosts, '/etc/ssh/ssh_known_hosts');
    assert.deepEqual(
      problems(`version: 1
resources:
  db: { protocol: postgres, address: db:5432, knownHosts: known_hosts }
`),
      ['policy.yaml:3:47: resources.db.knownHosts: applies to ssh resources only (this one is postgres)'],
    );
  });

  it('env: names and prefixes an ssh resource passes to its target', () => {
    const p = parsePolicy(
      `version: 1
resources:
  a: { protocol: ssh, address: a:22, hostKey: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8, env: [LANG, LC_*] }
`,
      '/etc/tollgate/policy.yaml',
    );
    assert.deepEqual(p.resource('a')?.env, ['LANG', 'LC_*']);
    assert.deepEqual(
      problems(`version: 1
resources:
  db: { protocol: postgres, address: db:5432, env: [LANG] }
`),
      ['policy.yaml:3:47: resources.db.env: applies to ssh resources only (this one is postgres)'],
    );
    const bad = problems(`version: 1
resources:
  a: { protocol: ssh, address: a:22, hostKey: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8, env: ['L*C', '*'] }
`);
    assert.equal(bad.length, 2);
    assert.match(
      bad[0] as string,
      /resources\.a\.env\[0\]: must be a variable name, or a prefix ending in \*/,
    );
  });

  it('masking profiles: known entities, styles for scanned entities, column matchers', () => {
    const text = `version: 1
maskingProfiles:
  p:
    entities: [card, passport]
    styles: { ssn: last4 }
    columns:
      - { action: keep }
      - { column: notes, action: { redactAs: secret } }
`;
    assert.deepEqual(problems(text), [
      "policy.yaml:4:22: maskingProfiles.p.entities[1]: unknown entity 'passport' (known: card, ssn, iban, aba_routing, email, phone, ipv4, ipv6, aws_access_key, aws_secret_key, jwt, bearer_token, private_key)",
      "policy.yaml:5:15: maskingProfiles.p.styles.ssn: 'ssn' is not an entity this profile scans for (card, passport)",
      'policy.yaml:7:9: maskingProfiles.p.columns[0]: give at least one of column, table, type (otherwise covers every other column)',
      "policy.yaml:8:46: maskingProfiles.p.columns[1].action.redactAs: unknown entity 'secret' (known: card, ssn, iban, aba_routing, email, phone, ipv4, ipv6, aws_access_key, aws_secret_key, jwt, bearer_token, private_key)",
    ]);
  });

  it('masking profiles: result capture with its default byte bound, and its limits', () => {
    const ok = parsePolicy(
      'version: 1\nmaskingProfiles:\n  a: { capture: { rows: 5 } }\n  b: { capture: { rows: 2, maxBytes: 100 } }\n  c: {}\n',
      'policy.yaml',
    );
    assert.deepEqual(ok.maskingProfile('a')?.capture, { rows: 5, maxBytes: 4096 });
    assert.deepEqual(ok.maskingProfile('b')?.capture, { rows: 2, maxBytes: 100 });
    assert.equal(ok.maskingProfile('c')?.capture, undefined);
    assert.deepEqual(
      problems(`version: 1
maskingProfiles:
  p: { capture: { rows: 0, maxBytes: 1000000 } }
  q: { capture: { maxBytes: 10, all: true } }
`),
      [
        'policy.yaml:3:25: maskingProfiles.p.capture.rows: must be at least 1 (got 0)',
        'policy.yaml:3:38: maskingProfiles.p.capture.maxBytes: must be at most 65536 (got 1000000)',
        'policy.yaml:4:8: maskingProfiles.q.capture.rows: missing (required)',
        'policy.yaml:4:33: maskingProfiles.q.capture.all: unknown field (allowed here: rows, maxBytes)',
      ],
    );
  });

  it('conditions that can never apply to the resources named', () => {
    assert.deepEqual(
      problems(rule("resources: [box], actions: [exec], when: { tables: ['t'] }, effect: deny")),
      ['policy.yaml:13:91: rules[0].when.tables: applies to postgres resources, and this rule names none'],
    );
  });

  it('path conditions: absolute, normalised patterns on sftp rules of ssh resources', () => {
    const ok = parsePolicy(
      rule(
        "resources: [box], actions: [sftp-write], when: { paths: ['/srv/app/**', '/etc/*.conf', '/'] }, effect: allow",
      ),
      'policy.yaml',
    );
    assert.deepEqual(ok.document.rules?.[0]?.when?.paths, ['/srv/app/**', '/etc/*.conf', '/']);
    assert.match(
      problems(
        rule("resources: [box], actions: [sftp-write], when: { paths: ['srv/**'] }, effect: allow"),
      ).join('\n'),
      /rules\[0\]\.when\.paths\[0\]: must be an absolute path pattern: .* \(got 'srv\/\*\*'\)/,
    );
    assert.deepEqual(
      problems(
        rule(
          "resources: [box], actions: [sftp-write], when: { paths: ['/a//b', '/a/../b', '/a/'] }, effect: allow",
        ),
      ),
      [
        "policy.yaml:13:105: rules[0].when.paths[0]: must not contain '//'",
        "policy.yaml:13:114: rules[0].when.paths[1]: must not contain '.' or '..' segments",
        "policy.yaml:13:125: rules[0].when.paths[2]: must not end with '/'",
      ],
    );
    assert.deepEqual(
      problems(rule("resources: [box], actions: [exec], when: { paths: ['/srv/**'] }, effect: deny")),
      [
        'policy.yaml:13:91: rules[0].when.paths: applies to sftp-read and sftp-write, and this rule names neither',
      ],
    );
    assert.match(
      problems(rule("resources: [db], actions: ['*'], when: { paths: ['/srv/**'] }, effect: deny")).join(
        '\n',
      ),
      /rules\[0\]\.when\.paths: applies to ssh resources, and this rule names none/,
    );
  });

  it('lists every problem in file order in one error', () => {
    const text = `${RESOURCES}rules:
  - { name: r1, subjects: [{ group: a }], resources: [nope], actions: [read], effect: allow }
  - { name: r1, subjects: [{ group: a }], resources: [db], actions: [read], effect: allow, masking: x }
`;
    try {
      parsePolicy(text, '/etc/tollgate/policy.yaml');
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof PolicyInvalidError);
      assert.equal(err.problems.length, 3);
      assert.equal(err.message, err.problems.join('\n'));
      assert.match(
        err.problems[0] ?? '',
        /^\/etc\/tollgate\/policy\.yaml:13:55: rules\[0\]\.resources\[0\]: /,
      );
      assert.match(err.problems[1] ?? '', /^\/etc\/tollgate\/policy\.yaml:14:13: rules\[1\]\.name: /);
      assert.match(err.problems[2] ?? '', /^\/etc\/tollgate\/policy\.yaml:14:101: rules\[1\]\.masking: /);
    }
  });
});
