//! Runs one masking stage repeatedly on a corpus file, for `perf stat` (CPU time, not wall time,
//! is what to compare on a shared machine):
//! `CORPUS=file perf stat -e task-clock,cycles,instructions,branch-misses target/release/examples/tokbench tokens|detect|hs`
use tollgate_masking::{Engine, Style};

fn main() {
    let big = std::fs::read(std::env::var("CORPUS").expect("CORPUS=file")).unwrap();
    let stage = std::env::args().nth(1).unwrap_or_else(|| "tokens".into());
    let reps: usize = std::env::args()
        .nth(2)
        .map(|a| a.parse().unwrap())
        .unwrap_or(5);
    let t = std::time::Instant::now();
    let engine = Engine::with_defaults(Style::Full);
    eprintln!(
        "compile {:?}: {:?}",
        t.elapsed(),
        engine.dense_for_profile()
    );
    let mut scratch = engine.new_scratch();
    let mut targets = tollgate_masking::tokens::Targets::numbered();
    // OFF=ipv6,iban,...: leave scanner targets out, to see what each costs
    for off in std::env::var("OFF").unwrap_or_default().split(',') {
        match off {
            "card" => targets.card = None,
            "ssn" => targets.ssn = None,
            "aba" => targets.aba = None,
            "phone" => targets.phone = None,
            "ipv4" => targets.ipv4 = None,
            "ipv6" => targets.ipv6 = None,
            "iban" => targets.iban = None,
            "jwt" => targets.jwt = None,
            "bearer" => targets.bearer = None,
            "email" => targets.email = None,
            "" => {}
            other => panic!("unknown target {other}"),
        }
    }
    let mut n = 0usize;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        match stage.as_str() {
            "tokens" => tollgate_masking::tokens::scan(&targets, &big, 0, big.len(), |_, _| n += 1),
            "detect" => n += engine.detect(&mut scratch, &big).unwrap().len(),
            "hs" => engine.hs_hits_for_profile(&mut scratch, &big, |_| n += 1),
            other => panic!("unknown stage {other}"),
        }
    }
    let per = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "{stage}: {} bytes × {reps}, {n} results, {:.2} GB/s (wall)",
        big.len(),
        big.len() as f64 / per / 1e9
    );
}
