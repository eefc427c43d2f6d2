//! `mc show PLAN`: render a saved plan (a plan file from `mc plan -o`, or a
//! stored plan by hash prefix) as `mc plan` showed it, or as JSON.

use super::plan::open_store;
use mc_ir::plan::Plan;
use mc_runtime::state::format_time;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A plan file (`mc plan -o FILE`), or the hash (at least 4 hex digits)
    /// of a plan in the project's state store.
    pub plan: String,
    /// State store to look plan hashes up in (default: ./.mc/state.db).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> ExitCode {
    match show(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn show(args: &Args) -> Result<(), String> {
    let (plan, origin) = load(args)?;
    if args.output.json() {
        // The plan file format is the JSON document (its own `schema`).
        crate::outln!("{}", plan.to_json_pretty());
        return Ok(());
    }
    let color = crate::style::stdout_color();
    crate::outln!(
        "Plan {} made {} UTC ({origin}){}",
        short(&plan.hash),
        format_time(plan.created_at),
        if plan.verify() {
            ""
        } else {
            "; MODIFIED since it was written: mc apply refuses it"
        }
    );
    crate::outln!();
    crate::out!("{}", mc_runtime::render::render_plan(&plan, color));
    Ok(())
}

/// The plan and where it came from.
fn load(args: &Args) -> Result<(Plan, String), String> {
    let path = Path::new(&args.plan);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let plan = Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok((plan, path.display().to_string()));
    }
    let hex = args.plan.to_ascii_lowercase();
    if hex.len() < 4 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{} is neither a plan file nor a plan hash (at least 4 hex digits)",
            args.plan
        ));
    }
    let store = open_store(args.state.as_deref(), Path::new("."))?;
    let found = store.find_plans(&hex).map_err(|e| e.to_string())?;
    let record = match found.as_slice() {
        [one] => one,
        [] => return Err(format!("no plan {hex} in {}", store.location())),
        many => {
            return Err(format!(
                "{hex} matches {} plans; give more of the hash",
                many.len()
            ))
        }
    };
    let body = store
        .plan_body(&record.hash)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("plan {} has no stored body", record.hash))?;
    let plan = Plan::from_json(&body).map_err(|e| format!("stored plan {}: {e}", record.hash))?;
    Ok((plan, format!("stored, {}", record.status)))
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
