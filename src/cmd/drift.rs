//! `mc drift`: report what changed on the hosts outside mc since the last
//! apply, and with `--fix` write the plan that restores it.

use super::plan::{absolute, catalog_source, RunArgs};
use mc_runtime::drift::render_drift;
use mc_runtime::render;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`), or a file in it.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    #[command(flatten)]
    pub output: super::Output,
    /// Write (and show) a plan that restores the desired state of every
    /// drifted resource; apply it with `mc apply FILE` (policies and
    /// approvals apply as to any plan).
    #[arg(long)]
    pub fix: bool,
    /// Where `--fix` writes the plan (default: PROJECT/.mc/plans/drift-HASH.json).
    #[arg(short = 'o', long = "out", value_name = "FILE", requires = "fix")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: Args) -> ExitCode {
    match drift(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Version of the `mc drift --json` document (docs/json.md).
const DRIFT_SCHEMA: u32 = 1;

fn drift(args: &Args) -> Result<ExitCode, String> {
    let project = super::project_dir(&args.path);
    let source = catalog_source(&project, &args.run.vars)?;
    let rt = args.run.runtime(&project)?;
    super::agent::ingest_reports(&project, &rt.store);
    let sel = args.run.selection();
    let progress = super::progress();
    let report =
        mc_runtime::block_on(rt.drift(source.clone(), &sel, progress.clone())).and_then(|r| r);
    progress.finish();
    let report = report.map_err(|e| e.to_string())?;
    let color = crate::style::stdout_color();
    let mut json = report.to_json();
    let sarif = args.output.format() == Some(super::Format::Sarif);
    if !args.output.json() && !sarif {
        crate::out!("{}", render_drift(&report, color));
    }
    let mut fix_denied = false;
    if args.fix && report.drifted() > 0 {
        let mut plan = report.fix_plan(Some(absolute(&project)));
        source.evaluate_policies(&plan).seal_into(&mut plan);
        rt.save_plan(&plan).map_err(|e| e.to_string())?;
        fix_denied = plan.denials().next().is_some();
        let out = match &args.out {
            Some(o) => o.clone(),
            None => project.join(".mc").join("plans").join(format!(
                "drift-{}.json",
                plan.hash.get(..12).unwrap_or("plan")
            )),
        };
        mc_runtime::state::write_private(&out, plan.to_json_pretty().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        if args.output.json() {
            json["fix"] = serde_json::json!({
                "plan": plan.hash,
                "file": out.display().to_string(),
                "required_approvals": plan.required_approvals,
                "denied": fix_denied,
            });
        } else if !sarif {
            crate::outln!("\nPlan to restore the desired state:\n");
            crate::out!("{}", render::render_plan(&plan, color));
            crate::outln!(
                "Saved the plan to {}; apply it with `mc apply {}`.",
                out.display(),
                out.display()
            );
        }
    }
    if args.output.json() {
        crate::out::json(DRIFT_SCHEMA, json);
    } else if sarif {
        crate::outln!("{}", drift_sarif(&report));
    }
    Ok(if report.errors() > 0 || fix_denied {
        ExitCode::from(1)
    } else if report.drifted() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The report as a SARIF log: each drifted resource where it is declared,
/// and each host that could not be checked.
fn drift_sarif(report: &mc_runtime::drift::DriftReport) -> String {
    let mut findings = Vec::new();
    for h in &report.hosts {
        if let Some(e) = &h.error {
            findings.push(crate::sarif::host_error(&h.host.name, e));
        }
        for r in &h.drifted {
            findings.push(crate::sarif::from_drift(
                &h.host.name,
                h.catalog.as_ref(),
                r,
            ));
        }
    }
    serde_json::to_string_pretty(&crate::sarif::log(&findings)).unwrap_or_default()
}
