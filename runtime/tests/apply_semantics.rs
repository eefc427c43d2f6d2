//! Apply semantics on real test hosts: source order, skipping exactly the
//! dependents of a failure, notifications inside one request, retries with
//! `until`, and stored command output.

mod common;

use common::*;
use mc_ir::{EdgeKind, Value};
use mc_runtime::Quiet;
use mc_runtime::Selection;
use std::sync::Arc;

async fn plan_and_apply_now(
    rt: &mc_runtime::Runtime,
    source: Arc<TestSource>,
) -> mc_runtime::ApplyReport {
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    apply_now(rt, &plan, planned.sessions).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_declared_after_a_directory_runs_after_it_without_an_edge() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let root = resource("directory", "/srv/mc-order", &[]);
        let sub = resource("directory", "/srv/mc-order/files", &[]);
        let file = resource("file", "/srv/mc-order/files/a", &[("content", s("a\n"))]);
        // No edge: only source order puts it after the directory and file.
        let cmd = resource(
            "command",
            "sums",
            &[
                (
                    "run",
                    s("cd /srv/mc-order/files && sha256sum a > /srv/mc-order/sums"),
                ),
                ("creates", s("/srv/mc-order/sums")),
            ],
        );
        let edges = vec![
            edge(&root, &sub, EdgeKind::Auto),
            edge(&sub, &file, EdgeKind::Auto),
        ];
        (vec![root, sub, file, cmd], edges)
    });
    let report = plan_and_apply_now(&rt, source.clone()).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 4);
    let sums = String::from_utf8(host.read_file("/srv/mc-order/sums").unwrap()).unwrap();
    assert!(sums.ends_with("  a\n"), "{sums}");

    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(planned.plan.counts().changes(), 0);
    planned.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_the_middle_skips_exactly_its_dependents() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(1);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let first = resource("file", "/srv/mc-mid/first", &[("content", s("1\n"))]);
        let bad = resource(
            "command",
            "breaks",
            &[("run", s("echo broken >&2; exit 4"))],
        );
        let dep = resource("file", "/srv/mc-mid/dep", &[("content", s("d\n"))]);
        let dep_of_dep = resource("file", "/srv/mc-mid/dep2", &[("content", s("d2\n"))]);
        let handler = resource(
            "command",
            "handler",
            &[
                ("run", s("echo ran >> /srv/mc-mid/handled")),
                ("refresh_only", Value::Bool(true)),
            ],
        );
        let independent = resource("file", "/srv/mc-mid/last", &[("content", s("l\n"))]);
        let edges = vec![
            edge(&bad, &dep, EdgeKind::Requires),
            edge(&dep, &dep_of_dep, EdgeKind::Requires),
            edge(&bad, &handler, EdgeKind::Notify),
        ];
        (
            vec![first, bad, dep, dep_of_dep, handler, independent],
            edges,
        )
    });
    host.exec_ok("mkdir -p /srv/mc-mid").unwrap();
    let report = plan_and_apply_now(&rt, source).await;
    let h = &report.hosts[0];
    assert_eq!(h.status, "failed");
    assert_eq!((h.changed, h.failed, h.skipped), (2, 1, 3), "{h:?}");
    let results = rt.store.resource_results(report.run_id).unwrap();
    let status = |id: &str| {
        results
            .iter()
            .find(|r| r.resource == id)
            .map(|r| (r.status.clone(), r.message.clone().unwrap_or_default()))
            .unwrap()
    };
    assert_eq!(status("file[/srv/mc-mid/first]").0, "changed");
    assert_eq!(status("command[breaks]").0, "failed");
    let (st, why) = status("file[/srv/mc-mid/dep]");
    assert_eq!(st, "skipped");
    assert!(why.contains("command[breaks]"), "{why}");
    let (st, why) = status("file[/srv/mc-mid/dep2]");
    assert_eq!(st, "skipped");
    assert!(why.contains("file[/srv/mc-mid/dep]"), "{why}");
    assert_eq!(status("command[handler]").0, "skipped");
    assert_eq!(status("file[/srv/mc-mid/last]").0, "changed");
    assert!(host.path_exists("/srv/mc-mid/first").unwrap());
    assert!(host.path_exists("/srv/mc-mid/last").unwrap());
    assert!(!host.path_exists("/srv/mc-mid/dep").unwrap());
    assert!(!host.path_exists("/srv/mc-mid/dep2").unwrap());
    assert!(!host.path_exists("/srv/mc-mid/handled").unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notifier_and_its_handler_in_one_request_refresh_once() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let handler = resource(
            "command",
            "reload",
            &[
                ("run", s("echo reload >> /srv/mc-notify1/reloads")),
                ("refresh_only", Value::Bool(true)),
            ],
        );
        let a = resource("file", "/srv/mc-notify1/a", &[("content", s("a\n"))]);
        let b = resource("file", "/srv/mc-notify1/b", &[("content", s("b\n"))]);
        let edges = vec![
            edge(&a, &handler, EdgeKind::Notify),
            edge(&b, &handler, EdgeKind::Notify),
        ];
        (vec![handler, a, b], edges)
    });
    host.exec_ok("mkdir -p /srv/mc-notify1").unwrap();
    let report = plan_and_apply_now(&rt, source.clone()).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        host.read_file("/srv/mc-notify1/reloads").unwrap(),
        b"reload\n"
    );
    assert!(rt
        .store
        .pending_notifications(host.name())
        .unwrap()
        .is_empty());
    // Nothing changed: the handler is not run again.
    let report = plan_and_apply_now(&rt, source).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 0);
    assert_eq!(
        host.read_file("/srv/mc-notify1/reloads").unwrap(),
        b"reload\n"
    );
}
