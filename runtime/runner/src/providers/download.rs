//! `download`: a file fetched from an http(s) URL, identified by its
//! SHA-256. The probe hashes the file on disk and never touches the
//! network; the apply streams the body into a temporary file next to the
//! destination, checks the checksum, then renames it into place, so the
//! destination is either the old file or the complete, verified new one.

use super::file::{diff_ownership, fix_ownership};
use super::{Plan, Spec};
use crate::protocol::{Action, AttrChange};
use crate::safe_fs::{self, Ownership, PathAt};
use crate::sys;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

struct Desired {
    path: String,
    url: String,
    sha256: String,
    present: bool,
    owner: Option<String>,
    group: Option<String>,
    mode: Option<u32>,
    timeout: Duration,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let path = spec.str_or_title("path")?.to_string();
    if !path.starts_with('/') {
        return Err(format!("`path` must be absolute, got {path:?}"));
    }
    let url = spec.str("url")?.ok_or("`url` is required")?.to_string();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "`url` must start with http:// or https://, got {url:?}"
        ));
    }
    let sha256 = spec
        .str("sha256")?
        .ok_or("`sha256` is required")?
        .to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`sha256` must be 64 hex digits, got {sha256:?}"));
    }
    let timeout = spec.int("timeout")?.unwrap_or(300);
    Ok(Desired {
        present: spec.choice("state", &["present", "absent"], "present")? == "present",
        owner: spec.str("owner")?.map(str::to_string),
        group: spec.str("group")?.map(str::to_string),
        mode: spec.mode()?,
        timeout: sys::seconds(timeout.max(1)),
        path,
        url,
        sha256,
    })
}

/// The SHA-256 of a file, read in chunks (downloads and archives can be
/// large).
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hex(&hasher.finalize())),
            n => hasher.update(&buf[..n]),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    let meta = match fs::symlink_metadata(&d.path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", d.path)),
        Ok(m) if m.is_file() => Some(m),
        Ok(_) => return Err(format!("{} exists and is not a regular file", d.path)),
    };
    let Some(meta) = meta else {
        let mut plan = Plan::new(Json::Null);
        if d.present {
            plan.action = Action::Create;
            plan.changes
                .push(change("sha256", Json::Null, d.sha256.as_str()));
            plan.changes.push(change("url", Json::Null, d.url.as_str()));
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
        return Ok(plan);
    };
    let have = file_sha256(Path::new(&d.path)).map_err(|e| format!("reading {}: {e}", d.path))?;
    let mut observed = sys::ownership_json(&meta);
    observed["sha256"] = json!(have);
    observed["size"] = json!(meta.size());
    let mut plan = Plan::new(observed);
    if !d.present {
        plan.action = Action::Delete;
        plan.changes.push(change("state", "present", "absent"));
        return Ok(plan);
    }
    if have != d.sha256 {
        plan.change("sha256", have.as_str(), d.sha256.as_str());
    }
    diff_ownership(
        &mut plan,
        &meta,
        d.owner.as_deref(),
        d.group.as_deref(),
        d.mode,
    )?;
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    let path = Path::new(&d.path);
    if plan.action == Action::Delete {
        return PathAt::of(path)
            .and_then(|at| at.remove_file())
            .map_err(|e| format!("removing {}: {e}", d.path));
    }
    if plan.changes.iter().any(|c| c.attr == "sha256") {
        fetch_into_place(&d)
    } else {
        fix_ownership(path, d.owner.as_deref(), d.group.as_deref(), d.mode)
    }
}

/// Follows redirects; HTTPS trusts the host's system store, like
/// `http_check`.
fn agent(d: &Desired) -> Result<ureq::Agent, String> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(d.timeout))
        .user_agent("mc-runner");
    if d.url.starts_with("https://") {
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(super::http_check::root_certs(None)?)
                .build(),
        );
    }
    Ok(config.build().new_agent())
}

/// Streams the URL into a temporary file beside the destination (see
/// [`crate::safe_fs`]), checks the checksum, sets owner and mode, then
/// renames it over the destination.
fn fetch_into_place(d: &Desired) -> Result<(), String> {
    let at = PathAt::of(Path::new(&d.path)).map_err(|e| e.to_string())?;
    let old = at
        .open_regular()
        .and_then(|f| f.map(|f| f.metadata()).transpose())
        .map_err(|e| e.to_string())?;
    let (mut out, tmp) = at
        .create_temp()
        .map_err(|e| format!("creating a temp file: {e}"))?;
    let result = download_to(d, &mut out, old.as_ref()).and_then(|()| {
        at.commit(&tmp)
            .map_err(|e| format!("renaming into {}: {e}", d.path))
    });
    if result.is_err() {
        at.discard(&tmp);
    }
    result
}

fn download_to(d: &Desired, out: &mut File, old: Option<&fs::Metadata>) -> Result<(), String> {
    let mut response = agent(d)?
        .get(&d.url)
        .call()
        .map_err(|e| format!("GET {}: {e}", d.url))?;
    let mut body = response.body_mut().as_reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| format!("reading {}: {e}", d.url))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| format!("writing {}: {e}", d.path))?;
    }
    let got = hex(&hasher.finalize());
    if got != d.sha256 {
        return Err(format!(
            "checksum mismatch for {}: expected sha256 {}, got {got}; {} was left unchanged",
            d.url, d.sha256, d.path
        ));
    }
    let own = Ownership {
        mode: Some(d.mode.or(old.map(|m| m.mode() & 0o7777)).unwrap_or(0o644)),
        uid: match &d.owner {
            Some(o) => Some(sys::uid_of(o)?),
            None => old.map(|m| m.uid()),
        },
        gid: match &d.group {
            Some(g) => Some(sys::gid_of(g)?),
            None => old.map(|m| m.gid()),
        },
    };
    safe_fs::set_ownership(out, own).map_err(|e| format!("setting owner and mode: {e}"))?;
    out.sync_all()
        .map_err(|e| format!("syncing {}: {e}", d.path))
}
