//! `mc run TARGET -- COMMAND`: an ad-hoc command on the selected hosts.
//!
//! The command becomes a one-resource plan per host (a high-risk `command`
//! titled `mc run: COMMAND`), so it goes through everything a plan does:
//! the same transports and connection reuse, the project's policies and
//! `approval_risk` (a policy can deny it on production groups), approvals,
//! the apply lock, the state store's run record and the audit log.

use super::plan::{catalog_source, RunArgs};
use mc_ir::plan::Plan;
use mc_ir::{Catalog, HostInfo, Meta, Resource, ResourceId, Risk, Value, CATALOG_SCHEMA};
use mc_runtime::{ApplyOptions, CatalogSource, PolicyOutcome, SourceError};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// The hosts: `all`, or names, groups and patterns as `--limit` takes
    /// them (`web*`, `!db1`, `web:&prod`; comma-separated).
    pub target: String,
    /// The command, run by `/bin/sh` on each host (after `--`).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Run it as root through sudo.
    #[arg(long = "become")]
    pub r#become: bool,
    /// End the command after this long (`30s`, `5m`).
    #[arg(long, value_name = "DURATION", value_parser = super::plan::parse_duration)]
    pub timeout: Option<std::time::Duration>,
    #[command(flatten)]
    pub output: super::Output,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Version of the `mc run --json` document (docs/json.md).
const RUN_SCHEMA: u32 = 1;

