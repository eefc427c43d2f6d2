//! Values of evaluated mc expressions and their conversion to the catalog IR.

use mc_ir::{SecretPart, SecretValue};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(Arc<str>),
    /// Permission bits (`0o644`); an `Int` in the catalog.
    Mode(i64),
    /// Seconds; an `Int` in the catalog.
    Duration(i64),
    /// A string that depends on secrets: literal text and secret names.
    Secret(Arc<Vec<SecretPart>>),
    List(Arc<Vec<Value>>),
    /// Records and maps: both are string-keyed and ordered.
    Record(Arc<BTreeMap<String, Value>>),
    /// A declared resource, used as a value (`let conf = file "…" {…}`).
    Handle(Arc<Handle>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    pub type_name: String,
    pub title: String,
    /// Set by `reload(h)` / `restart(h)`: what a notification asks.
    pub action: Option<mc_ir::RefreshAction>,
}

impl Handle {
    pub fn id(&self) -> mc_ir::ResourceId {
        mc_ir::ResourceId::new(&self.type_name, &self.title)
    }
}

impl Value {
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::Str(s.into())
    }

    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Arc::new(v))
    }

    pub fn record(m: BTreeMap<String, Value>) -> Value {
        Value::Record(Arc::new(m))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the value's kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "Bool",
            Value::Int(_) => "Int",
            Value::Str(_) => "String",
            Value::Mode(_) => "Mode",
            Value::Duration(_) => "Duration",
            Value::Secret(_) => "Secret",
            Value::List(_) => "list",
            Value::Record(_) => "record",
            Value::Handle(_) => "resource",
        }
    }

    /// True if this value, or anything inside it, depends on a secret.
    pub fn contains_secret(&self) -> bool {
        match self {
            Value::Secret(_) => true,
            Value::List(l) => l.iter().any(Value::contains_secret),
            Value::Record(m) => m.values().any(Value::contains_secret),
            _ => false,
        }
    }

    /// Text of a scalar as `"${x}"` prints it; `None` for secrets, lists
    /// and records (which interpolation handles separately).
    pub fn display(&self) -> Option<String> {
        Some(match self {
            Value::Null => "null".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Str(s) => s.to_string(),
            Value::Mode(m) => format!("0o{m:o}"),
            Value::Duration(d) => format_duration(*d),
            Value::Handle(h) => h.id().0,
            Value::Secret(_) | Value::List(_) | Value::Record(_) => return None,
        })
    }

    /// Renders any value as text for `to_string`: scalars as interpolation
    /// does, lists and records in mc syntax. Secrets are shown redacted.
    pub fn render(&self) -> String {
        match self {
            Value::Secret(_) => "(secret)".to_string(),
            Value::Str(s) => s.to_string(),
            Value::List(l) => {
                let mut out = String::from("[");
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&v.render_nested());
                }
                out.push(']');
                out
            }
            Value::Record(m) => {
                let mut out = String::from("{");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, " {k} = {}", v.render_nested());
                }
                out.push_str(" }");
                out
            }
            other => other.display().unwrap_or_default(),
        }
    }

    /// As [`Value::render`], with strings quoted.
    pub fn render_nested(&self) -> String {
        match self {
            Value::Str(s) => format!("{s:?}"),
            other => other.render(),
        }
    }

    /// Catalog form: modes and durations become `Int`s, handles their id.
    pub fn to_ir(&self) -> mc_ir::Value {
        match self {
            Value::Null => mc_ir::Value::Null,
            Value::Bool(b) => mc_ir::Value::Bool(*b),
            Value::Int(i) | Value::Mode(i) | Value::Duration(i) => mc_ir::Value::Int(*i),
            Value::Str(s) => mc_ir::Value::String(s.to_string()),
            Value::Secret(parts) => mc_ir::Value::Secret(SecretValue {
                parts: parts.as_ref().clone(),
            }),
            Value::List(l) => mc_ir::Value::List(l.iter().map(Value::to_ir).collect()),
            Value::Record(m) => mc_ir::Value::Map(
                m.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.to_ir()))
                    .collect(),
            ),
            Value::Handle(h) => mc_ir::Value::String(h.id().0),
        }
    }

    /// A value from JSON (facts files): objects become records.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n.as_i64().map(Value::Int).unwrap_or_else(|| {
                // Floats have no mc type; keep their text.
                Value::str(n.to_string())
            }),
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::record(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// Marker text that stands for a secret inside rendered templates; the
/// rendered text is split at these markers back into secret parts.
pub const SECRET_OPEN: &str = "\u{1}mc-secret:";
pub const SECRET_CLOSE: &str = "\u{1}";

pub(crate) fn secret_placeholders(parts: &[SecretPart]) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            SecretPart::Text(t) => out.push_str(t),
            SecretPart::Secret(n) => {
                out.push_str(SECRET_OPEN);
                out.push_str(n);
                out.push_str(SECRET_CLOSE);
            }
        }
    }
    out
}

