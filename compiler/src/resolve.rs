//! Name resolution of one item against module summaries: unknown names,
//! resource types, attributes, roles, functions, arguments and types, each
//! with a "did you mean". Works on the item alone (relative spans) and on
//! summaries that ignore bodies, so it is cached per item.

use crate::db::{
    module_summary, prelude_summary, AttrSig, ModuleSummary, NameKind, ParamSig, ProjectInput,
    SType, SourceFile,
};
use crate::diag::{Diag, Loc};
use crate::eval::{META_ATTRS, SCALARS};
use mc_grammar::ast::*;
use mc_grammar::span::Span;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const HOST_FIELDS: &[&str] = &[
    "address",
    "user",
    "port",
    "groups",
    "vars",
    "transport",
    "become",
];
pub const GROUP_FIELDS: &[&str] = &["vars"];

enum Found<'a> {
    Local,
    Kind(&'a NameKind),
    Module(Option<SourceFile>),
    Builtin,
}

struct Resolver<'a> {
    db: &'a dyn salsa::Database,
    project: ProjectInput,
    path: Arc<str>,
    summary: &'a ModuleSummary,
    prelude: &'a BTreeMap<String, NameKind>,
    /// Local names with their types (`Any` when unknown).
    locals: Vec<(String, SType)>,
    host_ok: bool,
    diags: Vec<Diag>,
}

pub fn check_item(
    db: &dyn salsa::Database,
    project: ProjectInput,
    file: SourceFile,
    path: &Arc<str>,
    item: &Item,
) -> Vec<Diag> {
    let summary = module_summary(db, project, file);
    let prelude = prelude_summary(db, project);
    let mut r = Resolver {
        db,
        project,
        path: path.clone(),
        summary,
        prelude,
        locals: Vec::new(),
        host_ok: false,
        diags: Vec::new(),
    };
    r.item(item);
    r.diags
}

impl<'a> Resolver<'a> {
    fn loc(&self, span: Span) -> Loc {
        Loc::new(&self.path, span)
    }

