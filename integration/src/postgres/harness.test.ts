import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  FailureTracker,
  libpqFreeEnv,
  type PostgresTarget,
  psql,
  psqlBinary,
  run,
  selectProvider,
} from '../harness/index';

describe('PostgreSQL target harness', () => {
  const failures = new FailureTracker();
  let target: PostgresTarget | undefined;

  before(
    async () => {
      const provider = await selectProvider();
      target = await provider.startPostgres({ suite: 'postgres-harness' });
    },
    { timeout: 150_000 },
  );
  afterEach(failures.afterEach);
  // Always tears down; keeps (and prints the path of) the server log when a test failed.
  after(() => target?.stop({ keepLogs: failures.failed }), { timeout: 60_000 });

  const started = (): PostgresTarget => {
    assert.ok(target, 'PostgreSQL target did not start');
    return target;
  };

  test('real psql creates a table, inserts rows and reads them back over TCP', {
    timeout: 60_000,
  }, async () => {
    const t = started();
    const r = await psql(t, {
      sql: [
        'CREATE TABLE harness_check (id integer PRIMARY KEY, name text NOT NULL);',
        "INSERT INTO harness_check VALUES (1, 'alice'), (2, 'bob'), (3, 'carol');",
        'SELECT id, name FROM harness_check ORDER BY id;',
        'SELECT current_user, current_database(), inet_server_addr() IS NOT NULL;',
      ].join('\n'),
    });
    assert.equal(r.code, 0, `psql failed: ${r.stderr}`);
    assert.equal(r.stdout, `1|alice\n2|bob\n3|carol\n${t.user}|${t.database}|t\n`);
  });

  test('connectionString() alone (no PG* env, no PGPASSWORD) connects psql', {
    timeout: 60_000,
  }, async () => {
    const t = started();
    const r = await run(
      psqlBinary(),
      ['-X', '-w', '-At', '-c', 'SELECT count(*) FROM harness_check', t.connectionString()],
      {
        env: libpqFreeEnv(),
        timeoutMs: 30_000,
      },
    );
    assert.equal(r.code, 0, `psql with the connection string failed: ${r.stderr}`);
    assert.equal(r.stdout, '3\n');
  });

  test('a wrong password is refused by the server', { timeout: 60_000 }, async () => {
    const t = started();
    const r = await psql(t, { password: `wrong-${t.password}`, args: ['-c', 'SELECT 1'] });
    assert.notEqual(r.code, 0, 'psql must fail with a wrong password');
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`password authentication failed for user "${t.user}"`));
    // The refusal is in the server's own log too.
    const deadline = Date.now() + 5_000;
    let log = await t.logs();
    while (!/password authentication failed/.test(log) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      log = await t.logs();
    }
    assert.ok(
      log.includes(`password authentication failed for user "${t.user}"`),
      `server log lacks the refusal:\n${log.slice(-2_000)}`,
    );
  });
});
