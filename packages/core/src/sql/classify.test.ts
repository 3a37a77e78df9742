import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifySql,
  classifySqlAsync,
  isSqlClass,
  SQL_ASYNC_THRESHOLD_BYTES,
  STRICTNESS,
  statementText,
  strictestClass,
} from './classify';

describe('classifySql', () => {
  it('classifies each statement of a multi-statement string in one call', () => {
    const sql = 'SELECT * FROM public.users WHERE id = 1; /* x */ DROP TABLE "Audit"';
    const c = classifySql(sql);
    assert.deepEqual(
      c.statements.map((s) => [s.class, s.command, s.tables]),
      [
        ['read', 'SELECT', ['public.users']],
        ['dangerous', 'DROP TABLE', ['"Audit"']],
      ],
    );
    assert.deepEqual(c.statements[1]?.reasons, ['DROP TABLE']);
    assert.deepEqual(
      c.statements.map((s) => statementText(sql, s)),
      ['SELECT * FROM public.users WHERE id = 1', 'DROP TABLE "Audit"'],
    );
    assert.equal(strictestClass(c.statements.map((s) => s.class)), 'dangerous');
  });

  it('catches a deleting WITH query and a dangerous function call', () => {
    const [cte] = classifySql('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d').statements;
    assert.equal(cte?.class, 'dangerous');
    assert.deepEqual(cte?.reasons, ['DELETE without WHERE in a WITH query']);
    assert.deepEqual(cte?.tables, ['t']);
    const [call] = classifySql(
      'select 1 from pg_stat_activity where pg_catalog."pg_terminate_backend"(pid)',
    ).statements;
    assert.equal(call?.class, 'dangerous');
    assert.ok(call?.reasons.includes('calls pg_terminate_backend'));
    assert.ok(call?.functions.includes('pg_catalog.pg_terminate_backend'));
  });

  it('gives unparseable input one unknown statement without echoing it', () => {
    const sql = "SELECT * FROM cards WHERE pan = '4111 1111 1111 1111";
    const c = classifySql(sql);
    assert.equal(c.statements.length, 1);
    const [s] = c.statements;
    assert.equal(s?.class, 'unknown');
    assert.equal(s?.fingerprint, '');
    assert.ok(s?.reasons[0]?.startsWith('parse error'));
    assert.ok(!s?.reasons.join(' ').includes('4111'));
  });

  it('has no statements for empty input or comments only', () => {
    assert.deepEqual(classifySql('').statements, []);
    assert.deepEqual(classifySql(' -- nothing\n/* here */ ;').statements, []);
    assert.equal(strictestClass([]), 'read');
  });

  it('fingerprints ignore whitespace, comments and constants', () => {
    const a = classifySql('SELECT * FROM t WHERE id = 1').statements[0]?.fingerprint;
    const b = classifySql('select *  from t where id=2 -- c').statements[0]?.fingerprint;
    assert.match(a ?? '', /^[0-9a-f]{16}$/);
    assert.equal(a, b);
  });

  it('accepts a UTF-8 Buffer and reports byte offsets into it', () => {
    const buf = Buffer.from('SELECT \'é\'; DELETE FROM "tâble" WHERE id = 1', 'utf8');
    const c = classifySql(buf);
    assert.deepEqual(
      c.statements.map((s) => [s.class, statementText(buf, s)]),
      [
        ['read', "SELECT 'é'"],
        ['write', 'DELETE FROM "tâble" WHERE id = 1'],
      ],
    );
    const bad = classifySql(Buffer.from([0x53, 0xff, 0xfe]));
    assert.equal(bad.statements[0]?.class, 'unknown');
    assert.deepEqual(bad.statements[0]?.reasons, ['input is not valid UTF-8']);
  });

  it('follows standard_conforming_strings when told it is off', () => {
    const sql = "SELECT 'x\\' , ' ; DROP TABLE t; --'";
    assert.equal(classifySql(sql).statements.length, 1);
    const off = classifySql(sql, { standardConformingStrings: false });
    assert.equal(strictestClass(off.statements.map((s) => s.class)), 'dangerous');
  });
});

describe('classifySqlAsync', () => {
  it('gives the same result as classifySql, off the event loop', async () => {
    const sql = `${'SELECT a FROM t WHERE id = 1;'.repeat(SQL_ASYNC_THRESHOLD_BYTES / 29)} TRUNCATE t`;
    const pending = classifySqlAsync(sql);
    const sync = classifySql(sql);
    const async = await pending;
    assert.deepEqual(async, sync);
    assert.equal(strictestClass(async.statements.map((s) => s.class)), 'dangerous');
    assert.equal((await classifySqlAsync(Buffer.from('SELEC 1'))).statements[0]?.class, 'unknown');
  });

  it('classifies on several worker threads at once', async () => {
    const inputs = Array.from({ length: 16 }, (_, i) =>
      `${'SELECT a FROM t WHERE id = 1;'.repeat(200 + i)} DELETE FROM t${i % 3 ? ' WHERE id = 2' : ''}; SELEC`.slice(
        0,
        i % 4 === 0 ? -7 : undefined,
      ),
    );
    const results = await Promise.all(inputs.map((s) => classifySqlAsync(s)));
    assert.deepEqual(
      results,
      inputs.map((s) => classifySql(s)),
    );
  });
});

describe('STRICTNESS and strictestClass', () => {
  it('orders classes from read to unknown', () => {
    assert.deepEqual(STRICTNESS, [
      'read',
      'utility',
      'transaction',
      'write',
      'ddl',
      'admin',
      'dangerous',
      'unknown',
    ]);
    assert.equal(strictestClass(['read', 'write', 'utility']), 'write');
    assert.equal(strictestClass(['ddl', 'admin', 'transaction']), 'admin');
    assert.equal(strictestClass(['dangerous', 'unknown']), 'unknown');
    assert.equal(strictestClass(['read', 'something-else']), 'unknown');
    assert.ok(isSqlClass('ddl'));
    assert.ok(!isSqlClass('DDL'));
  });
});
