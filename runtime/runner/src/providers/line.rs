//! `line`: one line in a file, found by a regular expression.
//!
//! `present`: the last line matching `match` is replaced by `line`; when
//! nothing matches and the exact line is not there, `line` is inserted at the
//! end (or start). A missing file is created (mode 0644). `absent`: every
//! line matching `match` (or equal to `line` without `match`) is removed.

use super::{unified_diff, Plan, Spec, Text};
use crate::protocol::{Action, AttrChange};
use crate::safe_fs::{Ownership, PathAt};
use crate::sys;
use regex::Regex;
use serde_json::{json, Value as Json};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

struct Desired {
    path: String,
    line: Option<Text>,
    pattern: Option<Regex>,
    present: bool,
    at_start: bool,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let path = spec.str("path")?.ok_or("`path` is required")?.to_string();
    if !path.starts_with('/') {
        return Err(format!("`path` must be absolute, got {path:?}"));
    }
    // Checked here so bad values fail the probe, not the apply.
    spec.retention()?;
    let pattern = spec
        .str("match")?
        .map(|m| {
            Regex::new(m).map_err(|e| format!("`match` is not a valid regular expression: {e}"))
        })
        .transpose()?;
    let present = spec.choice("state", &["present", "absent"], "present")? == "present";
    let line = spec.text("line")?;
    if line.is_none() && (present || pattern.is_none()) {
        return Err("`line` is required".into());
    }
    Ok(Desired {
        path,
        line,
        pattern,
        present,
        at_start: spec.choice("insert", &["end", "start"], "end")? == "start",
    })
}

/// The file's lines after the change, or `None` when nothing changes.
/// `desired_line` is the text to write (absent in a probe of a secret).
fn edit(d: &Desired, lines: &[String], desired_line: &str) -> (Vec<String>, Vec<AttrChange>) {
    let mut out: Vec<String> = lines.to_vec();
    let mut changes = Vec::new();
    let shown = |s: &str| -> Json {
        if d.line.as_ref().is_some_and(|t| t.sensitive) {
            json!(crate::protocol::SECRET_PLACEHOLDER)
        } else {
            json!(s)
        }
    };
    let is_line = |l: &str| d.line.as_ref().is_some_and(|t| t.matches(l.as_bytes()));
    if d.present {
        let last_match = d
            .pattern
            .as_ref()
            .and_then(|re| lines.iter().rposition(|l| re.is_match(l)));
        match last_match {
            Some(i) if is_line(&lines[i]) => {}
            Some(i) => {
                changes.push(AttrChange {
                    attr: "line".into(),
                    from: shown(&lines[i]),
                    to: shown(desired_line),
                });
                out[i] = desired_line.to_string();
            }
            None if lines.iter().any(|l| is_line(l)) => {}
            None => {
                changes.push(AttrChange {
                    attr: "line".into(),
                    from: Json::Null,
                    to: shown(desired_line),
                });
                if d.at_start {
                    out.insert(0, desired_line.to_string());
                } else {
                    out.push(desired_line.to_string());
                }
            }
        }
    } else {
        out.retain(|l| {
            let hit = match &d.pattern {
                Some(re) => re.is_match(l),
                None => is_line(l),
            };
            if hit {
                changes.push(AttrChange {
                    attr: "line".into(),
                    from: shown(l),
                    to: Json::Null,
                });
            }
            !hit
        });
    }
    (out, changes)
}

/// The file as it is: its metadata and exact bytes, read through a handle
/// that did not follow a link. A symbolic link at the path is refused:
/// editing through it would change a file elsewhere.
fn read_file(path: &str) -> Result<Option<(Metadata, Vec<u8>)>, String> {
    let Some(at) = PathAt::looking_at(Path::new(path)).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    match at.read_regular().map_err(|e| format!("reading {e}"))? {
        Some(found) => Ok(Some(found)),
        None if at.is_link().map_err(|e| e.to_string())? => Err(format!(
            "{path} is a symbolic link: `line` edits only regular files (name the file it points to)"
        )),
        None => Ok(None),
    }
}

/// The file's lines and whether it ends with a newline.
fn lines_of(path: &str, data: &[u8]) -> Result<(Vec<String>, bool), String> {
    let text = std::str::from_utf8(data).map_err(|_| format!("{path} is not UTF-8 text"))?;
    let trailing_newline = text.ends_with('\n') || text.is_empty();
    Ok((text.lines().map(str::to_string).collect(), trailing_newline))
}

fn read_lines(path: &str) -> Result<Option<(Vec<String>, bool)>, String> {
    read_file(path)?
        .map(|(_, data)| lines_of(path, &data))
        .transpose()
}

fn join(lines: &[String], trailing_newline: bool) -> String {
    let mut s = lines.join("\n");
    if !lines.is_empty() && trailing_newline {
        s.push('\n');
    }
    s
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let current = read_lines(&d.path)?;
    let (lines, nl) = current.clone().unwrap_or((Vec::new(), true));
    let old_text = join(&lines, nl);
    let mut plan = Plan::new(match &current {
        None => Json::Null,
        Some(_) => json!({"sha256": crate::protocol::sha256_hex(&old_text)}),
    });
    if current.is_none() && !d.present {
        return Ok(plan);
    }
    // A secret line is unknown during a probe: a placeholder stands in.
    let line_text = d
        .line
        .as_ref()
        .and_then(|t| t.value.clone())
        .unwrap_or_else(|| crate::protocol::SECRET_PLACEHOLDER.into());
    let (new_lines, changes) = edit(&d, &lines, &line_text);
    if !changes.is_empty() {
        plan.action = if current.is_none() {
            Action::Create
        } else {
            Action::Update
        };
        plan.changes = changes;
        if !d.line.as_ref().is_some_and(|t| t.sensitive) {
            plan.content_diff = unified_diff(
                &d.path,
                old_text.as_bytes(),
                join(&new_lines, nl).as_bytes(),
            );
        }
    }
    Ok(plan)
}

pub fn fix(spec: &Spec, _plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    let current = read_file(&d.path)?;
    let (lines, nl) = match &current {
        Some((_, data)) => lines_of(&d.path, data)?,
        None => (Vec::new(), true),
    };
    let line_text = match &d.line {
        Some(t) => t.require("line")?.to_string(),
        None => String::new(),
    };
    let (new_lines, changes) = edit(&d, &lines, &line_text);
    if changes.is_empty() {
        return Ok(());
    }
    if let Some((_, raw)) = &current {
        // Back up the exact bytes, not the re-joined lines.
        sys::backup(&d.path, raw, spec.retention()?)
            .map_err(|e| format!("backing up {}: {e}", d.path))?;
    }
    let meta = current.as_ref().map(|(m, _)| m);
    let own = Ownership {
        mode: Some(meta.map(|m| m.mode() & 0o7777).unwrap_or(0o644)),
        uid: meta.map(|m| m.uid()),
        gid: meta.map(|m| m.gid()),
    };
    PathAt::of(Path::new(&d.path))
        .and_then(|at| at.write(join(&new_lines, nl).as_bytes(), own))
        .map_err(|e| format!("writing {}: {e}", d.path))
}
