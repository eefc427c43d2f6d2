//! `systemd_unit`: a unit file in `/etc/systemd/system/`, then
//! `systemctl daemon-reload` when it changed, so systemd reads it before the
//! matching `service` refreshes (the compiler adds that notify edge).
//!
//! Where systemd is not PID 1 (containers, the test hosts) the unit file is
//! still managed and the reload is reported as skipped, with the reason, in
//! the resource's message.

use super::service::systemd_running;
use super::{unified_diff, Outcome, Plan, Spec};
use crate::protocol::{sha256_hex, Action, AttrChange, Status};
use crate::sys;
use serde_json::{json, Value as Json};
use std::fs;
use std::path::Path;

pub const UNIT_DIR: &str = "/etc/systemd/system";

const UNIT_SUFFIXES: [&str; 11] = [
    ".service",
    ".socket",
    ".timer",
    ".mount",
    ".automount",
    ".path",
    ".target",
    ".slice",
    ".scope",
    ".swap",
    ".device",
];

struct Desired {
    name: String,
    content: Option<String>,
    present: bool,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let name = spec.str_or_title("name")?.to_string();
    let valid = UNIT_SUFFIXES.iter().any(|s| name.ends_with(s))
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c));
    if !valid {
        return Err(format!(
            "invalid unit name {name:?}: expected a name like `app.service` or `backup.timer`"
        ));
    }
    let present = spec.choice("state", &["present", "absent"], "present")? == "present";
    let content = spec.str("content")?.map(str::to_string);
    if present && content.is_none() {
        return Err("`content` is required".into());
    }
    Ok(Desired {
        name,
        content,
        present,
    })
}

fn unit_path(name: &str) -> String {
    format!("{UNIT_DIR}/{name}")
}

fn change(attr: &str, from: impl Into<Json>, to: impl Into<Json>) -> AttrChange {
    AttrChange {
        attr: attr.into(),
        from: from.into(),
        to: to.into(),
    }
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let path = unit_path(&d.name);
    let old = match fs::read(&path) {
        Ok(data) => Some(data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("reading {path}: {e}")),
    };
    let mut plan = Plan::new(match &old {
        Some(data) => json!({"sha256": sha256_hex(data)}),
        None => Json::Null,
    });
    match (d.present, &old, &d.content) {
        (false, None, _) => {}
        (false, Some(_), _) => {
            plan.action = Action::Delete;
            plan.changes.push(change("state", "present", "absent"));
        }
        (true, None, Some(want)) => {
            plan.action = Action::Create;
            plan.changes.push(change(
                "content",
                Json::Null,
                format!("sha256:{}", sha256_hex(want)),
            ));
            plan.content_diff = unified_diff(&path, b"", want.as_bytes());
        }
        (true, Some(have), Some(want)) if have != want.as_bytes() => {
            plan.change(
                "content",
                format!("sha256:{}", sha256_hex(have)),
                format!("sha256:{}", sha256_hex(want)),
            );
            plan.content_diff = unified_diff(&path, have, want.as_bytes());
        }
        _ => {}
    }
    Ok(plan)
}

pub fn apply(spec: &Spec) -> Result<Outcome, String> {
    let d = desired(spec)?;
    let plan = probe(spec)?;
    if plan.action == Action::None {
        return Ok(Outcome {
            status: Status::Ok,
            message: "already in the desired state".into(),
            observed_digest: Some(plan.digest()),
        });
    }
    let path = unit_path(&d.name);
    match &d.content {
        Some(content) if d.present => {
            fs::create_dir_all(UNIT_DIR).map_err(|e| format!("creating {UNIT_DIR}: {e}"))?;
            sys::atomic_write(
                Path::new(&path),
                content.as_bytes(),
                Some(0o644),
                None,
                None,
            )
            .map_err(|e| format!("writing {path}: {e}"))?;
        }
        _ => fs::remove_file(&path).map_err(|e| format!("removing {path}: {e}"))?,
    }
    let after = probe(spec)?;
    if after.action != Action::None {
        return Err("did not converge: the unit file still differs".into());
    }
    Ok(Outcome {
        status: Status::Changed,
        message: format!("{}; {}", super::describe(&plan), daemon_reload()?),
        observed_digest: Some(after.digest()),
    })
}

/// Makes systemd read the changed unit files, or says why it did not.
fn daemon_reload() -> Result<String, String> {
    if !systemd_running() {
        return Ok("daemon-reload skipped: systemd is not running as PID 1 on this host".into());
    }
    sys::run_ok("systemctl", &["daemon-reload"])?;
    Ok("daemon-reload done".into())
}
