//! Drift, policy outcomes and approvals against real sshd test hosts with
//! the real runner.

mod common;

use common::*;
use mc_ir::plan::{Action, FindingKind, Plan, PolicyFinding};
use mc_ir::{EdgeKind, HostInfo, Value};
use mc_runtime::policy::{self, Refusal};
use mc_runtime::state::PlanStatus;
use mc_runtime::{
    ApplyOptions, CatalogSource, PolicyOutcome, Quiet, Runtime, RuntimeError, Selection,
};
use std::sync::Arc;

fn files_for(
    root: &str,
    greeting: &'static str,
) -> impl Fn(&HostInfo) -> (Vec<mc_ir::Resource>, Vec<mc_ir::Edge>) {
    let root = root.to_string();
    move |h| {
        let dir = resource("directory", &root, &[("mode", Value::Int(0o755))]);
        let motd = resource(
            "file",
            &format!("{root}/motd"),
            &[
                (
                    "content",
                    s(&format!("{greeting} {}\nsecond line\n", h.name)),
                ),
                ("mode", Value::Int(0o644)),
            ],
        );
        let edges = vec![edge(&dir, &motd, EdgeKind::Auto)];
        (vec![dir, motd], edges)
    }
}

async fn plan_and_apply(rt: &Runtime, source: Arc<dyn CatalogSource>) {
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
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_changed_by_hand_is_drift_with_its_diff_and_the_fix_restores_it() {
    // Its own hosts: the test counts SSH sessions.
    let fleet = mc_testfleet::Fleet::start(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let root = "/srv/mc-drift";
    let source = TestSource::new(hosts, files_for(root, "hello"));
    plan_and_apply(&rt, source.clone()).await;

    // Nothing changed yet: no drift.
    let clean = rt
        .drift(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(clean.drifted(), 0, "{:?}", clean.items());
    assert_eq!(clean.errors(), 0);
    assert_eq!(clean.probed(), 4);

    // Someone edits one file by hand on the first host.
    let web = fleet.host(0);
    web.write_file(&format!("{root}/motd"), b"hacked\nsecond line\n")
        .unwrap();
    let before: Vec<usize> = fleet.hosts().iter().map(|h| h.count_sessions()).collect();
    let report = rt
        .drift(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    // One SSH session per host for the whole check.
    for (h, b) in fleet.hosts().iter().zip(&before) {
        assert_eq!(h.count_sessions() - b, 1, "{}", h.sshd_log());
    }
    assert_eq!(report.drifted(), 1, "{:?}", report.items());
    let items = report.items();
    assert_eq!(items[0].host, web.name());
    assert_eq!(items[0].resource, format!("file[{root}/motd]"));
    assert_eq!(items[0].status, mc_runtime::state::DriftStatus::Drifted);
    assert!(items[0].summary.contains("content"), "{}", items[0].summary);
    let diff = items[0].diff.as_deref().expect("a content diff");
    assert!(diff.contains("-hacked"), "{diff}");
    assert!(diff.contains(&format!("+hello {}", web.name())), "{diff}");
    let text = mc_runtime::drift::render_drift(&report, false);
    assert!(text.contains(&format!("~ file[{root}/motd]")), "{text}");
    assert!(text.contains("-hacked"), "{text}");
    assert!(text.contains("no drift (2 resources"), "{text}");

    // The report is stored per host and resource, with its diff.
    let stored = rt.store.current_drift().unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].item.diff.as_deref(), Some(diff));
    assert_eq!(
        rt.store.drift_reports(1).unwrap()[0].drifted,
        1,
        "the report counts"
    );

    // The fix is an ordinary plan of the drifted resources only.
    let mut fix = report.fix_plan(None);
    source.evaluate_policies(&fix).seal_into(&mut fix);
    assert_eq!(fix.hosts.len(), 1);
    assert_eq!(fix.counts().update, 1);
    assert_eq!(fix.hosts[0].resources[0].action, Action::Update);
    rt.save_plan(&fix).unwrap();
    let applied = rt
        .apply(
            &fix,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .unwrap();
    assert!(applied.ok(), "{applied:?}");
    assert_eq!(
        web.read_file(&format!("{root}/motd")).unwrap(),
        format!("hello {}\nsecond line\n", web.name()).as_bytes()
    );
    let after = rt
        .drift(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(after.drifted(), 0, "{:?}", after.items());
    assert!(rt.store.current_drift().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_change_is_not_drift_and_unapplied_hosts_are_not_contacted() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let first = vec![ssh_host(fleet.host(0).name())];
    let root = "/srv/mc-drift-src";
    plan_and_apply(&rt, TestSource::new(first, files_for(root, "hi"))).await;

    // The source now wants other content, and the second host was never applied.
    let hosts: Vec<_> = fleet.hosts().iter().map(|h| ssh_host(h.name())).collect();
    let changed = TestSource::new(hosts, files_for(root, "changed"));
    let before = fleet.host(1).count_sessions();
    let report = rt
        .drift(changed, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    assert_eq!(report.drifted(), 0, "{:?}", report.items());
    assert_eq!(report.hosts[1].probed, 0);
    assert_eq!(fleet.host(1).count_sessions(), before);
}

/// A catalog source with a fixed policy rule, as the compiler would give.
struct PolicySource {
    inner: Arc<TestSource>,
    rule: fn(&Plan) -> PolicyOutcome,
}

impl CatalogSource for PolicySource {
    fn hosts(&self) -> Result<Vec<HostInfo>, mc_runtime::SourceError> {
        self.inner.hosts()
    }
    fn compile(
        &self,
        host: &HostInfo,
        facts: &serde_json::Value,
    ) -> Result<mc_ir::Catalog, mc_runtime::SourceError> {
        self.inner.compile(host, facts)
    }
    fn source_digest(&self) -> String {
        self.inner.source_digest()
    }
    fn evaluate_policies(&self, plan: &Plan) -> PolicyOutcome {
        (self.rule)(plan)
    }
}

fn finding_per_change(plan: &Plan, kind: FindingKind, message: &str) -> Vec<PolicyFinding> {
    let mut out = Vec::new();
    for hp in &plan.hosts {
        for r in hp.resources.iter().filter(|r| r.action.is_change()) {
            if r.id.as_str().starts_with("file[") {
                out.push(PolicyFinding {
                    kind,
                    policy: "files".into(),
                    host: hp.host.name.clone(),
                    resource: r.id.clone(),
                    message: message.into(),
                    rendered: None,
                });
            }
        }
    }
    out
}

fn needs_approval(plan: &Plan) -> PolicyOutcome {
    let findings = finding_per_change(plan, FindingKind::RequireApproval, "file change");
    PolicyOutcome {
        required_approvals: findings.iter().map(|f| f.message.clone()).collect(),
        findings,
        ..Default::default()
    }
}

fn denies(plan: &Plan) -> PolicyOutcome {
    PolicyOutcome {
        findings: finding_per_change(plan, FindingKind::Deny, "files are frozen"),
        required_approvals: vec![],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_needing_approval_is_refused_until_approved_and_a_changed_plan_needs_a_new_one() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let hosts = vec![ssh_host(fleet.host(0).name())];
    let root = "/srv/mc-approve";
    let source = Arc::new(PolicySource {
        inner: TestSource::new(hosts.clone(), files_for(root, "v1")),
        rule: needs_approval,
    });
    let planned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    planned.close().await;
    assert!(plan.verify());
    assert_eq!(plan.required_approvals, vec!["file change".to_string()]);

    let refused = rt
        .apply(
            &plan,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .unwrap_err();
    let msg = refused.to_string();
    assert!(
        matches!(refused, RuntimeError::Policy(Refusal::Unapproved { .. })),
        "{msg}"
    );
    assert!(
        msg.contains("needs an approval") && msg.contains("file change"),
        "{msg}"
    );
    assert!(!fleet.host(0).path_exists(&format!("{root}/motd")).unwrap());

    let decision = policy::decide(&rt.store, &plan.hash, true, "reviewed", "test").unwrap();
    assert_eq!(decision.decision, "approved");
    assert_eq!(rt.store.plan_decisions(&plan.hash).unwrap().len(), 1);
    let audit = rt.store.audit_entries(Some(1)).unwrap();
    assert_eq!(audit[0].kind, "plan.approve");
    assert!(audit[0].detail.contains("reviewed"), "{}", audit[0].detail);

    // The source changes: the new plan has another hash and needs its own approval.
    *source.inner.build.lock().unwrap() = Box::new(files_for(root, "v2"));
    let replanned = rt
        .plan(source.clone(), &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan2 = replanned.plan.clone();
    replanned.close().await;
    assert_ne!(plan2.hash, plan.hash);
    let err = rt
        .apply(
            &plan2,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs an approval"), "{err}");

    // The approved plan applies, once.
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
    assert!(fleet
        .host(0)
        .read_file(&format!("{root}/motd"))
        .unwrap()
        .starts_with(b"v1 "));

    // A rejected plan is refused and cannot be approved afterwards.
    policy::decide(&rt.store, &plan2.hash, false, "not today", "test").unwrap();
    assert_eq!(
        rt.store.plan(&plan2.hash).unwrap().unwrap().status,
        PlanStatus::Rejected
    );
    let err = rt
        .apply(
            &plan2,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rejected"), "{err}");
    assert!(policy::decide(&rt.store, &plan2.hash, true, "", "test").is_err());
    let listed = rt.store.list_plans(&[PlanStatus::Rejected], 10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].hash, plan2.hash);
    assert!(rt
        .store
        .plan_body(&plan2.hash)
        .unwrap()
        .unwrap()
        .contains(&plan2.hash));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_plan_is_never_applied_nor_approved() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let root = "/srv/mc-denied";
    let source = Arc::new(PolicySource {
        inner: TestSource::new(vec![ssh_host(fleet.host(1).name())], files_for(root, "x")),
        rule: denies,
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    planned.close().await;
    assert_eq!(plan.denials().count(), 1);
    let rendered = mc_runtime::render::render_plan(&plan, false);
    assert!(rendered.contains("Denied by policy"), "{rendered}");
    let err = policy::decide(&rt.store, &plan.hash, true, "please", "test").unwrap_err();
    assert!(err.contains("cannot override a deny"), "{err}");
    let err = rt
        .apply(
            &plan,
            Default::default(),
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("files are frozen"), "{err}");
    assert!(!fleet.host(1).path_exists(root).unwrap());
}