/// Turns text with secret markers back into a value: a plain string when no
/// marker is left, a secret otherwise.
pub fn from_placeholder_text(text: &str) -> Value {
    if !text.contains(SECRET_OPEN) {
        return Value::str(text);
    }
    let mut parts = SecretBuilder::default();
    let mut rest = text;
    while let Some(i) = rest.find(SECRET_OPEN) {
        parts.text(&rest[..i]);
        let after = &rest[i + SECRET_OPEN.len()..];
        match after.find(SECRET_CLOSE) {
            Some(j) => {
                parts.secret(&after[..j]);
                rest = &after[j + SECRET_CLOSE.len()..];
            }
            None => {
                rest = after;
                break;
            }
        }
    }
    parts.text(rest);
    parts.finish()
}

/// Builds the parts of an interpolated string, merging adjacent text.
#[derive(Default)]
pub struct SecretBuilder {
    parts: Vec<SecretPart>,
    has_secret: bool,
}

impl SecretBuilder {
    pub fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(SecretPart::Text(t)) = self.parts.last_mut() {
            t.push_str(s);
        } else {
            self.parts.push(SecretPart::Text(s.to_string()));
        }
    }

    pub fn secret(&mut self, name: &str) {
        self.has_secret = true;
        self.parts.push(SecretPart::Secret(name.to_string()));
    }

    pub fn extend(&mut self, parts: &[SecretPart]) {
        for p in parts {
            match p {
                SecretPart::Text(t) => self.text(t),
                SecretPart::Secret(n) => self.secret(n),
            }
        }
    }

    pub fn finish(self) -> Value {
        if self.has_secret {
            Value::Secret(Arc::new(self.parts))
        } else {
            let mut s = String::new();
            for p in self.parts {
                if let SecretPart::Text(t) = p {
                    s.push_str(&t);
                }
            }
            Value::str(s)
        }
    }
}

pub fn format_duration(secs: i64) -> String {
    if secs != 0 && secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs != 0 && secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ir_conversion_drops_nulls_and_flattens_units() {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), Value::Null);
        m.insert("b".to_string(), Value::Mode(0o644));
        m.insert("c".to_string(), Value::Duration(90));
        let ir = Value::record(m).to_ir();
        assert_eq!(serde_json::to_string(&ir).unwrap(), r#"{"b":420,"c":90}"#);
    }

    #[test]
    fn placeholders_round_trip_to_secret_parts() {
        let mut b = SecretBuilder::default();
        b.text("pw=");
        b.secret("db");
        b.text("!");
        let v = b.finish();
        let Value::Secret(parts) = &v else {
            panic!("expected secret")
        };
        let text = secret_placeholders(parts);
        assert_eq!(from_placeholder_text(&text), v);
        assert_eq!(from_placeholder_text("plain"), Value::str("plain"));
    }

    #[test]
    fn durations_and_modes_display_as_written() {
        assert_eq!(Value::Duration(300).display().unwrap(), "5m");
        assert_eq!(Value::Duration(7200).display().unwrap(), "2h");
        assert_eq!(Value::Duration(45).display().unwrap(), "45s");
        assert_eq!(Value::Mode(0o755).display().unwrap(), "0o755");
    }
}
