//! Types of mc values: the one representation the static checker, the
//! module summaries, the IDE layer and the evaluator share, and the check of
//! a value against a declared type.

use crate::db::SourceFile;
use crate::value::Value;
use mc_grammar::ast::{self, Expr};
use mc_grammar::span::Span;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// An mc type.
///
/// The checker builds it from type expressions with [`Type::of`] (aliases
/// and resource types left as [`Type::Named`], expanded where they are
/// used); the evaluator builds it with every name resolved. Both fill a
/// record field's default as a [`DefaultRef`], so the type is plain data:
/// `Eq` and `Hash`, as salsa summaries need.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// Accepts anything: parameters of generic builtins, and whatever the
    /// checker cannot know before evaluation.
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
    Optional(Box<Type>),
    /// A union of string literals: `"present" | "absent"`.
    Literals(Vec<String>),
    /// A record with its fields in declaration order.
    Record(Arc<[Field]>),
    /// A handle of a declared resource of this type (`""`: of any type).
    Handle(String),
    /// Any other union.
    Union(Vec<Type>),
    /// A type alias or resource type by name. Only module summaries hold
    /// it: the checker expands it in the scope it was written in (summaries
    /// keep names, not bodies); the evaluator never builds it.
    Named(String),
}

/// A field of a record type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    /// Whether a record literal must set it (no default, not optional).
    pub required: bool,
    pub default: Option<DefaultRef>,
}

impl Field {
    /// A field without a default.
    pub fn new(name: impl Into<String>, ty: Type, required: bool) -> Field {
        Field {
            name: name.into(),
            ty,
            required,
            default: None,
        }
    }
}

/// Where a record field's default expression is: the expression at
/// item-relative `span` of item number `item` of `file`.
///
/// A stable id: items are parsed from their own text (`db::item_ast`), so
/// editing other items, even in the same file, leaves it (and the
/// summaries holding it) equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DefaultRef {
    pub file: SourceFile,
    pub item: u32,
    pub span: Span,
}

/// Where a type expression is written, for the [`DefaultRef`]s of the
/// types built from it: item number `item` of `file`, whose spans start
/// at `start` (0 for item ASTs; the item's offset for a whole-file parse).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: SourceFile,
    pub item: u32,
    pub start: u32,
}

impl Origin {
    pub fn default_ref(&self, default: &Expr) -> DefaultRef {
        let span = default.span();
        DefaultRef {
            file: self.file,
            item: self.item,
            span: Span::new(
                span.start.saturating_sub(self.start),
                span.end.saturating_sub(self.start),
            ),
        }
    }
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
            Type::Record(fields) if fields.is_empty() => f.write_str("{}"),
            Type::Record(fields) => {
                f.write_str("{ ")?;
                for (i, fld) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if fld.name == crate::resolve::OPEN_FIELD {
                        f.write_str("..")?;
                    } else {
                        write!(f, "{}: {}", fld.name, fld.ty)?;
                    }
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
            Type::Handle(n) | Type::Named(n) => f.write_str(n),
            Type::Union(ts) => {
                let parts: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                f.write_str(&parts.join(" | "))
            }
        }
    }
}

/// The built-in type a single name stands for, if any.
pub fn scalar(name: &str) -> Option<Type> {
    Some(match name {
        "Int" => Type::Int,
        "Bool" => Type::Bool,
        "String" => Type::Str,
        "Path" => Type::Path,
        "Mode" => Type::Mode,
        "Duration" => Type::Duration,
        "Secret" => Type::Secret,
        "Any" => Type::Any,
        "Null" => Type::Null,
        _ => return None,
    })
}

impl Type {
    /// A record type of these fields.
    pub fn record(fields: Vec<Field>) -> Type {
        Type::Record(fields.into())
    }

    /// A type expression as written at `at`, without looking names up:
    /// aliases and resource types stay [`Type::Named`] (qualified names are
    /// `Any`), and a union of anything but literals stays a [`Type::Union`]
    /// of its members. For module summaries and the checker.
    pub fn of(t: &ast::TypeExpr, at: Origin) -> Type {
        let keep_name = &mut |q: &ast::QualName| -> Result<Type, std::convert::Infallible> {
            Ok(match q.segments.as_slice() {
                [one] => Type::Named(one.name.clone()),
                _ => Type::Any,
            })
        };
        match Type::of_with(t, at, keep_name) {
            Ok(t) => t,
            Err(never) => match never {},
        }
    }

