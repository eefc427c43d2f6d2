//! Providers: one module per resource type, each with `probe` (observe and
//! diff, change nothing) and an apply that converges the host and is
//! idempotent.

use crate::protocol::{
    observed_digest, sha256_hex, Action, AttrChange, Event, Status, SECRET_PLACEHOLDER,
};
use mc_ir::{Resource, Value};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

pub mod apt_source;
pub mod archive;
pub mod command;
pub mod cron;
pub mod directory;
pub mod download;
pub mod file;
pub mod firewall;
pub mod git;
pub mod group;
pub mod http_check;
pub mod line;
pub mod link;
pub mod mount;
pub mod package;
pub mod service;
pub mod sysctl;
pub mod systemd_unit;
pub mod user;

/// The resource types this runner knows.
pub const TYPES: [&str; 19] = [
    "file",
    "directory",
    "link",
    "line",
    "package",
    "service",
    "user",
    "group",
    "command",
    "cron",
    "sysctl",
    "http_check",
    "apt_source",
    "download",
    "archive",
    "git",
    "firewall_rule",
    "systemd_unit",
    "mount",
];

/// A resource plus what the runtime said about its sensitive attributes.
pub struct Spec<'a> {
    pub res: &'a Resource,
    /// In a probe: attribute → sha256 of the resolved secret value.
    pub digests: Option<&'a BTreeMap<String, String>>,
    /// In an apply: attributes holding resolved secrets.
    pub sensitive: &'a [String],
}

/// A text attribute that may be a secret. In a probe a secret's value is not
/// known, only its digest: compare with [`Text::matches`].
#[derive(Clone, Debug)]
pub struct Text {
    pub value: Option<String>,
    pub digest: String,
    pub sensitive: bool,
}

impl Text {
    pub fn matches(&self, data: &[u8]) -> bool {
        match &self.value {
            Some(v) => v.as_bytes() == data,
            None => !self.digest.is_empty() && sha256_hex(data) == self.digest,
        }
    }

    /// How the value may appear in a response.
    pub fn shown(&self) -> Json {
        if self.sensitive {
            Json::String(SECRET_PLACEHOLDER.into())
        } else {
            self.value.clone().map(Json::String).unwrap_or(Json::Null)
        }
    }

    /// The plain value, which an apply must have.
    pub fn require(&self, attr: &str) -> Result<&str, String> {
        self.value
            .as_deref()
            .ok_or_else(|| format!("`{attr}` holds a secret that was not resolved"))
    }
}

impl<'a> Spec<'a> {
    pub fn title(&self) -> &str {
        &self.res.title
    }

