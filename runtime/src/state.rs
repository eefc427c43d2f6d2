//! The state store: one SQLite database (WAL) per project, `.mc/state.db`.
//!
//! It holds runs and their per-host and per-resource results, the last
//! applied state of every resource (digests only, never secret values), the
//! facts cache, plans, pending notifications, the live event stream of a
//! running apply, the hash-chained audit log and the apply lock.
//!
//! One `Connection` behind a mutex: writes are short, and SQLite serialises
//! writers anyway. Other processes (the TUI, a second `mc`) read concurrently
//! thanks to WAL and wait on `busy_timeout` for writes.

use crate::hash::sha256_hex;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE runs (
        id            INTEGER PRIMARY KEY,
        kind          TEXT NOT NULL,
        status        TEXT NOT NULL,
        started_at    INTEGER NOT NULL,
        finished_at   INTEGER,
        plan_hash     TEXT,
        source_digest TEXT NOT NULL,
        hosts         TEXT NOT NULL,
        actor         TEXT NOT NULL,
        pid           INTEGER NOT NULL,
        summary       TEXT
    );
    CREATE TABLE host_results (
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        host        TEXT NOT NULL,
        status      TEXT NOT NULL,
        changed     INTEGER NOT NULL DEFAULT 0,
        unchanged   INTEGER NOT NULL DEFAULT 0,
        failed      INTEGER NOT NULL DEFAULT 0,
        skipped     INTEGER NOT NULL DEFAULT 0,
        error       TEXT,
        finished_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, host)
    );
    CREATE TABLE resource_results (
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        host        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        action      TEXT NOT NULL,
        status      TEXT NOT NULL,
        message     TEXT,
        duration_ms INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, host, resource)
    );
    CREATE TABLE resource_state (
        host            TEXT NOT NULL,
        resource        TEXT NOT NULL,
        type            TEXT NOT NULL,
        desired_digest  TEXT NOT NULL,
        observed_digest TEXT NOT NULL,
        run_id          INTEGER NOT NULL,
        applied_at      INTEGER NOT NULL,
        PRIMARY KEY (host, resource)
    );
    CREATE TABLE facts (
        host        TEXT PRIMARY KEY,
        facts       TEXT NOT NULL,
        gathered_at INTEGER NOT NULL
    );
    CREATE TABLE plans (
        hash          TEXT PRIMARY KEY,
        status        TEXT NOT NULL CHECK (status IN ('pending','approved','applied','stale')),
        created_at    INTEGER NOT NULL,
        source_digest TEXT NOT NULL,
        hosts         TEXT NOT NULL,
        body          TEXT NOT NULL,
        run_id        INTEGER
    );
    CREATE TABLE pending_notifications (
        host       TEXT NOT NULL,
        resource   TEXT NOT NULL,
        run_id     INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (host, resource)
    );
    CREATE TABLE events (
        id       INTEGER PRIMARY KEY,
        run_id   INTEGER NOT NULL,
        at_ms    INTEGER NOT NULL,
        host     TEXT NOT NULL,
        resource TEXT,
        kind     TEXT NOT NULL,
        message  TEXT
    );
    CREATE INDEX events_by_run ON events(run_id, id);
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        kind      TEXT NOT NULL,
        detail    TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    CREATE TABLE locks (
        host        TEXT PRIMARY KEY,
        run_id      INTEGER NOT NULL,
        pid         INTEGER NOT NULL,
        pid_start   TEXT NOT NULL,
        hostname    TEXT NOT NULL,
        acquired_at INTEGER NOT NULL
    );
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 2: a `rejected` plan status, approval decisions bound to a plan's
    // content hash, and drift reports. SQLite cannot alter a CHECK
    // constraint, so `plans` is rebuilt.
    r#"
    CREATE TABLE plans_v2 (
        hash          TEXT PRIMARY KEY,
        status        TEXT NOT NULL
                      CHECK (status IN ('pending','approved','rejected','applied','stale')),
        created_at    INTEGER NOT NULL,
        source_digest TEXT NOT NULL,
        hosts         TEXT NOT NULL,
        body          TEXT NOT NULL,
        run_id        INTEGER
    );
    INSERT INTO plans_v2 (hash, status, created_at, source_digest, hosts, body, run_id)
        SELECT hash, status, created_at, source_digest, hosts, body, run_id FROM plans;
    DROP TABLE plans;
    ALTER TABLE plans_v2 RENAME TO plans;
    CREATE INDEX plans_by_time ON plans(created_at DESC);
    CREATE TABLE plan_decisions (
        id        INTEGER PRIMARY KEY,
        plan_hash TEXT NOT NULL,
        decision  TEXT NOT NULL CHECK (decision IN ('approved','rejected')),
        actor     TEXT NOT NULL,
        at        INTEGER NOT NULL,
        reason    TEXT NOT NULL,
        audit_seq INTEGER NOT NULL
    );
    CREATE INDEX decisions_by_plan ON plan_decisions(plan_hash, id);
    CREATE TABLE drift_reports (
        id          INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        hosts       TEXT NOT NULL,
        probed      INTEGER NOT NULL,
        drifted     INTEGER NOT NULL,
        errors      INTEGER NOT NULL
    );
    CREATE TABLE drift_items (
        report_id   INTEGER NOT NULL REFERENCES drift_reports(id),
        host        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('drifted','error')),
        summary     TEXT NOT NULL,
        changes     TEXT NOT NULL,
        diff        TEXT,
        PRIMARY KEY (report_id, host, resource)
    );
    "#,
    // 3: what each resource printed (bounded, secrets scrubbed).
    r#"
    ALTER TABLE resource_results ADD COLUMN output TEXT;
    "#,
    // 4: which attributes held a secret when the resource was applied, so a
    // later plan keeps hiding what the host still holds.
    r#"
    ALTER TABLE resource_state ADD COLUMN sensitive TEXT NOT NULL DEFAULT '[]';
    "#,
    // 5: what a pending refresh asks of a service (`reload(svc)`); NULL is
    // the service's `on_notify`.
    r#"
    ALTER TABLE pending_notifications ADD COLUMN action TEXT;
    "#,
];

/// The hash that precedes the first audit entry.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store: {}", sqlite_message(.0))]
    Sqlite(#[from] rusqlite::Error),
    #[error("state store: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "state store {path} has schema version {found}, newer than this mc ({known}); upgrade mc"
    )]
    TooNew {
        path: String,
        found: u32,
        known: u32,
    },
    #[error("{}", lock_held_message(.0))]
    LockHeld(Vec<LockRecord>),
    #[error("state store: {0}")]
    Other(String),
}

