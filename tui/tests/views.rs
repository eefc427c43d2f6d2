//! Every view rendered at 80×24 from a real SQLite state store, and the
//! keys that move between them.

mod fixture;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use fixture::{app, render};
use mc_state::{PlanStatus, StateStore};
use mc_tui::{Action, App, Mode, Tab};

/// Times come from the clock when the store records them; the actor is
/// `user@hostname`. Neither belongs in a snapshot.
macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({filters => vec![
            (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "YYYY-MM-DD hh:mm:ss"),
            (r"  by .*", "  by ACTOR"),
        ]}, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

fn press(app: &mut App, code: KeyCode) {
    press_with(app, code, KeyModifiers::NONE);
}

fn press_with(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
    app.handle_key(KeyEvent::new(code, modifiers));
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

#[test]
fn runs_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("running"), "{screen}");
    snapshot!("runs", screen);
}

#[test]
fn run_detail_shows_failures_first_with_output_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    // Runs are newest first: #3, #2, #1.
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 80, 24);
    let failed = screen.find("failed   web2").expect("failed row");
    let changed = screen.find("changed  web1").expect("changed row");
    assert!(failed < changed, "failures come first:\n{screen}");
    assert!(screen.contains("permission denied"), "{screen}");
    assert!(screen.contains("mode: 420 → 384"), "{screen}");
    snapshot!("run_detail_failed", screen);

    // Down to the motd change: its content diff shows.
    press(&mut app, KeyCode::Down);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("+welcome to web1"), "{screen}");
    snapshot!("run_detail_diff", screen);

    press(&mut app, KeyCode::Esc);
    assert!(render(&mut app, 80, 24).contains(" Runs (3) "));
}

#[test]
fn run_detail_shows_the_stored_output_of_the_selected_resource() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Enter);
    let mut screen = render(&mut app, 80, 30);
    for _ in 0..6 {
        if screen.contains("Setting up nginx") {
            break;
        }
        press(&mut app, KeyCode::Down);
        screen = render(&mut app, 80, 30);
    }
    assert!(screen.contains("output:"), "{screen}");
    assert!(
        screen.contains("  Unpacking nginx (1.22.1-9) ..."),
        "{screen}"
    );
    assert!(
        screen.contains("  Setting up nginx (1.22.1-9) ..."),
        "{screen}"
    );
}

#[test]
fn drift_view_is_empty_until_reports_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.tab(), Tab::Drift);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("no drift reports yet"), "{screen}");
    snapshot!("drift_empty", screen);
}

#[test]
fn approvals_view_shows_the_plans_reasons_findings_and_risks() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.tab(), Tab::Approvals);
    let screen = render(&mut app, 80, 24);
    // The pending plan that needs no approval and the applied plan are
    // not listed.
    assert!(screen.contains("Approvals (1)"), "{screen}");
    assert!(
        !screen.contains(&fixture::applied_plan().hash[..12]),
        "{screen}"
    );
    let hash = fixture::pending_plan().hash;
    assert!(screen.contains(&hash[..12]), "{screen}");
    // Hash, counts, highest risk, status, hosts.
    assert!(
        screen.contains("+0 ~1 -1   high   pending  db1"),
        "{screen}"
    );
    // The plan's own required_approvals, in order.
    let because = screen.find("needs approval because:").expect("reasons");
    let first = screen
        .find("- deleting a user needs a second person")
        .expect("policy reason");
    let second = screen
        .find("- high-risk change: delete user[olduser] on db1")
        .expect("risk reason");
    assert!(because < first && first < second, "{screen}");
    assert!(screen.contains("policy findings:"), "{screen}");
    assert!(
        screen.contains("approval db1  policy \"users need review\""),
        "{screen}"
    );
    assert!(screen.contains("approval db1  approval_risk"), "{screen}");
    snapshot!("approvals", screen);

    // The rest of the pane: the warning and every change with its risk.
    for _ in 0..20 {
        press(&mut app, KeyCode::Char('J'));
    }
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains("warn     db1  policy \"db is watched\""),
        "{screen}"
    );
    assert!(screen.contains("update file[/etc/motd] on db1"), "{screen}");
    assert!(screen.contains("- db1 user[olduser]  high"), "{screen}");
    assert!(screen.contains("~ db1 file[/etc/motd]  low"), "{screen}");
    snapshot!("approvals_scrolled", screen);

    press(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("user[olduser]"), "{screen}");
    snapshot!("approvals_plan_opened", screen);
}

