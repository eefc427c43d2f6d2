//! Cost linear in hosts through the real `mc` binary: on the standard
//! workload with persisted connections, a no-op plan of 24 test hosts
//! costs about three times the plan of 8 of them, not a fixed stall on top
//! once past some number of hosts (as when facts asked DNS and a resolver
//! dropping a burst of queries answered after its 5 s retry).

mod common;

use mc_testfleet::workload::write_standard;
use mc_testfleet::Fleet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn mc() -> Command {
    common::mc("fleet-scale-cli")
}

/// The fastest of `runs` no-op plans of `project`: the one least disturbed
/// by whatever else the machine does.
fn fastest_plan(project: &Path, ssh_config: &Path, runs: usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let started = Instant::now();
        let (code, out, err) = common::run(
            mc().args(["plan", "--detailed-exitcode", "--ssh-persist", "60"])
                .arg(project)
                .arg("--ssh-config")
                .arg(ssh_config),
        );
        let took = started.elapsed();
        assert_eq!(code, 0, "a converged fleet plans no change: {out}{err}");
        best = best.min(took);
    }
    best
}

#[test]
fn a_persisted_no_op_plan_of_24_hosts_costs_about_three_of_8() {
    let fleet = Fleet::start(24).unwrap();
    let names: Vec<&str> = fleet.hosts().iter().map(|h| h.name()).collect();
    let (all, eight) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_standard(all.path(), &names).unwrap();
    write_standard(eight.path(), &names[..8]).unwrap();

    // Converge every host and leave its master up for the plans.
    let (code, out, err) = common::run(
        mc().args(["apply", "--yes", "--ssh-persist", "60"])
            .arg(all.path())
            .arg("--ssh-config")
            .arg(fleet.ssh_config()),
    );
    assert_eq!(code, 0, "first apply: {out}{err}");
    fastest_plan(eight.path(), fleet.ssh_config(), 1);

    let small = fastest_plan(eight.path(), fleet.ssh_config(), 2);
    let large = fastest_plan(all.path(), fleet.ssh_config(), 2);
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    eprintln!("no-op plan: 8 hosts {small:?}, 24 hosts {large:?} ({ratio:.1}x)");
    // Linear is 3; twice that leaves room for a loaded machine, and a
    // multi-second stall on top of a plan of about a second exceeds it.
    assert!(
        ratio < 6.0,
        "24 hosts took {large:?}, {ratio:.1} times the {small:?} of 8 hosts"
    );
}
