//! Policies: `policy "NAME" { when COND { deny/require_approval/warn } }`
//! evaluated against every planned change, and the project's
//! `approval_risk` setting.
//!
//! Self-contained on purpose: it reads the project's parsed files and
//! evaluates the small policy sub-language itself, over a neutral
//! description of a change ([`Change`]), so the runtime hands it a plan and
//! gets findings back without ever parsing source.
//!
//! In a policy, `change` is a record: `action` (`"create"`, `"update"`,
//! `"delete"`), `risk` (`"low"`, `"medium"`, `"high"`), `host` (`name`,
//! `address`, `groups`) and `resource`, which `is` its type (`change.resource
//! is file`) and has `type`, `title`, its title parameter by name (`path`
//! for a `file`), `tags`, `risk` and every attribute. Secret values read
//! `"(secret)"`.

use crate::Project;
use mc_diagnostics::{Diagnostic, Label, Severity};
use mc_grammar::ast::{
    Arg, BinaryOp, Block, ElseBranch, Expr, Item, PolicyDecl, Stmt, StrPart, TypeExpr, UnaryOp,
};
use mc_grammar::span::Span;
use mc_ir::plan::{Action, FindingKind, Plan, PolicyFinding};
use mc_ir::{HostInfo, Resource, Risk};
use std::collections::{BTreeMap, HashMap};

/// A policy was violated: `deny("…")`.
pub const DENIED: &str = "E0501";
/// A policy could not be evaluated (wrong type, unknown field, bad call).
pub const EVAL_ERROR: &str = "E0502";
/// A change needs an approval (`require_approval`, or `approval_risk`).
pub const NEEDS_APPROVAL: &str = "E0503";
/// A `project { … }` setting is unknown or invalid.
pub use crate::settings::BAD_SETTING;
/// A policy `warn("…")`.
pub const WARNED: &str = "W0501";

/// The policy codes with their long explanations, in the shape of
/// [`crate::CODES`]: (code, title, explanation).
pub const POLICY_CODES: &[(&str, &str, &str)] = &[
    (
        DENIED,
        "denied by policy",
        "\
A `policy` called `deny(\"…\")` for a planned change. The plan fails (`mc plan`
exits 1), `mc apply` refuses it and `mc approve` cannot override it. The
diagnostic points at the resource's declaration and at the `deny` call.
Change the resource, or the policy if the rule is wrong.",
    ),
    (
        EVAL_ERROR,
        "policy cannot be evaluated",
        "\
A policy's condition or statement failed for a planned change: a `when`
condition that is not a Bool, an unknown name (only `change` and `let` names
exist in a policy), an operator on the wrong types (a String compared with an
Int), or a call to a function policies do not have. A broken policy denies the
change rather than let it through; the span shows the failing expression.",
    ),
    (
        NEEDS_APPROVAL,
        "change needs an approval",
        "\
A policy called `require_approval(\"…\")` for a planned change, or the change's
risk is at or above the project's `approval_risk`. `mc plan` succeeds, but
`mc apply` refuses the plan until that exact plan (its content hash) is
approved with `mc approve PLAN --reason \"…\"` or in `mc tui`.",
    ),
    (
        BAD_SETTING,
        "invalid project setting",
        "\
A `project { … }` setting is unknown (a misspelt name gets a \"did you mean\")
or has a value it cannot take. The settings: `approval_risk` (\"low\",
\"medium\", \"high\" or \"none\": changes at or above that risk need an
approval), `self_approval` (`true` or `false`), `approvers` (a list of SSH
ed25519 public keys), `approvals_required` (a number no larger than the list),
`state` (a file or a `postgres://` URL), `serial` (a number of hosts or a
percentage, `\"25%\"`) and `read_paths` (E0316). `mc check` reports it,
and every plan is denied until it is fixed.",
    ),
    (
        WARNED,
        "policy warning",
        "\
A policy called `warn(\"…\")` for a planned change. It is reported with the
plan and changes nothing else.",
    ),
];

/// Every policy of a project and its approval settings.
pub struct Policies {
    policies: Vec<Policy>,
    /// Changes at or above this risk need an approval; `None`: risk alone
    /// never needs one.
    approval_risk: Option<Risk>,
    /// `project { self_approval = false }`: whoever made a plan cannot
    /// approve it.
    self_approval: bool,
    /// `project { approvers = […] }`: the keys that may approve.
    approvers: Vec<String>,
    /// `project { approvals_required = N }`.
    approvals_required: u32,
    setting_errors: Vec<Diagnostic>,
    /// Resource type → name of its title parameter (`file` → `path`).
    title_params: HashMap<String, String>,
    sources: BTreeMap<String, String>,
}

struct Policy {
    name: String,
    file: String,
    decl: PolicyDecl,
}

/// One planned change, as policies see it.
pub struct Change<'a> {
    pub action: Action,
    /// Nothing else changes, but a notification refreshes the resource:
    /// policies see `change.action == "refresh"`.
    pub refresh: bool,
    pub host: &'a HostInfo,
    pub resource: &'a Resource,
    pub risk: Risk,
}

/// What one policy (or the risk setting) said about one change.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub kind: FindingKind,
    /// Empty for the project's `approval_risk`.
    pub policy: String,
    pub message: String,
    pub diagnostic: Diagnostic,
}

pub use crate::settings::DEFAULT_APPROVAL_RISK;

