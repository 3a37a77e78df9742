import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { endpointFromTarget, pgClient, psql } from '../harness/index';
import { resourceYaml, useGatewayFixture } from './fixture';

/**
 * `table:` column rules against a real target: the gateway names RowDescription's table OIDs
 * from the target's catalog, so a rule can keep one table's column and mask another's.
 */
describe('PostgreSQL path: table: column rules by catalog name', () => {
  const f = useGatewayFixture({
    suite: 'pg-table-names',
    accounts: { agent: ['agents'] },
    rows: 20,
    policy: (t) => `version: 1
resources:
${resourceYaml('shop', t)}maskingProfiles:
  by-table:
    columns:
      - { table: staff, column: email, action: keep }
      - { table: public.customers, column: city, action: { redactAs: email } }
rules:
  - { name: read, subjects: [{ group: agents }], resources: [shop], actions: [read], effect: allow, masking: by-table }
`,
  });
  // hooks run in order: the fixture has started when this one runs
  before(async () => {
    const direct = await pgClient(endpointFromTarget(f().target));
    try {
      await direct.query(`CREATE TABLE staff (id int, email text);
        INSERT INTO staff VALUES (1, 'desk@example.com'), (2, 'ops@example.com');`);
    } finally {
      await direct.end();
    }
  });

  test('a keep rule applies to its table only; a redaction by table name applies', {
    timeout: 60_000,
  }, async () => {
    const c = await pgClient(f().ep('agent', 'shop'));
    try {
      const staff = await c.query('SELECT email FROM staff ORDER BY id');
      assert.deepEqual(
        staff.rows.map((r) => r.email),
        ['desk@example.com', 'ops@example.com'],
      );
      const join = await c.query({
        text: 'SELECT s.email, c.email, c.city FROM staff s JOIN customers c ON c.id = s.id ORDER BY s.id',
        rowMode: 'array',
      });
      assert.deepEqual(join.rows, [
        ['desk@example.com', '[REDACTED:email]', '[REDACTED:email]'],
        ['ops@example.com', '[REDACTED:email]', '[REDACTED:email]'],
      ]);
      // Extended protocol (Parse/Bind/Describe/Execute): the portal's columns are named too.
      const one = await c.query(
        'SELECT s.email, c.email AS other FROM staff s, customers c WHERE s.id = $1 AND c.id = $1',
        [2],
      );
      assert.deepEqual(one.rows, [{ email: 'ops@example.com', other: '[REDACTED:email]' }]);
      // A computed column has no table: the keep rule does not apply to it.
      const computed = await c.query("SELECT email || '' AS email FROM staff ORDER BY id LIMIT 1");
      assert.equal(computed.rows[0]?.email, '[REDACTED:email]');
    } finally {
      await c.end();
    }
  });

  test('psql (simple query) gets the same plan', { timeout: 60_000 }, async () => {
    const r = await psql(
      { ...f().ep('agent', 'shop'), suite: 'pg-table-names' },
      { sql: 'SELECT email FROM staff ORDER BY id; SELECT email FROM customers ORDER BY id LIMIT 1;' },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'desk@example.com',
      'ops@example.com',
      '[REDACTED:email]',
    ]);
  });
});
