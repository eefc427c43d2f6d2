//! The host side of `mc onboard`: each step is a resource the runner
//! probes and applies (a `user` with its authorized key, a sudoers file
//! written only after `visudo` accepts it, `sshd_config` written only after
//! `sshd -t` accepts it), and what was there before is kept in an
//! [`Onboarding`] record so `mc onboard rollback` can put it back.

use crate::transport::RunnerSession;
use mc_ir::{Resource, Value};
use mc_runner::protocol::{Action, ApplyItem, EventKind, Request, Response, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What `mc onboard` did to a host, and what was there before.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Onboarding {
    /// The inventory name.
    pub name: String,
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The management user.
    pub user: String,
    /// The public key installed for it.
    pub public_key: String,
    /// True when onboarding created the user; else its authorized keys
    /// before (restored by rollback).
    pub user_created: bool,
    #[serde(default)]
    pub previous_keys: Vec<String>,
    pub sudoers_path: String,
    /// The sudoers file's content before, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sudoers: Option<String>,
    /// `sshd_config` before password logins were turned off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sshd_config: Option<String>,
    /// Where the host key was recorded, when onboarding added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<String>,
    /// The private key, when onboarding generated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_key: Option<String>,
    /// Seconds since the epoch.
    pub at: i64,
}

pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// The lines put first in `sshd_config` (sshd keeps the first value it
/// reads, so they win over the rest and over included drop-ins).
/// `ChallengeResponseAuthentication` is the name OpenSSH < 8.7 knows;
/// newer ones take it as an alias.
const NO_PASSWORDS: &str = "# mc onboard: password logins are off (mc onboard rollback restores)\n\
PasswordAuthentication no\n\
ChallengeResponseAuthentication no\n\n";

/// The sudoers file of a management user. sudo skips names holding `.`.
pub fn sudoers_path(user: &str) -> String {
    format!("/etc/sudoers.d/mc-{}", user.replace('.', "_"))
}

/// The management user's rule: every command as root without a password.
/// That is what configuration management needs (the runner starts as
/// `sudo -n sh -c …`, so a narrower list would still allow a shell); the
/// scope is this one account, in its own file.
pub fn sudoers_rule(user: &str) -> String {
    format!(
        "# Written by mc onboard for the management user {user}.\n\
         Defaults:{user} !requiretty\n\
         {user} ALL=(ALL) NOPASSWD: ALL\n"
    )
}

/// Creates (or reuses) the management user with `public_key` among its
/// authorized keys and installs its sudoers rule, through a root runner.
/// Fills in the record's user and sudoers parts.
pub async fn prepare_user(
    session: &mut RunnerSession,
    record: &mut Onboarding,
) -> Result<(), String> {
    let user = record.user.clone();
    let existing = read_keys(session, &user).await?;
    record.user_created = existing.is_none();
    record.previous_keys = existing.clone().unwrap_or_default();
    let mut keys = record.previous_keys.clone();
    if !keys.iter().any(|k| same_key(k, &record.public_key)) {
        keys.push(record.public_key.trim().to_string());
    }
    let mut attrs = vec![("authorized_keys", strings(&keys))];
    if record.user_created {
        attrs.push(("shell", Value::String("/bin/sh".into())));
        attrs.push(("comment", Value::String("mc management".into())));
        // No password, but not locked: useradd's `!` makes sshd (without
        // PAM) refuse even key logins.
        attrs.push(("password", Value::String("*".into())));
    }
    apply(session, resource("user", &user, attrs)).await?;

    record.sudoers_path = sudoers_path(&user);
    record.previous_sudoers = read_file(session, &record.sudoers_path).await?;
    write_checked(
        session,
        &record.sudoers_path,
        &sudoers_rule(&user),
        "visudo -cf %s",
        0o440,
    )
    .await?;
    // The file parses alone; the whole policy must parse with it too.
    if let Err(e) = script(session, "visudo -c", "visudo -c -q").await {
        restore_sudoers(session, record).await?;
        return Err(format!(
            "sudo's configuration does not check with the new rule: {e}"
        ));
    }
    Ok(())
}

/// Turns password logins off: `sshd_config` with [`NO_PASSWORDS`] first,
/// written only when `sshd -t` accepts it, then sshd reloaded.
pub async fn disable_passwords(
    session: &mut RunnerSession,
    record: &mut Onboarding,
) -> Result<(), String> {
    let current = read_file(session, SSHD_CONFIG)
        .await?
        .ok_or_else(|| format!("{SSHD_CONFIG} is missing"))?;
    if current.starts_with(NO_PASSWORDS) {
        return Ok(());
    }
    let wanted = format!("{NO_PASSWORDS}{current}");
    write_checked(session, SSHD_CONFIG, &wanted, "sshd -t -f %s", 0o644).await?;
    record.previous_sshd_config = Some(current);
    reload_sshd(session).await
}

/// Puts back what [`prepare_user`] and [`disable_passwords`] changed.
pub async fn roll_back(session: &mut RunnerSession, record: &Onboarding) -> Result<(), String> {
    if let Some(before) = &record.previous_sshd_config {
        write_checked(session, SSHD_CONFIG, before, "sshd -t -f %s", 0o644).await?;
        reload_sshd(session).await?;
    }
    restore_sudoers(session, record).await?;
    let user = &record.user;
    if record.user_created {
        // `-f`: this very session is the user's; it ends when mc hangs up.
        let who = crate::transport::shell_quote(user);
        script(
            session,
            &format!("userdel {user}"),
            &format!("if id -u {who} >/dev/null 2>&1; then userdel -f -r {who} 2>/dev/null || userdel -f {who}; fi"),
        )
        .await?;
    } else {
        let keys = strings(&record.previous_keys);
        apply(
            session,
            resource("user", user, vec![("authorized_keys", keys)]),
        )
        .await?;
    }
    Ok(())
}

async fn restore_sudoers(session: &mut RunnerSession, record: &Onboarding) -> Result<(), String> {
    match &record.previous_sudoers {
        Some(before) => {
            write_checked(
                session,
                &record.sudoers_path,
                before,
                "visudo -cf %s",
                0o440,
            )
            .await
        }
        None => {
            let absent = vec![("state", Value::String("absent".into()))];
            apply(session, resource("file", &record.sudoers_path, absent)).await
        }
    }
}

/// Reloads sshd however the host runs it; running sessions stay up.
async fn reload_sshd(session: &mut RunnerSession) -> Result<(), String> {
    script(
        session,
        "reload sshd",
        r#"set -e
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for s in ssh sshd; do
    if systemctl is-active -q "$s"; then exec systemctl reload "$s"; fi
  done
fi
if command -v rc-service >/dev/null 2>&1 && rc-service sshd status >/dev/null 2>&1; then
  exec rc-service sshd reload
fi
for f in /run/sshd.pid /var/run/sshd.pid; do
  if [ -s "$f" ]; then exec kill -HUP "$(cat "$f")"; fi
done
echo "no running sshd found to reload" >&2
exit 1"#,
    )
    .await
    .map(|_| ())
}

/// The user's authorized keys, or `None` when there is no such user.
async fn read_keys(session: &mut RunnerSession, user: &str) -> Result<Option<Vec<String>>, String> {
    let who = crate::transport::shell_quote(user);
    let out = script(
        session,
        &format!("read {user}'s keys"),
        &format!(
            "h=$(getent passwd {who} | cut -d: -f6) || {{ echo MC-NO-USER; exit 0; }}\n\
             [ -n \"$h\" ] || {{ echo MC-NO-USER; exit 0; }}\n\
             if [ -f \"$h/.ssh/authorized_keys\" ] && [ ! -L \"$h/.ssh/authorized_keys\" ]; then cat \"$h/.ssh/authorized_keys\"; fi"
        ),
    )
    .await?;
    if out.trim() == "MC-NO-USER" {
        return Ok(None);
    }
    Ok(Some(
        out.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect(),
    ))
}

/// The text of a regular file, `None` when there is none.
async fn read_file(session: &mut RunnerSession, path: &str) -> Result<Option<String>, String> {
    let p = crate::transport::shell_quote(path);
    let out = script(
        session,
        &format!("read {path}"),
        &format!(
            "if [ -f {p} ] && [ ! -L {p} ]; then echo MC-FILE; cat {p}; echo MC-END; else echo MC-NO-FILE; fi"
        ),
    )
    .await?;
    // Output comes back as lines: the marker right after the content keeps
    // whether it ended with a newline.
    Ok(out
        .strip_prefix("MC-FILE\n")
        .and_then(|rest| rest.strip_suffix("MC-END"))
        .map(str::to_string))
}

/// A root-owned file whose new content `validate` must accept first.
async fn write_checked(
    session: &mut RunnerSession,
    path: &str,
    content: &str,
    validate: &str,
    mode: i64,
) -> Result<(), String> {
    let attrs = vec![
        ("content", Value::String(content.to_string())),
        ("owner", Value::String("root".into())),
        ("group", Value::String("root".into())),
        ("mode", Value::Int(mode)),
        ("validate", Value::String(validate.into())),
    ];
    apply(session, resource("file", path, attrs)).await
}

/// Whether two authorized_keys lines hold the same key (type and base64),
/// whatever their options or comments.
fn same_key(a: &str, b: &str) -> bool {
    let key = |l: &str| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| {
                w[0].starts_with("ssh-") || w[0].starts_with("ecdsa-") || w[0].starts_with("sk-")
            })
            .map(|w| (w[0].to_string(), w[1].to_string()))
    };
    key(a).is_some() && key(a) == key(b)
}