/// SQLite's own text for a failed write ("disk I/O error") says neither
/// which write failed nor what to do. On a full disk SQLite most often fails
/// growing the `-shm` file, which it reports as an I/O error, not as full.
fn sqlite_message(e: &rusqlite::Error) -> String {
    use rusqlite::{ffi, ErrorCode};
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return e.to_string();
    };
    let what = match (f.code, f.extended_code) {
        (ErrorCode::DiskFull, _) => "no space left on the device that holds it",
        (_, ffi::SQLITE_IOERR_SHMSIZE) => {
            "could not grow its shared-memory file (state.db-shm), most often because the disk is full"
        }
        (_, ffi::SQLITE_IOERR_WRITE) => "a write failed; the disk may be full",
        (_, ffi::SQLITE_IOERR_FSYNC) => "fsync failed; the disk may be full or failing",
        (ErrorCode::SystemIoFailure, _) => "the device that holds it failed a read or write",
        _ => return e.to_string(),
    };
    format!(
        "{e} (SQLite code {}): {what}; free space there and rerun",
        f.extended_code
    )
}

fn lock_held_message(holders: &[LockRecord]) -> String {
    let mut s = String::from("another apply holds the lock on ");
    let hosts: Vec<&str> = holders.iter().map(|h| h.host.as_str()).collect();
    s.push_str(&hosts.join(", "));
    if let Some(h) = holders.first() {
        s.push_str(&format!(
            " (run {}, pid {} on {}, since {}); if that process is gone, run `mc state unlock`",
            h.run_id,
            h.pid,
            h.hostname,
            format_time(h.acquired_at)
        ));
    }
    s
}

pub type Result<T> = std::result::Result<T, StateError>;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RunRecord {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub plan_hash: Option<String>,
    pub source_digest: String,
    pub hosts: Vec<String>,
    pub actor: String,
    pub pid: i64,
    pub summary: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct HostResult {
    pub host: String,
    pub status: String,
    pub changed: u32,
    pub unchanged: u32,
    pub failed: u32,
    pub skipped: u32,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ResourceResult {
    pub host: String,
    pub resource: String,
    pub action: String,
    pub status: String,
    pub message: Option<String>,
    pub duration_ms: u64,
    /// What the resource printed (stdout and stderr), its first and last
    /// 32 KiB, secrets replaced by `(secret)`.
    pub output: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ResourceState {
    pub host: String,
    pub resource: String,
    pub type_name: String,
    pub desired_digest: String,
    pub observed_digest: String,
    pub run_id: i64,
    pub applied_at: i64,
    /// Attributes that held a secret when it was applied (names only).
    pub sensitive: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlanRecord {
    pub hash: String,
    pub status: String,
    pub created_at: i64,
    pub source_digest: String,
    pub hosts: Vec<String>,
    pub run_id: Option<i64>,
}

/// An approval or rejection of one plan (by content hash).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlanDecision {
    pub plan_hash: String,
    /// `approved` or `rejected`.
    pub decision: String,
    pub actor: String,
    pub at: i64,
    pub reason: String,
    /// The audit log entry that records it.
    pub audit_seq: i64,
}

/// One stored `mc drift` run.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DriftReportRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub hosts: Vec<String>,
    pub probed: u32,
    pub drifted: u32,
    pub errors: u32,
}

/// One resource found changed outside mc (or that could not be probed).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct DriftItem {
    pub host: String,
    pub resource: String,
    /// `drifted` or `error`.
    pub status: String,
    pub summary: String,
    /// Attribute changes that would restore the applied state.
    pub changes: Vec<mc_ir::plan::AttrChange>,
    /// Unified diff of a text content change.
    pub diff: Option<String>,
}

/// A drift item with the time of the report that found it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DriftRecord {
    pub report_id: i64,
    pub detected_at: i64,
    pub item: DriftItem,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub run_id: i64,
    pub at_ms: i64,
    pub host: String,
    pub resource: Option<String>,
    pub kind: String,
    pub message: Option<String>,
}

/// What `mc audit verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditVerdict {
    /// The chain is intact; `head` is the hash of the last entry.
    Intact { entries: i64, head: String },
    /// The first entry at which the chain breaks, and why.
    Broken { seq: i64, reason: String },
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LockRecord {
    pub host: String,
    pub run_id: i64,
    pub pid: i64,
    pub pid_start: String,
    pub hostname: String,
    pub acquired_at: i64,
}

impl LockRecord {
    /// True when the holder ran on this machine and that process is gone
    /// (or the pid now belongs to a different process). A holder on another
    /// machine cannot be checked and is never considered stale.
    pub fn is_stale(&self) -> bool {
        self.hostname == local_hostname()
            && process_start_time(self.pid as u32).as_deref() != Some(self.pid_start.as_str())
    }
}

pub struct StateStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl StateStore {
    /// The default location for a project: `<project>/.mc/state.db`.
    pub fn default_path(project_dir: &Path) -> PathBuf {
        project_dir.join(".mc").join("state.db")
    }

