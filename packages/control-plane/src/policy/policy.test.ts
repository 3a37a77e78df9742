import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ActionRequest, Decision, Identity } from '@tollgate/core';
import { parsePolicy } from './load';

function oidc(subject: string, groups: string[] = [], issuer = 'https://idp.example'): Identity {
  return { subject, kind: 'oidc', issuer, groups };
}
function sa(name: string, groups: string[] = []): Identity {
  return { subject: name, kind: 'service-account', issuer: 'tollgate', groups };
}
function req(
  identity: Identity,
  resource: string,
  action: string,
  detail?: ActionRequest['detail'],
): ActionRequest {
  return detail ? { identity, resource, action, detail } : { identity, resource, action };
}

const BASE = `version: 1
resources:
  payments-db: { protocol: postgres, address: 10.0.0.1:5432, username: svc, credential: { env: PW } }
  reports-db: { protocol: postgres, address: 10.0.0.2:5432, database: reporting }
  box: { protocol: ssh, address: box:22, hostKey: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8 }
maskingProfiles:
  pii:
    entities: [card, email]
    styles: { card: last4 }
    columns: [{ column: email, action: { redactAs: email } }, { table: audit_log, action: keep }]
  strict: {}
`;

function policy(rules: string, roles = '') {
  return parsePolicy(`${BASE}${roles}rules:\n${rules}`, 'policy.yaml');
}

