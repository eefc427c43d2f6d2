//! The state store on real SQLite files, including a process killed with
//! SIGKILL while it holds the apply lock and is writing.

use mc_state::{AuditVerdict, PlanStatus, ResourceState, StateError, StateStore};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hosts(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn migrations_run_once_and_refuse_a_newer_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = StateStore::default_path(dir.path());
    let store = StateStore::open(&path).unwrap();
    let v = store.schema_version().unwrap();
    assert!(v >= 1);
    let run = store
        .start_run("apply", None, "src", &hosts(&["a"]))
        .unwrap();
    drop(store);
    // Reopening keeps data and the version.
    let store = StateStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), v);
    assert_eq!(store.run(run).unwrap().unwrap().hosts, hosts(&["a"]));
    let mode: String = raw(&path)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(store);
    raw(&path).pragma_update(None, "user_version", 999).unwrap();
    match StateStore::open(&path) {
        Err(StateError::TooNew { found: 999, .. }) => {}
        other => panic!("expected TooNew, got {:?}", other.err()),
    }
}

fn store_with_audit(n: usize) -> (tempfile::TempDir, std::path::PathBuf, StateStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = StateStore::open(&path).unwrap();
    for i in 0..n {
        store.audit("test", &serde_json::json!({ "i": i })).unwrap();
    }
    (dir, path, store)
}

#[test]
fn intact_audit_chain_verifies() {
    let (_d, _p, store) = store_with_audit(5);
    match store.verify_audit().unwrap() {
        AuditVerdict::Intact { entries, head } => {
            assert_eq!(entries, 5);
            assert_eq!(head, store.audit_entries(Some(1)).unwrap()[0].hash);
        }
        v => panic!("{v:?}"),
    }
    let all = store.audit_entries(None).unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all[1].prev_hash, all[0].hash);
}

#[test]
fn audit_verify_detects_an_edit() {
    let (_d, path, store) = store_with_audit(5);
    raw(&path)
        .execute("UPDATE audit SET detail = '{\"i\":99}' WHERE seq = 3", [])
        .unwrap();
    match store.verify_audit().unwrap() {
        AuditVerdict::Broken { seq: 3, reason } => assert!(reason.contains("edited"), "{reason}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn audit_verify_detects_a_deletion() {
    let (_d, path, store) = store_with_audit(5);
    raw(&path)
        .execute("DELETE FROM audit WHERE seq = 2", [])
        .unwrap();
    match store.verify_audit().unwrap() {
        AuditVerdict::Broken { seq: 2, reason } => assert!(reason.contains("missing"), "{reason}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn audit_verify_detects_reordering() {
    let (_d, path, store) = store_with_audit(5);
    // Swap the contents of entries 2 and 3, keeping the sequence numbers.
    let c = raw(&path);
    c.execute_batch(
        "UPDATE audit SET seq = -2 WHERE seq = 2;
         UPDATE audit SET seq = 2 WHERE seq = 3;
         UPDATE audit SET seq = 3 WHERE seq = -2;",
    )
    .unwrap();
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerdict::Broken { seq: 2, .. }
    ));
}

#[test]
fn audit_verify_detects_a_truncated_tail() {
    let (_d, path, store) = store_with_audit(5);
    raw(&path)
        .execute("DELETE FROM audit WHERE seq = 5", [])
        .unwrap();
    match store.verify_audit().unwrap() {
        AuditVerdict::Broken { reason, .. } => assert!(reason.contains("end"), "{reason}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn overlapping_locks_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let a = StateStore::open(&path).unwrap();
    // A second connection, as a second `mc` process would have.
    let b = StateStore::open(&path).unwrap();
    a.acquire_lock(&hosts(&["h1", "h2"]), 1).unwrap();
    match b.acquire_lock(&hosts(&["h2", "h3"]), 2) {
        Err(StateError::LockHeld(holders)) => {
            assert_eq!(holders.len(), 1);
            assert_eq!(holders[0].host, "h2");
            assert_eq!(holders[0].pid, std::process::id() as i64);
            let msg = StateError::LockHeld(holders).to_string();
            assert!(
                msg.contains("h2") && msg.contains("mc state unlock"),
                "{msg}"
            );
        }
        other => panic!("expected LockHeld, got {other:?}"),
    }
    // All or nothing: h3 was not taken by the refused attempt.
    b.acquire_lock(&hosts(&["h3"]), 3).unwrap();
    // A live holder is not removed without --force.
    assert!(matches!(
        b.unlock(None, false),
        Err(StateError::LockHeld(_))
    ));
    a.release_lock(1).unwrap();
    b.acquire_lock(&hosts(&["h1", "h2"]), 4).unwrap();
    let held: Vec<String> = b.locks().unwrap().into_iter().map(|l| l.host).collect();
    assert_eq!(held, hosts(&["h1", "h2", "h3"]));
    assert_eq!(b.unlock(Some(&hosts(&["h3"])), true).unwrap().len(), 1);
    assert!(matches!(
        b.verify_audit().unwrap(),
        AuditVerdict::Intact { .. }
    ));
}

#[test]
fn a_plan_is_claimed_for_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("s.db")).unwrap();
    store
        .save_plan("h", "src", &hosts(&["a"]), "{}", &serde_json::json!({}))
        .unwrap();
    assert_eq!(
        store.plan("h").unwrap().unwrap().status,
        PlanStatus::Pending
    );
    assert!(store.claim_plan_for_apply("h", 7, false).unwrap());
    assert!(!store.claim_plan_for_apply("h", 8, false).unwrap());
    let rec = store.plan("h").unwrap().unwrap();
    assert_eq!((rec.status.as_str(), rec.run_id), ("applied", Some(7)));
}

#[test]
fn pending_notifications_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = StateStore::open(&path).unwrap();
    use mc_ir::RefreshAction::{Reload, Restart};
    let nginx = || "service[nginx]".to_string();
    store
        .add_pending_notifications("web", &[(nginx(), Reload), (nginx(), Reload)], 1)
        .unwrap();
    drop(store);
    let store = StateStore::open(&path).unwrap();
    assert_eq!(
        store.pending_notifications("web").unwrap(),
        vec![(nginx(), Reload)]
    );
    // A restart asked later wins; a reload after it does not undo it.
    store
        .add_pending_notifications("web", &[(nginx(), Restart)], 2)
        .unwrap();
    store
        .add_pending_notifications("web", &[(nginx(), Reload)], 3)
        .unwrap();
    assert_eq!(
        store.pending_notifications("web").unwrap(),
        vec![(nginx(), Restart)]
    );
    store
        .clear_pending_notification("web", "service[nginx]")
        .unwrap();
    assert!(store.pending_notifications("web").unwrap().is_empty());
}

#[test]
fn backup_and_restore_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(&dir.path().join("s.db")).unwrap();
    let state = ResourceState {
        host: "a".into(),
        resource: "file[/x]".into(),
        type_name: "file".into(),
        desired_digest: "d1".into(),
        observed_digest: "o1".into(),
        run_id: 1,
        applied_at: 5,
        sensitive: vec!["content".into()],
    };
    store.set_resource_state(&state).unwrap();
    store
        .audit("before-backup", &serde_json::json!({}))
        .unwrap();
    let backup = dir.path().join("backup.db");
    store.backup(&backup).unwrap();
    assert!(store.backup(&backup).is_err(), "never overwrites a file");

    store
        .set_resource_state(&ResourceState {
            desired_digest: "d2".into(),
            ..state.clone()
        })
        .unwrap();
    store.restore(&backup).unwrap();
    assert_eq!(store.resource_states("a").unwrap(), vec![state]);
    // The restore itself is audited on top of the restored chain.
    let entries = store.audit_entries(None).unwrap();
    assert_eq!(entries.last().unwrap().kind, "state.restore");
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerdict::Intact { .. }
    ));

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text........").unwrap();
    assert!(store.restore(&junk).is_err());
}

