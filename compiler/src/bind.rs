//! Binding a call's arguments to the callee's parameters, and a resource
//! statement's fields to its type's attributes: the one place that decides
//! which argument fills which parameter (positional ones in order, then by
//! name) and what is wrong with a call or a resource (E0201, E0203–E0206).
//! The checker reports the problems; the evaluator takes the slots, and
//! reports the same problems where no checker ran before it. So do the
//! messages for a call of the wrong kind of thing (E0209).

use crate::diag::{Diag, Loc};
use crate::eval::{is_meta_attr, meta_attr_names};
use mc_grammar::ast::{Arg, AttrDecl, Field, ResourceStmt, TypeExpr};
use mc_grammar::span::Span;
use std::collections::HashMap;

/// Whether a resource statement must set the attribute: no default, and
/// a type that does not admit null.
pub fn attr_required(a: &AttrDecl) -> bool {
    a.default.is_none() && !matches!(a.ty, TypeExpr::Optional(..))
}

/// A parameter as binding sees it.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    pub name: &'a str,
    pub has_default: bool,
}

/// The call being bound, for messages: `what` is "function", "role" or
/// "resource type".
pub struct Call<'a> {
    pub what: &'a str,
    pub callee: &'a str,
    pub span: Span,
}

/// Which argument fills each parameter (`None`: its default, or missing),
/// and the call's problems.
pub struct Bound<'a> {
    pub args: Vec<Option<&'a Arg>>,
    pub diags: Vec<Diag>,
}

impl Bound<'_> {
    pub fn is_ok(&self) -> bool {
        self.diags.is_empty()
    }
}

/// Binds `args` to `params`; `loc` places a span in the caller's file.
pub fn bind<'a>(
    params: &[Slot<'_>],
    args: &'a [Arg],
    call: &Call<'_>,
    loc: &dyn Fn(Span) -> Loc,
) -> Bound<'a> {
    let mut bound = Bound {
        args: vec![None; params.len()],
        diags: Vec::new(),
    };
    let mut positional = 0usize;
    for a in args {
        let idx = match &a.name {
            None => {
                positional += 1;
                if positional > params.len() {
                    bound.diags.push(too_many(params.len(), a, call, loc));
                    continue;
                }
                positional - 1
            }
            Some(n) => match params.iter().position(|p| p.name == n.name) {
                Some(i) => i,
                None => {
                    bound.diags.push(unknown_name(params, args, a, call, loc));
                    continue;
                }
            },
        };
        if bound.args[idx].is_some() {
            bound.diags.push(
                Diag::error(
                    "E0206",
                    loc(a.span),
                    format!("argument `{}` is given twice", params[idx].name),
                )
                .label("given again here"),
            );
            continue;
        }
        bound.args[idx] = Some(a);
    }
    // A misspelt name (`c = 2` for `b`) is one mistake: the parameter the
    // fix names is not also reported missing.
    let guessed: Vec<&str> = bound
        .diags
        .iter()
        .filter(|d| d.code == "E0204")
        .filter_map(|d| d.fix.as_ref().map(|f| f.replacement.as_str()))
        .collect();
    if let Some(d) = missing(params, &bound.args, &guessed, call, loc) {
        bound.diags.push(d);
    }
    bound
}

fn too_many(count: usize, a: &Arg, call: &Call<'_>, loc: &dyn Fn(Span) -> Loc) -> Diag {
    Diag::error(
        "E0204",
        loc(a.span),
        format!(
            "{} `{}` takes {count} arguments, this is one too many",
            call.what, call.callee
        ),
    )
    .label("unexpected argument")
}

