//! `git`: a working copy at `path` of `repo` checked out at `ref` (a
//! branch, a tag or a commit), with the host's `git`.
//!
//! The probe resolves `ref` on the remote with `git ls-remote` (a full
//! commit hash resolves to itself), so a plan shows the old and the new
//! commit. The apply clones into a temporary directory beside `path` and
//! renames it into place, or fetches into the existing copy, then checks the
//! commit out as a detached HEAD (as Ansible does): HEAD is exactly the
//! commit asked for. Local changes in the working copy are never thrown away
//! unless `force` is set.

use super::{Plan, Spec};
use crate::protocol::{Action, AttrChange};
use crate::sys;
use serde_json::{json, Value as Json};
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

struct Desired {
    path: String,
    repo: String,
    reference: String,
    present: bool,
    force: bool,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let path = spec.str_or_title("path")?.to_string();
    if !path.starts_with('/') || path == "/" {
        return Err(format!(
            "`path` must be an absolute directory, got {path:?}"
        ));
    }
    let repo = spec.str("repo")?.ok_or("`repo` is required")?.to_string();
    let reference = spec.str_or("ref", "HEAD")?.to_string();
    // Both reach git's command line: an option-looking value could change
    // what git does.
    for (attr, v) in [("repo", &repo), ("ref", &reference)] {
        if v.starts_with('-') || v.is_empty() {
            return Err(format!(
                "`{attr}` cannot be empty or start with '-', got {v:?}"
            ));
        }
    }
    Ok(Desired {
        present: spec.choice("state", &["present", "absent"], "present")? == "present",
        force: spec.bool("force", false)?,
        path,
        repo,
        reference,
    })
}

/// Runs git with a fixed environment: no prompts, no user config, and the
/// working copy trusted whoever owns it.
fn git(dir: Option<&str>, args: &[&str]) -> Result<String, String> {
    if !sys::have("git") {
        return Err("git is not installed on the host (declare `package \"git\"`)".into());
    }
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.args(["-C", d]);
    }
    let out = cmd
        .args(["-c", "safe.directory=*", "-c", "advice.detachedHead=false"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "git {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn is_commit_hash(r: &str) -> bool {
    r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `ref` names on the remote. An annotated tag resolves to the
/// commit it points to.
fn resolve(d: &Desired) -> Result<String, String> {
    if is_commit_hash(&d.reference) {
        return Ok(d.reference.to_ascii_lowercase());
    }
    // The peeled pattern is needed: `v1` alone does not list `v1^{}`.
    let peeled = format!("{}^{{}}", d.reference);
    let out = git(None, &["ls-remote", "--", &d.repo, &d.reference, &peeled])?;
    let mut found: Option<(u8, String)> = None;
    for line in out.lines() {
        let Some((commit, name)) = line.split_once('\t') else {
            continue;
        };
        // Peeled tags first, then branches, then anything else that matched.
        let rank = if name == format!("refs/tags/{}^{{}}", d.reference) {
            0
        } else if name == format!("refs/heads/{}", d.reference) || name == d.reference {
            1
        } else if name == format!("refs/tags/{}", d.reference) {
            2
        } else {
            continue;
        };
        if found.as_ref().is_none_or(|(r, _)| rank < *r) {
            found = Some((rank, commit.to_string()));
        }
    }
    found
        .map(|(_, c)| c)
        .ok_or_else(|| format!("{} has no branch or tag {:?}", d.repo, d.reference))
}

/// (HEAD commit, origin URL, local changes) of an existing working copy.
fn working_copy(path: &str) -> Result<(String, String, bool), String> {
    let head = git(Some(path), &["rev-parse", "HEAD"])
        .map_err(|e| format!("{path} is not a git working copy: {e}"))?;
    let origin = git(Some(path), &["config", "--get", "remote.origin.url"]).unwrap_or_default();
    let dirty = !git(
        Some(path),
        &["status", "--porcelain", "--untracked-files=no"],
    )?
    .is_empty();
    Ok((head, origin, dirty))
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
    let exists = fs::symlink_metadata(&d.path).is_ok();
    if !exists {
        let mut plan = Plan::new(Json::Null);
        if d.present {
            plan.action = Action::Create;
            plan.changes
                .push(change("commit", Json::Null, resolve(&d)?));
        }
        return Ok(plan);
    }
    let (head, origin, dirty) = working_copy(&d.path)?;
    let mut plan = Plan::new(json!({"commit": head, "repo": origin, "dirty": dirty}));
    if !d.present {
        plan.action = Action::Delete;
        plan.changes.push(change("state", "present", "absent"));
        return Ok(plan);
    }
    if origin != d.repo {
        plan.change("repo", origin.as_str(), d.repo.as_str());
    }
    let target = resolve(&d)?;
    if head != target {
        plan.change("commit", head.as_str(), target.as_str());
    }
    if dirty && d.force {
        plan.change("local_changes", true, false);
    }
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    if plan.action == Action::Delete {
        return fs::remove_dir_all(&d.path).map_err(|e| format!("removing {}: {e}", d.path));
    }
    let target = resolve(&d)?;
    if plan.action == Action::Create {
        return clone_into_place(&d, &target);
    }
    let (_, _, dirty) = working_copy(&d.path)?;
    if dirty && !d.force {
        return Err(format!(
            "{} has local changes; commit them elsewhere or set `force = true` to discard them",
            d.path
        ));
    }
    git(Some(&d.path), &["remote", "set-url", "origin", &d.repo])?;
    fetch(&d.path, &target)?;
    checkout(&d.path, &target)
}

/// Fetches branches and tags, plus the commit itself when it is not on one.
fn fetch(path: &str, target: &str) -> Result<(), String> {
    git(Some(path), &["fetch", "--quiet", "--tags", "origin"])?;
    if git(
        Some(path),
        &["cat-file", "-e", &format!("{target}^{{commit}}")],
    )
    .is_err()
    {
        git(Some(path), &["fetch", "--quiet", "origin", target])?;
    }
    Ok(())
}

fn checkout(path: &str, target: &str) -> Result<(), String> {
    git(
        Some(path),
        &["checkout", "--quiet", "--force", "--detach", target],
    )?;
    Ok(())
}

/// Clones beside `path` and renames into place, so `path` never holds half
/// a clone.
fn clone_into_place(d: &Desired, target: &str) -> Result<(), String> {
    let path = Path::new(&d.path);
    let parent = path.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.mc-clone-{}", std::process::id()));
    let tmp_str = tmp.display().to_string();
    let _ = fs::remove_dir_all(&tmp);
    let result = git(
        None,
        &["clone", "--quiet", "--no-checkout", "--", &d.repo, &tmp_str],
    )
    .and_then(|_| fetch(&tmp_str, target))
    .and_then(|()| checkout(&tmp_str, target))
    .and_then(|()| fs::rename(&tmp, path).map_err(|e| format!("renaming into {}: {e}", d.path)));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}
