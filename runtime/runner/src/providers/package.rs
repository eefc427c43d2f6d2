//! `package`: system packages with apt/dpkg or dnf/rpm.
//!
//! All installs of an apply batch go in one package-manager call, and all
//! removals in one more ([`apply_batch`]). The package cache is not
//! refreshed by the runner: `latest` means the newest version the host's
//! cache knows.

use super::{verified, Outcome, Plan, Spec};
use crate::protocol::{Action, Change, Status};
use crate::sys;
use serde_json::{json, Value as Json};
use std::process::{Command, Stdio};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manager {
    Apt,
    Dnf,
}

impl Manager {
    /// The host's package manager, if it has one we support.
    pub fn detect() -> Option<Manager> {
        if sys::have("apt-get") && sys::have("dpkg-query") {
            Some(Manager::Apt)
        } else if sys::have("dnf") && sys::have("rpm") {
            Some(Manager::Dnf)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Dnf => "dnf",
        }
    }
}

struct Desired {
    name: String,
    state: String,
    version: Option<String>,
    manager: Manager,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let manager = match spec.str("manager")? {
        None => {
            Manager::detect().ok_or("no supported package manager (apt or dnf) on this host")?
        }
        Some("apt") => Manager::Apt,
        Some("dnf") | Some("yum") => Manager::Dnf,
        Some(other) => {
            return Err(format!(
                "package manager `{other}` is not supported by this runner"
            ))
        }
    };
    let name = spec.str_or_title("name")?.to_string();
    if name.is_empty() || name.starts_with('-') || name.contains(char::is_whitespace) {
        return Err(format!("invalid package name {name:?}"));
    }
    Ok(Desired {
        state: spec.choice("state", &["present", "latest", "absent"], "present")?,
        version: spec.str("version")?.map(str::to_string),
        name,
        manager,
    })
}

fn installed_version(m: Manager, name: &str) -> Result<Option<String>, String> {
    match m {
        Manager::Apt => {
            let out = sys::run(
                "dpkg-query",
                &["-W", "-f", "${db:Status-Status} ${Version}", name],
            )?;
            let text = String::from_utf8_lossy(&out.stdout);
            Ok(text
                .strip_prefix("installed ")
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty()))
        }
        Manager::Dnf => {
            let out = sys::run("rpm", &["-q", "--qf", "%{VERSION}-%{RELEASE}", name])?;
            Ok(out
                .status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
        }
    }
}

fn candidate_version(m: Manager, name: &str) -> Result<Option<String>, String> {
    match m {
        Manager::Apt => {
            let out = sys::run("apt-cache", &["policy", name])?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("Candidate:")
                        .map(|v| v.trim().to_string())
                })
                .filter(|v| v != "(none)"))
        }
        Manager::Dnf => {
            let out = sys::run(
                "dnf",
                &[
                    "-q",
                    "repoquery",
                    "--latest-limit",
                    "1",
                    "--qf",
                    "%{version}-%{release}",
                    name,
                ],
            )?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty()))
        }
    }
}

/// Does the installed version satisfy a pinned one? dnf versions may be
/// given without the release.
fn version_matches(m: Manager, installed: &str, wanted: &str) -> bool {
    installed == wanted || (m == Manager::Dnf && installed.starts_with(&format!("{wanted}-")))
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let installed = installed_version(d.manager, &d.name)?;
    let mut plan = Plan::new(json!({
        "installed": installed.is_some(),
        "version": installed,
        "manager": d.manager.name(),
    }));
    let change = |from: Json, to: Json| Change {
        attr: "version".into(),
        from,
        to,
    };
    match (d.state.as_str(), &installed) {
        ("absent", None) => {}
        ("absent", Some(v)) => {
            plan.action = Action::Delete;
            plan.changes.push(change(json!(v), Json::Null));
        }
        (_, None) => {
            plan.action = Action::Create;
            let to = match (&d.version, d.state.as_str()) {
                (Some(v), _) => json!(v),
                (None, "latest") => {
                    json!(candidate_version(d.manager, &d.name)?.unwrap_or_else(|| "latest".into()))
                }
                (None, _) => json!("present"),
            };
            plan.changes.push(change(Json::Null, to));
        }
        (state, Some(v)) => {
            if let Some(want) = &d.version {
                if !version_matches(d.manager, v, want) {
                    plan.change("version", v.as_str(), want.as_str());
                }
            } else if state == "latest" {
                if let Some(c) = candidate_version(d.manager, &d.name)? {
                    if &c != v {
                        plan.change("version", v.as_str(), c);
                    }
                }
            }
        }
    }
    Ok(plan)
}

