//! `project { … }` settings: the one place that knows each setting's name
//! and values. The checker reports every mistake at `mc check` (E0504), and
//! policies and `mc apply` read the parsed values from here.

use crate::diag::{Diag, Loc};
use mc_grammar::ast::{Expr, Field};
use mc_grammar::span::Span;
use mc_ir::{Risk, Serial};

/// Every setting a `project` item may hold, with what it takes.
pub const SETTINGS: &[(&str, &str)] = &[
    (
        "approval_risk",
        "the risk from which a change needs an approval: \"low\", \"medium\", \"high\" (the default) or \"none\"",
    ),
    (
        "self_approval",
        "whether the person who made a plan may approve it: `true` or `false` (the default is `true`, `false` once `approvers` is set)",
    ),
    (
        "approvers",
        "the keys that may approve plans: a list of SSH ed25519 public keys (`\"ssh-ed25519 AAAA… alice\"`)",
    ),
    (
        "approvals_required",
        "how many distinct approvers must approve a plan that needs an approval (default 1)",
    ),
    (
        "state",
        "the state store: a SQLite file or `postgres://USER@HOST/DB` (`--state` and `MC_STATE` take precedence)",
    ),
    (
        "agents",
        "the NATS server of hosts with `transport = \"agent\"`: `nats://HOST:4222` or `tls://HOST:4222` (`MC_AGENTS` takes precedence)",
    ),
    (
        "serial",
        "the default rollout batch of `mc apply`: a number of hosts (`2`) or a percentage (`\"25%\"`)",
    ),
    (
        "read_paths",
        "folders beyond the project that compile-time reads may use (entry file only)",
    ),
];

/// `nats://…`, `tls://…` or `ws(s)://…`, comma-separated for a cluster.
fn nats_url(s: &str) -> bool {
    s.split(',').all(|u| {
        let u = u.trim();
        ["nats://", "tls://", "ws://", "wss://"]
            .iter()
            .any(|p| u.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
    })
}

/// The code of every mistake in a `project` item but `read_paths` (E0316).
pub const BAD_SETTING: &str = "E0504";

/// The `approval_risk` of a project that does not set one.
pub const DEFAULT_APPROVAL_RISK: Risk = Risk::High;

/// The values of a project's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub approval_risk: Option<Risk>,
    /// `None`: not set (see [`Settings::self_approval`]).
    pub self_approval: Option<bool>,
    pub serial: Option<Serial>,
    /// Public keys (`ssh-ed25519 AAAA… name`) that may approve.
    pub approvers: Vec<String>,
    pub approvals_required: Option<u32>,
    /// Where the state store is (a path or a `postgres://` URL).
    pub state: Option<String>,
    /// The NATS server of pull-mode agents.
    pub agents: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        // Secure by default: high-risk changes (deleting a user, sshd
        // configuration, restarting sshd…) wait for an approval unless the
        // project says otherwise.
        Settings {
            approval_risk: Some(DEFAULT_APPROVAL_RISK),
            self_approval: None,
            serial: None,
            approvers: Vec::new(),
            approvals_required: None,
            state: None,
            agents: None,
        }
    }
}

impl Settings {
    /// Whether a planner may approve their own plan: as set, else yes
    /// unless the project names its approvers (then a second pair of eyes
    /// is the point).
    pub fn self_approval(&self) -> bool {
        self.self_approval.unwrap_or(self.approvers.is_empty())
    }

    /// How many distinct approvers a plan needs (at least 1).
    pub fn approvals_required(&self) -> u32 {
        self.approvals_required.unwrap_or(1).max(1)
    }