#[test]
fn a_denied_plan_is_shown_as_denied_and_cannot_be_approved() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&StateStore::default_path(dir.path())).unwrap();
    fixture::fill(&store);
    let denied = fixture::denied_plan();
    fixture::save(&store, &denied);
    let mut app =
        fixture::app_over(StateStore::open(&StateStore::default_path(dir.path())).unwrap());
    press(&mut app, KeyCode::BackTab);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("Approvals (2)"), "{screen}");
    // Newest first: the denied plan is selected.
    assert!(
        screen.contains("+0 ~0 -1   high   denied   db2"),
        "{screen}"
    );
    assert!(
        screen.contains("DENIED by policy (1 change): reject it; it cannot be approved"),
        "{screen}"
    );
    assert!(
        screen.contains("deny     db2  policy \"users are never deleted\""),
        "{screen}"
    );
    assert!(screen.contains("users are never deleted by mc"), "{screen}");
    snapshot!("approvals_denied", screen);

    // `a` does not even ask for a reason.
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(app.mode(), &Mode::Normal);
    assert_eq!(
        app.message(),
        Some(&*format!(
            "plan {} is denied by policy and cannot be approved; `r` rejects it",
            &denied.hash[..12]
        ))
    );
    assert_eq!(
        store.plan(&denied.hash).unwrap().unwrap().status,
        PlanStatus::Pending
    );
    // The store call refuses it too, whoever calls it.
    let source = app.source().unwrap();
    let err = source
        .decide(&denied.hash, mc_tui::Decision::Approve, "looks fine")
        .unwrap_err();
    assert!(err.contains("denied by policy"), "{err}");
    assert_eq!(
        store.plan(&denied.hash).unwrap().unwrap().status,
        PlanStatus::Pending
    );

    // Rejecting works and leaves the other plan.
    press(&mut app, KeyCode::Char('r'));
    type_text(&mut app, "root stays");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.message(),
        Some(&*format!("plan {} rejected", &denied.hash[..12]))
    );
    assert_eq!(
        store.plan(&denied.hash).unwrap().unwrap().status,
        PlanStatus::Rejected
    );
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("Approvals (1)"), "{screen}");
    assert!(screen.contains("pending  db1"), "{screen}");
}

#[test]
fn plan_viewer_of_a_plan_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    std::fs::write(&path, fixture::pending_plan().to_json_pretty()).unwrap();
    let mut app = mc_tui::app_for_plan_file(&path).unwrap();
    assert_eq!(app.tab(), Tab::Plan);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("sealed"), "{screen}");
    assert!(
        screen.contains("Changes (2)"),
        "unchanged resources are hidden:\n{screen}"
    );
    snapshot!(
        "plan_viewer",
        screen.replace(&dir.path().display().to_string(), "DIR")
    );

    // An edited plan says so.
    let mut edited = fixture::pending_plan();
    edited.hosts[0].resources[0].risk = mc_ir::Risk::Low;
    std::fs::write(&path, edited.to_json_pretty()).unwrap();
    let mut app = mc_tui::app_for_plan_file(&path).unwrap();
    assert!(render(&mut app, 80, 24).contains("HASH MISMATCH"));

    std::fs::write(&path, "{}").unwrap();
    let err = mc_tui::app_for_plan_file(&path).err().unwrap();
    assert!(err.contains("schema"), "{err}");
}

