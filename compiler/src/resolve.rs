//! Name resolution and static type checking of one item against module
//! summaries: unknown names, resource types, attributes, roles, functions,
//! arguments and types, each with a "did you mean", and the inferred type of
//! every expression checked wherever it meets a declared one, whether or not
//! a host ever evaluates it. Works on the item alone (relative spans) and on
//! summaries that ignore bodies, so it is cached per item.

use crate::bind::{Call, Slot};
use crate::db::{
    module_summary, prelude_summary, AttrSig, ModuleSummary, NameKind, ParamSig, ProjectInput,
    SourceFile,
};
use crate::diag::{Diag, Loc};
use crate::eval::{is_meta_attr, SCALARS};
use crate::types::{Field as TField, Origin, Type};
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
    "ssh_key",
];
pub const GROUP_FIELDS: &[&str] = &["vars", "children"];

enum Found<'a> {
    /// The index of the local in `Resolver::locals`.
    Local(usize),
    /// A top-level name, and whether it comes from the prelude.
    Kind(&'a NameKind, bool),
    Module(Option<SourceFile>),
    Builtin(&'static str),
}

/// What a name written in the source refers to: the resolver's answer,
/// kept for the IDE layer (`crate::ide`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NameTarget {
    /// A local, parameter or attribute declared at this span of the file.
    Local(Span),
    /// A top-level name of a module (`None`: of the prelude).
    Item(Option<SourceFile>, String),
    /// An import alias of the file.
    Module(String),
    /// A parameter of the role or function (or a resource type's title).
    Param(Box<NameTarget>, String),
    /// An attribute of a resource type.
    Attr(Box<NameTarget>, String),
    /// `host`, `facts` or `change`.
    Builtin(&'static str),
}

/// What kind of declaration a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefKind {
    Import,
    Let,
    Type,
    Fn,
    Role,
    Resource,
    /// An attribute declared in a `resource`.
    Attr,
    /// A parameter of a role, function or resource title.
    Param,
    /// A `let`, a `for` variable or a resource binding inside a block.
    Local,
    /// `host`, `facts`, `change`.
    Builtin,
}

/// One name in the source: where it is written, what it refers to, whether
/// it is the declaration itself (and of what kind), and the checker's type
/// of the value it names where it names one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameRef {
    pub span: Span,
    pub target: NameTarget,
    pub def: Option<DefKind>,
    pub ty: Option<Type>,
}

/// The locals visible at a point, innermost last: name, type, and where
/// each is declared (`None` for `change`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub locals: Vec<(String, Type, Option<Span>)>,
    /// `host` and `facts` are in scope.
    pub host: bool,
}

/// What [`item_names`] records of one item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemNames {
    pub refs: Vec<NameRef>,
    /// Each positional argument (its value's span) and the parameter it
    /// binds: the editor's parameter-name hints.
    pub arguments: Vec<(Span, String)>,
    /// Each field read (`s.port`: the span of `port`) and the checker's
    /// type of the field: what the editor shows on hover.
    pub fields: Vec<(Span, Type)>,
    /// The locals at the cursor, when one was given and lies in the item.
    pub scope: Option<Scope>,
}

struct NameLog {
    names: ItemNames,
}

struct Resolver<'a> {
    db: &'a dyn salsa::Database,
    project: ProjectInput,
    file: SourceFile,
    /// The item being checked, for the defaults of the types written in it.
    at: Origin,
    path: Arc<str>,
    summary: &'a ModuleSummary,
    prelude: &'a BTreeMap<String, NameKind>,
    /// Local names with their types (`Any` when unknown).
    locals: Vec<(String, Type, Option<Span>)>,
    host_ok: bool,
    diags: Vec<Diag>,
    /// Inferred types by expression node: an item's tree is immutable while
    /// it is checked and every node sits in one scope, so asking again (at
    /// each operator, argument and access) stays linear.
    memo: HashMap<usize, Type>,
    /// The type of `host.vars`: `Any` unless the hosts an `on` block
    /// targets are known.
    host_vars: Type,
    /// Inside a `policy`: `change` is bound, and the statements are
    /// decisions (`deny`, `require_approval`, `warn`), `let`, `if`, `for`.
    in_policy: bool,
    /// The type of every name the item binds (`let`s, parameters), by the
    /// name's span: what the editor shows on hover and as inlay hints.
    /// `None` when not wanted (the per-host re-check of `on` blocks).
    bindings: Option<Vec<(Span, Type)>>,
    /// Every name and what it resolves to, for the IDE layer only (`None`
    /// when checking: it costs nothing there).
    names: Option<Box<NameLog>>,
    /// Every use of a top-level definition or module, by its span: what
    /// evaluation reads instead of looking names up again (`None` in the
    /// per-host re-check of `on` blocks).
    globals: Option<Vec<(Span, NameTarget)>>,
    /// Where the IDE wants the locals in scope (kept here, not in the log:
    /// it is read at every node, also while checking).
    cursor: Option<u32>,
    /// Paths a test `PATH is TYPE` guards, with the type they have there
    /// (`change.resource is file && change.resource.mode == …`).
    narrowed: Vec<(String, Type)>,
}

/// What checking one item found: its diagnostics and the types of the
/// names it binds, all with item-relative spans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemCheck {
    pub diags: Vec<Diag>,
    pub bindings: Vec<(Span, Type)>,
    /// What each name that refers to a top-level definition resolved to,
    /// by its span (a `NameTarget::Item` or `NameTarget::Module`).
    pub globals: Vec<(Span, NameTarget)>,
}

/// A field of an open record: the record may have more fields than it
/// lists, and reading those is checked per host (E0401), not here.
pub const OPEN_FIELD: &str = "..";

type Names = BTreeMap<String, (NameKind, u32)>;

/// How deep type aliases are followed; deeper (or recursive) aliases are
/// left to evaluation.
const ALIAS_DEPTH: u32 = 16;

pub fn check_item(
    db: &dyn salsa::Database,
    project: ProjectInput,
    at: Origin,
    path: &Arc<str>,
    item: &Item,
) -> ItemCheck {
    let mut r = Resolver::new(db, project, at, path);
    r.bindings = Some(Vec::new());
    r.globals = Some(Vec::new());
    r.item(item);
    ItemCheck {
        diags: r.diags,
        bindings: r.bindings.unwrap_or_default(),
        globals: r.globals.unwrap_or_default(),
    }
}

/// Checks an `on` block again with `host.vars` typed as `vars` (see
/// [`vars_type`]). Only what that type adds is new: the caller has already
/// reported everything [`check_item`] finds.
pub fn check_on_block(
    db: &dyn salsa::Database,
    project: ProjectInput,
    at: Origin,
    path: &Arc<str>,
    item: &Item,
    vars: Type,
) -> Vec<Diag> {
    let mut r = Resolver::new(db, project, at, path);
    r.host_vars = vars;
    r.item(item);
    r.diags
}

/// Resolves one item as [`check_item`] does and records every name in it
/// with what it refers to (and, with a cursor, the locals in scope there).
/// Spans are those of `item`. For the IDE layer: checking never calls it.
pub fn item_names(
    db: &dyn salsa::Database,
    project: ProjectInput,
    at: Origin,
    item: &Item,
    cursor: Option<u32>,
) -> ItemNames {
    let mut r = Resolver::new(db, project, at, at.file.path(db));
    r.names = Some(Box::new(NameLog {
        names: ItemNames::default(),
    }));
    r.cursor = cursor;
    r.item(item);
    r.names.map(|n| n.names).unwrap_or_default()
}

/// The type of the vars of every one of `hosts`, as an open record: a var
/// set on all of them has the join of its types; a var only some set is
/// `Any` (reading it is E0401 for the hosts that lack it).
pub fn vars_type<'v>(hosts: impl IntoIterator<Item = &'v crate::value::Value>) -> Type {
    use crate::value::Value;
    let records: Vec<&BTreeMap<String, Value>> = hosts
        .into_iter()
        .filter_map(|v| match v {
            Value::Record(m) => Some(m.as_ref()),
            _ => None,
        })
        .collect();
    let mut names: Vec<&String> = records.iter().flat_map(|m| m.keys()).collect();
    names.sort();
    names.dedup();
    let mut fields: Vec<TField> = names
        .into_iter()
        .map(|name| {
            let mut ty: Option<Type> = None;
            for m in &records {
                let t = match m.get(name) {
                    Some(v) if !v.is_null() => value_type(v),
                    _ => Type::Any,
                };
                ty = Some(match ty {
                    None => t,
                    Some(prev) => join(&prev, &t),
                });
            }
            TField::new(name.clone(), ty.unwrap_or(Type::Any), false)
        })
        .collect();
    fields.push(TField::new(OPEN_FIELD.to_string(), Type::Any, false));
    Type::record(fields)
}

/// The static type of an inventory value.
fn value_type(v: &crate::value::Value) -> Type {
    use crate::value::Value;
    crate::stack::guard(|| match v {
        Value::Null | Value::Handle(_) => Type::Any,
        Value::Bool(_) => Type::Bool,
        Value::Int(_) => Type::Int,
        Value::Str(_) => Type::Str,
        Value::Mode(_) => Type::Mode,
        Value::Duration(_) => Type::Duration,
        Value::Secret(_) => Type::Secret,
        Value::List(items) => {
            let mut t: Option<Type> = None;
            for i in items.iter() {
                let it = value_type(i);
                t = Some(match t {
                    None => it,
                    Some(prev) => join(&prev, &it),
                });
            }
            Type::List(Box::new(t.unwrap_or(Type::Any)))
        }
        Value::Record(_) => vars_type([v]),
    })
}

