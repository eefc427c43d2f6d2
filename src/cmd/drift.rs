//! `mc drift`: report what changed on the hosts outside mc since the last
//! apply, and with `--fix` write the plan that restores it.

use super::plan::{absolute, catalog_source, RunArgs};
use mc_runtime::drift::render_drift;
use mc_runtime::render;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Print the drift report as JSON.
    #[arg(long)]
    pub json: bool,
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
            eprintln!("mc drift: {e}");
            ExitCode::from(1)
        }
    }
}

fn drift(args: &Args) -> Result<ExitCode, String> {
    let source = catalog_source(&args.path, &args.run.vars)?;
    let rt = args.run.runtime(&args.path)?;
    let sel = args.run.selection();
    let report = mc_runtime::block_on(rt.drift(source.clone(), &sel)).map_err(|e| e.to_string())?;
    let color = std::io::stdout().is_terminal();
    let mut json = report.to_json();
    if !args.json {
        print!("{}", render_drift(&report, color));
    }
    let mut fix_denied = false;
    if args.fix && report.drifted() > 0 {
        let mut plan = report.fix_plan(Some(absolute(&args.path)));
        source.evaluate_policies(&plan).seal_into(&mut plan);
        rt.save_plan(&plan).map_err(|e| e.to_string())?;
        fix_denied = plan.denials().next().is_some();
        let out = match &args.out {
            Some(o) => o.clone(),
            None => {
                let dir = args.path.join(".mc").join("plans");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                dir.join(format!(
                    "drift-{}.json",
                    plan.hash.get(..12).unwrap_or("plan")
                ))
            }
        };
        std::fs::write(&out, plan.to_json_pretty())
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        if args.json {
            json["fix"] = serde_json::json!({
                "plan": plan.hash,
                "file": out.display().to_string(),
                "required_approvals": plan.required_approvals,
                "denied": fix_denied,
            });
        } else {
            println!("\nPlan to restore the desired state:\n");
            print!("{}", render::render_plan(&plan, color));
            println!(
                "Saved the plan to {}; apply it with `mc apply {}`.",
                out.display(),
                out.display()
            );
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    }
    Ok(if report.errors() > 0 || fix_denied {
        ExitCode::from(1)
    } else if report.drifted() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
