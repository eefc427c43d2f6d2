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
        "whether the person who made a plan may approve it: `true` (the default) or `false`",
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

/// The code of every mistake in a `project` item but `read_paths` (E0316).
pub const BAD_SETTING: &str = "E0504";

/// The `approval_risk` of a project that does not set one.
pub const DEFAULT_APPROVAL_RISK: Risk = Risk::High;

/// The values of a project's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub approval_risk: Option<Risk>,
    pub self_approval: bool,
    pub serial: Option<Serial>,
}

impl Default for Settings {
    fn default() -> Settings {
        // Secure by default: high-risk changes (deleting a user, sshd
        // configuration, restarting sshd…) wait for an approval unless the
        // project says otherwise.
        Settings {
            approval_risk: Some(DEFAULT_APPROVAL_RISK),
            self_approval: true,
            serial: None,
        }
    }
}

impl Settings {
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
                "approval_risk" => match plain_string(&f.value).as_deref().map(parse_risk) {
                    Some(Some(r)) => self.approval_risk = r,
                    _ => diags.push(
                        bad("must be \"low\", \"medium\", \"high\" or \"none\"").note(
                            "changes at or above this risk need `mc approve` before `mc apply`",
                        ),
                    ),
                },
                "self_approval" => match &f.value {
                    Expr::Bool { value, .. } => self.self_approval = *value,
                    _ => diags.push(bad("must be `true` or `false`")),
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
        diags
    }
}

fn plain_string(e: &Expr) -> Option<String> {
    match e {
        Expr::Str(s) => s.as_plain(),
        _ => None,
    }
}

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
