//! `file`: a regular file's content, owner, group and mode.

use super::{unified_diff, Plan, Spec};
use crate::protocol::{sha256_hex, Action};
use crate::sys;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use serde_json::{json, Value as Json};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

/// Sets owner, group and mode of an existing path.
pub fn fix_ownership(
    path: &Path,
    owner: Option<&str>,
    group: Option<&str>,
    mode: Option<u32>,
) -> Result<(), String> {
    let uid = owner.map(sys::uid_of).transpose()?;
    let gid = group.map(sys::gid_of).transpose()?;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(path, uid, gid)
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    if let Some(m) = mode {
        fs::set_permissions(path, fs::Permissions::from_mode(m))
            .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A regular file found on disk: its metadata and content.
type Existing = (fs::Metadata, Vec<u8>);

fn observe(path: &str) -> Result<(Json, Option<Existing>), String> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Json::Null, None)),
        Err(e) => Err(format!("{path}: {e}")),
        Ok(meta) if meta.is_file() => {
            let data = fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
            let mut obs = sys::ownership_json(&meta);
            obs["type"] = json!("file");
            obs["sha256"] = json!(sha256_hex(&data));
            obs["size"] = json!(data.len());
            Ok((obs, Some((meta, data))))
        }
        Ok(meta) if meta.file_type().is_symlink() => Ok((json!({"type": "link"}), None)),
        Ok(meta) if meta.is_dir() => Err(format!("{path} is a directory, not a file")),
        Ok(_) => Err(format!("{path} is not a regular file")),
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

fn change(attr: &str, from: impl Into<Json>, to: impl Into<Json>) -> crate::protocol::Change {
    crate::protocol::Change {
        attr: attr.into(),
        from: from.into(),
        to: to.into(),
    }
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    let path = Path::new(&d.path);
    let old = fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .and_then(|_| fs::read(path).ok());
    if d.backup {
        if let Some(old) = &old {
            if plan
                .changes
                .iter()
                .any(|c| c.attr == "content" || c.attr == "state")
            {
                sys::backup(&d.path, old, spec.retention()?)
                    .map_err(|e| format!("backing up {}: {e}", d.path))?;
            }
        }
    }
    if !d.present {
        return fs::remove_file(path).map_err(|e| format!("removing {}: {e}", d.path));
    }
    let rewrite = plan.action == Action::Create
        || plan
            .changes
            .iter()
            .any(|c| c.attr == "content" || c.attr == "state");
    if rewrite {
        let data: Vec<u8> = match &d.content {
            Some(c) => c.require()?.to_vec(),
            None => old.clone().unwrap_or_default(),
        };
        let meta = fs::metadata(path).ok();
        let mode = d
            .mode
            .or(meta.as_ref().map(|m| m.mode() & 0o7777))
            .unwrap_or(0o644);
        let uid = match &d.owner {
            Some(o) => Some(sys::uid_of(o)?),
            None => meta.as_ref().map(|m| m.uid()),
        };
        let gid = match &d.group {
            Some(g) => Some(sys::gid_of(g)?),
            None => meta.as_ref().map(|m| m.gid()),
        };
        if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(path).map_err(|e| format!("removing link {}: {e}", d.path))?;
        }
        sys::atomic_write(path, &data, Some(mode), uid, gid)
            .map_err(|e| format!("writing {}: {e}", d.path))
    } else {
        fix_ownership(path, d.owner.as_deref(), d.group.as_deref(), d.mode)
    }
}
