//! Apply semantics on real test hosts: source order, skipping exactly the
//! dependents of a failure, notifications inside one request, retries with
//! `until`, and stored command output.

mod common;

use common::*;
use mc_ir::{EdgeKind, Value};
use mc_runtime::state::{HostStatus, ResourceStatus};
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
    assert_eq!(h.status, HostStatus::Failed);
    assert_eq!((h.changed, h.failed, h.skipped), (2, 1, 3), "{h:?}");
    let results = rt.store.resource_results(report.run_id).unwrap();
    let status = |id: &str| {
        results
            .iter()
            .find(|r| r.resource == id)
            .map(|r| (r.status, r.message.clone().unwrap_or_default()))
            .unwrap()
    };
    assert_eq!(status("file[/srv/mc-mid/first]").0, ResourceStatus::Changed);
    assert_eq!(status("command[breaks]").0, ResourceStatus::Failed);
    let (st, why) = status("file[/srv/mc-mid/dep]");
    assert_eq!(st, ResourceStatus::Skipped);
    assert!(why.contains("command[breaks]"), "{why}");
    let (st, why) = status("file[/srv/mc-mid/dep2]");
    assert_eq!(st, ResourceStatus::Skipped);
    assert!(why.contains("file[/srv/mc-mid/dep]"), "{why}");
    assert_eq!(status("command[handler]").0, ResourceStatus::Skipped);
    assert_eq!(status("file[/srv/mc-mid/last]").0, ResourceStatus::Changed);
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

fn result_of(rt: &mc_runtime::Runtime, run_id: i64, id: &str) -> mc_runtime::state::ResourceResult {
    rt.store
        .resource_results(run_id)
        .unwrap()
        .into_iter()
        .find(|r| r.resource == id)
        .unwrap_or_else(|| panic!("no result for {id}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_wait_with_backoff_and_each_attempt_is_an_event() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(1);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        // Records when each attempt starts; fails the first two.
        let mut flaky = resource(
            "command",
            "flaky",
            &[(
                "run",
                s(
                    "date +%s%N >> /srv/mc-backoff/attempts; \
                   test $(wc -l < /srv/mc-backoff/attempts) -ge 3 || { echo not yet >&2; exit 1; }",
                ),
            )],
        );
        flaky.meta.retries = 3;
        flaky.meta.retry_delay = Some(1);
        flaky.meta.retry_backoff = Some(2);
        (vec![flaky], vec![])
    });
    host.exec_ok("mkdir -p /srv/mc-backoff").unwrap();
    let report = plan_and_apply_now(&rt, source).await;
    assert!(report.ok(), "{report:?}");
    let r = result_of(&rt, report.run_id, "command[flaky]");
    assert_eq!(r.status, ResourceStatus::Changed);
    assert!(
        r.message
            .as_deref()
            .unwrap_or("")
            .contains("after 3 attempts"),
        "{r:?}"
    );
    // Waits of at least 1 s, then 2 s, between the attempts.
    let starts: Vec<u128> = String::from_utf8(host.read_file("/srv/mc-backoff/attempts").unwrap())
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(starts.len(), 3);
    assert!(starts[1] - starts[0] >= 1_000_000_000, "{starts:?}");
    assert!(starts[2] - starts[1] >= 2_000_000_000, "{starts:?}");
    let attempts: Vec<String> = rt
        .store
        .events_since(report.run_id, 0)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "attempt")
        .filter_map(|e| e.message)
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts[0].starts_with("attempt 1 of 4 failed"),
        "{attempts:?}"
    );
    assert!(attempts[0].contains("next in 1s"), "{attempts:?}");
    assert!(attempts[1].contains("next in 2s"), "{attempts:?}");
    // Every attempt's output is kept.
    assert_eq!(r.output.as_deref(), Some("not yet\nnot yet\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn until_re_runs_a_command_until_its_check_succeeds() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(0);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let mut polled = resource(
            "command",
            "poll",
            &[
                ("run", s("echo tick >> /srv/mc-until/ticks")),
                ("until", s("test $(wc -l < /srv/mc-until/ticks) -ge 3")),
            ],
        );
        polled.meta.retries = 5;
        polled.meta.retry_delay = Some(0);
        let mut never = resource(
            "command",
            "never",
            &[("run", s("true")), ("until", s("false"))],
        );
        never.meta.retry_delay = Some(0);
        (vec![polled, never], vec![])
    });
    host.exec_ok("mkdir -p /srv/mc-until").unwrap();
    let report = plan_and_apply_now(&rt, source).await;
    assert_eq!(
        host.read_file("/srv/mc-until/ticks").unwrap(),
        b"tick\ntick\ntick\n"
    );
    let polled = result_of(&rt, report.run_id, "command[poll]");
    assert_eq!(polled.status, ResourceStatus::Changed, "{polled:?}");
    assert!(polled
        .message
        .as_deref()
        .unwrap_or("")
        .contains("after 3 attempts"));
    // Without `retries`, `until` gets 3 retries, then the command fails.
    let never = result_of(&rt, report.run_id, "command[never]");
    assert_eq!(never.status, ResourceStatus::Failed);
    let why = never.message.unwrap_or_default();
    assert!(why.contains("`until` check did not succeed"), "{why}");
    assert!(why.contains("after 4 attempts"), "{why}");
}