impl Project {
    /// The project's policies and `approval_risk` setting (user files only;
    /// the stdlib declares no policy).
    pub fn policies(&self) -> Policies {
        let sources = self.sources();
        let mut policies = Vec::new();
        let (settings, setting_errors) = self.settings();
        for (shown, module) in self.modules() {
            for item in module.items.iter() {
                if let Item::Policy(decl) = item {
                    policies.push(Policy {
                        name: decl.name.value.clone(),
                        file: shown.clone(),
                        decl: decl.clone(),
                    });
                }
            }
        }
        let mut title_params = HashMap::new();
        for f in mc_stdlib::FILES {
            for item in mc_grammar::parse(f.source).module.items {
                if let Item::Resource(r) = item {
                    title_params.insert(r.name.name.clone(), r.title.name.name.clone());
                }
            }
        }
        Policies {
            policies,
            approval_risk: settings.approval_risk,
            self_approval: settings.self_approval(),
            approvers: settings.approvers.clone(),
            approvals_required: settings.approvals_required(),
            setting_errors,
            title_params,
            sources,
        }
    }
}

fn range(span: Span) -> std::ops::Range<usize> {
    span.start as usize..span.end as usize
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::None => "none",
        Action::Check => "check",
    }
}

/// The action policies see: a refresh-only change reads `refresh`.
fn change_action_name(c: &Change<'_>) -> &'static str {
    if c.refresh {
        "refresh"
    } else {
        action_name(c.action)
    }
}

fn risk_name(r: Risk) -> &'static str {
    match r {
        Risk::Low => "low",
        Risk::Medium => "medium",
        Risk::High => "high",
    }
}