/// An argument naming no parameter; "did you mean" offers the parameters
/// no other argument of the call fills.
fn unknown_name(
    params: &[Slot<'_>],
    args: &[Arg],
    a: &Arg,
    call: &Call<'_>,
    loc: &dyn Fn(Span) -> Loc,
) -> Diag {
    let Some(n) = &a.name else {
        return too_many(params.len(), a, call, loc);
    };
    let at = loc(n.span);
    let names: Vec<&str> = params.iter().map(|p| p.name).collect();
    let positional = args.iter().filter(|a| a.name.is_none()).count();
    let named = |p: &str| {
        args.iter()
            .any(|a| a.name.as_ref().is_some_and(|n| n.name == p))
    };
    let free: Vec<&str> = names
        .iter()
        .enumerate()
        .filter(|&(i, p)| i >= positional && !named(p))
        .map(|(_, p)| *p)
        .collect();
    Diag::error(
        "E0204",
        at.clone(),
        format!(
            "{} `{}` has no parameter `{}`",
            call.what, call.callee, n.name
        ),
    )
    .label("unknown argument")
    .did_you_mean(at, &n.name, free)
    .note(format!("parameters: {}", names.join(", ")))
}

/// E0205 for the parameters without a default that no argument fills,
/// except those an E0204 fix already names.
fn missing(
    params: &[Slot<'_>],
    args: &[Option<&Arg>],
    except: &[&str],
    call: &Call<'_>,
    loc: &dyn Fn(Span) -> Loc,
) -> Option<Diag> {
    let missing: Vec<String> = params
        .iter()
        .zip(args)
        .filter(|(p, a)| a.is_none() && !p.has_default && !except.contains(&p.name))
        .map(|(p, _)| format!("`{}`", p.name))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let noun = if missing.len() == 1 {
        "argument"
    } else {
        "arguments"
    };
    Some(
        Diag::error(
            "E0205",
            loc(call.span),
            format!(
                "{} `{}` needs {}",
                call.what,
                call.callee,
                missing.join(", ")
            ),
        )
        .label(format!("missing {noun}")),
    )
}

/// A resource statement's fields sorted out against its type's attributes
/// (`slots`, the `risk` attribute excluded: it is a meta-attribute).
pub struct Fields<'a> {
    /// The field that sets each attribute of `slots`, if any.
    pub attrs: Vec<Option<&'a Field>>,
    /// Meta-attributes set (`requires`, `notify`, `risk`, …).
    pub meta: Vec<&'a Field>,
    pub diags: Vec<Diag>,
}

/// Sorts `r`'s fields into attributes of `type_name` and meta-attributes:
/// E0201 an unknown attribute, E0206 one set twice, E0203 a required one
/// missing (with a fix that adds it).
pub fn bind_fields<'a>(
    type_name: &str,
    slots: &[Slot<'_>],
    r: &'a ResourceStmt,
    loc: &dyn Fn(Span) -> Loc,
) -> Fields<'a> {
    let mut out = Fields {
        attrs: vec![None; slots.len()],
        meta: Vec::new(),
        diags: Vec::new(),
    };
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for f in &r.fields {
        let name = f.name.name.as_str();
        if let Some(first) = seen.insert(name, f.name.span) {
            out.diags.push(
                Diag::error("E0206", loc(f.name.span), format!("`{name}` is set twice"))
                    .label("set again here")
                    .secondary(loc(first), "first set here"),
            );
            continue;
        }
        match slots.iter().position(|s| s.name == name && name != "risk") {
            Some(i) => out.attrs[i] = Some(f),
            None if is_meta_attr(name) => out.meta.push(f),
            None => {
                out.diags.push(unknown_attr(type_name, slots, f, loc));
            }
        }
    }
    if let Some(d) = missing_attrs(type_name, slots, &out.attrs, r, loc) {
        out.diags.push(d);
    }
    out
}

fn unknown_attr(type_name: &str, slots: &[Slot<'_>], f: &Field, loc: &dyn Fn(Span) -> Loc) -> Diag {
    let at = loc(f.name.span);
    let name = f.name.name.as_str();
    let mut names: Vec<&str> = slots
        .iter()
        .map(|s| s.name)
        .filter(|n| *n != "risk")
        .collect();
    let attrs_list = names.join(", ");
    names.extend(meta_attr_names().map(|n| -> &str { n }));
    Diag::error(
        "E0201",
        at.clone(),
        format!("`{type_name}` has no attribute `{name}`"),
    )
    .label("unknown attribute")
    .did_you_mean(at, name, names)
    .note(format!("`{type_name}` attributes: {attrs_list}"))
}

fn missing_attrs(
    type_name: &str,
    slots: &[Slot<'_>],
    given: &[Option<&Field>],
    r: &ResourceStmt,
    loc: &dyn Fn(Span) -> Loc,
) -> Option<Diag> {
    let missing: Vec<String> = slots
        .iter()
        .zip(given)
        .filter(|(s, f)| f.is_none() && !s.has_default && s.name != "risk")
        .map(|(s, _)| format!("`{}`", s.name))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let noun = if missing.len() == 1 {
        "attribute"
    } else {
        "attributes"
    };
    let list = missing.join(", ");
    let text: String = missing
        .iter()
        .map(|m| format!("  {} = …\n", m.trim_matches('`')))
        .collect();
    Some(
        Diag::error(
            "E0203",
            loc(r.ty.span.to(r.title.span())),
            format!("`{type_name}` needs {noun} {list}"),
        )
        .label("missing required attribute")
        .fix(
            loc(Span::empty(r.span.end.saturating_sub(1))),
            text,
            format!("add {list}"),
        ),
    )
}

/// A function called as a statement, where a role goes (E0209).
pub fn function_as_role(callee: &str, loc: Loc) -> Diag {
    Diag::error(
        "E0209",
        loc,
        format!("`{callee}` is a function, not a role"),
    )
    .label("a function call computes a value; only roles can stand alone")
    .note("use it in an expression, e.g. `let x = f(…)`")
}

/// A statement call of something that is neither a role nor a function.
pub fn not_a_role(callee: &str, loc: Loc) -> Diag {
    Diag::error("E0209", loc, format!("`{callee}` is not a role")).label("not a role")
}

/// A role called where a value goes (E0209).
pub fn role_as_function(loc: Loc) -> Diag {
    Diag::error("E0209", loc, "a role declares resources and has no value")
        .label("role used as a function")
        .note("call a role as a statement, on its own line")
}

/// A call of something that is not a function (E0209).
pub fn not_a_function(callee: &str, loc: Loc) -> Diag {
    Diag::error("E0209", loc, format!("`{callee}` is not a function")).label("not callable")
}

/// A resource statement of a type no module declares (E0104).
pub fn unknown_resource_type<'a>(
    name: &str,
    loc: Loc,
    known: impl IntoIterator<Item = &'a str>,
) -> Diag {
    Diag::error(
        "E0104",
        loc.clone(),
        format!("unknown resource type `{name}`"),
    )
    .label("no resource type of this name")
    .did_you_mean(loc, name, known)
}