#[test]
fn help_overlay_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    press(&mut app, KeyCode::Char('?'));
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains(" Keys "), "{screen}");
    snapshot!("help", screen);
    press(&mut app, KeyCode::Char('x'));
    assert!(!render(&mut app, 80, 24).contains(" Keys "));

    press(&mut app, KeyCode::Char('/'));
    assert_eq!(app.mode(), &Mode::Filter);
    type_text(&mut app, "fail");
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("Runs (1 of 3)"), "{screen}");
    snapshot!("runs_filtered", screen);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode(), &Mode::Normal);
    // `q` while not typing quits; the filter stays until Esc.
    assert!(render(&mut app, 80, 24).contains("[/fail]"));
    press(&mut app, KeyCode::Esc);
    assert!(render(&mut app, 80, 24).contains("Runs (3)"));
}

#[test]
fn keys_map_to_actions() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let action = |code, mods| app.key_action(KeyEvent::new(code, mods));
    let none = KeyModifiers::NONE;
    assert!(matches!(
        action(KeyCode::Char('q'), none),
        Some(Action::Quit)
    ));
    assert!(matches!(
        action(KeyCode::Char('c'), KeyModifiers::CONTROL),
        Some(Action::Quit)
    ));
    assert!(matches!(
        action(KeyCode::Char('j'), none),
        Some(Action::Down)
    ));
    assert!(matches!(action(KeyCode::Down, none), Some(Action::Down)));
    assert!(matches!(action(KeyCode::Char('k'), none), Some(Action::Up)));
    assert!(matches!(action(KeyCode::Up, none), Some(Action::Up)));
    assert!(matches!(
        action(KeyCode::Char('G'), none),
        Some(Action::Bottom)
    ));
    assert!(matches!(
        action(KeyCode::Char('g'), none),
        Some(Action::Top)
    ));
    assert!(matches!(
        action(KeyCode::Char('d'), KeyModifiers::CONTROL),
        Some(Action::PageDown)
    ));
    assert!(matches!(action(KeyCode::Tab, none), Some(Action::NextTab)));
    assert!(matches!(action(KeyCode::Enter, none), Some(Action::Open)));
    assert!(matches!(action(KeyCode::Esc, none), Some(Action::Back)));
    assert!(matches!(
        action(KeyCode::Char('/'), none),
        Some(Action::StartFilter)
    ));
    // Approve and reject exist only on the Approvals view.
    assert!(action(KeyCode::Char('a'), none).is_none());
    assert!(action(KeyCode::Char('r'), none).is_none());
}

#[test]
fn ctrl_c_quits_even_while_typing() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    press(&mut app, KeyCode::Char('/'));
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.should_quit, "q is text in the filter line");
    press_with(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(app.should_quit);
}

#[test]
fn cursor_stops_at_the_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    for _ in 0..10 {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Enter);
    assert!(render(&mut app, 80, 24).contains("run #1 apply"));
    press(&mut app, KeyCode::Esc);
    for _ in 0..10 {
        press(&mut app, KeyCode::Up);
    }
    press(&mut app, KeyCode::Enter);
    assert!(render(&mut app, 80, 24).contains("run #3 apply"));
}

#[test]
fn approve_with_a_reason_is_recorded_in_the_store_and_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    let hash = fixture::pending_plan().hash;
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::Char('a'));
    assert!(matches!(app.mode(), Mode::Reason { .. }));
    type_text(&mut app, "reviewed with ops");
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("approve"), "{screen}");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.message(),
        Some(&*format!("plan {} approved", &hash[..12]))
    );

    let store = StateStore::open(&StateStore::default_path(dir.path())).unwrap();
    assert_eq!(
        store.plan(&hash).unwrap().unwrap().status,
        PlanStatus::Approved
    );
    let last = store.audit_entries(Some(1)).unwrap().pop().unwrap();
    assert_eq!(last.kind, "plan.approve");
    let detail: serde_json::Value = serde_json::from_str(&last.detail).unwrap();
    assert_eq!(detail["plan"], hash.as_str());
    assert_eq!(detail["reason"], "reviewed with ops");
    assert!(matches!(
        store.verify_audit().unwrap(),
        mc_state::AuditVerdict::Intact { .. }
    ));
    // It left the Approvals view.
    assert!(render(&mut app, 80, 24).contains("no plans waiting for approval"));
}