impl Policies {
    /// True when nothing can come of evaluating: no policy, no risk setting.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.approval_risk.is_none() && self.setting_errors.is_empty()
    }

    pub fn names(&self) -> Vec<&str> {
        self.policies.iter().map(|p| p.name.as_str()).collect()
    }

    pub fn approval_risk(&self) -> Option<Risk> {
        self.approval_risk
    }

    /// False when the project requires that someone other than the planner
    /// approves a plan (`project { self_approval = false }`).
    pub fn self_approval(&self) -> bool {
        self.self_approval
    }

    /// The public keys that may approve plans; empty: anyone.
    pub fn approvers(&self) -> &[String] {
        &self.approvers
    }

    /// How many distinct approvers must approve a plan.
    pub fn approvals_required(&self) -> u32 {
        self.approvals_required
    }

    /// Every policy against one change, in declaration order, then the
    /// risk setting.
    pub fn evaluate(&self, change: &Change<'_>) -> Vec<Verdict> {
        let mut out = Vec::new();
        let value = self.change_value(change);
        let what = format!(
            "{} {} on {}",
            change_action_name(change),
            change.resource.id,
            change.host.name
        );
        for p in &self.policies {
            let mut ev = Eval {
                scopes: vec![HashMap::from([("change".to_string(), value.clone())])],
                out: Vec::new(),
            };
            for rule in &p.decl.rules {
                let fired = match ev.expr(&rule.cond) {
                    Ok(PVal::Bool(b)) => b,
                    Ok(other) => {
                        ev.out.push(Outcome::Error(
                            format!("a `when` condition must be a Bool, not {}", other.kind()),
                            rule.cond.span(),
                        ));
                        false
                    }
                    Err((msg, span)) => {
                        ev.out.push(Outcome::Error(msg, span));
                        false
                    }
                };
                if fired {
                    ev.scopes.push(HashMap::new());
                    if let Err((msg, span)) = ev.block(&rule.body) {
                        ev.out.push(Outcome::Error(msg, span));
                    }
                    ev.scopes.pop();
                }
            }
            for o in ev.out {
                out.push(self.verdict(p, change, &what, o));
            }
        }
        if let Some(limit) = self.approval_risk {
            if change.risk >= limit {
                let message = format!("{}-risk change: {what}", risk_name(change.risk));
                let mut d = Diagnostic::new(
                    Severity::Note,
                    NEEDS_APPROVAL,
                    message.clone(),
                    self.resource_label(change, &what),
                );
                d = d.with_note(format!(
                    "the project sets approval_risk = \"{}\"",
                    risk_name(limit)
                ));
                out.push(Verdict {
                    kind: FindingKind::RequireApproval,
                    policy: String::new(),
                    message,
                    diagnostic: d,
                });
            }
        }
        out
    }

    /// Evaluates every change of a plan: the findings (with their
    /// diagnostics rendered without colour) and the approval reasons.
    pub fn evaluate_plan(&self, plan: &Plan) -> (Vec<PolicyFinding>, Vec<String>) {
        let mut findings = Vec::new();
        let mut reasons = Vec::new();
        for hp in &plan.hosts {
            let Some(catalog) = &hp.catalog else {
                continue;
            };
            for pr in hp
                .resources
                .iter()
                .filter(|r| r.error.is_none() && (r.action.is_change() || r.is_refresh_only()))
            {
                let Some(resource) = catalog.resource(&pr.id) else {
                    continue;
                };
                let change = Change {
                    action: pr.action,
                    refresh: pr.is_refresh_only(),
                    host: &hp.host,
                    resource,
                    risk: pr.risk,
                };
                let mut verdicts = self.evaluate(&change);
                if findings.is_empty() {
                    // An invalid setting fails the plan once, on its first change.
                    for d in &self.setting_errors {
                        verdicts.push(Verdict {
                            kind: FindingKind::Deny,
                            policy: String::new(),
                            message: d.message.clone(),
                            diagnostic: d.clone(),
                        });
                    }
                }
                for v in verdicts {
                    if v.kind == FindingKind::RequireApproval {
                        reasons.push(v.message.clone());
                    }
                    findings.push(PolicyFinding {
                        kind: v.kind,
                        policy: v.policy,
                        host: hp.host.name.clone(),
                        resource: pr.id.clone(),
                        message: v.message,
                        rendered: Some(self.render(&[v.diagnostic], false)),
                    });
                }
            }
        }
        (findings, reasons)
    }

    /// Renders diagnostics with the project's sources.
    pub fn render(&self, diags: &[Diagnostic], color: bool) -> String {
        mc_diagnostics::render_all(diags, &self.sources, color)
    }

    fn verdict(&self, p: &Policy, change: &Change<'_>, what: &str, o: Outcome) -> Verdict {
        let (kind, code, severity, message, span, label) = match o {
            Outcome::Deny(m, s) => (
                FindingKind::Deny,
                DENIED,
                Severity::Error,
                m,
                s,
                "denied here",
            ),
            Outcome::Approve(m, s) => (
                FindingKind::RequireApproval,
                NEEDS_APPROVAL,
                Severity::Note,
                m,
                s,
                "approval required here",
            ),
            Outcome::Warn(m, s) => (
                FindingKind::Warn,
                WARNED,
                Severity::Warning,
                m,
                s,
                "warned here",
            ),
            // A policy that cannot be evaluated must not let changes through.
            Outcome::Error(m, s) => (
                FindingKind::Deny,
                EVAL_ERROR,
                Severity::Error,
                format!("policy \"{}\" could not be evaluated: {m}", p.name),
                s,
                "here",
            ),
        };
        let policy_label = Label::new(p.file.clone(), range(span))
            .with_message(format!("{label}, by policy \"{}\"", p.name));
        let diagnostic = match &change.resource.source {
            Some(_) => Diagnostic::new(
                severity,
                code,
                message.clone(),
                self.resource_label(change, what),
            )
            .with_secondary(policy_label),
            None => Diagnostic::new(severity, code, message.clone(), policy_label)
                .with_note(format!("the change: {what}")),
        };
        Verdict {
            kind,
            policy: p.name.clone(),
            message,
            diagnostic,
        }
    }

    /// A label on the line that declares the resource, from its
    /// `SourceLoc`; the policy's own span when the source is unknown.
    fn resource_label(&self, change: &Change<'_>, what: &str) -> Label {
        let Some(loc) = &change.resource.source else {
            return Label::new(String::new(), 0..0).with_message(what.to_string());
        };
        let text = self
            .sources
            .get(&loc.file)
            .map(String::as_str)
            .unwrap_or("");
        let mut start = 0usize;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            if i + 1 == loc.line as usize {
                let col = line
                    .char_indices()
                    .nth(loc.col.saturating_sub(1) as usize)
                    .map_or(0, |(b, _)| b);
                let end = start + line.trim_end_matches(['\n', '\r']).len();
                return Label::new(loc.file.clone(), (start + col).min(end)..end)
                    .with_message(what.to_string());
            }
            start += line.len();
        }
        Label::new(loc.file.clone(), 0..0).with_message(what.to_string())
    }

    fn change_value(&self, c: &Change<'_>) -> PVal {
        let r = c.resource;
        let mut res: BTreeMap<String, PVal> = r
            .attrs
            .iter()
            .map(|(k, v)| (k.clone(), PVal::from_ir(v)))
            .collect();
        if let Some(param) = self.title_params.get(&r.type_name) {
            res.insert(param.clone(), PVal::Str(r.title.clone()));
        }
        res.insert("type".into(), PVal::Str(r.type_name.clone()));
        res.insert("title".into(), PVal::Str(r.title.clone()));
        res.insert("id".into(), PVal::Str(r.id.to_string()));
        res.insert(
            "tags".into(),
            PVal::List(r.meta.tags.iter().cloned().map(PVal::Str).collect()),
        );
        res.insert("risk".into(), PVal::Str(risk_name(r.meta.risk).into()));
        let host = BTreeMap::from([
            ("name".to_string(), PVal::Str(c.host.name.clone())),
            ("address".to_string(), PVal::Str(c.host.address.clone())),
            (
                "groups".to_string(),
                PVal::List(c.host.groups.iter().cloned().map(PVal::Str).collect()),
            ),
        ]);
        PVal::Record(
            BTreeMap::from([
                (
                    "action".to_string(),
                    PVal::Str(change_action_name(c).into()),
                ),
                ("risk".to_string(), PVal::Str(risk_name(c.risk).into())),
                ("host".to_string(), PVal::Record(host, None)),
                (
                    "resource".to_string(),
                    PVal::Record(res, Some(r.type_name.clone())),
                ),
            ]),
            None,
        )
    }
}

/// The static type of `change` as [`Policies`] builds it, for the checker:
/// `change.resource` depends on the resource type, so it stays open.
pub(crate) fn change_type() -> crate::db::SType {
    use crate::db::{SField, SType};
    let field = |name: &str, ty: SType| SField {
        name: name.into(),
        ty,
        required: true,
    };
    let lits = |v: &[&str]| SType::Lits(v.iter().map(|s| s.to_string()).collect());
    SType::Record(vec![
        field("action", lits(&["create", "update", "delete", "refresh"])),
        field("risk", lits(&["low", "medium", "high"])),
        field(
            "host",
            SType::Record(vec![
                field("name", SType::Str),
                field("address", SType::Str),
                field("groups", SType::List(Box::new(SType::Str))),
            ]),
        ),
        field("resource", SType::Any),
    ])
}