impl<'a> Resolver<'a> {
    /// A resolver for one item of `file`: no locals, no host, no recording.
    fn new(
        db: &'a dyn salsa::Database,
        project: ProjectInput,
        at: Origin,
        path: &Arc<str>,
    ) -> Resolver<'a> {
        let file = at.file;
        Resolver {
            db,
            project,
            file,
            at,
            path: path.clone(),
            summary: module_summary(db, project, file),
            prelude: prelude_summary(db, project),
            locals: Vec::new(),
            host_ok: false,
            diags: Vec::new(),
            memo: HashMap::new(),
            host_vars: Type::Any,
            in_policy: false,
            bindings: None,
            names: None,
            globals: None,
            cursor: None,
            narrowed: Vec::new(),
        }
    }

    fn loc(&self, span: Span) -> Loc {
        Loc::new(&self.path, span)
    }

    fn lookup(&self, name: &str) -> Option<Found<'a>> {
        if let Some(i) = self.locals.iter().rposition(|(l, _, _)| l == name) {
            return Some(Found::Local(i));
        }
        if let Some((k, _)) = self.summary.names.get(name) {
            return Some(Found::Kind(k, false));
        }
        if let Some(t) = self.summary.imports.get(name) {
            return Some(Found::Module(*t));
        }
        if let Some(k) = self.prelude.get(name) {
            return Some(Found::Kind(k, true));
        }
        if self.host_ok {
            match name {
                "host" => return Some(Found::Builtin("host")),
                "facts" => return Some(Found::Builtin("facts")),
                _ => {}
            }
        }
        None
    }

    // Recording for the IDE layer (no-ops while checking)
    // ----------------------------------------------------------------

    /// What `name` refers to here, as a [`NameTarget`].
    fn name_target(&self, name: &str) -> Option<NameTarget> {
        Some(match self.lookup(name)? {
            Found::Local(i) => match self.locals[i].2 {
                Some(span) => NameTarget::Local(span),
                None => NameTarget::Builtin("change"),
            },
            Found::Kind(_, prelude) => {
                NameTarget::Item((!prelude).then_some(self.file), name.to_string())
            }
            Found::Module(_) => NameTarget::Module(name.to_string()),
            Found::Builtin(b) => NameTarget::Builtin(b),
        })
    }

    fn record(&mut self, span: Span, target: NameTarget, def: Option<DefKind>, ty: Option<Type>) {
        if let Some(globals) = self.globals.as_mut() {
            if def.is_none() && matches!(target, NameTarget::Item(..) | NameTarget::Module(_)) {
                globals.push((span, target.clone()));
            }
        }
        if let Some(log) = self.names.as_mut() {
            log.names.refs.push(NameRef {
                span,
                target,
                def,
                ty,
            });
        }
    }

    /// A use of the name `id`, with the type of what it names.
    #[inline]
    fn record_use(&mut self, id: &Ident, ty: Option<Type>) {
        if !self.recording() {
            return;
        }
        // Evaluation reads only names of top-level definitions.
        if self.names.is_none() && self.locals.iter().any(|(l, _, _)| *l == id.name) {
            return;
        }
        if let Some(t) = self.name_target(&id.name) {
            self.record(id.span, t, None, ty);
        }
    }

    /// Whether names are being recorded, for the IDE or for evaluation.
    #[inline]
    fn recording(&self) -> bool {
        self.names.is_some() || self.globals.is_some()
    }

    /// The declaration of a local (or parameter, attribute) at `id`.
    #[inline]
    fn record_local(&mut self, id: &Ident, kind: DefKind, ty: &Type) {
        if self.names.is_some() {
            self.record(
                id.span,
                NameTarget::Local(id.span),
                Some(kind),
                Some(ty.clone()),
            );
        }
    }

    /// Keeps the locals in scope when `span` holds the cursor (the
    /// innermost such point wins: it is visited last).
    #[inline]
    fn at_cursor(&mut self, span: Span) {
        if let Some(c) = self.cursor {
            if span.start <= c && c <= span.end {
                self.keep_scope();
            }
        }
    }

    fn keep_scope(&mut self) {
        if let Some(log) = self.names.as_mut() {
            log.names.scope = Some(Scope {
                locals: self.locals.clone(),
                host: self.host_ok,
            });
        }
    }

    /// The target of a (possibly qualified) callee, without reporting.
    fn callee_target(&self, segs: &[Ident]) -> Option<NameTarget> {
        match segs {
            [one] => self.name_target(&one.name),
            [alias, member] => match self.lookup(&alias.name) {
                Some(Found::Module(Some(t))) => {
                    Some(NameTarget::Item(Some(t), member.name.clone()))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Named arguments name parameters of the callee.
    #[inline]
    fn record_named_args(&mut self, segs: &[Ident], args: &[Arg]) {
        if self.names.is_none() {
            return;
        }
        let Some(callee) = self.callee_target(segs) else {
            return;
        };
        for a in args {
            if let Some(n) = &a.name {
                let t = NameTarget::Param(Box::new(callee.clone()), n.name.clone());
                self.record(n.span, t, None, None);
            }
        }
    }

    fn record_argument(&mut self, value: Span, param: &str) {
        if let Some(log) = &mut self.names {
            log.names.arguments.push((value, param.to_string()));
        }
    }

    // ----------------------------------------------------------------

    fn visible(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.locals.iter().map(|(l, _, _)| l.as_str()).collect();
        v.extend(self.summary.names.keys().map(String::as_str));
        v.extend(self.summary.imports.keys().map(String::as_str));
        v.extend(self.prelude.keys().map(String::as_str));
        if self.host_ok {
            v.extend(["host", "facts"]);
        }
        v
    }

    /// Whether `name` was being declared by an item that failed to parse:
    /// its uses are not unknown names, the parse error says what is wrong.
    fn declared_by_broken_item(&self, name: &str) -> bool {
        self.summary.broken.contains(name)
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
            Some((k, _)) => {
                if self.recording() {
                    let ty = match k {
                        NameKind::Let(ty) if self.names.is_some() => {
                            Some(self.expand_at(&s.names, ty, 0))
                        }
                        _ => None,
                    };
                    self.record(
                        name.span,
                        NameTarget::Item(Some(t), name.name.clone()),
                        None,
                        ty,
                    );
                }
                Some(self.foreign(&s.names, k))
            }
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

    /// Replaces alias and resource-type names by what they stand for, as
    /// seen from this module (its items, then the prelude). The checker
    /// does not look into unions other than of literals, nor at `Null`:
    /// like `Any`, they are compatible with everything here, and evaluation
    /// checks them (see [`unknown`]).
    fn expand(&self, t: &Type) -> Type {
        self.expand_at(&self.summary.names, t, 0)
    }

    fn expand_at(&self, names: &Names, t: &Type, depth: u32) -> Type {
        if depth > ALIAS_DEPTH {
            return Type::Any;
        }
        let deeper = |t: &Type| Box::new(self.expand_at(names, t, depth + 1));
        match t {
            Type::Named(n) => {
                let kind = names.get(n).map(|(k, _)| k).or(self.prelude.get(n));
                match kind {
                    Some(NameKind::Type(t)) => self.expand_at(names, t, depth + 1),
                    Some(NameKind::Resource(..)) => Type::Handle(n.clone()),
                    _ => Type::Any,
                }
            }
            Type::List(t) => Type::List(deeper(t)),
            Type::Map(t) => Type::Map(deeper(t)),
            Type::Optional(t) => match self.expand_at(names, t, depth + 1) {
                Type::Any => Type::Any,
                o @ Type::Optional(_) => o,
                t => Type::Optional(Box::new(t)),
            },
            Type::Record(fields) => Type::Record(
                fields
                    .iter()
                    .map(|f| TField {
                        name: f.name.clone(),
                        ty: self.expand_at(names, &f.ty, depth + 1),
                        required: f.required,
                        default: f.default,
                    })
                    .collect(),
            ),
            t if unknown(t) => Type::Any,
            other => other.clone(),
        }
    }

    /// A name of another module with its types resolved there.
    fn foreign(&self, names: &Names, k: &NameKind) -> NameKind {
        let ex = |t: &Type| self.expand_at(names, t, 0);
        let params = |ps: &[ParamSig]| -> Vec<ParamSig> {
            ps.iter()
                .map(|p| ParamSig {
                    name: p.name.clone(),
                    has_default: p.has_default,
                    ty: ex(&p.ty),
                })
                .collect()
        };
        match k {
            NameKind::Let(t) => NameKind::Let(ex(t)),
            NameKind::Type(t) => NameKind::Type(ex(t)),
            NameKind::Fn(ps, ret) => NameKind::Fn(params(ps), ex(ret)),
            NameKind::Role(ps) => NameKind::Role(params(ps)),
            NameKind::Resource(title, attrs) => NameKind::Resource(
                title.clone(),
                attrs
                    .iter()
                    .map(|a| AttrSig {
                        name: a.name.clone(),
                        required: a.required,
                        ty: ex(&a.ty),
                    })
                    .collect(),
            ),
        }
    }

    /// The type of `host` inside `on` blocks and what they call. Vars
    /// differ per host and are checked when each host is evaluated.
    fn host_type(&self) -> Type {
        let field = |name: &str, ty: Type| TField::new(name, ty, true);
        Type::record(vec![
            field("name", Type::Str),
            field("address", Type::Str),
            field("groups", Type::List(Box::new(Type::Str))),
            field("vars", self.host_vars.clone()),
        ])
    }

    /// A top-level name's kind in this module or the prelude.
    fn global(&self, name: &str) -> Option<&'a NameKind> {
        self.summary
            .names
            .get(name)
            .map(|(k, _)| k)
            .or(self.prelude.get(name))
    }

    // ----------------------------------------------------------------

    /// The declaration of a top-level name.
    #[inline]
    fn record_item_def(&mut self, item: &Item) {
        if self.names.is_none() {
            return;
        }
        let (id, kind) = match item {
            Item::Import(imp) => {
                let alias = crate::db::import_alias(imp);
                let span = imp.alias.as_ref().map_or(imp.path.span, |a| a.span);
                self.record(span, NameTarget::Module(alias), Some(DefKind::Import), None);
                return;
            }
            Item::Let(l) => (&l.name, DefKind::Let),
            Item::Type(t) => (&t.name, DefKind::Type),
            Item::Fn(f) => (&f.name, DefKind::Fn),
            Item::Role(r) => (&r.name, DefKind::Role),
            Item::Resource(r) => (&r.name, DefKind::Resource),
            _ => return,
        };
        let t = NameTarget::Item(Some(self.file), id.name.clone());
        self.record(id.span, t, Some(kind), None);
    }

    fn item(&mut self, item: &Item) {
        self.record_item_def(item);
        self.at_cursor(item.span());
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
                let ty = match &l.ty {
                    Some(t) => {
                        let what = format!("`{}`", l.name.name);
                        self.check_value(&what, &Type::of(t, self.at), &l.value);
                        self.expand(&Type::of(t, self.at))
                    }
                    None => self.infer(&l.value),
                };
                self.bind(l.name.span, &ty);
                if let Some(log) = self.names.as_mut() {
                    if let Some(r) = log.names.refs.iter_mut().find(|r| r.span == l.name.span) {
                        r.ty = Some(ty.clone());
                    }
                }
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
                            r.check_value(&what, &Type::of(t, r.at), b);
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
                self.unimplemented_resource_type(decl);
                self.ty(&decl.title.ty);
                self.with_scope(|r| {
                    let title = r.expand(&Type::of(&decl.title.ty, r.at));
                    r.record_local(&decl.title.name, DefKind::Param, &title);
                    let span = Some(decl.title.name.span);
                    r.locals.push((decl.title.name.name.clone(), title, span));
                    for m in &decl.members {
                        if let ResourceMember::Attr(a) = m {
                            let ty = r.expand(&Type::of(&a.ty, r.at));
                            r.record_local(&a.name, DefKind::Attr, &ty);
                            r.locals.push((a.name.name.clone(), ty, Some(a.name.span)));
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
            // Policies run against plans; their names, fields and calls are
            // checked here so a typo fails `mc check`, not the plan.
            Item::Policy(decl) => {
                self.in_policy = true;
                self.with_scope(|r| {
                    r.locals
                        .push(("change".into(), crate::policy::change_type(), None));
                    for rule in &decl.rules {
                        r.expr(&rule.cond);
                        r.condition(&rule.cond);
                        let guards = r.guards(&rule.cond);
                        r.narrowing(guards, |r| r.block(&rule.body));
                    }
                });
                self.in_policy = false;
            }
            Item::Project(p) => {
                let path = self.path.clone();
                let diags = crate::settings::Settings::default()
                    .read(&p.fields, |span| Loc::new(&path, span));
                self.diags.extend(diags);
            }
            Item::Error(_) => {}
        }
    }

    /// Records a bound name's type, when this check keeps them.
    fn bind(&mut self, name: Span, ty: &Type) {
        if let Some(b) = self.bindings.as_mut() {
            b.push((name, ty.clone()));
        }
    }

    fn params(&mut self, ps: &[Param]) {
        for p in ps {
            self.ty(&p.ty);
            if let Some(d) = &p.default {
                self.expr(d);
            }
            let ty = self.expand(&Type::of(&p.ty, self.at));
            if let Some(d) = &p.default {
                let what = format!("the default of `{}`", p.name.name);
                self.check_value(&what, &ty, d);
            }
            self.bind(p.name.span, &ty);
            self.record_local(&p.name, DefKind::Param, &ty);
            self.locals
                .push((p.name.name.clone(), ty, Some(p.name.span)));
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
        self.at_cursor(b.span);
        self.with_scope(|r| {
            for s in &b.stmts {
                r.stmt(s);
                // After a statement, its names are in scope up to the end
                // (not at its own last character: a `let` being typed).
                if r.cursor
                    .is_some_and(|c| s.span().end < c && c <= b.span.end)
                {
                    r.keep_scope();
                }
            }
        });
    }

    fn stmt(&mut self, s: &Stmt) {
        crate::stack::guard(|| self.stmt_inner(s))
    }

    fn stmt_inner(&mut self, s: &Stmt) {
        self.at_cursor(s.span());
        match s {
            Stmt::Resource(_) | Stmt::Assert(_) if self.in_policy => {
                let loc = self.loc(s.span());
                self.diags.push(crate::policy::not_in_a_policy(loc, s));
            }
            Stmt::Resource(rs) => {
                self.resource_stmt(rs);
                if let Some(b) = &rs.binding {
                    let ty = match self.lookup(&rs.ty.name) {
                        Some(Found::Kind(NameKind::Resource(..), _)) => {
                            Type::Handle(rs.ty.name.clone())
                        }
                        _ => Type::Any,
                    };
                    self.record_local(b, DefKind::Local, &ty);
                    self.locals.push((b.name.clone(), ty, Some(b.span)));
                }
            }
            Stmt::Let(l) => {
                if let Some(t) = &l.ty {
                    self.ty(t);
                }
                self.expr(&l.value);
                let ty = match &l.ty {
                    Some(t) => {
                        let ty = self.expand(&Type::of(t, self.at));
                        let what = format!("`{}`", l.name.name);
                        self.check_value(&what, &ty, &l.value);
                        ty
                    }
                    None => self.infer(&l.value),
                };
                self.bind(l.name.span, &ty);
                self.record_local(&l.name, DefKind::Local, &ty);
                self.locals
                    .push((l.name.name.clone(), ty, Some(l.name.span)));
            }
            Stmt::If(i) => self.if_stmt(i),
            Stmt::For(f) => {
                self.expr(&f.iter);
                let iter = self.infer(&f.iter);
                self.iterable(&f.iter, &iter);
                self.with_scope(|r| {
                    r.pattern(&f.pattern, &iter);
                    r.block(&f.body);
                });
            }
            Stmt::Call(c) if self.in_policy => self.policy_call(c),
            Stmt::Call(c) => self.role_call(c),
            Stmt::Assert(a) => {
                self.expr(&a.cond);
                self.condition(&a.cond);
                self.expr(&a.message);
                self.check_value("the assertion message", &Type::Str, &a.message);
            }
            Stmt::Error(_) => {}
        }
    }

    fn if_stmt(&mut self, i: &IfStmt) {
        crate::stack::guard(|| self.if_stmt_inner(i))
    }

    fn if_stmt_inner(&mut self, i: &IfStmt) {
        self.expr(&i.cond);
        self.condition(&i.cond);
        let guards = self.guards(&i.cond);
        self.narrowing(guards, |me| me.block(&i.then_block));
        match &i.else_branch {
            Some(ElseBranch::If(e)) => self.if_stmt(e),
            Some(ElseBranch::Block(b)) => self.block(b),
            None => {}
        }
    }

    /// Binds the variables of `for PATTERN in ITER` given ITER's type: a
    /// list's elements (with their index), a map's keys and values.
    fn pattern(&mut self, p: &ForPattern, iter: &Type) {
        let (key, elem) = match iter {
            Type::List(t) => (Type::Int, (**t).clone()),
            Type::Map(t) => (Type::Str, (**t).clone()),
            Type::Record(_) => (Type::Str, Type::Any),
            _ => (Type::Any, Type::Any),
        };
        match p {
            ForPattern::Single(x) => {
                let elem = match iter {
                    Type::List(_) => elem,
                    Type::Map(_) | Type::Record(_) => Type::Str,
                    _ => Type::Any,
                };
                self.record_local(x, DefKind::Local, &elem);
                self.locals.push((x.name.clone(), elem, Some(x.span)))
            }
            ForPattern::Pair(a, b) => {
                self.record_local(a, DefKind::Local, &key);
                self.record_local(b, DefKind::Local, &elem);
                self.locals.push((a.name.clone(), key, Some(a.span)));
                self.locals.push((b.name.clone(), elem, Some(b.span)));
            }
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
        // Values reported as bare words (see `bare_word`), not walked again.
        let mut bare: Vec<Span> = Vec::new();
        let kind = match self.lookup(&rs.ty.name) {
            Some(Found::Kind(NameKind::Resource(_, attrs), _)) => Some(attrs.clone()),
            _ => None,
        };
        if kind.is_some() && self.recording() {
            if let Some(rt) = self.name_target(&rs.ty.name) {
                self.record(rs.ty.span, rt.clone(), None, None);
                // The attributes are the editor's alone: evaluation reads
                // only the type's resolution.
                if self.names.is_some() {
                    let known: Vec<&Field> = rs
                        .fields
                        .iter()
                        .filter(|f| {
                            kind.as_ref()
                                .is_some_and(|a| a.iter().any(|a| a.name == f.name.name))
                        })
                        .collect();
                    for f in known {
                        let t = NameTarget::Attr(Box::new(rt.clone()), f.name.name.clone());
                        self.record(f.name.span, t, None, None);
                    }
                }
            }
        }
        match &kind {
            None if self.declared_by_broken_item(&rs.ty.name) => {}
            None => {
                let loc = self.loc(rs.ty.span);
                let names = self.names_where(|k| matches!(k, NameKind::Resource(..)));
                let d = crate::bind::unknown_resource_type(&rs.ty.name, loc, names);
                self.diags.push(d);
            }
            Some(attrs) => {
                let slots: Vec<Slot> = attrs
                    .iter()
                    .map(|a| Slot {
                        name: &a.name,
                        has_default: !a.required,
                    })
                    .collect();
                let path = self.path.clone();
                let fields =
                    crate::bind::bind_fields(&rs.ty.name, &slots, rs, &|s| Loc::new(&path, s));
                for (sig, f) in attrs.iter().zip(&fields.attrs) {
                    if let Some(f) = f {
                        if self.bare_word(sig, &f.value) {
                            bare.push(f.value.span());
                        } else {
                            self.literal_attr(sig, &f.value);
                        }
                    }
                }
                self.diags.extend(fields.diags);
            }
        }
        for f in &rs.fields {
            self.at_cursor(f.span);
            if !bare.contains(&f.value.span()) {
                self.expr(&f.value);
            }
        }
    }

    /// `state = present`: a word no name in scope has, where the attribute
    /// takes text, is the string meant (YAML writes strings unquoted).
    /// Reported as the unknown name it is, with the string as the fix.
    fn bare_word(&mut self, sig: &AttrSig, value: &Expr) -> bool {
        let Expr::Ident(id) = value else {
            return false;
        };
        if self.lookup(&id.name).is_some() || self.declared_by_broken_item(&id.name) {
            return false;
        }
        let ty = self.expand(&sig.ty);
        let text = match &ty {
            Type::Optional(t) => t.as_ref(),
            t => t,
        };
        let loc = self.loc(id.span);
        let d = Diag::error("E0103", loc.clone(), format!("unknown name `{}`", id.name))
            .label("not found in this scope")
            .note(format!(
                "attribute `{}` takes {text}: text is written in quotes",
                sig.name
            ));
        let quoted = |d: Diag| {
            let quoted = format!("{:?}", id.name);
            let msg = format!("did you mean `{quoted}`?");
            d.fix(loc.clone(), quoted, msg)
        };
        let d = match text {
            Type::Literals(values) if values.contains(&id.name) => quoted(d),
            Type::Literals(values) => {
                d.did_you_mean_value(loc.clone(), &id.name, values.iter().map(String::as_str))
            }
            Type::Str | Type::Path => quoted(d),
            _ => return false,
        };
        self.diags.push(d);
        true
    }

    /// Checks an attribute whose value is a literal against its declared
    /// type, so mistakes are found even in code no host evaluates.
    fn literal_attr(&mut self, sig: &AttrSig, value: &Expr) {
        let what = format!("attribute `{}`", sig.name);
        self.check_value(&what, &sig.ty, value);
    }

    /// Checks a value against a declared type before evaluation: literals
    /// exactly, other expressions by their inferred type (secrets included).
    fn check_value(&mut self, what: &str, ty: &Type, value: &Expr) {
        let ty = &self.expand(ty);
        let problem = if is_literal(value) {
            literal_problem(value, ty)
        } else {
            None
        };
        let Some(problem) = problem else {
            let found = self.infer(value);
            if let Some(d) = self.inferred_problem(what, ty, &found, value.span()) {
                self.diags.push(d);
            }
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
                let d = Diag::error(
                    "E0202",
                    loc.clone(),
                    format!("mismatched types in {}", sig.name),
                )
                .label(format!("expected {}, found {found}", problem.expected));
                match literal_fix(value, ty) {
                    Some(fixed) => d.fix(loc, fixed.clone(), format!("write `{fixed}`")),
                    None => d,
                }
            }
            LitProblem::BadPath(headline, problem) => {
                Diag::error("E0211", loc, format!("{} {headline}", sig.name)).label(problem)
            }
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
                .did_you_mean_value(
                    loc,
                    &value,
                    options.iter().map(String::as_str),
                )
            }
        };
        self.diags.push(d);
    }

    /// The type of an expression as far as it is known without evaluating
    /// it; `Any` whenever unsure, so this never rejects a valid program.
    fn infer(&mut self, e: &Expr) -> Type {
        let key = e as *const Expr as usize;
        if let Some(t) = self.memo.get(&key) {
            return t.clone();
        }
        let t = crate::stack::guard(|| self.infer_inner(e));
        self.memo.insert(key, t.clone());
        t
    }

    fn infer_inner(&mut self, e: &Expr) -> Type {
        use mc_grammar::ast::BinaryOp as B;
        match e {
            Expr::Int { .. } => Type::Int,
            Expr::Duration { .. } => Type::Duration,
            Expr::Bool { .. } => Type::Bool,
            Expr::Str(s) => {
                let mut secret = false;
                for p in &s.parts {
                    if let StrPart::Interp(inner) = p {
                        secret |= self.infer(inner) == Type::Secret;
                    }
                }
                if secret {
                    Type::Secret
                } else {
                    Type::Str
                }
            }
            Expr::Ident(id) => {
                if let Some((_, t, _)) = self.locals.iter().rev().find(|(n, _, _)| *n == id.name) {
                    return t.clone();
                }
                match self.global(&id.name) {
                    Some(NameKind::Let(t)) => self.expand(t),
                    Some(_) => Type::Any,
                    None if self.host_ok && id.name == "host" => self.host_type(),
                    None if self.host_ok && id.name == "facts" => {
                        self.expand(&Type::Named("Facts".to_string()))
                    }
                    None => Type::Any,
                }
            }
            Expr::Call { callee, args, .. } => {
                let kind = match callee.as_ref() {
                    Expr::Ident(id) => {
                        if self.locals.iter().any(|(n, _, _)| *n == id.name) {
                            return Type::Any;
                        }
                        self.global(&id.name).cloned()
                    }
                    Expr::Field { base, name, .. } => match base.as_ref() {
                        Expr::Ident(m) => match self.lookup(&m.name) {
                            Some(Found::Module(Some(t))) => {
                                let names = &module_summary(self.db, self.project, t).names;
                                names.get(&name.name).map(|(k, _)| self.foreign(names, k))
                            }
                            _ => None,
                        },
                        _ => None,
                    },
                    _ => None,
                };
                let name = match callee.as_ref() {
                    Expr::Ident(id) => id.name.as_str(),
                    _ => "",
                };
                match kind {
                    Some(NameKind::Fn(_, ret)) => {
                        // Built-ins that pass text through keep its taint.
                        let taints = matches!(name, "template" | "join" | "to_string");
                        if taints
                            && args.iter().any(|a| {
                                self.infer(&a.value) == Type::Secret || self.holds_secret(&a.value)
                            })
                        {
                            return Type::Secret;
                        }
                        self.expand(&ret)
                    }
                    // `package("nginx")` names a declared resource.
                    Some(NameKind::Resource(..)) => Type::Handle(match callee.as_ref() {
                        Expr::Field { name, .. } => name.name.clone(),
                        _ => name.to_string(),
                    }),
                    _ => Type::Any,
                }
            }
            Expr::Field { base, name, .. } => {
                if let Some(t) = self.narrowed_type(e) {
                    return t;
                }
                if let Expr::Ident(m) = base.as_ref() {
                    if let Some(Found::Module(Some(t))) = self.lookup(&m.name) {
                        let names = &module_summary(self.db, self.project, t).names;
                        return match names.get(&name.name) {
                            Some((NameKind::Let(ty), _)) => self.expand_at(names, ty, 0),
                            _ => Type::Any,
                        };
                    }
                }
                let b = self.infer(base);
                self.field_type(&b, &name.name).unwrap_or(Type::Any)
            }
            Expr::Index { base, .. } => match self.infer(base) {
                Type::List(t) | Type::Map(t) => *t,
                _ => Type::Any,
            },
            Expr::Binary { op, lhs, rhs, .. } => match op {
                B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge | B::And | B::Or => Type::Bool,
                B::Add => match (self.infer(lhs), self.infer(rhs)) {
                    (Type::Secret, _) | (_, Type::Secret) => Type::Secret,
                    (Type::Int, Type::Int) => Type::Int,
                    (Type::Duration, Type::Duration) => Type::Duration,
                    (Type::List(a), Type::List(b)) => Type::List(Box::new(join(&a, &b))),
                    (a, b) if is_text(&a) && is_text(&b) => Type::Str,
                    _ => Type::Any,
                },
                B::Sub | B::Mul | B::Div | B::Rem => match (self.infer(lhs), self.infer(rhs)) {
                    (Type::Int, Type::Int) => Type::Int,
                    (Type::Duration, Type::Int | Type::Duration) => Type::Duration,
                    _ => Type::Any,
                },
                B::Coalesce => match self.infer(lhs) {
                    Type::Optional(t) => *t,
                    Type::Any => Type::Any,
                    t => t,
                },
                B::Merge => match (self.infer(lhs), self.infer(rhs)) {
                    (Type::Record(a), Type::Record(b)) => Type::record(merge_fields(&a, &b)),
                    (Type::Map(a), Type::Map(b)) => Type::Map(Box::new(join(&a, &b))),
                    _ => Type::Any,
                },
            },
            Expr::Unary { op, operand, .. } => match op {
                mc_grammar::ast::UnaryOp::Not => Type::Bool,
                mc_grammar::ast::UnaryOp::Neg => match self.infer(operand) {
                    Type::Int => Type::Int,
                    _ => Type::Any,
                },
            },
            Expr::Is { .. } => Type::Bool,
            Expr::If {
                then_branch,
                else_branch,
                ..
            } => {
                let a = self.infer(then_branch);
                let b = self.infer(else_branch);
                join(&a, &b)
            }
            Expr::List { items, .. } => {
                let mut t: Option<Type> = None;
                for i in items {
                    let it = self.infer(i);
                    t = Some(match t {
                        None => it,
                        Some(prev) => join(&prev, &it),
                    });
                }
                Type::List(Box::new(t.unwrap_or(Type::Any)))
            }
            Expr::Record { fields, .. } => {
                let mut out: Vec<TField> = Vec::with_capacity(fields.len());
                for f in fields {
                    let ty = self.infer(&f.value);
                    // A duplicate field is E0206; the last one wins here.
                    out.retain(|o| o.name != f.name.name);
                    out.push(TField::new(f.name.name.clone(), ty, true));
                }
                Type::record(out)
            }
            Expr::Comprehension {
                element,
                pattern,
                iter,
                ..
            } => {
                let it = self.infer(iter);
                let mut elem = Type::Any;
                self.with_scope(|r| {
                    r.pattern(pattern, &it);
                    elem = r.infer(element);
                });
                Type::List(Box::new(elem))
            }
            Expr::Paren { inner, .. } => self.infer(inner),
            Expr::Null(_) | Expr::Error(_) => Type::Any,
        }
    }

    /// The type of field `name` of a value of type `t`; `None` when `t` is
    /// known to have no such field.
    fn field_type(&self, t: &Type, name: &str) -> Option<Type> {
        match t {
            Type::Record(fields) => fields
                .iter()
                .find(|f| f.name == name || f.name == OPEN_FIELD)
                .map(|f| f.ty.clone()),
            Type::Map(t) => Some((**t).clone()),
            Type::Handle(rt) if rt == crate::policy::ANY_RESOURCE => self
                .any_resource_fields()
                .contains(&name)
                .then_some(Type::Any),
            Type::Handle(rt) => {
                if name == "title" || name == "type" {
                    return Some(Type::Str);
                }
                match self.global(rt) {
                    Some(NameKind::Resource(title, attrs)) => {
                        if *title == name {
                            return Some(Type::Str);
                        }
                        attrs
                            .iter()
                            .find(|a| a.name == name)
                            .map(|a| self.expand(&a.ty))
                            .or_else(|| is_meta_attr(name).then_some(Type::Any))
                    }
                    _ => Some(Type::Any),
                }
            }
            _ => Some(Type::Any),
        }
    }

    /// The fields `change.resource` may have in a policy: those of some
    /// resource type of the stdlib, and what policies add.
    fn any_resource_fields(&self) -> Vec<&'a str> {
        let mut names = vec!["title", "type"];
        names.extend(crate::policy::RESOURCE_EXTRAS);
        for kind in self.prelude.values() {
            if let NameKind::Resource(title, attrs) = kind {
                names.push(title);
                names.extend(attrs.iter().map(|a| a.name.as_str()));
            }
        }
        names
    }

    /// `for` and comprehensions iterate over lists and maps only.
    fn iterable(&mut self, e: &Expr, t: &Type) {
        if matches!(
            t,
            Type::Any | Type::List(_) | Type::Map(_) | Type::Record(_)
        ) {
            return;
        }
        let loc = self.loc(e.span());
        self.diags.push(
            Diag::error("E0202", loc, format!("cannot iterate over {t}"))
                .label("expected a list or a map"),
        );
    }

    /// Conditions must be Bool when their type is known.
    fn condition(&mut self, cond: &Expr) {
        let t = self.infer(cond);
        if !matches!(t, Type::Any | Type::Bool) && t != Type::Optional(Box::new(Type::Bool)) {
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
                .any(|f| self.infer(&f.value) == Type::Secret || self.holds_secret(&f.value)),
            Expr::List { items, .. } => items
                .iter()
                .any(|i| self.infer(i) == Type::Secret || self.holds_secret(i)),
            _ => false,
        }
    }

    /// A definite mismatch between an inferred and a declared type.
    fn inferred_problem(&self, what: &str, ty: &Type, found: &Type, span: Span) -> Option<Diag> {
        let loc = self.loc(span);
        if *found == Type::Secret && !accepts_secret(ty) {
            return Some(
                Diag::error("E0210", loc, format!("a secret cannot be used in {what}"))
                    .label(format!("this value holds a secret; {what} has type {ty}"))
                    .note("secrets may only flow into attributes declared `Secret` (file content, command env, …), so they never end up in plans or logs"),
            );
        }
        let why = mismatch(found, ty)?;
        if let Some((name, known)) = unknown_field(found, ty) {
            let d = Diag::error("E0207", loc, format!("{what}: {why}"))
                .label(format!("expected {ty}"))
                .note(
                    match crate::suggest::closest(&name, known.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("known fields: {}", known.join(", ")),
                    },
                );
            return Some(d);
        }
        Some(Diag::error("E0202", loc, format!("mismatched types in {what}")).label(why))
    }

    /// A resource type declared in the project: no provider implements it
    /// (the runner's providers are the stdlib's types), so every plan of it
    /// would fail on the host.
    fn unimplemented_resource_type(&mut self, decl: &ResourceDecl) {
        if self.path.starts_with(mc_stdlib::PATH_PREFIX) {
            return;
        }
        let name = &decl.name.name;
        let loc = self.loc(decl.name.span);
        self.diags.push(
            Diag::error(
                "E0109",
                loc,
                format!("no provider implements resource type `{name}`"),
            )
            .label("declared here, but mc cannot apply it")
            .note("resource types come from the standard library (file, package, service, user, command, …: docs/stdlib.md); build on them in a role, or use a `command` for a one-off"),
        );
    }

    /// `deny(…)`, `require_approval(…)` or `warn(…)` in a policy.
    fn policy_call(&mut self, c: &CallStmt) {
        for a in &c.args {
            self.expr(&a.value);
        }
        let name = c.callee.dotted();
        if crate::policy::decision(&name).is_none() {
            let loc = self.loc(c.callee.span);
            self.diags.push(crate::policy::not_a_decision(loc, &name));
            return;
        }
        match c.args.as_slice() {
            [only] => self.check_value("the message", &Type::Str, &only.value),
            _ => {
                let loc = self.loc(c.span);
                self.diags.push(crate::policy::one_message(loc, &name));
            }
        }
    }

    fn role_call(&mut self, c: &CallStmt) {
        for a in &c.args {
            self.expr(&a.value);
        }
        let kind = self.resolve_callee(&c.callee.segments, true);
        self.record_named_args(&c.callee.segments, &c.args);
        let Some(kind) = kind else {
            return;
        };
        let loc = self.loc(c.callee.span);
        match kind {
            NameKind::Role(params) => {
                self.args(&params, &c.args, c.span, &c.callee.dotted(), "role")
            }
            NameKind::Fn(..) => self
                .diags
                .push(crate::bind::function_as_role(&c.callee.dotted(), loc)),
            _ => self
                .diags
                .push(crate::bind::not_a_role(&c.callee.dotted(), loc)),
        }
    }

    /// Resolves a (possibly qualified) callee; reports unknown names.
    fn resolve_callee(&mut self, segs: &[Ident], role: bool) -> Option<NameKind> {
        let first = segs.first()?;
        let found = self.lookup(&first.name);
        let kind = match (found, segs.len()) {
            (Some(Found::Kind(k, _)), 1) => {
                self.record_use(first, None);
                Some(k.clone())
            }
            (Some(Found::Module(t)), 2) => {
                self.record_use(first, None);
                self.member(t, &first.name, &segs[1])
            }
            (Some(Found::Local(_)), 1) | (Some(Found::Builtin(_)), 1) => {
                self.record_use(first, None);
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
            (None, _) if self.declared_by_broken_item(&first.name) => None,
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
        let slots: Vec<Slot> = params
            .iter()
            .map(|p| Slot {
                name: &p.name,
                has_default: p.has_default,
            })
            .collect();
        let call = Call { what, callee, span };
        let path = self.path.clone();
        let bound = crate::bind::bind(&slots, args, &call, &|s| Loc::new(&path, s));
        for (p, a) in params.iter().zip(&bound.args) {
            let Some(a) = a else { continue };
            // As rust-analyzer: no hint where the argument already says it.
            let says_it = matches!(&a.value, Expr::Ident(i) if i.name == p.name);
            if a.name.is_none() && !says_it {
                self.record_argument(a.value.span(), &p.name);
            }
            self.check_value(&format!("argument `{}`", p.name), &p.ty, &a.value);
        }
        // The callers have walked every argument already.
        self.diags.extend(bound.diags);
    }

    /// What `cond` guarantees where it holds: each `PATH is RESOURCE_TYPE`
    /// among its `&&` operands, with the resource's shape as a policy sees
    /// it (`type`, `title`, the title parameter, `tags`, `risk` and every
    /// attribute, null when unset).
    fn guards(&self, cond: &Expr) -> Vec<(String, Type)> {
        match cond {
            Expr::Binary {
                op: mc_grammar::ast::BinaryOp::And,
                lhs,
                rhs,
                ..
            } => {
                let mut g = self.guards(lhs);
                g.extend(self.guards(rhs));
                g
            }
            Expr::Paren { inner, .. } => self.guards(inner),
            Expr::Is {
                value,
                ty: TypeExpr::Named(q),
                ..
            } if q.segments.len() == 1 => {
                let Some(path) = dotted_path(value) else {
                    return Vec::new();
                };
                match self.lookup(&q.segments[0].name) {
                    Some(Found::Kind(NameKind::Resource(title, attrs), _)) => {
                        vec![(path, resource_shape(title, attrs))]
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Runs `f` with `guards` in force.
    fn narrowing<T>(&mut self, guards: Vec<(String, Type)>, f: impl FnOnce(&mut Self) -> T) -> T {
        let mark = self.narrowed.len();
        self.narrowed.extend(guards);
        let out = f(self);
        self.narrowed.truncate(mark);
        out
    }

    fn narrowed_type(&self, e: &Expr) -> Option<Type> {
        if self.narrowed.is_empty() {
            return None;
        }
        let path = dotted_path(e)?;
        self.narrowed
            .iter()
            .rev()
            .find(|(p, _)| *p == path)
            .map(|(_, t)| t.clone())
    }

    /// `change.risk == "hihg"`: a string literal compared with a value of
    /// a literal union it is not one of can never be equal (E0202, with
    /// the closest member as the fix).
    fn impossible_comparison(
        &self,
        op: mc_grammar::ast::BinaryOp,
        lhs: &Expr,
        l: &Type,
        rhs: &Expr,
        r: &Type,
    ) -> Option<Diag> {
        use mc_grammar::ast::BinaryOp;
        if !matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
            return None;
        }
        let members = |t: &Type| match self.expand(t) {
            Type::Literals(l) => Some(l),
            Type::Optional(t) => match *t {
                Type::Literals(l) => Some(l),
                _ => None,
            },
            _ => None,
        };
        let literal = |e: &Expr| match e {
            Expr::Str(s) => s.as_plain().map(|t| (t, s.span)),
            _ => None,
        };
        let (options, (text, span)) = match (members(l), literal(rhs), members(r), literal(lhs)) {
            (Some(o), Some(t), _, _) | (_, _, Some(o), Some(t)) => (o, t),
            _ => return None,
        };
        if options.contains(&text) {
            return None;
        }
        let quoted: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
        let always = if op == BinaryOp::Eq { "false" } else { "true" };
        let loc = self.loc(span);
        Some(
            Diag::error(
                "E0202",
                loc.clone(),
                format!("{text:?} is not one of {}", quoted.join(", ")),
            )
            .label(format!("this comparison is always {always}"))
            .did_you_mean_value(loc, &text, options.iter().map(String::as_str)),
        )
    }

    fn expr(&mut self, e: &Expr) {
        crate::stack::guard(|| self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: &Expr) {
        self.at_cursor(e.span());
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
                        let t = self.infer(inner);
                        if matches!(t, Type::List(_) | Type::Map(_) | Type::Record(_)) {
                            let loc = self.loc(inner.span());
                            let kind = if matches!(t, Type::List(_)) {
                                "list"
                            } else {
                                "record"
                            };
                            self.diags.push(
                                Diag::error("E0202", loc, format!("cannot interpolate a {kind}"))
                                    .label("only scalars can be interpolated")
                                    .note("use `join(xs, \", \")` or `to_string(x)`"),
                            );
                        }
                    }
                }
            }
            Expr::Ident(id) => {
                if self.names.is_some() && self.lookup(&id.name).is_some() {
                    let ty = self.infer(e);
                    self.record_use(id, Some(ty));
                } else if self.globals.is_some() {
                    self.record_use(id, None);
                }
                if self.lookup(&id.name).is_none() && !self.declared_by_broken_item(&id.name) {
                    let loc = self.loc(id.span);
                    let hint = if !self.host_ok && (id.name == "host" || id.name == "facts") {
                        Some(format!("`{}` is only in scope inside `on` blocks and the roles and functions they call", id.name))
                    } else {
                        None
                    };
                    let mut cands = self.visible();
                    // `yes`, `True`, `None` from YAML and Python.
                    cands.extend(["true", "false", "null"]);
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
            Expr::Field { .. } | Expr::Index { .. } => self.access(e, true),
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
                let kind = self.resolve_callee(&segs, false);
                self.record_named_args(&segs, args);
                match kind {
                    Some(NameKind::Fn(params, _)) => {
                        self.args(&params, args, *span, &dotted, "function")
                    }
                    Some(NameKind::Resource(title, _)) => {
                        let p = ParamSig {
                            name: title,
                            has_default: false,
                            ty: Type::Any,
                        };
                        self.args(&[p], args, *span, &dotted, "resource type")
                    }
                    Some(NameKind::Role(_)) => {
                        let loc = self.loc(callee.span());
                        self.diags.push(crate::bind::role_as_function(loc));
                    }
                    Some(_) => {
                        let loc = self.loc(callee.span());
                        self.diags.push(crate::bind::not_a_function(&dotted, loc));
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
                let t = self.infer(operand);
                let ok = match op {
                    // An optional may hold a value: evaluation checks it.
                    _ if matches!(t, Type::Any | Type::Optional(_)) => true,
                    mc_grammar::ast::UnaryOp::Not => t == Type::Bool,
                    mc_grammar::ast::UnaryOp::Neg => t == Type::Int,
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
                // A missing field on the left of `??` is null, not an error.
                if matches!(op, mc_grammar::ast::BinaryOp::Coalesce) {
                    self.access(lhs, false);
                } else {
                    self.expr(lhs);
                }
                let guards = if matches!(op, mc_grammar::ast::BinaryOp::And) {
                    self.guards(lhs)
                } else {
                    Vec::new()
                };
                let r = self.narrowing(guards, |me| {
                    me.expr(rhs);
                    me.infer(rhs)
                });
                let l = self.infer(lhs);
                if matches!(
                    op,
                    mc_grammar::ast::BinaryOp::Eq | mc_grammar::ast::BinaryOp::Ne
                ) && (l == Type::Secret || r == Type::Secret)
                    && !matches!(**lhs, Expr::Null(_))
                    && !matches!(**rhs, Expr::Null(_))
                {
                    let loc = self.loc(*op_span);
                    self.diags.push(crate::diag::secret_comparison(loc, *op));
                } else if !operands_ok(*op, &l, &r) {
                    let loc = self.loc(*op_span);
                    self.diags.push(
                        Diag::error(
                            "E0208",
                            loc,
                            format!("`{}` cannot be applied to {l} and {r}", op.symbol()),
                        )
                        .label("wrong operand types"),
                    );
                } else if let Some(d) = self.impossible_comparison(*op, lhs, &l, rhs, &r) {
                    self.diags.push(d);
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
                let it = self.infer(iter);
                self.iterable(iter, &it);
                self.with_scope(|r| {
                    r.pattern(pattern, &it);
                    if let Some(f) = filter {
                        r.expr(f);
                    }
                    r.expr(element);
                });
            }
            Expr::Paren { inner, .. } => self.expr(inner),
        }
    }

    /// Resolves a chain of field accesses and indexes. `report`: whether a
    /// field the base's type lacks is an error (it is not left of `??`).
    fn access(&mut self, e: &Expr, report: bool) {
        crate::stack::guard(|| self.access_inner(e, report))
    }

    fn access_inner(&mut self, e: &Expr, report: bool) {
        match e {
            Expr::Field { base, name, .. } => {
                if let Expr::Ident(id) = base.as_ref() {
                    if let Some(Found::Module(t)) = self.lookup(&id.name) {
                        self.record_use(id, None);
                        self.member(t, &id.name, name);
                        return;
                    }
                }
                self.access(base, report);
                let bt = self.infer(base);
                if self.names.is_some() {
                    if let Some(ft) = self.field_type(&bt, &name.name) {
                        if let Some(log) = self.names.as_mut() {
                            log.names.fields.push((name.span, ft));
                        }
                    }
                }
                if !report {
                    return;
                }
                match &bt {
                    Type::Record(fields) if self.field_type(&bt, &name.name).is_none() => {
                        let loc = self.loc(name.span);
                        let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                        let d =
                            Diag::error("E0207", loc.clone(), format!("no field `{}`", name.name))
                                .label("unknown field")
                                .did_you_mean(loc, &name.name, known.iter().copied())
                                .note(if known.is_empty() {
                                    "the record is empty".to_string()
                                } else {
                                    format!("fields: {}", known.join(", "))
                                });
                        self.diags.push(d);
                    }
                    Type::Handle(rt)
                        if rt == crate::policy::ANY_RESOURCE
                            && self.field_type(&bt, &name.name).is_none() =>
                    {
                        let loc = self.loc(name.span);
                        let d = Diag::error(
                            "E0207",
                            loc.clone(),
                            format!("no resource type has an attribute `{}`", name.name),
                        )
                        .label("unknown attribute")
                        .did_you_mean(
                            loc,
                            &name.name,
                            self.any_resource_fields(),
                        );
                        self.diags.push(d);
                    }
                    Type::Handle(rt) if self.field_type(&bt, &name.name).is_none() => {
                        let loc = self.loc(name.span);
                        let mut known: Vec<&str> = vec!["title", "type"];
                        if let Some(NameKind::Resource(title, attrs)) = self.global(rt) {
                            known.push(title.as_str());
                            known.extend(attrs.iter().map(|a| a.name.as_str()));
                        }
                        let d = Diag::error(
                            "E0207",
                            loc.clone(),
                            format!("a `{rt}` resource has no attribute `{}`", name.name),
                        )
                        .label("unknown attribute")
                        .did_you_mean(
                            loc,
                            &name.name,
                            known.iter().copied(),
                        );
                        self.diags.push(d);
                    }
                    Type::Int
                    | Type::Bool
                    | Type::Str
                    | Type::Path
                    | Type::Mode
                    | Type::Duration
                    | Type::Secret
                    | Type::Literals(_)
                    | Type::List(_) => {
                        let loc = self.loc(name.span);
                        self.diags.push(
                            Diag::error("E0207", loc, format!("a {bt} has no fields"))
                                .label(format!("no field `{}`", name.name)),
                        );
                    }
                    _ => {}
                }
            }
            Expr::Index { base, index, .. } => {
                self.access(base, report);
                self.expr(index);
                let (bt, it) = (self.infer(base), self.infer(index));
                let ok = match (&bt, &it) {
                    (Type::Any, _) | (_, Type::Any) => true,
                    (Type::Optional(_), _) | (_, Type::Optional(_)) => true,
                    (Type::List(_), Type::Int) => true,
                    (Type::Map(_) | Type::Record(_), t) => is_text(t),
                    _ => false,
                };
                if !ok {
                    let loc = self.loc(index.span());
                    self.diags.push(
                        Diag::error("E0208", loc, format!("cannot index a {bt} with a {it}"))
                            .label("lists take Int indexes, maps take String keys"),
                    );
                }
            }
            other => self.expr(other),
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
                        Some(Found::Kind(NameKind::Type(_) | NameKind::Resource(..), _)) => {
                            self.record_use(first, None);
                        }
                        None if self.declared_by_broken_item(&first.name) => {}
                        _ => {
                            let loc = self.loc(first.span);
                            let mut cands: Vec<&str> = SCALARS.to_vec();
                            cands.extend(self.names_where(|k| {
                                matches!(k, NameKind::Type(_) | NameKind::Resource(..))
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
                    self.record_use(first, None);
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
    BadPath(&'static str, String),
    BadLiteral { value: String, options: Vec<String> },
}

/// What is wrong with a literal `e` as a value of type `ty`, if anything.
/// Non-literal expressions are left to evaluation.
fn literal_problem(e: &Expr, ty: &Type) -> Option<Problem> {
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
        (t, _) if unknown(t) => None,
        (_, Expr::Paren { inner, .. }) => literal_problem(inner, ty),
        (Type::Optional(_), Expr::Null(_)) => None,
        (Type::Optional(t), e) => literal_problem(e, t),
        (_, Expr::Null(_)) => wrong("null"),
        (Type::Str | Type::Secret, Expr::Str(_)) => None,
        (Type::Path, Expr::Str(s)) => {
            let (headline, problem) = crate::types::path_problem(&s.as_plain()?)?;
            Some(Problem {
                span: e.span(),
                expected: ty.to_string(),
                kind: LitProblem::BadPath(headline, problem),
            })
        }
        (Type::Literals(opts), Expr::Str(s)) => match s.as_plain() {
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
        (Type::Int | Type::Mode, Expr::Int { .. }) => None,
        (Type::Bool, Expr::Bool { .. }) => None,
        (Type::Duration, Expr::Duration { .. }) => None,
        (Type::List(t), Expr::List { items, .. }) => {
            items.iter().find_map(|i| literal_problem(i, t))
        }
        (Type::Map(t), Expr::Record { fields, .. }) => {
            fields.iter().find_map(|f| literal_problem(&f.value, t))
        }
        // Records are compared by their inferred type (fields by name).
        (Type::Record(_) | Type::Named(_), Expr::Record { .. }) => None,
        (Type::Named(_), _) => None,
        (_, Expr::Str(_)) => wrong("a String"),
        (_, Expr::Int { .. }) => wrong("an Int"),
        (_, Expr::Bool { .. }) => wrong("a Bool"),
        (_, Expr::Duration { .. }) => wrong("a Duration"),
        (_, Expr::List { .. }) => wrong("a list"),
        (_, Expr::Record { .. }) => wrong("a record"),
        _ => None,
    }
}

/// The literal the user meant where a literal of the wrong type stands, in
/// the cases a YAML habit explains: `"0644"` for a Mode (`0o644`),
/// `"wheel,docker"` for a list (`["wheel", "docker"]`), `5` for a String
/// (`"5"`), `"yes"` for a Bool (`true`).
fn literal_fix(value: &Expr, ty: &Type) -> Option<String> {
    let ty = match ty {
        Type::Optional(t) => t.as_ref(),
        t => t,
    };
    let text = match value {
        Expr::Str(s) => s.as_plain(),
        _ => None,
    };
    match (ty, value, text) {
        (Type::Str, Expr::Int { value, .. }, _) => Some(format!("\"{value}\"")),
        (Type::Mode, _, Some(t)) => {
            let octal = (3..=4).contains(&t.len()) && t.bytes().all(|b| (b'0'..=b'7').contains(&b));
            let digits = t.trim_start_matches('0');
            (octal && !digits.is_empty()).then(|| format!("0o{digits}"))
        }
        (Type::List(item), _, Some(t)) if matches!(item.as_ref(), Type::Str) => {
            let items: Vec<String> = t
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(|i| format!("{i:?}"))
                .collect();
            Some(format!("[{}]", items.join(", ")))
        }
        (Type::Bool, _, Some(t)) => match t.as_str() {
            "yes" | "true" | "True" | "on" => Some("true".into()),
            "no" | "false" | "False" | "off" => Some("false".into()),
            _ => None,
        },
        _ => None,
    }
}

/// `a.b.c` as text, for a chain of names.
fn dotted_path(e: &Expr) -> Option<String> {
    match e {
        Expr::Ident(i) => Some(i.name.clone()),
        Expr::Field { base, name, .. } => Some(format!("{}.{}", dotted_path(base)?, name.name)),
        Expr::Paren { inner, .. } => dotted_path(inner),
        _ => None,
    }
}

/// A resource as a record: what `change.resource` is once `is` has told
/// its type.
fn resource_shape(title: &str, attrs: &[AttrSig]) -> Type {
    let field = |name: &str, ty: Type| TField::new(name, ty, false);
    let mut fields = vec![
        field("type", Type::Str),
        field("title", Type::Str),
        field("id", Type::Str),
        field("tags", Type::List(Box::new(Type::Str))),
        field(
            "risk",
            Type::Literals(["low", "medium", "high"].map(String::from).to_vec()),
        ),
    ];
    if !fields.iter().any(|f| f.name == title) {
        fields.push(field(title, Type::Str));
    }
    for a in attrs {
        if fields.iter().any(|f| f.name == a.name) {
            continue;
        }
        fields.push(field(&a.name, as_policy_sees(&a.ty)));
    }
    Type::record(fields)
}

/// An attribute's type as a policy reads it (null when unset): modes and
/// durations are Ints there, secrets read "(secret)", so only the plain
/// types are kept.
fn as_policy_sees(ty: &Type) -> Type {
    match ty {
        Type::Optional(t) => as_policy_sees(t),
        Type::Str | Type::Int | Type::Bool | Type::Literals(_) => {
            Type::Optional(Box::new(ty.clone()))
        }
        Type::Path => Type::Optional(Box::new(Type::Str)),
        _ => Type::Any,
    }
}

fn accepts_secret(ty: &Type) -> bool {
    match ty {
        t if unknown(t) => true,
        Type::Secret => true,
        Type::Optional(t) => accepts_secret(t),
        _ => false,
    }
}

/// Why a value of inferred type `found` cannot be a `ty`, if it cannot.
/// `Any` on either side passes; so does an optional found where its inner
/// type fits, since whether it is null is only known when evaluating.
fn mismatch(found: &Type, ty: &Type) -> Option<String> {
    let wrong = || Some(format!("expected {ty}, found {found}"));
    match (found, ty) {
        (f, t) if unknown(f) || unknown(t) => None,
        (Type::Named(_), _) | (_, Type::Named(_)) => None,
        (Type::Optional(f), Type::Optional(t)) => mismatch(f, t),
        // Name the declared optional type, not its inner one.
        (f, Type::Optional(t)) => mismatch(f, t).map(|m| {
            if m == format!("expected {t}, found {f}") {
                format!("expected {ty}, found {found}")
            } else {
                m
            }
        }),
        (Type::Optional(f), t) => mismatch(f, t),
        (Type::Str, Type::Str | Type::Path | Type::Secret | Type::Literals(_)) => None,
        (Type::Secret, Type::Secret) => None,
        (Type::Int, Type::Int | Type::Mode) => None,
        (Type::Bool, Type::Bool) => None,
        (Type::Duration, Type::Duration) => None,
        (Type::Literals(_), Type::Str | Type::Secret | Type::Path) => None,
        (Type::Literals(a), Type::Literals(b)) => {
            if a.iter().all(|x| b.contains(x)) {
                None
            } else {
                wrong()
            }
        }
        (Type::Path, Type::Path | Type::Str | Type::Secret) => None,
        (Type::Mode, Type::Mode | Type::Int) => None,
        (Type::List(a), Type::List(b)) => mismatch(a, b).map(|m| format!("{m} in a list element")),
        (Type::Map(a), Type::Map(b)) => mismatch(a, b),
        (Type::Record(fs), Type::Map(b)) => fs
            .iter()
            .find_map(|f| mismatch(&f.ty, b).map(|m| format!("{m} at `.{}`", f.name))),
        // A map's keys are only known when evaluating.
        (Type::Map(_), Type::Record(_)) => None,
        (Type::Record(fs), Type::Record(ts)) => {
            if is_open(fs) || is_open(ts) {
                return None;
            }
            for f in fs.iter() {
                match ts.iter().find(|t| t.name == f.name) {
                    None => return Some(format!("unknown field `{}`", f.name)),
                    Some(t) => {
                        if let Some(m) = mismatch(&f.ty, &t.ty) {
                            return Some(format!("{m} at `.{}`", f.name));
                        }
                    }
                }
            }
            ts.iter()
                .find(|t| t.required && !fs.iter().any(|f| f.name == t.name))
                .map(|t| format!("missing field `{}`", t.name))
        }
        (Type::Handle(a), Type::Handle(b)) => {
            if a == b || a.is_empty() || b.is_empty() {
                None
            } else {
                wrong()
            }
        }
        _ => wrong(),
    }
}

/// The first field of a record type `found` that the record type `ty`
/// lacks, with the fields `ty` has, looking through nested records the way
/// [`mismatch`] does.
fn unknown_field(found: &Type, ty: &Type) -> Option<(String, Vec<String>)> {
    match (found, ty) {
        (f, Type::Optional(t)) => unknown_field(f, t),
        (Type::Optional(f), t) => unknown_field(f, t),
        (Type::List(f), Type::List(t)) | (Type::Map(f), Type::Map(t)) => unknown_field(f, t),
        (Type::Record(fs), Type::Map(t)) => fs
            .iter()
            .find(|f| mismatch(&f.ty, t).is_some())
            .and_then(|f| unknown_field(&f.ty, t)),
        (Type::Record(fs), Type::Record(ts)) => {
            if is_open(fs) || is_open(ts) {
                return None;
            }
            for f in fs.iter() {
                match ts.iter().find(|t| t.name == f.name) {
                    None => {
                        return Some((f.name.clone(), ts.iter().map(|t| t.name.clone()).collect()))
                    }
                    // Only the first mismatch is reported: stop at it.
                    Some(t) if mismatch(&f.ty, &t.ty).is_some() => {
                        return unknown_field(&f.ty, &t.ty)
                    }
                    Some(_) => {}
                }
            }
            None
        }
        _ => None,
    }
}

/// Whether the checker takes `t` as unknown until evaluation: `Any`, and
/// the unions and `Null` it does not check member-wise.
fn unknown(t: &Type) -> bool {
    matches!(t, Type::Any | Type::Null | Type::Union(_))
}

/// Whether a record type is open (see [`OPEN_FIELD`]).
fn is_open(fields: &[TField]) -> bool {
    fields.iter().any(|f| f.name == OPEN_FIELD)
}

/// The type of a value that is an `a` or a `b` (branches of an `if`,
/// elements of a list); `Any` when they have nothing in common.
fn join(a: &Type, b: &Type) -> Type {
    match (a, b) {
        (a, b) if unknown(a) || unknown(b) => Type::Any,
        _ if a == b => a.clone(),
        (Type::Literals(x), Type::Literals(y)) => {
            let mut all = x.clone();
            all.extend(y.iter().filter(|v| !x.contains(v)).cloned());
            Type::Literals(all)
        }
        (Type::Literals(_), Type::Str) | (Type::Str, Type::Literals(_)) => Type::Str,
        (Type::Secret, t) | (t, Type::Secret) if is_text(t) => Type::Secret,
        (Type::Optional(x), Type::Optional(y)) => match join(x, y) {
            Type::Any => Type::Any,
            t => Type::Optional(Box::new(t)),
        },
        (Type::Optional(x), y) | (y, Type::Optional(x)) => match join(x, y) {
            Type::Any => Type::Any,
            t => Type::Optional(Box::new(t)),
        },
        (Type::List(x), Type::List(y)) => Type::List(Box::new(join(x, y))),
        (Type::Map(x), Type::Map(y)) => Type::Map(Box::new(join(x, y))),
        _ => Type::Any,
    }
}

/// The fields of `a & b`: right wins, records merge deeply.
fn merge_fields(a: &[TField], b: &[TField]) -> Vec<TField> {
    let mut out: Vec<TField> = a.to_vec();
    for f in b {
        match out.iter_mut().find(|o| o.name == f.name) {
            Some(o) => {
                o.ty = match (&o.ty, &f.ty) {
                    (Type::Record(x), Type::Record(y)) => Type::record(merge_fields(x, y)),
                    _ => f.ty.clone(),
                };
            }
            None => out.push(f.clone()),
        }
    }
    out
}

/// String-like types: what `+` concatenates and maps are indexed with.
fn is_text(t: &Type) -> bool {
    matches!(t, Type::Str | Type::Secret | Type::Path | Type::Literals(_))
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

/// The type of a top-level `let` value, for module summaries: what its
/// literals show, without looking at other items (so a summary depends on
/// its own module's text only).
pub fn literal_type(e: &Expr) -> Type {
    body_type(e, &[])
}

/// The type of an unannotated function body for module summaries: its
/// literals, its parameters' declared types, and the operators, `if`s and
/// interpolations over them. Anything naming another item is `Any`.
pub fn body_type(e: &Expr, params: &[(String, Type)]) -> Type {
    crate::stack::guard(|| body_type_inner(e, params))
}

fn body_type_inner(e: &Expr, params: &[(String, Type)]) -> Type {
    use mc_grammar::ast::BinaryOp as B;
    let of = |e: &Expr| body_type(e, params);
    match e {
        Expr::Int { .. } => Type::Int,
        Expr::Duration { .. } => Type::Duration,
        Expr::Bool { .. } => Type::Bool,
        Expr::Str(s) => {
            let mut out = Type::Str;
            for p in &s.parts {
                if let StrPart::Interp(inner) = p {
                    match of(inner) {
                        Type::Secret => out = Type::Secret,
                        // Unknown parts may be secrets: the result is unknown.
                        Type::Any
                        | Type::Null
                        | Type::Union(_)
                        | Type::Named(_)
                        | Type::Optional(_) => return Type::Any,
                        _ => {}
                    }
                }
            }
            out
        }
        Expr::Ident(id) => params
            .iter()
            .find(|(n, _)| *n == id.name)
            .map(|(_, t)| t.clone())
            .unwrap_or(Type::Any),
        Expr::Paren { inner, .. } => of(inner),
        Expr::If {
            then_branch,
            else_branch,
            ..
        } => join(&of(then_branch), &of(else_branch)),
        Expr::Unary { op, operand, .. } => match op {
            mc_grammar::ast::UnaryOp::Not => Type::Bool,
            mc_grammar::ast::UnaryOp::Neg => match of(operand) {
                Type::Int => Type::Int,
                _ => Type::Any,
            },
        },
        Expr::Binary { op, lhs, rhs, .. } => match op {
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge | B::And | B::Or => Type::Bool,
            B::Add | B::Sub | B::Mul | B::Div | B::Rem => match (of(lhs), of(rhs)) {
                (Type::Int, Type::Int) => Type::Int,
                (Type::Str, Type::Str) if matches!(op, B::Add) => Type::Str,
                _ => Type::Any,
            },
            _ => Type::Any,
        },
        Expr::List { items, .. } => {
            let mut t: Option<Type> = None;
            for i in items {
                let it = of(i);
                t = Some(match t {
                    None => it,
                    Some(prev) => join(&prev, &it),
                });
            }
            Type::List(Box::new(t.unwrap_or(Type::Any)))
        }
        Expr::Record { fields, .. } => {
            let mut out: Vec<TField> = Vec::with_capacity(fields.len());
            for f in fields {
                out.retain(|o| o.name != f.name.name);
                out.push(TField::new(f.name.name.clone(), of(&f.value), true));
            }
            Type::record(out)
        }
        _ => Type::Any,
    }
}

/// Whether an operator accepts operands of these inferred types (`Any`
/// always passes: evaluation checks it).
fn operands_ok(op: mc_grammar::ast::BinaryOp, l: &Type, r: &Type) -> bool {
    use mc_grammar::ast::BinaryOp as B;
    use Type as T;
    if unknown(l) || unknown(r) || matches!(l, T::Optional(_)) || matches!(r, T::Optional(_)) {
        return true;
    }
    let text = is_text;
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
            ) || (matches!(l, T::Str | T::Literals(_) | T::Path)
                && matches!(r, T::Str | T::Literals(_) | T::Path))
        }
        B::Merge => matches!(l, T::Map(_) | T::Record(_)) && matches!(r, T::Map(_) | T::Record(_)),
    }
}