pub fn run(args: Args) -> ExitCode {
    match adhoc(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The project's hosts and policies, with a catalog of just the command.
struct AdHocSource {
    project: Arc<dyn CatalogSource>,
    command: Resource,
}

impl CatalogSource for AdHocSource {
    fn hosts(&self) -> Result<Vec<HostInfo>, SourceError> {
        self.project.hosts()
    }
    fn compile(&self, host: &HostInfo, _facts: &serde_json::Value) -> Result<Catalog, SourceError> {
        Ok(Catalog {
            schema: CATALOG_SCHEMA,
            host: host.clone(),
            resources: vec![self.command.clone()],
            edges: vec![],
        })
    }
    fn source_digest(&self) -> String {
        self.project.source_digest()
    }
    fn evaluate_policies(&self, plan: &Plan) -> PolicyOutcome {
        self.project.evaluate_policies(plan)
    }
}

/// The `command` resource that runs `script`.
fn command_resource(script: &str, args: &Args) -> Resource {
    let title = format!("mc run: {script}");
    let attrs = BTreeMap::from([
        ("run".to_string(), Value::String(script.to_string())),
        ("refresh_only".to_string(), Value::Bool(false)),
        ("env".to_string(), Value::Map(BTreeMap::new())),
        ("returns".to_string(), Value::List(vec![Value::Int(0)])),
    ]);
    Resource {
        id: ResourceId::new("command", &title),
        type_name: "command".into(),
        title,
        attrs,
        meta: Meta {
            r#become: args.r#become.then_some(true),
            timeout: args.timeout.map(|t| t.as_secs().max(1)),
            risk: Risk::High,
            ..Meta::default()
        },
        source: None,
    }
}

fn adhoc(args: &Args) -> Result<ExitCode, String> {
    let r = &args.run;
    if !(r.tags.is_empty() && r.skip_tags.is_empty() && r.targets.is_empty() && r.limit.is_empty())
    {
        return Err(
            "mc run takes its hosts from TARGET; --limit, --tags and --target select what to plan"
                .into(),
        );
    }
    let project = std::path::PathBuf::from(".");
    let script = args.command.join(" ");
    let command = command_resource(&script, args);
    let id = command.id.clone();
    let source = Arc::new(AdHocSource {
        project: catalog_source(&project, &r.vars)?,
        command,
    });
    let rt = r.runtime(&project)?;
    let mut sel = r.selection();
    // `all`, as in Ansible, is every host.
    if args.target != "all" {
        sel.limit = vec![args.target.clone()];
    }
    let progress = super::progress();
    let outcome = mc_runtime::block_on(async {
        let planned = rt.plan(source, &sel, progress.clone()).await;
        progress.finish();
        let planned = planned?;
        let rule = mc_runtime::policy::ApprovalRule::of_plan(&planned.plan);
        if let Err(refusal) =
            mc_runtime::policy::check_plan_in(&rt.store, &planned.plan, &rule, false)
        {
            let plan = planned.plan.clone();
            planned.close().await;
            return Ok(Err(refused(&project, &plan, refusal)));
        }
        let opts = ApplyOptions {
            check_stale: false,
            ..ApplyOptions::default()
        };
        let plan = planned.plan.clone();
        let report = rt
            .apply(&plan, planned.sessions, &opts, progress.clone())
            .await;
        progress.finish();
        Ok::<_, mc_runtime::RuntimeError>(Ok(report?))
    })
    .and_then(|r| r)
    .map_err(|e| e.to_string())??;
    // An ad-hoc command is not part of what the hosts should look like:
    // drift must not report it as applied but missing from the source.
    for h in &outcome.hosts {
        let _ = rt.store.forget_resource(&h.host, id.as_str());
    }
    let hosts: Vec<&str> = outcome.hosts.iter().map(|h| h.host.as_str()).collect();
    rt.store
        .audit(
            "run.command",
            &serde_json::json!({ "run": outcome.run_id, "command": script, "hosts": hosts }),
        )
        .map_err(|e| e.to_string())?;
    let results = rt
        .store
        .resource_results(outcome.run_id)
        .map_err(|e| e.to_string())?;
    report(args, &script, &outcome, &results)
}

/// The refusal, and for a plan that only lacks an approval where it was
/// saved, so it can be approved and applied as it is.
fn refused(project: &std::path::Path, plan: &Plan, refusal: mc_runtime::Refusal) -> String {
    let short = plan.hash.get(..12).unwrap_or(&plan.hash);
    let file = project
        .join(".mc")
        .join("plans")
        .join(format!("run-{short}.json"));
    let saved = matches!(refusal, mc_runtime::Refusal::Unapproved { .. })
        && mc_runtime::state::write_private(&file, plan.to_json_pretty().as_bytes()).is_ok();
    if saved {
        format!(
            "{refusal}\nthe command's plan was saved to {}: once approved, run `mc apply {}`",
            file.display(),
            file.display()
        )
    } else {
        refusal.to_string()
    }
}

/// One host's outcome: the command's exit status when it ran.
struct HostOutcome<'a> {
    host: &'a str,
    exit: Option<i64>,
    output: &'a str,
    error: Option<&'a str>,
}

fn report(
    args: &Args,
    script: &str,
    outcome: &mc_runtime::ApplyReport,
    results: &[mc_runtime::state::ResourceResult],
) -> Result<ExitCode, String> {
    let hosts: Vec<HostOutcome<'_>> = outcome
        .hosts
        .iter()
        .map(|h| {
            let r = results.iter().find(|r| r.host == h.host);
            let message = r.and_then(|r| r.message.as_deref()).unwrap_or("");
            let exit = exit_status(message);
            HostOutcome {
                host: &h.host,
                exit,
                output: r.and_then(|r| r.output.as_deref()).unwrap_or(""),
                error: h
                    .error
                    .as_deref()
                    .or((exit.is_none() && !message.is_empty()).then_some(message)),
            }
        })
        .collect();
    let ok = hosts.iter().all(|h| h.exit == Some(0));
    if args.output.json() {
        let docs: Vec<serde_json::Value> = hosts
            .iter()
            .map(|h| {
                serde_json::json!({
                    "host": h.host, "exit": h.exit, "output": h.output, "error": h.error,
                })
            })
            .collect();
        crate::out::json(
            RUN_SCHEMA,
            serde_json::json!({
                "run": outcome.run_id, "command": script, "ok": ok, "hosts": docs,
            }),
        );
    } else {
        for h in &hosts {
            let status = match (h.exit, h.error) {
                (Some(code), _) => format!("exit {code}"),
                (None, Some(e)) => format!("error: {e}"),
                (None, None) => "not run".to_string(),
            };
            crate::outln!("── {} ({status})", h.host);
            if !h.output.is_empty() {
                crate::out!("{}", h.output);
                if !h.output.ends_with('\n') {
                    crate::outln!("");
                }
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The exit status in a command result's message: `ran (exit N)` or
/// `exit status N: …`.
fn exit_status(message: &str) -> Option<i64> {
    let rest = message
        .strip_prefix("ran (exit ")
        .or_else(|| message.strip_prefix("exit status "))?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::exit_status;

    #[test]
    fn exit_statuses_are_read_from_command_results() {
        assert_eq!(exit_status("ran (exit 0)"), Some(0));
        assert_eq!(exit_status("exit status 3: no such file"), Some(3));
        assert_eq!(exit_status("timed out after 5s"), None);
    }
}
