//! The same state store behaviour on SQLite and on a real PostgreSQL
//! server (started by the test in a temporary directory), then what only a
//! shared PostgreSQL store does: locks held by a session across
//! processes, a server restart, copies between the two.

use mc_state::{
    AuditVerdict, DriftItem, HostResult, PlanStatus, ResourceResult, ResourceState, StateError,
    StateLocation, StateStore,
};
use mc_testfleet::postgres::TestPostgres;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hosts(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn pg_store(pg: &TestPostgres) -> (String, StateStore) {
    let url = TestPostgres::url_with_password(&pg.database().unwrap());
    let store = StateStore::open_at(&StateLocation::Postgres(url.clone())).unwrap();
    (url, store)
}

fn reopen(url: &str) -> StateStore {
    StateStore::open_at(&StateLocation::Postgres(url.to_string())).unwrap()
}

/// Everything a run records, read back: the behaviour both backends share.
fn exercise(store: &StateStore) {
    let run = store
        .start_run("apply", Some("planhash"), "src", &hosts(&["web1", "web2"]))
        .unwrap();
    assert!(run > 0);
    store
        .record_host_result(
            run,
            &HostResult {
                host: "web1".into(),
                status: mc_state::HostStatus::Ok,
                changed: 2,
                unchanged: 75,
                ..Default::default()
            },
        )
        .unwrap();
    let applied = ResourceState {
        host: "web1".into(),
        resource: "file[/etc/motd]".into(),
        type_name: "file".into(),
        desired_digest: "d1".into(),
        observed_digest: "o1".into(),
        run_id: run,
        applied_at: 1,
        sensitive: vec!["content".into()],
    };
    for (i, r) in ["file[/etc/motd]", "user[app]"].iter().enumerate() {
        let result = ResourceResult {
            host: "web1".into(),
            resource: r.to_string(),
            action: "create".into(),
            status: mc_state::ResourceStatus::Changed,
            message: None,
            duration_ms: i as u64,
            output: Some("done\n".into()),
        };
        store
            .record_resource_result(run, &result, (i == 0).then_some(&applied))
            .unwrap();
    }
    store
        .finish_run(
            run,
            mc_state::RunStatus::Ok,
            &serde_json::json!({"changed": 2}),
        )
        .unwrap();
    let r = store.run(run).unwrap().unwrap();
    assert_eq!((r.status.as_str(), r.hosts.len()), ("ok", 2));
    assert_eq!(r.summary, Some(serde_json::json!({"changed": 2})));
    assert_eq!(store.list_runs(10).unwrap()[0].id, run);
    assert_eq!(store.host_results(run).unwrap()[0].unchanged, 75);
    let results = store.resource_results(run).unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.resource.as_str()).collect();
    assert_eq!(names, ["file[/etc/motd]", "user[app]"], "insertion order");
    assert_eq!(
        store.resource_states("web1").unwrap(),
        vec![applied.clone()]
    );
    assert!(store.forget_resource("web1", "file[/etc/motd]").unwrap());
    assert!(store.all_resource_states().unwrap().is_empty());

    store
        .cache_facts("web1", &serde_json::json!({"os": "debian"}))
        .unwrap();
    store
        .cache_facts("web1", &serde_json::json!({"os": "alpine"}))
        .unwrap();
    assert_eq!(
        store.cached_facts("web1").unwrap().unwrap().0,
        serde_json::json!({"os": "alpine"})
    );
    assert_eq!(store.all_cached_facts().unwrap().len(), 1);

    let detail = serde_json::json!({"hosts": ["web1"]});
    store
        .save_plan("abc123", "src", &hosts(&["web1"]), "{}", &detail)
        .unwrap();
    store
        .save_plan("abc123", "src", &hosts(&["web1"]), "{}", &detail)
        .unwrap();
    assert!(store.plan_recorded_by("abc123").unwrap().is_some());
    assert_eq!(store.find_plans("abc").unwrap().len(), 1);
    assert_eq!(store.plan_body("abc123").unwrap().as_deref(), Some("{}"));
    let d = store
        .decide_plan(
            "abc123",
            true,
            "looks fine",
            &serde_json::json!({"via": "test"}),
        )
        .unwrap();
    assert_eq!(store.standing_approval("abc123").unwrap(), Some(d));
    assert!(store.claim_plan_for_apply("abc123", run, true).unwrap());
    assert!(!store.claim_plan_for_apply("abc123", run, true).unwrap());
    assert_eq!(
        store.list_plans(&[PlanStatus::Applied], 5).unwrap().len(),
        1
    );
    store
        .set_plan_status("abc123", PlanStatus::Stale, None)
        .unwrap();
    assert_eq!(store.plan("abc123").unwrap().unwrap().run_id, Some(run));

    let item = DriftItem {
        host: "web1".into(),
        resource: "file[/etc/motd]".into(),
        status: mc_state::DriftStatus::Drifted,
        summary: "content changed".into(),
        changes: vec![],
        diff: Some("-a\n+b\n".into()),
    };
    let report = store
        .record_drift_report(&hosts(&["web1"]), 77, std::slice::from_ref(&item))
        .unwrap();
    assert_eq!(store.drift_reports(5).unwrap()[0].drifted, 1);
    let current = store.current_drift().unwrap();
    assert_eq!((current[0].report_id, &current[0].item), (report, &item));

    use mc_ir::RefreshAction::{OnNotify, Restart};
    store
        .add_pending_notifications("web1", &[("service[nginx]".into(), Restart)], run)
        .unwrap();
    store
        .add_pending_notifications("web1", &[("service[nginx]".into(), OnNotify)], run)
        .unwrap();
    assert_eq!(
        store.pending_notifications("web1").unwrap(),
        vec![("service[nginx]".to_string(), Restart)],
        "the strongest action asked stays"
    );
    store
        .clear_pending_notification("web1", "service[nginx]")
        .unwrap();
    assert!(store.pending_notifications("web1").unwrap().is_empty());

    store
        .record_event(run, "web1", Some("user[app]"), "changed", Some("created"))
        .unwrap();
    store.record_event(run, "web1", None, "done", None).unwrap();
    let events = store.events_since(run, 0).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(store.events_since(run, events[0].id).unwrap().len(), 1);

    store.acquire_lock(&hosts(&["web1"]), run).unwrap();
    assert_eq!(store.locks().unwrap().len(), 1);
    store.release_lock(run).unwrap();
    assert!(store.locks().unwrap().is_empty());

    let head = store.audit_head().unwrap();
    match store.verify_audit().unwrap() {
        AuditVerdict::Intact { entries, .. } => assert!(entries >= 6, "{entries}"),
        broken => panic!("{broken:?}"),
    }
    assert!(matches!(
        store.verify_audit_anchor(&head).unwrap(),
        AuditVerdict::Intact { .. }
    ));
}

