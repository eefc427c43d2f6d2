//! How a declaration reads on hover and in completion details: its
//! signature as written (`role nginx(port: Int = 80)`, `mode: Mode? = null`)
//! or, for bindings, with the checker's type, and its `///` docs.

use super::{display_type, Analysis, DefKind, DefLoc};
use mc_grammar::ast::*;
use mc_grammar::span::Span;
use std::path::PathBuf;

/// A declaration, described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Def {
    /// Where it is (`None` for `host` and `change`).
    pub path: Option<PathBuf>,
    pub span: Span,
    pub name: String,
    pub kind: DefKind,
    /// The signature shown on hover.
    pub detail: String,
    pub docs: Option<String>,
    /// For attributes and parameters: the declared type as written.
    pub ty: Option<String>,
}

impl Analysis {
    /// Describes the declaration at `def`.
    pub fn describe(&self, def: &DefLoc) -> Def {
        let mut out = Def {
            path: def.file.map(|f| self.path(f)),
            span: def.span,
            name: def.name.clone(),
            kind: def.kind,
            detail: def.name.clone(),
            docs: None,
            ty: None,
        };
        if def.kind == DefKind::Builtin {
            let (detail, docs) = builtin(&def.name);
            out.detail = detail.to_string();
            out.docs = Some(docs.to_string());
            return out;
        }
        let Some(file) = def.file else {
            return out;
        };
        let text = self.text(file);
        let slice = |s: Span| s.text(&text).to_string();
        let checked = self
            .occurrences(file)
            .iter()
            .find(|o| o.is_def && o.span == def.span)
            .and_then(|o| o.ty.as_ref())
            .and_then(display_type);
        let Some(item) = self.item_at(file, def.span.start) else {
            return out;
        };
        let name = &def.name;
        match (item, def.kind) {
            (Item::Import(imp), _) => {
                out.detail = format!("import \"{}\"", imp.path.value);
                out.docs = imp.docs.clone();
            }
            (Item::Let(l), DefKind::Let) => {
                out.detail = match (&l.ty, &checked) {
                    (Some(t), _) => format!("let {name}: {}", slice(t.span())),
                    (None, Some(t)) => format!("let {name}: {t}"),
                    (None, None) => format!("let {name}"),
                };
                out.docs = l.docs.clone();
            }
            (Item::Type(t), _) => {
                out.detail = format!("type {name} = {}", slice(t.ty.span()));
                out.docs = t.docs.clone();
            }
            (Item::Fn(f), DefKind::Fn) => {
                out.detail = format!("fn {name}({})", params_text(&text, &f.params));
                if let Some(ret) = &f.ret {
                    out.detail.push_str(" -> ");
                    out.detail.push_str(&slice(ret.span()));
                }
                out.docs = f.docs.clone();
            }
            (Item::Role(r), DefKind::Role) => {
                out.detail = format!("role {name}({})", params_text(&text, &r.params));
                out.docs = r.docs.clone();
            }
            (Item::Resource(r), DefKind::Resource) => {
                out.detail = format!("resource {name}({})", slice(r.title.span));
                out.docs = r.docs.clone();
            }
            (Item::Resource(r), DefKind::Attr) => {
                if let Some(a) = r.members.iter().find_map(|m| match m {
                    ResourceMember::Attr(a) if a.name.span == def.span => Some(a),
                    _ => None,
                }) {
                    let ty = slice(a.ty.span());
                    out.detail = match &a.default {
                        Some(d) => format!("{name}: {ty} = {}", slice(d.span())),
                        None => format!("{name}: {ty}"),
                    };
                    out.docs = a.docs.clone();
                    out.ty = Some(ty);
                }
            }
            (_, DefKind::Param) => {
                let params: Vec<&Param> = match item {
                    Item::Fn(f) => f.params.iter().collect(),
                    Item::Role(r) => r.params.iter().collect(),
                    Item::Resource(r) => vec![&r.title],
                    _ => Vec::new(),
                };
                if let Some(p) = params.into_iter().find(|p| p.name.span == def.span) {
                    out.detail = slice(p.span);
                    out.ty = Some(slice(p.ty.span()));
                }
            }
            (_, _) => {
                let mut found: Option<(String, Option<String>)> = None;
                walk_stmts(item, &mut |s| match s {
                    Stmt::Let(l) if l.name.span == def.span => {
                        let ty = l.ty.as_ref().map(|t| slice(t.span())).or(checked.clone());
                        found = Some(match &ty {
                            Some(t) => (format!("let {name}: {t}"), ty.clone()),
                            None => (format!("let {name}"), None),
                        });
                    }
                    Stmt::Resource(r) if r.binding.as_ref().is_some_and(|b| b.span == def.span) => {
                        found = Some((
                            format!("let {name} = {} …", r.ty.name),
                            Some(r.ty.name.clone()),
                        ));
                    }
                    _ => {}
                });
                let (detail, ty) = found.unwrap_or_else(|| match &checked {
                    Some(t) => (format!("for {name}: {t}"), Some(t.clone())),
                    None => (format!("for {name}"), None),
                });
                out.detail = detail;
                out.ty = ty;
            }
        }
        out
    }
}

fn params_text(text: &str, params: &[Param]) -> String {
    let parts: Vec<&str> = params.iter().map(|p| p.span.text(text)).collect();
    parts.join(", ")
}

/// What the language provides: `host` and `facts` (inside `on`), `change`
/// (inside policies).
fn builtin(name: &str) -> (&'static str, &'static str) {
    match name {
        "host" => (
            "host: { name: String, address: String, groups: [String], vars: { … } }",
            "The host being configured (inside `on`): its inventory name, address, groups, and its vars (its groups' vars overlaid by its own).",
        ),
        "facts" => (
            "facts: Facts",
            "Facts gathered from the host by `mc plan` (or read from `--facts FILE.json`).",
        ),
        _ => (
            "change: { resource: …, action: String }",
            "The planned change a policy rule is looking at.",
        ),
    }
}

/// The builtins completion offers everywhere (the checker says where
/// they are in scope).
pub const BUILTINS: &[&str] = &["host", "facts", "change"];

impl Analysis {
    /// A builtin's description (`host`, `facts`, `change`).
    pub fn describe_builtin(&self, name: &str) -> Def {
        let (detail, docs) = builtin(name);
        Def {
            path: None,
            span: Span::default(),
            name: name.to_string(),
            kind: DefKind::Builtin,
            detail: detail.to_string(),
            docs: Some(docs.to_string()),
            ty: None,
        }
    }
}

/// Calls `f` on every statement of an item, nested blocks included.
pub fn walk_stmts(item: &Item, f: &mut dyn FnMut(&Stmt)) {
    fn block(b: &Block, f: &mut dyn FnMut(&Stmt)) {
        for s in &b.stmts {
            f(s);
            match s {
                Stmt::If(i) => if_stmt(i, f),
                Stmt::For(x) => block(&x.body, f),
                _ => {}
            }
        }
    }
    fn if_stmt(i: &IfStmt, f: &mut dyn FnMut(&Stmt)) {
        block(&i.then_block, f);
        match &i.else_branch {
            Some(ElseBranch::If(n)) => if_stmt(n, f),
            Some(ElseBranch::Block(b)) => block(b, f),
            None => {}
        }
    }
    match item {
        Item::Role(r) => block(&r.body, f),
        Item::On(o) => block(&o.body, f),
        Item::Policy(p) => {
            for w in &p.rules {
                block(&w.body, f);
            }
        }
        _ => {}
    }
}
