//! `mc runs`: list past and running applies, or show one run.

use super::plan::open_store;
use mc_runtime::render::safe;
use mc_runtime::state::format_time;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Show this run's hosts and resources instead of the list.
    pub run: Option<i64>,
    /// Project directory (prefer `mc -C DIR`, the same on every command).
    #[arg(short = 'p', long = "project", default_value = ".", hide = true)]
    pub project: PathBuf,
    /// State store: a SQLite file (`sqlite:PATH` or a path) or a shared PostgreSQL database (`postgres://USER@HOST/DB`; the password from `PGPASSWORD`); default `MC_STATE`, else PROJECT/.mc/state.db.
    #[arg(long, value_name = "FILE|URL")]
    pub state: Option<PathBuf>,
    /// How many runs to list (the latest first).
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 20)]
    pub count: usize,
    /// Only runs that touched these hosts (patterns as in `mc plan --limit`).
    #[arg(
        short = 'l',
        long = "limit",
        value_delimiter = ',',
        value_name = "HOSTS"
    )]
    pub limit: Vec<String>,
    #[command(flatten)]
    pub output: super::Output,
    /// With RUN: also list the run's events (starts, retried attempts,
    /// results), oldest first.
    #[arg(long)]
    pub events: bool,
}

pub fn run(args: Args) -> ExitCode {
    match runs(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Versions of the `mc runs --json` documents (docs/json.md).
const RUNS_SCHEMA: u32 = 1;
const RUN_SCHEMA: u32 = 1;

fn runs(args: &Args) -> Result<(), String> {
    let store = open_store(args.state.as_deref(), &args.project)?;
    super::agent::ingest_reports(&args.project, &store);
    let err = |e: mc_runtime::state::StateError| e.to_string();
    if let Some(id) = args.run {
        let run = store.run(id).map_err(err)?.ok_or(format!("no run {id}"))?;
        let hosts = store.host_results(id).map_err(err)?;
        let resources = store.resource_results(id).map_err(err)?;
        let events = if args.events {
            Some(store.events_since(id, 0).map_err(err)?)
        } else {
            None
        };
        if args.output.json() {
            let mut json =
                serde_json::json!({ "run": run, "hosts": hosts, "resources": resources });
            if let Some(events) = &events {
                json["events"] = serde_json::json!(events);
            }
            crate::out::json(RUN_SCHEMA, json);
            return Ok(());
        }
        crate::outln!(
            "run {} ({}) {} by {} at {}",
            run.id,
            run.kind,
            run.status,
            run.actor,
            format_time(run.started_at)
        );
        if let Some(plan) = &run.plan_hash {
            crate::outln!("plan {plan}");
        }
        if let Some(reason) = break_glass_reason(&store, &run) {
            crate::outln!(
                "BREAK-GLASS: applied without its approvals: {}",
                safe(&reason)
            );
        }
        crate::out!("{}", mc_runtime::render::render_summary(&hosts, false));
        for r in resources
            .iter()
            .filter(|r| r.status != mc_runtime::state::ResourceStatus::Ok || r.output.is_some())
        {
            let line = format!(
                "  {}: {} {} {}{}",
                r.host,
                r.resource,
                r.action,
                r.status,
                r.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            );
            crate::outln!("{}", safe(&line));
            if let Some(output) = &r.output {
                crate::out!("{}", indented_output(output));
            }
        }
        if let Some(events) = events {
            crate::outln!("events");
            for e in events {
                crate::outln!("{}", event_line(&e));
            }
        }
        return Ok(());
    }
    let runs = store.list_runs(args.count).map_err(err)?;
    let runs: Vec<_> = match &args.limit[..] {
        [] => runs,
        limit => {
            let pattern = mc_runtime::limit::HostPattern::parse(limit)?;
            runs.into_iter()
                .filter(|r| r.hosts.iter().any(|h| pattern.selects_name(h)))
                .collect()
        }
    };
    if args.output.json() {
        crate::out::json(RUNS_SCHEMA, serde_json::json!({ "runs": runs }));
        return Ok(());
    }
    if runs.is_empty() {
        crate::outln!("No runs yet.");
        return Ok(());
    }
    crate::outln!(
        "{:>5}  {:<19}  {:<8}  {:<8}  {:>5}  {:>7}  ACTOR",
        "RUN",
        "STARTED (UTC)",
        "KIND",
        "STATUS",
        "HOSTS",
        "CHANGED"
    );
    for r in runs {
        let changed = r
            .summary
            .as_ref()
            .and_then(|s| s.get("changed"))
            .and_then(|c| c.as_u64())
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into());
        crate::outln!(
            "{:>5}  {:<19}  {:<8}  {:<8}  {:>5}  {:>7}  {}",
            r.id,
            format_time(r.started_at),
            r.kind,
            r.status,
            r.hosts.len(),
            changed,
            r.actor
        );
    }
    Ok(())
}

/// A resource's stored output under its result line, marked off so it
/// cannot be mistaken for mc's own lines.
fn indented_output(output: &str) -> String {
    output
        .lines()
        .map(|l| format!("    | {}\n", safe(l)))
        .collect()
}

fn event_line(e: &mc_runtime::state::EventRecord) -> String {
    let at = format_time(e.at_ms / 1000);
    let resource = e.resource.as_deref().unwrap_or("-");
    let message = e.message.as_deref().filter(|m| !m.is_empty());
    let message = message.map(|m| format!(": {m}")).unwrap_or_default();
    safe(&format!(
        "  {at}  {}  {resource}  {}{message}",
        e.host, e.kind
    ))
    .into_owned()
}

/// Why a `break-glass` run skipped its approvals, from its audit entry.
fn break_glass_reason(
    store: &mc_runtime::StateStore,
    run: &mc_runtime::state::RunRecord,
) -> Option<String> {
    if run.kind != "break-glass" {
        return None;
    }
    let entries = store.audit_entries(None).ok()?;
    let reason = entries.iter().rev().find_map(|e| {
        let d: serde_json::Value = serde_json::from_str(&e.detail).ok()?;
        (e.kind == "apply.break_glass" && d["run"] == run.id)
            .then(|| d["reason"].as_str().map(str::to_string))?
    });
    Some(reason.unwrap_or_else(|| "(no reason recorded)".into()))
}
