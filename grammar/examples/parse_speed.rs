//! Lex + parse throughput of the benchmark program measured in CPU time of
//! this thread, which stays meaningful on a busy machine (criterion measures
//! wall time). Run with `cargo run --release -p mc-grammar --example parse_speed`.

include!("../benches/support/program.rs");

/// User + system CPU time of the current thread, in seconds.
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let source = program(50_000);
    let rounds = 40;
    let mut cpu = 0.0;
    let mut wall = std::time::Duration::ZERO;
    let mut items = 0;
    for _ in 0..rounds {
        let start = thread_cpu_seconds();
        let started = std::time::Instant::now();
        let parsed = mc_grammar::parse(std::hint::black_box(&source));
        wall += started.elapsed();
        cpu += thread_cpu_seconds() - start;
        items += parsed.module.items.len();
        // Deallocation is not part of parsing (as in the benchmark).
        drop(parsed);
    }
    let bytes = (source.len() * rounds) as f64;
    println!(
        "{} bytes x {rounds}: {:.1} MB/s CPU time, {:.1} MB/s wall ({items} items)",
        source.len(),
        bytes / cpu / 1e6,
        bytes / wall.as_secs_f64() / 1e6
    );
}