    /// A written type as a [`Type`]: the one reading of type expressions.
    /// Scalars are read here; `named` gives what any other name stands
    /// for. Module summaries keep it as `Named` (the checker expands it in
    /// the scope it was written in, [`Type::of`]); evaluation resolves it
    /// through the checker's resolution of the name.
    pub fn of_with<E>(
        t: &ast::TypeExpr,
        at: Origin,
        named: &mut dyn FnMut(&ast::QualName) -> Result<Type, E>,
    ) -> Result<Type, E> {
        use ast::TypeExpr as T;
        let mut of = |t: &ast::TypeExpr| Type::of_with(t, at, named);
        Ok(match t {
            T::Named(q) => match q.segments.as_slice() {
                [one] => match scalar(&one.name) {
                    Some(t) => t,
                    None => named(q)?,
                },
                _ => named(q)?,
            },
            T::List(t, _) => Type::List(Box::new(of(t)?)),
            T::Map(t, _) => Type::Map(Box::new(of(t)?)),
            T::Optional(t, _) => Type::Optional(Box::new(of(t)?)),
            T::Paren(t, _) => of(t)?,
            T::Literal(l) => Type::Literals(vec![l.value.clone()]),
            T::Union(ts, _) => {
                let mut members = Vec::with_capacity(ts.len());
                for t in ts {
                    members.push(of(t)?);
                }
                union(members)
            }
            T::Record(fields, _) => {
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    out.push(Field {
                        name: f.name.name.clone(),
                        ty: of(&f.ty)?,
                        required: f.default.is_none() && !matches!(f.ty, T::Optional(..)),
                        default: f.default.as_ref().map(|d| at.default_ref(d)),
                    });
                }
                Type::record(out)
            }
            T::Error(_) => Type::Any,
        })
    }

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

/// A union: of string literals, one literal union; with `Null`, the
/// optional of the rest; otherwise the union of its members.
fn union(members: Vec<Type>) -> Type {
    if members.iter().all(|m| matches!(m, Type::Literals(_))) {
        let mut lits = Vec::new();
        for m in members {
            if let Type::Literals(l) = m {
                lits.extend(l);
            }
        }
        return Type::Literals(lits);
    }
    if members.iter().any(|m| matches!(m, Type::Null)) {
        let mut rest: Vec<Type> = members
            .into_iter()
            .filter(|m| !matches!(m, Type::Null))
            .collect();
        let inner = if rest.len() == 1 {
            rest.pop().unwrap_or(Type::Any)
        } else {
            Type::Union(rest)
        };
        return Type::Optional(Box::new(inner));
    }
    Type::Union(members)
}

/// The default expression of a record field at item-relative `span` in a
/// type written in the declarations of `item` (its `let`, alias, parameter,
/// result, title and attribute types).
pub fn find_default(item: &ast::Item, span: Span) -> Option<&Expr> {
    use ast::Item;
    fn in_type(t: &ast::TypeExpr, span: Span) -> Option<&Expr> {
        use ast::TypeExpr as T;
        match t {
            T::List(t, _) | T::Map(t, _) | T::Optional(t, _) | T::Paren(t, _) => in_type(t, span),
            T::Union(ts, _) => ts.iter().find_map(|t| in_type(t, span)),
            T::Record(fields, _) => fields.iter().find_map(|f| match &f.default {
                Some(d) if d.span() == span => Some(d),
                _ => in_type(&f.ty, span),
            }),
            T::Named(_) | T::Literal(_) | T::Error(_) => None,
        }
    }
    fn params(ps: &[ast::Param], span: Span) -> Option<&Expr> {
        ps.iter().find_map(|p| in_type(&p.ty, span))
    }
    match item {
        Item::Let(l) => l.ty.as_ref().and_then(|t| in_type(t, span)),
        Item::Type(t) => in_type(&t.ty, span),
        Item::Fn(f) => {
            params(&f.params, span).or_else(|| f.ret.as_ref().and_then(|t| in_type(t, span)))
        }
        Item::Role(r) => params(&r.params, span),
        Item::Resource(r) => in_type(&r.title.ty, span).or_else(|| {
            r.members.iter().find_map(|m| match m {
                ast::ResourceMember::Attr(a) => in_type(&a.ty, span),
                _ => None,
            })
        }),
        _ => None,
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
    fn eval_default(&mut self, default: &DefaultRef) -> Option<Value>;
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
        (Type::Record(fields), Value::Record(m)) => {
            let known: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
            for k in m.keys() {
                if !known.contains(k) {
                    return Err(Mismatch::new(MismatchKind::UnknownField {
                        name: k.clone(),
                        known,
                    }));
                }
            }
            let mut out = BTreeMap::new();
            for f in fields.iter() {
                let item = match m.get(&f.name) {
                    Some(v) => v.clone(),
                    None => match &f.default {
                        Some(d) => defaults.eval_default(d).unwrap_or(Value::Null),
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
        fn eval_default(&mut self, _: &DefaultRef) -> Option<Value> {
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
        let db = crate::db::Database::default();
        let file = SourceFile::new(&db, Arc::from("a.mc"), "a.mc".into(), Arc::from(""));
        let rt = Type::record(vec![
            Field {
                name: "port".into(),
                ty: Type::Int,
                required: false,
                default: Some(DefaultRef {
                    file,
                    item: 0,
                    span: Span::new(0, 2),
                }),
            },
            Field::new(
                "tier",
                Type::Literals(vec!["dev".into(), "prod".into()]),
                true,
            ),
        ]);
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