#[test]
fn reject_needs_a_reason_and_hides_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    let hash = fixture::pending_plan().hash;
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::Char('r'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.message(),
        Some("cannot reject: a rejection needs a reason")
    );
    press(&mut app, KeyCode::Char('r'));
    type_text(&mut app, "deletes a user");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.message(),
        Some(&*format!("plan {} rejected", &hash[..12]))
    );

    let store = StateStore::open(&StateStore::default_path(dir.path())).unwrap();
    let last = store.audit_entries(Some(1)).unwrap().pop().unwrap();
    assert_eq!(last.kind, "plan.reject");
    assert!(last.detail.contains("deletes a user"));
    assert_eq!(
        store.plan(&hash).unwrap().unwrap().status,
        PlanStatus::Rejected
    );
    assert!(render(&mut app, 80, 24).contains("no plans waiting for approval"));
}

#[test]
fn live_updates_keep_the_selection() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    press(&mut app, KeyCode::Down); // run #2
    let store = StateStore::open(&StateStore::default_path(dir.path())).unwrap();
    let r4 = store
        .start_run("apply", None, "src", &["web1".to_string()])
        .unwrap();
    fixture::refresh(&mut app);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains(&format!("#{r4}")), "{screen}");
    assert!(screen.contains("Runs (4)"), "{screen}");
    press(&mut app, KeyCode::Enter);
    assert!(render(&mut app, 80, 24).contains("run #2 apply"));

    // The open run updates too.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('g'));
    press(&mut app, KeyCode::Enter);
    assert!(render(&mut app, 80, 24).contains("(host)"));
    store
        .record_resource_result(
            r4,
            &mc_state::ResourceResult {
                host: "web1".into(),
                resource: "file[/etc/issue]".into(),
                action: "create".into(),
                status: mc_state::ResourceStatus::Changed,
                message: None,
                duration_ms: 7,
                output: None,
            },
            None,
        )
        .unwrap();
    fixture::refresh(&mut app);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("file[/etc/issue]"), "{screen}");
}

#[test]
fn missing_store_is_an_error_not_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = mc_tui::app_for_project(dir.path()).err().unwrap();
    assert!(err.contains("no state store"), "{err}");
    assert!(!dir.path().join(".mc").exists());
}

#[test]
fn renders_in_tiny_terminals_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    for (w, h) in [(1, 1), (10, 3), (20, 5), (80, 24), (200, 60)] {
        render(&mut app, w, h);
        press(&mut app, KeyCode::Enter);
        render(&mut app, w, h);
        press(&mut app, KeyCode::Char('?'));
        render(&mut app, w, h);
        press(&mut app, KeyCode::Char('?'));
        press(&mut app, KeyCode::Tab);
        render(&mut app, w, h);
        press(&mut app, KeyCode::Tab);
        render(&mut app, w, h);
    }
}

/// The store records no drift yet; this source adds reports on top of the
/// real store so the view's populated state is covered.
struct WithDrift(mc_tui::StoreSource, Vec<mc_tui::DriftEntry>);

impl mc_tui::DataSource for WithDrift {
    fn runs(&self, limit: usize) -> Result<Vec<mc_state::RunRecord>, String> {
        self.0.runs(limit)
    }
    fn run_detail(&self, run_id: i64) -> Result<mc_tui::RunDetail, String> {
        self.0.run_detail(run_id)
    }
    fn drift(&self) -> Result<Vec<mc_tui::DriftEntry>, String> {
        Ok(self.1.clone())
    }
    fn pending_plans(&self) -> Result<Vec<mc_tui::PendingPlan>, String> {
        self.0.pending_plans()
    }
    fn decide(&self, hash: &str, d: mc_tui::Decision, reason: &str) -> Result<(), String> {
        self.0.decide(hash, d, reason)
    }
}