    fn attr(&self, name: &str) -> Option<&Value> {
        match self.res.attrs.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    pub fn is_sensitive(&self, name: &str) -> bool {
        self.sensitive.iter().any(|s| s == name)
            || self.digests.is_some_and(|d| d.contains_key(name))
            || self.attr(name).is_some_and(Value::contains_secret)
    }

    /// A string attribute (not a secret).
    pub fn str(&self, name: &str) -> Result<Option<&str>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("`{name}` must be a string, got {}", kind(other))),
        }
    }

    pub fn str_or<'s>(&'s self, name: &str, default: &'s str) -> Result<&'s str, String> {
        Ok(self.str(name)?.unwrap_or(default))
    }

    /// The attribute, or else the title (for `path`, `name`, `key` …).
    pub fn str_or_title(&self, name: &str) -> Result<&str, String> {
        Ok(self.str(name)?.unwrap_or(&self.res.title))
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.attr(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!("`{name}` must be a boolean, got {}", kind(other))),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(_) => self.bool(name, false).map(Some),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(*i)),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| format!("`{name}` must be an integer, got {s:?}")),
            Some(other) => Err(format!("`{name}` must be an integer, got {}", kind(other))),
        }
    }

    /// Permission bits: an integer (`0o644` is 420) or an octal string.
    pub fn mode(&self) -> Result<Option<u32>, String> {
        match self.attr("mode") {
            None => Ok(None),
            Some(Value::Int(i)) if (0..=0o7777).contains(i) => Ok(Some(*i as u32)),
            Some(Value::String(s)) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(Some)
                .ok_or_else(|| format!("`mode` must be octal permission bits, got {s:?}")),
            Some(other) => Err(format!("`mode` must be permission bits, got {other:?}")),
        }
    }

    /// How many backups of the resource's file to keep (`backups_kept`,
    /// `backups_max_age` in days).
    pub fn retention(&self) -> Result<crate::sys::Retention, String> {
        let mut r = crate::sys::Retention::default();
        if let Some(n) = self.int("backups_kept")? {
            r.keep = usize::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("`backups_kept` must be at least 1, got {n}"))?;
        }
        if let Some(days) = self.int("backups_max_age")? {
            r.max_age_days = Some(
                u64::try_from(days)
                    .map_err(|_| format!("`backups_max_age` must not be negative, got {days}"))?,
            );
        }
        Ok(r)
    }

    pub fn str_list(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        match self.attr(name) {
            None => Ok(None),
            Some(Value::List(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Int(i) => Ok(i.to_string()),
                    other => Err(format!(
                        "`{name}` must be a list of strings, got {}",
                        kind(other)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(format!("`{name}` must be a list, got {}", kind(other))),
        }
    }

    /// One of `allowed`, defaulting to `default`.
    pub fn choice(&self, name: &str, allowed: &[&str], default: &str) -> Result<String, String> {
        let v = self.str_or(name, default)?;
        if allowed.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(format!(
                "`{name}` must be one of {}, got {v:?}",
                allowed.join(", ")
            ))
        }
    }

    /// A text attribute that may hold a secret.
    pub fn text(&self, name: &str) -> Result<Option<Text>, String> {
        let digest = self.digests.and_then(|d| d.get(name)).cloned();
        let sensitive = self.is_sensitive(name);
        match self.attr(name) {
            None => Ok(digest.map(|digest| Text {
                value: None,
                digest,
                sensitive: true,
            })),
            Some(Value::String(s)) => Ok(Some(Text {
                digest: digest.unwrap_or_else(|| sha256_hex(s)),
                value: if self.digests.is_some_and(|d| d.contains_key(name)) {
                    None
                } else {
                    Some(s.clone())
                },
                sensitive,
            })),
            Some(Value::Secret(_)) => Ok(Some(Text {
                value: None,
                digest: digest.unwrap_or_default(),
                sensitive: true,
            })),
            Some(other) => Err(format!("`{name}` must be a string, got {}", kind(other))),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::String(_) => "a string",
        Value::Secret(_) => "a secret",
        Value::List(_) => "a list",
        Value::Map(_) => "a map",
    }
}

/// What a probe found.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub observed: Json,
    pub action: Action,
    pub changes: Vec<AttrChange>,
    pub content_diff: Option<String>,
}

impl Plan {
    pub fn new(observed: Json) -> Plan {
        Plan {
            observed,
            ..Plan::default()
        }
    }

    /// Records a change; the first change of an existing resource makes the
    /// action an update.
    pub fn change(&mut self, attr: &str, from: impl Into<Json>, to: impl Into<Json>) {
        if self.action == Action::None {
            self.action = Action::Update;
        }
        self.changes.push(AttrChange {
            attr: attr.into(),
            from: from.into(),
            to: to.into(),
        });
    }

    pub fn digest(&self) -> String {
        observed_digest(&self.observed)
    }
}

/// How an apply ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Status,
    pub message: String,
    pub observed_digest: Option<String>,
}

/// Receives streamed events during an apply.
pub type Emit<'e> = dyn FnMut(Event) + 'e;

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    match spec.res.type_name.as_str() {
        "file" => file::probe(spec),
        "directory" => directory::probe(spec),
        "link" => link::probe(spec),
        "line" => line::probe(spec),
        "package" => package::probe(spec),
        "service" => service::probe(spec),
        "user" => user::probe(spec),
        "group" => group::probe(spec),
        "command" => command::probe(spec),
        "cron" => cron::probe(spec),
        "sysctl" => sysctl::probe(spec),
        "http_check" => http_check::probe(spec),
        "apt_source" => apt_source::probe(spec),
        "download" => download::probe(spec),
        "archive" => archive::probe(spec),
        "git" => git::probe(spec),
        "firewall_rule" => firewall::probe(spec),
        "systemd_unit" => systemd_unit::probe(spec),
        "mount" => mount::probe(spec),
        other => Err(format!("unknown resource type `{other}`")),
    }
}

