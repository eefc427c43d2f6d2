//! Name resolution for the editor, on the syntax tree: every name written
//! in a file, with the definition it refers to. Scopes follow the language:
//! block-local `let`s and `for` variables, parameters, the module's items,
//! import aliases, then the stdlib prelude. Works on trees with errors: the
//! valid parts still resolve.

use crate::world::{Def, DefKind, FileData, World};
use mc_grammar::ast::*;
use mc_grammar::Span;
use std::sync::Arc;

/// A name in the source and what it refers to.
#[derive(Clone, Debug)]
pub struct Occurrence {
    pub span: Span,
    pub def: Arc<Def>,
    /// This occurrence is the definition itself.
    pub is_def: bool,
}

/// A name visible at the cursor.
#[derive(Clone, Debug)]
pub struct Visible {
    pub name: String,
    pub def: Arc<Def>,
}

pub struct Resolver<'w> {
    world: &'w World,
    file: &'w FileData,
    locals: Vec<Arc<Def>>,
    pub occurrences: Vec<Occurrence>,
    cursor: Option<u32>,
    /// The locals in scope at the cursor.
    pub locals_at_cursor: Vec<Arc<Def>>,
}

impl<'w> Resolver<'w> {
    pub fn new(world: &'w World, file: &'w FileData, cursor: Option<u32>) -> Resolver<'w> {
        Resolver {
            world,
            file,
            locals: Vec::new(),
            occurrences: Vec::new(),
            cursor,
            locals_at_cursor: Vec::new(),
        }
    }

    /// Resolves the whole file.
    pub fn run(mut self) -> Resolver<'w> {
        let module = &self.file.parsed.module;
        for item in &module.items {
            self.item(item);
        }
        self
    }

    fn at_cursor(&mut self, span: Span) {
        if let Some(c) = self.cursor {
            if span.start <= c && c <= span.end {
                self.locals_at_cursor = self.locals.clone();
            }
        }
    }

    fn local(&mut self, ident: &Ident, detail: String, ty: Option<String>) {
        let def = Arc::new(Def {
            file: self.file.path.clone(),
            span: ident.span,
            name: ident.name.clone(),
            kind: DefKind::Local,
            detail,
            docs: None,
            ty,
        });
        self.push(ident.span, def.clone(), true);
        self.locals.push(def);
    }

    fn push(&mut self, span: Span, def: Arc<Def>, is_def: bool) {
        self.occurrences.push(Occurrence { span, def, is_def });
    }

    /// A top-level name of the module (its own or the prelude's), with its
    /// definition marked.
    fn top_def(&mut self, ident: &Ident) {
        if let Some(def) = self.file.table.names.get(&ident.name) {
            if def.span == ident.span {
                self.push(ident.span, def.clone(), true);
            }
        }
    }

    /// What `name` means here.
    pub fn lookup(&self, name: &str) -> Option<Arc<Def>> {
        if let Some(d) = self.locals.iter().rev().find(|d| d.name == name) {
            return Some(d.clone());
        }
        self.file
            .table
            .names
            .get(name)
            .or_else(|| self.world.prelude.names.get(name))
            .or_else(|| self.world.builtins.get(name))
            .cloned()
    }

    /// What `name` means at the cursor (after [`Resolver::run`]).
    pub fn lookup_at_cursor(&self, name: &str) -> Option<Arc<Def>> {
        if let Some(d) = self.locals_at_cursor.iter().rev().find(|d| d.name == name) {
            return Some(d.clone());
        }
        self.lookup(name)
    }

    /// `alias.member` through an import.
    fn member(&self, alias: &str, member: &str) -> Option<Arc<Def>> {
        let path = self.file.table.imports.get(alias)?;
        self.world.file(path)?.table.names.get(member).cloned()
    }

    fn qual(&mut self, q: &QualName) -> Option<Arc<Def>> {
        let first = q.segments.first()?;
        let def = self.lookup(&first.name)?;
        self.push(first.span, def.clone(), false);
        if def.kind == DefKind::Import {
            if let Some(second) = q.segments.get(1) {
                let m = self.member(&first.name, &second.name)?;
                self.push(second.span, m.clone(), false);
                return Some(m);
            }
        }
        Some(def)
    }

    /// Parameters of the role or function `def`.
    fn params_of(&self, def: &Def) -> Vec<Arc<Def>> {
        let table = match self.world.file(&def.file) {
            Some(f) => &f.table,
            None => return Vec::new(),
        };
        table.params.get(&def.name).cloned().unwrap_or_default()
    }

    fn params(&mut self, params: &[Param]) {
        for p in params {
            self.ty(&p.ty);
            if let Some(d) = &p.default {
                self.expr(d);
            }
            let ty = p.ty.span().text(&self.file.text).to_string();
            let detail = p.span.text(&self.file.text).to_string();
            let def = Arc::new(Def {
                file: self.file.path.clone(),
                span: p.name.span,
                name: p.name.name.clone(),
                kind: DefKind::Param,
                detail,
                docs: None,
                ty: Some(ty),
            });
            self.push(p.name.span, def.clone(), true);
            self.locals.push(def);
        }
    }

    fn item(&mut self, item: &Item) {
        let mark = self.locals.len();
        match item {
            Item::Import(imp) => {
                if let Some(alias) = &imp.alias {
                    self.top_def(alias);
                } else if let Some(def) = self
                    .file
                    .table
                    .names
                    .get(&crate::world::import_alias(&imp.path.value))
                {
                    if def.span == imp.path.span {
                        self.push(imp.path.span, def.clone(), true);
                    }
                }
            }
            Item::Let(l) => {
                self.top_def(&l.name);
                if let Some(ty) = &l.ty {
                    self.ty(ty);
                }
                self.expr(&l.value);
            }
            Item::Type(t) => {
                self.top_def(&t.name);
                self.ty(&t.ty);
            }
            Item::Fn(f) => {
                self.top_def(&f.name);
                self.params(&f.params);
                if let Some(ret) = &f.ret {
                    self.ty(ret);
                }
                if let Some(body) = &f.body {
                    self.expr(body);
                }
            }
            Item::Role(r) => {
                self.top_def(&r.name);
                self.params(&r.params);
                self.block(&r.body);
            }
            Item::Host(decl) | Item::Group(decl) => {
                for f in &decl.fields {
                    self.expr(&f.value);
                }
            }
            Item::On(on) => {
                self.target(&on.target);
                self.block(&on.body);
            }
            Item::Policy(p) => {
                for w in &p.rules {
                    self.expr(&w.cond);
                    self.block(&w.body);
                }
            }
            Item::Resource(r) => {
                self.top_def(&r.name);
                self.params(std::slice::from_ref(&r.title));
                let info = self.file.table.resources.get(&r.name.name).cloned();
                if let Some(info) = &info {
                    for a in &info.attrs {
                        self.push(a.span, a.clone(), true);
                        // Defaults and checks may read the other attributes.
                        self.locals.push(a.clone());
                    }
                }
                for m in &r.members {
                    match m {
                        ResourceMember::Attr(a) => {
                            self.ty(&a.ty);
                            if let Some(d) = &a.default {
                                self.expr(d);
                            }
                        }
                        ResourceMember::Check(c) => {
                            self.expr(&c.cond);
                            self.expr(&c.message);
                        }
                        ResourceMember::Error(_) => {}
                    }
                }
            }
            Item::Project(p) => {
                for f in &p.fields {
                    self.expr(&f.value);
                }
            }
            Item::Error(_) => {}
        }
        self.locals.truncate(mark);
    }

    fn target(&mut self, t: &Target) {
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
        let mark = self.locals.len();
        self.at_cursor(b.span);
        for s in &b.stmts {
            self.stmt(s);
            if self
                .cursor
                .is_some_and(|c| s.span().end <= c && c <= b.span.end)
            {
                self.locals_at_cursor = self.locals.clone();
            }
        }
        self.locals.truncate(mark);
    }

    fn stmt(&mut self, s: &Stmt) {
        self.at_cursor(s.span());
        match s {
            Stmt::Resource(r) => {
                let info = self.world.resource(self.file, &r.ty.name);
                if let Some(info) = &info {
                    self.push(r.ty.span, info.def.clone(), false);
                }
                self.expr(&r.title);
                for f in &r.fields {
                    if let Some(attr) = info
                        .as_ref()
                        .and_then(|i| i.attrs.iter().find(|a| a.name == f.name.name))
                    {
                        self.push(f.name.span, attr.clone(), false);
                    }
                    self.at_cursor(f.span);
                    self.expr(&f.value);
                }
                if let Some(b) = &r.binding {
                    self.local(
                        b,
                        format!("let {} = {} …", b.name, r.ty.name),
                        Some(r.ty.name.clone()),
                    );
                }
            }
            Stmt::Let(l) => {
                if let Some(ty) = &l.ty {
                    self.ty(ty);
                }
                self.expr(&l.value);
                let ty =
                    l.ty.as_ref()
                        .map(|t| t.span().text(&self.file.text).to_string())
                        .or_else(|| crate::infer::literal_type(&l.value));
                let detail = match &ty {
                    Some(t) => format!("let {}: {}", l.name.name, t),
                    None => format!("let {}", l.name.name),
                };
                self.local(&l.name, detail, ty);
            }
            Stmt::If(i) => self.if_stmt(i),
            Stmt::For(f) => {
                self.expr(&f.iter);
                let mark = self.locals.len();
                self.pattern(&f.pattern);
                self.block(&f.body);
                self.locals.truncate(mark);
            }
            Stmt::Call(c) => {
                let callee = self.qual(&c.callee);
                self.args(callee.as_deref(), &c.args);
            }
            Stmt::Assert(a) => {
                self.expr(&a.cond);
                self.expr(&a.message);
            }
            Stmt::Error(_) => {}
        }
    }

    fn if_stmt(&mut self, i: &IfStmt) {
        self.expr(&i.cond);
        self.block(&i.then_block);
        match &i.else_branch {
            Some(ElseBranch::If(next)) => self.if_stmt(next),
            Some(ElseBranch::Block(b)) => self.block(b),
            None => {}
        }
    }

    fn pattern(&mut self, p: &ForPattern) {
        match p {
            ForPattern::Single(x) => self.local(x, format!("for {}", x.name), None),
            ForPattern::Pair(k, v) => {
                self.local(k, format!("for {} (key)", k.name), Some("String".into()));
                self.local(v, format!("for {} (value)", v.name), None);
            }
        }
    }

    fn args(&mut self, callee: Option<&Def>, args: &[Arg]) {
        let params = callee.map(|d| self.params_of(d)).unwrap_or_default();
        for a in args {
            if let Some(name) = &a.name {
                if let Some(p) = params.iter().find(|p| p.name == name.name) {
                    self.push(name.span, p.clone(), false);
                }
            }
            self.expr(&a.value);
        }
    }

    fn ty(&mut self, t: &TypeExpr) {
        match t {
            TypeExpr::Named(q) => {
                self.qual(q);
            }
            TypeExpr::List(inner, _) | TypeExpr::Map(inner, _) => self.ty(inner),
            TypeExpr::Optional(inner, _) | TypeExpr::Paren(inner, _) => self.ty(inner),
            TypeExpr::Record(fields, _) => {
                for f in fields {
                    self.ty(&f.ty);
                    if let Some(d) = &f.default {
                        self.expr(d);
                    }
                }
            }
            TypeExpr::Union(members, _) => {
                for m in members {
                    self.ty(m);
                }
            }
            TypeExpr::Literal(_) | TypeExpr::Error(_) => {}
        }
    }

    fn expr(&mut self, e: &Expr) {
        self.at_cursor(e.span());
        match e {
            Expr::Ident(i) => {
                if let Some(def) = self.lookup(&i.name) {
                    self.push(i.span, def, false);
                }
            }
            Expr::Str(s) => {
                for p in &s.parts {
                    if let StrPart::Interp(x) = p {
                        self.expr(x);
                    }
                }
            }
            Expr::List { items, .. } => {
                for x in items {
                    self.expr(x);
                }
            }
            Expr::Record { fields, .. } => {
                for f in fields {
                    self.expr(&f.value);
                }
            }
            Expr::Field { base, name, .. } => {
                self.expr(base);
                if let Expr::Ident(b) = base.as_ref() {
                    if self
                        .lookup(&b.name)
                        .is_some_and(|d| d.kind == DefKind::Import)
                    {
                        if let Some(m) = self.member(&b.name, &name.name) {
                            self.push(name.span, m, false);
                        }
                    }
                }
            }
            Expr::Index { base, index, .. } => {
                self.expr(base);
                self.expr(index);
            }
            Expr::Call { callee, args, .. } => {
                self.expr(callee);
                let def = self.callee_def(callee);
                self.args(def.as_deref(), args);
            }
            Expr::Unary { operand, .. } => self.expr(operand),
            Expr::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
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
                let mark = self.locals.len();
                self.pattern(pattern);
                self.expr(element);
                if let Some(f) = filter {
                    self.expr(f);
                }
                self.locals.truncate(mark);
            }
            Expr::Paren { inner, .. } => self.expr(inner),
            Expr::Int { .. }
            | Expr::Duration { .. }
            | Expr::Bool { .. }
            | Expr::Null(_)
            | Expr::Error(_) => {}
        }
    }

    fn callee_def(&self, callee: &Expr) -> Option<Arc<Def>> {
        match callee {
            Expr::Ident(i) => self.lookup(&i.name),
            Expr::Field { base, name, .. } => match base.as_ref() {
                Expr::Ident(b) => self.member(&b.name, &name.name),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Every resolved name of `file`.
pub fn occurrences(world: &World, file: &FileData) -> Vec<Occurrence> {
    Resolver::new(world, file, None).run().occurrences
}

/// The resolved name at `offset` (the cursor may sit just after it).
pub fn occurrence_at(world: &World, file: &FileData, offset: u32) -> Option<Occurrence> {
    let occs = occurrences(world, file);
    occs.iter()
        .find(|o| o.span.start <= offset && offset < o.span.end)
        .or_else(|| occs.iter().find(|o| o.span.end == offset))
        .cloned()
}

/// Names visible at `offset`: locals, then the module, then the prelude.
pub fn visible_at(world: &World, file: &FileData, offset: u32) -> Vec<Visible> {
    let r = Resolver::new(world, file, Some(offset)).run();
    let mut out: Vec<Visible> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in r.locals_at_cursor.iter().rev() {
        if seen.insert(d.name.clone()) {
            out.push(Visible {
                name: d.name.clone(),
                def: d.clone(),
            });
        }
    }
    for table in [&file.table, world.prelude.as_ref()] {
        for (name, d) in &table.names {
            if seen.insert(name.clone()) {
                out.push(Visible {
                    name: name.clone(),
                    def: d.clone(),
                });
            }
        }
    }
    out
}