/// What a policy may call: the statements that decide, and the functions
/// the policy evaluator implements.
pub const POLICY_STATEMENTS: &[&str] = &["deny", "require_approval", "warn"];
pub const POLICY_FUNCTIONS: &[&str] = &[
    "starts_with",
    "ends_with",
    "contains",
    "len",
    "lower",
    "upper",
    "basename",
    "dirname",
    "to_string",
];

/// A value inside a policy.
#[derive(Clone, Debug, PartialEq)]
enum PVal {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<PVal>),
    /// A record; a resource carries its type name for `is`.
    Record(BTreeMap<String, PVal>, Option<String>),
}

impl PVal {
    fn from_ir(v: &mc_ir::Value) -> PVal {
        match v {
            mc_ir::Value::Null => PVal::Null,
            mc_ir::Value::Bool(b) => PVal::Bool(*b),
            mc_ir::Value::Int(i) => PVal::Int(*i),
            mc_ir::Value::String(s) => PVal::Str(s.clone()),
            mc_ir::Value::Secret(_) => PVal::Str("(secret)".into()),
            mc_ir::Value::List(l) => PVal::List(l.iter().map(PVal::from_ir).collect()),
            mc_ir::Value::Map(m) => PVal::Record(
                m.iter()
                    .map(|(k, v)| (k.clone(), PVal::from_ir(v)))
                    .collect(),
                None,
            ),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            PVal::Null => "null",
            PVal::Bool(_) => "a Bool",
            PVal::Int(_) => "an Int",
            PVal::Str(_) => "a String",
            PVal::List(_) => "a list",
            PVal::Record(_, Some(_)) => "a resource",
            PVal::Record(_, None) => "a record",
        }
    }

    fn display(&self) -> String {
        match self {
            PVal::Null => "null".into(),
            PVal::Bool(b) => b.to_string(),
            PVal::Int(i) => i.to_string(),
            PVal::Str(s) => s.clone(),
            PVal::List(l) => {
                let items: Vec<String> = l.iter().map(PVal::display).collect();
                format!("[{}]", items.join(", "))
            }
            PVal::Record(m, _) => {
                let items: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", v.display()))
                    .collect();
                format!("{{{}}}", items.join(", "))
            }
        }
    }
}

enum Outcome {
    Deny(String, Span),
    Approve(String, Span),
    Warn(String, Span),
    Error(String, Span),
}

type EvalResult<T> = Result<T, (String, Span)>;

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 200;

struct Eval {
    scopes: Vec<HashMap<String, PVal>>,
    out: Vec<Outcome>,
}

impl Eval {
    fn lookup(&self, name: &str) -> Option<&PVal> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    fn block(&mut self, b: &Block) -> EvalResult<()> {
        for stmt in &b.stmts {
            self.stmt(stmt)?;
        }
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt) -> EvalResult<()> {
        match stmt {
            Stmt::Call(c) => {
                let name = c
                    .callee
                    .segments
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                let make: fn(String, Span) -> Outcome = match name.as_str() {
                    "deny" => Outcome::Deny,
                    "require_approval" => Outcome::Approve,
                    "warn" => Outcome::Warn,
                    _ => {
                        return Err((
                            format!(
                                "`{name}` cannot be called in a policy; use deny, require_approval or warn"
                            ),
                            c.callee.span,
                        ))
                    }
                };
                let [arg] = c.args.as_slice() else {
                    return Err((format!("`{name}` takes one message"), c.span));
                };
                match self.expr(&arg.value)? {
                    PVal::Str(m) => self.out.push(make(m, c.span)),
                    other => {
                        return Err((
                            format!("the message must be a String, not {}", other.kind()),
                            arg.value.span(),
                        ))
                    }
                }
                Ok(())
            }
            Stmt::Let(l) => {
                let v = self.expr(&l.value)?;
                if let Some(scope) = self.scopes.last_mut() {
                    scope.insert(l.name.name.clone(), v);
                }
                Ok(())
            }
            Stmt::If(i) => {
                let mut current = i;
                loop {
                    if self.cond(&current.cond)? {
                        return self.scoped(&current.then_block);
                    }
                    match &current.else_branch {
                        None => return Ok(()),
                        Some(ElseBranch::Block(b)) => return self.scoped(b),
                        Some(ElseBranch::If(next)) => current = next,
                    }
                }
            }
            Stmt::For(f) => {
                let items = match self.expr(&f.iter)? {
                    PVal::List(l) => l.into_iter().map(|v| (None, v)).collect::<Vec<_>>(),
                    PVal::Record(m, _) => m.into_iter().map(|(k, v)| (Some(k), v)).collect(),
                    other => {
                        return Err((format!("cannot loop over {}", other.kind()), f.iter.span()))
                    }
                };
                for (key, v) in items {
                    let mut scope = HashMap::new();
                    match (&f.pattern, key) {
                        (mc_grammar::ast::ForPattern::Single(x), _) => {
                            scope.insert(x.name.clone(), v);
                        }
                        (mc_grammar::ast::ForPattern::Pair(k, x), key) => {
                            scope.insert(k.name.clone(), key.map_or(PVal::Null, PVal::Str));
                            scope.insert(x.name.clone(), v);
                        }
                    }
                    self.scopes.push(scope);
                    let r = self.block(&f.body);
                    self.scopes.pop();
                    r?;
                }
                Ok(())
            }
            Stmt::Resource(r) => Err(("a policy cannot declare resources".into(), r.span)),
            Stmt::Assert(a) => Err((
                "a policy cannot assert; use deny, require_approval or warn".into(),
                a.span,
            )),
            Stmt::Error(s) => Err(("this statement does not parse".into(), *s)),
        }
    }