    /// Reads one `project` item's fields into `self`; what is wrong with
    /// them comes back as diagnostics (`loc` places a span in its file).
    pub fn read(&mut self, fields: &[Field], loc: impl Fn(Span) -> Loc) -> Vec<Diag> {
        let mut diags = Vec::new();
        for f in fields {
            let bad = |message: &str| {
                Diag::error(
                    BAD_SETTING,
                    loc(f.value.span()),
                    format!("`{}` {message}", f.name.name),
                )
                .label("invalid value")
            };
            match f.name.name.as_str() {
                "approval_risk" => match plain_string(&f.value) {
                    Some(text) if parse_risk(&text).is_some() => {
                        self.approval_risk = parse_risk(&text).flatten();
                    }
                    text => {
                        let d = bad("must be \"low\", \"medium\", \"high\" or \"none\"").note(
                            "changes at or above this risk need `mc approve` before `mc apply`",
                        );
                        diags.push(match text {
                            Some(t) => d.did_you_mean_value(loc(f.value.span()), &t, RISKS.iter().copied()),
                            None => d,
                        });
                    }
                },
                "self_approval" => match &f.value {
                    Expr::Bool { value, .. } => self.self_approval = Some(*value),
                    _ => diags.push(bad("must be `true` or `false`")),
                },
                "approvers" => match read_approvers(&f.value, &loc) {
                    Ok(keys) => self.approvers = keys,
                    Err(d) => diags.push(*d),
                },
                "approvals_required" => match &f.value {
                    Expr::Int { value, .. } if (1..=1000).contains(value) => {
                        self.approvals_required = Some(*value as u32)
                    }
                    _ => diags.push(bad("must be a number of approvals, 1 or more")),
                },
                "state" => match plain_string(&f.value) {
                    Some(s) if url_password(&s) => diags.push(
                        bad("holds a password; the project is shared in version control").note(
                            "leave it out of the URL and set PGPASSWORD (or ~/.pgpass) where mc runs",
                        ),
                    ),
                    Some(s) if !s.trim().is_empty() => self.state = Some(s),
                    _ => diags.push(bad(
                        "must be a file path or a `postgres://USER@HOST/DB` URL",
                    )),
                },
                "agents" => match plain_string(&f.value) {
                    Some(s) if url_password(&s) => diags.push(
                        bad("holds a password; the project is shared in version control")
                            .note("give the agents' NATS credentials with MC_AGENTS_CREDS"),
                    ),
                    Some(s) if nats_url(&s) => self.agents = Some(s),
                    _ => diags.push(bad(
                        "must be a NATS server URL: `nats://HOST:4222` or `tls://HOST:4222`",
                    )),
                },
                "serial" => {
                    let text = match &f.value {
                        Expr::Int { value, .. } => Some(value.to_string()),
                        other => plain_string(other),
                    };
                    match text.as_deref().map(str::parse::<Serial>) {
                        Some(Ok(s)) => self.serial = Some(s),
                        Some(Err(e)) => diags.push(bad(&format!("is invalid: {e}"))),
                        None => diags.push(bad(
                            "must be a number of hosts (`2`) or a percentage (`\"25%\"`)",
                        )),
                    }
                }
                // Checked where the read scope is built (E0316).
                "read_paths" => {}
                unknown => {
                    let names = SETTINGS.iter().map(|(n, _)| *n);
                    let d = Diag::error(
                        BAD_SETTING,
                        loc(f.name.span),
                        format!("unknown project setting `{unknown}`"),
                    )
                    .label("not a setting")
                    .did_you_mean(loc(f.name.span), unknown, names.clone());
                    let list: Vec<&str> = names.collect();
                    diags.push(d.note(format!("project settings: {}", list.join(", "))));
                }
            }
        }
        if let Some(n) = self.approvals_required {
            let have = self.approvers.len();
            let quorum_field = fields.iter().find(|f| f.name.name == "approvals_required");
            if have == 0 {
                if let Some(f) = quorum_field {
                    diags.push(
                        Diag::error(
                            BAD_SETTING,
                            loc(f.name.span),
                            "`approvals_required` counts approvals by the keys in `approvers`, and none are listed",
                        )
                        .label("no approvers to count")
                        .note("list the approvers' public keys: `approvers = [\"ssh-ed25519 AAAA… alice\", …]` (`mc identity` prints yours)"),
                    );
                }
            } else if n as usize > have {
                if let Some(f) = quorum_field {
                    diags.push(
                        Diag::error(
                            BAD_SETTING,
                            loc(f.value.span()),
                            format!("`approvals_required` is {n} but only {have} approvers are listed"),
                        )
                        .label("more than the approvers")
                        .note("no plan could ever be approved; list more `approvers` or lower the number"),
                    );
                }
            }
        }
        diags
    }
}

