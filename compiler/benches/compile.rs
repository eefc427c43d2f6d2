//! Compiler benchmarks on a generated project of 200 files, 10,000
//! resources and 20 hosts: cold `check`, re-check after editing one
//! resource's attribute, and the catalogs of every host.

use criterion::{criterion_group, criterion_main, Criterion};
use mc_compiler::Project;
use std::path::Path;
use std::sync::Arc;

#[path = "gen.rs"]
mod gen;

fn load() -> (Project, gen::Generated) {
    let mut g = gen::generate(200, 10_000, 20);
    let fs = std::mem::take(&mut g.fs);
    (Project::load(Arc::new(fs), Path::new(gen::ROOT)), g)
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("compiler");
    group.sample_size(10);

    group.bench_function("cold_check_200_files_10k_resources", |b| {
        b.iter_with_setup(
            || Arc::new(gen::generate(200, 10_000, 20).fs),
            |fs| {
                let p = Project::load(fs, Path::new(gen::ROOT));
                let d = p.check();
                assert!(d.is_empty());
            },
        )
    });

    let (mut p, g) = load();
    assert!(p.check().is_empty());
    let mut flip = false;
    group.bench_function("incremental_check_after_attribute_edit", |b| {
        b.iter(|| {
            flip = !flip;
            let mode = if flip { "0o600" } else { "0o644" };
            let text = g
                .edit_text
                .replacen("mode = 0o644", &format!("mode = {mode}"), 1);
            p.set_file_text(Path::new(&g.edit_path), text);
            let d = p.check_front_end();
            assert!(d.is_empty());
        })
    });
    group.bench_function("incremental_full_check_after_attribute_edit", |b| {
        b.iter(|| {
            flip = !flip;
            let mode = if flip { "0o600" } else { "0o644" };
            let text = g
                .edit_text
                .replacen("mode = 0o644", &format!("mode = {mode}"), 1);
            p.set_file_text(Path::new(&g.edit_path), text);
            let d = p.check();
            assert!(d.is_empty());
        })
    });

    let (p, _) = load();
    assert!(p.check().is_empty());
    let hosts = p.hosts().unwrap_or_default();
    group.bench_function("catalogs_of_all_20_hosts", |b| {
        b.iter(|| {
            let mut n = 0;
            for h in &hosts {
                let facts = Project::default_facts(h);
                n += p
                    .compile(&h.name, &facts)
                    .map(|c| c.resources.len())
                    .unwrap_or(0);
            }
            assert!(n > 0);
        })
    });
    group.finish();
}

criterion_group!(compiler, benches);
criterion_main!(compiler);
