//! Times the masking stages on a synthetic log corpus: `cargo run --release --example profile`.
use std::time::Instant;
use tollgate_masking::{Engine, Style};

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
        Err(_) => rows.repeat(64 * 1024 * 1024 / rows.len() + 1).into_bytes(),
    };
    let names: Vec<String> = std::env::args().skip(1).collect();
    let engine = if names.is_empty() {
        Engine::with_defaults(Style::Full)
    } else {
        let list = Engine::configure(&names, &|_| Style::Full, &[]).unwrap();
        Engine::new(list, None).unwrap()
    };
    let mut scratch = engine.new_scratch();
    let mut counts = vec![0; engine.len()];
    let per: Vec<usize> = {
        let t = Instant::now();
        let mut per = vec![0usize; engine.len()];
        engine.hs_hits_for_profile(&mut scratch, &big, |id| per[id] += 1);
        let dt = t.elapsed().as_secs_f64();
        println!("hyperscan only: {:.2} GB/s", big.len() as f64 / dt / 1e9);
        per
    };
    for (n, c) in engine.entity_names().iter().zip(&per) {
        println!("  hits {n}: {c}");
    }
    let targets = tollgate_masking::tokens::Targets::numbered();
    let t = Instant::now();
    let mut th = [0usize; 7];
    tollgate_masking::tokens::scan(&targets, &big, 0, big.len(), |_, id| th[id as usize] += 1);
    println!(
        "token scanner only: {:.2} GB/s, hits {:?}",
        big.len() as f64 / t.elapsed().as_secs_f64() / 1e9,
        th
    );
    for (label, t) in [
        (
            "numbers only",
            tollgate_masking::tokens::Targets {
                card: Some(0),
                ssn: Some(1),
                aba: Some(2),
                phone: Some(3),
                ipv4: Some(4),
                ..Default::default()
            },
        ),
        (
            "ipv6 only",
            tollgate_masking::tokens::Targets {
                ipv6: Some(5),
                ..Default::default()
            },
        ),
        (
            "iban only",
            tollgate_masking::tokens::Targets {
                iban: Some(6),
                ..Default::default()
            },
        ),
    ] {
        let start = Instant::now();
        let mut n = 0usize;
        tollgate_masking::tokens::scan(&t, &big, 0, big.len(), |_, _| n += 1);
        println!(
            "  token scanner, {label}: {:.2} GB/s ({n} hits)",
            big.len() as f64 / start.elapsed().as_secs_f64() / 1e9
        );
    }
    let t = Instant::now();
    let found = engine.detect(&mut scratch, &big).unwrap();
    println!(
        "detect: {:.2} GB/s, {} found",
        big.len() as f64 / t.elapsed().as_secs_f64() / 1e9,
        found.len()
    );
    let t = Instant::now();
    let out = engine.mask(&mut scratch, &big, &mut counts).unwrap();
    let dt = t.elapsed().as_secs_f64();
    println!(
        "mask: {:.2} GB/s, {} bytes out, {} values",
        big.len() as f64 / dt / 1e9,
        out.len(),
        counts.iter().sum::<u32>()
    );
}
