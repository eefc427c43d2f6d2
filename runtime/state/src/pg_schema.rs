//! The PostgreSQL schema: the same tables and columns as the SQLite one
//! (after all of its migrations), with PostgreSQL's types. `rowid` is a
//! real column here where the store orders by insertion. Append only, as
//! for SQLite; `meta.schema_version` records how many have run.

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the schema of SQLite migration 5.
    r#"
    CREATE TABLE runs (
        id            BIGSERIAL PRIMARY KEY,
        kind          TEXT NOT NULL,
        status        TEXT NOT NULL,
        started_at    BIGINT NOT NULL,
        finished_at   BIGINT,
        plan_hash     TEXT,
        source_digest TEXT NOT NULL,
        hosts         TEXT NOT NULL,
        actor         TEXT NOT NULL,
        pid           BIGINT NOT NULL,
        summary       TEXT
    );
    CREATE TABLE host_results (
        run_id      BIGINT NOT NULL REFERENCES runs(id),
        host        TEXT NOT NULL,
        status      TEXT NOT NULL,
        changed     BIGINT NOT NULL DEFAULT 0,
        unchanged   BIGINT NOT NULL DEFAULT 0,
        failed      BIGINT NOT NULL DEFAULT 0,
        skipped     BIGINT NOT NULL DEFAULT 0,
        error       TEXT,
        finished_at BIGINT NOT NULL,
        PRIMARY KEY (run_id, host)
    );
    CREATE TABLE resource_results (
        rowid       BIGSERIAL,
        run_id      BIGINT NOT NULL REFERENCES runs(id),
        host        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        action      TEXT NOT NULL,
        status      TEXT NOT NULL,
        message     TEXT,
        duration_ms BIGINT NOT NULL DEFAULT 0,
        output      TEXT,
        PRIMARY KEY (run_id, host, resource)
    );
    CREATE TABLE resource_state (
        host            TEXT NOT NULL,
        resource        TEXT NOT NULL,
        type            TEXT NOT NULL,
        desired_digest  TEXT NOT NULL,
        observed_digest TEXT NOT NULL,
        run_id          BIGINT NOT NULL,
        applied_at      BIGINT NOT NULL,
        sensitive       TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (host, resource)
    );
    CREATE TABLE facts (
        host        TEXT PRIMARY KEY,
        facts       TEXT NOT NULL,
        gathered_at BIGINT NOT NULL
    );
    CREATE TABLE plans (
        rowid         BIGSERIAL,
        hash          TEXT PRIMARY KEY,
        status        TEXT NOT NULL
                      CHECK (status IN ('pending','approved','rejected','applied','stale')),
        created_at    BIGINT NOT NULL,
        source_digest TEXT NOT NULL,
        hosts         TEXT NOT NULL,
        body          TEXT NOT NULL,
        run_id        BIGINT
    );
    CREATE INDEX plans_by_time ON plans(created_at DESC);
    CREATE TABLE plan_decisions (
        id        BIGSERIAL PRIMARY KEY,
        plan_hash TEXT NOT NULL,
        decision  TEXT NOT NULL CHECK (decision IN ('approved','rejected')),
        actor     TEXT NOT NULL,
        at        BIGINT NOT NULL,
        reason    TEXT NOT NULL,
        audit_seq BIGINT NOT NULL
    );
    CREATE INDEX decisions_by_plan ON plan_decisions(plan_hash, id);
    CREATE TABLE pending_notifications (
        host       TEXT NOT NULL,
        resource   TEXT NOT NULL,
        run_id     BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        action     TEXT,
        PRIMARY KEY (host, resource)
    );
    CREATE TABLE events (
        id       BIGSERIAL PRIMARY KEY,
        run_id   BIGINT NOT NULL,
        at_ms    BIGINT NOT NULL,
        host     TEXT NOT NULL,
        resource TEXT,
        kind     TEXT NOT NULL,
        message  TEXT
    );
    CREATE INDEX events_by_run ON events(run_id, id);
    CREATE TABLE audit (
        seq       BIGINT PRIMARY KEY,
        at        BIGINT NOT NULL,
        actor     TEXT NOT NULL,
        kind      TEXT NOT NULL,
        detail    TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    CREATE TABLE locks (
        host        TEXT PRIMARY KEY,
        run_id      BIGINT NOT NULL,
        pid         BIGINT NOT NULL,
        pid_start   TEXT NOT NULL,
        hostname    TEXT NOT NULL,
        acquired_at BIGINT NOT NULL
    );
    CREATE TABLE drift_reports (
        id          BIGSERIAL PRIMARY KEY,
        at          BIGINT NOT NULL,
        actor       TEXT NOT NULL,
        hosts       TEXT NOT NULL,
        probed      BIGINT NOT NULL,
        drifted     BIGINT NOT NULL,
        errors      BIGINT NOT NULL
    );
    CREATE TABLE drift_items (
        report_id   BIGINT NOT NULL REFERENCES drift_reports(id),
        host        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('drifted','error')),
        summary     TEXT NOT NULL,
        changes     TEXT NOT NULL,
        diff        TEXT,
        PRIMARY KEY (report_id, host, resource)
    );
    "#,
    // 2: signed audit entries (SQLite migration 6).
    r#"
    ALTER TABLE audit ADD COLUMN signer TEXT;
    ALTER TABLE audit ADD COLUMN signature TEXT;
    "#,
    // 3: agents' own runs are ingested once each (see the SQLite schema's 7).
    r#"
    CREATE UNIQUE INDEX runs_agent_report ON runs (source_digest) WHERE kind IN ('agent', 'agent-noop');
    "#,
];

/// The tables of a store, their columns and the column that gives their
/// rows' order in PostgreSQL, in an order that respects foreign keys, for
/// copying a store (`mc state migrate`, backups of a PostgreSQL store).
/// The columns are the same in both schemas.
pub(crate) const TABLES: &[(&str, &str, &str)] = &[
    ("runs", "id, kind, status, started_at, finished_at, plan_hash, source_digest, hosts, actor, pid, summary", "id"),
    ("host_results", "run_id, host, status, changed, unchanged, failed, skipped, error, finished_at", "run_id, host"),
    ("resource_results", "run_id, host, resource, action, status, message, duration_ms, output", "rowid"),
    ("resource_state", "host, resource, type, desired_digest, observed_digest, run_id, applied_at, sensitive", "host, resource"),
    ("facts", "host, facts, gathered_at", "host"),
    ("plans", "hash, status, created_at, source_digest, hosts, body, run_id", "rowid"),
    ("plan_decisions", "id, plan_hash, decision, actor, at, reason, audit_seq", "id"),
    ("pending_notifications", "host, resource, run_id, created_at, action", "host, resource"),
    ("events", "id, run_id, at_ms, host, resource, kind, message", "id"),
    ("audit", "seq, at, actor, kind, detail, prev_hash, hash, signer, signature", "seq"),
    ("locks", "host, run_id, pid, pid_start, hostname, acquired_at", "host"),
    ("meta", "key, value", "key"),
    ("drift_reports", "id, at, actor, hosts, probed, drifted, errors", "id"),
    ("drift_items", "report_id, host, resource, status, summary, changes, diff", "report_id, host, resource"),
];

/// Columns of `TABLES` filled by a sequence in PostgreSQL, to move the
/// sequence past copied ids.
pub(crate) const SERIALS: &[(&str, &str)] = &[
    ("runs", "id"),
    ("plan_decisions", "id"),
    ("events", "id"),
    ("drift_reports", "id"),
];