describe('Policy.decide', () => {
  it('denies by default, with no rule and a reason naming the request', () => {
    const p = policy(
      `  - { name: r, subjects: [{ group: agents }], resources: [payments-db], actions: [read], effect: allow }\n`,
    );
    assert.deepEqual(p.decide(req(oidc('bob'), 'payments-db', 'read')), {
      effect: 'deny',
      rule: null,
      reason:
        "no policy rule allows action 'read' on resource 'payments-db' for identity 'bob' (denied by default)",
    });
    assert.deepEqual(p.decide(req(oidc('bob', ['agents']), 'payments-db', 'write')).rule, null);
  });

  it('denies resources the policy does not define, whatever the rules say', () => {
    const p = policy(
      `  - { name: r, subjects: [{ group: agents }], resources: ['*'], actions: ['*'], effect: allow }\n`,
    );
    assert.deepEqual(p.decide(req(oidc('a', ['agents']), 'other-db', 'read')), {
      effect: 'deny',
      rule: null,
      reason: "resource 'other-db' is not defined in the policy",
    });
  });

  it('a matching deny wins over allow and require-approval, wherever it is in the file', () => {
    const p =
      policy(`  - { name: allow-all, subjects: [{ group: agents }], resources: ['*'], actions: ['*'], effect: allow }
  - name: hold
    subjects: [{ group: agents }]
    resources: ['*']
    actions: [ddl]
    effect: require-approval
    approval: { reviewers: [dba], timeout: 5m }
  - { name: no-ddl-reports, subjects: [{ identity: '*' }], resources: [reports-db], actions: [ddl], effect: deny, reason: reports are read-only }
`);
    assert.deepEqual(p.decide(req(oidc('a', ['agents']), 'reports-db', 'ddl')), {
      effect: 'deny',
      rule: 'no-ddl-reports',
      reason: 'reports are read-only',
    });
    assert.deepEqual(p.decide(req(oidc('a', ['agents']), 'payments-db', 'ddl')), {
      effect: 'require-approval',
      rule: 'hold',
      approval: { reviewers: ['dba'], approvals: 1, timeoutMs: 300_000 },
      masking: undefined,
    });
    assert.deepEqual(p.decide(req(oidc('a', ['agents']), 'payments-db', 'read')), {
      effect: 'allow',
      rule: 'allow-all',
      masking: undefined,
    });
  });

  it('a deny rule without a reason names itself', () => {
    const p = policy(
      `  - { name: no-admin, subjects: [{ group: '*' }], resources: ['*'], actions: [admin], effect: deny }\n`,
    );
    assert.deepEqual(p.decide(req(oidc('a', ['x']), 'payments-db', 'admin')), {
      effect: 'deny',
      rule: 'no-admin',
      reason: "denied by policy rule 'no-admin'",
    });
  });

  it('among matching rules of one effect, the first in the file decides (and its masking applies)', () => {
    const p =
      policy(`  - { name: first, subjects: [{ group: agents }], resources: [payments-db], actions: [read], effect: allow, masking: pii }
  - { name: second, subjects: [{ group: agents }], resources: ['*'], actions: [read], effect: allow, masking: strict }
  - name: two-of-dba
    subjects: [{ group: agents }]
    resources: ['*']
    actions: [write]
    effect: require-approval
    approval: { reviewers: [dba, sre], approvals: 2, timeout: 1h30m }
    masking: pii
  - name: one-of-sre
    subjects: [{ group: agents }]
    resources: ['*']
    actions: [write]
    effect: require-approval
    approval: { reviewers: [sre], timeout: 1m }
`);
    const a = oidc('a', ['agents']);
    assert.deepEqual(p.decide(req(a, 'payments-db', 'read')), {
      effect: 'allow',
      rule: 'first',
      masking: 'pii',
    });
    assert.deepEqual(p.decide(req(a, 'reports-db', 'read')), {
      effect: 'allow',
      rule: 'second',
      masking: 'strict',
    });
    assert.deepEqual(p.decide(req(a, 'reports-db', 'write')), {
      effect: 'require-approval',
      rule: 'two-of-dba',
      approval: { reviewers: ['dba', 'sre'], approvals: 2, timeoutMs: 5_400_000 },
      masking: 'pii',
    });
  });

  it('subjects: groups, identities (not service accounts), service accounts (only), issuers, patterns', () => {
    const p =
      policy(`  - { name: by-group, subjects: [{ group: 'dba-*' }], resources: [payments-db], actions: [read], effect: allow }
  - { name: by-identity, subjects: [{ identity: etl-bot }], resources: [payments-db], actions: [write], effect: allow }
  - { name: by-sa, subjects: [{ serviceAccount: etl-bot }], resources: [payments-db], actions: [ddl], effect: allow }
  - { name: by-issuer, subjects: [{ identity: alice, issuer: https://login.bank.example }], resources: [reports-db], actions: [read], effect: allow }
  - { name: any-human, subjects: [{ identity: '*' }], resources: [reports-db], actions: [utility], effect: allow }
`);
    const decided = (id: Identity, resource: string, action: string) =>
      p.decide(req(id, resource, action)).rule;
    assert.equal(decided(oidc('x', ['dba-eu']), 'payments-db', 'read'), 'by-group');
    assert.equal(decided(sa('bot', ['dba-eu']), 'payments-db', 'read'), 'by-group');
    assert.equal(decided(oidc('x', ['dba']), 'payments-db', 'read'), null);
    // `identity` is an OIDC or SAML subject: a service account of the same name is not it
    assert.equal(decided(oidc('etl-bot'), 'payments-db', 'write'), 'by-identity');
    assert.equal(decided(sa('etl-bot'), 'payments-db', 'write'), null);
    assert.equal(decided(sa('etl-bot'), 'payments-db', 'ddl'), 'by-sa');
    assert.equal(decided(oidc('etl-bot'), 'payments-db', 'ddl'), null);
    assert.equal(decided({ ...oidc('etl-bot'), kind: 'saml' }, 'payments-db', 'ddl'), null);
    assert.equal(decided(oidc('alice', [], 'https://login.bank.example'), 'reports-db', 'read'), 'by-issuer');
    assert.equal(decided(oidc('alice', [], 'https://evil.example'), 'reports-db', 'read'), null);
    assert.equal(decided({ ...oidc('carol'), kind: 'saml' }, 'reports-db', 'utility'), 'any-human');
    assert.equal(decided(sa('bot'), 'reports-db', 'utility'), null);
  });

  it("group '*' needs at least one group; patterns match the whole name", () => {
    const p = policy(
      `  - { name: grouped, subjects: [{ group: '*' }], resources: ['pay*'], actions: [read], effect: allow }\n`,
    );
    assert.equal(p.decide(req(oidc('x', ['any']), 'payments-db', 'read')).effect, 'allow');
    assert.equal(p.decide(req(oidc('x', []), 'payments-db', 'read')).effect, 'deny');
    assert.equal(p.decide(req(oidc('x', ['any']), 'reports-db', 'read')).effect, 'deny');
  });

  it('when.tables: granting rules need every table to match, deny rules any; no detail never matches', () => {
    const p =
      policy(`  - { name: no-audit, subjects: [{ group: '*' }], resources: [payments-db], actions: [write], when: { tables: ['audit_*'] }, effect: deny }
  - { name: staging, subjects: [{ group: etl }], resources: [payments-db], actions: [write], when: { tables: ['staging.*'] }, effect: allow }
`);
    const etl = oidc('e', ['etl']);
    const rule = (tables?: string[]) =>
      p.decide(req(etl, 'payments-db', 'write', tables ? { tables } : undefined)).rule;
    assert.equal(rule(['staging.a', 'staging.b']), 'staging');
    assert.equal(rule(['staging.a', 'public.accounts']), null);
    assert.equal(rule(['staging.a', 'audit_log']), 'no-audit');
    assert.equal(rule([]), null);
    assert.equal(rule(undefined), null);
  });

  it('when.programs and when.destinations match SSH detail', () => {
    const p =
      policy(`  - { name: diag, subjects: [{ group: sre }], resources: [box], actions: [exec], when: { programs: [uptime, 'journal*'] }, effect: allow }
  - { name: fwd, subjects: [{ group: sre }], resources: [box], actions: [port-forward], when: { destinations: ['db.internal:5432'] }, effect: allow }
`);
    const sre = oidc('s', ['sre']);
    assert.equal(p.decide(req(sre, 'box', 'exec', { program: 'journalctl' })).rule, 'diag');
    assert.equal(p.decide(req(sre, 'box', 'exec', { program: 'rm' })).rule, null);
    assert.equal(p.decide(req(sre, 'box', 'exec')).rule, null);
    assert.equal(p.decide(req(sre, 'box', 'port-forward', { destination: 'db.internal:5432' })).rule, 'fwd');
    assert.equal(p.decide(req(sre, 'box', 'port-forward', { destination: 'db.internal:22' })).rule, null);
  });

  describe('when.paths on sftp operations', () => {
    const p =
      policy(`  - { name: sftp-open, subjects: [{ group: agents }], resources: [box], actions: [sftp-read], effect: allow }
  - { name: app-tree, subjects: [{ group: agents }], resources: [box], actions: [sftp-write], when: { paths: ['/srv/app/**', '/etc/*.conf'] }, effect: allow }
  - { name: no-etc, subjects: [{ group: agents }], resources: [box], actions: ['*'], when: { paths: ['/etc/**'] }, effect: deny, reason: /etc is off limits }
  - { name: releases, subjects: [{ group: agents }], resources: [box], actions: [sftp-write], when: { paths: ['/srv/releases/**'] }, effect: require-approval, approval: { reviewers: [ops], timeout: 5m } }
`);
    const agent = sa('deployer', ['agents']);
    const write = (path?: string) =>
      p.decide(req(agent, 'box', 'sftp-write', path === undefined ? undefined : { path }));
    /** What the gateway does for a rename: each path decided, the strictest decision governs. */
    const rename = (from: string, to: string) => {
      const ds = [write(from), write(to)];
      return (ds.find((d) => d.effect === 'deny') ??
        ds.find((d) => d.effect === 'require-approval') ??
        ds[0]) as Decision;
    };

    it('allows writes under /srv/app/**, the tree root included, and nowhere else', () => {
      assert.equal(write('/srv/app/config.yml').effect, 'allow');
      assert.equal(write('/srv/app/a/b/c.txt').rule, 'app-tree');
      assert.equal(write('/srv/app').rule, 'app-tree');
      assert.equal(write('/srv/apple/x').rule, null);
      assert.equal(write('/srv/x.txt').rule, null);
      assert.equal(write().rule, null, 'an sftp-write without a path never matches a rule with paths');
    });

    it('compares normalised paths: .. and duplicate slashes cannot leave the tree', () => {
      assert.equal(write('/srv//app/./x/../y.txt').rule, 'app-tree');
      assert.equal(write('/srv/app/../../home/agent/.ssh/authorized_keys').rule, null);
      assert.equal(write('/srv/app/../../etc/hosts').rule, 'no-etc');
    });

    it('denies /etc/** even where an allow rule matches too', () => {
      const d = write('/etc/nginx.conf');
      assert.equal(d.effect, 'deny');
      assert.equal(d.rule, 'no-etc');
      assert.equal(d.effect === 'deny' && d.reason, '/etc is off limits');
      assert.equal(write('/etc').rule, 'no-etc', '/etc/** covers /etc itself');
      assert.equal(p.decide(req(agent, 'box', 'sftp-read', { path: '/etc/shadow' })).rule, 'no-etc');
      assert.equal(p.decide(req(agent, 'box', 'sftp-read', { path: '/srv/app/x' })).rule, 'sftp-open');
    });

    it('a path the gateway could not resolve matches deny and require-approval rules, never allow rules (fail closed)', () => {
      assert.equal(write('app/config.yml').rule, 'no-etc');
      assert.equal(write('app/config.yml').effect, 'deny');
      const noDeny = policy(
        `  - { name: app-tree, subjects: [{ group: agents }], resources: [box], actions: [sftp-write], when: { paths: ['/**'] }, effect: allow }
  - { name: held-tree, subjects: [{ group: agents }], resources: [box], actions: [sftp-write], when: { paths: ['/srv/held/**'] }, effect: require-approval, approval: { reviewers: [ops], timeout: 5m } }
`,
      );
      const rel = noDeny.decide(req(agent, 'box', 'sftp-write', { path: 'x.txt' }));
      assert.equal(rel.rule, 'held-tree');
      assert.equal(rel.effect, 'require-approval');
      assert.equal(noDeny.decide(req(agent, 'box', 'sftp-write', { path: '/x.txt' })).rule, 'app-tree');
      const onlyAllow = policy(
        `  - { name: app-tree, subjects: [{ group: agents }], resources: [box], actions: [sftp-write], when: { paths: ['/**'] }, effect: allow }
`,
      );
      assert.equal(onlyAllow.decide(req(agent, 'box', 'sftp-write', { path: 'x.txt' })).rule, null);
    });

    it('a rename out of the allowed tree is refused; within it, allowed', () => {
      assert.equal(rename('/srv/app/a.txt', '/srv/app/b/a.txt').effect, 'allow');
      assert.equal(rename('/srv/app/a.txt', '/srv/a.txt').effect, 'deny');
      assert.equal(rename('/srv/app/a.txt', '/etc/a.conf').rule, 'no-etc');
      assert.equal(rename('/srv/app/a.txt', '/srv/releases/a.txt').effect, 'require-approval');
    });

    it('explain shows the normalised path', () => {
      const e = p.explain(req(agent, 'box', 'sftp-write', { path: '/srv/app/../x' }));
      const tree = e.rules.find((r) => r.rule === 'app-tree');
      assert.match(tree?.when.detail ?? '', /path '\/srv\/x' vs \[\/srv\/app\/\*\*, \/etc\/\*\.conf\]/);
      const rel = p.explain(req(agent, 'box', 'sftp-write', { path: 'x' }));
      assert.match(rel.rules.find((r) => r.rule === 'no-etc')?.when.detail ?? '', /unresolved/);
    });
  });
});

