//! `link`: a symbolic link and its target.
//!
//! A regular file in the way is replaced only with `force`; a directory in
//! the way is never replaced. `absent` removes the link and refuses to remove
//! anything that is not a link.

use super::{Plan, Spec};
use crate::protocol::{Action, AttrChange};
use crate::safe_fs::{self, PathAt};
use crate::sys;
use serde_json::{json, Value as Json};
use std::path::Path;

struct Desired {
    path: String,
    present: bool,
    target: Option<String>,
    owner: Option<String>,
    force: bool,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let path = spec.str_or_title("path")?.to_string();
    if !path.starts_with('/') {
        return Err(format!("`path` must be absolute, got {path:?}"));
    }
    let present = spec.choice("state", &["present", "absent"], "present")? == "present";
    let target = spec.str("target")?.map(str::to_string);
    if present && target.is_none() {
        return Err("`target` is required".into());
    }
    Ok(Desired {
        path,
        present,
        target,
        owner: spec.str("owner")?.map(str::to_string),
        force: spec.bool("force", false)?,
    })
}

enum Found {
    Nothing,
    Link { target: String, uid: u32 },
    File,
    Dir,
}

fn observe(at: &Option<PathAt>) -> Result<Found, String> {
    let Some(at) = at else {
        return Ok(Found::Nothing);
    };
    match at.stat().map_err(|e| e.to_string())? {
        None => Ok(Found::Nothing),
        Some(st) if safe_fs::is_link(&st) => {
            let t = at.read_link().map_err(|e| e.to_string())?;
            Ok(Found::Link {
                target: t.to_string_lossy().into_owned(),
                uid: st.st_uid,
            })
        }
        Some(st) if safe_fs::is_dir(&st) => Ok(Found::Dir),
        Some(_) => Ok(Found::File),
    }
}

fn place(path: &str) -> Result<Option<PathAt>, String> {
    PathAt::looking_at(Path::new(path)).map_err(|e| e.to_string())
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
    let found = observe(&place(&d.path)?)?;
    let observed = match &found {
        Found::Nothing => Json::Null,
        Found::Link { target, uid } => {
            json!({"type": "link", "target": target, "owner": sys::user_name(*uid)})
        }
        Found::File => json!({"type": "file"}),
        Found::Dir => json!({"type": "directory"}),
    };
    let mut plan = Plan::new(observed);
    let target = d.target.clone().unwrap_or_default();
    match (d.present, found) {
        (false, Found::Nothing) => {}
        (false, Found::Link { .. }) => {
            plan.action = Action::Delete;
            plan.changes.push(change("state", "present", "absent"));
        }
        (false, _) => return Err(format!("{} exists and is not a link", d.path)),
        (true, Found::Dir) => return Err(format!("{} is a directory", d.path)),
        (true, Found::File) if !d.force => {
            return Err(format!(
                "{} is a regular file (set `force` to replace it)",
                d.path
            ))
        }
        (true, Found::File) => {
            plan.change("target", "(file)", target);
        }
        (true, Found::Nothing) => {
            plan.action = Action::Create;
            plan.changes.push(change("target", Json::Null, target));
        }
        (true, Found::Link { target: cur, uid }) => {
            if cur != target {
                plan.change("target", cur, target);
            }
            if let Some(o) = &d.owner {
                if sys::uid_of(o).ok() != Some(uid) {
                    plan.change("owner", sys::user_name(uid), o.as_str());
                }
            }
        }
    }
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    let found = place(&d.path)?;
    let at = found
        .as_ref()
        .ok_or_else(|| format!("{}: the directory does not exist", d.path))?;
    if plan.action == Action::Delete {
        // Only a link goes, whatever was swapped in since the probe.
        if !matches!(observe(&found)?, Found::Link { .. }) {
            return Err(format!("{} exists and is not a link", d.path));
        }
        return at
            .remove_file()
            .map_err(|e| format!("removing {}: {e}", d.path));
    }
    if plan.changes.iter().any(|c| c.attr == "target") {
        if matches!(observe(&found)?, Found::Dir) {
            return Err(format!("{} is a directory", d.path));
        }
        at.set_link(d.target.as_deref().unwrap_or_default())
            .map_err(|e| format!("replacing {}: {e}", d.path))?;
    }
    if let Some(o) = &d.owner {
        at.set_link_owner(sys::uid_of(o)?)
            .map_err(|e| format!("chown {}: {e}", d.path))?;
    }
    Ok(())
}
