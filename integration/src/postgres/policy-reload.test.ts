import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Client } from 'pg';
import { type PostgresTarget, pgClient } from '../harness/index';
import { resourceYaml, useGatewayFixture } from './fixture';

/**
 * The gateway caches the parser's classification of a statement text (shared by sessions), never
 * a decision: after the policy file is rewritten, the same text — in sessions already open and in
 * new ones, for two identities — is decided by the new policy.
 */

const allowBoth = (t: PostgresTarget) => `version: 1
resources:
${resourceYaml('shop', t)}rules:
  - { name: agents-read, subjects: [{ group: agents }], resources: [shop], actions: [read], effect: allow }
  - { name: auditors-read, subjects: [{ group: auditors }], resources: [shop], actions: [read], effect: allow }
`;

/** The same, plus a deny for agents on the customers table. */
const denyAgents = (t: PostgresTarget) => `${allowBoth(t)}  - name: agents-not-customers
    subjects: [{ group: agents }]
    resources: [shop]
    actions: [read]
    when: { tables: ['*customers'] }
    effect: deny
    reason: customers is closed to agents
`;

const SIMPLE = 'SELECT count(*) FROM customers /* reload-q */';
const EXTENDED = 'SELECT email FROM customers WHERE id = $1 /* reload-p */';

describe('PostgreSQL path: classification cache and policy reload', () => {
  const f = useGatewayFixture({
    suite: 'pg-reload',
    accounts: { 'agent-a': ['agents'], 'auditor-b': ['auditors'] },
    rows: 20,
    policy: allowBoth,
  });

  /** Rewrites the policy file in place and waits (bounded) until the gateway has loaded it. */
  async function rewritePolicy(text: string): Promise<void> {
    writeFileSync(join(f().dir, 'policy.yaml'), text);
    const hash = createHash('sha256').update(text).digest('hex');
    for (let i = 0; i < 200; i++) {
      if (f().gw.controlPlane.policy.policy.hash === hash) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail('the gateway did not reload the rewritten policy within 10 s');
  }

  async function allowed(c: Client): Promise<void> {
    assert.equal((await c.query(SIMPLE)).rows.length, 1);
    assert.equal((await c.query(EXTENDED, [1])).rows.length, 1);
  }

  async function denied(c: Client): Promise<void> {
    for (const run of [() => c.query(SIMPLE), () => c.query(EXTENDED, [1])]) {
      await assert.rejects(run, (e: Error & { code?: string; message: string }) => {
        assert.equal(e.code, '42501');
        assert.match(e.message, /customers is closed to agents/);
        return true;
      });
    }
  }

  test('the same text is decided by the policy in force, in open and new sessions, per identity', {
    timeout: 90_000,
  }, async () => {
    const t = f().target;
    const a = await pgClient(f().ep('agent-a', 'shop'));
    const b = await pgClient(f().ep('auditor-b', 'shop'));
    const clients: Client[] = [a, b];
    try {
      await allowed(a);
      await allowed(b);

      await rewritePolicy(denyAgents(t));
      await denied(a); // the open session, the same (cached) texts
      await allowed(b); // the other identity, the same texts, still allowed
      const a2 = await pgClient(f().ep('agent-a', 'shop'));
      clients.push(a2);
      await denied(a2);
      await allowed(b);

      await rewritePolicy(allowBoth(t));
      await allowed(a);
      await allowed(a2);
    } finally {
      for (const c of clients) await c.end().catch(() => undefined);
    }

    const recs = await f().gw.controlPlane.audit.query({ subject: 'agent-a', types: ['command'] });
    const decisions = recs
      .filter((r) => String(r.data?.text ?? '').includes('reload-q'))
      .map((r) => r.decision);
    assert.deepEqual(decisions, ['allow', 'deny', 'deny', 'allow', 'allow']);
    const auditor = await f().gw.controlPlane.audit.query({ subject: 'auditor-b', types: ['command'] });
    assert.ok(
      auditor
        .filter((r) => String(r.data?.text ?? '').includes('reload-'))
        .every((r) => r.decision === 'allow'),
    );
  });
});