    fn scoped(&mut self, b: &Block) -> EvalResult<()> {
        self.scopes.push(HashMap::new());
        let r = self.block(b);
        self.scopes.pop();
        r
    }

    fn cond(&mut self, e: &Expr) -> EvalResult<bool> {
        match self.expr(e)? {
            PVal::Bool(b) => Ok(b),
            other => Err((
                format!("a condition must be a Bool, not {}", other.kind()),
                e.span(),
            )),
        }
    }

    fn expr(&mut self, e: &Expr) -> EvalResult<PVal> {
        if self.scopes.len() > MAX_DEPTH {
            return Err(("the policy nests too deeply".into(), e.span()));
        }
        self.scopes.push(HashMap::new());
        let r = self.expr_inner(e);
        self.scopes.pop();
        r
    }

    fn expr_inner(&mut self, e: &Expr) -> EvalResult<PVal> {
        Ok(match e {
            Expr::Int { value, .. } => PVal::Int(*value),
            Expr::Duration { millis, .. } => PVal::Int((*millis / 1000) as i64),
            Expr::Bool { value, .. } => PVal::Bool(*value),
            Expr::Null(_) => PVal::Null,
            Expr::Str(s) => {
                let mut out = String::new();
                for part in &s.parts {
                    match part {
                        StrPart::Text { value, .. } => out.push_str(value),
                        StrPart::Interp(x) => out.push_str(&self.expr(x)?.display()),
                    }
                }
                PVal::Str(out)
            }
            Expr::Ident(id) => match self.lookup(&id.name) {
                Some(v) => v.clone(),
                None => {
                    return Err((
                        format!(
                        "unknown name `{}` in a policy (only `change` and `let` names are known)",
                        id.name
                    ),
                        id.span,
                    ))
                }
            },
            Expr::List { items, .. } => PVal::List(
                items
                    .iter()
                    .map(|x| self.expr(x))
                    .collect::<EvalResult<_>>()?,
            ),
            Expr::Record { fields, .. } => {
                let mut m = BTreeMap::new();
                for f in fields {
                    let v = self.expr(&f.value)?;
                    m.insert(f.name.name.clone(), v);
                }
                PVal::Record(m, None)
            }
            Expr::Field { base, name, .. } => match self.expr(base)? {
                // A missing attribute reads null, so `x.port ?? 22` works.
                PVal::Record(m, _) => m.get(&name.name).cloned().unwrap_or(PVal::Null),
                other => {
                    return Err((
                        format!("{} has no field `{}`", other.kind(), name.name),
                        name.span,
                    ))
                }
            },
            Expr::Index { base, index, span } => match (self.expr(base)?, self.expr(index)?) {
                (PVal::List(l), PVal::Int(i)) => usize::try_from(i)
                    .ok()
                    .and_then(|i| l.get(i).cloned())
                    .unwrap_or(PVal::Null),
                (PVal::Record(m, _), PVal::Str(k)) => m.get(&k).cloned().unwrap_or(PVal::Null),
                (b, i) => {
                    return Err((
                        format!("cannot index {} with {}", b.kind(), i.kind()),
                        *span,
                    ))
                }
            },
            Expr::Call { callee, args, span } => self.call(callee, args, *span)?,
            Expr::Unary {
                op, operand, span, ..
            } => match (op, self.expr(operand)?) {
                (UnaryOp::Not, PVal::Bool(b)) => PVal::Bool(!b),
                (UnaryOp::Neg, PVal::Int(i)) => PVal::Int(i.wrapping_neg()),
                (_, v) => {
                    return Err((
                        format!("this operator does not apply to {}", v.kind()),
                        *span,
                    ))
                }
            },
            Expr::Binary {
                op, lhs, rhs, span, ..
            } => self.binary(*op, lhs, rhs, *span)?,
            Expr::Is { value, ty, .. } => {
                let v = self.expr(value)?;
                PVal::Bool(is_type(&v, ty))
            }
            Expr::If {
                cond,
                then_branch,
                else_branch,
                ..
            } => {
                if self.cond(cond)? {
                    self.expr(then_branch)?
                } else {
                    self.expr(else_branch)?
                }
            }
            Expr::Comprehension {
                element,
                pattern,
                iter,
                filter,
                span,
            } => {
                let items = match self.expr(iter)? {
                    PVal::List(l) => l,
                    other => return Err((format!("cannot loop over {}", other.kind()), *span)),
                };
                let mut out = Vec::new();
                for v in items {
                    let mut scope = HashMap::new();
                    match pattern {
                        mc_grammar::ast::ForPattern::Single(x) => {
                            scope.insert(x.name.clone(), v);
                        }
                        mc_grammar::ast::ForPattern::Pair(_, x) => {
                            scope.insert(x.name.clone(), v);
                        }
                    }
                    self.scopes.push(scope);
                    let keep = match filter {
                        Some(f) => self.cond(f),
                        None => Ok(true),
                    };
                    let r = keep.and_then(|k| {
                        if k {
                            self.expr(element).map(Some)
                        } else {
                            Ok(None)
                        }
                    });
                    self.scopes.pop();
                    if let Some(x) = r? {
                        out.push(x);
                    }
                }
                PVal::List(out)
            }
            Expr::Paren { inner, .. } => self.expr(inner)?,
            Expr::Error(s) => return Err(("this expression does not parse".into(), *s)),
        })
    }