/// Applies one resource. `refresh` is set when a notifying resource
/// changed (or a refresh was owed): what it asks of a service.
pub fn apply(
    spec: &Spec,
    refresh: Option<mc_ir::RefreshAction>,
    emit: &mut Emit,
) -> Result<Outcome, String> {
    match spec.res.type_name.as_str() {
        "service" => service::apply(spec, refresh),
        "command" => command::apply(spec, refresh.is_some(), emit),
        "http_check" => http_check::apply(spec),
        "apt_source" => apt_source::apply(spec),
        "package" => package::apply_one(spec),
        "file" => converge(spec, file::fix),
        "directory" => converge(spec, directory::fix),
        "link" => converge(spec, link::fix),
        "line" => converge(spec, line::fix),
        "user" => converge(spec, user::fix),
        "group" => converge(spec, group::fix),
        "cron" => converge(spec, cron::fix),
        "sysctl" => converge(spec, sysctl::fix),
        "download" => converge(spec, download::fix),
        "archive" => converge(spec, archive::fix),
        "git" => converge(spec, git::fix),
        "firewall_rule" => converge(spec, firewall::fix),
        "systemd_unit" => systemd_unit::apply(spec),
        "mount" => converge(spec, mount::fix),
        other => Err(format!("unknown resource type `{other}`")),
    }
}

/// The common apply: probe, fix what differs, probe again to prove the
/// resource converged.
pub fn converge(
    spec: &Spec,
    fix: fn(&Spec, &Plan) -> Result<(), String>,
) -> Result<Outcome, String> {
    let plan = probe(spec)?;
    if plan.action == Action::None {
        return Ok(Outcome {
            status: Status::Ok,
            message: "already in the desired state".into(),
            observed_digest: Some(plan.digest()),
        });
    }
    fix(spec, &plan)?;
    verified(spec, &plan)
}

/// After a fix: the re-probe must find nothing left to do.
pub fn verified(spec: &Spec, plan: &Plan) -> Result<Outcome, String> {
    let after = probe(spec)?;
    if after.action != Action::None {
        let left: Vec<&str> = after.changes.iter().map(|c| c.attr.as_str()).collect();
        return Err(format!(
            "did not converge: still differs in {}",
            if left.is_empty() {
                "state".to_string()
            } else {
                left.join(", ")
            }
        ));
    }
    Ok(Outcome {
        status: Status::Changed,
        message: describe(plan),
        observed_digest: Some(after.digest()),
    })
}

/// "created", "updated mode, owner", "deleted".
pub fn describe(plan: &Plan) -> String {
    match plan.action {
        Action::Create => "created".into(),
        Action::Delete => "deleted".into(),
        _ => {
            let attrs: Vec<&str> = plan.changes.iter().map(|c| c.attr.as_str()).collect();
            format!("updated {}", attrs.join(", "))
        }
    }
}

/// A unified diff between two texts, or `None` when either is not UTF-8.
pub fn unified_diff(path: &str, old: &[u8], new: &[u8]) -> Option<String> {
    let old = std::str::from_utf8(old).ok()?;
    let new = std::str::from_utf8(new).ok()?;
    Some(
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("a{path}"), &format!("b{path}"))
            .to_string(),
    )
}

/// Observed JSON for an absent resource.
pub fn absent() -> Json {
    json!(null)
}
