//! `sysctl`: a kernel parameter, written live to `/proc/sys/…` and, with
//! `persist`, to `/etc/sysctl.d/60-mc-KEY.conf`. `absent` removes the
//! persisted file and leaves the live value alone.

use super::{Plan, Spec};
use crate::protocol::{Action, AttrChange};
use crate::sys;
use serde_json::{json, Value as Json};
use std::fs;
use std::path::Path;

pub const SYSCTL_DIR: &str = "/etc/sysctl.d";

struct Desired {
    key: String,
    value: Option<String>,
    present: bool,
    persist: bool,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let key = spec.str_or_title("key")?.to_string();
    let valid = key.contains('.')
        && key.split('.').all(|p| {
            !p.is_empty()
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        });
    if !valid {
        return Err(format!("invalid sysctl key {key:?}"));
    }
    let present = spec.choice("state", &["present", "absent"], "present")? == "present";
    let value = match spec.res.attrs.get("value") {
        Some(mc_ir::Value::Int(i)) => Some(i.to_string()),
        _ => spec.str("value")?.map(normalise),
    };
    if present && value.is_none() {
        return Err("`value` is required".into());
    }
    Ok(Desired {
        key,
        value,
        present,
        persist: spec.bool("persist", true)?,
    })
}

/// `sysctl` prints multi-valued keys separated by tabs; compare on single spaces.
fn normalise(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn proc_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

pub fn conf_path(key: &str) -> String {
    format!("{SYSCTL_DIR}/60-mc-{key}.conf")
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let live = fs::read_to_string(proc_path(&d.key))
        .map(|v| normalise(&v))
        .map_err(|e| format!("reading {}: {e}", proc_path(&d.key)))?;
    let persisted = fs::read_to_string(conf_path(&d.key)).ok();
    let mut plan = Plan::new(json!({"value": live, "persisted": persisted}));
    if !d.present {
        if persisted.is_some() {
            plan.action = Action::Delete;
            plan.changes.push(AttrChange {
                attr: "persist".into(),
                from: json!(true),
                to: Json::Null,
            });
        }
        return Ok(plan);
    }
    let want = d.value.clone().unwrap_or_default();
    if live != want {
        plan.change("value", live.as_str(), want.as_str());
    }
    if d.persist && persisted.as_deref() != Some(render(&d.key, &want).as_str()) {
        plan.change("persist", persisted.is_some(), true);
    }
    Ok(plan)
}

fn render(key: &str, value: &str) -> String {
    format!("# Managed by mc\n{key} = {value}\n")
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    if plan.action == Action::Delete {
        return fs::remove_file(conf_path(&d.key))
            .map_err(|e| format!("removing {}: {e}", conf_path(&d.key)));
    }
    let want = d.value.clone().unwrap_or_default();
    if plan.changes.iter().any(|c| c.attr == "value") {
        fs::write(proc_path(&d.key), &want)
            .map_err(|e| format!("writing {}: {e}", proc_path(&d.key)))?;
    }
    if plan.changes.iter().any(|c| c.attr == "persist") {
        fs::create_dir_all(SYSCTL_DIR).map_err(|e| format!("creating {SYSCTL_DIR}: {e}"))?;
        sys::atomic_write(
            Path::new(&conf_path(&d.key)),
            render(&d.key, &want).as_bytes(),
            Some(0o644),
            None,
            None,
        )
        .map_err(|e| format!("writing {}: {e}", conf_path(&d.key)))?;
    }
    Ok(())
}