    fn binary(&mut self, op: BinaryOp, lhs: &Expr, rhs: &Expr, span: Span) -> EvalResult<PVal> {
        // `&&`, `||` and `??` short-circuit.
        match op {
            BinaryOp::And => return Ok(PVal::Bool(self.cond(lhs)? && self.cond(rhs)?)),
            BinaryOp::Or => return Ok(PVal::Bool(self.cond(lhs)? || self.cond(rhs)?)),
            BinaryOp::Coalesce => {
                return match self.expr(lhs)? {
                    PVal::Null => self.expr(rhs),
                    v => Ok(v),
                }
            }
            _ => {}
        }
        let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
        let bad = |a: &PVal, b: &PVal| {
            Err((
                format!(
                    "this operator does not apply to {} and {}",
                    a.kind(),
                    b.kind()
                ),
                span,
            ))
        };
        Ok(match op {
            BinaryOp::Eq => PVal::Bool(a == b),
            BinaryOp::Ne => PVal::Bool(a != b),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ord = match (&a, &b) {
                    (PVal::Int(x), PVal::Int(y)) => x.cmp(y),
                    (PVal::Str(x), PVal::Str(y)) => x.cmp(y),
                    _ => return bad(&a, &b),
                };
                PVal::Bool(match op {
                    BinaryOp::Lt => ord.is_lt(),
                    BinaryOp::Le => ord.is_le(),
                    BinaryOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                })
            }
            BinaryOp::Add => match (&a, &b) {
                (PVal::Int(x), PVal::Int(y)) => PVal::Int(x.wrapping_add(*y)),
                (PVal::Str(x), PVal::Str(y)) => PVal::Str(format!("{x}{y}")),
                (PVal::List(x), PVal::List(y)) => {
                    PVal::List(x.iter().chain(y.iter()).cloned().collect())
                }
                _ => return bad(&a, &b),
            },
            BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => match (&a, &b) {
                (PVal::Int(x), PVal::Int(y)) => PVal::Int(match op {
                    BinaryOp::Sub => x.wrapping_sub(*y),
                    BinaryOp::Mul => x.wrapping_mul(*y),
                    BinaryOp::Div => x
                        .checked_div(*y)
                        .ok_or(("division by zero".to_string(), span))?,
                    _ => x
                        .checked_rem(*y)
                        .ok_or(("division by zero".to_string(), span))?,
                }),
                _ => return bad(&a, &b),
            },
            _ => return bad(&a, &b),
        })
    }

    fn call(&mut self, callee: &Expr, args: &[Arg], span: Span) -> EvalResult<PVal> {
        let Expr::Ident(name) = callee else {
            return Err(("only functions can be called".into(), callee.span()));
        };
        let vals: Vec<PVal> = args
            .iter()
            .map(|a| self.expr(&a.value))
            .collect::<EvalResult<_>>()?;
        let wrong = || {
            Err((
                format!("wrong arguments for `{}` in a policy", name.name),
                span,
            ))
        };
        Ok(match (name.name.as_str(), vals.as_slice()) {
            ("starts_with", [PVal::Str(s), PVal::Str(p)]) => PVal::Bool(s.starts_with(p.as_str())),
            ("ends_with", [PVal::Str(s), PVal::Str(p)]) => PVal::Bool(s.ends_with(p.as_str())),
            ("contains", [PVal::Str(s), PVal::Str(p)]) => PVal::Bool(s.contains(p.as_str())),
            ("contains", [PVal::List(l), x]) => PVal::Bool(l.contains(x)),
            ("contains", [PVal::Record(m, _), PVal::Str(k)]) => PVal::Bool(m.contains_key(k)),
            ("len", [PVal::Str(s)]) => PVal::Int(s.chars().count() as i64),
            ("len", [PVal::List(l)]) => PVal::Int(l.len() as i64),
            ("len", [PVal::Record(m, _)]) => PVal::Int(m.len() as i64),
            ("lower", [PVal::Str(s)]) => PVal::Str(s.to_lowercase()),
            ("upper", [PVal::Str(s)]) => PVal::Str(s.to_uppercase()),
            ("basename", [PVal::Str(s)]) => {
                PVal::Str(s.rsplit('/').next().unwrap_or_default().to_string())
            }
            ("dirname", [PVal::Str(s)]) => PVal::Str(match s.rfind('/') {
                Some(0) => "/".into(),
                Some(i) => s[..i].to_string(),
                None => ".".into(),
            }),
            ("to_string", [v]) => PVal::Str(v.display()),
            (
                "starts_with" | "ends_with" | "contains" | "len" | "lower" | "upper" | "basename"
                | "dirname" | "to_string",
                _,
            ) => return wrong(),
            _ => {
                return Err((
                    format!(
                        "`{}` is not available in a policy (starts_with, ends_with, contains, len, lower, upper, basename, dirname, to_string are)",
                        name.name
                    ),
                    name.span,
                ))
            }
        })
    }
}