    fn lookup(&self, name: &str) -> Option<Found<'a>> {
        if self.locals.iter().any(|(l, _)| l == name) {
            return Some(Found::Local);
        }
        if let Some((k, _)) = self.summary.names.get(name) {
            return Some(Found::Kind(k));
        }
        if let Some(t) = self.summary.imports.get(name) {
            return Some(Found::Module(*t));
        }
        if let Some(k) = self.prelude.get(name) {
            return Some(Found::Kind(k));
        }
        if self.host_ok && (name == "host" || name == "facts") {
            return Some(Found::Builtin);
        }
        None
    }

    fn visible(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.locals.iter().map(|(l, _)| l.as_str()).collect();
        v.extend(self.summary.names.keys().map(String::as_str));
        v.extend(self.summary.imports.keys().map(String::as_str));
        v.extend(self.prelude.keys().map(String::as_str));
        if self.host_ok {
            v.extend(["host", "facts"]);
        }
        v
    }

    fn names_where(&self, pred: impl Fn(&NameKind) -> bool) -> Vec<&str> {
        self.summary
            .names
            .iter()
            .map(|(n, (k, _))| (n, k))
            .chain(self.prelude.iter())
            .filter(|(_, k)| pred(k))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    fn member(
        &mut self,
        target: Option<SourceFile>,
        alias: &str,
        name: &Ident,
    ) -> Option<NameKind> {
        let t = target?;
        let s = module_summary(self.db, self.project, t);
        match s.names.get(&name.name) {
            Some((k, _)) => Some(k.clone()),
            None => {
                let loc = self.loc(name.span);
                let names: Vec<&str> = s.names.keys().map(String::as_str).collect();
                let d = Diag::error(
                    "E0107",
                    loc.clone(),
                    format!("module `{alias}` has no `{}`", name.name),
                )
                .label("not defined in that module")
                .did_you_mean(loc, &name.name, names);
                self.diags.push(d);
                None
            }
        }
    }

    fn with_scope(&mut self, f: impl FnOnce(&mut Self)) {
        let mark = self.locals.len();
        f(self);
        self.locals.truncate(mark);
    }

    // ----------------------------------------------------------------

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(imp) => {
                if self.summary.imports.get(&crate::db::import_alias(imp)) == Some(&None) {
                    let loc = self.loc(imp.path.span);
                    self.diags.push(
                        Diag::error(
                            "E0101",
                            loc,
                            format!("cannot find module `{}`", imp.path.value),
                        )
                        .label("no such file")
                        .note("import paths are relative to the importing file"),
                    );
                }
            }
            Item::Let(l) => {
                if let Some(t) = &l.ty {
                    self.ty(t);
                }
                self.expr(&l.value);
            }
            Item::Type(t) => self.ty(&t.ty),
            Item::Fn(f) => {
                self.host_ok = true;
                self.with_scope(|r| {
                    r.params(&f.params);
                    if let Some(t) = &f.ret {
                        r.ty(t);
                    }
                    if let Some(b) = &f.body {
                        r.expr(b);
                        if let Some(t) = &f.ret {
                            let what = format!("the result of `{}`", f.name.name);
                            r.check_value(&what, &SType::of(t), b);
                        }
                    }
                });
            }
            Item::Role(role) => {
                self.host_ok = true;
                self.with_scope(|r| {
                    r.params(&role.params);
                    r.block(&role.body);
                });
            }
            Item::Host(h) | Item::Group(h) => {
                let allowed = if matches!(item, Item::Host(_)) {
                    HOST_FIELDS
                } else {
                    GROUP_FIELDS
                };
                let what = if matches!(item, Item::Host(_)) {
                    "host"
                } else {
                    "group"
                };
                let mut seen = HashMap::new();
                for f in &h.fields {
                    if !allowed.contains(&f.name.name.as_str()) {
                        let loc = self.loc(f.name.span);
                        self.diags.push(
                            Diag::error(
                                "E0405",
                                loc.clone(),
                                format!("a {what} has no field `{}`", f.name.name),
                            )
                            .label("unknown inventory field")
                            .did_you_mean(loc, &f.name.name, allowed.iter().copied())
                            .note(format!("{what} fields: {}", allowed.join(", "))),
                        );
                    }
                    self.dup_field(&mut seen, f);
                    self.expr(&f.value);
                }
            }
            Item::On(on) => {
                self.host_ok = true;
                self.target(&on.target);
                self.with_scope(|r| r.block(&on.body));
            }
            Item::Resource(decl) => {
                self.ty(&decl.title.ty);
                self.with_scope(|r| {
                    r.locals
                        .push((decl.title.name.name.clone(), SType::of(&decl.title.ty)));
                    for m in &decl.members {
                        if let ResourceMember::Attr(a) = m {
                            r.locals.push((a.name.name.clone(), SType::of(&a.ty)));
                        }
                    }
                    for m in &decl.members {
                        match m {
                            ResourceMember::Attr(a) => {
                                r.ty(&a.ty);
                                if let Some(d) = &a.default {
                                    r.expr(d);
                                }
                            }
                            ResourceMember::Check(c) => {
                                r.expr(&c.cond);
                                r.expr(&c.message);
                            }
                            ResourceMember::Error(_) => {}
                        }
                    }
                });
            }
            // Policies are evaluated against plans, later; nothing to resolve yet.
            Item::Policy(_) | Item::Project(_) | Item::Error(_) => {}
        }
    }

    fn params(&mut self, ps: &[Param]) {
        for p in ps {
            self.ty(&p.ty);
            if let Some(d) = &p.default {
                self.expr(d);
            }
            self.locals.push((p.name.name.clone(), SType::of(&p.ty)));
        }
    }

    fn target(&mut self, t: &Target) {
        crate::stack::guard(|| self.target_inner(t))
    }

    fn target_inner(&mut self, t: &Target) {
        match t {
            Target::Host { name, .. } | Target::Group { name, .. } => self.expr(name),
            Target::And(a, b, _) | Target::Or(a, b, _) => {
                self.target(a);
                self.target(b);
            }
            Target::Not(a, _) | Target::Paren(a, _) => self.target(a),
            Target::All(_) | Target::Error(_) => {}
        }
    }

    fn block(&mut self, b: &Block) {
        self.with_scope(|r| {
            for s in &b.stmts {
                r.stmt(s);
            }
        });
    }

    fn stmt(&mut self, s: &Stmt) {
        crate::stack::guard(|| self.stmt_inner(s))
    }

    fn stmt_inner(&mut self, s: &Stmt) {
        match s {
            Stmt::Resource(rs) => {
                self.resource_stmt(rs);
                if let Some(b) = &rs.binding {
                    self.locals.push((b.name.clone(), SType::Any));
                }
            }
            Stmt::Let(l) => {
                if let Some(t) = &l.ty {
                    self.ty(t);
                }
                self.expr(&l.value);
                let ty = match &l.ty {
                    Some(t) => SType::of(t),
                    None => self.infer(&l.value),
                };
                self.locals.push((l.name.name.clone(), ty));
            }
            Stmt::If(i) => self.if_stmt(i),
            Stmt::For(f) => {
                self.expr(&f.iter);
                let elem = self.element_type(&f.iter);
                self.with_scope(|r| {
                    r.pattern(&f.pattern, elem);
                    r.block(&f.body);
                });
            }
            Stmt::Call(c) => self.role_call(c),
            Stmt::Error(_) => {}
        }
    }

    fn if_stmt(&mut self, i: &IfStmt) {
        crate::stack::guard(|| self.if_stmt_inner(i))
    }

    fn if_stmt_inner(&mut self, i: &IfStmt) {
        self.expr(&i.cond);
        self.condition(&i.cond);
        self.block(&i.then_block);
        match &i.else_branch {
            Some(ElseBranch::If(e)) => self.if_stmt(e),
            Some(ElseBranch::Block(b)) => self.block(b),
            None => {}
        }
    }

    fn pattern(&mut self, p: &ForPattern, elem: SType) {
        match p {
            ForPattern::Single(x) => self.locals.push((x.name.clone(), elem)),
            ForPattern::Pair(a, b) => {
                self.locals.push((a.name.clone(), SType::Any));
                self.locals.push((b.name.clone(), SType::Any));
            }
        }
    }

    /// The element type of a list expression, for `for` variables.
    fn element_type(&mut self, e: &Expr) -> SType {
        match self.infer(e) {
            SType::List(t) => *t,
            _ => SType::Any,
        }
    }

    fn dup_field(&mut self, seen: &mut HashMap<String, Span>, f: &Field) {
        if let Some(first) = seen.insert(f.name.name.clone(), f.name.span) {
            let loc = self.loc(f.name.span);
            let first = self.loc(first);
            self.diags.push(
                Diag::error("E0206", loc, format!("`{}` is set twice", f.name.name))
                    .label("set again here")
                    .secondary(first, "first set here"),
            );
        }
    }

    fn resource_stmt(&mut self, rs: &ResourceStmt) {
        self.expr(&rs.title);
        let kind = match self.lookup(&rs.ty.name) {
            Some(Found::Kind(NameKind::Resource(_, attrs))) => Some(attrs.clone()),
            _ => None,
        };
        let mut seen = HashMap::new();
        match &kind {
            None => {
                let loc = self.loc(rs.ty.span);
                let names = self.names_where(|k| matches!(k, NameKind::Resource(..)));
                self.diags.push(
                    Diag::error(
                        "E0104",
                        loc.clone(),
                        format!("unknown resource type `{}`", rs.ty.name),
                    )
                    .label("no resource type of this name")
                    .did_you_mean(loc, &rs.ty.name, names),
                );
            }
            Some(attrs) => {
                for f in &rs.fields {
                    let name = f.name.name.as_str();
                    let sig = attrs.iter().find(|a| a.name == name && a.name != "risk");
                    if let Some(sig) = sig {
                        self.literal_attr(sig, &f.value);
                    }
                    let known = sig.is_some() || META_ATTRS.contains(&name);
                    if !known {
                        let loc = self.loc(f.name.span);
                        let mut cands: Vec<&str> = attrs
                            .iter()
                            .map(|a| a.name.as_str())
                            .filter(|a| *a != "risk")
                            .collect();
                        let list = cands.join(", ");
                        cands.extend(META_ATTRS.iter().copied());
                        self.diags.push(
                            Diag::error(
                                "E0201",
                                loc.clone(),
                                format!("`{}` has no attribute `{name}`", rs.ty.name),
                            )
                            .label("unknown attribute")
                            .did_you_mean(loc, name, cands)
                            .note(format!("`{}` attributes: {list}", rs.ty.name)),
                        );
                    }
                }
                let missing: Vec<&str> = attrs
                    .iter()
                    .filter(|a| a.required && !rs.fields.iter().any(|f| f.name.name == a.name))
                    .map(|a| a.name.as_str())
                    .collect();
                if !missing.is_empty() {
                    let loc = self.loc(rs.ty.span.to(rs.title.span()));
                    let list: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
                    let insert = self.loc(Span::empty(rs.span.end.saturating_sub(1)));
                    let text: String = missing.iter().map(|m| format!("  {m} = …\n")).collect();
                    self.diags.push(
                        Diag::error(
                            "E0203",
                            loc,
                            format!(
                                "`{}` needs {} {}",
                                rs.ty.name,
                                if missing.len() == 1 {
                                    "attribute"
                                } else {
                                    "attributes"
                                },
                                list.join(", ")
                            ),
                        )
                        .label("missing required attribute")
                        .fix(
                            insert,
                            text,
                            format!("add {}", list.join(", ")),
                        ),
                    );
                }
            }
        }
        for f in &rs.fields {
            self.dup_field(&mut seen, f);
            self.expr(&f.value);
        }
    }

    /// Checks an attribute whose value is a literal against its declared
    /// type, so mistakes are found even in code no host evaluates.
    fn literal_attr(&mut self, sig: &AttrSig, value: &Expr) {
        let what = format!("attribute `{}`", sig.name);
        self.check_value(&what, &sig.ty, value);
    }

    /// Checks a value against a declared type before evaluation: literals
    /// exactly, other expressions by their inferred type (secrets included).
    fn check_value(&mut self, what: &str, ty: &SType, value: &Expr) {
        if !is_literal(value) {
            let found = self.infer(value);
            if let Some(d) = self.inferred_problem(what, ty, &found, value.span()) {
                self.diags.push(d);
            }
            return;
        }
        let Some(problem) = literal_problem(value, ty) else {
            return;
        };
        let sig = AttrSig {
            name: what.to_string(),
            required: false,
            ty: ty.clone(),
        };
        let loc = self.loc(problem.span);
        let d = match problem.kind {
            LitProblem::Wrong { found } => {
                Diag::error("E0202", loc, format!("mismatched types in {}", sig.name))
                    .label(format!("expected {}, found {found}", problem.expected))
            }
            LitProblem::NotAbsolute(p) => Diag::error(
                "E0211",
                loc,
                format!("{} must be an absolute path", sig.name),
            )
            .label(format!("`{p}` is not an absolute path")),
            LitProblem::BadLiteral { value, options } => {
                let quoted: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
                Diag::error(
                    "E0202",
                    loc.clone(),
                    format!(
                        "{}: {value:?} is not one of {}",
                        sig.name,
                        quoted.join(", ")
                    ),
                )
                .label(format!("expected {}", problem.expected))
                .did_you_mean(
                    loc,
                    &format!("{value:?}"),
                    quoted.iter().map(String::as_str),
                )
            }
        };
        self.diags.push(d);
    }

    /// The type of an expression as far as it is known without evaluating
    /// it; `Any` whenever unsure, so this never rejects a valid program.
    fn infer(&mut self, e: &Expr) -> SType {
        crate::stack::guard(|| self.infer_inner(e))
    }

    fn infer_inner(&mut self, e: &Expr) -> SType {
        match e {
            Expr::Int { .. } => SType::Int,
            Expr::Duration { .. } => SType::Duration,
            Expr::Bool { .. } => SType::Bool,
            Expr::Str(s) => {
                let mut secret = false;
                for p in &s.parts {
                    if let StrPart::Interp(inner) = p {
                        secret |= self.infer(inner) == SType::Secret;
                    }
                }
                if secret {
                    SType::Secret
                } else {
                    SType::Str
                }
            }
            Expr::Ident(id) => {
                if let Some((_, t)) = self.locals.iter().rev().find(|(n, _)| *n == id.name) {
                    return t.clone();
                }
                match self
                    .summary
                    .names
                    .get(&id.name)
                    .map(|(k, _)| k)
                    .or(self.prelude.get(&id.name))
                {
                    Some(NameKind::Let(t)) => t.clone(),
                    _ => SType::Any,
                }
            }
            Expr::Call { callee, args, .. } => {
                let Expr::Ident(id) = callee.as_ref() else {
                    return SType::Any;
                };
                if self.locals.iter().any(|(n, _)| *n == id.name) {
                    return SType::Any;
                }
                let kind = self
                    .summary
                    .names
                    .get(&id.name)
                    .map(|(k, _)| k)
                    .or(self.prelude.get(&id.name));
                let Some(NameKind::Fn(_, ret)) = kind else {
                    return SType::Any;
                };
                let ret = ret.clone();
                // Built-ins that pass text through keep its taint.
                let taints = matches!(id.name.as_str(), "template" | "join" | "to_string");
                if taints
                    && args.iter().any(|a| {
                        self.infer(&a.value) == SType::Secret || self.holds_secret(&a.value)
                    })
                {
                    return SType::Secret;
                }
                ret
            }
            Expr::Binary { op, lhs, rhs, .. } => {
                use mc_grammar::ast::BinaryOp as B;
                match op {
                    B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge | B::And | B::Or => SType::Bool,
                    B::Add => match (self.infer(lhs), self.infer(rhs)) {
                        (SType::Secret, _) | (_, SType::Secret) => SType::Secret,
                        (SType::Int, SType::Int) => SType::Int,
                        (SType::Str, SType::Str) => SType::Str,
                        _ => SType::Any,
                    },
                    B::Sub | B::Mul | B::Div | B::Rem => match (self.infer(lhs), self.infer(rhs)) {
                        (SType::Int, SType::Int) => SType::Int,
                        _ => SType::Any,
                    },
                    _ => SType::Any,
                }
            }
            Expr::Unary { op, operand, .. } => match op {
                mc_grammar::ast::UnaryOp::Not => SType::Bool,
                mc_grammar::ast::UnaryOp::Neg => match self.infer(operand) {
                    SType::Int => SType::Int,
                    _ => SType::Any,
                },
            },
            Expr::If {
                then_branch,
                else_branch,
                ..
            } => {
                let a = self.infer(then_branch);
                let b = self.infer(else_branch);
                if a == b {
                    a
                } else {
                    SType::Any
                }
            }
            Expr::List { items, .. } => {
                let mut t: Option<SType> = None;
                for i in items {
                    let it = self.infer(i);
                    t = match t {
                        None => Some(it),
                        Some(prev) if prev == it => Some(prev),
                        Some(_) => Some(SType::Any),
                    };
                }
                SType::List(Box::new(t.unwrap_or(SType::Any)))
            }
            Expr::Paren { inner, .. } => self.infer(inner),
            _ => SType::Any,
        }
    }

    /// The type of literals and names only: cheap enough to ask at every
    /// operator without walking whole subtrees again.
    fn infer_shallow(&mut self, e: &Expr) -> SType {
        match e {
            Expr::Int { .. } | Expr::Duration { .. } | Expr::Bool { .. } | Expr::Ident(_) => {
                self.infer(e)
            }
            Expr::Str(s) if s.as_plain().is_some() => SType::Str,
            Expr::Paren { inner, .. } => self.infer_shallow(inner),
            _ => SType::Any,
        }
    }

    /// Conditions must be Bool when their type is known.
    fn condition(&mut self, cond: &Expr) {
        let t = self.infer_shallow(cond);
        if !matches!(t, SType::Any | SType::Bool) {
            let loc = self.loc(cond.span());
            self.diags.push(
                Diag::error("E0202", loc, format!("expected Bool, found {t}"))
                    .label("a condition must be true or false"),
            );
        }
    }

    /// Whether an expression visibly contains a secret (a record or list
    /// literal with a secret inside), for the taint of `template` results.
    fn holds_secret(&mut self, e: &Expr) -> bool {
        crate::stack::guard(|| self.holds_secret_inner(e))
    }

    fn holds_secret_inner(&mut self, e: &Expr) -> bool {
        match e {
            Expr::Record { fields, .. } => fields
                .iter()
                .any(|f| self.infer(&f.value) == SType::Secret || self.holds_secret(&f.value)),
            Expr::List { items, .. } => items
                .iter()
                .any(|i| self.infer(i) == SType::Secret || self.holds_secret(i)),
            _ => false,
        }
    }

    /// A definite mismatch between an inferred and a declared type.
    fn inferred_problem(&self, what: &str, ty: &SType, found: &SType, span: Span) -> Option<Diag> {
        let loc = self.loc(span);
        if *found == SType::Secret && !accepts_secret(ty) {
            return Some(
                Diag::error("E0210", loc, format!("a secret cannot be used in {what}"))
                    .label(format!("this value holds a secret; {what} has type {ty}"))
                    .note("secrets may only flow into attributes declared `Secret` (file content, command env, …), so they never end up in plans or logs"),
            );
        }
        if compatible(found, ty) {
            return None;
        }
        Some(
            Diag::error("E0202", loc, format!("mismatched types in {what}"))
                .label(format!("expected {ty}, found {found}")),
        )
    }

    fn role_call(&mut self, c: &CallStmt) {
        for a in &c.args {
            self.expr(&a.value);
        }
        let Some(kind) = self.resolve_callee(&c.callee.segments, true) else {
            return;
        };
        let loc = self.loc(c.callee.span);
        match kind {
            NameKind::Role(params) => {
                self.args(&params, &c.args, c.span, &c.callee.dotted(), "role")
            }
            NameKind::Fn(..) => self.diags.push(
                Diag::error(
                    "E0209",
                    loc,
                    format!("`{}` is a function, not a role", c.callee.dotted()),
                )
                .label("a function call computes a value; only roles can stand alone")
                .note("use it in an expression, e.g. `let x = f(…)`"),
            ),
            _ => self.diags.push(
                Diag::error(
                    "E0209",
                    loc,
                    format!("`{}` is not a role", c.callee.dotted()),
                )
                .label("not a role"),
            ),
        }
    }

    /// Resolves a (possibly qualified) callee; reports unknown names.
    fn resolve_callee(&mut self, segs: &[Ident], role: bool) -> Option<NameKind> {
        let first = segs.first()?;
        let found = self.lookup(&first.name);
        let kind = match (found, segs.len()) {
            (Some(Found::Kind(k)), 1) => Some(k.clone()),
            (Some(Found::Module(t)), 2) => self.member(t, &first.name, &segs[1]),
            (Some(Found::Local), 1) | (Some(Found::Builtin), 1) => {
                let loc = self.loc(first.span);
                self.diags.push(
                    Diag::error(
                        "E0209",
                        loc,
                        format!(
                            "`{}` is a value, not a {}",
                            first.name,
                            if role { "role" } else { "function" }
                        ),
                    )
                    .label("not callable"),
                );
                None
            }
            (None, _) => {
                let loc = self.loc(first.span);
                let cands = if role {
                    self.names_where(|k| matches!(k, NameKind::Role(_)))
                } else {
                    self.names_where(|k| matches!(k, NameKind::Fn(..) | NameKind::Resource(..)))
                };
                let mut cands: Vec<&str> = cands;
                cands.extend(self.summary.imports.keys().map(String::as_str));
                self.diags.push(
                    Diag::error(
                        if role { "E0105" } else { "E0103" },
                        loc.clone(),
                        format!(
                            "unknown {} `{}`",
                            if role { "role" } else { "function" },
                            first.name
                        ),
                    )
                    .label("not found in this scope")
                    .did_you_mean(loc, &first.name, cands),
                );
                None
            }
            _ => {
                let loc = self.loc(first.span);
                self.diags.push(
                    Diag::error("E0107", loc, format!("`{}` has no members", first.name))
                        .label("not a module"),
                );
                None
            }
        };
        kind
    }

    fn args(&mut self, params: &[ParamSig], args: &[Arg], span: Span, callee: &str, what: &str) {
        let mut given = vec![false; params.len()];
        let mut positional = 0;
        for a in args {
            let idx = match &a.name {
                None => {
                    positional += 1;
                    if positional > params.len() {
                        let loc = self.loc(a.span);
                        self.diags.push(
                            Diag::error(
                                "E0204",
                                loc,
                                format!(
                                    "{what} `{callee}` takes {} arguments, this is one too many",
                                    params.len()
                                ),
                            )
                            .label("unexpected argument"),
                        );
                        continue;
                    }
                    positional - 1
                }
                Some(n) => match params.iter().position(|p| p.name == n.name) {
                    Some(i) => i,
                    None => {
                        let loc = self.loc(n.span);
                        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
                        self.diags.push(
                            Diag::error(
                                "E0204",
                                loc.clone(),
                                format!("{what} `{callee}` has no parameter `{}`", n.name),
                            )
                            .label("unknown argument")
                            .did_you_mean(loc, &n.name, names.iter().copied())
                            .note(format!("parameters: {}", names.join(", "))),
                        );
                        continue;
                    }
                },
            };
            if given[idx] {
                let loc = self.loc(a.span);
                self.diags.push(
                    Diag::error(
                        "E0206",
                        loc,
                        format!("argument `{}` is given twice", params[idx].name),
                    )
                    .label("given again here"),
                );
            }
            given[idx] = true;
            let what = format!("argument `{}`", params[idx].name);
            let ty = params[idx].ty.clone();
            self.check_value(&what, &ty, &a.value);
        }
        let missing: Vec<String> = params
            .iter()
            .zip(&given)
            .filter(|(p, g)| !**g && !p.has_default)
            .map(|(p, _)| format!("`{}`", p.name))
            .collect();
        if !missing.is_empty() {
            let loc = self.loc(span);
            self.diags.push(
                Diag::error(
                    "E0205",
                    loc,
                    format!("{what} `{callee}` needs {}", missing.join(", ")),
                )
                .label(format!(
                    "missing {}",
                    if missing.len() == 1 {
                        "argument"
                    } else {
                        "arguments"
                    }
                )),
            );
        }
    }

    fn expr(&mut self, e: &Expr) {
        crate::stack::guard(|| self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: &Expr) {
        match e {
            Expr::Int { .. }
            | Expr::Duration { .. }
            | Expr::Bool { .. }
            | Expr::Null(_)
            | Expr::Error(_) => {}
            Expr::Str(s) => {
                for p in &s.parts {
                    if let StrPart::Interp(inner) = p {
                        self.expr(inner);
                    }
                }
            }
            Expr::Ident(id) => {
                if self.lookup(&id.name).is_none() {
                    let loc = self.loc(id.span);
                    let hint = if !self.host_ok && (id.name == "host" || id.name == "facts") {
                        Some(format!("`{}` is only in scope inside `on` blocks and the roles and functions they call", id.name))
                    } else {
                        None
                    };
                    let cands = self.visible();
                    let mut d =
                        Diag::error("E0103", loc.clone(), format!("unknown name `{}`", id.name))
                            .label("not found in this scope")
                            .did_you_mean(loc, &id.name, cands);
                    if let Some(h) = hint {
                        d = d.note(h);
                    }
                    self.diags.push(d);
                }
            }
            Expr::List { items, .. } => items.iter().for_each(|i| self.expr(i)),
            Expr::Record { fields, .. } => {
                let mut seen = HashMap::new();
                for f in fields {
                    self.dup_field(&mut seen, f);
                    self.expr(&f.value);
                }
            }
            Expr::Field { base, name, .. } => {
                if let Expr::Ident(id) = base.as_ref() {
                    if let Some(Found::Module(t)) = self.lookup(&id.name) {
                        self.member(t, &id.name, name);
                        return;
                    }
                }
                self.expr(base);
            }
            Expr::Index { base, index, .. } => {
                self.expr(base);
                self.expr(index);
            }
            Expr::Call { callee, args, span } => {
                for a in args {
                    self.expr(&a.value);
                }
                let segs = match callee.as_ref() {
                    Expr::Ident(i) => vec![i.clone()],
                    Expr::Field { base, name, .. } => match base.as_ref() {
                        Expr::Ident(i) => vec![i.clone(), name.clone()],
                        _ => {
                            self.expr(callee);
                            return;
                        }
                    },
                    other => {
                        self.expr(other);
                        return;
                    }
                };
                let dotted: Vec<&str> = segs.iter().map(|s| s.name.as_str()).collect();
                let dotted = dotted.join(".");
                match self.resolve_callee(&segs, false) {
                    Some(NameKind::Fn(params, _)) => {
                        self.args(&params, args, *span, &dotted, "function")
                    }
                    Some(NameKind::Resource(title, _)) => {
                        let p = ParamSig {
                            name: title,
                            has_default: false,
                            ty: SType::Any,
                        };
                        self.args(&[p], args, *span, &dotted, "resource type")
                    }
                    Some(NameKind::Role(_)) => {
                        let loc = self.loc(callee.span());
                        self.diags.push(
                            Diag::error("E0209", loc, "a role declares resources and has no value")
                                .label("role used as a function")
                                .note("call a role as a statement, on its own line"),
                        );
                    }
                    Some(_) => {
                        let loc = self.loc(callee.span());
                        self.diags.push(
                            Diag::error("E0209", loc, format!("`{dotted}` is not a function"))
                                .label("not callable"),
                        );
                    }
                    None => {}
                }
            }
            Expr::Unary {
                op,
                operand,
                op_span,
                ..
            } => {
                self.expr(operand);
                let t = self.infer_shallow(operand);
                let ok = match op {
                    mc_grammar::ast::UnaryOp::Not => matches!(t, SType::Any | SType::Bool),
                    mc_grammar::ast::UnaryOp::Neg => matches!(t, SType::Any | SType::Int),
                };
                if !ok {
                    let loc = self.loc(*op_span);
                    self.diags.push(
                        Diag::error(
                            "E0208",
                            loc,
                            format!("`{}` cannot be applied to {t}", op.symbol()),
                        )
                        .label("wrong operand type"),
                    );
                }
            }
            Expr::Binary {
                op,
                lhs,
                rhs,
                op_span,
                ..
            } => {
                self.expr(lhs);
                self.expr(rhs);
                let (l, r) = (self.infer_shallow(lhs), self.infer_shallow(rhs));
                if !operands_ok(*op, &l, &r) {
                    let loc = self.loc(*op_span);
                    self.diags.push(
                        Diag::error(
                            "E0208",
                            loc,
                            format!("`{}` cannot be applied to {l} and {r}", op.symbol()),
                        )
                        .label("wrong operand types"),
                    );
                }
            }
            Expr::Is { value, ty, .. } => {
                self.expr(value);
                self.ty(ty);
            }
            Expr::If {
                cond,
                then_branch,
                else_branch,
                ..
            } => {
                self.expr(cond);
                self.condition(cond);
                self.expr(then_branch);
                self.expr(else_branch);
            }
            Expr::Comprehension {
                element,
                pattern,
                iter,
                filter,
                ..
            } => {
                self.expr(iter);
                let elem = self.element_type(iter);
                self.with_scope(|r| {
                    r.pattern(pattern, elem);
                    if let Some(f) = filter {
                        r.expr(f);
                    }
                    r.expr(element);
                });
            }
            Expr::Paren { inner, .. } => self.expr(inner),
        }
    }

    fn ty(&mut self, t: &TypeExpr) {
        crate::stack::guard(|| self.ty_inner(t))
    }

    fn ty_inner(&mut self, t: &TypeExpr) {
        match t {
            TypeExpr::Named(q) => {
                let Some(first) = q.segments.first() else {
                    return;
                };
                if q.segments.len() == 1 {
                    if SCALARS.contains(&first.name.as_str()) || first.name == "Null" {
                        return;
                    }
                    match self.lookup(&first.name) {
                        Some(Found::Kind(NameKind::Type | NameKind::Resource(..))) => {}
                        _ => {
                            let loc = self.loc(first.span);
                            let mut cands: Vec<&str> = SCALARS.to_vec();
                            cands.extend(self.names_where(|k| {
                                matches!(k, NameKind::Type | NameKind::Resource(..))
                            }));
                            self.diags.push(
                                Diag::error(
                                    "E0108",
                                    loc.clone(),
                                    format!("unknown type `{}`", first.name),
                                )
                                .label("no type of this name")
                                .did_you_mean(
                                    loc,
                                    &first.name,
                                    cands,
                                ),
                            );
                        }
                    }
                } else if let Some(Found::Module(t)) = self.lookup(&first.name) {
                    if let Some(second) = q.segments.get(1) {
                        self.member(t, &first.name, second);
                    }
                } else {
                    let loc = self.loc(first.span);
                    self.diags.push(
                        Diag::error("E0108", loc, format!("unknown module `{}`", first.name))
                            .label("not an imported module"),
                    );
                }
            }
            TypeExpr::List(t, _)
            | TypeExpr::Map(t, _)
            | TypeExpr::Optional(t, _)
            | TypeExpr::Paren(t, _) => self.ty(t),
            TypeExpr::Record(fields, _) => {
                for f in fields {
                    self.ty(&f.ty);
                    if let Some(d) = &f.default {
                        self.expr(d);
                    }
                }
            }
            TypeExpr::Union(ts, _) => ts.iter().for_each(|t| self.ty(t)),
            TypeExpr::Literal(_) | TypeExpr::Error(_) => {}
        }
    }
}