#[test]
fn drift_view_with_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&StateStore::default_path(dir.path())).unwrap();
    fixture::fill(&store);
    let entry =
        |host: &str, resource: &str, summary: &str, diff: Option<&str>| mc_tui::DriftEntry {
            host: host.into(),
            resource: resource.into(),
            detected_at: fixture::CREATED_AT,
            summary: summary.into(),
            diff: diff.map(str::to_string),
            resolved_at: None,
        };
    let source = WithDrift(
        mc_tui::StoreSource::new(store).unwrap(),
        vec![
            entry(
                "web1",
                "file[/etc/motd]",
                "content changed",
                Some("@@ -1 +1 @@\n-managed by mc\n+edited by hand\n"),
            ),
            entry("web2", "service[nginx]", "stopped", None),
        ],
    );
    let mut app = App::new(std::sync::Arc::new(source), "project/.mc/state.db".into());
    fixture::refresh(&mut app);
    press(&mut app, KeyCode::Tab);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("Drift (2)"), "{screen}");
    assert!(screen.contains("+edited by hand"), "{screen}");
    snapshot!("drift_reports", screen);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "nginx");
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains("Drift (1)") && screen.contains("stopped"),
        "{screen}"
    );
}

#[test]
fn drift_fixed_by_a_later_apply_shows_as_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&StateStore::default_path(dir.path())).unwrap();
    let item = |resource: &str| mc_state::DriftItem {
        host: "web1".into(),
        resource: resource.into(),
        status: mc_state::DriftStatus::Drifted,
        summary: "content changed".into(),
        changes: vec![],
        diff: None,
    };
    store
        .record_drift_report(
            &["web1".to_string()],
            2,
            &[item("file[/etc/motd]"), item("file[/etc/issue]")],
        )
        .unwrap();
    let detected = store.current_drift().unwrap()[0].detected_at;
    // The fix of one of them was applied after the report.
    store
        .set_resource_state(&mc_state::ResourceState {
            host: "web1".into(),
            resource: "file[/etc/motd]".into(),
            type_name: "file".into(),
            desired_digest: "d".into(),
            observed_digest: "o".into(),
            run_id: 1,
            applied_at: detected + 5,
            sensitive: vec![],
        })
        .unwrap();
    let source = mc_tui::StoreSource::new(store).unwrap();
    let entries = mc_tui::DataSource::drift(&source).unwrap();
    let motd = entries
        .iter()
        .find(|e| e.resource == "file[/etc/motd]")
        .unwrap();
    assert_eq!(motd.resolved_at, Some(detected + 5));
    let issue = entries
        .iter()
        .find(|e| e.resource == "file[/etc/issue]")
        .unwrap();
    assert_eq!(issue.resolved_at, None);

    let mut app = App::new(std::sync::Arc::new(source), "project/.mc/state.db".into());
    fixture::refresh(&mut app);
    press(&mut app, KeyCode::Tab);
    let screen = render(&mut app, 100, 24);
    let motd_row = screen
        .lines()
        .find(|l| l.contains("file[/etc/motd]"))
        .unwrap();
    assert!(motd_row.contains("resolved"), "{screen}");
    let issue_row = screen
        .lines()
        .find(|l| l.contains("file[/etc/issue]"))
        .unwrap();
    assert!(issue_row.contains("content changed"), "{screen}");
}

#[test]
fn esc_then_a_key_read_as_alt_key_is_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app(dir.path());
    press(&mut app, KeyCode::Enter);
    assert!(render(&mut app, 80, 24).contains("run #3 apply"));
    // Esc and `/` arrive together as Alt-/: back to the list, then filter.
    press_with(&mut app, KeyCode::Char('/'), KeyModifiers::ALT);
    assert_eq!(app.mode(), &Mode::Filter);
    assert!(render(&mut app, 80, 24).contains("Runs (3)"));
}

#[test]
fn a_running_run_whose_process_is_gone_shows_as_crashed() {
    let dir = tempfile::tempdir().unwrap();
    let path = StateStore::default_path(dir.path());
    let store = StateStore::open(&path).unwrap();
    let run = store
        .start_run("apply", None, "src", &["web1".to_string()])
        .unwrap();
    drop(store);
    // Point the run at a process that has exited.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE runs SET pid = ?1 WHERE id = ?2", (pid, run))
        .unwrap();
    drop(conn);
    let mut app = fixture::app_over(StateStore::open(&path).unwrap());
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("crashed"), "{screen}");
    press(&mut app, KeyCode::Enter);
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains(&format!("run #{run} apply crashed")),
        "{screen}"
    );
}