struct OneSecret;
impl mc_runtime::SecretSource for OneSecret {
    fn resolve(&self, name: &str) -> Result<String, mc_runtime::SecretError> {
        match name {
            "token" => Ok("s3cr3t-token-value".into()),
            other => Err(mc_runtime::SecretError::Unreadable(format!(
                "no secret {other}"
            ))),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn command_output_is_stored_bounded_and_scrubbed() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let host = fleet.host(1);
    let dir = tempfile::tempdir().unwrap();
    let mut rt = runtime(dir.path(), Some(fleet.ssh_config()));
    rt.secrets = Arc::new(OneSecret);
    let source = TestSource::new(vec![ssh_host(host.name())], |_| {
        let token = Value::Secret(mc_ir::SecretValue {
            parts: vec![mc_ir::SecretPart::Secret("token".into())],
        });
        let talk = resource(
            "command",
            "talk",
            &[
                (
                    "run",
                    s("echo to stdout; echo to stderr >&2; echo token is $TOKEN; echo done"),
                ),
                ("env", Value::Map([("TOKEN".to_string(), token)].into())),
            ],
        );
        // 200,000 lines: far more than the 64 KiB kept.
        let loud = resource(
            "command",
            "loud",
            &[("run", s("seq 1 200000; echo failing >&2; exit 2"))],
        );
        (vec![talk, loud], vec![])
    });
    let report = plan_and_apply_now(&rt, source).await;
    let talk = result_of(&rt, report.run_id, "command[talk]");
    let out = talk.output.unwrap_or_default();
    assert!(out.contains("to stdout\n"), "{out}");
    assert!(out.contains("to stderr\n"), "{out}");
    assert!(out.contains("token is (secret)\n"), "{out}");
    assert!(!out.contains("s3cr3t"), "{out}");
    let loud = result_of(&rt, report.run_id, "command[loud]");
    assert_eq!(loud.status, ResourceStatus::Failed);
    let out = loud.output.clone().unwrap_or_default();
    assert!(out.starts_with("1\n2\n3\n"), "{}", &out[..40]);
    // stdout and stderr are read apart, so only each stream's order holds.
    assert!(
        out.ends_with("199999\n200000\n") || out.ends_with("199999\n200000\nfailing\n"),
        "{:?}",
        &out[out.len() - 200..]
    );
    assert!(
        loud.message.as_deref().unwrap_or("").contains("failing"),
        "{loud:?}"
    );
    assert!(out.contains("bytes of output left out"));
    assert!(out.len() <= 2 * 32 * 1024 + 64, "{}", out.len());
    // The database holds no secret anywhere.
    let db = std::fs::read(dir.path().join("state.db")).unwrap();
    assert!(!db.windows(18).any(|w| w == b"s3cr3t-token-value"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_edit_refuses_only_that_resource_and_its_dependents() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let source = TestSource::new(hosts, |h| {
        let conf = resource(
            "file",
            "/srv/mc-partial/app.conf",
            &[("content", s(&format!("conf of {}\n", h.name)))],
        );
        let uses_conf = resource(
            "file",
            "/srv/mc-partial/derived",
            &[("content", s("derived\n"))],
        );
        let handler = resource(
            "command",
            "reload",
            &[
                ("run", s("echo reload >> /srv/mc-partial/reloads")),
                ("refresh_only", Value::Bool(true)),
            ],
        );
        let other = resource("file", "/srv/mc-partial/other", &[("content", s("o\n"))]);
        let edges = vec![
            edge(&conf, &uses_conf, EdgeKind::Requires),
            edge(&conf, &handler, EdgeKind::Notify),
        ];
        (vec![conf, uses_conf, handler, other], edges)
    });
    for h in fleet.hosts() {
        h.exec_ok("mkdir -p /srv/mc-partial && echo old > /srv/mc-partial/app.conf")
            .unwrap();
    }
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    planned.close().await;
    // Reviewed meanwhile, someone edits the file by hand on the second host.
    let (clean, edited) = (fleet.host(0), fleet.host(1));
    edited
        .exec_ok("echo hand-edited > /srv/mc-partial/app.conf")
        .unwrap();

    let report = rt
        .apply(
            &plan,
            Default::default(),
            &mc_runtime::ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .unwrap();
    assert!(!report.ok());
    // The other host applied everything, its refresh included.
    let on_clean = report
        .hosts
        .iter()
        .find(|h| h.host == clean.name())
        .unwrap();
    assert_eq!(on_clean.status, HostStatus::Ok, "{on_clean:?}");
    assert_eq!(
        clean.read_file("/srv/mc-partial/app.conf").unwrap(),
        format!("conf of {}\n", clean.name()).as_bytes()
    );
    assert_eq!(
        clean.read_file("/srv/mc-partial/reloads").unwrap(),
        b"reload\n"
    );
    // The edited host: the edit is untouched, its dependents and the
    // refresh it would trigger are refused, the independent file applied.
    let on_edited = report
        .hosts
        .iter()
        .find(|h| h.host == edited.name())
        .unwrap();
    assert_eq!(on_edited.status, HostStatus::Failed);
    let why = on_edited.error.clone().unwrap_or_default();
    assert!(why.contains("file[/srv/mc-partial/app.conf]"), "{why}");
    assert!(why.contains("run `mc plan` again"), "{why}");
    assert_eq!(
        edited.read_file("/srv/mc-partial/app.conf").unwrap(),
        b"hand-edited\n"
    );
    assert!(!edited.path_exists("/srv/mc-partial/derived").unwrap());
    assert!(!edited.path_exists("/srv/mc-partial/reloads").unwrap());
    assert!(edited.path_exists("/srv/mc-partial/other").unwrap());
    let results = rt.store.resource_results(report.run_id).unwrap();
    let on = |id: &str| {
        results
            .iter()
            .find(|r| r.host == edited.name() && r.resource == id)
            .map(|r| (r.status, r.message.clone().unwrap_or_default()))
            .unwrap()
    };
    let (st, msg) = on("file[/srv/mc-partial/app.conf]");
    assert_eq!(st, ResourceStatus::Skipped);
    assert!(msg.contains("changed on the host since the plan"), "{msg}");
    assert_eq!(
        on("file[/srv/mc-partial/derived]").0,
        ResourceStatus::Skipped
    );
    assert_eq!(on("command[reload]").0, ResourceStatus::Skipped);
    assert_eq!(on("file[/srv/mc-partial/other]").0, ResourceStatus::Changed);
    let kinds: Vec<String> = rt
        .store
        .audit_entries(None)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.iter().any(|k| k == "apply.stale_skipped"),
        "{kinds:?}"
    );
}