struct Problem {
    span: Span,
    expected: String,
    kind: LitProblem,
}

enum LitProblem {
    Wrong { found: String },
    NotAbsolute(String),
    BadLiteral { value: String, options: Vec<String> },
}

/// What is wrong with a literal `e` as a value of type `ty`, if anything.
/// Non-literal expressions are left to evaluation.
fn literal_problem(e: &Expr, ty: &SType) -> Option<Problem> {
    let wrong = |found: &str| {
        Some(Problem {
            span: e.span(),
            expected: ty.to_string(),
            kind: LitProblem::Wrong {
                found: found.to_string(),
            },
        })
    };
    match (ty, e) {
        (SType::Any, _) => None,
        (_, Expr::Paren { inner, .. }) => literal_problem(inner, ty),
        (SType::Opt(_), Expr::Null(_)) => None,
        (SType::Opt(t), e) => literal_problem(e, t),
        (_, Expr::Null(_)) => wrong("null"),
        (SType::Str | SType::Secret, Expr::Str(_)) => None,
        (SType::Path, Expr::Str(s)) => match s.as_plain() {
            Some(p) if !p.starts_with('/') => Some(Problem {
                span: e.span(),
                expected: ty.to_string(),
                kind: LitProblem::NotAbsolute(p),
            }),
            _ => None,
        },
        (SType::Lits(opts), Expr::Str(s)) => match s.as_plain() {
            Some(v) if !opts.contains(&v) => Some(Problem {
                span: e.span(),
                expected: ty.to_string(),
                kind: LitProblem::BadLiteral {
                    value: v,
                    options: opts.clone(),
                },
            }),
            _ => None,
        },
        (SType::Int | SType::Mode, Expr::Int { .. }) => None,
        (SType::Bool, Expr::Bool { .. }) => None,
        (SType::Duration, Expr::Duration { .. }) => None,
        (SType::List(t), Expr::List { items, .. }) => {
            items.iter().find_map(|i| literal_problem(i, t))
        }
        (SType::Map(t), Expr::Record { fields, .. }) => {
            fields.iter().find_map(|f| literal_problem(&f.value, t))
        }
        (_, Expr::Str(_)) => wrong("a String"),
        (_, Expr::Int { .. }) => wrong("an Int"),
        (_, Expr::Bool { .. }) => wrong("a Bool"),
        (_, Expr::Duration { .. }) => wrong("a Duration"),
        (_, Expr::List { .. }) => wrong("a list"),
        (_, Expr::Record { .. }) => wrong("a record"),
        _ => None,
    }
}

