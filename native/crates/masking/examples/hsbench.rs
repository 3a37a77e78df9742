//! Times one Hyperscan pattern on the profile corpus: `cargo run --release --example hsbench -- PATTERN...`.
use std::time::Instant;
use tollgate_masking::hs::{Database, Pattern, Scratch};

fn main() {
    let mut rows = String::new();
    for i in 0..1000u64 {
        rows.push_str(&format!("2024-05-06T12:30:{:02}.123Z INFO req={:x} user=u{i} path=/api/v1/orders/{i} status=200 bytes={} took={}ms order 1234567812345678 \"some text here, nothing else\"", i % 60, i.wrapping_mul(2654435761) % 1_000_000_000, i * 37, i % 97));
        if i % 10 == 0 {
            rows.push_str(&format!(
                " card 4111 1111 1111 1111 email bob{i}@example.com"
            ));
        }
        rows.push('\n');
    }
    let big = match std::env::var("CORPUS") {
        Ok(path) => std::fs::read(path).unwrap(),
        Err(_) => rows.repeat(16 * 1024 * 1024 / rows.len() + 1).into_bytes(),
    };
    // SET=1 compiles every argument into one database, as the engine does
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sets: Vec<Vec<String>> = if std::env::var("SET").is_ok() {
        vec![args]
    } else {
        args.into_iter().map(|a| vec![a]).collect()
    };
    for set in sets {
        let p = set.join(" | ");
        let patterns: Vec<Pattern> = set
            .iter()
            .enumerate()
            .map(|(i, e)| Pattern {
                expression: e.clone(),
                flags: 0,
                id: i as u32,
            })
            .collect();
        let db = Database::compile(&patterns, false).unwrap();
        let mut s = Scratch::default();
        let mut n = 0usize;
        db.scan(&mut s, &big, |_, _| n += 1).unwrap();
        let t = Instant::now();
        db.scan(&mut s, &big, |_, _| n += 1).unwrap();
        let dt = t.elapsed().as_secs_f64();
        println!(
            "{:6.2} GB/s {:>8} hits  {p}",
            big.len() as f64 / dt / 1e9,
            n / 2
        );
    }
}