/// `approvers = ["ssh-ed25519 AAAA… alice", …]`: each an ed25519 public
/// key in OpenSSH's one-line form, none twice.
fn read_approvers(value: &Expr, loc: &impl Fn(Span) -> Loc) -> Result<Vec<String>, Box<Diag>> {
    let bad = |span: Span, message: String| {
        Box::new(Diag::error(BAD_SETTING, loc(span), message)
            .label("invalid value")
            .note("an approver is a line of an `.pub` file: `ssh-ed25519 AAAA… name` (`mc identity` prints yours)"))
    };
    let Expr::List { items, .. } = value else {
        return Err(bad(
            value.span(),
            "`approvers` must be a list of SSH public keys".into(),
        ));
    };
    let mut keys: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for item in items {
        let Some(text) = plain_string(item) else {
            return Err(bad(
                item.span(),
                "an approver must be a plain string".into(),
            ));
        };
        let key = ssh_key::PublicKey::from_openssh(text.trim())
            .map_err(|e| bad(item.span(), format!("not an SSH public key: {e}")))?;
        if key.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err(bad(
                item.span(),
                format!(
                    "a {} key; approvers sign with ed25519 keys",
                    key.algorithm()
                ),
            ));
        }
        if !seen.insert(key.key_data().clone()) {
            return Err(bad(item.span(), "this key is listed twice".into()));
        }
        keys.push(text.trim().to_string());
    }
    Ok(keys)
}

/// `scheme://user:password@host…`: a URL that carries a password.
fn url_password(s: &str) -> bool {
    let Some((_, rest)) = s.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'))
}

fn plain_string(e: &Expr) -> Option<String> {
    match e {
        Expr::Str(s) => s.as_plain(),
        _ => None,
    }
}

/// The values `approval_risk` takes.
const RISKS: &[&str] = &["low", "medium", "high", "none"];

/// `approval_risk`'s value: `None` for "none".
fn parse_risk(s: &str) -> Option<Option<Risk>> {
    match s {
        "none" => Some(None),
        "low" => Some(Some(Risk::Low)),
        "medium" => Some(Some(Risk::Medium)),
        "high" => Some(Some(Risk::High)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mc_grammar::ast::Item;
    use std::sync::Arc;

    fn read(src: &str) -> Vec<Diag> {
        let parsed = mc_grammar::parse(src);
        let Some(Item::Project(p)) = parsed.module.items.first() else {
            panic!("no project item in {src}");
        };
        let file: Arc<str> = Arc::from("main.mc");
        Settings::default().read(&p.fields, |s| Loc::new(&file, s))
    }

    #[test]
    fn a_misspelt_risk_value_gets_the_closest_one_as_a_fix() {
        let diags = read("project {\n  approval_risk = \"hihg\"\n}\n");
        assert_eq!(diags.len(), 1);
        let fix = diags[0].fix.as_ref().expect("a fix");
        assert_eq!(fix.replacement, "\"high\"");
        assert_eq!(
            fix.loc
                .span
                .text("project {\n  approval_risk = \"hihg\"\n}\n"),
            "\"hihg\""
        );
        // Nothing close: the error alone.
        let diags = read("project {\n  approval_risk = \"sometimes\"\n}\n");
        assert!(diags[0].fix.is_none());
        assert!(read("project {\n  approval_risk = \"none\"\n}\n").is_empty());
    }
}