/// What to pass to the package manager to install `d`.
fn install_arg(d: &Desired) -> String {
    match (&d.version, d.manager) {
        (Some(v), Manager::Apt) => format!("{}={v}", d.name),
        (Some(v), Manager::Dnf) => format!("{}-{v}", d.name),
        (None, _) => d.name.clone(),
    }
}

fn run_manager(m: Manager, install: bool, args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        return Ok(());
    }
    let mut cmd = match m {
        Manager::Apt => {
            let mut c = Command::new("apt-get");
            c.env("DEBIAN_FRONTEND", "noninteractive").args([
                "-y",
                "-q",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
            ]);
            if install {
                c.args(["--no-install-recommends", "--allow-downgrades", "install"]);
            } else {
                c.arg("remove");
            }
            c
        }
        Manager::Dnf => {
            let mut c = Command::new("dnf");
            c.args(["-y", "-q", if install { "install" } else { "remove" }]);
            c
        }
    };
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", m.name()))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        Err(format!(
            "{} {} failed ({}): {}",
            m.name(),
            if install { "install" } else { "remove" },
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ))
    }
}

/// Applies a single package.
pub fn apply_one(spec: &Spec) -> Result<Outcome, String> {
    apply_batch(&[spec])
        .into_iter()
        .next()
        .unwrap_or_else(|| Err("empty batch".into()))
}

/// Applies several packages with one install call and one remove call per
/// package manager; returns one result per spec, in order.
pub fn apply_batch(specs: &[&Spec]) -> Vec<Result<Outcome, String>> {
    let mut results: Vec<Option<Result<Outcome, String>>> = vec![None; specs.len()];
    let mut plans: Vec<Option<Plan>> = vec![None; specs.len()];
    let mut batches: Vec<(Manager, bool, Vec<String>, Vec<usize>)> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (d, plan) = match desired(spec).and_then(|d| probe(spec).map(|p| (d, p))) {
            Ok(x) => x,
            Err(e) => {
                results[i] = Some(Err(e));
                continue;
            }
        };
        if plan.action == Action::None {
            results[i] = Some(Ok(Outcome {
                status: Status::Ok,
                message: "already in the desired state".into(),
                observed_digest: Some(plan.digest()),
            }));
            continue;
        }
        let install = plan.action != Action::Delete;
        let arg = if install {
            install_arg(&d)
        } else {
            d.name.clone()
        };
        match batches
            .iter_mut()
            .find(|b| b.0 == d.manager && b.1 == install)
        {
            Some(b) => {
                b.2.push(arg);
                b.3.push(i);
            }
            None => batches.push((d.manager, install, vec![arg], vec![i])),
        }
        plans[i] = Some(plan);
    }
    for (m, install, args, members) in batches {
        let call = run_manager(m, install, &args);
        for i in members {
            let Some(plan) = plans[i].take() else {
                continue;
            };
            results[i] = Some(match verified(specs[i], &plan) {
                Ok(o) => Ok(o),
                Err(e) => Err(match &call {
                    Err(call_err) => call_err.clone(),
                    Ok(()) => e,
                }),
            });
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("package was not processed".into())))
        .collect()
}
