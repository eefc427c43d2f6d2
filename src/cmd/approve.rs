//! `mc approve` and `mc reject`: decide on a plan that needs approval.
//!
//! The decision is bound to the plan's content hash: a re-made plan with
//! any difference has another hash and needs its own approval. Who (the
//! local user), when and why go to the plan's decision record and the
//! hash-chained audit log, in one transaction.

use super::plan::open_store;
use mc_ir::plan::Plan;
use mc_runtime::state::{format_time, PlanStatus};
use mc_runtime::StateStore;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The plan: its hash (or a unique prefix, as `mc plan` prints it) or a
    /// plan file. Without it, lists the plans waiting for a decision.
    pub plan: Option<String>,
    /// Why (recorded in the audit log).
    #[arg(short = 'm', long)]
    pub reason: Option<String>,
    /// Project directory (prefer `mc -C DIR`, the same on every command).
    #[arg(short = 'p', long = "project", default_value = ".", hide = true)]
    pub project: PathBuf,
    /// State store: a SQLite file (`sqlite:PATH` or a path) or a shared PostgreSQL database (`postgres://USER@HOST/DB`; the password from `PGPASSWORD`); default `MC_STATE`, else PROJECT/.mc/state.db.
    #[arg(long, value_name = "FILE|URL")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args, approve: bool) -> ExitCode {
    match decide(&args, approve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Resolves PLAN to a stored plan: a plan file (whose own project locates
/// the store unless `--state` says otherwise) or a hash prefix.
fn resolve(args: &Args, plan: &str) -> Result<(StateStore, String), String> {
    let path = Path::new(plan);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let parsed = Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if !parsed.verify() {
            return Err(format!(
                "{} was modified after it was written (hash mismatch); it cannot be approved",
                path.display()
            ));
        }
        let project = match (&args.state, parsed.project.as_deref()) {
            (None, Some(p)) if Path::new(p).is_dir() => PathBuf::from(p),
            _ => args.project.clone(),
        };
        let store = open_store(args.state.as_deref(), &project)?;
        // Only what `mc plan` recorded can be decided: a plan file is a
        // pointer to that record, never a source of plans.
        if store
            .plan(&parsed.hash)
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Err(format!(
                "{} was not recorded by `mc plan` in {}; only recorded plans can be approved",
                path.display(),
                store.location()
            ));
        }
        return Ok((store, parsed.hash));
    }
    let store = open_store(args.state.as_deref(), &args.project)?;
    if plan.len() < 4 || !plan.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{plan:?} is neither a plan file nor a plan hash (at least 4 hex digits)"
        ));
    }
    let found = store
        .find_plans(&plan.to_ascii_lowercase())
        .map_err(|e| e.to_string())?;
    match found.as_slice() {
        [one] => Ok((store, one.hash.clone())),
        [] => Err(format!("no plan {plan} in {}", store.location())),
        many => Err(format!(
            "{plan} matches {} plans; give more of the hash",
            many.len()
        )),
    }
}

/// Version of the `mc approve|reject --json` documents (docs/json.md).
const DECISION_SCHEMA: u32 = 1;

fn decide(args: &Args, approve: bool) -> Result<(), String> {
    let Some(plan_arg) = &args.plan else {
        return list(args);
    };
    let (store, hash) = resolve(args, plan_arg)?;
    let body = store
        .plan_body(&hash)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("plan {hash} has no stored body"))?;
    let plan = Plan::from_json(&body).map_err(|e| format!("stored plan {hash}: {e}"))?;
    let reason = args.reason.clone().unwrap_or_default();
    let decision = mc_runtime::policy::decide(&store, &hash, approve, &reason, "cli")?;
    if args.output.json() {
        let doc = serde_json::to_value(&decision).unwrap_or_default();
        crate::out::json(DECISION_SCHEMA, doc);
        return Ok(());
    }
    let rule = mc_runtime::policy::ApprovalRule::of_plan(&plan);
    // With approvers listed, who decided is the approver the key is
    // listed as; the local account follows.
    let me = mc_runtime::identity::current()?;
    let who = match rule.approver(&me.public_key()) {
        Some(name) => format!("{name} ({})", decision.actor),
        None => decision.actor.clone(),
    };
    crate::outln!(
        "Plan {} {} by {who} at {}{}.",
        short(&hash),
        decision.decision,
        format_time(decision.at),
        if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        }
    );
    if approve && !rule.approvers.is_empty() {
        let tally = mc_runtime::policy::tally(&store, &hash, &rule)?;
        crate::outln!(
            "{} of {} approvals ({}){}.",
            tally.counted.len(),
            tally.required,
            tally.counted.join(", "),
            if tally.met() {
                "; it can be applied"
            } else {
                "; it needs more before it is applied"
            }
        );
    }
    if approve && !plan.needs_approval() {
        crate::outln!("(This plan did not need an approval.)");
    }
    Ok(())
}

/// Plans waiting for a decision: pending ones that need an approval.
fn list(args: &Args) -> Result<(), String> {
    let store = open_store(args.state.as_deref(), &args.project)?;
    let plans = store
        .list_plans(&[PlanStatus::Pending, PlanStatus::Approved], 1000)
        .map_err(|e| e.to_string())?;
    let mut waiting = Vec::new();
    for rec in plans {
        let body = store.plan_body(&rec.hash).map_err(|e| e.to_string())?;
        let Some(plan) = body.and_then(|b| Plan::from_json(&b).ok()) else {
            continue;
        };
        let quorum = mc_runtime::policy::quorum(&store, &plan)?;
        let waits = mc_runtime::policy::waits_for_approval(rec.status, &plan, quorum.as_ref());
        if waits && plan.denials().next().is_none() {
            waiting.push((rec, plan.required_approvals, quorum));
        }
    }
    if args.output.json() {
        let v: Vec<serde_json::Value> = waiting
            .iter()
            .map(|(r, reasons, quorum)| {
                serde_json::json!({
                    "plan": r.hash, "created_at": r.created_at, "hosts": r.hosts,
                    "required_approvals": reasons,
                    "approved_by": quorum.as_ref().map(|q| q.counted.clone()),
                    "approvals_needed": quorum.as_ref().map(|q| q.required),
                })
            })
            .collect();
        crate::out::json(DECISION_SCHEMA, serde_json::json!({ "waiting": v }));
        return Ok(());
    }
    if waiting.is_empty() {
        crate::outln!("No plan is waiting for an approval.");
    }
    for (r, reasons, quorum) in waiting {
        crate::outln!(
            "{}  {}  {}{}",
            short(&r.hash),
            format_time(r.created_at),
            r.hosts.join(","),
            quorum
                .map(|q| format!("  ({} of {} approvals)", q.counted.len(), q.required))
                .unwrap_or_default()
        );
        for reason in reasons {
            crate::outln!("    - {reason}");
        }
    }
    Ok(())
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
