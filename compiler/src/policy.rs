//! Policies: `policy "NAME" { when COND { deny/require_approval/warn } }`
//! evaluated against every planned change, and the project's
//! `approval_risk` setting.
//!
//! Policies run on the evaluator that builds catalogs ([`crate::eval`]), so
//! they have the same values, operators, built-ins and errors. Each rule
//! runs with `change` bound, built from a neutral description of the change
//! ([`Change`]): the runtime hands this module a plan and gets findings back
//! without ever parsing source.
//!
//! In a policy, `change` is a record: `action` (`"create"`, `"update"`,
//! `"delete"`, `"refresh"`), `risk` (`"low"`, `"medium"`, `"high"`), `host`
//! (`name`, `address`, `groups`) and `resource`, a handle to the changed
//! resource like a `let` binding of a declared one: it `is` its type
//! (`change.resource is file`) and has `type`, `title`, `id`, its title
//! parameter by name (`path` for a `file`), `tags`, `risk` and every
//! attribute its type declares (`null` when unset). Secret values read
//! `"(secret)"`.

use crate::diag::{Diag, Loc};
use crate::eval::{Evaluator, PolicyCall};
use crate::program::{ItemRef, Program};
use crate::value::Value;
use crate::{FileSystem, Project};
use mc_diagnostics::{Diagnostic, Label, Severity};
use mc_grammar::ast::{Item, ResourceDecl, ResourceMember, Stmt, TypeExpr};
use mc_grammar::span::Span;
use mc_ir::plan::{Action, FindingKind, Plan, PolicyFinding};
use mc_ir::{HostInfo, Resource, Risk};
use std::collections::BTreeMap;
use std::sync::Arc;

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
A policy's condition or statement failed for a planned change, with any
error evaluation reports elsewhere: a `when` condition that is not a Bool,
an unknown name or field (`change.resource.nosuch`), an operator on the
wrong types (a String compared with an Int), an integer overflow, a
built-in given the wrong value. `mc check` also reports, with this code, a
statement other than `deny`, `require_approval` or `warn` standing alone in
a policy, and a resource or `assert` in one. A broken policy denies the
change rather than let it through; the span shows the failing expression
and a note names the evaluation error's own code.",
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

/// The statements that decide, with what each decides.
const DECISIONS: &[(&str, FindingKind)] = &[
    ("deny", FindingKind::Deny),
    ("require_approval", FindingKind::RequireApproval),
    ("warn", FindingKind::Warn),
];

/// What the policy statement `name` decides; `None` when it is not one.
pub(crate) fn decision(name: &str) -> Option<FindingKind> {
    DECISIONS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// E0502: a call standing alone in a policy that is not a decision.
pub(crate) fn not_a_decision(loc: Loc, name: &str) -> Diag {
    Diag::error(
        EVAL_ERROR,
        loc.clone(),
        format!("`{name}` cannot stand alone in a policy"),
    )
    .label("not a policy statement")
    .did_you_mean(loc, name, DECISIONS.iter().map(|(n, _)| *n))
    .note("a policy decides with `deny(\"…\")`, `require_approval(\"…\")` or `warn(\"…\")`")
}

/// E0205: a decision without exactly one message.
pub(crate) fn one_message(loc: Loc, name: &str) -> Diag {
    Diag::error("E0205", loc, format!("`{name}` takes one message"))
        .label("one String argument")
        .note(format!("write `{name}(\"why\")`"))
}

/// E0502: a resource or an `assert` in a policy, which only decides.
pub(crate) fn not_in_a_policy(loc: Loc, stmt: &Stmt) -> Diag {
    let what = match stmt {
        Stmt::Assert(_) => "a policy cannot assert",
        _ => "a policy cannot declare resources",
    };
    Diag::error(EVAL_ERROR, loc, what)
        .label("not allowed in a policy")
        .note("a policy decides with `deny(\"…\")`, `require_approval(\"…\")` or `warn(\"…\")`")
}

/// Every policy of a project and its approval settings.
pub struct Policies {
    /// The project as the evaluator sees it: policies run on it.
    program: Arc<Program>,
    fs: Arc<dyn FileSystem>,
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
    sources: BTreeMap<String, String>,
}

struct Policy {
    name: String,
    item: ItemRef,
    rules: usize,
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
        let (settings, setting_errors) = self.settings();
        let (program, fs) = self.evaluation_inputs();
        let policies = program
            .user_modules()
            .flat_map(|(file, module)| {
                module
                    .items
                    .iter()
                    .enumerate()
                    .filter_map(move |(item, (_, it))| match it.as_ref() {
                        Item::Policy(decl) => Some(Policy {
                            name: decl.name.value.clone(),
                            item: ItemRef { file, item },
                            rules: decl.rules.len(),
                        }),
                        _ => None,
                    })
            })
            .collect();
        Policies {
            program,
            fs,
            policies,
            approval_risk: settings.approval_risk,
            self_approval: settings.self_approval(),
            approvers: settings.approvers.clone(),
            approvals_required: settings.approvals_required(),
            setting_errors,
            sources,
        }
    }
}

