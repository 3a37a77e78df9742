//! Native framing throughput without the N-API boundary, on DataRow-heavy traffic cut every
//! 64 KiB as TCP reads cut it: `cargo run --release --example framebench -p tollgate-framing`.
use std::time::Instant;

fn main() {
    let mut stream = Vec::new();
    let mut i = 0u64;
    while stream.len() < 64 << 20 {
        let cols = [
            i.to_string(),
            format!("user{i}@example.com"),
            "2024-05-06 12:30:45".to_string(),
            "active".to_string(),
        ];
        let body_len = 2 + cols.iter().map(|c| 4 + c.len()).sum::<usize>();
        stream.push(b'D');
        stream.extend_from_slice(&((body_len + 4) as i32).to_be_bytes());
        stream.extend_from_slice(&(cols.len() as i16).to_be_bytes());
        for c in &cols {
            stream.extend_from_slice(&(c.len() as i32).to_be_bytes());
            stream.extend_from_slice(c.as_bytes());
        }
        i += 1;
    }
    let mut frames = Vec::with_capacity(4096);
    let mut best = f64::MAX;
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let mut pending: Vec<u8> = Vec::new();
        count = 0;
        for chunk in stream.chunks(64 * 1024) {
            let buf: &[u8] = if pending.is_empty() {
                chunk
            } else {
                pending.extend_from_slice(chunk);
                &pending
            };
            frames.clear();
            let scan = tollgate_framing::scan(buf, 1 << 20, false, &mut frames).unwrap();
            count += frames.len();
            let rest = buf[scan.consumed..].to_vec();
            pending = rest;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "native framing: {:.2} GB/s, {:.1} M messages/s ({} messages of {} MiB)",
        stream.len() as f64 / best / 1e9,
        count as f64 / best / 1e6,
        count,
        stream.len() >> 20
    );
}
