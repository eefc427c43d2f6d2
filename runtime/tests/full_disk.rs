//! A full filesystem on one host of a fleet, through plan and apply: the
//! resource that does not fit fails with the reason in words, everything
//! else applies, the state store records both, and the next run converges.

mod common;

use common::*;
use mc_ir::Value;
use mc_runtime::state::ResourceStatus;
use mc_runtime::{ApplyOptions, Quiet, Selection};
use std::sync::Arc;

const SMALL: &str = "/srv/mc-fd-small";

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_on_one_host_fails_one_resource_and_the_next_run_converges() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let (full, roomy) = (fleet.host(0), fleet.host(1));
    let old = "old\n".repeat(1000);
    for h in [full, roomy] {
        h.exec_ok(&format!("mkdir -p {SMALL}")).unwrap();
    }
    // Only the first host's directory is a small, full filesystem.
    full.exec_ok(&format!(
        "mount -t tmpfs -o size=64k tmpfs {SMALL} && mkdir {SMALL}/conf"
    ))
    .unwrap();
    for h in [full, roomy] {
        h.exec_ok(&format!("mkdir -p {SMALL}/conf")).unwrap();
        h.write_file(&format!("{SMALL}/conf/app.conf"), old.as_bytes())
            .unwrap();
    }
    // dd ends with ENOSPC once the disk is full: that is the goal.
    let _ = full.exec(&format!("dd if=/dev/zero of={SMALL}/filler bs=4k"));

    let new = "new\n".repeat(4000);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts = vec![ssh_host(full.name()), ssh_host(roomy.name())];
    let content = new.clone();
    let source = TestSource::new(hosts, move |_| {
        let conf = resource(
            "file",
            &format!("{SMALL}/conf/app.conf"),
            &[("content", s(&content))],
        );
        let other = resource(
            "file",
            "/srv/mc-fd-other",
            &[("content", s("elsewhere\n")), ("mode", Value::Int(0o644))],
        );
        (vec![conf, other], vec![])
    });
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };

    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let report = rt
        .apply(
            &planned.plan.clone(),
            planned.sessions,
            &opts,
            Arc::new(Quiet),
        )
        .await
        .unwrap();
    assert!(!report.ok());
    let by_host = |name: &str| {
        report
            .hosts
            .iter()
            .find(|h| h.host == name)
            .cloned()
            .expect("host in report")
    };
    let (f, r) = (by_host(full.name()), by_host(roomy.name()));
    assert_eq!((f.failed, f.changed), (1, 1), "{f:?}");
    assert_eq!((r.failed, r.changed), (0, 2), "{r:?}");

    let results = rt.store.resource_results(report.run_id).unwrap();
    let failed: Vec<_> = results
        .iter()
        .filter(|x| x.status == ResourceStatus::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    assert_eq!(failed[0].host, full.name());
    let message = failed[0].message.clone().unwrap_or_default();
    assert!(message.contains("No space left on device"), "{message}");
    // The full host keeps its old file, whole, and nothing beside it.
    assert_eq!(
        full.read_file(&format!("{SMALL}/conf/app.conf")).unwrap(),
        old.as_bytes()
    );
    assert_eq!(
        full.exec_ok(&format!("ls -A {SMALL}/conf")).unwrap(),
        "app.conf\n"
    );
    assert_eq!(
        roomy.read_file(&format!("{SMALL}/conf/app.conf")).unwrap(),
        new.as_bytes()
    );
    // Only what applied is recorded as converged.
    let recorded: Vec<String> = rt
        .store
        .resource_states(full.name())
        .unwrap()
        .into_iter()
        .map(|s| s.resource)
        .collect();
    assert_eq!(recorded, ["file[/srv/mc-fd-other]"], "{recorded:?}");

    // Space freed: the next run changes exactly the one file, then nothing.
    full.exec_ok(&format!("rm {SMALL}/filler")).unwrap();
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(planned.plan.counts().changes(), 1);
    let report = rt
        .apply(
            &planned.plan.clone(),
            planned.sessions,
            &opts,
            Arc::new(Quiet),
        )
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 1);
    assert_eq!(
        full.read_file(&format!("{SMALL}/conf/app.conf")).unwrap(),
        new.as_bytes()
    );
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(planned.plan.counts().changes(), 0);
    full.exec_ok(&format!("umount {SMALL}")).unwrap();
}
