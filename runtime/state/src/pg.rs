//! PostgreSQL specifics of the state store: connecting, migrations and
//! the per-host advisory locks that make an apply exclusive across
//! machines.
//!
//! The `postgres` client runs its own small runtime and must not be used
//! from inside tokio's; calls made there move to a scoped thread.

use super::db::{params, PgConn, Sql};
use super::{pg_schema, pg_tls, LockRecord, Result, StateError};
use mc_ir::hash::sha256_hex;
use std::sync::Mutex;
use std::time::Duration;

/// The transaction lock every write takes, so writers (and the audit
/// chain) are serialised as in SQLite.
pub(crate) const WRITE_KEY: i64 = 0x6d63_5354_4154_4501; // "mcSTATE\x01"
/// The transaction lock of migrations.
const MIGRATE_KEY: i64 = 0x6d63_5354_4154_4502;

pub(crate) struct Pg {
    conn: Mutex<Option<PgConn>>,
    /// The URL as given, to open another connection (never shown).
    pub url: String,
    /// The URL without its password.
    pub display: String,
}

impl Pg {
    pub fn connect(url: &str) -> Result<Pg> {
        let display = redact(url);
        let invalid = |e: &dyn std::fmt::Display| {
            StateError::Other(format!("state store URL {display} is not valid: {e}"))
        };
        let (plain, tls) = pg_tls::split(url).map_err(|e| invalid(&e))?;
        let mut config: postgres::Config = plain.parse().map_err(|e| invalid(&e))?;
        let connector = tls.apply(&mut config).map_err(|e| invalid(&e))?;
        if config.get_password().is_none() {
            // Never in argv: from the environment, as psql does.
            if let Ok(pw) = std::env::var("PGPASSWORD") {
                config.password(pw);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("mc");
        let client = off_runtime(|| config.connect(connector)).map_err(|e| {
            StateError::Other(format!(
                "cannot connect to the state store at {display}: {}",
                super::postgres_message(&e)
            ))
        })?;
        Ok(Pg {
            conn: Mutex::new(Some(PgConn::new(client))),
            url: url.to_string(),
            display,
        })
    }

    /// Runs `f` on the connection (off tokio's threads). A lost connection
    /// is an error that says so: its session locks are gone with it.
    pub fn with<T: Send>(&self, f: impl FnOnce(&mut PgConn) -> Result<T> + Send) -> Result<T> {
        let display = &self.display;
        off_runtime(|| {
            let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            let conn = guard
                .as_mut()
                .ok_or_else(|| StateError::Other("state store closed".into()))?;
            if conn.client.is_closed() {
                return Err(lost(display));
            }
            f(conn).map_err(|e| match e {
                StateError::Postgres(pe) if connection_ended(&pe) => lost(display),
                other => other,
            })
        })
    }

    pub fn migrate(&self) -> Result<()> {
        let display = self.display.clone();
        self.with(|c| {
            c.client.batch_execute("BEGIN")?;
            let done = (|| {
                c.exec("SELECT pg_advisory_xact_lock(?1)", &params![MIGRATE_KEY])?;
                c.client.batch_execute(
                    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                )?;
                let version = schema_version(c)?;
                let known = pg_schema::MIGRATIONS.len() as u32;
                if version > known {
                    return Err(StateError::TooNew {
                        path: display.clone(),
                        found: version,
                        known,
                    });
                }
                for sql in &pg_schema::MIGRATIONS[version as usize..] {
                    c.client.batch_execute(sql)?;
                }
                c.exec(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &params![known.to_string()],
                )?;
                Ok(())
            })();
            match done {
                Ok(()) => Ok(c.client.batch_execute("COMMIT")?),
                Err(e) => {
                    let _ = c.client.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        })
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // The client's own runtime cannot be dropped on tokio's threads.
        let conn = self.conn.get_mut().map(Option::take).unwrap_or(None);
        off_runtime(move || drop(conn));
    }
}

/// Whether the session is over: closed, or ended by the server (SQLSTATE
/// classes 08, connection exception, and 57, operator intervention such as
/// a shutdown or crash).
fn connection_ended(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.code()
            .is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57"))
}

fn lost(display: &str) -> StateError {
    StateError::Other(format!(
        "lost the connection to the state store at {display}; this run's locks are released and \
         nothing after this point was recorded: rerun once the server is back"
    ))
}

/// The schema version recorded in `meta` (0 for a new database).
pub(crate) fn schema_version(db: &mut PgConn) -> Result<u32> {
    let v = db
        .row("SELECT value FROM meta WHERE key = 'schema_version'", &[])?
        .map(|r| r.text(0))
        .transpose()?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Runs `f` where the `postgres` client may block: on this thread outside
/// a tokio runtime, else on a scoped thread.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// The advisory lock key of a host.
fn host_key(host: &str) -> i64 {
    let hex = sha256_hex(format!("mc.host:{host}").as_bytes());
    u64::from_str_radix(&hex[..16], 16).unwrap_or(0) as i64
}

/// Takes every host's session advisory lock, or none: on a host another
/// session holds, the ones taken are let go and the holders named.
pub(crate) fn lock_hosts(c: &mut PgConn, hosts: &[String]) -> Result<()> {
    let mut taken = Vec::new();
    let mut busy = Vec::new();
    for h in hosts {
        let got = c
            .row("SELECT pg_try_advisory_lock(?1)", &params![host_key(h)])?
            .map(|r| r.int(0))
            .transpose()?
            == Some(1);
        if got {
            taken.push(h.clone());
        } else {
            busy.push(h.clone());
        }
    }
    if busy.is_empty() {
        return Ok(());
    }
    unlock_hosts(c, &taken)?;
    let holders: Vec<LockRecord> = super::locks_in(c)?
        .into_iter()
        .filter(|l| busy.contains(&l.host))
        .collect();
    if holders.is_empty() {
        return Err(StateError::Other(format!(
            "another mc session is taking the lock on {}; try again",
            busy.join(", ")
        )));
    }
    Err(StateError::LockHeld(holders))
}

pub(crate) fn unlock_hosts(c: &mut PgConn, hosts: &[String]) -> Result<()> {
    for h in hosts {
        c.row("SELECT pg_advisory_unlock(?1)", &params![host_key(h)])?;
    }
    Ok(())
}

/// Advisory lock keys held by any session now.
fn held_keys(c: &mut PgConn) -> Result<Vec<i64>> {
    c.rows(
        "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1",
        &[],
    )?
    .iter()
    .map(|r| r.int(0))
    .collect()
}

/// The lock records whose advisory lock some session still holds.
pub(crate) fn live_locks(c: &mut PgConn, all: Vec<LockRecord>) -> Result<Vec<LockRecord>> {
    let held = held_keys(c)?;
    Ok(all
        .into_iter()
        .filter(|l| held.contains(&host_key(&l.host)))
        .collect())
}

/// Ends the database sessions holding `hosts`' locks (`mc state unlock
/// --force` on a stuck run), which releases them.
pub(crate) fn end_holders(c: &mut PgConn, hosts: &[String]) -> Result<()> {
    for h in hosts {
        c.rows(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 1
               AND ((classid::bigint << 32) | objid::bigint) = ?1
               AND pid <> pg_backend_pid()",
            &params![host_key(h)],
        )?;
    }
    Ok(())
}

/// The URL with its password, if any, replaced.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    match auth {
        Some(auth) => {
            let user = auth.split_once(':').map_or(auth, |(u, _)| u);
            let hidden = if auth.contains(':') { ":…" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}")
        }
        None => format!("{scheme}://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_the_displayed_url() {
        assert_eq!(
            redact("postgres://mc:s3cret@db.internal:5432/mc"),
            "postgres://mc:…@db.internal:5432/mc"
        );
        assert_eq!(redact("postgresql://mc@db/mc"), "postgresql://mc@db/mc");
        assert_eq!(redact("postgres://db/mc"), "postgres://db/mc");
    }

    #[test]
    fn host_keys_differ_per_host() {
        assert_ne!(host_key("web1"), host_key("web2"));
        assert_eq!(host_key("web1"), host_key("web1"));
    }
}