#[test]
fn both_backends_record_and_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&StateStore::open(&dir.path().join("state.db")).unwrap());
    let pg = TestPostgres::start().unwrap();
    let (_, store) = pg_store(&pg);
    assert!(store.is_postgres());
    exercise(&store);
    // Opening again runs no migration twice and keeps everything.
    let version = store.schema_version().unwrap();
    assert!(version >= 1);
}

#[test]
fn postgres_store_refuses_a_newer_schema_and_detects_tampering() {
    let pg = TestPostgres::start().unwrap();
    let (url, store) = pg_store(&pg);
    for i in 0..4 {
        store.audit("test", &serde_json::json!({ "i": i })).unwrap();
    }
    let db = url.rsplit('/').next().unwrap();
    let edit = pg
        .psql(db, "UPDATE audit SET detail = '{\"i\":9}' WHERE seq = 2")
        .unwrap();
    assert!(edit.status.success());
    match store.verify_audit().unwrap() {
        AuditVerdict::Broken { seq: 2, reason } => assert!(reason.contains("edited"), "{reason}"),
        other => panic!("{other:?}"),
    }
    drop(store);
    pg.psql(
        db,
        "UPDATE meta SET value = '999' WHERE key = 'schema_version'",
    )
    .unwrap();
    match StateStore::open_at(&StateLocation::Postgres(url)) {
        Err(StateError::TooNew {
            found: 999, path, ..
        }) => {
            assert!(!path.contains(mc_testfleet::postgres::PASSWORD), "{path}")
        }
        other => panic!("expected TooNew, got {:?}", other.err()),
    }
}

