//! `mc runs`: list past and running applies, or show one run.

use super::plan::open_store;
use mc_runtime::state::format_time;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Show this run's hosts and resources instead of the list.
    pub run: Option<i64>,
    /// Project directory whose state store to read.
    #[arg(short = 'p', long, default_value = ".")]
    pub project: PathBuf,
    /// State store (default: PROJECT/.mc/state.db).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// How many runs to list.
    #[arg(short = 'n', long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> ExitCode {
    match runs(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mc runs: {e}");
            ExitCode::from(1)
        }
    }
}

fn runs(args: &Args) -> Result<(), String> {
    let store = open_store(args.state.as_deref(), &args.project)?;
    let err = |e: mc_runtime::state::StateError| e.to_string();
    if let Some(id) = args.run {
        let run = store.run(id).map_err(err)?.ok_or(format!("no run {id}"))?;
        let hosts = store.host_results(id).map_err(err)?;
        let resources = store.resource_results(id).map_err(err)?;
        if args.json {
            let json = serde_json::json!({ "run": run, "hosts": hosts, "resources": resources });
            println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
            return Ok(());
        }
        println!(
            "run {} ({}) {} by {} at {}",
            run.id,
            run.kind,
            run.status,
            run.actor,
            format_time(run.started_at)
        );
        if let Some(plan) = &run.plan_hash {
            println!("plan {plan}");
        }
        print!("{}", mc_runtime::render::render_summary(&hosts, false));
        for r in resources.iter().filter(|r| r.status != "ok") {
            println!(
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
        }
        return Ok(());
    }
    let runs = store.list_runs(args.limit).map_err(err)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs).unwrap_or_default()
        );
        return Ok(());
    }
    if runs.is_empty() {
        println!("No runs yet.");
        return Ok(());
    }
    println!(
        "{:>5}  {:<19}  {:<8}  {:<8}  {:>5}  {:>7}  ACTOR",
        "RUN", "STARTED (UTC)", "KIND", "STATUS", "HOSTS", "CHANGED"
    );
    for r in runs {
        let changed = r
            .summary
            .as_ref()
            .and_then(|s| s.get("changed"))
            .and_then(|c| c.as_u64())
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
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
