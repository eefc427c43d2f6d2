//! The state store: by default one SQLite database (WAL) per project,
//! `.mc/state.db`; for a team, one PostgreSQL database shared by every
//! checkout (`--state postgres://…`, `MC_STATE`, `project { state = … }`).
//!
//! It holds runs and their per-host and per-resource results, the last
//! applied state of every resource (digests only, never secret values), the
//! facts cache, plans, pending notifications, the live event stream of a
//! running apply, the hash-chained audit log and the apply lock.
//!
//! One connection behind a mutex: writes are short, and both databases
//! serialise writers (SQLite by itself, PostgreSQL by a transaction
//! advisory lock). Other processes (the TUI, a second `mc`) read
//! concurrently and wait for writes. The logic is written once against
//! [`db::Sql`]; `pg` holds what only PostgreSQL needs.
//!
//! A crate of its own, with the operator's signing [`identity`] and the
//! approval [`policy`] it records, so readers of the store (the TUI) do not
//! link the transports.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod db;
pub mod display;
pub mod identity;
mod pg;
mod pg_schema;
mod pg_tls;
pub mod policy;
mod status;

pub use db::statements_run;
pub use status::{DriftStatus, HostStatus, PlanStatus, ResourceStatus, RunStatus, UnknownStatus};

use db::{params, Row, Sql, Value};
use mc_ir::hash::sha256_hex;
use rusqlite::{Connection, TransactionBehavior};
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
    // 6: who signed each audit entry (public key) and the signature of its
    // hash; entries from before have neither.
    r#"
    ALTER TABLE audit ADD COLUMN signer TEXT;
    ALTER TABLE audit ADD COLUMN signature TEXT;
    "#,
    // 7: runs that agents made on their own are ingested once each: their
    // `source_digest` is the report's key.
    r#"
    CREATE UNIQUE INDEX runs_agent_report ON runs (source_digest) WHERE kind IN ('agent', 'agent-noop');
    "#,
];

/// The hash that precedes the first audit entry.
pub const AUDIT_GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store: {}", sqlite_message(.0))]
    Sqlite(#[from] rusqlite::Error),
    #[error("state store: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
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
    UnknownStatus(#[from] UnknownStatus),
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

/// The server's message when it sent one ("relation … does not exist"),
/// else the client's ("connection closed").
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {}", db.message()),
        None => {
            // The cause says what went wrong (e.g. which certificate check
            // failed in a TLS handshake).
            let mut text = format!("PostgreSQL: {e}");
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let c_text = c.to_string();
                if !text.contains(&c_text) {
                    text.push_str(&format!(": {c_text}"));
                }
                cause = c.source();
            }
            text
        }
    }
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
    pub status: RunStatus,
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
    pub status: HostStatus,
    pub changed: u32,
    pub unchanged: u32,
    pub failed: u32,
    pub skipped: u32,
    pub error: Option<String>,
}

/// A run an agent made on its own, as ingested from its report.
#[derive(Clone, Debug, Default)]
pub struct AgentRunRecord {
    /// Unique per report: the agent and the report's stream sequence.
    pub key: String,
    pub agent: String,
    pub noop: bool,
    pub status: RunStatus,
    pub started: i64,
    pub finished: i64,
    pub summary: serde_json::Value,
    pub host_result: HostResult,
    pub results: Vec<ResourceResult>,
    /// What a `--noop` run found drifted.
    pub drift: Vec<DriftItem>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ResourceResult {
    pub host: String,
    pub resource: String,
    pub action: String,
    pub status: ResourceStatus,
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
    pub status: PlanStatus,
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
    pub status: DriftStatus,
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
    /// The public key (`ssh-ed25519 AAAA…`) that signed the entry's hash;
    /// `None` for entries written before entries were signed.
    pub signer: Option<String>,
    /// The `SSHSIG` signature of `hash` in the `mc-audit` namespace.
    #[serde(skip)]
    pub signature: Option<String>,
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
    db: Db,
}

/// Where a store lives: a SQLite file (`sqlite:PATH` or a bare path) or a
/// PostgreSQL database (`postgres://…` / `postgresql://…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateLocation {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StateLocation {
    /// Parses `--state`, `MC_STATE` or `project { state = … }`.
    pub fn parse(s: &str) -> StateLocation {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            StateLocation::Postgres(s.to_string())
        } else {
            StateLocation::Sqlite(PathBuf::from(s.strip_prefix("sqlite:").unwrap_or(s)))
        }
    }

    /// How messages name it: the path, or the URL without its password.
    pub fn display(&self) -> String {
        match self {
            StateLocation::Sqlite(p) => p.display().to_string(),
            StateLocation::Postgres(url) => pg::redact(url),
        }
    }
}

enum Db {
    Sqlite {
        conn: Mutex<Connection>,
        path: PathBuf,
    },
    Postgres(Box<pg::Pg>),
}

/// SQLite through the [`Sql`] interface.
struct Lite<'a>(&'a Connection);

impl Sql for Lite<'_> {
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        db::sqlite_exec(self.0, sql, params)
    }
    fn rows(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        db::sqlite_rows(self.0, sql, params)
    }
}

impl StateStore {
    /// The default location for a project: `<project>/.mc/state.db`.
    pub fn default_path(project_dir: &Path) -> PathBuf {
        project_dir.join(".mc").join("state.db")
    }

    /// Opens (creating if needed) the SQLite store at `path` and runs
    /// pending migrations.
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
            db: Db::Sqlite {
                conn: Mutex::new(conn),
                path: path.to_path_buf(),
            },
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens the store at `location`: a SQLite file, or a PostgreSQL
    /// database (created tables and pending migrations included).
    pub fn open_at(location: &StateLocation) -> Result<StateStore> {
        match location {
            StateLocation::Sqlite(path) => StateStore::open(path),
            StateLocation::Postgres(url) => {
                let store = StateStore {
                    db: Db::Postgres(Box::new(pg::Pg::connect(url)?)),
                };
                store.migrate()?;
                Ok(store)
            }
        }
    }

