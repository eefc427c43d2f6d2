//! Evaluation: runs the `on` blocks that target one host and produces the
//! resources of its catalog. Every error is a diagnostic; evaluation never
//! panics and is bounded (recursion depth, list sizes).

use crate::bind::{self, Call, Slot};
use crate::catalog::{EvalResource, MetaEdge};
use crate::diag::{Diag, Loc};
use crate::fs::FileSystem;
use crate::program::{Def, ItemRef, Program};
use crate::suggest;
use crate::types::{self, coerce, DefaultEval, DefaultRef, MismatchKind, Origin, Type};
use crate::value::{Handle, SecretBuilder, Value};
use mc_grammar::ast::{
    Arg, AssertStmt, BinaryOp, Block, CallStmt, ElseBranch, Expr, Field, ForPattern, IfStmt, Item,
    Param, ResourceMember, ResourceStmt, Stmt, StrPart, Target, TypeExpr, UnaryOp,
};
use mc_grammar::span::Span;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Function calls nested deeper than this are reported, not followed.
pub const MAX_DEPTH: usize = 64;
/// Largest list `range` may build.
const MAX_RANGE: i64 = 1_000_000;

/// Meta-attributes every resource accepts: name, type, meaning (the
/// editor's completion shows the last two).
pub const META_ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("requires", "[Resource]", "Apply after these resources."),
    ("before", "[Resource]", "Apply before these resources."),
    (
        "notify",
        "[Resource]",
        "Apply before these resources and refresh them when this one changes.",
    ),
    (
        "subscribe",
        "[Resource]",
        "Apply after these resources and refresh this one when they change.",
    ),
    ("tags", "[String]", "Tags for `--tags` / `--skip-tags`."),
    ("become", "Bool", "Apply with elevated privileges."),
    ("become_user", "String", "The user to become."),
    ("timeout", "Duration", "Give up applying after this long."),
    ("retries", "Int", "Retry a failed apply this many times."),
    (
        "retry_delay",
        "Duration",
        "Wait this long after the first failed attempt (default 1s).",
    ),
    (
        "retry_backoff",
        "Int",
        "Multiply the wait by this factor after each further failed attempt.",
    ),
    ("risk", "Risk", "Override the resource type's risk level."),
];

/// Whether every resource accepts the attribute `name`.
pub fn is_meta_attr(name: &str) -> bool {
    META_ATTRIBUTES.iter().any(|(n, _, _)| *n == name)
}

/// The meta-attributes' names.
pub fn meta_attr_names() -> impl Iterator<Item = &'static str> {
    META_ATTRIBUTES.iter().map(|(n, _, _)| *n)
}

/// Evaluation stopped at an error that is already recorded.
#[derive(Debug)]
pub struct Stop;

type R<T> = Result<T, Stop>;

/// The host being compiled.
#[derive(Clone, Debug)]
pub struct HostCtx {
    pub info: mc_ir::HostInfo,
    /// Merged vars (groups in order, then the host's own).
    pub vars: Value,
    /// Where each var was set, for messages.
    pub facts: Value,
    /// Every host of the inventory as `hosts_in` returns it, in
    /// declaration order.
    pub fleet: Arc<Vec<Value>>,
}

/// A decision a policy made: `deny("…")`, `require_approval("…")` or
/// `warn("…")`, at the call.
#[derive(Clone, Debug)]
pub struct PolicyCall {
    pub kind: mc_ir::plan::FindingKind,
    pub message: String,
    pub loc: Loc,
}

/// Where the code being evaluated lives: the module and the offset of the
/// item whose relative spans are in use.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    file: usize,
    offset: u32,
}

/// Local variables, innermost last.
#[derive(Default, Clone)]
struct Scope {
    vars: Vec<(Arc<str>, Value)>,
}

impl Scope {
    fn get(&self, name: &str) -> Option<&Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }
    fn push(&mut self, name: &str, v: Value) {
        self.vars.push((Arc::from(name), v));
    }
}

pub struct Evaluator<'p> {
    pub prog: &'p Program,
    pub fs: &'p dyn FileSystem,
    pub host: Option<HostCtx>,
    pub diags: Vec<Diag>,
    pub resources: Vec<EvalResource>,
    globals: HashMap<ItemRef, Option<Value>>,
    type_cache: HashMap<(usize, u32, u32, u32), Arc<Type>>,
    /// Record-field defaults by id: module, item offset and expression
    /// (`None`: the id names no default).
    defaults: HashMap<DefaultRef, Option<(usize, u32, Arc<Expr>)>>,
    depth: usize,
    /// The resource statement being evaluated, so errors inside stdlib
    /// defaults and checks point at the user's code.
    user_site: Option<Loc>,
    /// Values read from data files, with the path as written and the
    /// file's text, so a type mismatch can point into the file.
    data_values: Vec<(Value, String, Arc<str>)>,
    /// What this evaluation has spent (see [`Budget`]).
    spent: Budget,
    /// While a policy rule runs: the decisions it made so far.
    policy_calls: Option<Vec<PolicyCall>>,
}

/// What one evaluation (one host's catalog) may spend: expression steps,
/// bytes of strings built and list or record elements built. Generous: the
/// standard 77-resource workload spends well under 1% of each. Past one of
/// them, evaluation stops with E0317 where it ran out, so no input can hang
/// `mc check` or exhaust memory.
#[derive(Clone, Copy, Debug, Default)]
struct Budget {
    steps: u64,
    bytes: u64,
    elements: u64,
}

pub const MAX_STEPS: u64 = 20_000_000;
pub const MAX_BYTES: u64 = 64 << 20;
pub const MAX_ELEMENTS: u64 = 5_000_000;

impl<'p> Evaluator<'p> {
    pub fn new(prog: &'p Program, fs: &'p dyn FileSystem, host: Option<HostCtx>) -> Self {
        Evaluator {
            prog,
            fs,
            host,
            diags: Vec::new(),
            resources: Vec::new(),
            globals: HashMap::new(),
            type_cache: HashMap::new(),
            defaults: HashMap::new(),
            depth: 0,
            user_site: None,
            data_values: Vec::new(),
            spent: Budget::default(),
            policy_calls: None,
        }
    }

    /// Charges one step, and what `v` built when `e` is an expression that
    /// builds values; E0317 when a limit is passed.
    fn charge(&mut self, cx: Ctx, e: &Expr, v: &Value) -> R<()> {
        self.spent.steps += 1;
        let builds = matches!(
            e,
            Expr::Binary { .. }
                | Expr::Str(_)
                | Expr::Call { .. }
                | Expr::List { .. }
                | Expr::Record { .. }
                | Expr::Comprehension { .. }
        );
        if builds {
            match v {
                Value::Str(s) => self.spent.bytes += s.len() as u64,
                Value::List(l) => self.spent.elements += l.len() as u64,
                Value::Record(r) => self.spent.elements += r.len() as u64,
                _ => {}
            }
        }
        let over = [
            (
                self.spent.steps > MAX_STEPS,
                "steps",
                MAX_STEPS,
                "expression evaluations",
            ),
            (
                self.spent.bytes > MAX_BYTES,
                "bytes",
                MAX_BYTES,
                "bytes of strings built",
            ),
            (
                self.spent.elements > MAX_ELEMENTS,
                "elements",
                MAX_ELEMENTS,
                "list and record elements built",
            ),
        ];
        let Some((_, what, limit, meaning)) = over.into_iter().find(|o| o.0) else {
            return Ok(());
        };
        let loc = self.loc(cx, e.span());
        Err(self.err(
            Diag::error(
                "E0317",
                loc,
                format!("evaluation budget exceeded: more than {limit} {meaning}"),
            )
            .label(format!("the {what} budget ran out here"))
            .note("a loop, recursion or doubling builds far more than any configuration needs; bound it"),
        ))
    }

    fn loc(&self, cx: Ctx, span: Span) -> Loc {
        let loc = self.prog.loc(cx.file, cx.offset, span);
        // Never blame stdlib internals: report at the user's statement.
        match (&self.user_site, loc.is_stdlib()) {
            (Some(site), true) => site.clone(),
            _ => loc,
        }
    }

    fn err(&mut self, d: Diag) -> Stop {
        self.diags.push(d);
        Stop
    }

    // -----------------------------------------------------------------
    // Top level
    // -----------------------------------------------------------------

    /// Evaluates every `on` block of the project that selects the host.
    pub fn run_host(&mut self) {
        let Some(host) = self.host.clone() else {
            return;
        };
        for (fi, m) in self.prog.user_modules() {
            for (offset, item) in m.items.iter() {
                let Item::On(on) = item.as_ref() else {
                    continue;
                };
                let cx = Ctx {
                    file: fi,
                    offset: *offset,
                };
                if let Ok(true) = self.target_matches(cx, &on.target, &host.info) {
                    let mut scope = Scope::default();
                    self.exec_block(cx, &mut scope, &on.body);
                }
            }
        }
    }

    /// Runs rule `rule` (`when COND { … }`) of the policy item `policy`
    /// with `bindings` in scope: the decisions it made, in order. Errors are
    /// recorded in `diags` like any evaluation's.
    pub fn run_policy_rule(
        &mut self,
        policy: ItemRef,
        rule: usize,
        bindings: &[(&str, Value)],
    ) -> Vec<PolicyCall> {
        let prog = self.prog;
        let Some(Item::Policy(decl)) = prog.item(policy) else {
            return Vec::new();
        };
        let Some(when) = decl.rules.get(rule) else {
            return Vec::new();
        };
        let cx = Ctx {
            file: policy.file,
            offset: prog.offset(policy),
        };
        let mut scope = Scope::default();
        for (name, v) in bindings {
            scope.push(name, v.clone());
        }
        self.policy_calls = Some(Vec::new());
        if let Ok(true) = self.eval_bool(cx, &mut scope, &when.cond) {
            self.exec_block(cx, &mut scope, &when.body);
        }
        self.policy_calls.take().unwrap_or_default()
    }

    fn target_matches(&mut self, cx: Ctx, t: &Target, host: &mc_ir::HostInfo) -> R<bool> {
        crate::stack::guard(|| self.target_matches_inner(cx, t, host))
    }

