//! `directory`: a directory's existence, owner, group and mode.
//!
//! `recurse` (or its alias `force`) creates missing parents; with
//! `state = "absent"` it removes the whole tree. Without it, an absent
//! directory is only removed when empty, and the apply fails otherwise.

use super::file::{diff_ownership, ownership};
use super::{Plan, Spec};
use crate::protocol::{Action, AttrChange};
use crate::safe_fs::{self, PathAt};
use crate::sys;
use serde_json::{json, Value as Json};
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
    let at = PathAt::looking_at(Path::new(&d.path)).map_err(|e| e.to_string())?;
    let found = match &at {
        Some(at) => at.stat().map_err(|e| e.to_string())?,
        None => None,
    };
    let meta = match (found, &at) {
        (None, _) | (_, None) => None,
        (Some(st), Some(at)) if safe_fs::is_dir(&st) => Some(
            at.open_dir()
                .and_then(|dir| dir.metadata())
                .map_err(|e| e.to_string())?,
        ),
        (Some(_), Some(_)) => return Err(format!("{} exists and is not a directory", d.path)),
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
            plan.changes.push(AttrChange {
                attr: "state".into(),
                from: json!("present"),
                to: json!("absent"),
            });
        }
        (true, None) => {
            plan.action = Action::Create;
            plan.changes.push(AttrChange {
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
    let at = if plan.action == Action::Create && d.recurse {
        PathAt::creating_parents(path, 0o755)
    } else {
        PathAt::of(path)
    }
    .map_err(|e| e.to_string())?;
    match plan.action {
        Action::Delete if d.recurse => at
            .remove_tree()
            .map_err(|e| format!("removing {}: {e}", d.path)),
        Action::Delete => at.remove_dir().map_err(|e| {
            format!(
                "removing {}: {e} (set `recurse` to remove a non-empty directory)",
                d.path
            )
        }),
        Action::Create => {
            // Private until its owner and mode are set.
            at.mkdir(0o700)
                .map_err(|e| format!("creating {}: {e}", d.path))?;
            let own = ownership(
                d.owner.as_deref(),
                d.group.as_deref(),
                Some(d.mode.unwrap_or(0o755)),
            )?;
            at.set_ownership(own).map_err(|e| e.to_string())
        }
        _ => {
            let own = ownership(d.owner.as_deref(), d.group.as_deref(), d.mode)?;
            at.set_ownership(own).map_err(|e| e.to_string())
        }
    }
}