fn accepts_secret(ty: &SType) -> bool {
    match ty {
        SType::Secret | SType::Any => true,
        SType::Opt(t) => accepts_secret(t),
        _ => false,
    }
}

/// Whether a value of inferred type `found` may be valid for `ty`. Lenient:
/// only scalar kinds that can never convert are incompatible.
fn compatible(found: &SType, ty: &SType) -> bool {
    match (found, ty) {
        (SType::Any, _) | (_, SType::Any) => true,
        (f, SType::Opt(t)) => compatible(f, t),
        (SType::Str, SType::Str | SType::Path | SType::Secret | SType::Lits(_)) => true,
        (SType::Secret, SType::Secret) => true,
        (SType::Int, SType::Int | SType::Mode) => true,
        (SType::Bool, SType::Bool) => true,
        (SType::Duration, SType::Duration) => true,
        (SType::List(a), SType::List(b)) => compatible(a, b),
        (SType::Lits(_), SType::Str | SType::Lits(_) | SType::Secret | SType::Path) => true,
        (SType::Path, SType::Path | SType::Str | SType::Secret) => true,
        (SType::Mode, SType::Mode | SType::Int) => true,
        (SType::Secret, _) => false,
        (SType::Opt(_), _) => true,
        (SType::Map(_), SType::Map(_)) => true,
        _ => false,
    }
}

