//! `directory`: a directory's existence, owner, group and mode.
//!
//! `recurse` (or its alias `force`) creates missing parents; with
//! `state = "absent"` it removes the whole tree. Without it, an absent
//! directory is only removed when empty, and the apply fails otherwise.

use super::file::{diff_ownership, fix_ownership};
use super::{Plan, Spec};
use crate::protocol::{Action, Change};
use crate::sys;
use serde_json::{json, Value as Json};
use std::fs;
use std::path::Path;

struct Desired {
    path: String,
    present: bool,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<u32>,
    recurse: bool,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let path = spec.str_or_title("path")?.trim_end_matches('/').to_string();
    if !path.starts_with('/') {
        return Err("`path` must be absolute and not `/`".into());
    }
    Ok(Desired {
        present: spec.choice("state", &["present", "absent"], "present")? == "present",
        owner: spec.str("owner")?.map(str::to_string),
        group: spec.str("group")?.map(str::to_string),
        mode: spec.mode()?,
        recurse: spec.bool("recurse", false)? || spec.bool("force", false)?,
        path,
    })
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let meta = match fs::symlink_metadata(&d.path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", d.path)),
        Ok(m) if m.is_dir() => Some(m),
        Ok(_) => return Err(format!("{} exists and is not a directory", d.path)),
    };
    let observed = match &meta {
        None => Json::Null,
        Some(m) => {
            let mut o = sys::ownership_json(m);
            o["type"] = json!("directory");
            o
        }
    };
    let mut plan = Plan::new(observed);
    match (d.present, meta) {
        (false, None) => {}
        (false, Some(_)) => {
            plan.action = Action::Delete;
            plan.changes.push(Change {
                attr: "state".into(),
                from: json!("present"),
                to: json!("absent"),
            });
        }
        (true, None) => {
            plan.action = Action::Create;
            plan.changes.push(Change {
                attr: "state".into(),
                from: Json::Null,
                to: json!("present"),
            });
        }
        (true, Some(m)) => diff_ownership(
            &mut plan,
            &m,
            d.owner.as_deref(),
            d.group.as_deref(),
            d.mode,
        )?,
    }
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    let path = Path::new(&d.path);
    match plan.action {
        Action::Delete if d.recurse => {
            fs::remove_dir_all(path).map_err(|e| format!("removing {}: {e}", d.path))
        }
        Action::Delete => fs::remove_dir(path).map_err(|e| {
            format!(
                "removing {}: {e} (set `recurse` to remove a non-empty directory)",
                d.path
            )
        }),
        Action::Create => {
            let made = if d.recurse {
                fs::create_dir_all(path)
            } else {
                fs::create_dir(path)
            };
            made.map_err(|e| format!("creating {}: {e}", d.path))?;
            fix_ownership(
                path,
                d.owner.as_deref(),
                d.group.as_deref(),
                Some(d.mode.unwrap_or(0o755)),
            )
        }
        _ => fix_ownership(path, d.owner.as_deref(), d.group.as_deref(), d.mode),
    }
}