    /// The SQLite file, or `None` for a PostgreSQL store.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.db {
            Db::Sqlite { path, .. } => Some(path),
            Db::Postgres(_) => None,
        }
    }

    /// Where the store is, for messages.
    pub fn location(&self) -> String {
        match &self.db {
            Db::Sqlite { path, .. } => path.display().to_string(),
            Db::Postgres(pg) => pg.display.clone(),
        }
    }

    /// Where the store is, to open it again (another connection).
    pub fn spec(&self) -> StateLocation {
        match &self.db {
            Db::Sqlite { path, .. } => StateLocation::Sqlite(path.clone()),
            Db::Postgres(pg) => StateLocation::Postgres(pg.url.clone()),
        }
    }

    /// Whether the store is shared through PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    fn sqlite(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back on drop), so a poisoned mutex is usable.
        conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the database outside any transaction.
    fn read<T: Send>(&self, f: impl FnOnce(&mut dyn Sql) -> Result<T> + Send) -> Result<T> {
        match &self.db {
            Db::Sqlite { conn, .. } => f(&mut Lite(&Self::sqlite(conn))),
            Db::Postgres(pg) => pg.with(|c| f(c)),
        }
    }

    /// Runs `f` in a write transaction that commits when it returns `Ok`.
    /// Writers are serialised (SQLite's `BEGIN IMMEDIATE`, a transaction
    /// advisory lock in PostgreSQL), so audit entries chain in order.
    fn write<T: Send>(&self, f: impl FnOnce(&mut dyn Sql) -> Result<T> + Send) -> Result<T> {
        match &self.db {
            Db::Sqlite { conn, .. } => {
                let mut conn = Self::sqlite(conn);
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&mut Lite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Db::Postgres(pg) => pg.with(|c| {
                c.transaction(|tx| {
                    tx.exec("SELECT pg_advisory_xact_lock(?1)", &params![pg::WRITE_KEY])?;
                    f(tx)
                })
            }),
        }
    }

    fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite { conn, path } => {
                let mut conn = Self::sqlite(conn);
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let version: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                let known = MIGRATIONS.len() as u32;
                if version > known {
                    return Err(StateError::TooNew {
                        path: path.display().to_string(),
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
            Db::Postgres(pg) => pg.migrate(),
        }
    }

    pub fn schema_version(&self) -> Result<u32> {
        match &self.db {
            Db::Sqlite { conn, .. } => {
                Ok(Self::sqlite(conn).pragma_query_value(None, "user_version", |r| r.get(0))?)
            }
            Db::Postgres(pg) => pg.with(pg::schema_version),
        }
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
        let p = params![
            kind,
            now(),
            plan_hash,
            source_digest,
            to_json(hosts),
            actor(),
            i64::from(std::process::id())
        ];
        self.read(|db| {
            db.row(
                "INSERT INTO runs (kind, status, started_at, plan_hash, source_digest, hosts, actor, pid)
                 VALUES (?1, 'running', ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                &p,
            )?
            .ok_or_else(|| StateError::Other("no id for the new run".into()))?
            .int(0)
        })
    }

    pub fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        summary: &serde_json::Value,
    ) -> Result<()> {
        let p = params![run_id, status.as_str(), now(), summary.to_string()];
        self.read(|db| {
            db.exec(
                "UPDATE runs SET status = ?2, finished_at = ?3, summary = ?4 WHERE id = ?1",
                &p,
            )
        })?;
        Ok(())
    }

    /// Runs newest first. A run still marked `running` whose process is gone
    /// is reported as `crashed`.
    pub fn list_runs(&self, limit: usize) -> Result<Vec<RunRecord>> {
        let mut runs = self.read(|db| {
            db.rows(
                &format!("{RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"),
                &params![sql_limit(limit)],
            )?
            .iter()
            .map(run_from_row)
            .collect::<Result<Vec<_>>>()
        })?;
        self.mark_crashed(&mut runs)?;
        Ok(runs)
    }

    /// One run, with the same `crashed` rule as [`StateStore::list_runs`].
    pub fn run(&self, run_id: i64) -> Result<Option<RunRecord>> {
        let run = self.read(|db| {
            db.row(
                &format!("{RUN_COLUMNS} FROM runs WHERE id = ?1"),
                &params![run_id],
            )?
            .as_ref()
            .map(run_from_row)
            .transpose()
        })?;
        let mut runs: Vec<RunRecord> = run.into_iter().collect();
        self.mark_crashed(&mut runs)?;
        Ok(runs.pop())
    }

    pub fn record_host_result(&self, run_id: i64, r: &HostResult) -> Result<()> {
        let p = params![
            run_id,
            &r.host,
            r.status.as_str(),
            r.changed,
            r.unchanged,
            r.failed,
            r.skipped,
            r.error.as_deref(),
            now()
        ];
        self.read(|db| {
            db.exec(
                "INSERT INTO host_results
                   (run_id, host, status, changed, unchanged, failed, skipped, error, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (run_id, host) DO UPDATE SET status = excluded.status,
                   changed = excluded.changed, unchanged = excluded.unchanged,
                   failed = excluded.failed, skipped = excluded.skipped,
                   error = excluded.error, finished_at = excluded.finished_at",
                &p,
            )
        })?;
        Ok(())
    }

    pub fn host_results(&self, run_id: i64) -> Result<Vec<HostResult>> {
        self.read(|db| {
            db.rows(
                "SELECT host, status, changed, unchanged, failed, skipped, error
                 FROM host_results WHERE run_id = ?1 ORDER BY host",
                &params![run_id],
            )?
            .iter()
            .map(|r| {
                Ok(HostResult {
                    host: r.text(0)?,
                    status: r.status(1)?,
                    changed: r.u32(2)?,
                    unchanged: r.u32(3)?,
                    failed: r.u32(4)?,
                    skipped: r.u32(5)?,
                    error: r.opt_text(6)?,
                })
            })
            .collect()
        })
    }

    /// Records one resource's outcome and, when it converged, its new
    /// last-applied state, in one transaction so the two never disagree.
    pub fn record_resource_result(
        &self,
        run_id: i64,
        r: &ResourceResult,
        applied: Option<&ResourceState>,
    ) -> Result<()> {
        let p = params![
            run_id,
            &r.host,
            &r.resource,
            &r.action,
            r.status.as_str(),
            r.message.as_deref(),
            r.duration_ms.min(i64::MAX as u64) as i64,
            r.output.as_deref()
        ];
        let go = |db: &mut dyn Sql| {
            db.exec(
                "INSERT INTO resource_results
                   (run_id, host, resource, action, status, message, duration_ms, output)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (run_id, host, resource) DO UPDATE SET action = excluded.action,
                   status = excluded.status, message = excluded.message,
                   duration_ms = excluded.duration_ms, output = excluded.output",
                &p,
            )?;
            if let Some(s) = applied {
                upsert_resource_state(db, s)?;
            }
            Ok(())
        };
        // Without a state change there is one statement: no transaction.
        match applied {
            Some(_) => self.write(go),
            None => self.read(go),
        }
    }

    pub fn resource_results(&self, run_id: i64) -> Result<Vec<ResourceResult>> {
        self.read(|db| {
            db.rows(
                "SELECT host, resource, action, status, message, duration_ms, output
                 FROM resource_results WHERE run_id = ?1 ORDER BY host, rowid",
                &params![run_id],
            )?
            .iter()
            .map(|r| {
                Ok(ResourceResult {
                    host: r.text(0)?,
                    resource: r.text(1)?,
                    action: r.text(2)?,
                    status: r.status(3)?,
                    message: r.opt_text(4)?,
                    duration_ms: r.int(5)?.max(0) as u64,
                    output: r.opt_text(6)?,
                })
            })
            .collect()
        })
    }

    // ---- last-applied state ------------------------------------------------

    pub fn set_resource_state(&self, s: &ResourceState) -> Result<()> {
        self.read(|db| upsert_resource_state(db, s))
    }

    pub fn resource_states(&self, host: &str) -> Result<Vec<ResourceState>> {
        self.read(|db| {
            db.rows(
                &format!("{STATE_COLUMNS} FROM resource_state WHERE host = ?1 ORDER BY resource"),
                &params![host],
            )?
            .iter()
            .map(resource_state_from_row)
            .collect()
        })
    }

    /// Every host's last-applied resources, by host then resource.
    pub fn all_resource_states(&self) -> Result<Vec<ResourceState>> {
        self.read(|db| {
            db.rows(
                &format!("{STATE_COLUMNS} FROM resource_state ORDER BY host, resource"),
                &[],
            )?
            .iter()
            .map(resource_state_from_row)
            .collect()
        })
    }

    /// Stops tracking a resource on a host (`mc state forget`): nothing on
    /// the host changes; drift no longer probes it. Audited with the removal,
    /// in one transaction. Returns whether it was tracked.
    pub fn forget_resource(&self, host: &str, resource: &str) -> Result<bool> {
        self.write(|db| {
            let removed = db.exec(
                "DELETE FROM resource_state WHERE host = ?1 AND resource = ?2",
                &params![host, resource],
            )?;
            if removed > 0 {
                append_audit(
                    db,
                    "state.forget",
                    &serde_json::json!({ "host": host, "resource": resource }),
                )?;
            }
            Ok(removed > 0)
        })
    }

    // ---- facts ---------------------------------------------------------------

    pub fn cache_facts(&self, host: &str, facts: &serde_json::Value) -> Result<()> {
        let p = params![host, facts.to_string(), now()];
        self.read(|db| {
            db.exec(
                "INSERT INTO facts (host, facts, gathered_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (host) DO UPDATE SET facts = excluded.facts,
                   gathered_at = excluded.gathered_at",
                &p,
            )
        })?;
        Ok(())
    }

    /// Every host's cached facts in the SQLite store at `path`, read
    /// without creating, migrating or locking anything (for `mc check`):
    /// empty when there is no store there.
    pub fn read_cached_facts(path: &Path) -> Result<BTreeMap<String, serde_json::Value>> {
        if !path.is_file() {
            return Ok(BTreeMap::new());
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        facts_in(&mut Lite(&conn))
    }

    /// Every host's cached facts.
    pub fn all_cached_facts(&self) -> Result<BTreeMap<String, serde_json::Value>> {
        self.read(facts_in)
    }

    /// The cached facts of a host and when they were gathered.
    pub fn cached_facts(&self, host: &str) -> Result<Option<(serde_json::Value, i64)>> {
        let row = self.read(|db| {
            db.row(
                "SELECT facts, gathered_at FROM facts WHERE host = ?1",
                &params![host],
            )?
            .map(|r| Ok((r.text(0)?, r.int(1)?)))
            .transpose()
        })?;
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
        let p = params![hash, now(), source_digest, to_json(hosts), body];
        self.write(|db| {
            let inserted = db.exec(
                "INSERT INTO plans (hash, status, created_at, source_digest, hosts, body)
                 VALUES (?1, 'pending', ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                &p,
            )?;
            if inserted == 1 {
                let mut detail = detail.clone();
                match detail.as_object_mut() {
                    Some(d) => {
                        d.insert("plan".into(), hash.into());
                    }
                    None => detail = serde_json::json!({ "plan": hash, "hosts": hosts }),
                }
                append_audit(db, "plan", &detail)?;
            }
            Ok(())
        })
    }

    /// The audit entries of `kind` about plan `hash`, oldest first.
    fn plan_audit_entries(&self, kind: &str, hash: &str) -> Result<Vec<AuditEntry>> {
        let entries = self.read(|db| {
            db.rows(
                &format!(
                    "{AUDIT_COLUMNS} FROM audit WHERE kind = ?1 AND detail LIKE '%' || ?2 || '%'
                     ORDER BY seq"
                ),
                &params![kind, hash],
            )?
            .iter()
            .map(audit_from_row)
            .collect::<Result<Vec<_>>>()
        })?;
        Ok(entries
            .into_iter()
            .filter(|e| {
                let about: Option<String> = serde_json::from_str::<serde_json::Value>(&e.detail)
                    .ok()
                    .and_then(|d| d.get("plan").and_then(|p| p.as_str()).map(str::to_string));
                about.as_deref() == Some(hash)
            })
            .collect())
    }

    /// Who recorded plan `hash` with `mc plan`, from its audit entry; `None`
    /// when no `plan` entry names it (a row inserted by other means).
    pub fn plan_recorded_by(&self, hash: &str) -> Result<Option<String>> {
        Ok(self.plan_entry(hash)?.map(|e| e.actor))
    }

    /// The audit entry in which `mc plan` recorded plan `hash` (its signer
    /// is the planner's key).
    pub fn plan_entry(&self, hash: &str) -> Result<Option<AuditEntry>> {
        Ok(self.plan_audit_entries("plan", hash)?.into_iter().next())
    }

    /// The approvals of plan `hash` that stand: its `plan.approve` audit
    /// entries since its last `plan.reject`, oldest first.
    pub fn standing_approvals(&self, hash: &str) -> Result<Vec<AuditEntry>> {
        let rejected = self
            .plan_audit_entries("plan.reject", hash)?
            .last()
            .map_or(0, |e| e.seq);
        let mut approvals = self.plan_audit_entries("plan.approve", hash)?;
        approvals.retain(|e| e.seq > rejected);
        Ok(approvals)
    }

    /// One audit entry by its sequence number.
    pub fn audit_entry(&self, seq: i64) -> Result<Option<AuditEntry>> {
        self.read(|db| {
            db.row(
                &format!("{AUDIT_COLUMNS} FROM audit WHERE seq = ?1"),
                &params![seq],
            )?
            .as_ref()
            .map(audit_from_row)
            .transpose()
        })
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
        self.read(|db| {
            db.row(
                &format!("{PLAN_COLUMNS} FROM plans WHERE hash = ?1"),
                &params![hash],
            )?
            .as_ref()
            .map(plan_from_row)
            .transpose()
        })
    }

    /// Plans newest first, all or only those with one of `statuses`.
    pub fn list_plans(&self, statuses: &[PlanStatus], limit: usize) -> Result<Vec<PlanRecord>> {
        let all = self.read(|db| {
            db.rows(
                &format!("{PLAN_COLUMNS} FROM plans ORDER BY created_at DESC, rowid DESC"),
                &[],
            )?
            .iter()
            .map(plan_from_row)
            .collect::<Result<Vec<_>>>()
        })?;
        Ok(all
            .into_iter()
            .filter(|r| statuses.is_empty() || statuses.contains(&r.status))
            .take(limit)
            .collect())
    }

    /// The stored plan JSON (as written by `mc plan`).
    pub fn plan_body(&self, hash: &str) -> Result<Option<String>> {
        self.read(|db| {
            db.row("SELECT body FROM plans WHERE hash = ?1", &params![hash])?
                .map(|r| r.text(0))
                .transpose()
        })
    }

    /// Plans whose hash starts with `prefix` (for `mc approve 3f2a9c…`).
    pub fn find_plans(&self, prefix: &str) -> Result<Vec<PlanRecord>> {
        self.read(|db| {
            db.rows(
                &format!(
                    "{PLAN_COLUMNS} FROM plans WHERE substr(hash, 1, length(?1)) = ?1
                     ORDER BY created_at DESC"
                ),
                &params![prefix],
            )?
            .iter()
            .map(plan_from_row)
            .collect()
        })
    }

    /// Approves or rejects a plan: the status change, the decision record
    /// and its audit entry in one transaction. Only a plan not yet applied
    /// can be decided: an approved plan can take further approvals (a
    /// quorum) or be rejected, to withdraw the approvals before it runs. `extra` is merged into the audit
    /// detail (e.g. `{"via": "tui"}`).
    pub fn decide_plan(
        &self,
        hash: &str,
        approve: bool,
        reason: &str,
        extra: &serde_json::Value,
    ) -> Result<PlanDecision> {
        self.write(|db| {
            let status: Option<PlanStatus> = db
                .row("SELECT status FROM plans WHERE hash = ?1", &params![hash])?
                .map(|r| r.status(0))
                .transpose()?;
            let short = hash.get(..12).unwrap_or(hash);
            let status = status.ok_or_else(|| {
                StateError::Other(format!("plan {short} is not in the state store"))
            })?;
            if status != PlanStatus::Pending && status != PlanStatus::Approved {
                return Err(StateError::Other(format!(
                    "plan {short} is {status}; only a plan waiting to be applied can be {}",
                    if approve { "approved" } else { "rejected" }
                )));
            }
            let decision = if approve {
                PlanStatus::Approved
            } else {
                PlanStatus::Rejected
            };
            db.exec(
                "UPDATE plans SET status = ?2 WHERE hash = ?1",
                &params![hash, decision.as_str()],
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
            let seq = append_audit(db, kind, &detail)?;
            let (actor, at) = (actor(), now());
            db.exec(
                "INSERT INTO plan_decisions (plan_hash, decision, actor, at, reason, audit_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &params![hash, decision.as_str(), &actor, at, reason, seq],
            )?;
            Ok(PlanDecision {
                plan_hash: hash.to_string(),
                decision: decision.to_string(),
                actor,
                at,
                reason: reason.to_string(),
                audit_seq: seq,
            })
        })
    }

    /// Decisions on a plan, oldest first.
    pub fn plan_decisions(&self, hash: &str) -> Result<Vec<PlanDecision>> {
        self.read(|db| {
            db.rows(
                "SELECT plan_hash, decision, actor, at, reason, audit_seq
                 FROM plan_decisions WHERE plan_hash = ?1 ORDER BY id",
                &params![hash],
            )?
            .iter()
            .map(|r| {
                Ok(PlanDecision {
                    plan_hash: r.text(0)?,
                    decision: r.text(1)?,
                    actor: r.text(2)?,
                    at: r.int(3)?,
                    reason: r.text(4)?,
                    audit_seq: r.int(5)?,
                })
            })
            .collect()
        })
    }

    // ---- agents ----------------------------------------------------------------

    /// A value of the store's own settings (`meta`).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.read(
            |db| match db.row("SELECT value FROM meta WHERE key = ?1", &params![key])? {
                Some(r) => Ok(Some(r.text(0)?)),
                None => Ok(None),
            },
        )
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.read(|db| {
            db.exec(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &params![key, value],
            )
        })?;
        Ok(())
    }

    /// Records a run an agent made on its own (and, for a `--noop` agent
    /// that found drift, a drift report), once: a second call with the same
    /// `key` changes nothing and returns false.
    pub fn record_agent_run(&self, r: &AgentRunRecord) -> Result<bool> {
        let kind = if r.noop { "agent-noop" } else { "agent" };
        let hosts = to_json(std::slice::from_ref(&r.agent));
        let actor = format!("agent {}", r.agent);
        let p = params![
            kind,
            r.status.as_str(),
            r.started,
            r.finished,
            &r.key,
            &hosts,
            &actor,
            r.summary.to_string()
        ];
        self.write(|db| {
            let Some(row) = db.row(
                "INSERT INTO runs (kind, status, started_at, finished_at, plan_hash, source_digest, hosts, actor, pid, summary)
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, ?7, 0, ?8)
                 ON CONFLICT DO NOTHING RETURNING id",
                &p,
            )?
            else {
                return Ok(false);
            };
            let id = row.int(0)?;
            let h = &r.host_result;
            db.exec(
                "INSERT INTO host_results
                   (run_id, host, status, changed, unchanged, failed, skipped, error, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                &params![id, &h.host, h.status.as_str(), h.changed, h.unchanged, h.failed, h.skipped, h.error.as_deref(), r.finished],
            )?;
            for x in &r.results {
                db.exec(
                    "INSERT INTO resource_results
                       (run_id, host, resource, action, status, message, duration_ms, output)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, NULL)
                     ON CONFLICT (run_id, host, resource) DO NOTHING",
                    &params![id, &x.host, &x.resource, &x.action, x.status.as_str(), x.message.as_deref()],
                )?;
            }
            if !r.drift.is_empty() {
                let drifted = r.drift.len() as u32;
                let report = db
                    .row(
                        "INSERT INTO drift_reports (at, actor, hosts, probed, drifted, errors)
                         VALUES (?1, ?2, ?3, ?4, ?5, 0) RETURNING id",
                        &params![r.finished, &actor, &hosts, 1u32, drifted],
                    )?
                    .ok_or_else(|| StateError::Other("no id for the drift report".into()))?
                    .int(0)?;
                insert_drift_items(db, report, &r.drift)?;
            }
            append_audit(
                db,
                "agent.run",
                &serde_json::json!({ "run": id, "agent": r.agent, "key": r.key, "status": r.status }),
            )?;
            Ok(true)
        })
    }

    // ---- drift -----------------------------------------------------------------

    /// Stores one `mc drift` run and its findings; returns the report id.
    pub fn record_drift_report(
        &self,
        hosts: &[String],
        probed: u32,
        items: &[DriftItem],
    ) -> Result<i64> {
        let drifted = items
            .iter()
            .filter(|i| i.status == DriftStatus::Drifted)
            .count() as u32;
        let errors = items.len() as u32 - drifted;
        let p = params![now(), actor(), to_json(hosts), probed, drifted, errors];
        self.write(|db| {
            let id = db
                .row(
                    "INSERT INTO drift_reports (at, actor, hosts, probed, drifted, errors)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                    &p,
                )?
                .ok_or_else(|| StateError::Other("no id for the drift report".into()))?
                .int(0)?;
            insert_drift_items(db, id, items)?;
            append_audit(
                db,
                "drift",
                &serde_json::json!({
                    "report": id, "hosts": hosts, "probed": probed,
                    "drifted": drifted, "errors": errors,
                }),
            )?;
            Ok(id)
        })
    }

    /// Drift reports newest first.
    pub fn drift_reports(&self, limit: usize) -> Result<Vec<DriftReportRecord>> {
        self.read(|db| {
            db.rows(
                "SELECT id, at, actor, hosts, probed, drifted, errors
                 FROM drift_reports ORDER BY id DESC LIMIT ?1",
                &params![sql_limit(limit)],
            )?
            .iter()
            .map(|r| {
                Ok(DriftReportRecord {
                    id: r.int(0)?,
                    at: r.int(1)?,
                    actor: r.text(2)?,
                    hosts: from_json_list(&r.text(3)?),
                    probed: r.u32(4)?,
                    drifted: r.u32(5)?,
                    errors: r.u32(6)?,
                })
            })
            .collect()
        })
    }

    /// The current drift: per host, the findings of the newest report that
    /// covered that host (a later clean report clears earlier findings).
    pub fn current_drift(&self) -> Result<Vec<DriftRecord>> {
        let reports = self.drift_reports(usize::MAX)?;
        let mut latest: BTreeMap<String, (i64, i64)> = Default::default();
        for r in &reports {
            for h in &r.hosts {
                latest.entry(h.clone()).or_insert((r.id, r.at));
            }
        }
        self.read(|db| {
            let mut out = Vec::new();
            for (host, (id, at)) in latest {
                let rows = db.rows(
                    "SELECT host, resource, status, summary, changes, diff
                     FROM drift_items WHERE report_id = ?1 AND host = ?2 ORDER BY resource",
                    &params![id, host],
                )?;
                for r in rows {
                    out.push(DriftRecord {
                        report_id: id,
                        detected_at: at,
                        item: DriftItem {
                            host: r.text(0)?,
                            resource: r.text(1)?,
                            status: r.status(2)?,
                            summary: r.text(3)?,
                            changes: serde_json::from_str(&r.text(4)?).unwrap_or_default(),
                            diff: r.opt_text(5)?,
                        },
                    });
                }
            }
            Ok(out)
        })
    }

    pub fn set_plan_status(
        &self,
        hash: &str,
        status: PlanStatus,
        run_id: Option<i64>,
    ) -> Result<()> {
        self.read(|db| {
            db.exec(
                "UPDATE plans SET status = ?2, run_id = COALESCE(?3, run_id) WHERE hash = ?1",
                &params![hash, status.as_str(), run_id],
            )
        })?;
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
        let changed = self.read(|db| db.exec(sql, &params![hash, run_id]))?;
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
        self.write(|db| {
            for (r, action) in resources {
                let old = db
                    .row(
                        "SELECT action FROM pending_notifications WHERE host = ?1 AND resource = ?2",
                        &params![host, r],
                    )?
                    .map(|row| row.opt_text(0))
                    .transpose()?;
                let action = match old {
                    Some(old) => (*action).max(refresh_action_from(old.as_deref())),
                    None => *action,
                };
                db.exec(
                    "INSERT INTO pending_notifications (host, resource, run_id, created_at, action)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (host, resource) DO UPDATE SET action = excluded.action",
                    &params![host, r, run_id, now(), refresh_action_name(action)],
                )?;
            }
            Ok(())
        })
    }

    /// The host's pending refreshes: resource and what each asks.
    pub fn pending_notifications(&self, host: &str) -> Result<Vec<(String, mc_ir::RefreshAction)>> {
        self.read(|db| {
            db.rows(
                "SELECT resource, action FROM pending_notifications WHERE host = ?1 ORDER BY resource",
                &params![host],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, refresh_action_from(r.opt_text(1)?.as_deref()))))
            .collect()
        })
    }

    pub fn clear_pending_notification(&self, host: &str, resource: &str) -> Result<()> {
        self.read(|db| {
            db.exec(
                "DELETE FROM pending_notifications WHERE host = ?1 AND resource = ?2",
                &params![host, resource],
            )
        })?;
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
        let p = params![run_id, at_ms, host, resource, kind, message];
        self.read(|db| {
            db.exec(
                "INSERT INTO events (run_id, at_ms, host, resource, kind, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &p,
            )
        })?;
        Ok(())
    }

    /// Events of a run with an id greater than `after`, oldest first.
    pub fn events_since(&self, run_id: i64, after: i64) -> Result<Vec<EventRecord>> {
        self.read(|db| {
            db.rows(
                "SELECT id, run_id, at_ms, host, resource, kind, message
                 FROM events WHERE run_id = ?1 AND id > ?2 ORDER BY id",
                &params![run_id, after],
            )?
            .iter()
            .map(|r| {
                Ok(EventRecord {
                    id: r.int(0)?,
                    run_id: r.int(1)?,
                    at_ms: r.int(2)?,
                    host: r.text(3)?,
                    resource: r.opt_text(4)?,
                    kind: r.text(5)?,
                    message: r.opt_text(6)?,
                })
            })
            .collect()
        })
    }

    // ---- audit log -------------------------------------------------------------

    /// Appends an entry to the hash-chained audit log.
    pub fn audit(&self, kind: &str, detail: &serde_json::Value) -> Result<i64> {
        self.write(|db| append_audit(db, kind, detail))
    }

    pub fn audit_entries(&self, limit: Option<usize>) -> Result<Vec<AuditEntry>> {
        let mut entries = self.read(|db| {
            db.rows(
                &format!("{AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?1"),
                &params![sql_limit(limit.unwrap_or(usize::MAX))],
            )?
            .iter()
            .map(audit_from_row)
            .collect::<Result<Vec<_>>>()
        })?;
        entries.reverse();
        Ok(entries)
    }

    /// Walks the whole chain. Detects an edited entry (its hash no longer
    /// matches), a deleted or reordered one (sequence gap, or `prev_hash`
    /// not the previous entry's hash), a truncated tail (the head recorded
    /// in `meta` is missing) and a forged signature.
    pub fn verify_audit(&self) -> Result<AuditVerdict> {
        self.verify_chain(true)
    }

    /// [`StateStore::verify_audit`] without checking each signature (an
    /// ed25519 verification per entry, seconds on a long log): the chain
    /// and which entries are signed. `mc apply` checks the signatures of
    /// the entries it relies on itself.
    pub fn verify_audit_chain(&self) -> Result<AuditVerdict> {
        self.verify_chain(false)
    }

    fn verify_chain(&self, signatures: bool) -> Result<AuditVerdict> {
        let (rows, head) = self.read(|db| {
            let rows = db
                .rows(&format!("{AUDIT_COLUMNS} FROM audit ORDER BY seq"), &[])?
                .iter()
                .map(audit_from_row)
                .collect::<Result<Vec<_>>>()?;
            let head = db
                .row("SELECT value FROM meta WHERE key = 'audit_head'", &[])?
                .map(|r| r.text(0))
                .transpose()?;
            Ok((rows, head))
        })?;
        let mut prev = AUDIT_GENESIS.to_string();
        let mut expected_seq = 1i64;
        let mut signed = false;
        for e in rows {
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
            let signer = e.signer.as_deref();
            if audit_hash(&prev, e.seq, e.at, &e.actor, &e.kind, &e.detail, signer) != e.hash {
                return Ok(AuditVerdict::Broken {
                    seq: e.seq,
                    reason: "content does not match its hash (edited)".into(),
                });
            }
            if let Some(reason) = signature_problem(&e, signed, signatures) {
                return Ok(AuditVerdict::Broken { seq: e.seq, reason });
            }
            signed |= e.signer.is_some();
            prev = e.hash;
            expected_seq += 1;
        }
        let entries = expected_seq - 1;
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
        let last = self.read(last_audit)?;
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
            self.read(|db| {
                db.row("SELECT hash FROM audit WHERE seq = ?1", &params![seq])?
                    .map(|r| r.text(0))
                    .transpose()
            })?
            .unwrap_or_default()
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
    /// either all of them or none. A holder that is gone (a dead process on
    /// this machine; with PostgreSQL, any holder whose session ended) is
    /// taken over, and the takeover audited. With PostgreSQL the lock is
    /// also a session advisory lock per host, held by this connection, so
    /// it ends when this process or its connection does.
    pub fn acquire_lock(&self, hosts: &[String], run_id: i64) -> Result<()> {
        if let Db::Postgres(pg) = &self.db {
            pg.with(|c| pg::lock_hosts(c, hosts))?;
        }
        let pg_held = self.is_postgres();
        let taken = self.write(|db| {
            let existing = locks_in(db)?;
            let mut held = Vec::new();
            for l in existing.iter().filter(|l| hosts.contains(&l.host)) {
                // With PostgreSQL the advisory locks just taken prove every
                // earlier holder of these hosts is gone.
                if pg_held || l.is_stale() {
                    db.exec("DELETE FROM locks WHERE host = ?1", &params![&l.host])?;
                    append_audit(
                        db,
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
                db.exec(
                    "INSERT INTO locks (host, run_id, pid, pid_start, hostname, acquired_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    &params![h, run_id, i64::from(pid), &start, &hostname, now()],
                )?;
            }
            append_audit(
                db,
                "lock.acquire",
                &serde_json::json!({ "hosts": hosts, "run": run_id }),
            )
        });
        if let (Err(_), Db::Postgres(pg)) = (&taken, &self.db) {
            let _ = pg.with(|c| pg::unlock_hosts(c, hosts));
        }
        taken.map(|_| ())
    }

    /// [`StateStore::acquire_lock`], retrying for up to `wait` while
    /// another run holds a lock (`--lock-timeout`).
    pub fn acquire_lock_waiting(
        &self,
        hosts: &[String],
        run_id: i64,
        wait: Duration,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match self.acquire_lock(hosts, run_id) {
                Err(StateError::LockHeld(h)) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StateError::LockHeld(h));
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                other => return other,
            }
        }
    }

    pub fn release_lock(&self, run_id: i64) -> Result<()> {
        let hosts = self.write(|db| {
            let hosts: Vec<String> = locks_in(db)?
                .into_iter()
                .filter(|l| l.run_id == run_id)
                .map(|l| l.host)
                .collect();
            let n = db.exec("DELETE FROM locks WHERE run_id = ?1", &params![run_id])?;
            if n > 0 {
                append_audit(db, "lock.release", &serde_json::json!({ "run": run_id }))?;
            }
            Ok(hosts)
        })?;
        if let Db::Postgres(pg) = &self.db {
            pg.with(|c| pg::unlock_hosts(c, &hosts))?;
        }
        Ok(())
    }

    /// The recorded locks. With PostgreSQL, a lock whose holder's session
    /// has ended is left out: it no longer holds anything.
    pub fn locks(&self) -> Result<Vec<LockRecord>> {
        let all = self.read(locks_in)?;
        match &self.db {
            Db::Sqlite { .. } => Ok(all),
            Db::Postgres(pg) => pg.with(|c| pg::live_locks(c, all)),
        }
    }

    /// `mc state unlock`: removes lock rows (all, or those on `hosts`).
    /// Unless `force`, refuses to remove a lock whose holder is alive.
    /// With PostgreSQL, `force` also ends the holder's database session,
    /// which releases its advisory locks.
    pub fn unlock(&self, hosts: Option<&[String]>, force: bool) -> Result<Vec<LockRecord>> {
        let live_hosts: Vec<String> = self.locks()?.into_iter().map(|l| l.host).collect();
        let pg = self.is_postgres();
        let selected = self.write(|db| {
            let selected: Vec<LockRecord> = locks_in(db)?
                .into_iter()
                .filter(|l| hosts.is_none_or(|hs| hs.contains(&l.host)))
                .collect();
            let live: Vec<LockRecord> = selected
                .iter()
                .filter(|l| match pg {
                    true => live_hosts.contains(&l.host),
                    false => !l.is_stale(),
                })
                .cloned()
                .collect();
            if !force && !live.is_empty() {
                return Err(StateError::LockHeld(live));
            }
            for l in &selected {
                db.exec("DELETE FROM locks WHERE host = ?1", &params![&l.host])?;
            }
            if !selected.is_empty() {
                let hosts: Vec<&str> = selected.iter().map(|l| l.host.as_str()).collect();
                append_audit(
                    db,
                    "lock.unlock",
                    &serde_json::json!({ "hosts": hosts, "forced": force }),
                )?;
            }
            Ok(selected)
        })?;
        if let (true, Db::Postgres(p)) = (force, &self.db) {
            let hosts: Vec<String> = selected.iter().map(|l| l.host.clone()).collect();
            p.with(|c| pg::end_holders(c, &hosts))?;
        }
        Ok(selected)
    }

    /// Releases every lock run `run_id` holds, alive or not (`mc state
    /// unlock RUN`: naming the run is the confirmation, as Terraform's
    /// `force-unlock ID`). Audited like [`StateStore::unlock`].
    pub fn unlock_run(&self, run_id: i64) -> Result<Vec<LockRecord>> {
        let hosts: Vec<String> = self
            .read(locks_in)?
            .into_iter()
            .filter(|l| l.run_id == run_id)
            .map(|l| l.host)
            .collect();
        if hosts.is_empty() {
            return Err(StateError::Other(format!("run {run_id} holds no lock")));
        }
        self.unlock(Some(&hosts), true)
    }

    // ---- backup, restore and copies --------------------------------------

    /// Copies the store to the SQLite file `dest`: SQLite's online backup
    /// API for a SQLite store (consistent even while another process
    /// writes), a copy of every table in one snapshot for PostgreSQL.
    pub fn backup(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StateError::Other(format!(
                "{} already exists; refusing to overwrite it",
                dest.display()
            )));
        }
        match &self.db {
            Db::Sqlite { conn, .. } => {
                Self::sqlite(conn).backup(
                    rusqlite::MAIN_DB,
                    dest,
                    rusqlite::backup::NO_PROGRESS,
                )?;
                Ok(())
            }
            Db::Postgres(_) => {
                let target = StateStore::open(dest)?;
                self.copy_into(&target)
            }
        }
    }

    /// Replaces the whole store with the backup in `src` (a SQLite file).
    /// Refuses while an apply holds a live lock, and refuses a file that is
    /// not a state store.
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
        let live = self.locks()?;
        let live: Vec<LockRecord> = match self.db {
            Db::Sqlite { .. } => live.into_iter().filter(|l| !l.is_stale()).collect(),
            Db::Postgres(_) => live,
        };
        if !live.is_empty() {
            return Err(StateError::LockHeld(live));
        }
        match &self.db {
            Db::Sqlite { conn, .. } => {
                Self::sqlite(conn).restore(
                    rusqlite::MAIN_DB,
                    src,
                    rusqlite::backup::NO_PROGRESS,
                )?;
                self.migrate()?;
            }
            Db::Postgres(_) => {
                // The backup's own schema may be older: bring a copy up to
                // date, never the file itself. The copy goes to a private
                // directory of ours, so nobody can point it elsewhere.
                let scratch = tempfile::Builder::new().prefix("mc-restore-").tempdir()?;
                let copy = scratch.path().join("state.db");
                std::fs::copy(src, &copy)?;
                StateStore::open(&copy)?.copy_into_replacing(self)?;
            }
        }
        self.audit(
            "state.restore",
            &serde_json::json!({ "from": src.display().to_string() }),
        )?;
        Ok(())
    }

    /// Copies every table of this store into `target`, which must hold no
    /// runs, plans or audit entries yet (`mc state migrate --to`). Rows keep
    /// their ids and the audit chain its hashes, so it verifies the same.
    pub fn copy_into(&self, target: &StateStore) -> Result<()> {
        let used = target.read(|db| {
            let n = |db: &mut dyn Sql, t: &str| -> Result<i64> {
                db.row(&format!("SELECT count(*) FROM {t}"), &[])?
                    .map_or(Ok(0), |r| r.int(0))
            };
            Ok(n(db, "runs")? + n(db, "plans")? + n(db, "audit")?)
        })?;
        if used > 0 {
            return Err(StateError::Other(format!(
                "{} already holds runs, plans or audit entries; copy only into a new, empty store",
                target.location()
            )));
        }
        self.copy_into_replacing(target)
    }

    /// Replaces every table of `target` with this store's rows.
    fn copy_into_replacing(&self, target: &StateStore) -> Result<()> {
        let mut tables = Vec::new();
        let sqlite = !self.is_postgres();
        // One read transaction on the source for a consistent snapshot.
        self.write(|db| {
            for (table, cols, pg_order) in pg_schema::TABLES {
                let order = if sqlite { "rowid" } else { pg_order };
                let rows = db.rows(
                    &format!(
                        "SELECT {cols} FROM {table}{} ORDER BY {order}",
                        own_rows(table)
                    ),
                    &[],
                )?;
                tables.push((*table, *cols, rows));
            }
            Ok(())
        })?;
        let pg_target = target.is_postgres();
        target.write(|db| {
            for (table, _, _) in pg_schema::TABLES.iter().rev() {
                db.exec(&format!("DELETE FROM {table}{}", own_rows(table)), &[])?;
            }
            for (table, cols, rows) in &tables {
                let n = cols.split(',').count();
                let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
                let sql = format!("INSERT INTO {table} ({cols}) VALUES ({})", marks.join(", "));
                for r in rows {
                    db.exec(&sql, r.values())?;
                }
            }
            if pg_target {
                for (table, col) in pg_schema::SERIALS {
                    db.row(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', '{col}'),
                                           COALESCE((SELECT max({col}) FROM {table}), 0) + 1, false)"
                        ),
                        &[],
                    )?;
                }
            }
            Ok(())
        })
    }

    /// A run still marked `running` whose process is gone and that holds no
    /// live lock crashed. A run started on another machine cannot be checked.
    fn mark_crashed(&self, runs: &mut [RunRecord]) -> Result<()> {
        if !runs.iter().any(|r| r.status == RunStatus::Running) {
            return Ok(());
        }
        let locks = self.locks()?;
        let here = format!("@{}", local_hostname());
        let pg = self.is_postgres();
        for run in runs {
            if run.status != RunStatus::Running {
                continue;
            }
            let held_live = locks
                .iter()
                .any(|l| l.run_id == run.id && (pg || !l.is_stale()));
            let pid_alive = std::fs::metadata(format!("/proc/{}", run.pid)).is_ok();
            // Only a run started on this machine can be checked: elsewhere
            // it may be planning, before it takes any lock.
            if run.actor.ends_with(&here) && !held_live && !pid_alive {
                run.status = RunStatus::Crashed;
            }
        }
        Ok(())
    }
}

