//! `link`: a symbolic link and its target.
//!
//! A regular file in the way is replaced only with `force`; a directory in
//! the way is never replaced. `absent` removes the link and refuses to remove
//! anything that is not a link.

use super::{Plan, Spec};
use crate::protocol::{Action, Change};
use crate::sys;
use serde_json::{json, Value as Json};
use std::fs;
use std::os::unix::fs::MetadataExt;
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

fn observe(path: &str) -> Result<Found, String> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::Nothing),
        Err(e) => Err(format!("{path}: {e}")),
        Ok(m) if m.file_type().is_symlink() => {
            let t = fs::read_link(path).map_err(|e| format!("{path}: {e}"))?;
            Ok(Found::Link {
                target: t.to_string_lossy().into_owned(),
                uid: m.uid(),
            })
        }
        Ok(m) if m.is_dir() => Ok(Found::Dir),
        Ok(_) => Ok(Found::File),
    }
}

fn change(attr: &str, from: impl Into<Json>, to: impl Into<Json>) -> Change {
    Change {
        attr: attr.into(),
        from: from.into(),
        to: to.into(),
    }
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let found = observe(&d.path)?;
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
    let path = Path::new(&d.path);
    if plan.action == Action::Delete {
        return fs::remove_file(path).map_err(|e| format!("removing {}: {e}", d.path));
    }
    if plan.changes.iter().any(|c| c.attr == "target") {
        let target = d.target.as_deref().unwrap_or_default();
        // Make the new link beside the old one and rename it over, so the
        // path never disappears.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = path
            .parent()
            .unwrap_or(Path::new("/"))
            .join(format!(".{name}.mc-tmp-{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp)
            .map_err(|e| format!("creating link {}: {e}", d.path))?;
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(format!("replacing {}: {e}", d.path));
        }
    }
    if let Some(o) = &d.owner {
        let uid = sys::uid_of(o)?;
        std::os::unix::fs::lchown(path, Some(uid), None)
            .map_err(|e| format!("chown {}: {e}", d.path))?;
    }
    Ok(())
}