#[test]
fn postgres_locks_hold_across_connections_and_end_with_them() {
    let pg = TestPostgres::start().unwrap();
    let (url, a) = pg_store(&pg);
    // A second `mc` on another machine: its own connection.
    let b = reopen(&url);
    a.acquire_lock(&hosts(&["h1", "h2"]), 1).unwrap();
    match b.acquire_lock(&hosts(&["h2", "h3"]), 2) {
        Err(StateError::LockHeld(holders)) => {
            assert_eq!(holders.len(), 1);
            assert_eq!(holders[0].host, "h2");
            assert_eq!(holders[0].run_id, 1);
        }
        other => panic!("expected LockHeld, got {other:?}"),
    }
    // All or nothing: h3 was not kept by the refused attempt.
    let c = reopen(&url);
    c.acquire_lock(&hosts(&["h3"]), 3).unwrap();
    c.release_lock(3).unwrap();
    // Waiting: the holder lets go while the other waits.
    let waited = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let started = Instant::now();
            b.acquire_lock_waiting(&hosts(&["h2"]), 4, Duration::from_secs(20))
                .map(|_| started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(800));
        a.release_lock(1).unwrap();
        waiter.join().unwrap()
    })
    .unwrap();
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
    b.release_lock(4).unwrap();
    // A holder whose connection ends (a crashed mc) holds nothing more.
    a.acquire_lock(&hosts(&["h1"]), 5).unwrap();
    assert_eq!(b.locks().unwrap().len(), 1);
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !b.locks().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "lock outlived its session");
        std::thread::sleep(Duration::from_millis(50));
    }
    b.acquire_lock(&hosts(&["h1"]), 6).unwrap();
    let kinds: Vec<String> = b
        .audit_entries(None)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"lock.takeover".to_string()), "{kinds:?}");
    assert!(matches!(
        b.verify_audit().unwrap(),
        AuditVerdict::Intact { .. }
    ));
}

const CHILD_URL: &str = "MC_STATE_TEST_PG_URL";

/// Re-executed by `killing_the_holder_releases_its_postgres_lock`: takes
/// the lock, says so through a file, and waits to be killed.
#[test]
fn postgres_lock_holder_entry() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let store = reopen(&url);
    let run = store
        .start_run("apply", None, "src", &hosts(&["h1"]))
        .unwrap();
    store.acquire_lock(&hosts(&["h1"]), run).unwrap();
    std::fs::write(
        std::env::var("MC_STATE_TEST_FLAG").unwrap(),
        run.to_string(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(60));
    std::process::exit(3);
}