    /// Opens (creating if needed) the store and runs pending migrations.
    pub fn open(path: &Path) -> Result<StateStore> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                private_dir(dir)?;
            }
        }
        private_file(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let store = StateStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned mutex is usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as u32;
        if version > known {
            return Err(StateError::TooNew {
                path: self.path.display().to_string(),
                found: version,
                known,
            });
        }
        for sql in &MIGRATIONS[version as usize..] {
            tx.execute_batch(sql)?;
        }
        if version < known {
            tx.pragma_update(None, "user_version", known)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn schema_version(&self) -> Result<u32> {
        Ok(self
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    // ---- runs -------------------------------------------------------------

    /// Records the start of a run and returns its id.
    pub fn start_run(
        &self,
        kind: &str,
        plan_hash: Option<&str>,
        source_digest: &str,
        hosts: &[String],
    ) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO runs (kind, status, started_at, plan_hash, source_digest, hosts, actor, pid)
             VALUES (?1, 'running', ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                kind,
                now(),
                plan_hash,
                source_digest,
                to_json(hosts),
                actor(),
                std::process::id()
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    pub fn finish_run(&self, run_id: i64, status: &str, summary: &serde_json::Value) -> Result<()> {
        self.conn().execute(
            "UPDATE runs SET status = ?2, finished_at = ?3, summary = ?4 WHERE id = ?1",
            params![run_id, status, now(), summary.to_string()],
        )?;
        Ok(())
    }

    /// Runs newest first. A run still marked `running` whose process is gone
    /// is reported as `crashed`.
    pub fn list_runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, kind, status, started_at, finished_at, plan_hash, source_digest, hosts,
                    actor, pid, summary
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], run_from_row)?;
        let mut runs = Vec::new();
        for r in rows {
            runs.push(r?);
        }
        drop(stmt);
        mark_crashed(&conn, &mut runs)?;
        Ok(runs)
    }

    /// One run, with the same `crashed` rule as [`StateStore::list_runs`].
    pub fn run(&self, run_id: i64) -> Result<Option<RunRecord>> {
        let conn = self.conn();
        let run = conn
            .query_row(
                "SELECT id, kind, status, started_at, finished_at, plan_hash, source_digest, hosts,
                        actor, pid, summary
                 FROM runs WHERE id = ?1",
                params![run_id],
                run_from_row,
            )
            .optional()?;
        let mut runs: Vec<RunRecord> = run.into_iter().collect();
        mark_crashed(&conn, &mut runs)?;
        Ok(runs.pop())
    }

    pub fn record_host_result(&self, run_id: i64, r: &HostResult) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO host_results
               (run_id, host, status, changed, unchanged, failed, skipped, error, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                run_id,
                r.host,
                r.status,
                r.changed,
                r.unchanged,
                r.failed,
                r.skipped,
                r.error,
                now()
            ],
        )?;
        Ok(())
    }

    pub fn host_results(&self, run_id: i64) -> Result<Vec<HostResult>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT host, status, changed, unchanged, failed, skipped, error
             FROM host_results WHERE run_id = ?1 ORDER BY host",
        )?;
        let rows = stmt.query_map(params![run_id], |r| {
            Ok(HostResult {
                host: r.get(0)?,
                status: r.get(1)?,
                changed: r.get(2)?,
                unchanged: r.get(3)?,
                failed: r.get(4)?,
                skipped: r.get(5)?,
                error: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Records one resource's outcome and, when it converged, its new
    /// last-applied state, in one transaction so the two never disagree.
    pub fn record_resource_result(
        &self,
        run_id: i64,
        r: &ResourceResult,
        applied: Option<&ResourceState>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO resource_results
               (run_id, host, resource, action, status, message, duration_ms, output)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run_id,
                r.host,
                r.resource,
                r.action,
                r.status,
                r.message,
                r.duration_ms as i64,
                r.output
            ],
        )?;
        if let Some(s) = applied {
            upsert_resource_state(&tx, s)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn resource_results(&self, run_id: i64) -> Result<Vec<ResourceResult>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT host, resource, action, status, message, duration_ms, output
             FROM resource_results WHERE run_id = ?1 ORDER BY host, rowid",
        )?;
        let rows = stmt.query_map(params![run_id], |r| {
            Ok(ResourceResult {
                host: r.get(0)?,
                resource: r.get(1)?,
                action: r.get(2)?,
                status: r.get(3)?,
                message: r.get(4)?,
                duration_ms: r.get::<_, i64>(5)?.max(0) as u64,
                output: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- last-applied state ------------------------------------------------

    pub fn set_resource_state(&self, s: &ResourceState) -> Result<()> {
        let conn = self.conn();
        upsert_resource_state(&conn, s)
    }

    pub fn resource_states(&self, host: &str) -> Result<Vec<ResourceState>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT host, resource, type, desired_digest, observed_digest, run_id, applied_at,
                    sensitive
             FROM resource_state WHERE host = ?1 ORDER BY resource",
        )?;
        let rows = stmt.query_map(params![host], resource_state_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Every host's last-applied resources, by host then resource.
    pub fn all_resource_states(&self) -> Result<Vec<ResourceState>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT host, resource, type, desired_digest, observed_digest, run_id, applied_at,
                    sensitive
             FROM resource_state ORDER BY host, resource",
        )?;
        let rows = stmt.query_map([], resource_state_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Stops tracking a resource on a host (`mc state forget`): nothing on
    /// the host changes; drift no longer probes it. Audited with the removal,
    /// in one transaction. Returns whether it was tracked.
    pub fn forget_resource(&self, host: &str, resource: &str) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = tx.execute(
            "DELETE FROM resource_state WHERE host = ?1 AND resource = ?2",
            params![host, resource],
        )?;
        if removed > 0 {
            append_audit(
                &tx,
                "state.forget",
                &serde_json::json!({ "host": host, "resource": resource }),
            )?;
        }
        tx.commit()?;
        Ok(removed > 0)
    }

    // ---- facts ---------------------------------------------------------------

    pub fn cache_facts(&self, host: &str, facts: &serde_json::Value) -> Result<()> {
        self.conn().execute(
            "INSERT OR REPLACE INTO facts (host, facts, gathered_at) VALUES (?1, ?2, ?3)",
            params![host, facts.to_string(), now()],
        )?;
        Ok(())
    }

    /// Every host's cached facts in the store at `path`, read without
    /// creating, migrating or locking anything (for `mc check`): empty when
    /// there is no store there.
    pub fn read_cached_facts(path: &Path) -> Result<BTreeMap<String, serde_json::Value>> {
        if !path.is_file() {
            return Ok(BTreeMap::new());
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let mut stmt = conn.prepare("SELECT host, facts FROM facts")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (host, text) = row?;
            if let Ok(facts) = serde_json::from_str(&text) {
                out.insert(host, facts);
            }
        }
        Ok(out)
    }

    /// The cached facts of a host and when they were gathered.
    pub fn cached_facts(&self, host: &str) -> Result<Option<(serde_json::Value, i64)>> {
        let row: Option<(String, i64)> = self
            .conn()
            .query_row(
                "SELECT facts, gathered_at FROM facts WHERE host = ?1",
                params![host],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((text, at)) => serde_json::from_str(&text)
                .map(|v| Some((v, at)))
                .map_err(|e| StateError::Other(format!("cached facts of {host}: {e}"))),
        }
    }

    // ---- plans ---------------------------------------------------------------

    /// Records a plan made by `mc plan` as `pending`, with its `plan` audit
    /// entry (`detail` plus the plan's hash) in the same transaction: a plan
    /// row without that entry was not recorded by `mc plan` and is never
    /// applied. A plan already known keeps its status.
    pub fn save_plan(
        &self,
        hash: &str,
        source_digest: &str,
        hosts: &[String],
        body: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO plans (hash, status, created_at, source_digest, hosts, body)
             VALUES (?1, 'pending', ?2, ?3, ?4, ?5)",
            params![hash, now(), source_digest, to_json(hosts), body],
        )?;
        if inserted == 1 {
            let mut detail = detail.clone();
            match detail.as_object_mut() {
                Some(d) => {
                    d.insert("plan".into(), hash.into());
                }
                None => detail = serde_json::json!({ "plan": hash, "hosts": hosts }),
            }
            append_audit(&tx, "plan", &detail)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The audit entries of `kind` about plan `hash`, oldest first.
    fn plan_audit_entries(&self, kind: &str, hash: &str) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at, actor, kind, detail, prev_hash, hash FROM audit
             WHERE kind = ?1 AND instr(detail, ?2) > 0 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![kind, hash], audit_from_row)?;
        let mut out = Vec::new();
        for e in rows {
            let e = e?;
            let about: Option<String> = serde_json::from_str::<serde_json::Value>(&e.detail)
                .ok()
                .and_then(|d| d.get("plan").and_then(|p| p.as_str()).map(str::to_string));
            if about.as_deref() == Some(hash) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Who recorded plan `hash` with `mc plan`, from its audit entry; `None`
    /// when no `plan` entry names it (a row inserted by other means).
    pub fn plan_recorded_by(&self, hash: &str) -> Result<Option<String>> {
        Ok(self
            .plan_audit_entries("plan", hash)?
            .into_iter()
            .next()
            .map(|e| e.actor))
    }

    /// The approval that stands for plan `hash`: its latest decision, when
    /// that is an approval whose audit entry (same sequence number, kind,
    /// plan and actor) is in the log. `None` when the plan was never
    /// approved this way, e.g. its status was set by a bare SQL `UPDATE`.
    pub fn standing_approval(&self, hash: &str) -> Result<Option<PlanDecision>> {
        let Some(last) = self.plan_decisions(hash)?.pop() else {
            return Ok(None);
        };
        if last.decision != "approved" {
            return Ok(None);
        }
        let audited = self
            .plan_audit_entries("plan.approve", hash)?
            .iter()
            .any(|e| e.seq == last.audit_seq && e.actor == last.actor);
        Ok(audited.then_some(last))
    }

    pub fn plan(&self, hash: &str) -> Result<Option<PlanRecord>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT hash, status, created_at, source_digest, hosts, run_id
                 FROM plans WHERE hash = ?1",
                params![hash],
                plan_from_row,
            )
            .optional()?)
    }

    /// Plans newest first, all or only those with one of `statuses`.
    pub fn list_plans(&self, statuses: &[&str], limit: usize) -> Result<Vec<PlanRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT hash, status, created_at, source_digest, hosts, run_id
             FROM plans ORDER BY created_at DESC, rowid DESC",
        )?;
        let rows = stmt.query_map([], plan_from_row)?;
        let mut out = Vec::new();
        for r in rows {
            let r = r?;
            if statuses.is_empty() || statuses.contains(&r.status.as_str()) {
                out.push(r);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The stored plan JSON (as written by `mc plan`).
    pub fn plan_body(&self, hash: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT body FROM plans WHERE hash = ?1",
                params![hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Plans whose hash starts with `prefix` (for `mc approve 3f2a9c…`).
    pub fn find_plans(&self, prefix: &str) -> Result<Vec<PlanRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT hash, status, created_at, source_digest, hosts, run_id
             FROM plans WHERE substr(hash, 1, length(?1)) = ?1 ORDER BY created_at DESC",
        )?;
        let rows = stmt.query_map(params![prefix], plan_from_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Approves or rejects a plan: the status change, the decision record
    /// and its audit entry in one transaction. Only a `pending` plan can be
    /// decided (an approved plan can still be rejected, to withdraw the
    /// approval before it is applied). `extra` is merged into the audit
    /// detail (e.g. `{"via": "tui"}`).
    pub fn decide_plan(
        &self,
        hash: &str,
        approve: bool,
        reason: &str,
        extra: &serde_json::Value,
    ) -> Result<PlanDecision> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM plans WHERE hash = ?1",
                params![hash],
                |r| r.get(0),
            )
            .optional()?;
        let short = hash.get(..12).unwrap_or(hash);
        let status = status
            .ok_or_else(|| StateError::Other(format!("plan {short} is not in the state store")))?;
        let allowed = match approve {
            true => status == "pending",
            false => status == "pending" || status == "approved",
        };
        if !allowed {
            return Err(StateError::Other(format!(
                "plan {short} is {status}; only a pending plan can be {}",
                if approve { "approved" } else { "rejected" }
            )));
        }
        let decision = if approve { "approved" } else { "rejected" };
        tx.execute(
            "UPDATE plans SET status = ?2 WHERE hash = ?1",
            params![hash, decision],
        )?;
        let mut detail = serde_json::json!({ "plan": hash, "reason": reason });
        if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
        let kind = if approve {
            "plan.approve"
        } else {
            "plan.reject"
        };
        let seq = append_audit(&tx, kind, &detail)?;
        let (actor, at) = (actor(), now());
        tx.execute(
            "INSERT INTO plan_decisions (plan_hash, decision, actor, at, reason, audit_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![hash, decision, actor, at, reason, seq],
        )?;
        tx.commit()?;
        Ok(PlanDecision {
            plan_hash: hash.to_string(),
            decision: decision.to_string(),
            actor,
            at,
            reason: reason.to_string(),
            audit_seq: seq,
        })
    }

    /// Decisions on a plan, oldest first.
    pub fn plan_decisions(&self, hash: &str) -> Result<Vec<PlanDecision>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT plan_hash, decision, actor, at, reason, audit_seq
             FROM plan_decisions WHERE plan_hash = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![hash], |r| {
            Ok(PlanDecision {
                plan_hash: r.get(0)?,
                decision: r.get(1)?,
                actor: r.get(2)?,
                at: r.get(3)?,
                reason: r.get(4)?,
                audit_seq: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- drift -----------------------------------------------------------------

    /// Stores one `mc drift` run and its findings; returns the report id.
    pub fn record_drift_report(
        &self,
        hosts: &[String],
        probed: u32,
        items: &[DriftItem],
    ) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let drifted = items.iter().filter(|i| i.status == "drifted").count() as u32;
        let errors = items.len() as u32 - drifted;
        tx.execute(
            "INSERT INTO drift_reports (at, actor, hosts, probed, drifted, errors)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now(), actor(), to_json(hosts), probed, drifted, errors],
        )?;
        let id = tx.last_insert_rowid();
        for i in items {
            tx.execute(
                "INSERT OR REPLACE INTO drift_items
                   (report_id, host, resource, status, summary, changes, diff)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    i.host,
                    i.resource,
                    i.status,
                    i.summary,
                    serde_json::to_string(&i.changes).unwrap_or_else(|_| "[]".into()),
                    i.diff
                ],
            )?;
        }
        append_audit(
            &tx,
            "drift",
            &serde_json::json!({
                "report": id, "hosts": hosts, "probed": probed,
                "drifted": drifted, "errors": errors,
            }),
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Drift reports newest first.
    pub fn drift_reports(&self, limit: usize) -> Result<Vec<DriftReportRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, at, actor, hosts, probed, drifted, errors
             FROM drift_reports ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(DriftReportRecord {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                hosts: from_json_list(&r.get::<_, String>(3)?),
                probed: r.get(4)?,
                drifted: r.get(5)?,
                errors: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The current drift: per host, the findings of the newest report that
    /// covered that host (a later clean report clears earlier findings).
    pub fn current_drift(&self) -> Result<Vec<DriftRecord>> {
        let reports = self.drift_reports(i64::MAX as usize)?;
        let mut latest: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for r in &reports {
            for h in &r.hosts {
                latest.entry(h.clone()).or_insert((r.id, r.at));
            }
        }
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT host, resource, status, summary, changes, diff
             FROM drift_items WHERE report_id = ?1 AND host = ?2 ORDER BY resource",
        )?;
        let mut out = Vec::new();
        for (host, (id, at)) in latest {
            let rows = stmt.query_map(params![id, host], |r| {
                Ok(DriftItem {
                    host: r.get(0)?,
                    resource: r.get(1)?,
                    status: r.get(2)?,
                    summary: r.get(3)?,
                    changes: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                    diff: r.get(5)?,
                })
            })?;
            for item in rows {
                out.push(DriftRecord {
                    report_id: id,
                    detected_at: at,
                    item: item?,
                });
            }
        }
        Ok(out)
    }

    pub fn set_plan_status(&self, hash: &str, status: &str, run_id: Option<i64>) -> Result<()> {
        self.conn().execute(
            "UPDATE plans SET status = ?2, run_id = COALESCE(?3, run_id) WHERE hash = ?1",
            params![hash, status, run_id],
        )?;
        Ok(())
    }

    /// Marks a plan applied, atomically refusing if it already was: two
    /// concurrent `mc apply plan.json` cannot both pass. A plan that
    /// `needs_approval` is claimed only once approved, so an approval
    /// withdrawn (rejected) between the check and the claim still stops it.
    pub fn claim_plan_for_apply(
        &self,
        hash: &str,
        run_id: i64,
        needs_approval: bool,
    ) -> Result<bool> {
        let sql = if needs_approval {
            "UPDATE plans SET status = 'applied', run_id = ?2
             WHERE hash = ?1 AND status = 'approved'"
        } else {
            "UPDATE plans SET status = 'applied', run_id = ?2
             WHERE hash = ?1 AND status IN ('pending', 'approved')"
        };
        let changed = self.conn().execute(sql, params![hash, run_id])?;
        Ok(changed == 1)
    }

    // ---- pending notifications -------------------------------------------

    /// Persists refreshes that must run, before running them, so a crash or
    /// a failed run leaves them for the next apply. A resource already
    /// pending keeps the strongest action asked.
    pub fn add_pending_notifications(
        &self,
        host: &str,
        resources: &[(String, mc_ir::RefreshAction)],
        run_id: i64,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (r, action) in resources {
            let old: Option<Option<String>> = tx
                .query_row(
                    "SELECT action FROM pending_notifications WHERE host = ?1 AND resource = ?2",
                    params![host, r],
                    |row| row.get(0),
                )
                .optional()?;
            let action = match old {
                Some(old) => (*action).max(refresh_action_from(old.as_deref())),
                None => *action,
            };
            tx.execute(
                "INSERT INTO pending_notifications (host, resource, run_id, created_at, action)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (host, resource) DO UPDATE SET action = excluded.action",
                params![host, r, run_id, now(), refresh_action_name(action)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The host's pending refreshes: resource and what each asks.
    pub fn pending_notifications(&self, host: &str) -> Result<Vec<(String, mc_ir::RefreshAction)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT resource, action FROM pending_notifications WHERE host = ?1 ORDER BY resource",
        )?;
        let rows = stmt.query_map(params![host], |r| {
            let action: Option<String> = r.get(1)?;
            Ok((r.get(0)?, refresh_action_from(action.as_deref())))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn clear_pending_notification(&self, host: &str, resource: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM pending_notifications WHERE host = ?1 AND resource = ?2",
            params![host, resource],
        )?;
        Ok(())
    }

    // ---- events (the live view of a running apply) ------------------------

    pub fn record_event(
        &self,
        run_id: i64,
        host: &str,
        resource: Option<&str>,
        kind: &str,
        message: Option<&str>,
    ) -> Result<()> {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.conn().execute(
            "INSERT INTO events (run_id, at_ms, host, resource, kind, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run_id, at_ms, host, resource, kind, message],
        )?;
        Ok(())
    }

    /// Events of a run with an id greater than `after`, oldest first.
    pub fn events_since(&self, run_id: i64, after: i64) -> Result<Vec<EventRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, run_id, at_ms, host, resource, kind, message
             FROM events WHERE run_id = ?1 AND id > ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![run_id, after], |r| {
            Ok(EventRecord {
                id: r.get(0)?,
                run_id: r.get(1)?,
                at_ms: r.get(2)?,
                host: r.get(3)?,
                resource: r.get(4)?,
                kind: r.get(5)?,
                message: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- audit log -------------------------------------------------------------

    /// Appends an entry to the hash-chained audit log.
    pub fn audit(&self, kind: &str, detail: &serde_json::Value) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = append_audit(&tx, kind, detail)?;
        tx.commit()?;
        Ok(seq)
    }

    pub fn audit_entries(&self, limit: Option<usize>) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, at, actor, kind, detail, prev_hash, hash FROM audit
             ORDER BY seq DESC LIMIT ?1",
        )?;
        let limit = limit.map(|l| l as i64).unwrap_or(-1);
        let rows = stmt.query_map(params![limit], audit_from_row)?;
        let mut entries: Vec<AuditEntry> = rows.collect::<std::result::Result<_, _>>()?;
        entries.reverse();
        Ok(entries)
    }

    /// Walks the whole chain. Detects an edited entry (its hash no longer
    /// matches), a deleted or reordered one (sequence gap, or `prev_hash`
    /// not the previous entry's hash) and a truncated tail (the head
    /// recorded in `meta` is missing).
    pub fn verify_audit(&self) -> Result<AuditVerdict> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, at, actor, kind, detail, prev_hash, hash FROM audit ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], audit_from_row)?;
        let mut prev = AUDIT_GENESIS.to_string();
        let mut expected_seq = 1i64;
        for row in rows {
            let e = row?;
            if e.seq != expected_seq {
                return Ok(AuditVerdict::Broken {
                    seq: expected_seq,
                    reason: format!("entry {expected_seq} is missing (found {} next)", e.seq),
                });
            }
            if e.prev_hash != prev {
                return Ok(AuditVerdict::Broken {
                    seq: e.seq,
                    reason: "does not follow the previous entry (deleted or reordered)".into(),
                });
            }
            if audit_hash(&prev, e.seq, e.at, &e.actor, &e.kind, &e.detail) != e.hash {
                return Ok(AuditVerdict::Broken {
                    seq: e.seq,
                    reason: "content does not match its hash (edited)".into(),
                });
            }
            prev = e.hash;
            expected_seq += 1;
        }
        drop(stmt);
        let entries = expected_seq - 1;
        let head: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'audit_head'", [], |r| {
                r.get(0)
            })
            .optional()?;
        let recorded = head.unwrap_or_else(|| format!("0 {AUDIT_GENESIS}"));
        if recorded != format!("{entries} {prev}") {
            return Ok(AuditVerdict::Broken {
                seq: entries + 1,
                reason: format!(
                    "the log ends at entry {entries} but its recorded head is {recorded} (entries removed from the end)"
                ),
            });
        }
        Ok(AuditVerdict::Intact {
            entries,
            head: prev,
        })
    }

    /// The head of the audit log as `SEQ:HASH` (`0:` + the genesis hash
    /// when empty): keep it outside the database and give it to
    /// [`StateStore::verify_audit_anchor`] later.
    pub fn audit_head(&self) -> Result<String> {
        let last: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (seq, hash) = last.unwrap_or((0, AUDIT_GENESIS.to_string()));
        Ok(format!("{seq}:{hash}"))
    }

    /// [`StateStore::verify_audit`], and the entry named by an anchor
    /// (`SEQ:HASH` from [`StateStore::audit_head`]) must still be in the
    /// chain with that hash: a tail cut before it, or a chain rebuilt from
    /// an earlier point, no longer matches.
    pub fn verify_audit_anchor(&self, anchor: &str) -> Result<AuditVerdict> {
        let (seq, want) = parse_anchor(anchor)?;
        let verdict = self.verify_audit()?;
        let AuditVerdict::Intact { entries, .. } = &verdict else {
            return Ok(verdict);
        };
        if seq > *entries {
            return Ok(AuditVerdict::Broken {
                seq: entries + 1,
                reason: format!(
                    "the log ends at entry {entries}, before the anchor's entry {seq} (entries removed from the end)"
                ),
            });
        }
        let found: String = if seq == 0 {
            AUDIT_GENESIS.to_string()
        } else {
            self.conn()
                .query_row("SELECT hash FROM audit WHERE seq = ?1", params![seq], |r| {
                    r.get(0)
                })?
        };
        if found != want {
            return Ok(AuditVerdict::Broken {
                seq,
                reason: format!(
                    "entry {seq} is not the one the anchor names (the chain was rebuilt)"
                ),
            });
        }
        Ok(verdict)
    }

    // ---- the apply lock --------------------------------------------------

    /// Takes the apply lock on every host in `hosts` for `run_id`, atomically:
    /// either all of them or none. A holder that is a dead process on this
    /// machine is taken over (and the takeover audited).
    pub fn acquire_lock(&self, hosts: &[String], run_id: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing = locks_in(&tx)?;
        let mut held = Vec::new();
        for l in existing.iter().filter(|l| hosts.contains(&l.host)) {
            if l.is_stale() {
                tx.execute("DELETE FROM locks WHERE host = ?1", params![l.host])?;
                append_audit(
                    &tx,
                    "lock.takeover",
                    &serde_json::json!({
                        "host": l.host, "dead_run": l.run_id, "dead_pid": l.pid, "run": run_id
                    }),
                )?;
            } else {
                held.push(l.clone());
            }
        }
        if !held.is_empty() {
            return Err(StateError::LockHeld(held));
        }
        let pid = std::process::id();
        let start = process_start_time(pid).unwrap_or_default();
        let hostname = local_hostname();
        for h in hosts {
            tx.execute(
                "INSERT INTO locks (host, run_id, pid, pid_start, hostname, acquired_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![h, run_id, pid, start, hostname, now()],
            )?;
        }
        append_audit(
            &tx,
            "lock.acquire",
            &serde_json::json!({ "hosts": hosts, "run": run_id }),
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn release_lock(&self, run_id: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute("DELETE FROM locks WHERE run_id = ?1", params![run_id])?;
        if n > 0 {
            append_audit(&tx, "lock.release", &serde_json::json!({ "run": run_id }))?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn locks(&self) -> Result<Vec<LockRecord>> {
        locks_in(&self.conn())
    }

    /// `mc state unlock`: removes lock rows (all, or those on `hosts`).
    /// Unless `force`, refuses to remove a lock whose holder is alive.
    pub fn unlock(&self, hosts: Option<&[String]>, force: bool) -> Result<Vec<LockRecord>> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let selected: Vec<LockRecord> = locks_in(&tx)?
            .into_iter()
            .filter(|l| hosts.is_none_or(|hs| hs.contains(&l.host)))
            .collect();
        let live: Vec<LockRecord> = selected.iter().filter(|l| !l.is_stale()).cloned().collect();
        if !force && !live.is_empty() {
            return Err(StateError::LockHeld(live));
        }
        for l in &selected {
            tx.execute("DELETE FROM locks WHERE host = ?1", params![l.host])?;
        }
        if !selected.is_empty() {
            let hosts: Vec<&str> = selected.iter().map(|l| l.host.as_str()).collect();
            append_audit(
                &tx,
                "lock.unlock",
                &serde_json::json!({ "hosts": hosts, "forced": force }),
            )?;
        }
        tx.commit()?;
        Ok(selected)
    }

    // ---- backup and restore ---------------------------------------------

    /// Copies the live database to `dest` with SQLite's online backup API
    /// (consistent even while another process writes).
    pub fn backup(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StateError::Other(format!(
                "{} already exists; refusing to overwrite it",
                dest.display()
            )));
        }
        let conn = self.conn();
        conn.backup(rusqlite::MAIN_DB, dest, rusqlite::backup::NO_PROGRESS)?;
        Ok(())
    }

    /// Replaces the whole database with the backup in `src`. Refuses while
    /// an apply holds a live lock, and refuses a file that is not a state
    /// store.
    pub fn restore(&self, src: &Path) -> Result<()> {
        {
            let probe =
                Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let version: u32 = probe.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let has_runs: bool = probe.query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'runs'",
                [],
                |r| r.get(0),
            )?;
            if version == 0 || !has_runs {
                return Err(StateError::Other(format!(
                    "{} is not an mc state store backup",
                    src.display()
                )));
            }
        }
        let live: Vec<LockRecord> = self
            .locks()?
            .into_iter()
            .filter(|l| !l.is_stale())
            .collect();
        if !live.is_empty() {
            return Err(StateError::LockHeld(live));
        }
        {
            let mut conn = self.conn();
            conn.restore(rusqlite::MAIN_DB, src, rusqlite::backup::NO_PROGRESS)?;
        }
        self.migrate()?;
        self.audit(
            "state.restore",
            &serde_json::json!({ "from": src.display().to_string() }),
        )?;
        Ok(())
    }
}

/// A run still marked `running` whose process is gone and that holds no
/// live lock crashed. A run started on another machine cannot be checked.
fn mark_crashed(conn: &Connection, runs: &mut [RunRecord]) -> Result<()> {
    if !runs.iter().any(|r| r.status == "running") {
        return Ok(());
    }
    let locks = locks_in(conn)?;
    let here = format!("@{}", local_hostname());
    for run in runs {
        if run.status == "running" && run.actor.ends_with(&here) {
            let held_live = locks.iter().any(|l| l.run_id == run.id && !l.is_stale());
            let pid_alive = std::fs::metadata(format!("/proc/{}", run.pid)).is_ok();
            if !held_live && !pid_alive {
                run.status = "crashed".into();
            }
        }
    }
    Ok(())
}

fn plan_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PlanRecord> {
    Ok(PlanRecord {
        hash: r.get(0)?,
        status: r.get(1)?,
        created_at: r.get(2)?,
        source_digest: r.get(3)?,
        hosts: from_json_list(&r.get::<_, String>(4)?),
        run_id: r.get(5)?,
    })
}

fn upsert_resource_state(conn: &Connection, s: &ResourceState) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO resource_state
           (host, resource, type, desired_digest, observed_digest, run_id, applied_at, sensitive)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            s.host,
            s.resource,
            s.type_name,
            s.desired_digest,
            s.observed_digest,
            s.run_id,
            s.applied_at,
            serde_json::to_string(&s.sensitive).unwrap_or_else(|_| "[]".into())
        ],
    )?;
    Ok(())
}

fn resource_state_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ResourceState> {
    Ok(ResourceState {
        host: r.get(0)?,
        resource: r.get(1)?,
        type_name: r.get(2)?,
        desired_digest: r.get(3)?,
        observed_digest: r.get(4)?,
        run_id: r.get(5)?,
        applied_at: r.get(6)?,
        sensitive: from_json_list(&r.get::<_, String>(7)?),
    })
}

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let summary: Option<String> = r.get(10)?;
    Ok(RunRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        plan_hash: r.get(5)?,
        source_digest: r.get(6)?,
        hosts: from_json_list(&r.get::<_, String>(7)?),
        actor: r.get(8)?,
        pid: r.get(9)?,
        summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

fn audit_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        kind: r.get(3)?,
        detail: r.get(4)?,
        prev_hash: r.get(5)?,
        hash: r.get(6)?,
    })
}

fn locks_in(conn: &Connection) -> Result<Vec<LockRecord>> {
    let mut stmt = conn.prepare(
        "SELECT host, run_id, pid, pid_start, hostname, acquired_at FROM locks ORDER BY host",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(LockRecord {
            host: r.get(0)?,
            run_id: r.get(1)?,
            pid: r.get(2)?,
            pid_start: r.get(3)?,
            hostname: r.get(4)?,
            acquired_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

fn append_audit(tx: &Transaction<'_>, kind: &str, detail: &serde_json::Value) -> Result<i64> {
    let last: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (prev_seq, prev_hash) = last.unwrap_or((0, AUDIT_GENESIS.to_string()));
    let seq = prev_seq + 1;
    let at = now();
    let actor = actor();
    let detail = detail.to_string();
    let hash = audit_hash(&prev_hash, seq, at, &actor, kind, &detail);
    tx.execute(
        "INSERT INTO audit (seq, at, actor, kind, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, at, actor, kind, detail, prev_hash, hash],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_head', ?1)",
        params![format!("{seq} {hash}")],
    )?;
    Ok(seq)
}

/// Each entry's hash covers the previous hash and all of its own fields.
fn audit_hash(prev: &str, seq: i64, at: i64, actor: &str, kind: &str, detail: &str) -> String {
    let content = serde_json::json!([seq, at, actor, kind, detail]).to_string();
    sha256_hex(format!("{prev}\n{content}").as_bytes())
}

/// Creates `dir` (and missing parents) readable by its owner only. An
/// existing `.mc` directory of ours is tightened to 0700: it holds the state
/// store and plans, which name hosts, users and the history of changes.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if !dir.exists() {
        return std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    let meta = std::fs::metadata(dir)?;
    let ours = Some(meta.uid()) == current_uid();
    if ours && dir.file_name() == Some(".mc".as_ref()) && meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 when missing, or tightens an
/// existing file of ours to 0600 (SQLite gives its `-wal` and `-shm` files
/// the database's mode).
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)?;
        }
        Err(e) => return Err(e),
        Ok(meta) if meta.is_file() && meta.mode() & 0o077 != 0 => {
            if Some(meta.uid()) == current_uid() {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
        Ok(_) => {}
    }
    Ok(())
}

/// Writes `contents` to `path` with mode 0600 (plan files: they show the
/// project's hosts and changes), replacing what was there.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(contents)
}

/// `SEQ:HASH` (or `SEQ HASH`, as `meta` stores it).
fn parse_anchor(anchor: &str) -> Result<(i64, String)> {
    let bad = || {
        StateError::Other(format!(
            "{anchor:?} is not an audit anchor; give SEQ:HASH as `mc audit head` prints it"
        ))
    };
    let (seq, hash) = anchor.trim().split_once([':', ' ']).ok_or_else(bad)?;
    let seq: i64 = seq.parse().map_err(|_| bad())?;
    let hash = hash.trim().to_ascii_lowercase();
    if seq < 0 || hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((seq, hash))
}

fn to_json(hosts: &[String]) -> String {
    serde_json::to_string(hosts).unwrap_or_else(|_| "[]".into())
}

/// A pending refresh's action as stored: NULL for the service's own.
fn refresh_action_name(a: mc_ir::RefreshAction) -> Option<&'static str> {
    match a {
        mc_ir::RefreshAction::OnNotify => None,
        other => Some(other.name()),
    }
}

fn refresh_action_from(s: Option<&str>) -> mc_ir::RefreshAction {
    match s {
        Some("reload") => mc_ir::RefreshAction::Reload,
        Some("restart") => mc_ir::RefreshAction::Restart,
        _ => mc_ir::RefreshAction::OnNotify,
    }
}

fn from_json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `user@hostname` of whoever runs mc, for the audit log.
///
/// The name comes from the process's real uid, never from `$USER`, which
/// anyone can set (`USER=alice mc approve` is still audited as its caller).
pub fn actor() -> String {
    let user = user_from_passwd()
        .or_else(|| current_uid().map(|uid| format!("uid{uid}")))
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", local_hostname())
}

/// The login name of this process's real uid, from `/etc/passwd`.
fn user_from_passwd() -> Option<String> {
    let uid = current_uid()?;
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id = f.nth(1)?;
        (id == uid.to_string()).then(|| name.to_string())
    })
}