/// The rows of `table` that belong to the store's content: not the schema
/// version a PostgreSQL store keeps in `meta`.
fn own_rows(table: &str) -> &'static str {
    match table {
        "meta" => " WHERE key <> 'schema_version'",
        _ => "",
    }
}

const RUN_COLUMNS: &str = "SELECT id, kind, status, started_at, finished_at, plan_hash, \
     source_digest, hosts, actor, pid, summary";
const STATE_COLUMNS: &str = "SELECT host, resource, type, desired_digest, observed_digest, \
     run_id, applied_at, sensitive";
const PLAN_COLUMNS: &str = "SELECT hash, status, created_at, source_digest, hosts, run_id";
const AUDIT_COLUMNS: &str =
    "SELECT seq, at, actor, kind, detail, prev_hash, hash, signer, signature";

/// A `LIMIT` both databases accept for "this many, or all".
fn sql_limit(n: usize) -> i64 {
    n.min(i64::MAX as usize) as i64
}

fn facts_in(db: &mut dyn Sql) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for r in db.rows("SELECT host, facts FROM facts", &[])? {
        if let Ok(facts) = serde_json::from_str(&r.text(1)?) {
            out.insert(r.text(0)?, facts);
        }
    }
    Ok(out)
}

fn plan_from_row(r: &Row) -> Result<PlanRecord> {
    Ok(PlanRecord {
        hash: r.text(0)?,
        status: r.status(1)?,
        created_at: r.int(2)?,
        source_digest: r.text(3)?,
        hosts: from_json_list(&r.text(4)?),
        run_id: r.opt_int(5)?,
    })
}

