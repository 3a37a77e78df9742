import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  ClientRunError,
  customersSeedSql,
  endpointFromTarget,
  FailureTracker,
  type PgBouncerInstance,
  type PgEndpoint,
  type PostgresTarget,
  pgbench,
  pgbenchInit,
  pgClient,
  psqlScript,
  psycopg,
  psycopgVersion,
  selectProvider,
  startPgBouncer,
} from '../harness/index';

// Every client runner against a DIRECT PostgreSQL (and pgbench through PgBouncer), so that a suite
// pointed at the gateway fails only for the gateway's reasons.
describe('real PostgreSQL clients against a direct target', () => {
  const failures = new FailureTracker();
  let target: PostgresTarget | undefined;
  let bouncer: PgBouncerInstance | undefined;

  before(
    async () => {
      target = await (await selectProvider()).startPostgres({ suite: 'postgres-clients' });
    },
    { timeout: 150_000 },
  );
  afterEach(failures.afterEach);
  after(
    async () => {
      await bouncer?.stop({ keepLogs: failures.failed });
      await target?.stop({ keepLogs: failures.failed });
    },
    { timeout: 60_000 },
  );

  const direct = (): PgEndpoint => {
    assert.ok(target, 'PostgreSQL target did not start');
    return endpointFromTarget(target);
  };

  describe('pgbench', () => {
    before(() => pgbenchInit(direct(), { scale: 1 }), { timeout: 120_000 });

    for (const mode of ['simple', 'extended', 'prepared'] as const) {
      test(`-S -c 4 -t 200 in ${mode} mode runs every transaction`, { timeout: 120_000 }, async () => {
        const r = await pgbench(direct(), { mode, clients: 4, selectOnly: true, transactions: 200 });
        assert.equal(r.transactions, 800);
        assert.equal(r.failedTransactions, 0);
        assert.ok(r.tps > 0 && r.latencyAvgMs > 0, r.raw.stdout);
        assert.match(r.raw.stdout, new RegExp(`query mode: ${mode}`));
        assert.match(r.raw.stdout, /transaction type: <builtin: select only>/);
      });
    }

    test('the per-transaction log gives one latency per transaction', { timeout: 120_000 }, async () => {
      const r = await pgbench(direct(), {
        mode: 'prepared',
        clients: 2,
        jobs: 2,
        selectOnly: true,
        transactions: 150,
        latencyLog: true,
      });
      assert.equal(r.latency?.samples, 300);
      assert.ok(r.p50Us !== undefined && r.p99Us !== undefined);
      assert.ok(r.p50Us > 0 && r.p50Us <= r.p99Us && r.p99Us <= (r.latency?.maxUs ?? 0));
    });

    test('the TPC-B-like script writes (without -S)', { timeout: 120_000 }, async () => {
      const before = await psqlScript(direct(), 'SELECT count(*) FROM pgbench_history;');
      const r = await pgbench(direct(), {
        mode: 'extended',
        clients: 2,
        selectOnly: false,
        transactions: 50,
      });
      assert.equal(r.transactions, 100);
      const afterRun = await psqlScript(direct(), 'SELECT count(*) FROM pgbench_history;');
      assert.equal(Number(afterRun.stdout) - Number(before.stdout), 100);
    });

    test('a wrong password fails with the server error, and the password is not in it', {
      timeout: 60_000,
    }, async () => {
      const ep = direct();
      const wrong = `${ep.password}-wrong`;
      const err = await pgbench(
        { ...ep, password: wrong },
        {
          mode: 'simple',
          clients: 1,
          selectOnly: true,
          transactions: 1,
        },
      ).then(
        () => assert.fail('pgbench must fail with a wrong password'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ClientRunError, String(err));
      assert.match(err.message, /password authentication failed/);
      assert.ok(!err.message.includes(wrong) && !err.message.includes(ep.password));
    });
  });

  describe('psql scripts', () => {
    test('\\copy in and out, transactions, variables and a multi-statement string', {
      timeout: 60_000,
    }, async () => {
      const script = [
        'CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2) NOT NULL);',
        '\\copy items from stdin with (format csv)',
        '1,apple,1.20',
        '2,"pear, green",0.95',
        '3,plum,2.10',
        '\\.',
        'BEGIN;',
        "INSERT INTO items VALUES (4, 'fig', 3.00);",
        'UPDATE items SET price = price * 2 WHERE id = 1;',
        'COMMIT;',
        'BEGIN;',
        'DELETE FROM items;',
        'ROLLBACK;',
        'SELECT count(*), sum(price) FROM items;',
        'SELECT name FROM items WHERE id = :wanted;',
        // `\;` makes psql send both statements in one Query message.
        "SELECT 'first' \\; SELECT 'second';",
        '\\copy (SELECT id, name FROM items ORDER BY id) to stdout with (format csv)',
      ].join('\n');
      const r = await psqlScript(direct(), script, { vars: { wanted: '2' } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        [
          '4|8.45',
          'pear, green',
          'first',
          'second',
          '1,apple',
          '2,"pear, green"',
          '3,plum',
          '4,fig',
          '',
        ].join('\n'),
      );
    });

    test('ON_ERROR_STOP stops at the first error with status 3; off, the script goes on', {
      timeout: 60_000,
    }, async () => {
      const script = "SELECT 'before';\nSELECT * FROM no_such_table;\nSELECT 'after';\n";
      const stopped = await psqlScript(direct(), script);
      assert.equal(stopped.code, 3);
      assert.equal(stopped.stdout, 'before\n');
      assert.match(stopped.stderr, /relation "no_such_table" does not exist/);
      const goesOn = await psqlScript(direct(), script, { onErrorStop: false });
      assert.equal(goesOn.code, 0);
      assert.equal(goesOn.stdout, 'before\nafter\n');
    });

    test('a failed statement inside a transaction aborts it as PostgreSQL does', {
      timeout: 60_000,
    }, async () => {
      const r = await psqlScript(
        direct(),
        [
          'CREATE TABLE tx_check (v int);',
          'BEGIN;',
          'INSERT INTO tx_check VALUES (1);',
          'SELECT 1/0;',
          'INSERT INTO tx_check VALUES (2);',
          'COMMIT;',
          'SELECT count(*) FROM tx_check;',
        ].join('\n'),
        { onErrorStop: false },
      );
      assert.equal(r.code, 0);
      assert.match(r.stderr, /division by zero/);
      assert.match(r.stderr, /current transaction is aborted/);
      assert.equal(r.stdout, '0\n');
    });
  });

  describe('psycopg 3', () => {
    test('parameterised queries, a prepared statement, a server-side cursor, COPY TO STDOUT, an error', {
      timeout: 60_000,
    }, async () => {
      const v = await psycopgVersion();
      assert.ok(v.version?.startsWith('3.'), v.detail);
      const r = await psycopg(
        direct(),
        `
import psycopg.errors
with connect() as conn:
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE py_people (id int PRIMARY KEY, name text NOT NULL, tags text[])")
        cur.executemany("INSERT INTO py_people VALUES (%s, %s, %s)",
                        [(i, f"person {i}", ["t", str(i)]) for i in range(1, 51)])
    conn.commit()
    emit({"row": conn.execute("SELECT name, tags FROM py_people WHERE id = %s", [7]).fetchone()})
    n = conn.execute("SELECT count(*) FROM py_people WHERE id > %(min)s", {"min": 10}, prepare=True).fetchone()[0]
    emit({"count": n})
    with conn.cursor(name="people") as cur:
        cur.itersize = 8
        cur.execute("SELECT id FROM py_people WHERE id %% %s = 0 ORDER BY id", [5])
        emit({"cursor": [r[0] for r in cur]})
    with conn.cursor() as cur:
        with cur.copy("COPY (SELECT id, name FROM py_people WHERE id <= 3 ORDER BY id) TO STDOUT") as copy:
            emit({"copy": [list(r) for r in copy.rows()]})
    conn.commit()
    try:
        conn.execute("SELECT * FROM missing_table")
    except psycopg.errors.UndefinedTable as e:
        emit({"sqlstate": e.sqlstate})
`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.values, [
        { row: ['person 7', ['t', '7']] },
        { count: 40 },
        { cursor: [5, 10, 15, 20, 25, 30, 35, 40, 45, 50] },
        {
          copy: [
            ['1', 'person 1'],
            ['2', 'person 2'],
            ['3', 'person 3'],
          ],
        },
        { sqlstate: '42P01' },
      ]);
    });
  });

  describe('node-postgres', () => {
    test('parameterised queries and a named prepared statement', { timeout: 60_000 }, async () => {
      const c = await pgClient(direct());
      try {
        await c.query('CREATE TABLE js_orders (id int PRIMARY KEY, customer text NOT NULL, total numeric)');
        await c.query(
          'INSERT INTO js_orders SELECT g, $1 || g, g * $2::numeric FROM generate_series(1, 100) AS g',
          ['customer-', '1.5'],
        );
        const one = await c.query('SELECT customer, total FROM js_orders WHERE id = $1', [42]);
        assert.deepEqual(one.rows, [{ customer: 'customer-42', total: '63.0' }]);
        const named = {
          name: 'orders_over',
          text: 'SELECT count(*)::int AS n FROM js_orders WHERE total > $1',
        };
        assert.deepEqual((await c.query({ ...named, values: [100] })).rows, [{ n: 34 }]);
        assert.deepEqual((await c.query({ ...named, values: [140] })).rows, [{ n: 7 }]);
        const prepared = await c.query(
          "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'orders_over'",
        );
        assert.deepEqual(prepared.rows, [{ n: 1 }]);
      } finally {
        await c.end();
      }
    });

    test('a portal read 10 rows per Execute, and an SQL cursor with FETCH', { timeout: 60_000 }, async () => {
      const c = await pgClient(direct());
      try {
        // `rows` makes node-postgres Execute with a row limit and continue after each PortalSuspended.
        const paged = await c.query({
          text: 'SELECT g AS n FROM generate_series(1, $1::int) AS g',
          values: [25],
          rows: 10,
        } as { text: string; values: unknown[] });
        assert.deepEqual(
          paged.rows.map((r: { n: number }) => r.n),
          Array.from({ length: 25 }, (_, i) => i + 1),
        );
        await c.query('BEGIN');
        await c.query('DECLARE cur CURSOR FOR SELECT g FROM generate_series(1, 7) AS g');
        const first = await c.query('FETCH 5 FROM cur');
        const rest = await c.query('FETCH 5 FROM cur');
        await c.query('COMMIT');
        assert.deepEqual([first.rows.length, rest.rows.map((r: { g: number }) => r.g)], [5, [6, 7]]);
      } finally {
        await c.end();
      }
    });

    test('pipelined queries answer in order, and an error fails only its own query', {
      timeout: 60_000,
    }, async () => {
      const c = await pgClient(direct(), { pipeline: true });
      try {
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) =>
            i === 7 ? c.query('SELECT 1/0') : c.query('SELECT $1::int * 2 AS v', [i]),
          ),
        );
        const seen = results.map((r) => (r.status === 'fulfilled' ? r.value.rows[0].v : 'error'));
        assert.deepEqual(
          seen,
          Array.from({ length: 20 }, (_, i) => (i === 7 ? 'error' : i * 2)),
        );
        const failed = results[7];
        assert.ok(failed?.status === 'rejected');
        assert.equal((failed.reason as { code?: string }).code, '22012');
      } finally {
        await c.end();
      }
    });
  });

  describe('through PgBouncer (session mode)', () => {
    before(
      async () => {
        assert.ok(target);
        bouncer = await startPgBouncer({
          suite: 'postgres-clients',
          target,
          poolMode: 'session',
          maxClientConn: 50,
          defaultPoolSize: 10,
        });
      },
      { timeout: 60_000 },
    );

    const viaBouncer = (): PgEndpoint => {
      assert.ok(bouncer, 'PgBouncer did not start');
      return bouncer.endpoint;
    };

    for (const mode of ['simple', 'prepared'] as const) {
      test(`pgbench -S -c 4 -t 200 in ${mode} mode`, { timeout: 120_000 }, async () => {
        const ep = viaBouncer();
        assert.notEqual(ep.port, direct().port);
        const r = await pgbench(ep, {
          mode,
          clients: 4,
          selectOnly: true,
          transactions: 200,
          latencyLog: true,
        });
        assert.equal(r.transactions, 800);
        assert.equal(r.failedTransactions, 0);
        assert.equal(r.latency?.samples, 800);
      });
    }

    test('the sessions went through PgBouncer, which logged them in with SCRAM', {
      timeout: 60_000,
    }, async () => {
      const ep = viaBouncer();
      const r = await psqlScript(ep, 'SELECT count(*) FROM pgbench_accounts;');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '100000\n');
      const log = await bouncer?.logs();
      assert.match(log ?? '', new RegExp(`login attempt: db=${ep.database} user=${ep.user}`));
      const wrong = await psqlScript({ ...ep, password: 'not-the-password' }, 'SELECT 1;');
      assert.notEqual(wrong.code, 0);
      // PgBouncer answers a failed SCRAM exchange with its own wording.
      assert.match(wrong.stderr, /SASL authentication failed|password authentication failed/);
    });

    test('stop() ends PgBouncer: its port refuses connections', { timeout: 60_000 }, async () => {
      const extra = await startPgBouncer({
        suite: 'postgres-clients-stop',
        target: target as PostgresTarget,
      });
      const { port } = extra.endpoint;
      await extra.stop();
      const refused = await new Promise<boolean>((resolve) => {
        const s = connect({ host: '127.0.0.1', port });
        s.once('connect', () => {
          s.destroy();
          resolve(false);
        });
        s.once('error', () => resolve(true));
      });
      assert.ok(refused, `port ${port} still accepts connections after stop()`);
    });
  });

  describe('customers seed', () => {
    test('generates valid-looking PII: Luhn-valid Visa numbers, SSN rules, IBAN mod-97, unique emails', {
      timeout: 60_000,
    }, async () => {
      const ep = direct();
      const r = await psqlScript(
        ep,
        `${customersSeedSql(5000)}
SELECT count(*), count(DISTINCT email), count(DISTINCT card_number) FROM customers;
\\copy (SELECT card_number, ssn, iban, email FROM customers WHERE id % 97 = 0) to stdout with (format csv)`,
        { timeoutMs: 60_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      const [counts, ...rows] = r.stdout.trim().split('\n');
      assert.equal(counts, '5000|5000|5000');
      assert.equal(rows.length, 51);
      for (const line of rows) {
        const [card, ssn, iban, email] = line.split(',') as [string, string, string, string];
        assert.match(card, /^4\d{15}$/);
        assert.ok(luhn(card), `Luhn: ${card}`);
        const m = /^(\d{3})-(\d{2})-(\d{4})$/.exec(ssn);
        assert.ok(
          m && m[1] !== '000' && m[1] !== '666' && Number(m[1]) < 900 && m[2] !== '00' && m[3] !== '0000',
          ssn,
        );
        assert.match(iban, /^DE\d{20}$/);
        assert.ok(ibanValid(iban), `IBAN: ${iban}`);
        assert.match(email, /^[a-z]+\.[a-z]+\d+@example\.com$/);
      }
    });
  });
});

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

function ibanValid(iban: string): boolean {
  const moved = iban.slice(4) + iban.slice(0, 4);
  const numeric = moved.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  return BigInt(numeric) % 97n === 1n;
}
