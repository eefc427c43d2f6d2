//! Lex + parse throughput over a generated 50,000-line program.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

include!("support/program.rs");

fn bench_parse(c: &mut Criterion) {
    let source = program(50_000);
    assert!(mc_grammar::parse(&source).errors.is_empty());
    let mut group = c.benchmark_group("grammar");
    group.throughput(Throughput::Bytes(source.len() as u64));
    group.sample_size(10);
    group.bench_function("lex_50k_lines", |b| {
        b.iter(|| mc_grammar::lexer::lex(black_box(&source)).tokens.len())
    });
    group.bench_function("lex_and_parse_50k_lines", |b| {
        // Freeing the tree is not part of parsing.
        b.iter_with_large_drop(|| mc_grammar::parse(black_box(&source)))
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