fn is_type(v: &PVal, ty: &TypeExpr) -> bool {
    match ty {
        TypeExpr::Named(q) => {
            let Some(name) = q.last().map(|i| i.name.as_str()) else {
                return false;
            };
            match (v, name) {
                (PVal::Record(_, Some(t)), n) => t == n,
                (PVal::Str(_), "String" | "Path") => true,
                (PVal::Int(_), "Int" | "Mode" | "Duration") => true,
                (PVal::Bool(_), "Bool") => true,
                (_, "Any") => true,
                _ => false,
            }
        }
        TypeExpr::Optional(inner, _) => matches!(v, PVal::Null) || is_type(v, inner),
        TypeExpr::Union(members, _) => members.iter().any(|m| is_type(v, m)),
        TypeExpr::Paren(inner, _) => is_type(v, inner),
        TypeExpr::Literal(s) => matches!(v, PVal::Str(x) if *x == s.value),
        TypeExpr::List(_, _) => matches!(v, PVal::List(_)),
        TypeExpr::Map(_, _) | TypeExpr::Record(_, _) => matches!(v, PVal::Record(_, None)),
        TypeExpr::Error(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryFileSystem;
    use mc_ir::plan::{HostPlan, PlannedResource};
    use std::path::Path;
    use std::sync::Arc;

    const MAIN: &str = r#"host "web1" {}

project {
  approval_risk = "high"
}

policy "sshd needs a second person" {
  when change.resource is file && starts_with(change.resource.path, "/etc/ssh/") {
    require_approval("sshd configuration change")
  }
}

policy "no deletes" {
  when change.action == "delete" {
    deny("mc never deletes ${change.resource.title}")
  }
  when change.resource is directory {
    warn("directory ${change.resource.path} on ${change.host.name}")
  }
}

on all {
  file "/etc/motd" {
    content = "hi\n"
  }
  file "/etc/ssh/sshd_config.d/mc.conf" {
    content = "PermitRootLogin no\n"
  }
  directory "/srv/app" {}
}
"#;

    fn project(main: &str) -> Project {
        let fs = MemoryFileSystem::new();
        fs.insert(Path::new("/p/main.mc"), main);
        Project::load(Arc::new(fs), Path::new("/p"))
    }

    /// A plan with every catalog resource at `action`.
    fn plan_of(p: &Project, action: impl Fn(&Resource) -> Action) -> Plan {
        let hosts = p
            .hosts()
            .unwrap_or_else(|d| panic!("{}", p.render(&d, false)));
        let host = hosts[0].clone();
        let catalog = p
            .compile(&host.name, &Project::default_facts(&host))
            .unwrap_or_else(|d| panic!("{}", p.render(&d, false)));
        let resources = catalog
            .resources
            .iter()
            .map(|r| PlannedResource {
                id: r.id.clone(),
                action: action(r),
                changes: vec![],
                content_diff: None,
                observed_digest: String::new(),
                risk: r.meta.risk,
                refresh: false,
                notified_by: vec![],
                refresh_action: None,
                error: None,
            })
            .collect();
        Plan::new(
            0,
            "d".into(),
            vec![HostPlan {
                host,
                catalog: Some(catalog),
                resources,
                error: None,
            }],
        )
    }

    #[test]
    fn policies_see_refreshes_as_their_own_action() {
        let p = project(
            r#"host "web1" {}

policy "watch restarts" {
  when change.action == "refresh" && change.resource is service {
    warn("${change.resource.name} will ${change.resource.on_notify}")
  }
}

on all {
  let svc = service "app" {
    on_notify = "reload"
  }
  file "/etc/app.conf" {
    content = "x\n"
    notify = [svc]
  }
}
"#,
        );
        let mut plan = plan_of(&p, |r| {
            if r.type_name == "file" {
                Action::Update
            } else {
                Action::None
            }
        });
        plan.hosts[0].link_refreshes();
        let (findings, _) = p.policies().evaluate_plan(&plan);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].resource.as_str(), "service[app]");
        assert_eq!(findings[0].message, "app will reload");

        // Nothing notifies it: no refresh, no finding.
        let quiet = plan_of(&p, |_| Action::None);
        assert!(p.policies().evaluate_plan(&quiet).0.is_empty());
    }

    #[test]
    fn policies_and_the_risk_setting_are_read() {
        let p = project(MAIN);
        let pol = p.policies();
        assert_eq!(
            pol.names(),
            vec!["sshd needs a second person", "no deletes"]
        );
        assert_eq!(pol.approval_risk(), Some(Risk::High));
        assert!(!pol.is_empty());
    }

    #[test]
    fn require_approval_and_warn_fire_on_the_matching_changes() {
        let p = project(MAIN);
        let plan = plan_of(&p, |_| Action::Create);
        let (findings, reasons) = p.policies().evaluate_plan(&plan);
        assert!(
            reasons.contains(&"sshd configuration change".to_string()),
            "{reasons:?}"
        );
        // The stdlib rates a change under /etc/ssh/ high, and the project
        // asks approval for high risk.
        assert!(
            reasons
                .iter()
                .any(|r| r.starts_with("high-risk change: create file[/etc/ssh/")),
            "{reasons:?}"
        );
        assert!(
            !reasons.iter().any(|r| r.contains("/etc/motd")),
            "{reasons:?}"
        );
        let warn = findings
            .iter()
            .find(|f| f.kind == FindingKind::Warn)
            .expect("a warning");
        assert_eq!(warn.message, "directory /srv/app on web1");
        assert!(
            findings.iter().all(|f| f.kind != FindingKind::Deny),
            "{findings:?}"
        );
    }

    #[test]
    fn deny_reports_at_the_resource_and_the_policy() {
        let p = project(MAIN);
        let plan = plan_of(&p, |r| {
            if r.title == "/etc/motd" {
                Action::Delete
            } else {
                Action::None
            }
        });
        let (findings, _) = p.policies().evaluate_plan(&plan);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!(f.kind, FindingKind::Deny);
        assert_eq!(f.policy, "no deletes");
        assert_eq!(f.message, "mc never deletes /etc/motd");
        let text = f.rendered.as_deref().unwrap_or_default();
        assert!(text.contains("E0501"), "{text}");
        assert!(text.contains("main.mc"), "{text}");
        assert!(
            text.contains(r#"file "/etc/motd""#),
            "the resource line: {text}"
        );
        assert!(
            text.contains("deny(\"mc never deletes"),
            "the policy line: {text}"
        );
        assert!(
            text.contains("denied here, by policy \"no deletes\""),
            "{text}"
        );
    }

    #[test]
    fn a_policy_that_cannot_be_evaluated_denies_with_its_span() {
        // `mc check` refuses such a policy (see the next test); a plan made
        // before it was written must still be denied by it.
        let resources =
            "host \"web1\" {}\non all {\n  file \"/etc/motd\" {\n    content = \"x\"\n  }\n}\n";
        let broken = project(&format!(
            r#"{resources}policy "broken" {{
  when change.resource.path > 3 {{
    warn("never")
  }}
  when unknown_name {{
    warn("never")
  }}
}}
"#
        ));
        let plan = plan_of(&project(resources), |_| Action::Update);
        let (findings, reasons) = broken.policies().evaluate_plan(&plan);
        assert!(reasons.is_empty());
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(findings.iter().all(|f| f.kind == FindingKind::Deny));
        assert!(
            findings[0].message.contains("String and an Int"),
            "{}",
            findings[0].message
        );
        assert!(findings[1].message.contains("unknown name `unknown_name`"));
        let text = findings[1].rendered.as_deref().unwrap_or_default();
        assert!(text.contains("E0502"), "{text}");
    }

    #[test]
    fn mc_check_reports_policy_and_setting_mistakes() {
        let p = project(
            r#"host "web1" {}
project {
  serail = 2
  approval_risk = "sometimes"
}
policy "typos" {
  when chnage.action == "delete" || change.resorce is file {
    deny("no")
    denny("no")
  }
  when template("x.j2", {}) == "" {
    warn("never")
  }
}
"#,
        );
        let diags = p.check();
        let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(
            codes,
            ["E0504", "E0504", "E0103", "E0207", "E0502", "E0502"],
            "{}",
            p.render(&diags, false)
        );
        let fix = |i: usize| {
            diags[i]
                .suggestion
                .as_ref()
                .and_then(|s| s.edits.first())
                .map(|e| e.replacement.clone())
        };
        assert_eq!(fix(0).as_deref(), Some("serial"));
        assert_eq!(fix(2).as_deref(), Some("change"));
        assert_eq!(fix(3).as_deref(), Some("resource"));
        assert_eq!(fix(4).as_deref(), Some("deny"));
    }

    #[test]
    fn an_invalid_approval_risk_fails_the_plan() {
        let resources =
            "host \"web1\" {}\non all {\n  file \"/etc/motd\" {\n    content = \"x\"\n  }\n}\n";
        let broken = project(&format!(
            "{resources}project {{\n  approval_risk = \"sometimes\"\n}}\n"
        ));
        let plan = plan_of(&project(resources), |_| Action::Update);
        let (findings, _) = broken.policies().evaluate_plan(&plan);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, FindingKind::Deny);
        assert!(findings[0].message.contains("approval_risk"));
    }

    #[test]
    fn every_policy_code_is_explained() {
        for code in [DENIED, EVAL_ERROR, NEEDS_APPROVAL, BAD_SETTING, WARNED] {
            assert!(
                POLICY_CODES
                    .iter()
                    .any(|(c, _, text)| *c == code && text.len() > 40),
                "{code}"
            );
        }
    }

    #[test]
    fn high_risk_needs_approval_unless_the_project_opts_out() {
        let body =
            "host \"web1\" {}\non all {\n  file \"/etc/ssh/x\" {\n    content = \"x\"\n  }\n}\n";
        let p = project(body);
        let pol = p.policies();
        assert_eq!(pol.approval_risk(), Some(Risk::High));
        let plan = plan_of(&p, |_| Action::Update);
        let (findings, approvals) = pol.evaluate_plan(&plan);
        assert_eq!(approvals.len(), 1, "{approvals:?}");
        assert!(approvals[0].contains("file[/etc/ssh/x]"), "{approvals:?}");
        assert!(findings
            .iter()
            .all(|f| f.kind == FindingKind::RequireApproval));

        let p = project(&format!(
            "project {{\n  approval_risk = \"none\"\n}}\n{body}"
        ));
        let pol = p.policies();
        assert!(pol.is_empty());
        let plan = plan_of(&p, |_| Action::Update);
        assert_eq!(pol.evaluate_plan(&plan), (vec![], vec![]));
    }
}