/// The action policies see: a refresh-only change reads `refresh`.
fn change_action_name(c: &Change<'_>) -> &'static str {
    if c.refresh {
        "refresh"
    } else {
        c.action.as_str()
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

    /// Every policy against one change, rule by rule in declaration order
    /// (a rule's decisions, then its errors), then the risk setting.
    pub fn evaluate(&self, change: &Change<'_>) -> Vec<Verdict> {
        let what = format!(
            "{} {} on {}",
            change_action_name(change),
            change.resource.id,
            change.host.name
        );
        let mut ev = Evaluator::new(&self.program, self.fs.as_ref(), None);
        // The changed resource is the one resource this evaluation knows,
        // so `change.resource` reads it like any handle.
        ev.resources.push(self.known_resource(change.resource));
        let bindings = [("change", change_value(change))];
        let mut out = Vec::new();
        for p in &self.policies {
            for rule in 0..p.rules {
                for call in ev.run_policy_rule(p.item, rule, &bindings) {
                    out.push(self.decision_verdict(p, change, &what, call));
                }
                for d in std::mem::take(&mut ev.diags) {
                    out.push(self.failure_verdict(p, change, &what, &d));
                }
            }
        }
        out.extend(self.risk_verdict(change, &what));
        out
    }

    /// E0503 when the change's risk is at or above `approval_risk`.
    fn risk_verdict(&self, change: &Change<'_>, what: &str) -> Option<Verdict> {
        let limit = self.approval_risk?;
        if change.risk < limit {
            return None;
        }
        let message = format!("{}-risk change: {what}", risk_name(change.risk));
        let diagnostic = Diagnostic::new(
            Severity::Note,
            NEEDS_APPROVAL,
            message.clone(),
            self.resource_label(change, what),
        )
        .with_note(format!(
            "the project sets approval_risk = \"{}\"",
            risk_name(limit)
        ));
        Some(Verdict {
            kind: FindingKind::RequireApproval,
            policy: String::new(),
            message,
            diagnostic,
        })
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

    /// What a `deny`, `require_approval` or `warn` call decided.
    fn decision_verdict(
        &self,
        p: &Policy,
        change: &Change<'_>,
        what: &str,
        call: PolicyCall,
    ) -> Verdict {
        let (code, severity, label) = match call.kind {
            FindingKind::Deny => (DENIED, Severity::Error, "denied here"),
            FindingKind::RequireApproval => {
                (NEEDS_APPROVAL, Severity::Note, "approval required here")
            }
            FindingKind::Warn => (WARNED, Severity::Warning, "warned here"),
        };
        let at = policy_label(p, &call.loc, label);
        let diagnostic = self.diagnostic(change, what, severity, code, &call.message, at);
        Verdict {
            kind: call.kind,
            policy: p.name.clone(),
            message: call.message,
            diagnostic,
        }
    }

    /// An evaluation error in a policy: E0502, which denies the change (a
    /// policy that cannot be evaluated must not let changes through).
    fn failure_verdict(&self, p: &Policy, change: &Change<'_>, what: &str, d: &Diag) -> Verdict {
        let message = format!(
            "policy \"{}\" could not be evaluated: {}",
            p.name, d.message
        );
        let label = if d.label.is_empty() { "here" } else { &d.label };
        let at = policy_label(p, &d.loc, label);
        let mut diagnostic =
            self.diagnostic(change, what, Severity::Error, EVAL_ERROR, &message, at);
        for note in d.notes.iter().chain(d.fix.as_ref().map(|f| &f.message)) {
            diagnostic = diagnostic.with_note(note);
        }
        diagnostic = diagnostic.with_note(format!(
            "evaluation error {}: `mc explain {}`",
            d.code, d.code
        ));
        Verdict {
            kind: FindingKind::Deny,
            policy: p.name.clone(),
            message,
            diagnostic,
        }
    }

    /// A finding's diagnostic: at the resource's declaration with the
    /// policy as the secondary label, or at the policy when the resource's
    /// source is unknown.
    fn diagnostic(
        &self,
        change: &Change<'_>,
        what: &str,
        severity: Severity,
        code: &str,
        message: &str,
        at_policy: Label,
    ) -> Diagnostic {
        match &change.resource.source {
            Some(_) => Diagnostic::new(severity, code, message, self.resource_label(change, what))
                .with_secondary(at_policy),
            None => Diagnostic::new(severity, code, message, at_policy)
                .with_note(format!("the change: {what}")),
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

    /// The resource `change.resource` is a handle to: its attributes, every
    /// attribute its type declares (`null` when unset), its title under the
    /// title parameter's name, and `id`, `tags` and `risk`.
    fn known_resource(&self, r: &Resource) -> crate::catalog::EvalResource {
        let decl = self.resource_decl(&r.type_name);
        let mut attrs = BTreeMap::new();
        for member in decl.iter().flat_map(|d| d.members.iter()) {
            if let ResourceMember::Attr(a) = member {
                let value = r.attrs.get(&a.name.name).map(|v| typed(v, &a.ty));
                attrs.insert(a.name.name.clone(), value.unwrap_or(Value::Null));
            }
        }
        for (k, v) in &r.attrs {
            attrs.entry(k.clone()).or_insert_with(|| policy_value(v));
        }
        if let Some(d) = decl {
            attrs.insert(d.title.name.name.clone(), Value::str(r.title.as_str()));
        }
        let [id, tags, risk] = RESOURCE_EXTRAS;
        attrs.insert(id.into(), Value::str(r.id.to_string()));
        attrs.insert(tags.into(), strings(&r.meta.tags));
        attrs.insert(risk.into(), Value::str(risk_name(r.meta.risk)));
        crate::catalog::EvalResource {
            type_name: r.type_name.clone(),
            title: r.title.clone(),
            attrs,
            meta: r.meta.clone(),
            // Only catalog building reads `loc`; messages use `source`.
            loc: Loc::new(&Arc::from(""), Span::empty(0)),
            source: r.source.clone(),
            edges: Vec::new(),
            refs: Vec::new(),
        }
    }

    /// The stdlib's declaration of a resource type.
    fn resource_decl(&self, type_name: &str) -> Option<&ResourceDecl> {
        let r = *self.program.prelude.get(type_name)?;
        match self.program.item(r)? {
            Item::Resource(d) => Some(d),
            _ => None,
        }
    }
}

/// The label at a place in a policy, naming the policy.
fn policy_label(p: &Policy, loc: &Loc, what: &str) -> Label {
    Label::new(loc.file.to_string(), loc.span.range())
        .with_message(format!("{what}, by policy \"{}\"", p.name))
}

/// `change` without its resource's attributes, which the handle reads.
fn change_value(c: &Change<'_>) -> Value {
    let host = BTreeMap::from([
        ("name".to_string(), Value::str(c.host.name.as_str())),
        ("address".to_string(), Value::str(c.host.address.as_str())),
        ("groups".to_string(), strings(&c.host.groups)),
    ]);
    let resource = crate::value::Handle {
        type_name: c.resource.type_name.clone(),
        title: c.resource.title.clone(),
        action: None,
    };
    Value::record(BTreeMap::from([
        ("action".to_string(), Value::str(change_action_name(c))),
        ("risk".to_string(), Value::str(risk_name(c.risk))),
        ("host".to_string(), Value::record(host)),
        ("resource".to_string(), Value::Handle(Arc::new(resource))),
    ]))
}

fn strings(items: &[String]) -> Value {
    Value::list(items.iter().map(|s| Value::str(s.as_str())).collect())
}

/// A catalog value as a policy reads it: secrets are only references, so
/// they read `"(secret)"`.
fn policy_value(v: &mc_ir::Value) -> Value {
    match v {
        mc_ir::Value::Null => Value::Null,
        mc_ir::Value::Bool(b) => Value::Bool(*b),
        mc_ir::Value::Int(i) => Value::Int(*i),
        mc_ir::Value::String(s) => Value::str(s.as_str()),
        mc_ir::Value::Secret(_) => Value::str("(secret)"),
        mc_ir::Value::List(l) => Value::list(l.iter().map(policy_value).collect()),
        mc_ir::Value::Map(m) => Value::record(
            m.iter()
                .map(|(k, v)| (k.clone(), policy_value(v)))
                .collect(),
        ),
    }
}

/// An attribute's catalog value with the unit its declared type gives it:
/// the catalog keeps modes and durations as plain Ints.
fn typed(v: &mc_ir::Value, ty: &TypeExpr) -> Value {
    match (v, ty) {
        (mc_ir::Value::Int(i), TypeExpr::Named(q)) if q.dotted() == "Mode" => Value::Mode(*i),
        (mc_ir::Value::Int(i), TypeExpr::Named(q)) if q.dotted() == "Duration" => {
            Value::Duration(*i)
        }
        (_, TypeExpr::Optional(inner, _)) => typed(v, inner),
        _ => policy_value(v),
    }
}

/// What `change.resource` has besides `type`, `title`, its title parameter
/// and its type's attributes.
pub(crate) const RESOURCE_EXTRAS: [&str; 3] = ["id", "tags", "risk"];

/// The static type of `change.resource`: a handle of any resource type.
/// (`resource` is a keyword, so no type has this name.)
pub(crate) const ANY_RESOURCE: &str = "resource";

/// The static type of `change` as [`Policies`] builds it, for the checker.
pub(crate) fn change_type() -> crate::types::Type {
    use crate::types::{Field, Type};
    let field = |name: &str, ty: Type| Field::new(name, ty, true);
    let lits = |v: &[&str]| Type::Literals(v.iter().map(|s| s.to_string()).collect());
    Type::record(vec![
        field("action", lits(&["create", "update", "delete", "refresh"])),
        field("risk", lits(&["low", "medium", "high"])),
        field(
            "host",
            Type::record(vec![
                field("name", Type::Str),
                field("address", Type::Str),
                field("groups", Type::List(Box::new(Type::Str))),
            ]),
        ),
        field("resource", Type::Handle(ANY_RESOURCE.into())),
    ])
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
            findings[0]
                .message
                .contains("`>` cannot be applied to String and Int"),
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
  approval_risk = "hihg"
}
policy "typos" {
  when chnage.action == "delete" || change.resorce is file {
    deny("no")
    denny("no")
  }
  when change.action == "create" && change.resource.contnet != null {
    file "/tmp/x" {}
  }
}
"#,
        );
        let diags = p.check();
        let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(
            codes,
            ["E0504", "E0504", "E0103", "E0207", "E0502", "E0207", "E0502"],
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
        assert_eq!(fix(1).as_deref(), Some("\"high\""));
        assert_eq!(fix(2).as_deref(), Some("change"));
        assert_eq!(fix(3).as_deref(), Some("resource"));
        assert_eq!(fix(4).as_deref(), Some("deny"));
        assert_eq!(fix(5).as_deref(), Some("content"));
    }

    /// The findings of `policies` for an update of `/srv/app.conf` (mode
    /// 0o640, tagged `web`) on `web1`, planned before they were written.
    fn findings_for(policies: &str) -> Vec<PolicyFinding> {
        let resources = r#"host "web1" {}
let protected = ["/etc/motd", "/srv/app.conf"]
on all {
  file "/srv/app.conf" {
    content = basename("/a/b/") + " " + dirname("/a/b/")
    mode = 0o640
    tags = ["web"]
  }
}
"#;
        let plan = plan_of(&project(resources), |_| Action::Update);
        let with_policies = project(&format!("{resources}{policies}"));
        with_policies.policies().evaluate_plan(&plan).0
    }

    fn messages(findings: &[PolicyFinding]) -> Vec<(FindingKind, &str)> {
        findings
            .iter()
            .map(|f| (f.kind, f.message.as_str()))
            .collect()
    }

    #[test]
    fn policies_compute_what_the_evaluator_computes() {
        // The resource's content is what the evaluator made of the same
        // calls while compiling the catalog.
        let findings = findings_for(
            r#"policy "paths" {
  when true {
    warn(basename("/a/b/") + " " + dirname("/a/b/"))
    warn(change.resource.content)
  }
}
"#,
        );
        assert_eq!(
            messages(&findings),
            [(FindingKind::Warn, "b /a"), (FindingKind::Warn, "b /a")]
        );
    }

    #[test]
    fn policies_have_the_evaluators_built_ins_and_the_projects_names() {
        let findings = findings_for(
            r#"policy "built-ins" {
  when contains(protected, change.resource.path) && len(change.resource.tags) == 1 {
    warn(join([upper(change.host.name), lower("WEB")] + sort(["b", "a"]), "-"))
    warn("${change.resource.mode} ${change.resource.owner ?? "nobody"} ${change.resource.id}")
  }
}
"#,
        );
        assert_eq!(
            messages(&findings),
            [
                (FindingKind::Warn, "WEB1-web-a-b"),
                (FindingKind::Warn, "0o640 nobody file[/srv/app.conf]"),
            ]
        );
    }

    #[test]
    fn an_overflow_in_a_policy_is_an_error_not_a_wrapped_number() {
        let findings = findings_for(
            r#"policy "big" {
  when 9223372036854775807 + 1 < 0 {
    warn("wrapped around")
  }
}
"#,
        );
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].kind, FindingKind::Deny);
        assert_eq!(
            findings[0].message,
            "policy \"big\" could not be evaluated: integer overflow"
        );
        let text = findings[0].rendered.as_deref().unwrap_or_default();
        assert!(text.contains("E0502"), "{text}");
        assert!(text.contains("9223372036854775807 + 1"), "{text}");
        assert!(text.contains("E0311"), "the evaluator's code: {text}");
    }

    #[test]
    fn a_field_the_resource_does_not_have_is_an_error_not_null() {
        let findings = findings_for(
            r#"policy "fields" {
  when change.resource.nosuch == null {
    warn("read null")
  }
  when change.resource.validate == null {
    warn("unset attributes read null")
  }
}
"#,
        );
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(findings[0].kind, FindingKind::Deny);
        assert!(
            findings[0].message.contains("no attribute `nosuch`"),
            "{}",
            findings[0].message
        );
        let text = findings[0].rendered.as_deref().unwrap_or_default();
        assert!(text.contains("E0502"), "{text}");
        assert!(text.contains("change.resource.nosuch"), "{text}");
        let typo = findings_for(
            r#"policy "typo" {
  when change.resource.contnet == null {
    warn("read null")
  }
}
"#,
        );
        let text = typo[0].rendered.as_deref().unwrap_or_default();
        assert!(text.contains("did you mean `content`?"), "{text}");
        assert_eq!(
            (findings[1].kind, findings[1].message.as_str()),
            (FindingKind::Warn, "unset attributes read null")
        );
    }

    #[test]
    fn a_policy_declares_and_asserts_nothing() {
        let findings = findings_for(
            r#"policy "busy" {
  when true {
    file "/tmp/x" {}
    assert false : "no"
    warn("still decides")
  }
}
"#,
        );
        assert_eq!(
            messages(&findings),
            [
                (FindingKind::Warn, "still decides"),
                (
                    FindingKind::Deny,
                    "policy \"busy\" could not be evaluated: a policy cannot declare resources"
                ),
                (
                    FindingKind::Deny,
                    "policy \"busy\" could not be evaluated: a policy cannot assert"
                ),
            ]
        );
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