    fn target_matches_inner(&mut self, cx: Ctx, t: &Target, host: &mc_ir::HostInfo) -> R<bool> {
        Ok(match t {
            Target::All(_) => true,
            Target::Host { name, .. } => {
                let n = self.eval_string(cx, &mut Scope::default(), name)?;
                n == host.name
            }
            Target::Group { name, .. } => {
                let n = self.eval_string(cx, &mut Scope::default(), name)?;
                host.groups.contains(&n)
            }
            Target::And(a, b, _) => {
                self.target_matches(cx, a, host)? && self.target_matches(cx, b, host)?
            }
            Target::Or(a, b, _) => {
                self.target_matches(cx, a, host)? || self.target_matches(cx, b, host)?
            }
            Target::Not(a, _) => !self.target_matches(cx, a, host)?,
            Target::Paren(a, _) => self.target_matches(cx, a, host)?,
            Target::Error(_) => false,
        })
    }

    /// Evaluates a top-level `let`, once per evaluator.
    fn global(&mut self, r: ItemRef, use_loc: Loc) -> R<Value> {
        match self.globals.get(&r) {
            Some(Some(v)) => return Ok(v.clone()),
            Some(None) => {
                return Err(self.err(
                    Diag::error("E0312", use_loc, "this value is defined in terms of itself")
                        .label("evaluating this needs its own value")
                        .note("top-level `let` bindings cannot refer to themselves, directly or through other bindings"),
                ))
            }
            None => {}
        }
        let Some(Item::Let(l)) = self.prog.item(r) else {
            return Err(self.err(Diag::error("E0209", use_loc, "not a value")));
        };
        let cx = Ctx {
            file: r.file,
            offset: self.prog.offset(r),
        };
        self.globals.insert(r, None);
        let host = self.host.take();
        let site = self.user_site.take();
        let given = l
            .param
            .then(|| self.prog.params.get(&l.name.name).cloned())
            .flatten();
        let result = (|| {
            let Some(text) = &given else {
                let v = self.eval(cx, &mut Scope::default(), &l.value)?;
                return match &l.ty {
                    Some(t) => {
                        let ty = self.resolve_type(cx, t)?;
                        self.coerce_at(cx, v, &ty, l.value.span(), "this value")
                    }
                    None => Ok(v),
                };
            };
            let ty = match &l.ty {
                Some(t) => self.resolve_type(cx, t)?,
                None => Arc::new(Type::Any),
            };
            let what = format!("`--var {}={text}`", l.name.name);
            self.coerce_at(cx, param_value(text, &ty), &ty, l.name.span, &what)
        })();
        self.host = host;
        self.user_site = site;
        match result {
            Ok(v) => {
                self.globals.insert(r, Some(v.clone()));
                Ok(v)
            }
            Err(Stop) => {
                self.globals.remove(&r);
                Err(Stop)
            }
        }
    }

    // -----------------------------------------------------------------
    // Statements
    // -----------------------------------------------------------------

    fn exec_block(&mut self, cx: Ctx, scope: &mut Scope, b: &Block) {
        let mark = scope.vars.len();
        for s in &b.stmts {
            // An error stops only the statement it is in, so one run reports
            // as many independent mistakes as possible.
            let _ = self.exec_stmt(cx, scope, s);
        }
        scope.vars.truncate(mark);
    }

    fn exec_stmt(&mut self, cx: Ctx, scope: &mut Scope, s: &Stmt) -> R<()> {
        crate::stack::guard(|| self.exec_stmt_inner(cx, scope, s))
    }

    fn exec_stmt_inner(&mut self, cx: Ctx, scope: &mut Scope, s: &Stmt) -> R<()> {
        if self.policy_calls.is_some() {
            match s {
                Stmt::Call(c) => return self.policy_call(cx, scope, c),
                Stmt::Resource(_) | Stmt::Assert(_) => {
                    let loc = self.loc(cx, s.span());
                    return Err(self.err(crate::policy::not_in_a_policy(loc, s)));
                }
                _ => {}
            }
        }
        match s {
            Stmt::Resource(r) => {
                let h = self.declare(cx, scope, r)?;
                if let Some(b) = &r.binding {
                    scope.push(&b.name, Value::Handle(Arc::new(h)));
                }
            }
            Stmt::Let(l) => {
                let v = self.eval(cx, scope, &l.value)?;
                let v = match &l.ty {
                    Some(t) => {
                        let ty = self.resolve_type(cx, t)?;
                        self.coerce_at(cx, v, &ty, l.value.span(), "this value")?
                    }
                    None => v,
                };
                scope.push(&l.name.name, v);
            }
            Stmt::If(i) => self.exec_if(cx, scope, i)?,
            Stmt::For(f) => {
                let iter = self.eval(cx, scope, &f.iter)?;
                let items = self.iteration(cx, iter, &f.pattern, f.iter.span())?;
                let count = items.len();
                for (n, bound) in items.into_iter().enumerate() {
                    let mark = scope.vars.len();
                    for (name, v) in &bound {
                        scope.push(name, v.clone());
                    }
                    let before = self.diags.len();
                    self.exec_block(cx, scope, &f.body);
                    scope.vars.truncate(mark);
                    if self.diags.len() > before && count > 1 {
                        let note = loop_item_note(&bound, n, count);
                        for d in self.diags.iter_mut().skip(before) {
                            d.notes.push(note.clone());
                        }
                    }
                }
            }
            Stmt::Call(c) => {
                let loc = self.loc(cx, c.callee.span);
                let def = self.resolve_qual(cx, &c.callee.segments)?;
                let r = match def {
                    Def::Item(r) => r,
                    Def::Module(_) => {
                        return Err(self.err(
                            Diag::error(
                                "E0209",
                                loc,
                                format!("`{}` is a module, not a role", c.callee.dotted()),
                            )
                            .label("not a role"),
                        ))
                    }
                };
                match self.prog.item(r) {
                    Some(Item::Role(role)) => {
                        let rcx = Ctx {
                            file: r.file,
                            offset: self.prog.offset(r),
                        };
                        let args = self.bind_args(
                            cx,
                            scope,
                            rcx,
                            &role.params,
                            &c.args,
                            c.span,
                            &role.name.name,
                            "role",
                        )?;
                        if self.depth >= MAX_DEPTH {
                            return Err(self.depth_error(loc));
                        }
                        self.depth += 1;
                        let mut inner = Scope::default();
                        for (n, v) in args {
                            inner.push(&n, v);
                        }
                        let before = self.diags.len();
                        self.exec_block(rcx, &mut inner, &role.body);
                        self.blame_call_site(before, cx, c.span, &role.name.name);
                        self.depth -= 1;
                    }
                    Some(Item::Fn(_)) => {
                        return Err(self.err(bind::function_as_role(&c.callee.dotted(), loc)))
                    }
                    _ => return Err(self.err(bind::not_a_role(&c.callee.dotted(), loc))),
                }
            }
            Stmt::Assert(a) => self.exec_assert(cx, scope, a)?,
            Stmt::Error(_) => {}
        }
        Ok(())
    }

    /// `deny("…")`, `require_approval("…")` or `warn("…")` in a policy.
    fn policy_call(&mut self, cx: Ctx, scope: &mut Scope, c: &CallStmt) -> R<()> {
        let name = c.callee.dotted();
        let Some(kind) = crate::policy::decision(&name) else {
            let loc = self.loc(cx, c.callee.span);
            return Err(self.err(crate::policy::not_a_decision(loc, &name)));
        };
        let [message] = c.args.as_slice() else {
            let loc = self.loc(cx, c.span);
            return Err(self.err(crate::policy::one_message(loc, &name)));
        };
        let message = self.eval_string(cx, scope, &message.value)?;
        let loc = self.loc(cx, c.span);
        if let Some(calls) = self.policy_calls.as_mut() {
            calls.push(PolicyCall { kind, message, loc });
        }
        Ok(())
    }

    /// `assert COND : MESSAGE`: a false COND fails this host's evaluation
    /// with MESSAGE, reported like a failing `check` with the host named.
    fn exec_assert(&mut self, cx: Ctx, scope: &mut Scope, a: &AssertStmt) -> R<()> {
        if self.eval_bool(cx, scope, &a.cond)? {
            return Ok(());
        }
        let message = match self.eval(cx, scope, &a.message)? {
            Value::Str(s) => s.to_string(),
            other => other.render(),
        };
        let host = self
            .host
            .as_ref()
            .map_or_else(String::new, |h| h.info.name.clone());
        let loc = self.loc(cx, a.cond.span());
        Err(self.err(
            Diag::error(
                "E0314",
                loc,
                format!("assertion failed on host `{host}`: {message}"),
            )
            .label(format!("this is false on `{host}`")),
        ))
    }

    fn exec_if(&mut self, cx: Ctx, scope: &mut Scope, i: &IfStmt) -> R<()> {
        crate::stack::guard(|| self.exec_if_inner(cx, scope, i))
    }

