//! Classification throughput: `cargo run --release -p sqlclass --example classbench`.
//! Reports statements per second (one thread) for a few representative inputs, and the share
//! of the time spent in libpg_query's parse and fingerprint.

use std::hint::black_box;
use std::time::{Duration, Instant};

const OLTP_SELECT: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213";

/// pgbench's TPC-B-like transaction, sent as one simple-query string.
const TPCB: &str = "BEGIN; \
UPDATE pgbench_accounts SET abalance = abalance + -4211 WHERE aid = 48213; \
SELECT abalance FROM pgbench_accounts WHERE aid = 48213; \
UPDATE pgbench_tellers SET tbalance = tbalance + -4211 WHERE tid = 7; \
UPDATE pgbench_branches SET bbalance = bbalance + -4211 WHERE bid = 1; \
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 48213, -4211, CURRENT_TIMESTAMP); \
END;";

const REPORT: &str = "WITH recent AS (SELECT o.customer_id, sum(o.total) AS spent FROM orders o \
WHERE o.created_at > now() - interval '30 days' GROUP BY o.customer_id) \
SELECT c.id, c.name, r.spent FROM customers c JOIN recent r ON r.customer_id = c.id \
WHERE c.region = 'EU' AND r.spent > (SELECT avg(spent) FROM recent) ORDER BY r.spent DESC LIMIT 50";

fn rate(what: &str, sql: &str, statements: usize, f: impl Fn(&str)) -> f64 {
    // warm up, then run for about a second
    for _ in 0..200 {
        f(black_box(sql));
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..100 {
            f(black_box(sql));
        }
        calls += 100;
    }
    let secs = start.elapsed().as_secs_f64();
    let per_s = calls as f64 * statements as f64 / secs;
    let us_per_call = secs * 1e6 / calls as f64;
    println!("{what:<44} {per_s:>10.0} statements/s  {us_per_call:>7.1} µs/call");
    per_s
}

fn main() {
    let inputs = [
        ("OLTP SELECT (1 statement)", OLTP_SELECT),
        ("pgbench TPC-B string (7 statements)", TPCB),
        ("reporting query with CTE (1 statement)", REPORT),
    ];
    for (name, sql) in inputs {
        let n = sqlclass::classify(sql).statements.len();
        println!("{name}");
        let total = rate("  classify", sql, n, |s| {
            black_box(sqlclass::classify(s));
        });
        let parse = rate("  of which pg_query::parse (protobuf)", sql, n, |s| {
            let _ = black_box(pg_query::parse(s, 0));
        });
        let fp = rate("  of which pg_query::fingerprint", sql, n, |s| {
            let _ = black_box(pg_query::fingerprint(s, 0, 0));
        });
        let rest = 1.0 / total - 1.0 / parse - 1.0 / fp;
        println!(
            "  → parse {:.0}%, fingerprint {:.0}%, walk + rules {:.0}%\n",
            100.0 * total / parse,
            100.0 * total / fp,
            100.0 * rest * total
        );
    }
}