describe('Policy: roles, resources, masking profiles', () => {
  const p = policy(
    `  - { name: r, subjects: [{ group: a }], resources: ['*'], actions: ['*'], effect: allow }\n`,
    `roles:
  admin: [{ group: platform-admins }]
  reviewer: [{ group: dba-reviewers }, { identity: alice@bank.example }, { serviceAccount: review-bot }]
`,
  );

  it('hasRole matches the role subjects; admin does not imply reviewer', () => {
    assert.equal(p.hasRole(oidc('x', ['platform-admins']), 'admin'), true);
    assert.equal(p.hasRole(oidc('x', ['platform-admins']), 'reviewer'), false);
    assert.equal(p.hasRole(oidc('x', ['dba-reviewers']), 'reviewer'), true);
    assert.equal(p.hasRole(oidc('alice@bank.example'), 'reviewer'), true);
    assert.equal(p.hasRole(sa('alice@bank.example'), 'reviewer'), false);
    assert.equal(p.hasRole(sa('review-bot'), 'reviewer'), true);
    assert.equal(p.hasRole(oidc('nobody', ['agents']), 'admin'), false);
    const none = parsePolicy('version: 1\n', 'p.yaml');
    assert.equal(none.hasRole(oidc('x', ['platform-admins']), 'admin'), false);
  });

  it('resource() returns the target; database defaults to the resource name for postgres', () => {
    assert.deepEqual(p.resource('payments-db'), {
      name: 'payments-db',
      protocol: 'postgres',
      address: '10.0.0.1:5432',
      tls: undefined,
      username: 'svc',
      credential: { env: 'PW' },
      hostKey: undefined,
      database: 'payments-db',
    });
    assert.equal(p.resource('reports-db')?.database, 'reporting');
    assert.equal(p.resource('box')?.database, undefined);
    assert.equal(p.resource('box')?.hostKey, 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8');
    assert.equal(p.resource('nope'), undefined);
    assert.deepEqual(
      p.resources().map((r) => r.name),
      ['payments-db', 'reports-db', 'box'],
    );
    assert.ok(Object.isFrozen(p.resource('payments-db')));
  });

  it('maskingProfile() returns the profile with defaults filled in', () => {
    assert.deepEqual(p.maskingProfile('pii'), {
      name: 'pii',
      columns: [
        { column: 'email', action: { redactAs: 'email' } },
        { table: 'audit_log', action: 'keep' },
      ],
      otherwise: 'scan',
      entities: ['card', 'email'],
      styles: { card: 'last4' },
      defaultStyle: undefined,
    });
    assert.deepEqual(p.maskingProfile('strict'), {
      name: 'strict',
      columns: [],
      otherwise: 'scan',
      entities: undefined,
      styles: {},
      defaultStyle: undefined,
    });
    assert.equal(p.maskingProfile('none'), undefined);
  });
});

describe('Policy.explain', () => {
  const p =
    policy(`  - { name: no-admin, subjects: [{ group: '*' }], resources: ['*'], actions: [admin], effect: deny }
  - { name: read, subjects: [{ group: agents }, { serviceAccount: etl }], resources: ['*-db'], actions: [read], effect: allow, masking: pii }
  - { name: read-too, subjects: [{ group: agents }], resources: [payments-db], actions: [read], effect: allow }
  - { name: staging, subjects: [{ serviceAccount: etl }], resources: [payments-db], actions: [write], when: { tables: ['staging.*'] }, effect: allow }
  - name: ddl
    subjects: [{ group: agents }]
    resources: [payments-db]
    actions: [ddl]
    effect: require-approval
    approval: { reviewers: [dba], approvals: 2, timeout: 15m }
`);

  it('says which rule decided, which others matched, and why the rest did not', () => {
    const ex = p.explain(req(oidc('a', ['agents']), 'payments-db', 'read'));
    assert.deepEqual(ex.decision, { effect: 'allow', rule: 'read', masking: 'pii' });
    assert.deepEqual(
      ex.rules.map((r) => [r.rule, r.matched, r.decisive, r.outcome]),
      [
        ['no-admin', false, false, "no match: action 'read' is not in [admin]"],
        ['read', true, true, 'decides: allow'],
        ['read-too', true, false, "matches, but rule 'read' (allow) decides"],
        [
          'staging',
          false,
          false,
          "no match: no subject matches oidc 'a' (groups: agents); subjects: serviceAccount etl",
        ],
        ['ddl', false, false, "no match: action 'read' is not in [ddl]"],
      ],
    );
    const read = ex.rules[1];
    assert.deepEqual(read?.subject, { ok: true, detail: 'group agents matches' });
    assert.deepEqual(read?.resource, { ok: true, detail: "resource 'payments-db' matches '*-db'" });
    assert.deepEqual(read?.action, { ok: true, detail: "action 'read' is listed" });
    assert.deepEqual(read?.when, { ok: true, detail: 'no conditions' });
  });

  it('explains conditions and default denials', () => {
    const ex = p.explain(req(sa('etl'), 'payments-db', 'write', { tables: ['staging.a', 'public.b'] }));
    assert.equal(ex.decision.effect, 'deny');
    assert.equal(ex.decision.rule, null);
    assert.equal(
      ex.rules[3]?.outcome,
      'no match: when does not hold: tables [staging.a, public.b] vs [staging.*] (every one must match)',
    );
  });

  it('agrees with decide on every combination of a grid of requests', () => {
    const ids = [oidc('a', ['agents']), oidc('b'), sa('etl'), sa('other', ['agents'])];
    const resources = ['payments-db', 'reports-db', 'box', 'unknown'];
    const actions = ['read', 'write', 'ddl', 'admin', 'exec'];
    const details = [undefined, { tables: ['staging.x'] }, { tables: ['staging.x', 'y'] }];
    let n = 0;
    for (const id of ids)
      for (const r of resources)
        for (const a of actions)
          for (const d of details) {
            const rq = req(id, r, a, d);
            const ex = p.explain(rq);
            assert.deepEqual(ex.decision, p.decide(rq));
            assert.equal(ex.rules.filter((t) => t.decisive).length, ex.decision.rule === null ? 0 : 1);
            for (const t of ex.rules)
              assert.equal(t.matched, t.subject.ok && t.resource.ok && t.action.ok && t.when.ok);
            n++;
          }
    assert.equal(n, 240);
  });
});
