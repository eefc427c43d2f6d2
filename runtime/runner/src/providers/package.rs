//! `package`: system packages with apt (dpkg), dnf (rpm), zypper (rpm) or
//! pacman.
//!
//! All installs of an apply batch go in one package-manager call, and all
//! removals in one more ([`apply_batch`]). The package lists are refreshed
//! only for resources with `update_cache` ([`refresh_lists`]), so `latest`
//! otherwise means the newest version the host's lists know.

use super::{verified, Outcome, Plan, Spec};
use crate::protocol::{Action, AttrChange, Status};
use crate::sys;
use serde_json::{json, Value as Json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manager {
    Apt,
    Dnf,
    Zypper,
    Pacman,
}

/// Every manager, in the order [`Manager::detect`] tries them.
pub const MANAGERS: [Manager; 4] = [Manager::Apt, Manager::Dnf, Manager::Zypper, Manager::Pacman];

impl Manager {
    /// The host's package manager: the first whose tools are installed.
    pub fn detect() -> Option<Manager> {
        MANAGERS.into_iter().find(|m| m.present())
    }

    /// Every supported manager whose tools are installed.
    pub fn all_present() -> Vec<Manager> {
        MANAGERS.into_iter().filter(|m| m.present()).collect()
    }

    fn present(self) -> bool {
        match self {
            Manager::Apt => sys::have("apt-get") && sys::have("dpkg-query"),
            Manager::Dnf => sys::have("dnf") && sys::have("rpm"),
            Manager::Zypper => sys::have("zypper") && sys::have("rpm"),
            Manager::Pacman => sys::have("pacman"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Manager::Apt => "apt",
            Manager::Dnf => "dnf",
            Manager::Zypper => "zypper",
            Manager::Pacman => "pacman",
        }
    }

    fn by_name(name: &str) -> Option<Manager> {
        MANAGERS.into_iter().find(|m| m.name() == name)
    }
}

struct Desired {
    name: String,
    state: String,
    version: Option<String>,
    manager: Manager,
    update_cache: bool,
    cache_valid_time: Option<Duration>,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let manager = match spec.str("manager")? {
        None => Manager::detect()
            .ok_or("no supported package manager (apt, dnf, zypper or pacman) on this host")?,
        Some(name) => {
            let m = Manager::by_name(name).ok_or_else(|| {
                format!("package manager `{name}` is not supported (apt, dnf, zypper, pacman)")
            })?;
            if !m.present() {
                return Err(format!(
                    "package manager `{name}` is not installed on this host"
                ));
            }
            m
        }
    };
    let name = spec.str_or_title("name")?.to_string();
    if name.is_empty() || name.starts_with('-') || name.contains(char::is_whitespace) {
        return Err(format!("invalid package name {name:?}"));
    }
    let version = spec.str("version")?.map(str::to_string);
    if version.is_some() && manager == Manager::Pacman {
        return Err("pacman installs the version its repositories offer: `version` cannot be used with pacman".into());
    }
    let cache_valid_time = spec
        .int("cache_valid_time")?
        .map(|s| Duration::from_secs(s.max(0) as u64));
    Ok(Desired {
        state: spec.choice("state", &["present", "latest", "absent"], "present")?,
        update_cache: spec.bool("update_cache", false)? || cache_valid_time.is_some(),
        cache_valid_time,
        version,
        name,
        manager,
    })
}

/// Managers whose lists this runner process has refreshed already: one
/// refresh per run is enough.
static REFRESHED: Mutex<Vec<Manager>> = Mutex::new(Vec::new());

/// The command that refreshes a manager's package lists.
fn refresh_command(m: Manager) -> (&'static str, &'static [&'static str]) {
    match m {
        Manager::Apt => ("apt-get", &["-q", "update"]),
        Manager::Dnf => ("dnf", &["-y", "-q", "makecache", "--refresh"]),
        Manager::Zypper => ("zypper", &["-n", "-q", "refresh"]),
        Manager::Pacman => ("pacman", &["-Sy", "--noconfirm"]),
    }
}

/// How old apt's lists are: `apt-get update` rewrites `pkgcache.bin`.
fn apt_lists_age() -> Option<Duration> {
    ["/var/cache/apt/pkgcache.bin", "/var/lib/apt/lists"]
        .iter()
        .find_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .and_then(|t| t.elapsed().ok())
}

/// Refreshes the package lists for `d` (`update_cache`) unless this runner
/// did already, or apt's lists are younger than `cache_valid_time`. Only
/// the lists change, never an installed package, so a probe may do it:
/// `latest` then plans against what the repositories offer now.
fn refresh_lists(d: &Desired) -> Result<(), String> {
    if !d.update_cache {
        return Ok(());
    }
    let mut done = REFRESHED.lock().unwrap_or_else(|e| e.into_inner());
    if done.contains(&d.manager) {
        return Ok(());
    }
    let fresh = match (d.manager, d.cache_valid_time) {
        (Manager::Apt, Some(valid)) => apt_lists_age().is_some_and(|age| age < valid),
        _ => false,
    };
    if !fresh {
        let (program, args) = refresh_command(d.manager);
        let mut cmd = Command::new(program);
        if d.manager == Manager::Apt {
            cmd.env("DEBIAN_FRONTEND", "noninteractive");
        }
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {program}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "refreshing the package lists ({program} {}) failed ({}): {}",
                args.join(" "),
                out.status,
                tail(&out.stderr)
            ));
        }
    }
    done.push(d.manager);
    Ok(())
}

