//! Fleet benchmark: 10 real sshd test hosts × 75 resources (files,
//! templated files, users, directories, lines, guarded commands).
//!
//! Measures the first apply (runner upload included), the plan of a
//! converged fleet, the no-op re-apply (plan + apply with nothing to do),
//! SSH connections per host per run (from the sshd logs), `mc drift` over
//! the converged fleet and with one file edited per host, and this
//! process's peak memory. Run with `cargo bench -p mc-runtime --bench fleet`
//! (`MC_BENCH_HOSTS` changes the host count).

use mc_ir::{Catalog, CATALOG_SCHEMA};
use mc_ir::{Edge, EdgeKind, HostInfo, Resource, ResourceId, Transport, Value};
use mc_runtime::{
    ApplyOptions, CatalogSource, ConnectOptions, Quiet, Runners, Runtime, Selection, StateStore,
};
use std::sync::Arc;
use std::time::Instant;

struct BenchSource {
    hosts: Vec<HostInfo>,
}

fn res(type_name: &str, title: &str, attrs: Vec<(&str, Value)>) -> Resource {
    Resource::with_attrs(type_name, title, attrs)
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// 75 resources: 10 directories, 25 files, 10 templated files, 5 users,
/// 10 lines, 15 guarded commands.
fn catalog_resources(host: &HostInfo) -> (Vec<Resource>, Vec<Edge>) {
    let mut rs = Vec::new();
    let mut edges = Vec::new();
    let root = "/srv/bench";
    let top = res("directory", root, vec![("mode", Value::Int(0o755))]);
    rs.push(top.clone());
    for d in 0..9 {
        let dir = res(
            "directory",
            &format!("{root}/d{d}"),
            vec![("mode", Value::Int(0o750))],
        );
        edges.push(Edge {
            from: top.id.clone(),
            to: dir.id.clone(),
            kind: EdgeKind::Auto,
            action: None,
        });
        rs.push(dir);
    }
    for f in 0..25 {
        let d = f % 9;
        rs.push(res(
            "file",
            &format!("{root}/d{d}/file{f}.conf"),
            vec![
                (
                    "content",
                    s(&format!("# file {f} on {}\nkey{f} = value{f}\n", host.name)),
                ),
                ("mode", Value::Int(0o644)),
            ],
        ));
        edges.push(Edge {
            from: ResourceId::new("directory", &format!("{root}/d{d}")),
            to: ResourceId::new("file", &format!("{root}/d{d}/file{f}.conf")),
            kind: EdgeKind::Auto,
            action: None,
        });
    }
    for t in 0..10 {
        // What `template(...)` renders at compile time: a larger body.
        let mut body = format!("# rendered for {} ({})\n", host.name, host.address);
        for i in 0..60 {
            body.push_str(&format!("upstream_{t}_{i} = 10.0.{t}.{i}:8080\n"));
        }
        rs.push(res(
            "file",
            &format!("{root}/tmpl{t}.conf"),
            vec![("content", s(&body)), ("mode", Value::Int(0o640))],
        ));
    }
    for u in 0..5 {
        rs.push(res(
            "user",
            &format!("bench{u}"),
            vec![("shell", s("/bin/sh")), ("manage_home", Value::Bool(false))],
        ));
    }
    for l in 0..10 {
        rs.push(res(
            "line",
            &format!("bench line {l}"),
            vec![
                ("path", s(&format!("{root}/lines.conf"))),
                ("line", s(&format!("option_{l} = on"))),
                ("match", s(&format!("^option_{l} ="))),
            ],
        ));
    }
    for c in 0..15 {
        rs.push(res(
            "command",
            &format!("bench step {c}"),
            vec![
                ("run", s(&format!("echo {c} > {root}/step{c}.done"))),
                ("creates", s(&format!("{root}/step{c}.done"))),
            ],
        ));
    }
    assert_eq!(rs.len(), 75);
    (rs, edges)
}

impl CatalogSource for BenchSource {
    fn hosts(&self) -> Result<Vec<HostInfo>, mc_runtime::SourceError> {
        Ok(self.hosts.clone())
    }
    fn compile(
        &self,
        host: &HostInfo,
        _facts: &serde_json::Value,
    ) -> Result<Catalog, mc_runtime::SourceError> {
        let (resources, edges) = catalog_resources(host);
        Ok(Catalog {
            schema: CATALOG_SCHEMA,
            host: host.clone(),
            resources,
            edges,
        })
    }
    fn source_digest(&self) -> String {
        "bench".into()
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let n: usize = std::env::var("MC_BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let runner = Runners::locate().expect("mc-runner");
    for r in runner.all() {
        eprintln!("runner: {} ({} bytes)", r.arch, r.bytes.len());
    }

    let fleet = mc_testfleet::Fleet::start(n).expect("fleet");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(StateStore::open(&dir.path().join("state.db")).expect("store"));
    let mut opts = ConnectOptions::new(runner);
    opts.ssh_config = Some(fleet.ssh_config().to_path_buf());
    // As `mc` by default: masters kept 60 s (`MC_BENCH_SSH_PERSIST` seconds).
    let persist: u64 = std::env::var("MC_BENCH_SSH_PERSIST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    opts.ssh_persist = std::time::Duration::from_secs(persist);
    let control_dir = dir.path().join("ssh");
    opts.control_dir = Some(control_dir.clone());
    println!("ssh masters kept {persist} s after each run");
    let rt = Runtime::new(store, opts);
    let hosts: Vec<HostInfo> = fleet
        .hosts()
        .iter()
        .map(|h| HostInfo {
            name: h.name().into(),
            address: h.name().into(),
            user: None,
            port: None,
            transport: Transport::Ssh,
            r#become: false,
            groups: vec![],
            ssh_key: None,
        })
        .collect();
    let source: Arc<dyn CatalogSource> = Arc::new(BenchSource { hosts });
    let sel = Selection::default();
    let no_stale = ApplyOptions {
        check_stale: false,
        ..ApplyOptions::default()
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");

    let sessions = |fleet: &mc_testfleet::Fleet| -> Vec<usize> {
        fleet.hosts().iter().map(|h| h.count_sessions()).collect()
    };
    let per_host = |before: &[usize], after: &[usize]| -> String {
        let d: Vec<usize> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        format!(
            "min {} max {}",
            d.iter().min().unwrap_or(&0),
            d.iter().max().unwrap_or(&0)
        )
    };

    let b0 = sessions(&fleet);
    let t = Instant::now();
    let report = tokio.block_on(async {
        let p = rt
            .plan(source.clone(), &sel, Arc::new(Quiet))
            .await
            .expect("plan");
        let plan = p.plan.clone();
        rt.apply(&plan, p.sessions, &no_stale, Arc::new(Quiet))
            .await
            .expect("apply")
    });
    let first = t.elapsed();
    assert!(report.ok(), "{report:?}");
    let b1 = sessions(&fleet);
    println!(
        "first apply ({n} hosts x 75 resources): {:.3} s, {} changed, ssh connections per host {}",
        first.as_secs_f64(),
        report.changed(),
        per_host(&b0, &b1)
    );

    let t = Instant::now();
    let changes = tokio.block_on(async {
        let p = rt
            .plan(source.clone(), &sel, Arc::new(Quiet))
            .await
            .expect("plan");
        let c = p.plan.counts().changes();
        p.close().await;
        c
    });
    let plan_time = t.elapsed();
    let b2 = sessions(&fleet);
    println!(
        "plan (converged): {:.3} s, {changes} changes, ssh connections per host {}",
        plan_time.as_secs_f64(),
        per_host(&b1, &b2)
    );

    let mut noop = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let changed = tokio.block_on(async {
            let p = rt
                .plan(source.clone(), &sel, Arc::new(Quiet))
                .await
                .expect("plan");
            let plan = p.plan.clone();
            let r = rt
                .apply(&plan, p.sessions, &no_stale, Arc::new(Quiet))
                .await
                .expect("apply");
            r.changed()
        });
        noop.push((t.elapsed(), changed));
    }
    let b3 = sessions(&fleet);
    for (d, changed) in &noop {
        println!(
            "no-op re-apply: {:.3} s, {changed} changed",
            d.as_secs_f64()
        );
    }
    println!(
        "ssh connections per host over 3 no-op runs: {}",
        per_host(&b2, &b3)
    );

    // Drift over the converged fleet, then with one file edited by hand per host.
    let mut drift_times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let drifted = tokio
            .block_on(rt.drift(source.clone(), &sel, Arc::new(mc_runtime::Quiet)))
            .expect("drift")
            .drifted();
        drift_times.push(t.elapsed());
        assert_eq!(drifted, 0, "a converged fleet has no drift");
    }
    let b4 = sessions(&fleet);
    for d in &drift_times {
        println!(
            "drift (no drift, {n} hosts x 75 resources): {:.3} s",
            d.as_secs_f64()
        );
    }
    println!(
        "ssh connections per host over 3 drift runs: {}",
        per_host(&b3, &b4)
    );
    for h in fleet.hosts() {
        h.write_file("/srv/bench/d0/file0.conf", b"edited by hand\n")
            .expect("edit");
    }
    let t = Instant::now();
    let report = tokio
        .block_on(rt.drift(source.clone(), &sel, Arc::new(mc_runtime::Quiet)))
        .expect("drift");
    println!(
        "drift (one file edited per host): {:.3} s, {} drifted",
        t.elapsed().as_secs_f64(),
        report.drifted()
    );
    assert_eq!(report.drifted(), n);
    println!("peak memory (VmHWM): {} KiB", peak_rss_kib());
    tokio.block_on(mc_runtime::transport::stop_persisted_masters(Some(
        &control_dir,
    )));
}
