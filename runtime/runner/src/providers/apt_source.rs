//! `apt_source`: an apt repository as a deb822 file
//! `/etc/apt/sources.list.d/mc-NAME.sources` whose `Signed-By` names the
//! repository's own key, kept in `/etc/apt/keyrings/mc-NAME.asc` (the
//! layout Debian and Ubuntu recommend instead of the global `apt-key`
//! keyring). After a change, the package lists are refreshed
//! (`apt-get update`), so packages of the repository can be installed by
//! the next resources; a refresh that fails (unknown key, unreachable
//! repository) fails the resource.

use super::{Outcome, Plan, Spec};
use crate::protocol::{sha256_hex, Action, AttrChange, Status};
use crate::sys;
use serde_json::{json, Value as Json};
use std::fs;
use std::path::Path;

pub const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
pub const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

struct Desired {
    name: String,
    present: bool,
    sources: String,
    key: String,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let name = spec.str_or_title("name")?.to_string();
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !name.starts_with('.');
    if !valid {
        return Err(format!(
            "invalid apt source name {name:?}: use letters, digits, `.`, `_` and `-`"
        ));
    }
    let present = spec.choice("state", &["present", "absent"], "present")? == "present";
    let key = spec.str("key")?.unwrap_or_default().to_string();
    if present && !key.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        return Err("`key` must be the repository's ASCII-armored OpenPGP public key (`-----BEGIN PGP PUBLIC KEY BLOCK-----`)".into());
    }
    let uris = spec.str_list("uris")?.unwrap_or_default();
    let suites = spec.str_list("suites")?.unwrap_or_default();
    if present && (uris.is_empty() || suites.is_empty()) {
        return Err("`uris` and `suites` must not be empty".into());
    }
    let components = spec.str_list("components")?.unwrap_or_default();
    let architectures = spec.str_list("architectures")?.unwrap_or_default();
    let types = spec
        .str_list("types")?
        .unwrap_or_else(|| vec!["deb".into()]);
    for field in uris
        .iter()
        .chain(&suites)
        .chain(&components)
        .chain(&architectures)
    {
        if field.is_empty() || field.contains(char::is_whitespace) {
            return Err(format!("invalid apt source field {field:?}"));
        }
    }
    let mut sources = format!(
        "# Managed by mc (apt_source {name:?}).\nTypes: {}\nURIs: {}\nSuites: {}\n",
        types.join(" "),
        uris.join(" "),
        suites.join(" ")
    );
    if !components.is_empty() {
        sources.push_str(&format!("Components: {}\n", components.join(" ")));
    }
    if !architectures.is_empty() {
        sources.push_str(&format!("Architectures: {}\n", architectures.join(" ")));
    }
    sources.push_str(&format!("Signed-By: {}\n", key_path(&name)));
    let key = if key.ends_with('\n') {
        key
    } else {
        format!("{key}\n")
    };
    Ok(Desired {
        name,
        present,
        sources,
        key,
    })
}

fn sources_path(name: &str) -> String {
    format!("{SOURCES_DIR}/mc-{name}.sources")
}

fn key_path(name: &str) -> String {
    format!("{KEYRINGS_DIR}/mc-{name}.asc")
}

fn read(path: &str) -> Result<Option<Vec<u8>>, String> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {path}: {e}")),
    }
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let sources = read(&sources_path(&d.name))?;
    let key = read(&key_path(&d.name))?;
    let digest = |b: &Option<Vec<u8>>| b.as_ref().map(sha256_hex);
    let mut plan = Plan::new(json!({
        "sources": digest(&sources),
        "key": digest(&key),
    }));
    let exists = sources.is_some() || key.is_some();
    if !d.present {
        if exists {
            plan.action = Action::Delete;
            plan.changes.push(change("state", "present", "absent"));
        }
        return Ok(plan);
    }
    if !exists {
        plan.action = Action::Create;
        plan.changes.push(change("state", Json::Null, "present"));
        plan.content_diff = super::unified_diff(&sources_path(&d.name), b"", d.sources.as_bytes());
        return Ok(plan);
    }
    if sources.as_deref() != Some(d.sources.as_bytes()) {
        plan.change(
            "sources",
            digest(&sources).map(|h| format!("sha256:{h}")),
            format!("sha256:{}", sha256_hex(&d.sources)),
        );
        plan.content_diff = super::unified_diff(
            &sources_path(&d.name),
            sources.as_deref().unwrap_or_default(),
            d.sources.as_bytes(),
        );
    }
    if key.as_deref() != Some(d.key.as_bytes()) {
        plan.change(
            "key",
            digest(&key).map(|h| format!("sha256:{h}")),
            format!("sha256:{}", sha256_hex(&d.key)),
        );
    }
    Ok(plan)
}

fn change(attr: &str, from: impl Into<Json>, to: impl Into<Json>) -> AttrChange {
    AttrChange {
        attr: attr.into(),
        from: from.into(),
        to: to.into(),
    }
}

fn write(path: &str, data: &str) -> Result<(), String> {
    if let Some(dir) = Path::new(path).parent() {
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    sys::atomic_write(Path::new(path), data.as_bytes(), Some(0o644), None, None)
        .map_err(|e| format!("writing {path}: {e}"))
}

fn remove(path: &str) -> Result<(), String> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("removing {path}: {e}")),
        _ => Ok(()),
    }
}

/// Writes (or removes) the two files, then refreshes apt's lists.
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
    if d.present {
        write(&key_path(&d.name), &d.key)?;
        write(&sources_path(&d.name), &d.sources)?;
    } else {
        remove(&sources_path(&d.name))?;
        remove(&key_path(&d.name))?;
    }
    update_lists()?;
    super::verified(spec, &plan)
}

/// `apt-get update`; apt reports a bad signature or an unreachable
/// repository as a warning ("W: …") with exit 0, so those fail too.
fn update_lists() -> Result<(), String> {
    let out = std::process::Command::new("apt-get")
        .args(["-q", "update"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("running apt-get update: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    if out.status.success() && problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "apt-get update failed ({}): {}",
            out.status,
            problems.join(" | ")
        ))
    }
}