const CHILD_ENV: &str = "MC_STATE_TEST_CHILD_DB";

/// In the test run: a lock taken by this live process is not stale. When
/// re-executed by `sigkill_mid_write_leaves_a_recoverable_store` (with
/// `MC_STATE_TEST_CHILD_DB` set) it instead takes the lock, announces it
/// and keeps writing until it is killed.
#[test]
fn lock_holder_entry() {
    let Some(db) = std::env::var_os(CHILD_ENV) else {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("s.db")).unwrap();
        store.acquire_lock(&hosts(&["h"]), 1).unwrap();
        assert!(store.locks().unwrap().iter().all(|l| !l.is_stale()));
        return;
    };
    let store = StateStore::open(std::path::Path::new(&db)).unwrap();
    let run = store
        .start_run("apply", None, "src", &hosts(&["h1", "h2"]))
        .unwrap();
    store.acquire_lock(&hosts(&["h1", "h2"]), run).unwrap();
    // The test harness captures stdout, so announce through a file.
    let flag = std::path::Path::new(&db).with_extension("locked");
    std::fs::write(&flag, run.to_string()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0u64;
    while Instant::now() < deadline {
        let r = mc_state::ResourceResult {
            host: "h1".into(),
            resource: format!("file[/f{i}]"),
            action: "create".into(),
            status: mc_state::ResourceStatus::Changed,
            message: Some("x".repeat(2000)),
            duration_ms: i,
            output: None,
        };
        store.record_resource_result(run, &r, None).unwrap();
        store
            .record_event(run, "h1", Some("file[/f]"), "changed", None)
            .unwrap();
        i += 1;
    }
    std::process::exit(3);
}

#[test]
fn sigkill_mid_write_leaves_a_recoverable_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    StateStore::open(&db).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_holder_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let flag = db.with_extension("locked");
    let deadline = Instant::now() + Duration::from_secs(30);
    let run: i64 = loop {
        if let Ok(text) = std::fs::read_to_string(&flag) {
            if let Ok(run) = text.trim().parse() {
                break run;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "child exited before locking"
        );
        assert!(Instant::now() < deadline, "child never took the lock");
        std::thread::sleep(Duration::from_millis(10));
    };
    let store = StateStore::open(&db).unwrap();
    // Wait until the child is demonstrably mid-way through its writes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.resource_results(run).unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "child wrote nothing");
        std::thread::sleep(Duration::from_millis(10));
    }
    // While it lives, its lock is held and not stale.
    assert!(matches!(
        store.acquire_lock(&hosts(&["h2"]), 99),
        Err(StateError::LockHeld(_))
    ));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let check: String = raw(&db)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let locks = store.locks().unwrap();
    assert_eq!(locks.len(), 2);
    assert!(locks.iter().all(|l| l.is_stale()), "{locks:?}");
    let runs = store.list_runs(10).unwrap();
    assert_eq!(runs[0].id, run);
    assert_eq!(runs[0].status, mc_state::RunStatus::Crashed);
    // Automatic takeover of the dead holder.
    store.acquire_lock(&hosts(&["h1"]), 100).unwrap();
    let kinds: Vec<String> = store
        .audit_entries(None)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"lock.takeover".to_string()), "{kinds:?}");
    // And `mc state unlock` clears the rest without --force.
    let removed = store.unlock(Some(&hosts(&["h2"])), false).unwrap();
    assert_eq!(removed.len(), 1);
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerdict::Intact { .. }
    ));
}