    fn exec_if_inner(&mut self, cx: Ctx, scope: &mut Scope, i: &IfStmt) -> R<()> {
        if self.eval_bool(cx, scope, &i.cond)? {
            self.exec_block(cx, scope, &i.then_block);
        } else {
            match &i.else_branch {
                Some(ElseBranch::If(e)) => self.exec_if(cx, scope, e)?,
                Some(ElseBranch::Block(b)) => self.exec_block(cx, scope, b),
                None => {}
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------
    // Resources
    // -----------------------------------------------------------------

    fn declare(&mut self, cx: Ctx, scope: &mut Scope, r: &ResourceStmt) -> R<Handle> {
        let prog = self.prog;
        let type_loc = self.loc(cx, r.ty.span);
        let site = self.loc(cx, r.span);
        let decl = match prog.resolved(cx.file, cx.offset, r.ty.span) {
            Some(Def::Item(dref)) => match prog.item(dref) {
                Some(Item::Resource(decl)) => Some((dref, decl)),
                _ => None,
            },
            _ => None,
        };
        let Some((dref, decl)) = decl else {
            return Err(self.err(bind::unknown_resource_type(
                &r.ty.name,
                type_loc,
                Vec::new(),
            )));
        };
        let dcx = Ctx {
            file: dref.file,
            offset: prog.offset(dref),
        };
        let prev_site = self.user_site.replace(site.clone());
        let result = self.declare_inner(cx, scope, r, dcx, decl, site);
        self.user_site = prev_site;
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn declare_inner(
        &mut self,
        cx: Ctx,
        scope: &mut Scope,
        r: &ResourceStmt,
        dcx: Ctx,
        decl: &mc_grammar::ast::ResourceDecl,
        site: Loc,
    ) -> R<Handle> {
        let type_name = decl.name.name.clone();
        // Title
        let title_v = self.eval(cx, scope, &r.title)?;
        let title_ty = self.resolve_type(dcx, &decl.title.ty)?;
        let title_v = self.coerce_at(cx, title_v, &title_ty, r.title.span(), "the title")?;
        let title = match title_v.display() {
            Some(t) => t,
            None => {
                let loc = self.loc(cx, r.title.span());
                return Err(self.err(
                    Diag::error("E0202", loc, "a resource title must be a plain value")
                        .label(format!("this is a {}", title_v.kind())),
                ));
            }
        };

        // Given fields, split into provider attributes and meta-attributes.
        let attr_decls: Vec<&mc_grammar::ast::AttrDecl> = decl
            .members
            .iter()
            .filter_map(|m| match m {
                ResourceMember::Attr(a) => Some(a),
                _ => None,
            })
            .collect();
        let slots: Vec<Slot> = attr_decls
            .iter()
            .map(|a| Slot {
                name: &a.name.name,
                has_default: !crate::bind::attr_required(a),
            })
            .collect();
        let fields = crate::bind::bind_fields(&type_name, &slots, r, &|s| self.loc(cx, s));
        if !fields.diags.is_empty() {
            self.diags.extend(fields.diags);
            return Err(Stop);
        }
        let mut attrs: BTreeMap<String, Value> = BTreeMap::new();
        let mut types: HashMap<&str, Arc<Type>> = HashMap::new();
        for (a, f) in attr_decls.iter().zip(&fields.attrs) {
            let ty = self.resolve_type(dcx, &a.ty)?;
            if let Some(f) = f {
                let v = self.eval(cx, scope, &f.value)?;
                let what = format!("attribute `{}`", a.name.name);
                attrs.insert(
                    a.name.name.clone(),
                    self.coerce_value(cx, v, &ty, f.value.span(), &what)?,
                );
            }
            types.insert(a.name.name.as_str(), ty);
        }
        let mut meta_given: Vec<(String, Value, Span)> = Vec::new();
        for f in fields.meta {
            let v = self.eval(cx, scope, &f.value)?;
            meta_given.push((f.name.name.clone(), v, f.value.span()));
        }

        // Defaults, in declaration order, seeing the title and every
        // attribute set so far.
        let mut dscope = Scope::default();
        dscope.push(&decl.title.name.name, title_v.clone());
        for (k, v) in &attrs {
            dscope.push(k, v.clone());
        }
        let mut risk_default: Option<Value> = None;
        for a in &attr_decls {
            let name = a.name.name.as_str();
            if name == "risk" {
                continue;
            }
            if attrs.contains_key(name) {
                continue;
            }
            let v = match &a.default {
                Some(d) => {
                    let v = self.eval(dcx, &mut dscope, d)?;
                    let ty = types.get(name).cloned().unwrap_or(Arc::new(Type::Any));
                    self.coerce_value(dcx, v, &ty, d.span(), &format!("attribute `{name}`"))?
                }
                None => Value::Null,
            };
            dscope.push(name, v.clone());
            attrs.insert(name.to_string(), v);
        }
        if let Some(a) = attr_decls.iter().find(|a| a.name.name == "risk") {
            if let Some(d) = &a.default {
                risk_default = Some(self.eval(dcx, &mut dscope, d)?);
            }
        }

        // check clauses
        for m in &decl.members {
            if let ResourceMember::Check(c) = m {
                let ok = self.eval_bool(dcx, &mut dscope, &c.cond)?;
                if !ok {
                    let msg = match self.eval(dcx, &mut dscope, &c.message)? {
                        Value::Str(s) => s.to_string(),
                        other => other.render(),
                    };
                    let loc = self.loc(cx, r.ty.span.to(r.title.span()));
                    self.diags.push(
                        Diag::error("E0303", loc, format!("{type_name} {title:?}: {msg}"))
                            .label("this resource fails a check of its type")
                            .note(format!("the `{type_name}` resource type requires this")),
                    );
                    return Err(Stop);
                }
            }
        }

        // A file's `source` is read now, so the catalog holds the final
        // content and the runtime never reads project files.
        if type_name == "file" {
            if let Some(Value::Str(src)) = attrs.get("source").cloned() {
                let span = r
                    .fields
                    .iter()
                    .find(|f| f.name.name == "source")
                    .map(|f| f.value.span())
                    .unwrap_or(r.span);
                let loc = self.loc(cx, span);
                // Any bytes: text goes in `content`, anything else in
                // `content_base64` (the catalog is JSON).
                match String::from_utf8(self.read_project_bytes(cx, &src, loc)?) {
                    Ok(text) => attrs.insert("content".to_string(), Value::str(text)),
                    Err(e) => {
                        use base64::Engine as _;
                        let encoded =
                            base64::engine::general_purpose::STANDARD.encode(e.into_bytes());
                        attrs.insert("content_base64".to_string(), Value::str(encoded))
                    }
                };
                attrs.insert("source".to_string(), Value::Null);
            }
        }

        // A file holding a secret is readable by its owner only unless
        // `mode` says otherwise, also when it exists with another mode.
        if type_name == "file"
            && matches!(attrs.get("content"), Some(Value::Secret(_)))
            && matches!(attrs.get("mode"), None | Some(Value::Null))
        {
            attrs.insert("mode".to_string(), Value::Mode(0o600));
        }

        // Meta-attributes.
        let mut meta = mc_ir::Meta::default();
        let mut edges: Vec<MetaEdge> = Vec::new();
        for (name, v, span) in meta_given {
            self.apply_meta(cx, &name, v, span, &mut meta, &mut edges)?;
        }
        if !meta_is_set(&r.fields, "risk") {
            if let Some(Value::Str(s)) = risk_default {
                meta.risk = parse_risk(&s).unwrap_or_default();
            }
        }

        // Handles used inside attributes are dependencies.
        let mut refs = Vec::new();
        for v in attrs.values() {
            collect_handles(v, &mut refs);
        }
        let source = Some(self.source_loc(cx.file, &site));
        self.resources.push(EvalResource {
            type_name: type_name.clone(),
            title: title.clone(),
            attrs,
            meta,
            loc: site,
            source,
            edges,
            refs,
        });
        Ok(Handle {
            type_name,
            title,
            action: None,
        })
    }

    fn apply_meta(
        &mut self,
        cx: Ctx,
        name: &str,
        v: Value,
        span: Span,
        meta: &mut mc_ir::Meta,
        edges: &mut Vec<MetaEdge>,
    ) -> R<()> {
        let loc = self.loc(cx, span);
        match name {
            "requires" | "before" | "notify" | "subscribe" => {
                let list = match v {
                    Value::List(l) => l.as_ref().clone(),
                    other => vec![other],
                };
                for h in list {
                    match h {
                        Value::Handle(h) => edges.push(MetaEdge {
                            kind: name.to_string(),
                            target: Handle {
                                action: None,
                                ..h.as_ref().clone()
                            },
                            loc: loc.clone(),
                            action: h.action,
                        }),
                        other => {
                            return Err(self.err(
                                Diag::error("E0202", loc, format!("`{name}` takes resources, found {}", types::describe_value(&other)))
                                    .label("not a resource")
                                    .note("name a resource with a binding (`let conf = file \"…\" {…}`) or by type and title: `package(\"nginx\")`"),
                            ))
                        }
                    }
                }
            }
            "tags" => {
                let v = self.coerce_at(cx, v, &Type::List(Box::new(Type::Str)), span, "`tags`")?;
                if let Value::List(l) = v {
                    meta.tags = l
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect();
                }
            }
            "become" => {
                if let Value::Bool(b) = self.coerce_at(cx, v, &Type::Bool, span, "`become`")? {
                    meta.r#become = Some(b);
                }
            }
            "become_user" => {
                if let Value::Str(s) = self.coerce_at(cx, v, &Type::Str, span, "`become_user`")? {
                    meta.become_user = Some(s.to_string());
                }
            }
            "timeout" => {
                if let Value::Duration(d) =
                    self.coerce_at(cx, v, &Type::Duration, span, "`timeout`")?
                {
                    meta.timeout = Some(d.max(0) as u64);
                }
            }
            "retries" => {
                if let Value::Int(i) = self.coerce_at(cx, v, &Type::Int, span, "`retries`")? {
                    match u32::try_from(i) {
                        Ok(n) => meta.retries = n,
                        Err(_) => {
                            return Err(self.err(
                                Diag::error(
                                    "E0202",
                                    loc,
                                    format!(
                                        "`retries` must be between 0 and {}, found {i}",
                                        u32::MAX
                                    ),
                                )
                                .label("out of range"),
                            ))
                        }
                    }
                }
            }
            "retry_delay" => {
                if let Value::Duration(d) =
                    self.coerce_at(cx, v, &Type::Duration, span, "`retry_delay`")?
                {
                    meta.retry_delay = Some(d.max(0) as u64);
                }
            }
            "retry_backoff" => {
                if let Value::Int(i) = self.coerce_at(cx, v, &Type::Int, span, "`retry_backoff`")? {
                    match u32::try_from(i) {
                        Ok(n) if n >= 1 => meta.retry_backoff = Some(n),
                        _ => {
                            return Err(self.err(
                                Diag::error(
                                    "E0202",
                                    loc,
                                    format!("`retry_backoff` is a factor of at least 1, found {i}"),
                                )
                                .label("out of range")
                                .note("each wait is the previous one times this factor; 1 keeps the delay constant"),
                            ))
                        }
                    }
                }
            }
            "risk" => {
                let ty = Type::Literals(vec!["low".into(), "medium".into(), "high".into()]);
                if let Value::Str(s) = self.coerce_at(cx, v, &ty, span, "`risk`")? {
                    meta.risk = parse_risk(&s).unwrap_or_default();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn source_loc(&self, file: usize, loc: &Loc) -> mc_ir::SourceLoc {
        let (line, col) = match self.prog.modules.get(file) {
            Some(m) => m.line_col(loc.span.start),
            None => (1, 1),
        };
        mc_ir::SourceLoc {
            file: loc.file.to_string(),
            line,
            col,
        }
    }

    // -----------------------------------------------------------------
    // Types
    // -----------------------------------------------------------------

    /// Resolves a type expression, once per evaluator: resources resolve
    /// the same attribute types over and over.
    fn resolve_type(&mut self, cx: Ctx, t: &TypeExpr) -> R<Arc<Type>> {
        let span = t.span();
        let key = (cx.file, cx.offset, span.start, span.end);
        if let Some(ty) = self.type_cache.get(&key) {
            return Ok(ty.clone());
        }
        let ty = Arc::new(self.resolve_type_depth(cx, t, 0)?);
        self.type_cache.insert(key, ty.clone());
        Ok(ty)
    }

    fn resolve_type_depth(&mut self, cx: Ctx, t: &TypeExpr, depth: usize) -> R<Type> {
        if depth > MAX_DEPTH {
            let loc = self.loc(cx, t.span());
            return Err(self.err(
                Diag::error("E0108", loc, "this type is defined in terms of itself")
                    .label("type aliases may not be recursive"),
            ));
        }
        let at = self.origin(cx);
        Type::of_with(t, at, &mut |q| self.named_type(cx, q, depth))
    }

    /// What a name in a written type stands for, as the checker resolved
    /// it: a type alias's type, or a resource type's handle.
    fn named_type(&mut self, cx: Ctx, q: &mc_grammar::ast::QualName, depth: usize) -> R<Type> {
        let loc = self.loc(cx, q.span);
        let def = q
            .segments
            .last()
            .and_then(|last| self.prog.resolved(cx.file, cx.offset, last.span));
        let Some(Def::Item(r)) = def else {
            return Err(self.err(
                Diag::error("E0108", loc, format!("unknown type `{}`", q.dotted()))
                    .label("no type of this name"),
            ));
        };
        match self.prog.item(r) {
            Some(Item::Type(alias)) => {
                let acx = Ctx {
                    file: r.file,
                    offset: self.prog.offset(r),
                };
                self.resolve_type_depth(acx, &alias.ty, depth + 1)
            }
            Some(Item::Resource(d)) => Ok(Type::Handle(d.name.name.clone())),
            _ => Err(self.err(
                Diag::error("E0108", loc, format!("`{}` is not a type", q.dotted()))
                    .label("not a type"),
            )),
        }
    }

    /// Where types written in the item at `cx` come from, for the ids of
    /// their defaults.
    fn origin(&self, cx: Ctx) -> Origin {
        let m = &self.prog.modules[cx.file];
        Origin {
            file: m.source,
            item: m.items.partition_point(|(o, _)| *o < cx.offset) as u32,
            start: 0,
        }
    }

    /// The module, item offset and expression of a default by its id.
    fn default_expr(&mut self, d: &DefaultRef) -> Option<(usize, u32, Arc<Expr>)> {
        if let Some(found) = self.defaults.get(d) {
            return found.clone();
        }
        let found = self.prog.module_of.get(&d.file).and_then(|&file| {
            let (offset, item) = self.prog.modules.get(file)?.items.get(d.item as usize)?;
            let expr = types::find_default(item, d.span)?;
            Some((file, *offset, Arc::new(expr.clone())))
        });
        self.defaults.insert(*d, found.clone());
        found
    }

    fn coerce_at(&mut self, cx: Ctx, v: Value, ty: &Type, span: Span, what: &str) -> R<Value> {
        self.coerce_value(cx, v, ty, span, what)
    }

    fn coerce_value(&mut self, cx: Ctx, v: Value, ty: &Type, span: Span, what: &str) -> R<Value> {
        let loc = self.loc(cx, span);
        let original = (!self.data_values.is_empty()).then(|| v.clone());
        match coerce(v, ty, self) {
            Ok(v) => Ok(v),
            Err(m) => {
                let in_file = original.and_then(|o| self.data_location(&o, &m.path));
                let d = match &m.kind {
                    MismatchKind::SecretLeak { .. } => Diag::error(
                        "E0210",
                        loc,
                        format!("a secret cannot be used in {what}"),
                    )
                    .label(format!("this value holds a secret; {what} has type {ty}"))
                    .note("secrets may only flow into attributes declared `Secret` (file content, command env, …), so they never end up in plans or logs"),
                    MismatchKind::BadPath { headline, .. } => {
                        Diag::error("E0211", loc, format!("{what} {headline}"))
                            .label(m.describe())
                    }
                    MismatchKind::BadLiteral { value, options } => {
                        let d = Diag::error("E0202", loc.clone(), format!("{what}: {}", m.describe()))
                            .label(format!("expected {ty}"));
                        if m.path.is_empty() {
                            d.did_you_mean_value(loc, value, options.iter().map(String::as_str))
                        } else {
                            d
                        }
                    }
                    MismatchKind::UnknownField { name, known } => {
                        Diag::error("E0207", loc, format!("{what}: {}", m.describe()))
                            .label(format!("expected {ty}"))
                            .note(match suggest::closest(name, known.iter().map(String::as_str)) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!("known fields: {}", known.join(", ")),
                            })
                    }
                    _ => Diag::error("E0202", loc, format!("mismatched types in {what}"))
                        .label(m.describe()),
                };
                let d = match in_file {
                    Some(place) => d.note(format!("{place}: the value that does not fit is here")),
                    None => d,
                };
                Err(self.err(d))
            }
        }
    }

    // -----------------------------------------------------------------
    // Calls
    // -----------------------------------------------------------------

    /// Binds call arguments to parameters: positional first, then named;
    /// defaults for the rest. Parameter defaults are evaluated in the
    /// callee's module (`pcx`).
    #[allow(clippy::too_many_arguments)]
    fn bind_args(
        &mut self,
        cx: Ctx,
        scope: &mut Scope,
        pcx: Ctx,
        params: &[Param],
        args: &[Arg],
        call_span: Span,
        callee: &str,
        what: &str,
    ) -> R<Vec<(String, Value)>> {
        let slots: Vec<Slot> = params
            .iter()
            .map(|p| Slot {
                name: &p.name.name,
                has_default: p.default.is_some(),
            })
            .collect();
        let call = Call {
            what,
            callee,
            span: call_span,
        };
        let bound = crate::bind::bind(&slots, args, &call, &|s| self.loc(cx, s));
        if !bound.is_ok() {
            self.diags.extend(bound.diags);
            return Err(Stop);
        }
        let mut values: Vec<Option<(Value, Span)>> = Vec::with_capacity(params.len());
        for a in bound.args {
            values.push(match a {
                Some(a) => Some((self.eval(cx, scope, &a.value)?, a.value.span())),
                None => None,
            });
        }
        let mut out = Vec::with_capacity(params.len());
        let mut pscope = Scope::default();
        for (p, v) in params.iter().zip(values) {
            let ty = self.resolve_type(pcx, &p.ty)?;
            let v = match v {
                Some((v, span)) => {
                    self.coerce_value(cx, v, &ty, span, &format!("argument `{}`", p.name.name))?
                }
                None => match &p.default {
                    Some(d) => {
                        let v = self.eval(pcx, &mut pscope, d)?;
                        self.coerce_value(
                            pcx,
                            v,
                            &ty,
                            d.span(),
                            &format!("argument `{}`", p.name.name),
                        )?
                    }
                    None => Value::Null,
                },
            };
            pscope.push(&p.name.name, v.clone());
            out.push((p.name.name.clone(), v));
        }
        Ok(out)
    }

    /// Errors raised inside a function's or role's body point into it; the
    /// call that led there becomes a secondary label, so a chain of calls
    /// reads back to the user's own line.
    fn blame_call_site(&mut self, from: usize, cx: Ctx, span: Span, callee: &str) {
        const MAX_SITES: usize = 4;
        let site = self.loc(cx, span);
        for d in self.diags.iter_mut().skip(from) {
            let shown = d.loc.span.start >= site.span.start
                && d.loc.span.end <= site.span.end
                && d.loc.file == site.file;
            if !shown && d.secondary.len() < MAX_SITES {
                d.secondary
                    .push((site.clone(), format!("in this call to `{callee}`")));
            }
        }
    }

    fn depth_error(&mut self, loc: Loc) -> Stop {
        self.err(
            Diag::error(
                "E0306",
                loc,
                format!("calls nest deeper than {MAX_DEPTH} levels"),
            )
            .label("this call goes too deep")
            .note("recursion must stop on its own; check the condition that ends it"),
        )
    }

    fn call(
        &mut self,
        cx: Ctx,
        scope: &mut Scope,
        callee: &Expr,
        args: &[Arg],
        span: Span,
    ) -> R<Value> {
        let segments = match qual_segments(callee) {
            Some(s) => s,
            None => {
                let loc = self.loc(cx, callee.span());
                return Err(self.err(
                    Diag::error("E0209", loc, "only named functions can be called")
                        .label("not a function name"),
                ));
            }
        };
        // A local variable shadows nothing callable: say so plainly.
        if segments.len() == 1 && scope.get(&segments[0].0).is_some() {
            let loc = self.loc(cx, callee.span());
            return Err(self.err(
                Diag::error(
                    "E0209",
                    loc,
                    format!("`{}` is a value, not a function", segments[0].0),
                )
                .label("not a function"),
            ));
        }
        let idents: Vec<mc_grammar::ast::Ident> = segments
            .iter()
            .map(|(n, s)| mc_grammar::ast::Ident {
                name: n.clone(),
                span: *s,
            })
            .collect();
        let def = self.resolve_qual(cx, &idents)?;
        let loc = self.loc(cx, callee.span());
        let Def::Item(r) = def else {
            return Err(self.err(
                Diag::error("E0209", loc, "a module cannot be called").label("not a function"),
            ));
        };
        let prog = self.prog;
        match prog.item(r) {
            Some(Item::Fn(f)) => {
                let fcx = Ctx {
                    file: r.file,
                    offset: prog.offset(r),
                };
                let bound = self.bind_args(
                    cx,
                    scope,
                    fcx,
                    &f.params,
                    args,
                    span,
                    &f.name.name,
                    "function",
                )?;
                if f.builtin {
                    return self.builtin(cx, &f.name.name, bound, span);
                }
                let Some(body) = &f.body else {
                    return Ok(Value::Null);
                };
                if self.depth >= MAX_DEPTH {
                    return Err(self.depth_error(loc));
                }
                self.depth += 1;
                let mut inner = Scope::default();
                for (n, v) in bound {
                    inner.push(&n, v);
                }
                let before = self.diags.len();
                let result = self.eval(fcx, &mut inner, body);
                self.blame_call_site(before, cx, span, &f.name.name);
                self.depth -= 1;
                let v = result?;
                match &f.ret {
                    Some(t) => {
                        let ty = self.resolve_type(fcx, t)?;
                        self.coerce_value(
                            fcx,
                            v,
                            &ty,
                            body.span(),
                            &format!("the result of `{}`", f.name.name),
                        )
                    }
                    None => Ok(v),
                }
            }
            Some(Item::Resource(d)) => {
                // `package("nginx")`: a handle to a resource declared elsewhere.
                let dcx = Ctx {
                    file: r.file,
                    offset: prog.offset(r),
                };
                let params = std::slice::from_ref(&d.title);
                let bound = self.bind_args(
                    cx,
                    scope,
                    dcx,
                    params,
                    args,
                    span,
                    &d.name.name,
                    "resource type",
                )?;
                let title = bound
                    .into_iter()
                    .next()
                    .and_then(|(_, v)| v.display())
                    .unwrap_or_default();
                Ok(Value::Handle(Arc::new(Handle {
                    type_name: d.name.name.clone(),
                    title,
                    action: None,
                })))
            }
            Some(Item::Role(_)) => Err(self.err(bind::role_as_function(loc))),
            _ => {
                let callee: Vec<&str> = segments.iter().map(|(n, _)| n.as_str()).collect();
                Err(self.err(bind::not_a_function(&callee.join("."), loc)))
            }
        }
    }

    fn builtin(&mut self, cx: Ctx, name: &str, args: Vec<(String, Value)>, span: Span) -> R<Value> {
        let loc = self.loc(cx, span);
        let arg = |i: usize| args.get(i).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
        let s = |i: usize| match arg(i) {
            Value::Str(s) => s.to_string(),
            other => other.display().unwrap_or_default(),
        };
        Ok(match name {
            "upper" => Value::str(s(0).to_uppercase()),
            "lower" => Value::str(s(0).to_lowercase()),
            "trim" => Value::str(s(0).trim()),
            "split" => {
                let sep = s(1);
                if sep.is_empty() {
                    Value::list(s(0).chars().map(|c| Value::str(c.to_string())).collect())
                } else {
                    Value::list(s(0).split(sep.as_str()).map(Value::str).collect())
                }
            }
            "join" => {
                let parts = match arg(0) {
                    Value::List(l) => l,
                    _ => Arc::new(Vec::new()),
                };
                let sep = s(1);
                let mut b = SecretBuilder::default();
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        b.text(&sep);
                    }
                    push_interp(&mut b, p);
                }
                b.finish()
            }
            "replace" => {
                let from = s(1);
                if from.is_empty() {
                    Value::str(s(0))
                } else {
                    Value::str(s(0).replace(&from, &s(2)))
                }
            }
            "cron_field_ok" => Value::Bool(crate::cron::valid_field(&s(0), &s(1))),
            "starts_with" => Value::Bool(s(0).starts_with(&s(1))),
            "ends_with" => Value::Bool(s(0).ends_with(&s(1))),
            "contains" => Value::Bool(match (arg(0), arg(1)) {
                (Value::Str(h), n) => h.contains(n.display().unwrap_or_default().as_str()),
                (Value::List(l), n) => l.contains(&n),
                (Value::Record(m), Value::Str(k)) => m.contains_key(&*k),
                (other, _) => {
                    return Err(self.err(
                        Diag::error(
                            "E0202",
                            loc,
                            format!(
                                "`contains` needs a String, list or map, found {}",
                                other.kind()
                            ),
                        )
                        .label("wrong argument"),
                    ))
                }
            }),
            "len" => Value::Int(match arg(0) {
                Value::Str(s) => s.chars().count() as i64,
                Value::List(l) => l.len() as i64,
                Value::Record(m) => m.len() as i64,
                other => {
                    return Err(self.err(
                        Diag::error(
                            "E0202",
                            loc,
                            format!("`len` needs a String, list or map, found {}", other.kind()),
                        )
                        .label("wrong argument"),
                    ))
                }
            }),
            "keys" | "values" => match arg(0) {
                Value::Record(m) => {
                    if name == "keys" {
                        Value::list(m.keys().map(|k| Value::str(k.as_str())).collect())
                    } else {
                        Value::list(m.values().cloned().collect())
                    }
                }
                other => {
                    return Err(self.err(
                        Diag::error(
                            "E0202",
                            loc,
                            format!("`{name}` needs a map or record, found {}", other.kind()),
                        )
                        .label("wrong argument"),
                    ))
                }
            },
            "to_string" => match arg(0) {
                v @ Value::Secret(_) => v,
                v => Value::str(v.render()),
            },
            "to_int" => match s(0).trim().parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => {
                    return Err(self.err(
                        Diag::error("E0202", loc, format!("{:?} is not a whole number", s(0)))
                            .label("cannot convert"),
                    ))
                }
            },
            "to_mode" => self.mode_from_text(&s(0), loc)?,
            "reload" | "restart" => match arg(0) {
                Value::Handle(h) => Value::Handle(Arc::new(Handle {
                    action: Some(if name == "reload" {
                        mc_ir::RefreshAction::Reload
                    } else {
                        mc_ir::RefreshAction::Restart
                    }),
                    ..(*h).clone()
                })),
                other => {
                    return Err(self.err(
                        Diag::error(
                            "E0202",
                            loc,
                            format!(
                                "`{name}` takes a service, found {}",
                                types::describe_value(&other)
                            ),
                        )
                        .label("not a resource")
                        .note(format!(
                        "name the service: `notify = [{name}(service(\"nginx\"))]` or a binding"
                    )),
                    ))
                }
            },
            "version_compare" => match crate::version::compare_with(&s(0), &s(1), &s(2)) {
                Ok(b) => Value::Bool(b),
                Err(msg) => {
                    return Err(self.err(
                        Diag::error("E0202", loc, format!("`version_compare`: {msg}"))
                            .label("bad operator"),
                    ))
                }
            },
            "range" => {
                let (a, b) = match (arg(0), arg(1)) {
                    (Value::Int(a), Value::Int(b)) => (a, b),
                    _ => (0, 0),
                };
                if b.saturating_sub(a) > MAX_RANGE {
                    return Err(self.err(
                        Diag::error(
                            "E0305",
                            loc,
                            format!("`range` would build more than {MAX_RANGE} numbers"),
                        )
                        .label("too large"),
                    ));
                }
                Value::list((a..b.max(a)).map(Value::Int).collect())
            }
            "sort" => match arg(0) {
                Value::List(l) => {
                    let mut v = l.as_ref().clone();
                    v.sort_by_key(sort_key);
                    Value::list(v)
                }
                other => return Err(self.list_needed(loc, name, &other)),
            },
            "unique" => match arg(0) {
                Value::List(l) => {
                    let mut out: Vec<Value> = Vec::new();
                    for v in l.iter() {
                        if !out.contains(v) {
                            out.push(v.clone());
                        }
                    }
                    Value::list(out)
                }
                other => return Err(self.list_needed(loc, name, &other)),
            },
            "flatten" => match arg(0) {
                Value::List(l) => {
                    let mut out = Vec::new();
                    for v in l.iter() {
                        match v {
                            Value::List(inner) => out.extend(inner.iter().cloned()),
                            other => out.push(other.clone()),
                        }
                    }
                    Value::list(out)
                }
                other => return Err(self.list_needed(loc, name, &other)),
            },
            "basename" => Value::str(s(0).trim_end_matches('/').rsplit('/').next().unwrap_or("")),
            "dirname" => {
                let p = s(0);
                let t = p.trim_end_matches('/');
                match t.rfind('/') {
                    Some(0) => Value::str("/"),
                    Some(i) => Value::str(&t[..i]),
                    None => Value::str("."),
                }
            }
            "secret" => {
                let n = s(0);
                if n.is_empty() {
                    return Err(self.err(
                        Diag::error("E0202", loc, "a secret needs a name").label("empty name"),
                    ));
                }
                let mut b = SecretBuilder::default();
                b.secret(&n);
                b.finish()
            }
            "file_contents" => Value::str(self.read_project_file(cx, &s(0), loc)?),
            "yaml_file" | "json_file" | "toml_file" => self.data_file(cx, name, &s(0), loc)?,
            "hosts_in" => self.hosts_in(&s(0), loc)?,
            "template" => {
                let path = s(0);
                let text = self.read_project_file(cx, &path, loc.clone())?;
                let vars = arg(1);
                let dir = Path::new(&path)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                let this = &*self;
                let mut read = |name: &str| this.read_template_include(cx, &dir, name);
                match crate::template::render(&path, &text, &vars, &mut read) {
                    Ok(v) => v,
                    Err(msg) => {
                        return Err(self.err(
                            Diag::error(
                                "E0309",
                                loc,
                                format!("template `{path}` failed to render"),
                            )
                            .label(msg),
                        ))
                    }
                }
            }
            other => {
                return Err(self.err(
                    Diag::error(
                        "E0209",
                        loc,
                        format!("built-in function `{other}` is not available in this version"),
                    )
                    .label("unknown built-in"),
                ))
            }
        })
    }

    /// A YAML, JSON or TOML file of the project as a value.
    fn data_file(&mut self, cx: Ctx, builtin: &str, rel: &str, loc: Loc) -> R<Value> {
        let Some(format) = crate::datafile::Format::of_builtin(builtin) else {
            return Ok(Value::Null);
        };
        let text = self.read_project_file(cx, rel, loc.clone())?;
        match crate::datafile::parse(format, &text) {
            Ok(v) => {
                self.data_values
                    .push((v.clone(), rel.to_string(), Arc::from(text)));
                Ok(v)
            }
            Err(msg) => Err(self.err(
                Diag::error("E0313", loc, format!("cannot parse `{rel}`"))
                    .label(format!("{rel}: {msg}")),
            )),
        }
    }

    /// Where in a data file the part of `v` at `path` is, as
    /// `file:line:col`, when `v` came from one.
    fn data_location(&self, v: &Value, path: &str) -> Option<String> {
        let same = |a: &Value, b: &Value| match (a, b) {
            (Value::Record(x), Value::Record(y)) => Arc::ptr_eq(x, y),
            (Value::List(x), Value::List(y)) => Arc::ptr_eq(x, y),
            _ => false,
        };
        let (_, file, text) = self.data_values.iter().find(|(d, _, _)| same(d, v))?;
        let (line, col) = crate::datafile::locate(text, path)?;
        Some(format!("{file}:{line}:{col}"))
    }

    /// `"0600"`, `"755"` or `"0o644"` as permission bits. Anything but 3
    /// or 4 octal digits is an error: `to_int("0600")` would read 600 in
    /// decimal, which is not the mode the text means.
    fn mode_from_text(&mut self, text: &str, loc: Loc) -> R<Value> {
        let t = text.trim();
        let digits = t.strip_prefix("0o").unwrap_or(t);
        let octal =
            (3..=4).contains(&digits.len()) && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
        match i64::from_str_radix(digits, 8) {
            Ok(m) if octal => Ok(Value::Mode(m)),
            _ => Err(self.err(
                Diag::error("E0202", loc, format!("{text:?} is not an octal file mode"))
                    .label("expected 3 or 4 octal digits, like \"0644\" or \"755\"")
                    .note("mode digits are 0–7; write the mode as in `chmod`"),
            )),
        }
    }

    /// The hosts of a group (nested groups included), as records with
    /// `name`, `address`, `groups` and `vars`, in inventory order.
    fn hosts_in(&mut self, group: &str, loc: Loc) -> R<Value> {
        let Some(host) = &self.host else {
            return Err(self.err(
                Diag::error(
                    "E0209",
                    loc,
                    "`hosts_in` is available only inside `on` blocks and what they call",
                )
                .label("no host is being compiled here"),
            ));
        };
        let in_group = |h: &&Value| match h {
            Value::Record(m) => {
                matches!(m.get("groups"), Some(Value::List(gs)) if gs.iter().any(|g| g.as_str() == Some(group)))
            }
            _ => false,
        };
        Ok(Value::list(
            host.fleet.iter().filter(in_group).cloned().collect(),
        ))
    }

    fn list_needed(&mut self, loc: Loc, name: &str, other: &Value) -> Stop {
        self.err(
            Diag::error(
                "E0202",
                loc,
                format!("`{name}` needs a list, found {}", other.kind()),
            )
            .label("wrong argument"),
        )
    }

    /// A template that another one includes: `name` is relative to the
    /// directory of the template passed to `template()`, and is read like
    /// every compile-time read.
    fn read_template_include(&self, cx: Ctx, dir: &Path, name: &str) -> Result<String, String> {
        let path = self.file_dir(cx).join(dir).join(name);
        let bytes = self
            .fs
            .read_in(&path, &self.prog.read_scope)
            .map_err(|e| format!("cannot read the included template `{name}`: {e}"))?;
        String::from_utf8(bytes)
            .map_err(|_| format!("the included template `{name}` is not UTF-8 text"))
    }

    /// The folder of the current file, against which its reads resolve.
    fn file_dir(&self, cx: Ctx) -> PathBuf {
        self.prog
            .modules
            .get(cx.file)
            .and_then(|m| m.fs_path.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    }

    /// The bytes of a project file named relative to the current file;
    /// refused outside the project's read scope.
    fn read_project_bytes(&mut self, cx: Ctx, rel: &str, loc: Loc) -> R<Vec<u8>> {
        let path = self.file_dir(cx).join(rel);
        self.fs
            .read_in(&path, &self.prog.read_scope)
            .map_err(|e| self.err(read_refused(loc, rel, &e)))
    }

    fn read_project_file(&mut self, cx: Ctx, rel: &str, loc: Loc) -> R<String> {
        let bytes = self.read_project_bytes(cx, rel, loc.clone())?;
        String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            self.err(
                Diag::error("E0308", loc, format!("cannot read `{rel}`"))
                    .label(format!("this file is not UTF-8 text (byte {at})")),
            )
        })
    }

    // -----------------------------------------------------------------
    // Names
    // -----------------------------------------------------------------

    /// What a (possibly qualified) name refers to: the checker's
    /// resolution of its last segment.
    fn resolve_qual(&mut self, cx: Ctx, segs: &[mc_grammar::ast::Ident]) -> R<Def> {
        let Some(last) = segs.last() else {
            return Err(Stop);
        };
        match self.prog.resolved(cx.file, cx.offset, last.span) {
            Some(def) => Ok(def),
            None => Err(self.unresolved(cx, last)),
        }
    }

    /// A name the checker did not resolve. The checker reported why, and
    /// evaluation only runs on projects it passed, so this is the fallback
    /// of an internal disagreement, not a user's usual error.
    fn unresolved(&mut self, cx: Ctx, id: &mc_grammar::ast::Ident) -> Stop {
        let loc = self.loc(cx, id.span);
        self.err(
            Diag::error("E0103", loc, format!("unknown name `{}`", id.name))
                .label("not found in this scope"),
        )
    }

    // -----------------------------------------------------------------
    // Expressions
    // -----------------------------------------------------------------

    fn eval_bool(&mut self, cx: Ctx, scope: &mut Scope, e: &Expr) -> R<bool> {
        match self.eval(cx, scope, e)? {
            Value::Bool(b) => Ok(b),
            other => {
                let loc = self.loc(cx, e.span());
                Err(self.err(
                    Diag::error(
                        "E0202",
                        loc,
                        format!("expected Bool, found {}", types::describe_value(&other)),
                    )
                    .label("a condition must be true or false"),
                ))
            }
        }
    }

    fn eval_string(&mut self, cx: Ctx, scope: &mut Scope, e: &Expr) -> R<String> {
        match self.eval(cx, scope, e)? {
            Value::Str(s) => Ok(s.to_string()),
            other => {
                let loc = self.loc(cx, e.span());
                Err(self.err(
                    Diag::error(
                        "E0202",
                        loc,
                        format!("expected String, found {}", types::describe_value(&other)),
                    )
                    .label("expected a string"),
                ))
            }
        }
    }

    pub fn eval_const(&mut self, file: usize, offset: u32, e: &Expr) -> R<Value> {
        self.eval(Ctx { file, offset }, &mut Scope::default(), e)
    }

    fn eval(&mut self, cx: Ctx, scope: &mut Scope, e: &Expr) -> R<Value> {
        let v = crate::stack::guard(|| self.eval_inner(cx, scope, e))?;
        self.charge(cx, e, &v)?;
        Ok(v)
    }

    fn eval_inner(&mut self, cx: Ctx, scope: &mut Scope, e: &Expr) -> R<Value> {
        match e {
            Expr::Int { value, .. } => Ok(Value::Int(*value)),
            Expr::Duration { millis, .. } => {
                Ok(Value::Duration((*millis / 1000).min(i64::MAX as u64) as i64))
            }
            Expr::Bool { value, .. } => Ok(Value::Bool(*value)),
            Expr::Null(_) => Ok(Value::Null),
            Expr::Str(s) => {
                let mut b = SecretBuilder::default();
                for p in &s.parts {
                    match p {
                        StrPart::Text { value, .. } => b.text(value),
                        StrPart::Interp(inner) => {
                            let v = self.eval(cx, scope, inner)?;
                            match &v {
                                Value::List(_) | Value::Record(_) => {
                                    let loc = self.loc(cx, inner.span());
                                    return Err(self.err(
                                        Diag::error(
                                            "E0202",
                                            loc,
                                            format!("cannot interpolate a {}", v.kind()),
                                        )
                                        .label("only scalars can be interpolated")
                                        .note("use `join(xs, \", \")` or `to_string(x)`"),
                                    ));
                                }
                                _ => push_interp(&mut b, &v),
                            }
                        }
                    }
                }
                Ok(b.finish())
            }
            Expr::Ident(id) => self.eval_ident(cx, scope, id),
            Expr::List { items, .. } => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(cx, scope, i)?);
                }
                Ok(Value::list(out))
            }
            Expr::Record { fields, .. } => self.eval_record(cx, scope, fields),
            Expr::Field { .. } | Expr::Index { .. } => match self.eval_access(cx, scope, e)? {
                Ok(v) => Ok(v),
                Err(d) => Err(self.err(*d)),
            },
            Expr::Call { callee, args, span } => self.call(cx, scope, callee, args, *span),
            Expr::Unary {
                op, operand, span, ..
            } => {
                let v = self.eval(cx, scope, operand)?;
                match (op, v) {
                    (UnaryOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
                    (UnaryOp::Neg, Value::Int(i)) => match i.checked_neg() {
                        Some(n) => Ok(Value::Int(n)),
                        None => Err(self.overflow(cx, *span)),
                    },
                    (op, v) => {
                        let loc = self.loc(cx, *span);
                        Err(self.err(
                            Diag::error(
                                "E0208",
                                loc,
                                format!("`{}` cannot be applied to {}", op.symbol(), v.kind()),
                            )
                            .label("wrong operand type"),
                        ))
                    }
                }
            }
            Expr::Binary {
                op,
                lhs,
                rhs,
                span,
                op_span,
            } => self.eval_binary(cx, scope, *op, lhs, rhs, *span, *op_span),
            Expr::Is { value, ty, .. } => {
                let v = self.eval(cx, scope, value)?;
                let t = self.resolve_type(cx, ty)?;
                struct NoDefaults;
                impl DefaultEval for NoDefaults {
                    fn eval_default(&mut self, _: &DefaultRef) -> Option<Value> {
                        Some(Value::Null)
                    }
                }
                Ok(Value::Bool(coerce(v, &t, &mut NoDefaults).is_ok()))
            }
            Expr::If {
                cond,
                then_branch,
                else_branch,
                ..
            } => {
                if self.eval_bool(cx, scope, cond)? {
                    self.eval(cx, scope, then_branch)
                } else {
                    self.eval(cx, scope, else_branch)
                }
            }
            Expr::Comprehension {
                element,
                pattern,
                iter,
                filter,
                ..
            } => {
                let it = self.eval(cx, scope, iter)?;
                let items = self.iteration(cx, it, pattern, iter.span())?;
                let mut out = Vec::new();
                for bound in items {
                    let mark = scope.vars.len();
                    for (n, v) in bound {
                        scope.push(&n, v);
                    }
                    let keep = match filter {
                        Some(f) => self.eval_bool(cx, scope, f),
                        None => Ok(true),
                    };
                    let r = match keep {
                        Ok(true) => self.eval(cx, scope, element).map(Some),
                        Ok(false) => Ok(None),
                        Err(s) => Err(s),
                    };
                    scope.vars.truncate(mark);
                    if let Some(v) = r? {
                        out.push(v);
                    }
                }
                Ok(Value::list(out))
            }
            Expr::Paren { inner, .. } => self.eval(cx, scope, inner),
            Expr::Error(_) => Err(Stop),
        }
    }

    fn overflow(&mut self, cx: Ctx, span: Span) -> Stop {
        let loc = self.loc(cx, span);
        self.err(
            Diag::error("E0311", loc, "integer overflow")
                .label("the result does not fit in 64 bits"),
        )
    }

    fn eval_ident(&mut self, cx: Ctx, scope: &mut Scope, id: &mc_grammar::ast::Ident) -> R<Value> {
        if let Some(v) = scope.get(&id.name) {
            return Ok(v.clone());
        }
        let loc = self.loc(cx, id.span);
        match self.prog.resolved(cx.file, cx.offset, id.span) {
            Some(Def::Item(r)) => match self.prog.item(r) {
                Some(Item::Let(_)) => self.global(r, loc),
                _ => Err(self.err(
                    Diag::error("E0209", loc, format!("`{}` is not a value", id.name))
                        .label("a type, function or role cannot be used as a value"),
                )),
            },
            Some(Def::Module(_)) => Err(self.err(
                Diag::error(
                    "E0209",
                    loc,
                    format!("`{}` is a module, not a value", id.name),
                )
                .label("use one of its members: `module.name`"),
            )),
            None => match (&self.host, id.name.as_str()) {
                (Some(h), "host") => Ok(host_value(h)),
                (Some(h), "facts") => Ok(h.facts.clone()),
                _ => Err(self.unresolved(cx, id)),
            },
        }
    }

    fn eval_record(&mut self, cx: Ctx, scope: &mut Scope, fields: &[Field]) -> R<Value> {
        let mut m = BTreeMap::new();
        for f in fields {
            let v = self.eval(cx, scope, &f.value)?;
            if m.insert(f.name.name.clone(), v).is_some() {
                let loc = self.loc(cx, f.name.span);
                return Err(self.err(
                    Diag::error(
                        "E0206",
                        loc,
                        format!("field `{}` is set twice", f.name.name),
                    )
                    .label("set again here"),
                ));
            }
        }
        Ok(Value::record(m))
    }

    /// Field and index access. A missing field or index is returned as a
    /// diagnostic (not yet recorded) so `??` can turn it into its default.
    fn eval_access(&mut self, cx: Ctx, scope: &mut Scope, e: &Expr) -> R<Result<Value, Box<Diag>>> {
        crate::stack::guard(|| self.eval_access_inner(cx, scope, e))
    }

    fn eval_access_inner(
        &mut self,
        cx: Ctx,
        scope: &mut Scope,
        e: &Expr,
    ) -> R<Result<Value, Box<Diag>>> {
        match e {
            Expr::Field { base, name, span } => {
                // `alias.name` where alias is a module.
                if let Expr::Ident(id) = base.as_ref() {
                    if scope.get(&id.name).is_none() {
                        let here = |span| self.prog.resolved(cx.file, cx.offset, span);
                        if let Some(Def::Module(_)) = here(id.span) {
                            let loc = self.loc(cx, name.span);
                            return match here(name.span) {
                                Some(Def::Item(r))
                                    if matches!(self.prog.item(r), Some(Item::Let(_))) =>
                                {
                                    Ok(Ok(self.global(r, loc)?))
                                }
                                Some(_) => Err(self.err(
                                    Diag::error(
                                        "E0209",
                                        loc,
                                        format!("`{}.{}` is not a value", id.name, name.name),
                                    )
                                    .label("a type, function or role cannot be used as a value"),
                                )),
                                None => Err(self.unresolved(cx, name)),
                            };
                        }
                    }
                }
                let b = match base.as_ref() {
                    Expr::Field { .. } | Expr::Index { .. } => {
                        match self.eval_access(cx, scope, base)? {
                            Ok(v) => v,
                            Err(d) => return Ok(Err(d)),
                        }
                    }
                    other => self.eval(cx, scope, other)?,
                };
                let loc = self.loc(cx, name.span);
                match b {
                    Value::Record(m) => match m.get(&name.name) {
                        Some(v) => Ok(Ok(v.clone())),
                        None => {
                            if is_host_vars(base) {
                                let host = self
                                    .host
                                    .as_ref()
                                    .map(|h| h.info.name.clone())
                                    .unwrap_or_default();
                                let full = self.loc(cx, *span);
                                let d = Diag::error(
                                    "E0401",
                                    loc.clone(),
                                    format!("host `{host}` has no var `{}`", name.name),
                                )
                                .label(format!(
                                    "`{host}` is targeted here but sets no `{}`",
                                    name.name
                                ));
                                // A close name among the host's vars is most likely a typo.
                                let d = match suggest::closest(
                                    &name.name,
                                    m.keys().map(String::as_str),
                                ) {
                                    Some(_) => d.did_you_mean(
                                        loc,
                                        &name.name,
                                        m.keys().map(String::as_str),
                                    ),
                                    None => d.fix(
                                        Loc {
                                            file: full.file.clone(),
                                            span: Span::empty(full.span.end),
                                        },
                                        " ?? …",
                                        "give a default with `??`",
                                    ),
                                };
                                let d = d
                                    .note(format!("set it in the inventory (`host \"{host}\" {{ vars = {{ {} = … }} }}` or one of its groups), or write `host.vars.{} ?? default`", name.name, name.name));
                                return Ok(Err(Box::new(d)));
                            }
                            let known: Vec<&str> = m.keys().map(String::as_str).collect();
                            let d = Diag::error(
                                "E0207",
                                loc.clone(),
                                format!("no field `{}`", name.name),
                            )
                            .label("unknown field")
                            .did_you_mean(loc, &name.name, known.iter().copied())
                            .note(if known.is_empty() {
                                "the record is empty".to_string()
                            } else {
                                format!("fields: {}", known.join(", "))
                            });
                            Ok(Err(Box::new(d)))
                        }
                    },
                    Value::Handle(h) => match name.name.as_str() {
                        "title" => Ok(Ok(Value::str(h.title.as_str()))),
                        "type" => Ok(Ok(Value::str(h.type_name.as_str()))),
                        _ => {
                            let declared = self
                                .resources
                                .iter()
                                .rev()
                                .find(|r| r.type_name == h.type_name && r.title == h.title);
                            if let Some(v) = declared.and_then(|r| r.attrs.get(&name.name)) {
                                return Ok(Ok(v.clone()));
                            }
                            let known = declared.iter().flat_map(|r| r.attrs.keys());
                            Ok(Err(Box::new(
                                Diag::error(
                                    "E0207",
                                    loc.clone(),
                                    format!(
                                        "resource {} has no attribute `{}` set",
                                        h.id(),
                                        name.name
                                    ),
                                )
                                .label("unknown attribute")
                                .did_you_mean(
                                    loc,
                                    &name.name,
                                    known.map(String::as_str).chain(["title", "type"]),
                                ),
                            )))
                        }
                    },
                    Value::Null => Ok(Err(Box::new(
                        Diag::error("E0310", loc, format!("cannot read `{}` of null", name.name))
                            .label("the value here is null")
                            .note("use `??` to give a default"),
                    ))),
                    other => Err(self.err(
                        Diag::error("E0207", loc, format!("a {} has no fields", other.kind()))
                            .label(format!("no field `{}`", name.name)),
                    )),
                }
            }
            Expr::Index { base, index, .. } => {
                let b = match base.as_ref() {
                    Expr::Field { .. } | Expr::Index { .. } => {
                        match self.eval_access(cx, scope, base)? {
                            Ok(v) => v,
                            Err(d) => return Ok(Err(d)),
                        }
                    }
                    other => self.eval(cx, scope, other)?,
                };
                let i = self.eval(cx, scope, index)?;
                let loc = self.loc(cx, index.span());
                match (b, i) {
                    (Value::List(l), Value::Int(i)) => {
                        let idx = if i < 0 { l.len() as i64 + i } else { i };
                        match usize::try_from(idx).ok().and_then(|i| l.get(i)) {
                            Some(v) => Ok(Ok(v.clone())),
                            None => Ok(Err(Box::new(
                                Diag::error("E0305", loc, format!("index {i} is out of range"))
                                    .label(format!("the list has {} elements", l.len())),
                            ))),
                        }
                    }
                    (Value::Record(m), Value::Str(k)) => match m.get(&*k) {
                        Some(v) => Ok(Ok(v.clone())),
                        None => Ok(Err(Box::new(
                            Diag::error("E0305", loc.clone(), format!("no key {k:?}"))
                                .label("not in the map")
                                .note("use `??` to give a default"),
                        ))),
                    },
                    (b, i) => Err(self.err(
                        Diag::error(
                            "E0208",
                            loc,
                            format!("cannot index a {} with a {}", b.kind(), i.kind()),
                        )
                        .label("lists take Int indexes, maps take String keys"),
                    )),
                }
            }
            other => Ok(Ok(self.eval(cx, scope, other)?)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_binary(
        &mut self,
        cx: Ctx,
        scope: &mut Scope,
        op: BinaryOp,
        lhs: &Expr,
        rhs: &Expr,
        span: Span,
        op_span: Span,
    ) -> R<Value> {
        match op {
            BinaryOp::And => {
                return Ok(Value::Bool(
                    self.eval_bool(cx, scope, lhs)? && self.eval_bool(cx, scope, rhs)?,
                ));
            }
            BinaryOp::Or => {
                return Ok(Value::Bool(
                    self.eval_bool(cx, scope, lhs)? || self.eval_bool(cx, scope, rhs)?,
                ));
            }
            BinaryOp::Coalesce => {
                let l = match lhs {
                    Expr::Field { .. } | Expr::Index { .. } => {
                        self.eval_access(cx, scope, lhs)?.unwrap_or(Value::Null)
                    }
                    other => self.eval(cx, scope, other)?,
                };
                return if l.is_null() {
                    self.eval(cx, scope, rhs)
                } else {
                    Ok(l)
                };
            }
            _ => {}
        }
        let l = self.eval(cx, scope, lhs)?;
        let r = self.eval(cx, scope, rhs)?;
        let bad = |this: &mut Self, l: &Value, r: &Value| {
            let loc = this.loc(cx, op_span);
            this.err(
                Diag::error(
                    "E0208",
                    loc,
                    format!(
                        "`{}` cannot be applied to {} and {}",
                        op.symbol(),
                        l.kind(),
                        r.kind()
                    ),
                )
                .label("wrong operand types"),
            )
        };
        if matches!(op, BinaryOp::Eq | BinaryOp::Ne)
            && (matches!(l, Value::Secret(_)) || matches!(r, Value::Secret(_)))
            // Whether a secret is set at all is known: `pw != null`.
            && !matches!(l, Value::Null)
            && !matches!(r, Value::Null)
        {
            let loc = self.loc(cx, op_span);
            return Err(self.err(crate::diag::secret_comparison(loc, op)));
        }
        Ok(match op {
            BinaryOp::Eq => Value::Bool(values_equal(&l, &r)),
            BinaryOp::Ne => Value::Bool(!values_equal(&l, &r)),
            BinaryOp::Add => match (&l, &r) {
                (Value::Int(a), Value::Int(b)) => {
                    Value::Int(a.checked_add(*b).ok_or_else(|| self.overflow(cx, span))?)
                }
                (Value::Duration(a), Value::Duration(b)) => {
                    Value::Duration(a.checked_add(*b).ok_or_else(|| self.overflow(cx, span))?)
                }
                (Value::Str(_) | Value::Secret(_), Value::Str(_) | Value::Secret(_)) => {
                    let mut b = SecretBuilder::default();
                    push_interp(&mut b, &l);
                    push_interp(&mut b, &r);
                    b.finish()
                }
                (Value::List(a), Value::List(b)) => {
                    let mut v = a.as_ref().clone();
                    v.extend(b.iter().cloned());
                    Value::list(v)
                }
                _ => return Err(bad(self, &l, &r)),
            },
            BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                let (a, b, dur) = match (&l, &r) {
                    (Value::Int(a), Value::Int(b)) => (*a, *b, false),
                    (Value::Duration(a), Value::Int(b))
                        if matches!(op, BinaryOp::Mul | BinaryOp::Div) =>
                    {
                        (*a, *b, true)
                    }
                    (Value::Duration(a), Value::Duration(b)) if matches!(op, BinaryOp::Sub) => {
                        (*a, *b, true)
                    }
                    _ => return Err(bad(self, &l, &r)),
                };
                if b == 0 && matches!(op, BinaryOp::Div | BinaryOp::Rem) {
                    let loc = self.loc(cx, rhs.span());
                    return Err(self
                        .err(Diag::error("E0304", loc, "division by zero").label("this is zero")));
                }
                let res = match op {
                    BinaryOp::Sub => a.checked_sub(b),
                    BinaryOp::Mul => a.checked_mul(b),
                    BinaryOp::Div => a.checked_div(b),
                    _ => a.checked_rem(b),
                };
                let v = res.ok_or_else(|| self.overflow(cx, span))?;
                if dur {
                    Value::Duration(v)
                } else {
                    Value::Int(v)
                }
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ord = match (&l, &r) {
                    (Value::Int(a) | Value::Mode(a), Value::Int(b) | Value::Mode(b))
                    | (Value::Duration(a), Value::Duration(b)) => a.cmp(b),
                    (Value::Str(a), Value::Str(b)) => a.cmp(b),
                    _ => return Err(bad(self, &l, &r)),
                };
                Value::Bool(match op {
                    BinaryOp::Lt => ord.is_lt(),
                    BinaryOp::Le => ord.is_le(),
                    BinaryOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            }
            BinaryOp::Merge => match (&l, &r) {
                (Value::Record(_), Value::Record(_)) => merge(&l, &r),
                _ => return Err(bad(self, &l, &r)),
            },
            BinaryOp::And | BinaryOp::Or | BinaryOp::Coalesce => Value::Null,
        })
    }

    /// The variable bindings of each iteration of `for`/comprehensions.
    fn iteration(
        &mut self,
        cx: Ctx,
        v: Value,
        pat: &ForPattern,
        span: Span,
    ) -> R<Vec<Vec<(String, Value)>>> {
        let loc = self.loc(cx, span);
        match (pat, v) {
            (ForPattern::Single(x), Value::List(l)) => Ok(l
                .iter()
                .map(|v| vec![(x.name.clone(), v.clone())])
                .collect()),
            (ForPattern::Single(x), Value::Record(m)) => Ok(m
                .keys()
                .map(|k| vec![(x.name.clone(), Value::str(k.as_str()))])
                .collect()),
            (ForPattern::Pair(k, v), Value::Record(m)) => Ok(m
                .iter()
                .map(|(key, val)| {
                    vec![
                        (k.name.clone(), Value::str(key.as_str())),
                        (v.name.clone(), val.clone()),
                    ]
                })
                .collect()),
            (ForPattern::Pair(i, x), Value::List(l)) => Ok(l
                .iter()
                .enumerate()
                .map(|(n, val)| {
                    vec![
                        (i.name.clone(), Value::Int(n as i64)),
                        (x.name.clone(), val.clone()),
                    ]
                })
                .collect()),
            (_, other) => Err(self.err(
                Diag::error(
                    "E0202",
                    loc,
                    format!("cannot iterate over {}", types::describe_value(&other)),
                )
                .label("expected a list or a map"),
            )),
        }
    }
}

impl DefaultEval for Evaluator<'_> {
    fn eval_default(&mut self, default: &DefaultRef) -> Option<Value> {
        let (file, offset, expr) = self.default_expr(default)?;
        self.eval(Ctx { file, offset }, &mut Scope::default(), &expr)
            .ok()
    }
}

/// Which item of a loop an error happened in: `srv = { nam = "b" }`
/// (secrets redacted, long values cut).
fn loop_item_note(bound: &[(String, Value)], n: usize, count: usize) -> String {
    const MAX: usize = 80;
    let vars: Vec<String> = bound
        .iter()
        .map(|(name, v)| {
            let text = v.render_nested();
            let short: String = text.chars().take(MAX).collect();
            let cut = if short.len() < text.len() { "…" } else { "" };
            format!("`{name}` = {short}{cut}")
        })
        .collect();
    format!(
        "in the loop's item {} of {count}: {}",
        n + 1,
        vars.join(", ")
    )
}

fn push_interp(b: &mut SecretBuilder, v: &Value) {
    match v {
        Value::Secret(parts) => b.extend(parts),
        other => b.text(&other.display().unwrap_or_else(|| other.render())),
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Mode(x), Value::Int(y)) | (Value::Int(x), Value::Mode(y)) => x == y,
        _ => a == b,
    }
}

/// Deep merge of records, right wins.
pub fn merge(l: &Value, r: &Value) -> Value {
    match (l, r) {
        (Value::Record(a), Value::Record(b)) => {
            let mut out = a.as_ref().clone();
            for (k, v) in b.iter() {
                let merged = match out.get(k) {
                    Some(old) => merge(old, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::record(out)
        }
        (_, r) => r.clone(),
    }
}

fn sort_key(v: &Value) -> (u8, i64, String) {
    match v {
        Value::Int(i) | Value::Mode(i) | Value::Duration(i) => (0, *i, String::new()),
        other => (1, 0, other.render()),
    }
}

fn is_host_vars(e: &Expr) -> bool {
    matches!(e, Expr::Field { base, name, .. } if name.name == "vars" && matches!(base.as_ref(), Expr::Ident(i) if i.name == "host"))
}

fn meta_is_set(fields: &[Field], name: &str) -> bool {
    fields.iter().any(|f| f.name.name == name)
}

fn qual_segments(e: &Expr) -> Option<Vec<(String, Span)>> {
    match e {
        Expr::Ident(i) => Some(vec![(i.name.clone(), i.span)]),
        Expr::Field { base, name, .. } => {
            let mut v = qual_segments(base)?;
            v.push((name.name.clone(), name.span));
            Some(v)
        }
        _ => None,
    }
}

fn collect_handles(v: &Value, out: &mut Vec<Handle>) {
    match v {
        Value::Handle(h) => out.push(h.as_ref().clone()),
        Value::List(l) => l.iter().for_each(|v| collect_handles(v, out)),
        Value::Record(m) => m.values().for_each(|v| collect_handles(v, out)),
        _ => {}
    }
}

pub fn parse_risk(s: &str) -> Option<mc_ir::Risk> {
    match s {
        "low" => Some(mc_ir::Risk::Low),
        "medium" => Some(mc_ir::Risk::Medium),
        "high" => Some(mc_ir::Risk::High),
        _ => None,
    }
}

pub const SCALARS: &[&str] = &[
    "Int", "Bool", "String", "Path", "Mode", "Duration", "Secret", "Any",
];

/// The `host` value inside `on`.
pub fn host_value(h: &HostCtx) -> Value {
    crate::inventory::host_record(&h.info, &h.vars)
}

/// E0308 for a refused compile-time read. Says why, never what the file holds.
pub(crate) fn read_refused(loc: Loc, rel: &str, why: &crate::fs::ReadError) -> Diag {
    let note = match why {
        crate::fs::ReadError::Io(_) => "paths are relative to the file that names them",
        _ => "compile-time reads stay in the project folder and the folders of `project { read_paths = [...] }`",
    };
    Diag::error("E0308", loc, format!("cannot read `{rel}`"))
        .label(why.to_string())
        .note(note)
}

/// The text of `--var NAME=TEXT` as a value of the param's type: a string
/// for string-like types, a number, boolean or mode when the text reads as
/// one, JSON for lists and records. What does not fit stays text, so the
/// type check reports it.
fn param_value(text: &str, ty: &Type) -> Value {
    match ty {
        Type::Optional(inner) => param_value(text, inner),
        Type::Str | Type::Path | Type::Secret | Type::Literals(_) | Type::Any => Value::str(text),
        Type::Int => text
            .trim()
            .parse()
            .map(Value::Int)
            .unwrap_or_else(|_| Value::str(text)),
        Type::Bool => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::str(text),
        },
        Type::Mode => {
            let t = text.trim();
            let digits = t.strip_prefix("0o").unwrap_or(t);
            i64::from_str_radix(digits, 8)
                .map(Value::Mode)
                .unwrap_or_else(|_| Value::str(text))
        }
        _ => serde_json::from_str::<serde_json::Value>(text)
            .map(|j| Value::from_json(&j))
            .unwrap_or_else(|_| Value::str(text)),
    }
}
