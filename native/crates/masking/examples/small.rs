//! Per-call cost of masking a short value (a query parameter): `cargo run --release --example small`.
use std::time::Instant;
use tollgate_masking::{Engine, Style};

fn main() {
    let engine = Engine::with_defaults(Style::Full);
    let mut scratch = engine.new_scratch();
    let mut counts = vec![0; engine.len()];
    for input in [
        &b"42"[..],
        b"SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
    ] {
        let n = 200_000;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(engine.mask(&mut scratch, input, &mut counts).unwrap());
        }
        println!(
            "{} bytes: {:.2} µs per call",
            input.len(),
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
}