/// Whether `e` is a literal that `literal_problem` checks exactly.
fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::Int { .. } | Expr::Duration { .. } | Expr::Bool { .. } | Expr::Null(_) => true,
        Expr::Str(s) => s.as_plain().is_some(),
        Expr::List { items, .. } => items.iter().all(is_literal),
        Expr::Record { fields, .. } => fields.iter().all(|f| is_literal(&f.value)),
        Expr::Paren { inner, .. } => is_literal(inner),
        _ => false,
    }
}

/// The type of a literal top-level `let` value, for module summaries.
pub fn literal_type(e: &Expr) -> SType {
    match e {
        Expr::Int { .. } => SType::Int,
        Expr::Duration { .. } => SType::Duration,
        Expr::Bool { .. } => SType::Bool,
        Expr::Str(s) if s.as_plain().is_some() => SType::Str,
        _ => SType::Any,
    }
}

/// Whether an operator accepts operands of these inferred types (`Any`
/// always passes: evaluation checks it).
fn operands_ok(op: mc_grammar::ast::BinaryOp, l: &SType, r: &SType) -> bool {
    use mc_grammar::ast::BinaryOp as B;
    use SType as T;
    if matches!(l, T::Any | T::Opt(_)) || matches!(r, T::Any | T::Opt(_)) {
        return true;
    }
    let text = |t: &SType| matches!(t, T::Str | T::Secret | T::Path | T::Lits(_));
    match op {
        B::Eq | B::Ne | B::Coalesce => true,
        B::And | B::Or => *l == T::Bool && *r == T::Bool,
        B::Add => {
            matches!(
                (l, r),
                (T::Int, T::Int) | (T::Duration, T::Duration) | (T::List(_), T::List(_))
            ) || (text(l) && text(r))
        }
        B::Sub => matches!((l, r), (T::Int, T::Int) | (T::Duration, T::Duration)),
        B::Mul | B::Div => matches!((l, r), (T::Int, T::Int) | (T::Duration, T::Int)),
        B::Rem => matches!((l, r), (T::Int, T::Int)),
        B::Lt | B::Le | B::Gt | B::Ge => {
            matches!(
                (l, r),
                (T::Int | T::Mode, T::Int | T::Mode) | (T::Duration, T::Duration)
            ) || (matches!(l, T::Str | T::Lits(_) | T::Path)
                && matches!(r, T::Str | T::Lits(_) | T::Path))
        }
        B::Merge => matches!((l, r), (T::Map(_), T::Map(_))),
    }
}
