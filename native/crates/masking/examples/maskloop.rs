//! Times whole-buffer `detect`, `mask` or a `MaskStream` in 64 KiB chunks (one output buffer
//! reused, as a server writing each chunk out would) on a corpus file; prints the median of N
//! calls: `CORPUS=file MODE=detect|mask|stream N=10 target/release/examples/maskloop`
//! (`OUT=file` also writes the masked corpus; `WITHOUT=jwt,bearer_token` leaves entities out of
//! the default set, to see what they cost).
use std::sync::Arc;
use std::time::Instant;
use tollgate_masking::{Engine, EntityConfig, MaskStream, Style};

fn main() {
    let big = std::fs::read(std::env::var("CORPUS").expect("CORPUS=file")).unwrap();
    let without = std::env::var("WITHOUT").unwrap_or_default();
    let entities = tollgate_masking::entities::builtin_names()
        .into_iter()
        .filter(|n| !without.split(',').any(|w| w == *n))
        .map(|n| EntityConfig {
            definition: tollgate_masking::entities::builtin(n).unwrap(),
            style: Style::Full,
        })
        .collect();
    let engine = Arc::new(Engine::new(entities, None).unwrap());
    let mut scratch = engine.new_scratch();
    let mut counts = vec![0; engine.len()];
    let n: usize = std::env::var("N").map_or(10, |s| s.parse().expect("N=number"));
    let mode = std::env::var("MODE").unwrap_or_else(|_| "mask".into());
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        match mode.as_str() {
            "detect" => {
                std::hint::black_box(engine.detect(&mut scratch, &big).unwrap());
            }
            "mask" => {
                std::hint::black_box(engine.mask(&mut scratch, &big, &mut counts).unwrap());
            }
            "stream" => {
                let mut stream = MaskStream::new(Arc::clone(&engine)).unwrap();
                let mut out = Vec::new();
                for chunk in big.chunks(64 * 1024) {
                    out.clear();
                    stream.write(chunk, &mut out).unwrap();
                    std::hint::black_box(&out);
                }
                stream.finish(&mut out).unwrap();
            }
            other => panic!("unknown MODE {other} (detect, mask, stream)"),
        }
        times.push(t.elapsed().as_secs_f64());
    }
    if let Ok(path) = std::env::var("OUT") {
        // the masked output, to compare builds byte for byte
        std::fs::write(path, engine.mask(&mut scratch, &big, &mut counts).unwrap()).unwrap();
    }
    times.sort_by(f64::total_cmp);
    let median = times[n / 2];
    println!(
        "{mode}: median {:.2} GB/s ({:.1} ms)",
        big.len() as f64 / median / 1e9,
        median * 1e3
    );
}
