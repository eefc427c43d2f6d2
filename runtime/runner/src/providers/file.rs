//! `file`: a regular file's content, owner, group and mode.

use super::{unified_diff, Plan, Spec};
use crate::protocol::{sha256_hex, Action};
use crate::safe_fs::{Ownership, PathAt};
use crate::sys;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use serde_json::{json, Value as Json};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

struct Desired {
    path: String,
    present: bool,
    content: Option<Content>,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<u32>,
    backup: bool,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let path = spec.str_or_title("path")?.to_string();
    if !path.starts_with('/') {
        return Err(format!("`path` must be absolute, got {path:?}"));
    }
    // Checked here so bad values fail the probe, not the apply.
    spec.retention()?;
    let content = match spec.str("content_base64")? {
        Some(encoded) => {
            Some(Content::Binary(BASE64.decode(encoded).map_err(|e| {
                format!("`content_base64` is not base64: {e}")
            })?))
        }
        None => spec.text("content")?.map(Content::Text),
    };
    if let Some(v) = spec.str("validate")? {
        if !v.contains("%s") {
            return Err(format!(
                "`validate` must name the candidate file as %s, e.g. \"visudo -cf %s\"; got {v:?}"
            ));
        }
    }
    if content.is_none() && spec.str("source")?.is_some() {
        return Err("`source` must be inlined into `content` by the compiler".into());
    }
    Ok(Desired {
        present: spec.choice("state", &["present", "absent"], "present")? == "present",
        content,
        owner: spec.str("owner")?.map(str::to_string),
        group: spec.str("group")?.map(str::to_string),
        mode: spec.mode()?,
        backup: spec.bool("backup", true)?,
        path,
    })
}

/// The desired content: text (which may be a secret), or the bytes of a
/// `source` file that is not UTF-8 (the compiler sends those as
/// `content_base64`).
enum Content {
    Text(super::Text),
    Binary(Vec<u8>),
}

impl Content {
    fn matches(&self, data: &[u8]) -> bool {
        match self {
            Content::Text(t) => t.matches(data),
            Content::Binary(b) => b == data,
        }
    }

    fn sensitive(&self) -> bool {
        matches!(self, Content::Text(t) if t.sensitive)
    }

    /// How the new content appears in a change: its digest, or the secret
    /// placeholder.
    fn shown(&self) -> Json {
        match self {
            Content::Text(t) if t.sensitive => t.shown(),
            Content::Text(t) => json!(format!("sha256:{}", t.digest)),
            Content::Binary(b) => json!(format!("sha256:{}", sha256_hex(b))),
        }
    }

    /// The plain bytes, for the plan's diff and for writing.
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Content::Text(t) => t.value.as_deref().map(str::as_bytes),
            Content::Binary(b) => Some(b),
        }
    }

    fn require(&self) -> Result<&[u8], String> {
        match self {
            Content::Text(t) => t.require("content").map(str::as_bytes),
            Content::Binary(b) => Ok(b),
        }
    }
}

/// A text diff, or for content that is not text one line naming the
/// digests (`old` is `None` for a new file).
fn content_diff(path: &str, old: Option<&[u8]>, new: &[u8]) -> String {
    let short = |data: &[u8]| sha256_hex(data)[..12].to_string();
    match old {
        None => unified_diff(path, b"", new).unwrap_or_else(|| {
            format!(
                "binary content (sha256 {}…, {} bytes)",
                short(new),
                new.len()
            )
        }),
        Some(old) => unified_diff(path, old, new).unwrap_or_else(|| {
            format!(
                "binary content changed (sha256 {}… → {}…, {} → {} bytes)",
                short(old),
                short(new),
                old.len(),
                new.len()
            )
        }),
    }
}

/// Ownership changes shared by file, directory: compares owner, group and
/// mode of existing metadata with the desired ones.
pub fn diff_ownership(
    plan: &mut Plan,
    meta: &fs::Metadata,
    owner: Option<&str>,
    group: Option<&str>,
    mode: Option<u32>,
) -> Result<(), String> {
    if let Some(o) = owner {
        if sys::uid_of(o).ok() != Some(meta.uid()) {
            plan.change("owner", sys::user_name(meta.uid()), o);
        }
    }
    if let Some(g) = group {
        if sys::gid_of(g).ok() != Some(meta.gid()) {
            plan.change("group", sys::group_name(meta.gid()), g);
        }
    }
    if let Some(m) = mode {
        if meta.mode() & 0o7777 != m {
            plan.change("mode", sys::mode_string(meta.mode()), sys::mode_string(m));
        }
    }
    Ok(())
}

/// Sets owner, group and mode of an existing file or directory, without
/// following a symbolic link at the path (see [`crate::safe_fs`]).
pub fn fix_ownership(
    path: &Path,
    owner: Option<&str>,
    group: Option<&str>,
    mode: Option<u32>,
) -> Result<(), String> {
    let own = ownership(owner, group, mode)?;
    PathAt::of(path)
        .and_then(|at| at.set_ownership(own))
        .map_err(|e| format!("setting owner and mode: {e}"))
}

/// Owner and group names resolved to ids.
pub fn ownership(
    owner: Option<&str>,
    group: Option<&str>,
    mode: Option<u32>,
) -> Result<Ownership, String> {
    Ok(Ownership {
        uid: owner.map(sys::uid_of).transpose()?,
        gid: group.map(sys::gid_of).transpose()?,
        mode,
    })
}

/// A regular file found on disk: its metadata and content.
type Existing = (fs::Metadata, Vec<u8>);

