//! `cron`: one job per file in `/etc/cron.d/` (no cron daemon needed to
//! manage it). The file is `/etc/cron.d/mc-NAME`, NAME reduced to the
//! characters cron accepts in a file name (`[A-Za-z0-9_-]`).

use super::{Plan, Spec, Text};
use crate::protocol::{sha256_hex, Action, AttrChange};
use crate::sys;
use serde_json::{json, Value as Json};
use std::fs;
use std::path::Path;

pub const CRON_DIR: &str = "/etc/cron.d";
const FIELDS: [(&str, &str); 5] = [
    ("minute", "*"),
    ("hour", "*"),
    ("day", "*"),
    ("month", "*"),
    ("weekday", "*"),
];

/// The cron.d file for a job name.
pub fn job_file(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{CRON_DIR}/mc-{safe}")
}

struct Desired {
    file: String,
    present: bool,
    schedule: Vec<String>,
    user: String,
    command: Option<Text>,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let present = spec.choice("state", &["present", "absent"], "present")? == "present";
    let mut schedule = Vec::new();
    for (attr, default) in FIELDS {
        let v = spec.str_or(attr, default)?;
        if v.is_empty() || v.contains(char::is_whitespace) {
            return Err(format!(
                "`{attr}` must be one cron field without spaces, got {v:?}"
            ));
        }
        schedule.push(v.to_string());
    }
    let command = spec.text("command")?;
    if present && command.is_none() {
        return Err("`command` is required".into());
    }
    if let Some(c) = command.as_ref().and_then(|t| t.value.as_deref()) {
        if c.contains('\n') {
            return Err("`command` must be a single line".into());
        }
    }
    Ok(Desired {
        file: job_file(spec.str_or_title("name")?),
        present,
        schedule,
        user: spec.str_or("user", "root")?.to_string(),
        command,
    })
}

/// The job line of an existing file: (schedule, user, command).
fn parse(text: &str) -> Option<(Vec<String>, String, String)> {
    let line = text.lines().map(str::trim).find(|l| {
        // Skip comments and `NAME=value` environment lines.
        let first = l.split_whitespace().next().unwrap_or_default();
        !l.is_empty() && !l.starts_with('#') && !first.contains('=')
    })?;
    let mut rest = line;
    let mut fields = Vec::new();
    for _ in 0..6 {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace)?;
        fields.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    let user = fields.pop()?;
    Some((fields, user, rest.trim().to_string()))
}

fn render(d: &Desired, command: &str, title: &str) -> String {
    format!(
        "# Managed by mc: cron[{title}]\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n{} {} {command}\n",
        d.schedule.join(" "),
        d.user
    )
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let existing = match fs::read_to_string(&d.file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("reading {}: {e}", d.file)),
        Ok(t) => Some(t),
    };
    let parsed = existing.as_deref().and_then(parse);
    let mut plan = Plan::new(match &parsed {
        None if existing.is_none() => Json::Null,
        None => json!({"file": d.file, "job": null}),
        Some((s, u, c)) => {
            json!({"file": d.file, "schedule": s.join(" "), "user": u, "command_sha256": sha256_hex(c)})
        }
    });
    match (d.present, existing.is_some()) {
        (false, false) => {}
        (false, true) => {
            plan.action = Action::Delete;
            plan.changes.push(AttrChange {
                attr: "state".into(),
                from: json!("present"),
                to: json!("absent"),
            });
        }
        (true, false) => {
            plan.action = Action::Create;
            plan.changes.push(AttrChange {
                attr: "command".into(),
                from: Json::Null,
                to: d.command.as_ref().map(|t| t.shown()).unwrap_or(Json::Null),
            });
        }
        (true, true) => {
            let Some((schedule, user, command)) = parsed else {
                plan.change("job", Json::Null, d.schedule.join(" "));
                return Ok(plan);
            };
            if schedule != d.schedule {
                plan.change("schedule", schedule.join(" "), d.schedule.join(" "));
            }
            if user != d.user {
                plan.change("user", user, d.user.as_str());
            }
            if let Some(t) = &d.command {
                if !t.matches(command.as_bytes()) {
                    let from = if t.sensitive {
                        t.shown()
                    } else {
                        json!(command)
                    };
                    plan.change("command", from, t.shown());
                }
            }
        }
    }
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    if plan.action == Action::Delete {
        return fs::remove_file(&d.file).map_err(|e| format!("removing {}: {e}", d.file));
    }
    let command = d
        .command
        .as_ref()
        .ok_or("`command` is required")?
        .require("command")?;
    fs::create_dir_all(CRON_DIR).map_err(|e| format!("creating {CRON_DIR}: {e}"))?;
    sys::atomic_write(
        Path::new(&d.file),
        render(&d, command, spec.title()).as_bytes(),
        Some(0o644),
        Some(0),
        Some(0),
    )
    .map_err(|e| format!("writing {}: {e}", d.file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_lines_parse_back() {
        let text = "# x\nSHELL=/bin/sh\nPATH=/bin\n*/5 2 * * 1-5 www-data  FOO=1 /usr/bin/backup --all  \n";
        let (s, u, c) = parse(text).unwrap();
        assert_eq!(s, vec!["*/5", "2", "*", "*", "1-5"]);
        assert_eq!(u, "www-data");
        assert_eq!(c, "FOO=1 /usr/bin/backup --all");
        assert_eq!(
            job_file("nightly backup/1"),
            "/etc/cron.d/mc-nightly_backup_1"
        );
    }
}