/// The findings of drift report `report`.
fn insert_drift_items(db: &mut dyn Sql, report: i64, items: &[DriftItem]) -> Result<()> {
    for i in items {
        db.exec(
            "INSERT INTO drift_items
               (report_id, host, resource, status, summary, changes, diff)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (report_id, host, resource) DO UPDATE SET
               status = excluded.status, summary = excluded.summary,
               changes = excluded.changes, diff = excluded.diff",
            &params![
                report,
                &i.host,
                &i.resource,
                i.status.as_str(),
                &i.summary,
                serde_json::to_string(&i.changes).unwrap_or_else(|_| "[]".into()),
                i.diff.as_deref()
            ],
        )?;
    }
    Ok(())
}

fn upsert_resource_state(db: &mut dyn Sql, s: &ResourceState) -> Result<()> {
    db.exec(
        "INSERT INTO resource_state
           (host, resource, type, desired_digest, observed_digest, run_id, applied_at, sensitive)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (host, resource) DO UPDATE SET type = excluded.type,
           desired_digest = excluded.desired_digest, observed_digest = excluded.observed_digest,
           run_id = excluded.run_id, applied_at = excluded.applied_at,
           sensitive = excluded.sensitive",
        &params![
            &s.host,
            &s.resource,
            &s.type_name,
            &s.desired_digest,
            &s.observed_digest,
            s.run_id,
            s.applied_at,
            serde_json::to_string(&s.sensitive).unwrap_or_else(|_| "[]".into())
        ],
    )?;
    Ok(())
}

