//! Types of mc values and the check of a value against a declared type.

use crate::value::Value;
use mc_grammar::ast::Expr;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    /// Accepts anything: parameters of generic builtins.
    Any,
    Null,
    Bool,
    Int,
    Str,
    Path,
    Mode,
    Duration,
    Secret,
    List(Box<Type>),
    Map(Box<Type>),
    Record(Arc<RecordType>),
    Optional(Box<Type>),
    /// A union of string literals: `"present" | "absent"`.
    Literals(Vec<String>),
    /// A handle of a declared resource of this type.
    Handle(String),
    /// Any other union.
    Union(Vec<Type>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordType {
    pub fields: Vec<RecordField>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecordField {
    pub name: String,
    pub ty: Type,
    /// Default expression, evaluated in `module` (index into the program's files).
    pub default: Option<(Arc<Expr>, usize, u32)>,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("Any"),
            Type::Null => f.write_str("null"),
            Type::Bool => f.write_str("Bool"),
            Type::Int => f.write_str("Int"),
            Type::Str => f.write_str("String"),
            Type::Path => f.write_str("Path"),
            Type::Mode => f.write_str("Mode"),
            Type::Duration => f.write_str("Duration"),
            Type::Secret => f.write_str("Secret"),
            Type::List(t) => write!(f, "[{t}]"),
            Type::Map(t) => write!(f, "{{String: {t}}}"),
            Type::Record(r) => {
                f.write_str("{ ")?;
                for (i, fld) in r.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", fld.name, fld.ty)?;
                }
                f.write_str(" }")
            }
            Type::Optional(t) => match t.as_ref() {
                Type::Literals(_) | Type::Union(_) => write!(f, "({t})?"),
                _ => write!(f, "{t}?"),
            },
            Type::Literals(ls) => {
                let parts: Vec<String> = ls.iter().map(|l| format!("{l:?}")).collect();
                f.write_str(&parts.join(" | "))
            }
            Type::Handle(n) => f.write_str(n),
            Type::Union(ts) => {
                let parts: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                f.write_str(&parts.join(" | "))
            }
        }
    }
}

impl Type {
    /// Whether a `Secret` may flow into a value of this type.
    pub fn accepts_secret(&self) -> bool {
        match self {
            Type::Secret | Type::Any => true,
            Type::Optional(t) | Type::List(t) | Type::Map(t) => t.accepts_secret(),
            Type::Union(ts) => ts.iter().any(Type::accepts_secret),
            _ => false,
        }
    }

    pub fn is_optional(&self) -> bool {
        matches!(self, Type::Optional(_) | Type::Null | Type::Any)
    }
}

/// Why a value does not fit a type. `path` locates the part that failed
/// inside the value (`.port`, `[2]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub path: String,
    pub kind: MismatchKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MismatchKind {
    Wrong {
        expected: String,
        found: String,
    },
    SecretLeak {
        expected: String,
    },
    UnknownField {
        name: String,
        known: Vec<String>,
    },
    MissingField {
        name: String,
    },
    /// Not absolute, or holding a control character; `problem` says which.
    BadPath {
        headline: &'static str,
        problem: String,
    },
    BadLiteral {
        value: String,
        options: Vec<String>,
    },
    BadMode {
        value: i64,
    },
}

impl Mismatch {
    fn new(kind: MismatchKind) -> Mismatch {
        Mismatch {
            path: String::new(),
            kind,
        }
    }

    fn under(mut self, prefix: &str) -> Mismatch {
        self.path = format!("{prefix}{}", self.path);
        self
    }

    pub fn describe(&self) -> String {
        let at = if self.path.is_empty() {
            String::new()
        } else {
            format!(" at `{}`", self.path)
        };
        match &self.kind {
            MismatchKind::Wrong { expected, found } => {
                format!("expected {expected}, found {found}{at}")
            }
            MismatchKind::SecretLeak { expected } => {
                format!("a secret cannot flow into {expected}{at}")
            }
            MismatchKind::UnknownField { name, .. } => format!("unknown field `{name}`{at}"),
            MismatchKind::MissingField { name } => format!("missing field `{name}`{at}"),
            MismatchKind::BadPath { problem, .. } => format!("{problem}{at}"),
            MismatchKind::BadLiteral { value, options } => {
                let opts: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
                format!("{value:?} is not one of {}{at}", opts.join(", "))
            }
            MismatchKind::BadMode { value } => {
                format!("{value} is not a permission mode (0o0–0o7777){at}")
            }
        }
    }
}

