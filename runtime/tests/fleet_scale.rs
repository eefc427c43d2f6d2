//! Cost grows with the fleet linearly: no stall past some number of hosts,
//! and nothing a host does when asked for facts waits on the network.

mod common;

use common::*;
use mc_ir::Value;
use mc_runtime::{Quiet, Runtime, Selection};
use mc_testfleet::Fleet;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A few directories and files per host: enough for a real probe batch.
fn small_workload(h: &mc_ir::HostInfo) -> (Vec<mc_ir::Resource>, Vec<mc_ir::Edge>) {
    let root = "/srv/mc-scale";
    let mut rs = vec![resource("directory", root, &[("mode", Value::Int(0o755))])];
    for i in 0..10 {
        rs.push(resource(
            "file",
            &format!("{root}/f{i}"),
            &[("content", s(&format!("{i} on {}\n", h.name)))],
        ));
    }
    (rs, vec![])
}

/// The fastest of `runs` no-op plans of `hosts`: the least disturbed by
/// whatever else the machine does.
async fn fastest_plan(rt: &Runtime, hosts: &[mc_ir::HostInfo], runs: usize) -> Duration {
    let source = TestSource::new(hosts.to_vec(), small_workload);
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let planned = rt
            .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
            .await
            .unwrap();
        let counts = planned.plan.counts();
        planned.close().await;
        assert_eq!(counts.errors, 0);
        assert_eq!(counts.changes(), 0, "the fleet is converged");
        eprintln!("{} hosts: {:?}", hosts.len(), t.elapsed());
        best = best.min(t.elapsed());
    }
    best
}

/// 24 hosts against 8, with connections persisted as `mc` keeps them: the
/// larger plan may cost about three times the smaller one, not a fixed
/// multi-second stall on top (facts once asked DNS, which a resolver that
/// rate-limits answered after its 5 s retry).
#[tokio::test(flavor = "multi_thread")]
async fn a_persisted_no_op_plan_of_24_hosts_costs_about_three_of_8() {
    let fleet = Fleet::start(24).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(dir.path(), Some(fleet.ssh_config()));
    rt.connect.ssh_persist = Duration::from_secs(60);
    rt.connect.control_dir = Some(dir.path().join("ssh"));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();

    // Converge every host and leave its master up.
    let source = TestSource::new(hosts.clone(), small_workload);
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let report = apply_now(&rt, &planned.plan.clone(), planned.sessions).await;
    assert!(report.ok(), "{report:?}");

    let eight = fastest_plan(&rt, &hosts[..8], 3).await;
    let all = fastest_plan(&rt, &hosts, 3).await;
    let ratio = all.as_secs_f64() / eight.as_secs_f64();
    eprintln!("no-op plan: 8 hosts {eight:?}, 24 hosts {all:?}");
    // Linear is 3; twice that leaves room for a loaded machine.
    assert!(
        ratio < 6.0,
        "24 hosts took {all:?}, {ratio:.1} times the {eight:?} of 8 hosts"
    );
    mc_runtime::transport::stop_persisted_masters(rt.connect.control_dir.as_deref()).await;
}

/// Facts never look the host up in DNS: a test host whose resolver is a
/// socket that counts queries and never answers still reports its facts,
/// the fully qualified name from `/etc/hosts` when listed there, and the
/// socket saw nothing.
#[tokio::test(flavor = "multi_thread")]
async fn facts_never_ask_dns() {
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    // The one address of the machine a test host reaches.
    let resolver = UdpSocket::bind((mc_testfleet::CONTROLLER_ADDRESS, 53)).unwrap();
    resolver.set_nonblocking(true).unwrap();
    host.write_file(
        "/etc/resolv.conf",
        format!(
            "nameserver {}\noptions timeout:1 attempts:1\n",
            host.address()
        )
        .as_bytes(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let facts_of_host = || async {
        let mut all = rt.facts(vec![ssh_host(host.name())], Arc::new(Quiet)).await;
        all.remove(0).1.unwrap()
    };

    host.write_file("/etc/hosts", b"127.0.0.1 localhost\n")
        .unwrap();
    let facts = facts_of_host().await;
    assert_eq!(facts["hostname"], "host1");
    assert_eq!(facts["fqdn"], "host1", "not in /etc/hosts: the hostname");
    let lo = &facts["interfaces"]["lo"]["addresses"];
    assert!(
        lo.as_array().unwrap().iter().any(|a| a == "127.0.0.1/8"),
        "{lo}"
    );

    host.write_file(
        "/etc/hosts",
        b"127.0.0.1 localhost\n10.1.2.3 host1.example.test host1\n",
    )
    .unwrap();
    assert_eq!(facts_of_host().await["fqdn"], "host1.example.test");

    let mut buf = [0u8; 512];
    assert!(
        resolver.recv_from(&mut buf).is_err(),
        "facts sent a DNS query"
    );
}