/// What is at the path: a regular file (read through a handle that did
/// not follow a link), a symbolic link (never followed), or nothing.
fn observe(path: &str) -> Result<(Json, Option<Existing>), String> {
    let Some(at) = PathAt::looking_at(Path::new(path)).map_err(|e| e.to_string())? else {
        return Ok((Json::Null, None));
    };
    match at.read_regular().map_err(|e| e.to_string())? {
        Some((meta, data)) => {
            let mut obs = sys::ownership_json(&meta);
            obs["type"] = json!("file");
            obs["sha256"] = json!(sha256_hex(&data));
            obs["size"] = json!(data.len());
            Ok((obs, Some((meta, data))))
        }
        None if at.is_link().map_err(|e| e.to_string())? => Ok((json!({"type": "link"}), None)),
        None => Ok((Json::Null, None)),
    }
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let (observed, existing) = observe(&d.path)?;
    let mut plan = Plan::new(observed.clone());
    let content_to = d.content.as_ref().map(Content::shown);
    match (d.present, existing) {
        (false, None) if observed.is_null() => {}
        (false, _) => {
            plan.action = Action::Delete;
            plan.changes.push(change("state", "present", "absent"));
        }
        (true, None) => {
            // Nothing there, or a symlink in the way (replaced by the file).
            plan.action = if observed.is_null() {
                Action::Create
            } else {
                Action::Update
            };
            plan.changes.push(change(
                "state",
                if observed.is_null() {
                    Json::Null
                } else {
                    json!("link")
                },
                "present",
            ));
            if let Some(to) = content_to {
                plan.changes.push(change("content", Json::Null, to));
            }
            if let Some(c) = d.content.as_ref().filter(|c| !c.sensitive()) {
                plan.content_diff = c.bytes().map(|new| content_diff(&d.path, None, new));
            }
            for (attr, v) in [("owner", &d.owner), ("group", &d.group)] {
                if let Some(v) = v {
                    plan.changes.push(change(attr, Json::Null, v.as_str()));
                }
            }
            if let Some(m) = d.mode {
                plan.changes
                    .push(change("mode", Json::Null, sys::mode_string(m)));
            }
        }
        (true, Some((meta, data))) => {
            if let Some(c) = &d.content {
                if !c.matches(&data) {
                    let from = if c.sensitive() {
                        c.shown()
                    } else {
                        json!(format!("sha256:{}", sha256_hex(&data)))
                    };
                    plan.change("content", from, content_to.unwrap_or(Json::Null));
                    if !c.sensitive() {
                        plan.content_diff =
                            c.bytes().map(|new| content_diff(&d.path, Some(&data), new));
                    }
                }
            }
            diff_ownership(
                &mut plan,
                &meta,
                d.owner.as_deref(),
                d.group.as_deref(),
                d.mode,
            )?;
        }
    }
    Ok(plan)
}

fn change(attr: &str, from: impl Into<Json>, to: impl Into<Json>) -> crate::protocol::AttrChange {
    crate::protocol::AttrChange {
        attr: attr.into(),
        from: from.into(),
        to: to.into(),
    }
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    let path = Path::new(&d.path);
    let at = PathAt::of(path).map_err(|e| e.to_string())?;
    // Only a regular file counts: a symbolic link gives neither content nor
    // owner nor mode.
    let old = at.read_regular().map_err(|e| e.to_string())?;
    if d.backup {
        if let Some((_, data)) = &old {
            if plan
                .changes
                .iter()
                .any(|c| c.attr == "content" || c.attr == "state")
            {
                sys::backup(&d.path, data, spec.retention()?)
                    .map_err(|e| format!("backing up {}: {e}", d.path))?;
            }
        }
    }
    if !d.present {
        return at
            .remove_file()
            .map_err(|e| format!("removing {}: {e}", d.path));
    }
    let rewrite = plan.action == Action::Create
        || plan
            .changes
            .iter()
            .any(|c| c.attr == "content" || c.attr == "state");
    if !rewrite {
        return fix_ownership(path, d.owner.as_deref(), d.group.as_deref(), d.mode);
    }
    let meta = old.as_ref().map(|(m, _)| m);
    let data: Vec<u8> = match &d.content {
        Some(c) => c.require()?.to_vec(),
        None => old.as_ref().map(|(_, b)| b.clone()).unwrap_or_default(),
    };
    let own = Ownership {
        mode: Some(d.mode.or(meta.map(|m| m.mode() & 0o7777)).unwrap_or(0o644)),
        uid: match &d.owner {
            Some(o) => Some(sys::uid_of(o)?),
            None => meta.map(|m| m.uid()),
        },
        gid: match &d.group {
            Some(g) => Some(sys::gid_of(g)?),
            None => meta.map(|m| m.gid()),
        },
    };
    match spec.str("validate")? {
        None => at
            .write(&data, own)
            .map_err(|e| format!("writing {}: {e}", d.path)),
        Some(check) => at
            .write_checked(&data, own, |candidate| validate(check, candidate))
            .map_err(|e| format!("writing {}: {e}", d.path)),
    }
}

/// Runs `validate` with `%s` replaced by the candidate file (as Ansible's
/// `validate`): the new content replaces the file only when it exits 0.
fn validate(command: &str, candidate: &Path) -> Result<(), String> {
    let quoted = format!("'{}'", candidate.to_string_lossy().replace('\'', r"'\''"));
    let line = command.replace("%s", &quoted);
    let out = sys::run("sh", &["-c", &line])?;
    if out.status.success() {
        return Ok(());
    }
    let mut why = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if why.is_empty() {
        why = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(format!(
        "`{command}` refused the new content ({}){}{why}",
        out.status,
        if why.is_empty() { "" } else { ": " }
    ))
}
