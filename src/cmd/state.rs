//! `mc state`: what mc tracks (list, show, forget), and back up, restore
//! and unlock the state store.

use super::plan::open_store;
use mc_runtime::limit::HostPattern;
use mc_runtime::state::{format_time, ResourceState, StateLocation};
use mc_runtime::StateStore;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
    /// Project directory (prefer `mc -C DIR`, the same on every command).
    #[arg(
        short = 'p',
        long = "project",
        default_value = ".",
        hide = true,
        global = true
    )]
    pub project: PathBuf,
    /// State store: a SQLite file (`sqlite:PATH` or a path) or a shared PostgreSQL database (`postgres://USER@HOST/DB`; the password from `PGPASSWORD`); default `MC_STATE`, else PROJECT/.mc/state.db.
    #[arg(long, value_name = "FILE|URL", global = true)]
    pub state: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// List the resources mc applied and tracks, per host.
    List {
        /// Only these hosts (patterns as in `mc plan --limit`).
        #[arg(
            short = 'l',
            long = "limit",
            value_delimiter = ',',
            value_name = "PATTERN"
        )]
        limit: Vec<String>,
        #[command(flatten)]
        output: super::Output,
    },
    /// Show what mc recorded for one resource: digests, last run and the
    /// attributes it applied.
    Show {
        /// The resource, as `mc state list` prints it: TYPE[TITLE].
        #[arg(value_name = "TYPE[TITLE]")]
        id: String,
        /// Only on these hosts (default: every host that has it).
        #[arg(
            short = 'l',
            long = "limit",
            value_delimiter = ',',
            value_name = "PATTERN"
        )]
        limit: Vec<String>,
        #[command(flatten)]
        output: super::Output,
    },
    /// Stop tracking a resource (nothing changes on the host; drift no longer
    /// probes it, and the next plan treats it as never applied).
    Forget {
        /// The resource, as `mc state list` prints it: TYPE[TITLE].
        #[arg(value_name = "TYPE[TITLE]")]
        id: String,
        /// Only on these hosts (default: every host that has it).
        #[arg(
            short = 'l',
            long = "limit",
            value_delimiter = ',',
            value_name = "PATTERN"
        )]
        limit: Vec<String>,
    },
    /// Copy the state store to FILE, a SQLite file (SQLite's online backup, or
    /// a snapshot of a PostgreSQL store; safe while mc runs).
    Backup { file: PathBuf },
    /// Replace the state store with the backup in FILE.
    Restore { file: PathBuf },
    /// Copy the whole state store into another, new one: a local SQLite
    /// store into a team's PostgreSQL database, or back. Ids, history and
    /// the audit chain are kept; then point `--state`/`MC_STATE` at it.
    Migrate {
        /// The new store: `postgres://USER@HOST/DB` (password from
        /// `PGPASSWORD`), `sqlite:PATH` or a path. It must be empty.
        #[arg(long, value_name = "URL|FILE")]
        to: String,
    },
    /// Show who holds the apply lock.
    Locks,
    /// Release apply locks left by a crashed run.
    Unlock {
        /// The run whose locks to release, alive or not (as `mc state
        /// locks` and `mc runs` show it); the rare stuck case.
        #[arg(value_name = "RUN", conflicts_with_all = ["hosts", "force"])]
        run: Option<i64>,
        /// Only these hosts (default: every lock).
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Vec<String>,
        /// Also remove locks whose holder still seems alive.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: Args) -> ExitCode {
    match state(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn state(args: &Args) -> Result<(), String> {
    let store = open_store(args.state.as_deref(), &args.project)?;
    let err = |e: mc_runtime::state::StateError| e.to_string();
    match &args.action {
        Action::List { limit, output } => list(&store, limit, output.json())?,
        Action::Show { id, limit, output } => show(&store, id, limit, output.json())?,
        Action::Forget { id, limit } => forget(&store, id, limit)?,
        Action::Backup { file } => {
            store.backup(file).map_err(err)?;
            crate::outln!("backed up {} to {}", store.location(), file.display());
        }
        Action::Restore { file } => {
            store.restore(file).map_err(err)?;
            crate::outln!("restored {} from {}", store.location(), file.display());
        }
        Action::Migrate { to } => {
            let location = StateLocation::parse(to);
            let target = StateStore::open_at(&location).map_err(err)?;
            store.copy_into(&target).map_err(err)?;
            let detail = serde_json::json!({ "from": store.location(), "to": target.location() });
            target.audit("state.migrate", &detail).map_err(err)?;
            store.audit("state.migrate", &detail).map_err(err)?;
            crate::outln!(
                "copied {} to {}: {} runs, {} audit entries; use it with --state or MC_STATE",
                store.location(),
                target.location(),
                target.list_runs(usize::MAX).map_err(err)?.len(),
                target.audit_entries(None).map_err(err)?.len()
            );
        }
        Action::Locks => {
            let locks = store.locks().map_err(err)?;
            if locks.is_empty() {
                crate::outln!("no locks held");
            }
            for l in locks {
                crate::outln!(
                    "{}: run {}, pid {} on {}, since {}{}",
                    l.host,
                    l.run_id,
                    l.pid,
                    l.hostname,
                    format_time(l.acquired_at),
                    if l.is_stale() {
                        " (stale: the process is gone)"
                    } else {
                        ""
                    }
                );
            }
        }
        Action::Unlock { run, hosts, force } => {
            let filter = if hosts.is_empty() {
                None
            } else {
                Some(hosts.as_slice())
            };
            let removed = match run {
                Some(id) => store.unlock_run(*id).map_err(err)?,
                None => store.unlock(filter, *force).map_err(err)?,
            };
            if removed.is_empty() {
                crate::outln!("no locks held");
            }
            for l in removed {
                crate::outln!("unlocked {} (run {}, pid {})", l.host, l.run_id, l.pid);
            }
        }
    }
    Ok(())
}

/// Version of the `mc state list|show --json` documents (docs/json.md).
const STATE_SCHEMA: u32 = 1;

/// The tracked resources on the hosts `limit` selects.
fn tracked(store: &StateStore, limit: &[String]) -> Result<Vec<ResourceState>, String> {
    let pattern = HostPattern::parse(limit)?;
    Ok(store
        .all_resource_states()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|s| pattern.selects_name(&s.host))
        .collect())
}

fn list(store: &StateStore, limit: &[String], json: bool) -> Result<(), String> {
    let states = tracked(store, limit)?;
    if json {
        crate::out::json(STATE_SCHEMA, serde_json::json!({ "resources": states }));
        return Ok(());
    }
    if states.is_empty() {
        eprintln!("mc tracks no resource yet: nothing was applied");
    }
    for s in states {
        crate::outln!("{}  {}", s.host, s.resource);
    }
    Ok(())
}

fn show(store: &StateStore, id: &str, limit: &[String], json: bool) -> Result<(), String> {
    let states: Vec<ResourceState> = tracked(store, limit)?
        .into_iter()
        .filter(|s| s.resource == id)
        .collect();
    if states.is_empty() {
        return Err(not_tracked(store, id));
    }
    let mut docs = Vec::new();
    for s in &states {
        let attrs = applied_attributes(store, s);
        if json {
            let mut doc = serde_json::to_value(s).unwrap_or_default();
            doc["attributes"] = attrs.map(attrs_json).unwrap_or_default();
            docs.push(doc);
            continue;
        }
        crate::outln!("{}: {}", s.host, s.resource);
        crate::outln!(
            "  applied by run {} at {}",
            s.run_id,
            format_time(s.applied_at)
        );
        crate::outln!("  desired digest  {}", s.desired_digest);
        crate::outln!("  observed digest {}", s.observed_digest);
        if let Some(attrs) = attrs {
            for (k, v) in attrs {
                crate::outln!("  {k} = {}", show_value(&k, &v));
            }
        }
    }
    if json {
        crate::out::json(STATE_SCHEMA, serde_json::json!({ "resources": docs }));
    }
    Ok(())
}

fn forget(store: &StateStore, id: &str, limit: &[String]) -> Result<(), String> {
    let states: Vec<ResourceState> = tracked(store, limit)?
        .into_iter()
        .filter(|s| s.resource == id)
        .collect();
    if states.is_empty() {
        return Err(not_tracked(store, id));
    }
    for s in states {
        if store
            .forget_resource(&s.host, &s.resource)
            .map_err(|e| e.to_string())?
        {
            crate::outln!(
                "{}: forgot {} (the host was not changed)",
                s.host,
                s.resource
            );
        }
    }
    Ok(())
}

/// "not tracked", with the closest tracked id when there is one.
fn not_tracked(store: &StateStore, id: &str) -> String {
    let all = store.all_resource_states().unwrap_or_default();
    let ids: Vec<&str> = all.iter().map(|s| s.resource.as_str()).collect();
    match mc_compiler::suggest::closest(id, ids.iter().copied()) {
        Some(near) => format!("{id} is not tracked on the selected hosts; did you mean {near}?"),
        None => format!("{id} is not tracked on the selected hosts (see `mc state list`)"),
    }
}

/// The attributes the resource had in the plan its last run applied.
fn applied_attributes(
    store: &StateStore,
    s: &ResourceState,
) -> Option<BTreeMap<String, mc_ir::Value>> {
    let run = store.run(s.run_id).ok()??;
    let body = store.plan_body(run.plan_hash.as_deref()?).ok()??;
    let plan = mc_ir::plan::Plan::from_json(&body).ok()?;
    let host = plan.hosts.into_iter().find(|h| h.host.name == s.host)?;
    let resource = host
        .catalog?
        .resources
        .into_iter()
        .find(|r| r.id.as_str() == s.resource)?;
    Some(resource.attrs)
}

/// Attribute values for people: modes in octal, long text by size, secrets
/// by name only.
fn show_value(attr: &str, v: &mc_ir::Value) -> String {
    match v {
        mc_ir::Value::Int(m) if attr == "mode" => format!("0o{m:o}"),
        mc_ir::Value::String(s) if s.contains('\n') || s.chars().count() > 60 => {
            format!("({} bytes)", s.len())
        }
        mc_ir::Value::Secret(s) => {
            let names: Vec<&str> = s.secret_names().collect();
            format!("(secret: {})", names.join(", "))
        }
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn attrs_json(attrs: BTreeMap<String, mc_ir::Value>) -> serde_json::Value {
    let map = attrs
        .into_iter()
        .map(|(k, v)| {
            let shown = match &v {
                mc_ir::Value::Secret(_) => serde_json::Value::String(show_value(&k, &v)),
                other => serde_json::to_value(other).unwrap_or_default(),
            };
            (k, shown)
        })
        .collect();
    serde_json::Value::Object(map)
}