/// The last lines of a tool's error output, on one line.
fn tail(stderr: &[u8]) -> String {
    let err = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// zypper's rpm database: libzypp prefers `/usr/lib/sysimage/rpm`, as
/// current SUSE releases do, and falls back to `/var/lib/rpm`.
fn zypper_rpm_db() -> &'static str {
    if Path::new("/usr/lib/sysimage/rpm").is_dir() {
        "/usr/lib/sysimage/rpm"
    } else {
        "/var/lib/rpm"
    }
}

/// `rpm -q NAME` → `VERSION-RELEASE`, in the given database.
fn rpm_version(name: &str, dbpath: Option<&str>) -> Result<Option<String>, String> {
    let mut args = vec!["-q", "--qf", "%{VERSION}-%{RELEASE}", name];
    if let Some(db) = dbpath {
        args.splice(0..0, ["--dbpath", db]);
    }
    let out = sys::run("rpm", &args)?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// The value of a `Key : value` line of a tool's report.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
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
        // dnf reads the database rpm's own configuration names.
        Manager::Dnf => rpm_version(name, None),
        Manager::Zypper => rpm_version(name, Some(zypper_rpm_db())),
        Manager::Pacman => {
            let out = sys::run("pacman", &["-Q", name])?;
            Ok(out.status.success().then(|| {
                let text = String::from_utf8_lossy(&out.stdout);
                text.split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string()
            }))
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
        // `zypper info` reports the best version the repositories offer.
        Manager::Zypper => {
            let out = sys::run("zypper", &["-n", "info", "-t", "package", name])?;
            Ok(field(&String::from_utf8_lossy(&out.stdout), "Version"))
        }
        Manager::Pacman => {
            let out = sys::run("pacman", &["-Sp", "--print-format", "%v", name])?;
            Ok(out
                .status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
                .filter(|v| !v.is_empty()))
        }
    }
}

/// Does the installed version satisfy a pinned one? dnf versions may be
/// given without the release.
fn version_matches(m: Manager, installed: &str, wanted: &str) -> bool {
    let rpm = matches!(m, Manager::Dnf | Manager::Zypper);
    installed == wanted || (rpm && installed.starts_with(&format!("{wanted}-")))
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    refresh_lists(&d)?;
    let installed = installed_version(d.manager, &d.name)?;
    let mut plan = Plan::new(json!({
        "installed": installed.is_some(),
        "version": installed,
        "manager": d.manager.name(),
    }));
    let change = |from: Json, to: Json| AttrChange {
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

/// What to pass to the package manager to install `d`. dnf's `install`
/// leaves an installed package alone, so an upgrade to `latest` names the
/// version the probe found.
fn install_arg(d: &Desired, plan: &Plan) -> String {
    let upgrade_to = plan
        .changes
        .iter()
        .find(|c| c.attr == "version" && !c.from.is_null())
        .and_then(|c| c.to.as_str());
    if let (Manager::Dnf, None, "latest", Some(to)) =
        (d.manager, &d.version, d.state.as_str(), upgrade_to)
    {
        return format!("{}-{to}", d.name);
    }
    match (&d.version, d.manager) {
        (Some(v), Manager::Apt | Manager::Zypper) => format!("{}={v}", d.name),
        (Some(v), Manager::Dnf) => format!("{}-{v}", d.name),
        (Some(_), Manager::Pacman) | (None, _) => d.name.clone(),
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
                // Another apt or dpkg at work (unattended-upgrades, cloud-init,
                // a trigger still finishing): wait for it, as Ansible's
                // `lock_timeout`, instead of failing at once.
                "-o",
                "DPkg::Lock::Timeout=120",
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
        Manager::Zypper => {
            let mut c = Command::new("zypper");
            c.arg("-n");
            if install {
                // `--oldpackage` lets a pinned version go down too.
                c.args(["install", "--no-recommends", "--oldpackage"]);
            } else {
                c.arg("remove");
            }
            c
        }
        Manager::Pacman => {
            let mut c = Command::new("pacman");
            if install {
                c.args(["-S", "--needed"]);
            } else {
                c.arg("-R");
            }
            c.arg("--noconfirm");
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
        // zypper and pacman report some errors on stdout.
        let mut text = out.stderr.clone();
        text.extend_from_slice(&out.stdout);
        Err(format!(
            "{} {} failed ({}): {}",
            m.name(),
            if install { "install" } else { "remove" },
            out.status,
            tail(&text)
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
            install_arg(&d, &plan)
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