#[test]
fn long_diffs_scroll_in_their_pane() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = fixture::pending_plan();
    let diff: String = (1..=40).map(|i| format!("+line {i}\n")).collect();
    plan.hosts[0].resources[0].content_diff = Some(diff);
    plan.seal();
    let path = dir.path().join("plan.json");
    std::fs::write(&path, plan.to_json_pretty()).unwrap();
    let mut app = mc_tui::app_for_plan_file(&path).unwrap();
    let screen = render(&mut app, 80, 24);
    assert!(
        screen.contains("+line 1\n") || screen.contains("+line 1 "),
        "{screen}"
    );
    assert!(
        screen.contains("J/K]"),
        "the title says there is more:\n{screen}"
    );
    for _ in 0..5 {
        press(&mut app, KeyCode::Char('J'));
    }
    let screen = render(&mut app, 80, 24);
    assert!(!screen.contains("│+line 1 "), "{screen}");
    assert!(screen.contains("│+line 6 "), "{screen}");
    // Scrolling stops at the last line.
    for _ in 0..100 {
        press(&mut app, KeyCode::Char('J'));
    }
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("│+line 40 "), "{screen}");
    // Moving the selection starts the next pane at the top.
    press(&mut app, KeyCode::Char('K'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Up);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("│ensure: "), "{screen}");
}

#[test]
fn agent_runs_show_beside_controller_runs_and_their_drift_in_the_drift_view() {
    use mc_state::{
        AgentRunRecord, DriftItem, HostResult, HostStatus, ResourceResult, ResourceStatus,
        RunStatus,
    };
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&StateStore::default_path(dir.path())).unwrap();
    fixture::fill(&store);
    let run = |key: &str, noop: bool| AgentRunRecord {
        key: key.into(),
        agent: "edge7".into(),
        noop,
        status: if noop {
            RunStatus::Drifted
        } else {
            RunStatus::Ok
        },
        started: fixture::CREATED_AT,
        finished: fixture::CREATED_AT + 2,
        summary: serde_json::json!({ "changed": if noop { 0 } else { 1 } }),
        host_result: HostResult {
            host: "edge7".into(),
            status: HostStatus::Ok,
            changed: u32::from(!noop),
            ..Default::default()
        },
        results: vec![ResourceResult {
            host: "edge7".into(),
            resource: "file[/etc/edge.conf]".into(),
            action: "update".into(),
            status: ResourceStatus::Changed,
            ..Default::default()
        }],
        drift: if noop {
            vec![DriftItem {
                host: "edge7".into(),
                resource: "file[/etc/edge.conf]".into(),
                status: mc_state::DriftStatus::Drifted,
                summary: "content".into(),
                changes: vec![],
                diff: Some("@@ -1 +1 @@\n-managed\n+edited on edge7\n".into()),
            }]
        } else {
            vec![]
        },
    };
    assert!(store
        .record_agent_run(&run("agent-report:edge7:1", false))
        .unwrap());
    assert!(
        !store
            .record_agent_run(&run("agent-report:edge7:1", false))
            .unwrap(),
        "a report is recorded once"
    );
    assert!(store
        .record_agent_run(&run("agent-report:edge7:2", true))
        .unwrap());
    let mut app = fixture::app_over(store);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains(" Runs (5) "), "{screen}");
    assert!(screen.contains("#5    agent-noop  drifted"), "{screen}");
    assert!(screen.contains("#4    agent       ok"), "{screen}");
    press(&mut app, KeyCode::Tab);
    let screen = render(&mut app, 80, 24);
    assert!(screen.contains("edge7"), "{screen}");
    assert!(screen.contains("+edited on edge7"), "{screen}");
}
