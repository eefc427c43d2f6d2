//! Formatter throughput on a generated project file (target: 10 MB/s).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fmt::Write as _;
use std::hint::black_box;

/// A file of `roles` roles, each declaring a few resources, with comments,
/// records, lists, calls and operators: about 600 bytes per role.
fn generated(roles: usize) -> String {
    let mut s = String::from("// Generated benchmark input.\nimport \"lib/common.mc\"\n\n");
    for i in 0..roles {
        let _ = write!(
            s,
            r#"/// Role number {i}.
role r{i}(port: Int = {i}, names: [String] = ["a", "b"]) {{
  let conf = file "/etc/app{i}/app.conf" {{
    content = "port=${{port}}\n" // inline
    mode = 0o644
    owner = if port > 1024 {{ "app" }} else {{ "root" }}
  }}
  for n in names {{
    user n {{ shell = "/bin/bash", groups = ["sudo", "adm"] }}
  }}
  service "app{i}" {{
    state = "running"
    notify = [conf]
    timeout = 30s
  }}
  common.base(admins = names, vars = {{ port = port + 1, tier = "prod" }})
}}

"#
        );
    }
    s
}

fn bench(c: &mut Criterion) {
    let src = generated(2_000);
    let mut group = c.benchmark_group("fmt");
    group.throughput(Throughput::Bytes(src.len() as u64));
    group.sample_size(10);
    group.bench_function("format_generated", |b| {
        b.iter(|| mc_fmt::format(black_box(&src), mc_fmt::DEFAULT_WIDTH))
    });
    // The parser's share of the time above.
    group.bench_function("parse_only", |b| {
        b.iter(|| mc_grammar::parse(black_box(&src)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
