//! The catalog IR: what the compiler produces for one host, and what the
//! planner, the plan file, the state store and the TUI read.
//!
//! One versioned serde format with one owner (this crate). Maps are
//! `BTreeMap`s so serialisation is byte-identical for identical inputs.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod hash;
pub mod order;
pub mod plan;

pub use order::apply_order;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Bumped on any incompatible change of the serialised catalog.
pub const CATALOG_SCHEMA: u32 = 1;

/// Everything one host should look like, fully evaluated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub schema: u32,
    pub host: HostInfo,
    /// Resources in source order. They apply in [`Catalog::apply_order`]:
    /// edges move a resource later, and source order decides the rest.
    pub resources: Vec<Resource>,
    /// `from` must be applied before `to`.
    pub edges: Vec<Edge>,
}

impl Catalog {
    pub fn resource(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.id == id)
    }

    /// Deterministic JSON (the catalog contains only ordered maps).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// How to reach a host, from its `host "NAME" { … }` inventory entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub name: String,
    /// Defaults to the name.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub transport: Transport,
    /// Run the runner under sudo for the whole host.
    #[serde(default)]
    pub r#become: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The private key to log in with (`ssh -i`), an absolute path; the
    /// ssh configuration's keys otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<String>,
}

impl HostInfo {
    /// This machine, reached by running the runner as a child process.
    pub fn local(name: &str) -> HostInfo {
        HostInfo {
            name: name.to_string(),
            address: "localhost".into(),
            user: None,
            port: None,
            transport: Transport::Local,
            r#become: false,
            groups: vec![],
            ssh_key: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Ssh,
    Local,
    /// A pull-mode agent (`mc-agent`), reached through the NATS server
    /// the project names in `project { agents }`.
    Agent,
}

/// Stable identity of a resource on a host: `type[title]`, e.g. `file[/etc/motd]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(pub String);

impl ResourceId {
    pub fn new(type_name: &str, title: &str) -> Self {
        ResourceId(format!("{type_name}[{title}]"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: ResourceId,
    /// The stdlib resource type, which names the provider: `file`, `package`, …
    #[serde(rename = "type")]
    pub type_name: String,
    pub title: String,
    /// Provider attributes, fully evaluated (defaults filled in). Attributes
    /// whose value is `null` are omitted.
    pub attrs: BTreeMap<String, Value>,
    pub meta: Meta,
    /// Where the resource was declared, for messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceLoc>,
}

impl Resource {
    /// A resource with these attributes and default meta, for code that
    /// builds one by hand (`mc onboard`, benchmarks) rather than compiling it.
    pub fn with_attrs<'a>(
        type_name: &str,
        title: &str,
        attrs: impl IntoIterator<Item = (&'a str, Value)>,
    ) -> Resource {
        Resource {
            id: ResourceId::new(type_name, title),
            type_name: type_name.into(),
            title: title.into(),
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            meta: Meta::default(),
            source: None,
        }
    }
}

/// Meta-attributes accepted by every resource (the ordering ones, `requires`,
/// `before`, `notify`, `subscribe`, become edges in [`Catalog::edges`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#become: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub become_user: Option<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub retries: u32,
    /// Seconds to wait after the first failed attempt (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<u64>,
    /// Each further wait is the previous one times this factor (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<u32>,
    #[serde(default)]
    pub risk: Risk,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    #[default]
    Low,
    Medium,
    High,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLoc {
    /// Path relative to the project root.
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// 1-based.
    pub col: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Edge {
    pub from: ResourceId,
    pub to: ResourceId,
    pub kind: EdgeKind,
    /// For a notify edge, what the refresh asks of a service
    /// (`notify = [reload(svc)]`); `None` is the service's `on_notify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RefreshAction>,
}

impl Edge {
    pub fn new(from: ResourceId, to: ResourceId, kind: EdgeKind) -> Edge {
        Edge {
            from,
            to,
            kind,
            action: None,
        }
    }
}

/// What a refresh asks of a service. Several requests in one apply make
/// one refresh, the strongest: `restart` over the service's own `on_notify`
/// over `reload` (so `reload` plus a plain notify of a restart-on-notify
/// service restarts it once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshAction {
    Reload,
    OnNotify,
    Restart,
}

impl RefreshAction {
    /// The strongest of the requests, `None` when there is none.
    pub fn strongest(requests: impl IntoIterator<Item = RefreshAction>) -> Option<RefreshAction> {
        requests.into_iter().max()
    }

    pub fn name(self) -> &'static str {
        match self {
            RefreshAction::Reload => "reload",
            RefreshAction::OnNotify => "refresh",
            RefreshAction::Restart => "restart",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// `requires` / `before`, or a handle used in an attribute.
    Requires,
    /// `notify` / `subscribe`: ordering plus a refresh of `to` when `from` changed.
    Notify,
    /// Added by the compiler: parent directory, owner user/group, service↔package.
    Auto,
}

/// A fully evaluated attribute value.
///
/// `Mode` values are `Int`s (e.g. `0o644` is 420), `Duration`s are `Int`
/// seconds, `Path`s are normalised `String`s. A value that depends on a secret
/// is a [`Value::Secret`]: the catalog holds the secret's *name*, never its
/// value, and the runtime resolves it only when it sends the apply to the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    String(String),
    Secret(SecretValue),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// A string assembled from literal text and named secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    #[serde(rename = "$secret")]
    pub parts: Vec<SecretPart>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretPart {
    Text(String),
    Secret(String),
}

impl SecretValue {
    /// Names of the secrets this value needs.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            SecretPart::Secret(n) => Some(n.as_str()),
            SecretPart::Text(_) => None,
        })
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    /// True if this value, or anything inside it, is a secret.
    pub fn contains_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::List(l) => l.iter().any(Value::contains_secret),
            Value::Map(m) => m.values().any(Value::contains_secret),
            _ => false,
        }
    }
}

/// The size of a rollout batch: a number of hosts or a percentage of the
/// hosts in the plan (rounded up, at least one host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serial {
    Hosts(usize),
    Percent(u8),
}

impl std::str::FromStr for Serial {
    type Err = String;
    /// `"2"` or `"25%"`.
    fn from_str(s: &str) -> Result<Serial, String> {
        let s = s.trim();
        let bad =
            || format!("serial must be a number of hosts (2) or a percentage (25%), not {s:?}");
        match s.strip_suffix('%') {
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p) if (1..=100).contains(&p) => Ok(Serial::Percent(p)),
                _ => Err(bad()),
            },
            None => match s.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Serial::Hosts(n)),
                _ => Err(bad()),
            },
        }
    }
}

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Serial::Hosts(n) => write!(f, "{n}"),
            Serial::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_json() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), Value::Int(1));
        let secret = Value::Secret(SecretValue {
            parts: vec![
                SecretPart::Text("pw=".into()),
                SecretPart::Secret("db".into()),
            ],
        });
        let v = Value::List(vec![
            Value::Null,
            Value::Bool(true),
            Value::String("x".into()),
            Value::Map(m),
            secret.clone(),
        ]);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(
            json,
            r#"[null,true,"x",{"a":1},{"$secret":[{"text":"pw="},{"secret":"db"}]}]"#
        );
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
        assert!(back.contains_secret());
        assert!(!Value::Int(3).contains_secret());
    }

    #[test]
    fn resource_ids_are_type_and_title() {
        assert_eq!(
            ResourceId::new("file", "/etc/motd").as_str(),
            "file[/etc/motd]"
        );
    }
}
