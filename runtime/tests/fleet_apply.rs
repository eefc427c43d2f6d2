//! Plan and apply against real sshd test hosts with the real runner.

mod common;

use common::*;
use mc_ir::plan::Action;
use mc_ir::{EdgeKind, Value};
use mc_runtime::state::{HostStatus, ResourceStatus, RunStatus};
use mc_runtime::{ApplyOptions, Quiet, RuntimeError, Selection, StalePolicy};
use mc_testfleet::Fleet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn files_for(root: &str) -> impl Fn(&mc_ir::HostInfo) -> (Vec<mc_ir::Resource>, Vec<mc_ir::Edge>) {
    let root = root.to_string();
    move |h| {
        let dir = resource("directory", &root, &[("mode", Value::Int(0o755))]);
        let motd = resource(
            "file",
            &format!("{root}/motd"),
            &[
                ("content", s(&format!("hello {}\n", h.name))),
                ("mode", Value::Int(0o644)),
            ],
        );
        let edges = vec![edge(&dir, &motd, EdgeKind::Auto)];
        (vec![dir, motd], edges)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_and_a_second_apply_changes_nothing_over_one_session() {
    let fleet = Fleet::start(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let source = TestSource::new(hosts, files_for("/srv/mc-a"));
    let before: Vec<usize> = fleet.hosts().iter().map(|h| h.count_sessions()).collect();

    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    assert_eq!(plan.counts().create, 4, "{}", plan.to_json_pretty());
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 4);
    assert!(
        report.uploads.values().all(|u| *u),
        "first run uploads the runner"
    );
    for h in fleet.hosts() {
        let text = h.read_file("/srv/mc-a/motd").unwrap();
        assert_eq!(text, format!("hello {}\n", h.name()).as_bytes());
        assert!(h
            .exec_ok("ls /var/lib/mc/runner/")
            .unwrap()
            .contains("mc-runner-"));
    }
    // Plan + apply shared one SSH connection per host.
    for (h, b) in fleet.hosts().iter().zip(&before) {
        assert_eq!(h.count_sessions() - b, 1, "{}", h.sshd_log());
    }

    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(planned.plan.counts().changes(), 0);
    assert_eq!(planned.plan.counts().unchanged, 4);
    let report = rt
        .apply(
            &planned.plan.clone(),
            planned.sessions,
            &opts,
            Arc::new(Quiet),
        )
        .await
        .unwrap();
    assert!(report.ok());
    assert_eq!(report.changed(), 0);
    assert!(
        report.uploads.values().all(|u| !u),
        "the cached runner is reused"
    );
    for h in fleet.hosts() {
        assert_eq!(rt.store.resource_states(h.name()).unwrap().len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_file_is_refused_whole_when_stale_with_abort_and_when_applied_twice() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let source = TestSource::new(hosts, files_for("/srv/mc-stale"));

    // Plan, then someone edits the file by hand on host 2: with `--stale
    // abort`, the whole plan is refused and nothing applied.
    let first = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = first.plan.clone();
    first.close().await;
    fleet
        .host(1)
        .exec_ok("mkdir -p /srv/mc-stale && echo edited > /srv/mc-stale/motd")
        .unwrap();
    let abort = ApplyOptions {
        stale: StalePolicy::Abort,
        ..Default::default()
    };
    let err = rt
        .apply(&plan, Default::default(), &abort, Arc::new(Quiet))
        .await
        .unwrap_err();
    match &err {
        RuntimeError::Stale(items) => {
            assert!(items.iter().any(
                |(h, r)| h == fleet.host(1).name() && r.as_str() == "file[/srv/mc-stale/motd]"
            ));
        }
        other => panic!("expected a stale plan, got {other}"),
    }
    assert!(err.to_string().contains(fleet.host(1).name()));
    assert!(
        !fleet.host(0).path_exists("/srv/mc-stale/motd").unwrap(),
        "nothing applied"
    );
    assert!(matches!(
        rt.apply(
            &plan,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet)
        )
        .await,
        Err(RuntimeError::PlanStale)
    ));

    // A fresh plan applies once, and only once.
    let second = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = second.plan.clone();
    second.close().await;
    let report = rt
        .apply(
            &plan,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        fleet.host(1).read_file("/srv/mc-stale/motd").unwrap(),
        b"hello host2\n"
    );
    match rt
        .apply(
            &plan,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
    {
        Err(RuntimeError::PlanAlreadyApplied(run)) => assert_eq!(run, report.run_id),
        other => panic!(
            "expected already applied, got {:?}",
            other.map(|r| r.run_id)
        ),
    }

    let kinds: Vec<String> = rt
        .store
        .audit_entries(None)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "plan",
        "apply.refused_stale",
        "apply.refused",
        "apply.start",
        "apply.finish",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }

    // An edited plan file is refused.
    let mut tampered = plan.clone();
    tampered.hosts[0].resources[0].observed_digest = "0".repeat(64);
    assert!(matches!(
        rt.apply(
            &tampered,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet)
        )
        .await,
        Err(RuntimeError::PlanTampered)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_down_host_fails_alone_and_a_rerun_converges() {
    let fleet = Fleet::start(3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let source = TestSource::new(hosts, files_for("/srv/mc-down"));
    let down = fleet.host(1);
    down.kill_sshd().unwrap();

    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let hp = &planned.plan.hosts[1];
    assert!(
        hp.error.as_deref().unwrap_or("").contains("unreachable"),
        "{:?}",
        hp.error
    );
    let plan = planned.plan.clone();
    let report = apply_now(&rt, &plan, planned.sessions).await;
    assert!(!report.ok());
    let statuses: Vec<&str> = report.hosts.iter().map(|h| h.status.as_str()).collect();
    assert_eq!(statuses, ["ok", "failed", "ok"]);
    assert!(rt.store.resource_states(down.name()).unwrap().is_empty());
    assert_eq!(
        rt.store
            .resource_states(fleet.host(0).name())
            .unwrap()
            .len(),
        2
    );
    assert_eq!(rt.store.list_runs(1).unwrap()[0].status, RunStatus::Failed);

    down.start_sshd().unwrap();
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let changes: Vec<usize> = plan.hosts.iter().map(|h| h.counts().changes()).collect();
    assert_eq!(changes, [0, 2, 0]);
    let report = apply_now(&rt, &plan, planned.sessions).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        down.read_file("/srv/mc-down/motd").unwrap(),
        b"hello host2\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_cut_mid_apply_fails_that_host_only() {
    let fleet = Fleet::start(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = Arc::new(runtime(dir.path(), Some(fleet.ssh_config())));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let source = TestSource::new(hosts, |_| {
        let slow = resource(
            "command",
            "slow step",
            &[
                ("run", s("sleep 2 && touch /srv/mc-cut-slow")),
                ("creates", s("/srv/mc-cut-slow")),
            ],
        );
        let after = resource("file", "/srv/mc-cut-after", &[("content", s("after\n"))]);
        let edges = vec![edge(&slow, &after, EdgeKind::Requires)];
        (vec![slow, after], edges)
    });
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let recorder = Arc::new(Recorder::default());
    let victim = fleet.host(0);
    let apply = {
        let rt = rt.clone();
        let recorder = recorder.clone();
        tokio::spawn(async move {
            rt.apply(
                &plan,
                planned.sessions,
                &ApplyOptions {
                    check_stale: false,
                    ..Default::default()
                },
                recorder,
            )
            .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !recorder.has(&format!("{} started command[slow step]", victim.name())) {
        assert!(Instant::now() < deadline, "the slow command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim.cut_connections().unwrap();
    let report = apply.await.unwrap().unwrap();
    assert_eq!(report.hosts[0].status, HostStatus::Failed);
    assert!(
        report.hosts[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("connection lost"),
        "{report:?}"
    );
    assert_eq!(report.hosts[1].status, HostStatus::Ok);
    let results = rt.store.resource_results(report.run_id).unwrap();
    let victim_after = results
        .iter()
        .find(|r| r.host == victim.name() && r.resource == "file[/srv/mc-cut-after]")
        .unwrap();
    assert_ne!(victim_after.status, ResourceStatus::Changed);
    assert!(!victim.path_exists("/srv/mc-cut-after").unwrap());

    // A rerun converges.
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let report = apply_now(&rt, &plan, planned.sessions).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(victim.read_file("/srv/mc-cut-after").unwrap(), b"after\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_refresh_once_and_survive_a_failed_run() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let version = Arc::new(std::sync::Mutex::new(1));
    let v = version.clone();
    let source = TestSource::new(vec![ssh_host(host.name())], move |_| {
        let n = *v.lock().unwrap();
        let a = resource(
            "file",
            "/srv/mc-notify/a.conf",
            &[("content", s(&format!("a{n}\n")))],
        );
        let b = resource(
            "file",
            "/srv/mc-notify/b.conf",
            &[("content", s(&format!("b{n}\n")))],
        );
        // Fails unless /srv/mc-notify/allow exists; appends one line per refresh.
        let reload = resource(
            "command",
            "reload",
            &[
                (
                    "run",
                    s("test -f /srv/mc-notify/allow && echo reload >> /srv/mc-notify/reloads"),
                ),
                ("refresh_only", Value::Bool(true)),
            ],
        );
        let edges = vec![
            edge(&a, &reload, EdgeKind::Notify),
            edge(&b, &reload, EdgeKind::Notify),
        ];
        (vec![a, b, reload], edges)
    });
    host.exec_ok("mkdir -p /srv/mc-notify").unwrap();
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };

    // Both notifiers change, the refresh fails: it stays pending.
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert!(!report.ok());
    assert_eq!(
        rt.store.pending_notifications(host.name()).unwrap(),
        [(
            "command[reload]".to_string(),
            mc_ir::RefreshAction::OnNotify
        )]
    );

    // Nothing else changes, but the pending refresh is planned and runs once.
    host.exec_ok("touch /srv/mc-notify/allow").unwrap();
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let reload = planned.plan.hosts[0]
        .resources
        .iter()
        .find(|r| r.id.as_str() == "command[reload]")
        .unwrap();
    assert!(reload.refresh);
    assert_eq!(planned.plan.counts().refresh, 1);
    let plan = planned.plan.clone();
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        host.read_file("/srv/mc-notify/reloads").unwrap(),
        b"reload\n"
    );
    assert!(rt
        .store
        .pending_notifications(host.name())
        .unwrap()
        .is_empty());

    // Two notifiers change: one refresh.
    *version.lock().unwrap() = 2;
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        host.read_file("/srv/mc-notify/reloads").unwrap(),
        b"reload\nreload\n"
    );

    // No change: no refresh.
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(planned.plan.counts().changes(), 0);
    let plan = planned.plan.clone();
    rt.apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(
        host.read_file("/srv/mc-notify/reloads").unwrap(),
        b"reload\nreload\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_skip_only_dependents() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(1);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let bad = resource("command", "fails", &[("run", s("exit 3"))]);
        let dependent = resource("file", "/srv/mc-skip/dep", &[("content", s("x\n"))]);
        let independent = resource("directory", "/srv/mc-skip-free", &[]);
        let edges = vec![edge(&bad, &dependent, EdgeKind::Requires)];
        (vec![bad, dependent, independent], edges)
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(planned.plan.hosts[0].resources[0].action, Action::Create);
    let plan = planned.plan.clone();
    let report = apply_now(&rt, &plan, planned.sessions).await;
    let h = &report.hosts[0];
    assert_eq!((h.failed, h.skipped, h.changed), (1, 1, 1), "{h:?}");
    let results = rt.store.resource_results(report.run_id).unwrap();
    let dep = results
        .iter()
        .find(|r| r.resource == "file[/srv/mc-skip/dep]")
        .unwrap();
    assert_eq!(dep.status, ResourceStatus::Skipped);
    assert!(dep
        .message
        .as_deref()
        .unwrap_or("")
        .contains("command[fails]"));
    assert!(host.path_exists("/srv/mc-skip-free").unwrap());
    assert!(!host.path_exists("/srv/mc-skip/dep").unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_host_keys_are_refused_unless_trusted() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let source = TestSource::new(vec![ssh_host(host.name())], files_for("/srv/mc-keys"));
    let rt = runtime(dir.path(), Some(host.ssh_config_without_known_host()));
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let err = planned.plan.hosts[0].error.clone().unwrap_or_default();
    assert!(err.contains("unreachable"), "{err}");
    let mut rt = runtime(dir.path(), Some(host.ssh_config_without_known_host()));
    rt.connect.trust_new_host_keys = true;
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert!(
        planned.plan.hosts[0].error.is_none(),
        "{:?}",
        planned.plan.hosts[0].error
    );
    planned.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn become_runs_the_runner_as_root() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(1);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let mut info = ssh_host(host.name());
    info.r#become = true;
    let source = TestSource::new(vec![info], |_| {
        (
            vec![resource(
                "command",
                "whoami",
                &[
                    ("run", s("id -u > /srv/mc-become-uid")),
                    ("creates", s("/srv/mc-become-uid")),
                ],
            )],
            vec![],
        )
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert!(
        planned.plan.hosts[0].error.is_none(),
        "{:?}",
        planned.plan.hosts[0].error
    );
    let plan = planned.plan.clone();
    let report = apply_now(&rt, &plan, planned.sessions).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(host.read_file("/srv/mc-become-uid").unwrap(), b"0\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_fail_stops_starting_hosts() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(dir.path(), Some(fleet.ssh_config()));
    rt.parallel = 1;
    let mut hosts = vec![ssh_host("no-such-host.invalid")];
    hosts.extend(fleet.hosts().iter().map(|h| ssh_host(h.name())));
    let source = TestSource::new(hosts, files_for("/srv/mc-maxfail"));
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let opts = ApplyOptions {
        check_stale: false,
        max_fail: Some(0),
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    let errors: Vec<String> = report
        .hosts
        .iter()
        .map(|h| h.error.clone().unwrap_or_default())
        .collect();
    assert!(errors[0].contains("unreachable"), "{errors:?}");
    assert!(errors[1].contains("max_fail"), "{errors:?}");
    assert!(errors[2].contains("max_fail"), "{errors:?}");
    assert!(!fleet.host(0).path_exists("/srv/mc-maxfail").unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_timeout_fails_the_host_and_frees_the_session() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let mut slow = resource(
            "command",
            "hangs",
            &[
                ("run", s("sleep 60")),
                ("creates", s("/srv/mc-timeout-never")),
            ],
        );
        slow.meta.timeout = Some(1);
        let after = resource("file", "/srv/mc-timeout-after", &[("content", s("x\n"))]);
        let edges = vec![edge(&slow, &after, EdgeKind::Requires)];
        (vec![slow, after], edges)
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    let h = &report.hosts[0];
    assert_eq!(h.status, HostStatus::Failed);
    let results = rt.store.resource_results(report.run_id).unwrap();
    let hung = results
        .iter()
        .find(|r| r.resource == "command[hangs]")
        .unwrap();
    assert_eq!(hung.status, ResourceStatus::Failed);
    assert!(
        hung.message.as_deref().unwrap_or("").contains("timed out"),
        "{hung:?}"
    );
    assert!(!host.path_exists("/srv/mc-timeout-after").unwrap());
    // The lock is released with the run.
    assert!(rt.store.locks().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_re_run_a_failed_resource() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(1);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        // Fails the first time (leaving a flag), succeeds the second.
        let mut flaky = resource(
            "command",
            "flaky",
            &[
                ("run", s("test -f /srv/mc-retry-flag || { touch /srv/mc-retry-flag; exit 1; }; touch /srv/mc-retry-done")),
                ("creates", s("/srv/mc-retry-done")),
            ],
        );
        flaky.meta.retries = 1;
        (vec![flaky], vec![])
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 1);
    assert!(host.path_exists("/srv/mc-retry-done").unwrap());
}

struct FixedSecrets;
impl mc_runtime::SecretSource for FixedSecrets {
    fn resolve(&self, name: &str) -> Result<String, mc_runtime::SecretError> {
        match name {
            "db" => Ok("hunter2-very-secret".into()),
            other => Err(mc_runtime::SecretError::Unreadable(format!(
                "no secret {other}"
            ))),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_reach_the_host_but_never_the_plan_or_the_state_store() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(dir.path(), Some(fleet.ssh_config()));
    rt.secrets = Arc::new(FixedSecrets);
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let secret = Value::Secret(mc_ir::SecretValue {
            parts: vec![
                mc_ir::SecretPart::Text("password=".into()),
                mc_ir::SecretPart::Secret("db".into()),
                mc_ir::SecretPart::Text("\n".into()),
            ],
        });
        let f = resource(
            "file",
            "/srv/mc-secret.conf",
            &[("content", secret), ("mode", Value::Int(0o600))],
        );
        let missing = resource(
            "file",
            "/srv/mc-secret-missing.conf",
            &[(
                "content",
                Value::Secret(mc_ir::SecretValue {
                    parts: vec![mc_ir::SecretPart::Secret("nope".into())],
                }),
            )],
        );
        (vec![f, missing], vec![])
    });
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let json = planned.plan.to_json_pretty();
    assert!(!json.contains("hunter2"), "{json}");
    let text = mc_runtime::render::render_plan(&planned.plan, false);
    assert!(!text.contains("hunter2"), "{text}");
    let missing = &planned.plan.hosts[0].resources[1];
    assert!(
        missing
            .error
            .as_deref()
            .unwrap_or("")
            .contains("no secret nope"),
        "{missing:?}"
    );
    let plan = planned.plan.clone();
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(report.hosts[0].changed, 1, "{report:?}");
    assert_eq!(
        host.read_file("/srv/mc-secret.conf").unwrap(),
        b"password=hunter2-very-secret\n"
    );

    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let again = &planned.plan.hosts[0].resources[0];
    assert_eq!(again.action, Action::None, "{again:?}");
    planned.close().await;

    // Nothing in the database files mentions the value.
    drop(rt);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(7).any(|w| w == b"hunter2"));
    }
}

/// Per host of a run: the ids of its `host-started` and `host-done` events.
fn apply_windows(rt: &mc_runtime::Runtime, run_id: i64) -> Vec<(String, i64, i64)> {
    let events = rt.store.events_since(run_id, 0).unwrap();
    let mut windows: Vec<(String, i64, i64)> = Vec::new();
    for e in &events {
        match e.kind.as_str() {
            "host-started" => windows.push((e.host.clone(), e.id, i64::MAX)),
            "host-done" => {
                let w = windows.iter_mut().find(|w| w.0 == e.host).unwrap();
                w.2 = e.id;
            }
            _ => {}
        }
    }
    windows
}

#[tokio::test(flavor = "multi_thread")]
async fn serial_batches_apply_one_host_after_the_other() {
    let fleet = Fleet::start(3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let source = TestSource::new(hosts, files_for("/srv/mc-serial"));
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let opts = ApplyOptions {
        check_stale: false,
        serial: Some(mc_runtime::Serial::Hosts(1)),
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 6);

    // Every resource event of a host lies inside its window, and the
    // windows follow each other in plan order without overlapping.
    let windows = apply_windows(&rt, report.run_id);
    let names: Vec<&str> = windows.iter().map(|w| w.0.as_str()).collect();
    let expected: Vec<&str> = fleet.hosts().iter().map(|h| h.name()).collect();
    assert_eq!(names, expected, "{windows:?}");
    for pair in windows.windows(2) {
        assert!(pair[0].2 < pair[1].1, "overlapping windows: {windows:?}");
    }
    let events = rt.store.events_since(report.run_id, 0).unwrap();
    for e in events.iter().filter(|e| e.resource.is_some()) {
        let w = windows.iter().find(|w| w.0 == e.host).unwrap();
        assert!(w.1 < e.id && e.id < w.2, "{e:?} outside {w:?}");
    }
    let times: Vec<i64> = events
        .iter()
        .filter(|e| e.kind.starts_with("host-"))
        .map(|e| e.at_ms)
        .collect();
    assert!(times.windows(2).all(|t| t[0] <= t[1]), "{times:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_canary_with_max_fail_0_leaves_the_other_hosts_untouched() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let canary = fleet.host(0).name().to_string();
    let source = TestSource::new(hosts, move |h| {
        // The canary's command fails; the other host's would succeed.
        let run = if h.name == canary { "exit 3" } else { "true" };
        let check = resource(
            "command",
            "check",
            &[("run", s(run)), ("creates", s("/srv/mc-canary-checked"))],
        );
        let file = resource("file", "/srv/mc-canary-file", &[("content", s("x\n"))]);
        (vec![check, file], vec![])
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let opts = ApplyOptions {
        check_stale: false,
        max_fail: Some(0),
        canary: true,
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert!(!report.ok());
    let (first, second) = (&report.hosts[0], &report.hosts[1]);
    assert_eq!(first.status, HostStatus::Failed, "{report:?}");
    assert_eq!(second.status, HostStatus::Skipped, "{report:?}");
    assert_eq!(
        second.error.as_deref(),
        Some("not started: max_fail exceeded")
    );
    assert_eq!(second.skipped, 2);
    // The canary's independent file applied; nothing happened on the other host.
    assert!(fleet.host(0).path_exists("/srv/mc-canary-file").unwrap());
    assert!(!fleet.host(1).path_exists("/srv/mc-canary-file").unwrap());
    assert!(!fleet.host(1).path_exists("/srv/mc-canary-checked").unwrap());

    // The state store says the same.
    let stored = rt.store.host_results(report.run_id).unwrap();
    let other = stored.iter().find(|h| h.host == second.host).unwrap();
    assert_eq!(other.status, HostStatus::Skipped);
    let resources = rt.store.resource_results(report.run_id).unwrap();
    let skipped: Vec<_> = resources.iter().filter(|r| r.host == second.host).collect();
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().all(|r| r.status == ResourceStatus::Skipped
        && r.message.as_deref() == Some("not started: max_fail exceeded")));
    let run = rt.store.run(report.run_id).unwrap().unwrap();
    let summary = run.summary.unwrap();
    assert_eq!(summary["skipped_hosts"], 1, "{summary}");
}

/// sshd log lines of a host that contain `needle`: "Starting session:
/// command for USER " counts runners, "Accepted publickey for USER "
/// connections. Per user, so tests sharing the host do not interfere.
fn log_count(host: &mc_testfleet::Host, needle: &str) -> usize {
    host.sshd_log()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn become_per_resource_runs_only_those_resources_under_sudo() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(0);
    add_login_user(host, "mcdeploy", true);
    add_login_user(host, "mcother", false);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let mut info = ssh_host(host.name());
    info.user = Some("mcdeploy".into());
    let source = TestSource::new(vec![info], |_| {
        let mut root_file = resource(
            "file",
            "/root/mc-become.txt",
            &[("content", s("as root\n")), ("mode", Value::Int(0o600))],
        );
        root_file.meta.r#become = Some(true);
        let own = resource(
            "file",
            "/home/mcdeploy/mc-own.txt",
            &[("content", s("as the login\n"))],
        );
        let mut other = resource(
            "file",
            "/home/mcother/mc-other.txt",
            &[("content", s("as mcother\n"))],
        );
        other.meta.become_user = Some("mcother".into());
        // `nobody` has no home (it runs the runner root cached in /var/lib).
        let mut homeless = resource("file", "/tmp/mc-nobody.txt", &[("content", s("n\n"))]);
        homeless.meta.become_user = Some("nobody".into());
        (vec![root_file, own, other, homeless], vec![])
    });
    let connections = "Accepted publickey for mcdeploy ";
    let commands = "Starting session: command for mcdeploy ";
    let (connections_before, commands_before) =
        (log_count(host, connections), log_count(host, commands));
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    assert!(plan.hosts[0].error.is_none(), "{:?}", plan.hosts[0].error);
    assert_eq!(plan.counts().create, 4, "{}", plan.to_json_pretty());
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 4);
    let owner = |path: &str| host.exec_ok(&format!("stat -c %U {path}")).unwrap();
    assert_eq!(host.read_file("/root/mc-become.txt").unwrap(), b"as root\n");
    assert_eq!(owner("/root/mc-become.txt"), "root\n");
    assert_eq!(owner("/home/mcdeploy/mc-own.txt"), "mcdeploy\n");
    assert_eq!(owner("/home/mcother/mc-other.txt"), "mcother\n");
    assert_eq!(owner("/tmp/mc-nobody.txt"), "nobody\n");
    // Four runners (login, root, mcother, nobody), one SSH connection.
    assert_eq!(log_count(host, connections) - connections_before, 1);
    assert_eq!(log_count(host, commands) - commands_before, 4);

    // Probing /root as root again finds everything converged.
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(
        planned.plan.counts().changes(),
        0,
        "{}",
        planned.plan.to_json_pretty()
    );
    assert_eq!(planned.plan.counts().unchanged, 4);
    planned.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn become_without_sudo_rights_fails_only_those_resources() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(1);
    add_login_user(host, "mcplain", false);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let mut info = ssh_host(host.name());
    info.user = Some("mcplain".into());
    let source = TestSource::new(vec![info], |_| {
        let mut root_file = resource("file", "/root/mc-refused.txt", &[("content", s("x\n"))]);
        root_file.meta.r#become = Some(true);
        let after = resource(
            "file",
            "/home/mcplain/mc-after.txt",
            &[("content", s("y\n"))],
        );
        let own = resource(
            "file",
            "/home/mcplain/mc-plain.txt",
            &[("content", s("z\n"))],
        );
        let edges = vec![edge(&root_file, &after, EdgeKind::Requires)];
        (vec![root_file, after, own], edges)
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let refused = &plan.hosts[0].resources[0];
    let why = refused.error.as_deref().unwrap_or("");
    assert!(
        why.contains("cannot start a runner as \"root\""),
        "{refused:?}"
    );
    assert!(why.contains("sudo"), "{refused:?}");
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };
    let report = rt
        .apply(&plan, planned.sessions, &opts, Arc::new(Quiet))
        .await
        .unwrap();
    let h = &report.hosts[0];
    assert_eq!((h.changed, h.failed, h.skipped), (1, 1, 1), "{h:?}");
    assert!(host.path_exists("/home/mcplain/mc-plain.txt").unwrap());
    assert!(!host.path_exists("/home/mcplain/mc-after.txt").unwrap());
    assert!(!host.path_exists("/root/mc-refused.txt").unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn become_on_a_root_login_reuses_the_one_runner() {
    // Its own host: the test counts every remote command on it.
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    // The fleet's ssh config logs in as root; the inventory does not say so.
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let mut r = resource("file", "/root/mc-root-login.txt", &[("content", s("x\n"))]);
        r.meta.r#become = Some(true);
        (vec![r], vec![])
    });
    let commands = "Starting session: command for root ";
    let before = log_count(host, commands);
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let report = apply_now(&rt, &plan, planned.sessions).await;
    assert!(report.ok(), "{report:?}");
    assert!(host.path_exists("/root/mc-root-login.txt").unwrap());
    assert_eq!(log_count(host, commands) - before, 1, "{}", host.sshd_log());
}

#[tokio::test(flavor = "multi_thread")]
async fn become_user_without_a_home_caches_the_runner_in_a_private_tmp_dir() {
    // Its own host: no runner cached by root in /var/lib/mc yet.
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    add_login_user(host, "mcdeploy", true);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let mut info = ssh_host(host.name());
    info.user = Some("mcdeploy".into());
    let source = TestSource::new(vec![info], |_| {
        let mut r = resource("file", "/tmp/mc-homeless.txt", &[("content", s("n\n"))]);
        r.meta.become_user = Some("nobody".into());
        (vec![r], vec![])
    });
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    let report = apply_now(&rt, &plan, planned.sessions).await;
    assert!(report.ok(), "{report:?}");
    let stat = |p: &str| host.exec_ok(&format!("stat -c '%U %a' {p}")).unwrap();
    assert_eq!(
        stat("/tmp/mc-homeless.txt").split(' ').next(),
        Some("nobody")
    );
    assert_eq!(stat("/tmp/mc-runner-65534"), "nobody 700\n");
    assert!(!host.path_exists("/var/lib/mc/runner").unwrap());
    let listing = host.exec_ok("ls /tmp/mc-runner-65534").unwrap();
    assert!(listing.starts_with("mc-runner-"), "{listing}");

    // The cached copy is found next time: the plan converges.
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(
        planned.plan.counts().unchanged,
        1,
        "{}",
        planned.plan.to_json_pretty()
    );
    planned.close().await;
}

/// A runtime whose ssh masters persist for `persist` seconds in `ctl`.
fn persistent_runtime(
    dir: &std::path::Path,
    ssh_config: &std::path::Path,
    ctl: &std::path::Path,
    persist: u64,
) -> mc_runtime::Runtime {
    let mut rt = runtime(dir, Some(ssh_config));
    rt.connect.control_dir = Some(ctl.to_path_buf());
    rt.connect.ssh_persist = Duration::from_secs(persist);
    rt
}

async fn plan_and_apply(
    rt: &mc_runtime::Runtime,
    source: Arc<TestSource>,
) -> mc_runtime::ApplyReport {
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };
    rt.apply(
        &planned.plan.clone(),
        planned.sessions,
        &opts,
        Arc::new(Quiet),
    )
    .await
    .unwrap()
}

/// Entries of a control directory (sockets, and temporary directories of
/// masters being started).
fn control_entries(ctl: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ctl)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether a process is gone (a zombie counts as gone: it runs nothing).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if process_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    process_gone(pid)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_reuses_the_persisted_master_and_still_converges() {
    let fleet = Fleet::start(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctl = dir.path().join("ctl");
    let rt = persistent_runtime(dir.path(), fleet.ssh_config(), &ctl, 30);
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let source = TestSource::new(hosts, files_for("/srv/mc-persist"));

    let before: Vec<usize> = fleet.hosts().iter().map(|h| h.count_sessions()).collect();
    let report = plan_and_apply(&rt, source.clone()).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 4);
    // A first run still opens exactly one connection per host.
    for (h, b) in fleet.hosts().iter().zip(&before) {
        assert_eq!(h.count_sessions() - b, 1, "{}", h.sshd_log());
    }
    // One live socket per host, nothing else left in the directory.
    let entries = control_entries(&ctl);
    assert_eq!(entries.len(), 2, "{entries:?}");
    for name in &entries {
        assert!(
            mc_runtime::transport::master_pid(&ctl.join(name))
                .await
                .is_some(),
            "{name} has no live master"
        );
    }

    // Drift on one host: the next run, over the kept masters, repairs it.
    fleet
        .host(0)
        .write_file("/srv/mc-persist/motd", b"edited\n")
        .unwrap();
    let before: Vec<usize> = fleet.hosts().iter().map(|h| h.count_sessions()).collect();
    let report = plan_and_apply(&rt, source.clone()).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed(), 1);
    assert!(report.uploads.values().all(|u| !u));
    for (h, b) in fleet.hosts().iter().zip(&before) {
        assert_eq!(h.count_sessions() - b, 0, "{}", h.sshd_log());
    }
    assert_eq!(
        fleet.host(0).read_file("/srv/mc-persist/motd").unwrap(),
        format!("hello {}\n", fleet.host(0).name()).as_bytes()
    );
    assert_eq!(control_entries(&ctl), entries);

    assert_eq!(
        mc_runtime::transport::stop_persisted_masters(Some(&ctl)).await,
        2
    );
    assert!(control_entries(&ctl).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_persist_0_leaves_no_master_behind() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Not created beforehand: mc makes it.
    let ctl = dir.path().join("ctl");
    let rt = persistent_runtime(dir.path(), fleet.ssh_config(), &ctl, 0);
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let source = TestSource::new(hosts, files_for("/srv/mc-nopersist"));
    let report = plan_and_apply(&rt, source).await;
    assert!(report.ok(), "{report:?}");

    let ours: Vec<u32> = mc_runtime::transport::started_masters()
        .into_iter()
        .filter(|(_, socket)| socket.starts_with(&ctl))
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(ours.len(), 2, "one master per host");
    for pid in ours {
        assert!(wait_gone(pid), "ssh master {pid} still running");
    }
    assert!(
        control_entries(&ctl).is_empty(),
        "{:?}",
        control_entries(&ctl)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_master_whose_connection_died_is_replaced() {
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let ctl = dir.path().join("ctl");
    let rt = persistent_runtime(dir.path(), fleet.ssh_config(), &ctl, 30);
    let source = TestSource::new(vec![ssh_host(host.name())], files_for("/srv/mc-dead"));
    assert!(plan_and_apply(&rt, source.clone()).await.ok());
    let socket = ctl.join(&control_entries(&ctl)[0]);
    let old = mc_runtime::transport::master_pid(&socket).await.unwrap();

    // The server goes away and comes back: the old connection is dead.
    // Connections first: they are found as children of the listener.
    host.cut_connections().unwrap();
    host.kill_sshd().unwrap();
    host.start_sshd().unwrap();
    // A leftover socket of a host never seen again is swept on the way.
    let orphan = ctl.join("0123456789abcdef0123456789abcdef");
    drop(std::os::unix::net::UnixListener::bind(&orphan).unwrap());
    let before = host.count_sessions();
    let report = plan_and_apply(&rt, source).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(host.count_sessions() - before, 1, "{}", host.sshd_log());
    assert!(wait_gone(old), "the dead master {old} is still running");
    assert!(!orphan.exists(), "the dead socket was not swept");
    let new = mc_runtime::transport::master_pid(&socket).await.unwrap();
    assert_ne!(new, old);
    mc_runtime::transport::stop_persisted_masters(Some(&ctl)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn different_users_never_share_a_master() {
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    add_login_user(host, "deploy", false);
    let dir = tempfile::tempdir().unwrap();
    let ctl = dir.path().join("ctl");
    let as_root = {
        let d = dir.path().join("root");
        std::fs::create_dir(&d).unwrap();
        persistent_runtime(&d, fleet.ssh_config(), &ctl, 30)
    };
    let as_deploy = {
        let d = dir.path().join("deploy");
        std::fs::create_dir(&d).unwrap();
        persistent_runtime(&d, fleet.ssh_config(), &ctl, 30)
    };
    let mut deploy_host = ssh_host(host.name());
    deploy_host.user = Some("deploy".into());
    let root_source = TestSource::new(vec![ssh_host(host.name())], files_for("/tmp/mc-root"));
    let deploy_source = TestSource::new(vec![deploy_host], files_for("/tmp/mc-deploy"));

    let before = host.count_sessions();
    assert!(plan_and_apply(&as_root, root_source.clone()).await.ok());
    let report = plan_and_apply(&as_deploy, deploy_source.clone()).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(host.count_sessions() - before, 2, "{}", host.sshd_log());
    assert_eq!(control_entries(&ctl).len(), 2);
    assert_eq!(
        host.exec_ok("stat -c %U /tmp/mc-deploy/motd")
            .unwrap()
            .trim(),
        "deploy"
    );

    // Each identity reuses its own master.
    let before = host.count_sessions();
    assert!(plan_and_apply(&as_deploy, deploy_source).await.ok());
    assert!(plan_and_apply(&as_root, root_source).await.ok());
    assert_eq!(host.count_sessions() - before, 0, "{}", host.sshd_log());
    assert_eq!(
        host.exec_ok("stat -c %U /tmp/mc-root/motd").unwrap().trim(),
        "root"
    );
    mc_runtime::transport::stop_persisted_masters(Some(&ctl)).await;
}

/// One file whose content is the host's `hostname` fact; counts compiles.
struct HostnameSource {
    host: mc_ir::HostInfo,
    compiles: std::sync::atomic::AtomicUsize,
}

impl mc_runtime::CatalogSource for HostnameSource {
    fn hosts(&self) -> Result<Vec<mc_ir::HostInfo>, mc_runtime::SourceError> {
        Ok(vec![self.host.clone()])
    }
    fn compile(
        &self,
        host: &mc_ir::HostInfo,
        facts: &serde_json::Value,
    ) -> Result<mc_ir::Catalog, mc_runtime::SourceError> {
        self.compiles
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = facts["hostname"].as_str().unwrap_or("(none)");
        Ok(mc_ir::Catalog {
            schema: mc_ir::CATALOG_SCHEMA,
            host: host.clone(),
            resources: vec![resource(
                "file",
                "/srv/mc-facts/who",
                &[("content", s(name))],
            )],
            edges: vec![],
        })
    }
    fn source_digest(&self) -> String {
        "hostname-source".into()
    }
}

/// The content the plan's catalog gives the one file.
fn planned_content(planned: &mc_runtime::Planned) -> Value {
    let catalog = planned.plan.hosts[0].catalog.as_ref().expect("a catalog");
    catalog.resources[0].attrs["content"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_catalog_is_compiled_from_the_facts_gathered_not_stale_cached_ones() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(1);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = Arc::new(HostnameSource {
        host: ssh_host(host.name()),
        compiles: Default::default(),
    });
    let compiles = || source.compiles.load(std::sync::atomic::Ordering::SeqCst);
    let all = Selection::default();
    let plan = || rt.plan(source.clone(), &all, Arc::new(Quiet));

    // No cached facts yet: compiled once, from the facts gathered.
    let planned = plan().await.unwrap();
    let real = planned_content(&planned);
    assert_ne!(real, s("(none)"));
    assert_eq!(compiles(), 1);
    planned.close().await;

    // Same facts as cached: the catalog compiled beside the connection is
    // the one used, not compiled a second time.
    let planned = plan().await.unwrap();
    assert_eq!(planned_content(&planned), real);
    assert_eq!(compiles(), 2);
    planned.close().await;

    // Cached facts that no longer hold are never what the plan is made of.
    rt.store
        .cache_facts(host.name(), &serde_json::json!({ "hostname": "stale" }))
        .unwrap();
    let planned = plan().await.unwrap();
    assert_eq!(planned_content(&planned), real);
    assert_eq!(compiles(), 4, "compiled from the stale facts, then anew");
    planned.close().await;
}