#[test]
fn killing_the_holder_releases_its_postgres_lock() {
    let pg = TestPostgres::start().unwrap();
    let (url, store) = pg_store(&pg);
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("locked");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "postgres_lock_holder_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, &url)
        .env("MC_STATE_TEST_FLAG", &flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !flag.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "child exited before locking"
        );
        assert!(Instant::now() < deadline, "child never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    match store.acquire_lock(&hosts(&["h1"]), 99) {
        Err(e @ StateError::LockHeld(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("h1") && msg.contains("since"), "{msg}");
        }
        other => panic!("expected LockHeld, got {other:?}"),
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match store.acquire_lock(&hosts(&["h1"]), 100) {
            Ok(()) => break,
            Err(StateError::LockHeld(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => panic!("lock not released by the killed holder: {other:?}"),
        }
    }
}

#[test]
fn a_restarted_postgres_server_gives_a_clear_error_and_a_new_connection_works() {
    let mut pg = TestPostgres::start().unwrap();
    let (url, store) = pg_store(&pg);
    let run = store
        .start_run("apply", None, "src", &hosts(&["h1"]))
        .unwrap();
    store.acquire_lock(&hosts(&["h1"]), run).unwrap();
    pg.restart(Duration::from_millis(200)).unwrap();
    let err = store
        .record_event(run, "h1", None, "changed", None)
        .expect_err("the connection is gone");
    let msg = err.to_string();
    assert!(
        msg.contains("lost the connection") && msg.contains("rerun"),
        "{msg}"
    );
    assert!(!msg.contains(mc_testfleet::postgres::PASSWORD), "{msg}");
    // The next run: a new connection; the dead session's lock is gone.
    let again = reopen(&url);
    again.acquire_lock(&hosts(&["h1"]), run + 1).unwrap();
    assert_eq!(again.run(run).unwrap().unwrap().hosts, hosts(&["h1"]));
}

#[test]
fn migrate_to_postgres_and_back_keeps_every_row_and_the_audit_chain() {
    let dir = tempfile::tempdir().unwrap();
    let local = StateStore::open(&dir.path().join("state.db")).unwrap();
    exercise(&local);
    let pg = TestPostgres::start().unwrap();
    let (url, shared) = pg_store(&pg);
    local.copy_into(&shared).unwrap();
    let head = local.audit_head().unwrap();
    assert_eq!(shared.audit_head().unwrap(), head);
    assert!(matches!(
        shared.verify_audit_anchor(&head).unwrap(),
        AuditVerdict::Intact { .. }
    ));
    assert_eq!(shared.list_runs(10).unwrap(), local.list_runs(10).unwrap());
    assert_eq!(
        shared.list_plans(&[], 10).unwrap(),
        local.list_plans(&[], 10).unwrap()
    );
    let run = local.list_runs(1).unwrap()[0].id;
    assert_eq!(
        shared.resource_results(run).unwrap(),
        local.resource_results(run).unwrap()
    );
    assert_eq!(
        shared.events_since(run, 0).unwrap(),
        local.events_since(run, 0).unwrap()
    );
    // New rows get new ids after the copied ones.
    let next = shared
        .start_run("apply", None, "src", &hosts(&["h"]))
        .unwrap();
    assert!(next > run);
    // A store with history is never overwritten.
    let err = local.copy_into(&reopen(&url)).unwrap_err().to_string();
    assert!(err.contains("empty"), "{err}");
    // And back: a PostgreSQL store's backup is a SQLite file.
    let backup = dir.path().join("backup.db");
    shared.backup(&backup).unwrap();
    let restored = StateStore::open(&backup).unwrap();
    assert_eq!(restored.audit_head().unwrap(), shared.audit_head().unwrap());
    assert!(matches!(
        restored.verify_audit().unwrap(),
        AuditVerdict::Intact { .. }
    ));
    // Restoring into PostgreSQL replaces its content with the backup's.
    shared
        .start_run("apply", None, "src", &hosts(&["later"]))
        .unwrap();
    shared.restore(&backup).unwrap();
    assert_eq!(
        shared.list_runs(100).unwrap().len(),
        restored.list_runs(100).unwrap().len()
    );
    assert!(matches!(
        shared.verify_audit().unwrap(),
        AuditVerdict::Intact { .. }
    ));
}

/// TLS as libpq's `sslmode` means it, against a server that accepts only
/// TLS, with a certificate for `localhost` from a test CA.
#[test]
fn tls_to_postgres_follows_sslmode() {
    let mut pg = TestPostgres::start().unwrap();
    let (ca, other_ca) = pg.require_tls().unwrap();
    let url = TestPostgres::url_with_password(&pg.database().unwrap());
    let by_name = url.replace("@127.0.0.1:", "@localhost:");
    let open = |url: &str, query: String| {
        StateStore::open_at(&StateLocation::Postgres(format!("{url}?{query}")))
            .map(|s| {
                s.audit("tls", &serde_json::json!({})).unwrap();
            })
            .map_err(|e| e.to_string())
    };

    // The server refuses plain connections.
    let err = open(&url, "sslmode=disable".into()).unwrap_err();
    assert!(err.contains("cannot connect"), "{err}");
    // `require` (and the default, `prefer`) encrypt without checking the
    // certificate, as libpq does.
    open(&url, "sslmode=require".into()).unwrap();
    open(&url, "connect_timeout=5".into()).unwrap();
    // `verify-full` checks the chain and the name.
    let root = |ca: &std::path::Path| ca.display().to_string();
    open(
        &by_name,
        format!("sslmode=verify-full&sslrootcert={}", root(&ca)),
    )
    .unwrap();
    let err = open(
        &by_name,
        format!("sslmode=verify-full&sslrootcert={}", root(&other_ca)),
    )
    .unwrap_err();
    assert!(
        err.contains("certificate") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(!err.contains(mc_testfleet::postgres::PASSWORD), "{err}");
    let err = open(
        &url,
        format!("sslmode=verify-full&sslrootcert={}", root(&ca)),
    )
    .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    // `verify-ca` checks the chain only.
    open(&url, format!("sslmode=verify-ca&sslrootcert={}", root(&ca))).unwrap();
    let err = open(
        &url,
        format!("sslmode=verify-ca&sslrootcert={}", root(&other_ca)),
    )
    .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    let err = open(&url, "sslmode=sure".into()).unwrap_err();
    assert!(err.contains("verify-full"), "{err}");
}