fn strings(items: &[String]) -> Value {
    Value::List(items.iter().map(|s| Value::String(s.clone())).collect())
}

fn resource(type_name: &str, title: &str, attrs: Vec<(&str, Value)>) -> Resource {
    Resource::with_attrs(type_name, title, attrs)
}

/// Runs `body` with `/bin/sh` on the host as a `command` resource; its
/// output, or why it failed.
async fn script(session: &mut RunnerSession, title: &str, body: &str) -> Result<String, String> {
    let attrs = vec![
        ("run", Value::String(body.into())),
        ("returns", Value::List(vec![Value::Int(0)])),
    ];
    let r = resource("command", title, attrs);
    let mut lines = Vec::new();
    let item = ApplyItem::new(r, Action::Create);
    let resp = session
        .request(&Request::Apply { items: vec![item] }, |ev| {
            if ev.kind == EventKind::Output {
                if let Some(l) = &ev.line {
                    lines.push(l.clone());
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    applied(resp, title)?;
    Ok(lines.join("\n"))
}

/// Probes `r` and applies it when it differs.
async fn apply(session: &mut RunnerSession, r: Resource) -> Result<(), String> {
    let what = r.id.to_string();
    let probe = Request::Probe {
        resources: vec![r.clone()],
        sensitive: BTreeMap::new(),
    };
    let action = match session
        .request(&probe, |_| {})
        .await
        .map_err(|e| e.to_string())?
    {
        Response::Probed { results } => match results.into_iter().next() {
            Some(p) if p.error.is_some() => {
                return Err(format!("{what}: {}", p.error.unwrap_or_default()))
            }
            Some(p) => p.action,
            None => return Err(format!("{what}: the runner probed nothing")),
        },
        Response::Error { message, .. } => return Err(format!("{what}: {message}")),
        other => return Err(format!("{what}: unexpected answer {}", other.to_line())),
    };
    if action == Action::None {
        return Ok(());
    }
    let resp = session
        .request(
            &Request::Apply {
                items: vec![ApplyItem::new(r, action)],
            },
            |_| {},
        )
        .await
        .map_err(|e| e.to_string())?;
    applied(resp, &what).map(|_| ())
}

fn applied(resp: Response, what: &str) -> Result<String, String> {
    match resp {
        Response::Applied { results } => match results.into_iter().next() {
            Some(r) if matches!(r.status, Status::Ok | Status::Changed) => Ok(r.message),
            Some(r) => {
                let output = r.output.unwrap_or_default();
                Err(format!(
                    "{what}: {}{}{}",
                    r.message,
                    if output.is_empty() { "" } else { "\n" },
                    output.trim_end()
                ))
            }
            None => Err(format!("{what}: the runner applied nothing")),
        },
        Response::Error { message, .. } => Err(format!("{what}: {message}")),
        other => Err(format!("{what}: unexpected answer {}", other.to_line())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_type_and_body() {
        let a = "ssh-ed25519 AAAAC3Nz mc@ctl";
        assert!(same_key(a, "ssh-ed25519 AAAAC3Nz other comment"));
        assert!(same_key(a, "from=\"10.0.0.1\" ssh-ed25519 AAAAC3Nz"));
        assert!(!same_key(a, "ssh-ed25519 AAAAC3Ny mc@ctl"));
        assert!(!same_key("", ""));
    }

    #[test]
    fn sudoers_names_avoid_what_sudo_skips() {
        assert_eq!(sudoers_path("mc.ops"), "/etc/sudoers.d/mc-mc_ops");
        assert!(sudoers_rule("mc").contains("mc ALL=(ALL) NOPASSWD: ALL"));
    }
}