fn resource_state_from_row(r: &Row) -> Result<ResourceState> {
    Ok(ResourceState {
        host: r.text(0)?,
        resource: r.text(1)?,
        type_name: r.text(2)?,
        desired_digest: r.text(3)?,
        observed_digest: r.text(4)?,
        run_id: r.int(5)?,
        applied_at: r.int(6)?,
        sensitive: from_json_list(&r.text(7)?),
    })
}

fn run_from_row(r: &Row) -> Result<RunRecord> {
    Ok(RunRecord {
        id: r.int(0)?,
        kind: r.text(1)?,
        status: r.status(2)?,
        started_at: r.int(3)?,
        finished_at: r.opt_int(4)?,
        plan_hash: r.opt_text(5)?,
        source_digest: r.text(6)?,
        hosts: from_json_list(&r.text(7)?),
        actor: r.text(8)?,
        pid: r.int(9)?,
        summary: r.opt_text(10)?.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

fn audit_from_row(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.int(0)?,
        at: r.int(1)?,
        actor: r.text(2)?,
        kind: r.text(3)?,
        detail: r.text(4)?,
        prev_hash: r.text(5)?,
        hash: r.text(6)?,
        signer: r.opt_text(7)?,
        signature: r.opt_text(8)?,
    })
}

fn locks_in(db: &mut dyn Sql) -> Result<Vec<LockRecord>> {
    db.rows(
        "SELECT host, run_id, pid, pid_start, hostname, acquired_at FROM locks ORDER BY host",
        &[],
    )?
    .iter()
    .map(|r| {
        Ok(LockRecord {
            host: r.text(0)?,
            run_id: r.int(1)?,
            pid: r.int(2)?,
            pid_start: r.text(3)?,
            hostname: r.text(4)?,
            acquired_at: r.int(5)?,
        })
    })
    .collect()
}

fn last_audit(db: &mut dyn Sql) -> Result<Option<(i64, String)>> {
    db.row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?
        .map(|r| Ok((r.int(0)?, r.text(1)?)))
        .transpose()
}

/// Appends an audit entry, signed by this process's identity; `db` must be
/// inside a write transaction.
fn append_audit(db: &mut dyn Sql, kind: &str, detail: &serde_json::Value) -> Result<i64> {
    let identity = crate::identity::current().map_err(StateError::Other)?;
    let (prev_seq, prev_hash) = last_audit(db)?.unwrap_or((0, AUDIT_GENESIS.to_string()));
    let seq = prev_seq + 1;
    let at = now();
    let actor = actor();
    let detail = detail.to_string();
    let signer = identity.public_key();
    let hash = audit_hash(&prev_hash, seq, at, &actor, kind, &detail, Some(&signer));
    let signature = identity
        .sign(crate::identity::AUDIT_NAMESPACE, hash.as_bytes())
        .map_err(StateError::Other)?;
    db.exec(
        "INSERT INTO audit (seq, at, actor, kind, detail, prev_hash, hash, signer, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &params![seq, at, &actor, kind, &detail, &prev_hash, &hash, &signer, &signature],
    )?;
    db.exec(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &params![format!("{seq} {hash}")],
    )?;
    Ok(seq)
}

/// Each entry's hash covers the previous hash and all of its own fields,
/// its signer's key included (entries from before signing have none).
fn audit_hash(
    prev: &str,
    seq: i64,
    at: i64,
    actor: &str,
    kind: &str,
    detail: &str,
    signer: Option<&str>,
) -> String {
    let content = match signer {
        None => serde_json::json!([seq, at, actor, kind, detail]),
        Some(key) => serde_json::json!([seq, at, actor, kind, detail, key]),
    };
    sha256_hex(format!("{prev}\n{content}").as_bytes())
}

/// What is wrong with an entry's signature, if anything (`verify`: also
/// check it cryptographically). Once entries are signed, an unsigned one
/// was written without a key: not by `mc`.
fn signature_problem(e: &AuditEntry, signed_before: bool, verify: bool) -> Option<String> {
    match (&e.signer, &e.signature) {
        (None, _) if signed_before => {
            Some("is not signed, though the entries before it are (written without mc)".into())
        }
        (None, _) => None,
        (Some(_), None) => Some("names a signer but has no signature".into()),
        (Some(_), Some(_)) if !verify => None,
        (Some(key), Some(sig)) => crate::identity::verify(
            key,
            crate::identity::AUDIT_NAMESPACE,
            e.hash.as_bytes(),
            sig,
        )
        .err()
        .map(|why| format!("its signature does not verify ({why}): forged or altered")),
    }
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
        assert_eq!(
            store.plan("abc123").unwrap().unwrap().status,
            PlanStatus::Rejected
        );
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
            status: DriftStatus::Drifted,
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
    fn audit_signatures_detect_a_forged_or_unsigned_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = StateStore::open(&path).unwrap();
        for n in 0..3 {
            store.audit("test", &serde_json::json!({ "n": n })).unwrap();
        }
        assert!(matches!(
            store.verify_audit().unwrap(),
            AuditVerdict::Intact { entries: 3, .. }
        ));
        let me = crate::identity::current().unwrap();
        assert_eq!(
            store.audit_entry(2).unwrap().unwrap().signer,
            Some(me.public_key())
        );
        drop(store);
        let sql = |q: &str| Connection::open(&path).unwrap().execute_batch(q).unwrap();

        // Another key's valid signature over the same hash: not the signer's.
        let other =
            crate::identity::Identity::create(&dir.path().join("other"), "mallory").unwrap();
        let hash: String = Connection::open(&path)
            .unwrap()
            .query_row("SELECT hash FROM audit WHERE seq = 2", [], |r| r.get(0))
            .unwrap();
        let sig = other
            .sign(crate::identity::AUDIT_NAMESPACE, hash.as_bytes())
            .unwrap();
        let saved: String = Connection::open(&path)
            .unwrap()
            .query_row("SELECT signature FROM audit WHERE seq = 2", [], |r| {
                r.get(0)
            })
            .unwrap();
        sql(&format!(
            "UPDATE audit SET signature = '{sig}' WHERE seq = 2"
        ));
        let store = StateStore::open(&path).unwrap();
        match store.verify_audit().unwrap() {
            AuditVerdict::Broken { seq: 2, reason } => {
                assert!(reason.contains("signature"), "{reason}")
            }
            v => panic!("{v:?}"),
        }
        drop(store);

        // An entry without a signer after signed ones was not written by mc.
        sql(&format!(
            "UPDATE audit SET signature = '{saved}' WHERE seq = 2"
        ));
        sql("UPDATE audit SET signer = NULL, signature = NULL WHERE seq = 3");
        let store = StateStore::open(&path).unwrap();
        match store.verify_audit().unwrap() {
            AuditVerdict::Broken { seq: 3, .. } => {}
            v => panic!("{v:?}"),
        }
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
