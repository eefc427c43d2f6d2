//! `service`: a systemd unit when systemd is running (PID 1), otherwise a
//! sysvinit script in `/etc/init.d/`.
//!
//! sysvinit: running means `/etc/init.d/NAME status` exits 0; enabled means a
//! start link `S??NAME` in one of `/etc/rc2.d` … `/etc/rc5.d`, managed with
//! `update-rc.d`.

use super::{describe, Outcome, Plan, Spec};
use crate::protocol::{Action, Status};
use crate::sys;
use serde_json::json;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// True when systemd is PID 1 and running.
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
        && fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
}

struct Desired {
    name: String,
    state: String,
    enabled: Option<bool>,
    on_notify: String,
    systemd: bool,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let name = spec.str_or_title("name")?.to_string();
    if name.is_empty() || name.contains('/') || name.starts_with('-') {
        return Err(format!("invalid service name {name:?}"));
    }
    Ok(Desired {
        state: spec.choice("state", &["running", "stopped", "unmanaged"], "running")?,
        enabled: spec.opt_bool("enabled")?,
        on_notify: spec.choice("on_notify", &["reload", "restart"], "restart")?,
        systemd: systemd_running(),
        name,
    })
}

fn init_script(name: &str) -> String {
    format!("/etc/init.d/{name}")
}

fn is_running(d: &Desired) -> Result<bool, String> {
    if d.systemd {
        Ok(sys::run("systemctl", &["is-active", "--quiet", &d.name])?
            .status
            .success())
    } else {
        Ok(sys::run(&init_script(&d.name), &["status"])?
            .status
            .success())
    }
}

fn is_enabled(d: &Desired) -> Result<bool, String> {
    if d.systemd {
        return Ok(sys::run("systemctl", &["is-enabled", "--quiet", &d.name])?
            .status
            .success());
    }
    for level in 2..=5 {
        let Ok(entries) = fs::read_dir(format!("/etc/rc{level}.d")) else {
            continue;
        };
        for e in entries.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            if f.starts_with('S') && f.get(3..) == Some(d.name.as_str()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn control(d: &Desired, verb: &str) -> Result<(), String> {
    if d.systemd {
        sys::run_ok("systemctl", &[verb, &d.name]).map(|_| ())
    } else {
        sys::run_ok(&init_script(&d.name), &[verb]).map(|_| ())
    }
}

fn set_enabled(d: &Desired, on: bool) -> Result<(), String> {
    if d.systemd {
        return sys::run_ok(
            "systemctl",
            &[if on { "enable" } else { "disable" }, &d.name],
        )
        .map(|_| ());
    }
    if on {
        // `defaults` creates the links if there are none; `enable` turns
        // existing K links back into S links.
        sys::run_ok("update-rc.d", &[&d.name, "defaults"])?;
        sys::run_ok("update-rc.d", &[&d.name, "enable"]).map(|_| ())
    } else {
        sys::run_ok("update-rc.d", &[&d.name, "disable"]).map(|_| ())
    }
}

/// After a reload or restart a daemon may briefly look stopped: sshd, for
/// one, re-executes itself on SIGHUP and forks a new PID, so its pid file
/// names a dead process for a moment. Bounded wait for `status` to agree.
fn wait_running(d: &Desired) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_running(d)? {
        if Instant::now() > deadline {
            return Err(format!("{} is not running after {}", d.name, d.on_notify));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn missing(d: &Desired) -> bool {
    !d.systemd && !Path::new(&init_script(d.name.as_str())).exists()
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    if missing(&d) {
        // The package that installs it usually comes earlier in the same
        // apply: plan the start instead of failing the whole plan.
        let mut plan = Plan::new(json!({"installed": false}));
        if d.state == "running" {
            plan.change("state", "not installed", "running");
        }
        if d.enabled == Some(true) {
            plan.change("enabled", false, true);
        }
        return Ok(plan);
    }
    let running = is_running(&d)?;
    let enabled = is_enabled(&d)?;
    let mut plan = Plan::new(json!({
        "running": running,
        "enabled": enabled,
        "init": if d.systemd { "systemd" } else { "sysvinit" },
    }));
    let state = |r: bool| if r { "running" } else { "stopped" };
    match d.state.as_str() {
        "running" if !running => plan.change("state", state(running), "running"),
        "stopped" if running => plan.change("state", state(running), "stopped"),
        _ => {}
    }
    if let Some(e) = d.enabled {
        if e != enabled {
            plan.change("enabled", enabled, e);
        }
    }
    Ok(plan)
}

pub fn apply(spec: &Spec, refresh: Option<mc_ir::RefreshAction>) -> Result<Outcome, String> {
    let d = desired(spec)?;
    let plan = probe(spec)?;
    if plan.action != Action::None && missing(&d) {
        return Err(format!(
            "no such service: {} (no {})",
            d.name,
            init_script(&d.name)
        ));
    }
    let mut did = Vec::new();
    for c in &plan.changes {
        match (c.attr.as_str(), c.to.as_str(), c.to.as_bool()) {
            ("state", Some("running"), _) => control(&d, "start")?,
            ("state", Some("stopped"), _) => control(&d, "stop")?,
            ("enabled", _, Some(on)) => set_enabled(&d, on)?,
            _ => {}
        }
    }
    if plan.action != Action::None {
        did.push(describe(&plan));
    }
    // A service just started has already read its new configuration.
    let started = plan.changes.iter().any(|c| c.attr == "state");
    let refresh = refresh.map(|asked| match asked {
        mc_ir::RefreshAction::OnNotify => d.on_notify.as_str(),
        other => other.name(),
    });
    if let Some(how) = refresh.filter(|_| !started && d.state != "stopped") {
        if is_running(&d)? {
            control(&d, how)?;
            did.push(format!("{}ed", how.trim_end_matches('e')));
            wait_running(&d)?;
        }
    }
    let after = probe(spec)?;
    if after.action != Action::None {
        return Err("did not converge: the service is still not in its desired state".into());
    }
    Ok(Outcome {
        status: if did.is_empty() {
            Status::Ok
        } else {
            Status::Changed
        },
        message: if did.is_empty() {
            "already in the desired state".into()
        } else {
            did.join("; ")
        },
        observed_digest: Some(after.digest()),
    })
}
