//! `mc apply`: apply a plan file, or plan a project, confirm and apply.

use super::plan::{catalog_source, RunArgs};
use crate::signals::ApplySignals;
use mc_ir::plan::Plan;
use mc_runtime::{render, ApplyOptions, Serial, StalePolicy};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A plan file written by `mc plan -o`, or a project directory.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Apply without asking for confirmation (required without a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Stop starting new hosts once more than N hosts have failed.
    #[arg(long, value_name = "N")]
    pub max_fail: Option<usize>,
    /// Apply hosts in batches of N hosts (or N% of them), one batch after
    /// the other. Default: the project's `serial` setting, else all at once.
    #[arg(long, value_name = "N|N%")]
    pub serial: Option<Serial>,
    /// Apply a single host first, then the rest (in `--serial` batches).
    #[arg(long)]
    pub canary: bool,
    /// With a plan file, what to do with resources that changed on their
    /// host since the plan: `skip` refuses them and what depends on them
    /// and applies the rest (exit 1); `abort` refuses the whole plan.
    #[arg(long, value_name = "skip|abort", default_value = "skip")]
    pub stale: StalePolicy,
    /// Apply without the approvals the plan needs, for an emergency (a
    /// policy `deny` still refuses). Needs `--reason`; the run is recorded
    /// as `break-glass` in the audit log, `mc runs` and `mc tui`.
    #[arg(long, requires = "reason")]
    pub break_glass: bool,
    /// Why the glass is broken (with `--break-glass`).
    #[arg(long, value_name = "TEXT", requires = "break_glass")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub output: super::Output,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: Args) -> ExitCode {
    match apply(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Version of the `mc apply --json` document (docs/json.md).
const APPLY_SCHEMA: u32 = 1;

fn apply(args: &Args) -> Result<ExitCode, String> {
    let mut opts = ApplyOptions {
        max_fail: args.max_fail,
        serial: args.serial,
        canary: args.canary,
        stale: args.stale,
        break_glass: break_glass_reason(args)?,
        ..ApplyOptions::default()
    };
    let progress = super::progress();
    let json = args.output.json();
    let color = if json {
        crate::style::stderr_color()
    } else {
        crate::style::stdout_color()
    };
    let interrupted: Option<ApplySignals>;
    let is_source = args.path.extension().is_some_and(|e| e == "mc");
    let report = if args.path.is_file() && !is_source {
        let run = &args.run;
        if !(run.limit.is_empty()
            && run.tags.is_empty()
            && run.skip_tags.is_empty()
            && run.targets.is_empty())
        {
            return Err(
                "--limit, --target, --tags and --skip-tags select what to plan; a plan file is applied whole"
                    .into(),
            );
        }
        if !args.run.vars.is_empty() {
            return Err(
                "--var sets what to plan; a plan file is applied with the values it was planned with"
                    .into(),
            );
        }
        let text = std::fs::read_to_string(&args.path)
            .map_err(|e| format!("cannot read {}: {e}", args.path.display()))?;
        let plan = Plan::from_json(&text).map_err(|e| format!("{}: {e}", args.path.display()))?;
        let project = plan_project(&plan, args.run.state.is_some())?;
        let rt = args.run.runtime(&project)?;
        if project.join("main.mc").is_file() {
            let settings = project_settings(&project)?;
            opts.serial = opts.serial.or(settings.serial);
            // The project as it is now says who may approve, not the plan.
            opts.approval_rule = Some(approval_rule(&settings));
        }
        let signals = ApplySignals::install(rt.store.spec(), progress.clone())?;
        signals.applying();
        opts.interrupt = signals.interrupt.clone();
        interrupted = Some(signals);
        let report =
            mc_runtime::block_on(rt.apply(&plan, Default::default(), &opts, progress.clone()))
                .and_then(|r| r);
        progress.finish();
        report.map_err(|e| e.to_string())?
    } else {
        let project = super::project_dir(&args.path);
        let source = catalog_source(&project, &args.run.vars)?;
        let rt = args.run.runtime(&project)?;
        if opts.serial.is_none() {
            opts.serial = project_settings(&project)?.serial;
        }
        let signals = ApplySignals::install(rt.store.spec(), progress.clone())?;
        opts.interrupt = signals.interrupt.clone();
        interrupted = Some(signals.clone());
        let sel = args.run.selection();
        let interactive = std::io::stdin().is_terminal();
        if !args.yes && !interactive {
            return Err("refusing to apply without confirmation: no terminal; pass --yes".into());
        }
        let outcome = mc_runtime::block_on(async {
            let planned = rt.plan(source, &sel, progress.clone()).await;
            progress.finish();
            let planned = planned?;
            if let Err(e) = super::plan::check_targets(&args.run.targets, &planned.plan) {
                planned.close().await;
                return Ok(Some(Err(e)));
            }
            let shown = render::render_plan(&planned.plan, color);
            if json {
                // Stdout holds only the JSON document; the plan is for people.
                eprint!("{shown}");
            } else {
                crate::out!("{shown}");
            }
            let counts = planned.plan.counts();
            if counts.changes() == 0 && counts.errors == 0 {
                planned.close().await;
                return Ok(None);
            }
            // Refuse before asking: a denied or unapproved plan never runs.
            let rule = mc_runtime::policy::ApprovalRule::of_plan(&planned.plan);
            let glass = opts.break_glass.is_some();
            if let Err(refusal) =
                mc_runtime::policy::check_plan_in(&rt.store, &planned.plan, &rule, glass)
            {
                let plan = planned.plan.clone();
                planned.close().await;
                return Ok(Some(Err(unapproved_hint(&project, &plan, refusal))));
            }
            if !args.yes && !confirm() {
                planned.close().await;
                return Ok(Some(Err("apply cancelled".to_string())));
            }
            // Taken apart, not cloned: at hundreds of hosts a plan is tens of MB.
            let mc_runtime::Planned { plan, sessions } = planned;
            signals.applying();
            // Planned in this same run: nothing can be stale yet.
            let opts = ApplyOptions {
                check_stale: false,
                ..opts.clone()
            };
            let report = rt.apply(&plan, sessions, &opts, progress.clone()).await;
            progress.finish();
            let report = report?;
            Ok::<_, mc_runtime::RuntimeError>(Some(Ok(report)))
        })
        .and_then(|r| r)
        .map_err(|e| e.to_string())?;
        match outcome {
            None => {
                if json {
                    crate::out::json(
                        APPLY_SCHEMA,
                        serde_json::json!({
                            "run": null, "ok": true, "changed": 0, "hosts": [],
                        }),
                    );
                } else {
                    crate::outln!("No changes. Every host is up to date.");
                }
                return Ok(ExitCode::SUCCESS);
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(report)) => report,
        }
    };
    if json {
        crate::out::json(
            APPLY_SCHEMA,
            serde_json::json!({
                "run": report.run_id,
                "ok": report.ok(),
                "changed": report.changed(),
                "hosts": report.hosts,
            }),
        );
    } else {
        crate::out!("{}", render::render_summary(&report.hosts, color));
        crate::outln!(
            "Run {}: {} changed on {}{}.",
            report.run_id,
            report.changed(),
            render::plural(report.hosts.len(), "host"),
            if report.ok() { "" } else { ", with failures" }
        );
    }
    if let Some(code) = interrupted.as_ref().and_then(ApplySignals::exit_code) {
        eprintln!(
            "Run {} was interrupted: what was not started was skipped; rerun `mc apply` to finish.",
            report.run_id
        );
        return Ok(ExitCode::from(code));
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The plan's own project locates the state store unless `--state` says
/// otherwise. When that directory is gone, another directory's store would
/// not know the plan (or, worse, know another history): refuse instead.
fn plan_project(plan: &Plan, state_given: bool) -> Result<PathBuf, String> {
    match plan.project.as_deref().map(Path::new) {
        Some(p) if p.is_dir() => Ok(p.to_path_buf()),
        Some(p) if !state_given => Err(format!(
            "the plan's project directory {} no longer exists, so its state store is unknown; pass --state FILE to apply it with another store",
            p.display()
        )),
        _ => Ok(PathBuf::from(".")),
    }
}

/// The project's `project { … }` settings (`serial`, the approvers…).
fn project_settings(dir: &Path) -> Result<mc_compiler::settings::Settings, String> {
    let read = super::settings_of(dir);
    match read.1.first() {
        Some(e) => Err(format!("{}: project: {}", e.primary.file, e.message)),
        None => Ok(read.0.clone()),
    }
}

fn approval_rule(s: &mc_compiler::settings::Settings) -> mc_runtime::policy::ApprovalRule {
    mc_runtime::policy::ApprovalRule {
        approvers: s.approvers.clone(),
        required: s.approvals_required(),
        self_approval: s.self_approval(),
    }
}

/// `--break-glass --reason TEXT`: the reason, which must say something.
fn break_glass_reason(args: &Args) -> Result<Option<String>, String> {
    if !args.break_glass {
        return Ok(None);
    }
    match args.reason.as_deref().map(str::trim) {
        Some(r) if !r.is_empty() => Ok(Some(r.to_string())),
        _ => Err("--break-glass needs a --reason that says why".into()),
    }
}

/// The refusal, plus for a plan that only lacks an approval the file it
/// was saved to, so it can be approved and applied as it is (planning again
/// would make a new plan that needs its own approval).
fn unapproved_hint(project: &Path, plan: &Plan, refusal: mc_runtime::Refusal) -> String {
    let mut msg = refusal.to_string();
    if let mc_runtime::Refusal::Unapproved { .. } = refusal {
        let short = plan.hash.get(..12).unwrap_or(&plan.hash);
        let file = project
            .join(".mc")
            .join("plans")
            .join(format!("plan-{short}.json"));
        let written = mc_runtime::state::write_private(&file, plan.to_json_pretty().as_bytes());
        if written.is_ok() {
            msg = format!(
                "{msg}\nthe plan was saved to {}: once approved, run `mc apply {}`",
                file.display(),
                file.display()
            );
        }
    }
    msg
}

/// Asks on stderr, so stdout stays clean for `--json`.
fn confirm() -> bool {
    eprint!("Apply these changes? Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == "yes"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(settings: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let main = format!("{settings}\nhost \"a\" {{ transport = \"local\" }}\n");
        std::fs::write(dir.path().join("main.mc"), main).unwrap();
        dir
    }

    #[test]
    fn the_project_sets_the_default_serial() {
        let d = project("project {\n  serial = 2\n}\n");
        assert_eq!(
            project_settings(d.path()).map(|s| s.serial),
            Ok(Some(Serial::Hosts(2)))
        );
        let d = project("project {\n  serial = \"25%\"\n}\n");
        assert_eq!(
            project_settings(d.path()).map(|s| s.serial),
            Ok(Some(Serial::Percent(25)))
        );
        let d = project("");
        assert_eq!(project_settings(d.path()).map(|s| s.serial), Ok(None));
    }

    #[test]
    fn a_bad_serial_setting_is_an_error_naming_the_file() {
        let d = project("project {\n  serial = \"lots\"\n}\n");
        let err = project_settings(d.path()).map(|s| s.serial).unwrap_err();
        assert!(err.starts_with("main.mc: project: `serial`"), "{err}");
        let d = project("project {\n  serial = true\n}\n");
        assert!(project_settings(d.path()).map(|s| s.serial).is_err());
    }
}