/// The real uid of this process, from `/proc/self/status`.
pub fn current_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|u| u.parse().ok())
}

pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The kernel's start time of a process (field 22 of `/proc/PID/stat`), so
/// a recycled pid is not mistaken for the original holder.
pub fn process_start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; the
    // fields after it start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field 22 is index 19.
    let start = fields.get(19)?;
    // A zombie has released its resources: treat it as gone.
    if fields.first() == Some(&"Z") {
        return None;
    }
    Some((*start).to_string())
}

/// `YYYY-MM-DD HH:MM:SS` UTC.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_2_keeps_plans_and_adds_the_rejected_status() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO plans (hash, status, created_at, source_digest, hosts, body)
                 VALUES ('abc123', 'approved', 1, 'd', '[\"h\"]', '{}')",
                [],
            )
            .unwrap();
            assert!(
                conn.execute("UPDATE plans SET status = 'rejected'", [])
                    .is_err(),
                "schema 1 has no rejected status"
            );
        }
        let store = StateStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as u32);
        let rec = store.plan("abc123").unwrap().unwrap();
        assert_eq!((rec.status.as_str(), rec.hosts.len()), ("approved", 1));
        assert_eq!(store.find_plans("abc").unwrap().len(), 1);
        assert!(store.find_plans("abd").unwrap().is_empty());
        // An approval can be withdrawn before the apply.
        let d = store
            .decide_plan(
                "abc123",
                false,
                "withdrawn",
                &serde_json::json!({"via": "test"}),
            )
            .unwrap();
        assert_eq!(d.decision, "rejected");
        assert_eq!(store.plan("abc123").unwrap().unwrap().status, "rejected");
        let audit = store.audit_entries(Some(1)).unwrap();
        assert_eq!(audit[0].seq, d.audit_seq);
        assert!(
            audit[0].detail.contains("\"via\":\"test\""),
            "{}",
            audit[0].detail
        );
        assert!(store
            .decide_plan("abc123", true, "", &serde_json::json!({}))
            .is_err());
        assert!(matches!(
            store.verify_audit().unwrap(),
            AuditVerdict::Intact { .. }
        ));
    }

    #[test]
    fn the_newest_report_covering_a_host_is_its_current_drift() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.db")).unwrap();
        let item = |host: &str| DriftItem {
            host: host.into(),
            resource: "file[/etc/motd]".into(),
            status: "drifted".into(),
            summary: "content changed outside mc".into(),
            changes: vec![],
            diff: Some("-a\n+b\n".into()),
        };
        let hosts = vec!["a".to_string(), "b".to_string()];
        store
            .record_drift_report(&hosts, 4, &[item("a"), item("b")])
            .unwrap();
        assert_eq!(store.current_drift().unwrap().len(), 2);
        // A clean check of `a` only clears `a`.
        let id = store.record_drift_report(&hosts[..1], 2, &[]).unwrap();
        let now = store.current_drift().unwrap();
        assert_eq!(now.len(), 1);
        assert_eq!(now[0].item, item("b"));
        assert!(now[0].report_id < id);
        let reports = store.drift_reports(10).unwrap();
        assert_eq!(
            (reports[0].drifted, reports[1].drifted, reports[1].probed),
            (0, 2, 4)
        );
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13:20");
    }

    #[test]
    fn own_process_has_a_start_time_and_is_not_stale() {
        let pid = std::process::id();
        let start = process_start_time(pid).expect("own /proc entry");
        let lock = LockRecord {
            host: "h".into(),
            run_id: 1,
            pid: pid as i64,
            pid_start: start,
            hostname: local_hostname(),
            acquired_at: 0,
        };
        assert!(!lock.is_stale());
        let recycled = LockRecord {
            pid_start: "1".into(),
            ..lock.clone()
        };
        assert!(recycled.is_stale());
        let remote = LockRecord {
            hostname: "some-other-machine".into(),
            pid_start: "1".into(),
            ..lock
        };
        assert!(
            !remote.is_stale(),
            "a holder on another machine cannot be checked"
        );
    }

    #[test]
    fn write_failures_say_what_failed_and_what_to_do() {
        let err = |code| {
            StateError::from(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
            .to_string()
        };
        let full = err(rusqlite::ffi::SQLITE_FULL);
        assert!(
            full.contains("disk is full") && full.contains("free space"),
            "{full}"
        );
        let shm = err(rusqlite::ffi::SQLITE_IOERR_SHMSIZE);
        assert!(
            shm.contains("state.db-shm") && shm.contains("disk is full"),
            "{shm}"
        );
        let busy = err(rusqlite::ffi::SQLITE_BUSY);
        assert!(!busy.contains("free space"), "{busy}");
    }
}
