//! Compiles the generated benchmark project once and prints timings and the
//! peak memory (VmHWM). Run `cargo run --release -p mc-compiler --example
//! bench_project` or under `/usr/bin/time -v`.

use mc_compiler::Project;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[path = "../benches/gen.rs"]
mod gen;

fn main() {
    let mut g = gen::generate(200, 10_000, 20);
    let fs = std::mem::take(&mut g.fs);
    let t = Instant::now();
    let mut p = Project::load(Arc::new(fs), Path::new(gen::ROOT));
    let d = p.check();
    println!("cold check: {:?} ({} diagnostics)", t.elapsed(), d.len());

    let t = Instant::now();
    let hosts = p.hosts().unwrap_or_default();
    let mut total = 0;
    for h in &hosts {
        let facts = Project::default_facts(h);
        total += p
            .compile(&h.name, &facts)
            .map(|c| c.resources.len())
            .unwrap_or(0);
    }
    println!(
        "catalogs of {} hosts: {:?} ({total} resources)",
        hosts.len(),
        t.elapsed()
    );

    let text = g.edit_text.replacen("mode = 0o644", "mode = 0o600", 1);
    let t = Instant::now();
    p.set_file_text(Path::new(&g.edit_path), text);
    let d = p.check_front_end();
    println!(
        "incremental front-end check: {:?} ({} diagnostics)",
        t.elapsed(),
        d.len()
    );

    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status
        .lines()
        .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS"))
    {
        println!("{line}");
    }
}