/// Evaluates record-field defaults while checking; the evaluator provides it.
pub trait DefaultEval {
    fn eval_default(&mut self, expr: &Expr, module: usize, offset: u32) -> Option<Value>;
}

/// Checks `v` against `ty` and returns it in canonical form: paths
/// normalised, modes tagged, record defaults filled in.
pub fn coerce(v: Value, ty: &Type, defaults: &mut dyn DefaultEval) -> Result<Value, Mismatch> {
    let wrong = |v: &Value| {
        Err(Mismatch::new(MismatchKind::Wrong {
            expected: ty.to_string(),
            found: describe_value(v),
        }))
    };
    match (ty, v) {
        (Type::Any, v) => Ok(v),
        (Type::Optional(_), Value::Null) | (Type::Null, Value::Null) => Ok(Value::Null),
        (Type::Optional(t), v) => coerce(v, t, defaults),
        (_, Value::Secret(s)) => {
            if matches!(ty, Type::Secret) || (matches!(ty, Type::Union(_)) && ty.accepts_secret()) {
                Ok(Value::Secret(s))
            } else {
                Err(Mismatch::new(MismatchKind::SecretLeak {
                    expected: ty.to_string(),
                }))
            }
        }
        (Type::Bool, v @ Value::Bool(_)) => Ok(v),
        (Type::Int, v @ Value::Int(_)) => Ok(v),
        (Type::Str, v @ Value::Str(_)) => Ok(v),
        (Type::Secret, v @ Value::Str(_)) => Ok(v),
        (Type::Path, Value::Str(s)) => {
            if let Some((headline, problem)) = path_problem(&s) {
                return Err(Mismatch::new(MismatchKind::BadPath { headline, problem }));
            }
            Ok(Value::str(normalize_path(&s)))
        }
        (Type::Mode, Value::Int(i) | Value::Mode(i)) => {
            if (0..=0o7777).contains(&i) {
                Ok(Value::Mode(i))
            } else {
                Err(Mismatch::new(MismatchKind::BadMode { value: i }))
            }
        }
        (Type::Duration, v @ Value::Duration(_)) => Ok(v),
        (Type::Literals(opts), Value::Str(s)) => {
            if opts.iter().any(|o| o.as_str() == &*s) {
                Ok(Value::Str(s))
            } else {
                Err(Mismatch::new(MismatchKind::BadLiteral {
                    value: s.to_string(),
                    options: opts.clone(),
                }))
            }
        }
        (Type::Handle(name), Value::Handle(h)) => {
            if name.is_empty() || &h.type_name == name {
                Ok(Value::Handle(h))
            } else {
                wrong(&Value::Handle(h))
            }
        }
        (Type::List(t), Value::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(
                    coerce(item.clone(), t, defaults).map_err(|m| m.under(&format!("[{i}]")))?,
                );
            }
            Ok(Value::list(out))
        }
        (Type::Map(t), Value::Record(m)) => {
            let mut out = BTreeMap::new();
            for (k, item) in m.iter() {
                let item =
                    coerce(item.clone(), t, defaults).map_err(|e| e.under(&format!(".{k}")))?;
                out.insert(k.clone(), item);
            }
            Ok(Value::record(out))
        }
        (Type::Record(rt), Value::Record(m)) => {
            let known: Vec<String> = rt.fields.iter().map(|f| f.name.clone()).collect();
            for k in m.keys() {
                if !known.contains(k) {
                    return Err(Mismatch::new(MismatchKind::UnknownField {
                        name: k.clone(),
                        known,
                    }));
                }
            }
            let mut out = BTreeMap::new();
            for f in &rt.fields {
                let item = match m.get(&f.name) {
                    Some(v) => v.clone(),
                    None => match &f.default {
                        Some((expr, module, offset)) => defaults
                            .eval_default(expr, *module, *offset)
                            .unwrap_or(Value::Null),
                        None if f.ty.is_optional() => Value::Null,
                        None => {
                            return Err(Mismatch::new(MismatchKind::MissingField {
                                name: f.name.clone(),
                            }))
                        }
                    },
                };
                let item =
                    coerce(item, &f.ty, defaults).map_err(|e| e.under(&format!(".{}", f.name)))?;
                out.insert(f.name.clone(), item);
            }
            Ok(Value::record(out))
        }
        (Type::Union(ts), v) => {
            let mut first_err = None;
            for t in ts {
                match coerce(v.clone(), t, defaults) {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            wrong(&v)
        }
        (_, v) => wrong(&v),
    }
}

/// A value's type as a user reads it in a message.
pub fn describe_value(v: &Value) -> String {
    match v {
        Value::Str(s) if s.len() <= 40 => format!("String {s:?}"),
        Value::Int(i) => format!("Int {i}"),
        Value::Handle(h) => format!("resource {}", h.id()),
        other => other.kind().to_string(),
    }
}

/// Why `path` is not a valid `Path`, as (headline, detail): it must be
/// absolute, and control characters (NUL, newline, escape …) are refused
/// because no file name a user means holds one, and they would cut or forge
/// lines in plans and logs.
pub fn path_problem(path: &str) -> Option<(&'static str, String)> {
    if !path.starts_with('/') {
        let detail = format!("`{}` is not an absolute path", path.escape_debug());
        return Some(("must be an absolute path", detail));
    }
    let (at, c) = path.char_indices().find(|(_, c)| c.is_control())?;
    let detail = format!(
        "\"{}\" holds the control character {} at byte {at}",
        path.escape_debug(),
        c.escape_unicode()
    );
    Some(("must not hold control characters", detail))
}

/// Lexical normalisation of an absolute path: `//`, `.` and `..` removed,
/// no trailing slash.
pub fn normalize_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoDefaults;
    impl DefaultEval for NoDefaults {
        fn eval_default(&mut self, _: &Expr, _: usize, _: u32) -> Option<Value> {
            Some(Value::Int(80))
        }
    }

    #[test]
    fn paths_are_normalised_and_must_be_absolute() {
        assert_eq!(
            normalize_path("/etc//nginx/./x/../nginx.conf/"),
            "/etc/nginx/nginx.conf"
        );
        let ok = coerce(Value::str("/a/../b"), &Type::Path, &mut NoDefaults).unwrap();
        assert_eq!(ok, Value::str("/b"));
        let err = coerce(Value::str("rel/x"), &Type::Path, &mut NoDefaults).unwrap_err();
        assert!(matches!(err.kind, MismatchKind::BadPath { .. }));
    }

    #[test]
    fn secrets_flow_only_into_secret_types() {
        let s = Value::Secret(Arc::new(vec![mc_ir::SecretPart::Secret("pw".into())]));
        assert!(coerce(
            s.clone(),
            &Type::Optional(Box::new(Type::Secret)),
            &mut NoDefaults
        )
        .is_ok());
        let err = coerce(s, &Type::Str, &mut NoDefaults).unwrap_err();
        assert!(matches!(err.kind, MismatchKind::SecretLeak { .. }));
    }

    #[test]
    fn records_fill_defaults_and_reject_unknown_fields() {
        let rt = Type::Record(Arc::new(RecordType {
            fields: vec![
                RecordField {
                    name: "port".into(),
                    ty: Type::Int,
                    default: Some((Arc::new(Expr::Null(Default::default())), 0, 0)),
                },
                RecordField {
                    name: "tier".into(),
                    ty: Type::Literals(vec!["dev".into(), "prod".into()]),
                    default: None,
                },
            ],
        }));
        let mut m = BTreeMap::new();
        m.insert("tier".to_string(), Value::str("prod"));
        let v = coerce(Value::record(m.clone()), &rt, &mut NoDefaults).unwrap();
        let Value::Record(out) = v else { panic!() };
        assert_eq!(out.get("port"), Some(&Value::Int(80)));

        m.insert("prot".to_string(), Value::Int(1));
        let err = coerce(Value::record(m), &rt, &mut NoDefaults).unwrap_err();
        assert!(matches!(err.kind, MismatchKind::UnknownField { ref name, .. } if name == "prot"));

        let err = coerce(Value::record(BTreeMap::new()), &rt, &mut NoDefaults).unwrap_err();
        assert_eq!(err.describe(), "missing field `tier`");
    }
}
