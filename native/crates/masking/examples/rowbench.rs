//! Per-value masking cost on a table dump: `CORPUS=rows.txt target/release/examples/rowbench
//! mask|rows [reps] [out-file]`. The corpus is COPY text (tab-separated columns, one row per
//! line); `mask` masks it as one buffer, `rows` builds one DataRow per line (every column
//! scanned) and masks them in 64 KiB chunks of whole messages, as the gateway's
//! `maskDataRows` sees a bulk read. STYLE=full|last4|format|hash (fixed key); an out-file gets
//! the output of the last rep, for comparing builds byte for byte.
use tollgate_masking::{ColumnAction, Engine, EntityConfig, RowPlan, Style};

fn main() {
    let big = std::fs::read(std::env::var("CORPUS").expect("CORPUS=file")).unwrap();
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "mask".into());
    let reps: usize = args.next().map(|a| a.parse().unwrap()).unwrap_or(5);
    let out_file = args.next();
    let style: Style = std::env::var("STYLE")
        .unwrap_or_else(|_| "full".into())
        .parse()
        .unwrap();
    let entities = tollgate_masking::builtin_names()
        .into_iter()
        .map(|n| EntityConfig {
            definition: tollgate_masking::builtin(n).unwrap(),
            style,
        })
        .collect();
    let engine = Engine::new(entities, Some(b"rowbench key".to_vec())).unwrap();
    let mut scratch = engine.new_scratch();
    let mut counts = vec![0u32; engine.len()];
    // DataRow chunks: one message per line, chunks of at most 64 KiB of whole messages
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    if mode == "rows" {
        let mut chunk = Vec::new();
        for line in big.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let fields: Vec<Option<&[u8]>> = line.split(|&b| b == b'\t').map(Some).collect();
            let row = tollgate_framing::build::data_row(&fields);
            if chunk.len() + row.len() > 64 * 1024 && !chunk.is_empty() {
                chunks.push(std::mem::take(&mut chunk));
            }
            chunk.extend_from_slice(&row);
        }
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
    }
    let plan = RowPlan {
        columns: Vec::new(),
        rest: ColumnAction::Scan(engine.all_entities()),
    };
    let bytes: usize = if mode == "rows" {
        chunks.iter().map(Vec::len).sum()
    } else {
        big.len()
    };
    let mut last = Vec::new();
    let t = std::time::Instant::now();
    for _ in 0..reps {
        last.clear();
        match mode.as_str() {
            "mask" => last = engine.mask(&mut scratch, &big, &mut counts).unwrap(),
            "rows" => {
                for c in &chunks {
                    let out = engine
                        .mask_data_rows(&mut scratch, c, &plan, &mut counts)
                        .unwrap();
                    if out_file.is_some() {
                        last.extend_from_slice(&out);
                    }
                }
            }
            other => panic!("unknown mode {other}"),
        }
    }
    let per = t.elapsed().as_secs_f64() / reps as f64;
    let values = counts.iter().map(|&c| c as u64).sum::<u64>() / reps as u64;
    println!(
        "{mode}: {bytes} bytes × {reps}, {values} values, {:.2} GB/s, {:.1} ns/value (wall)",
        bytes as f64 / per / 1e9,
        per * 1e9 / values.max(1) as f64
    );
    if let Some(path) = out_file {
        std::fs::write(path, &last).unwrap();
    }
}
