//! Policies and approvals on the runtime side.
//!
//! The runtime never parses source: the [`CatalogSource`](crate::CatalogSource)
//! evaluates the project's policies against a plan and returns a
//! [`PolicyOutcome`], which [`Runtime::plan`](crate::Runtime::plan) seals
//! into the plan. [`Runtime::apply`](crate::Runtime::apply) then refuses a
//! plan with a `deny` finding, and a plan that needs an approval until that
//! exact plan (its content hash) is approved in the state store.

use crate::state::StateStore;
use mc_ir::plan::{Plan, PolicyFinding};

/// What the project's policies said about a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyOutcome {
    pub findings: Vec<PolicyFinding>,
    /// Why the plan needs an approval; empty when it does not.
    pub required_approvals: Vec<String>,
    /// Only someone other than the planner may approve the plan.
    pub forbid_self_approval: bool,
}

impl PolicyOutcome {
    /// Writes the outcome into `plan` and reseals it.
    pub fn seal_into(self, plan: &mut Plan) {
        plan.policy = self.findings;
        let mut reasons = self.required_approvals;
        // The same reason from several changes is asked once.
        let mut seen = std::collections::HashSet::new();
        reasons.retain(|r| seen.insert(r.clone()));
        plan.required_approvals = reasons;
        plan.forbid_self_approval = self.forbid_self_approval;
        plan.seal();
    }
}

/// Why `mc apply` refuses a plan on policy grounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Policies denied some changes.
    Denied(Vec<String>),
    /// The plan needs an approval it does not have (`status` is its state
    /// in the store: `pending` or `rejected`).
    Unapproved {
        hash: String,
        status: String,
        reasons: Vec<String>,
    },
    /// The state store has no trustworthy record of the plan: it was not
    /// made by `mc plan` there, or its record or approval was tampered with.
    Untrusted { hash: String, why: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Denied(msgs) => {
                write!(f, "the plan is denied by policy, nothing was applied:")?;
                for m in msgs {
                    write!(f, "\n  {m}")?;
                }
                Ok(())
            }
            Refusal::Unapproved {
                hash,
                status,
                reasons,
            } => {
                let short = hash.get(..12).unwrap_or(hash);
                if status == "rejected" {
                    write!(f, "plan {short} was rejected; nothing was applied")?;
                } else {
                    write!(
                        f,
                        "plan {short} needs an approval before it is applied, because:"
                    )?;
                }
                for r in reasons {
                    write!(f, "\n  - {r}")?;
                }
                if status != "rejected" {
                    write!(
                        f,
                        "\napprove it with `mc approve {short} --reason \"…\"` (or in `mc tui`), then apply this plan"
                    )?;
                }
                Ok(())
            }
            Refusal::Untrusted { hash, why } => {
                let short = hash.get(..12).unwrap_or(hash);
                write!(
                    f,
                    "plan {short} cannot be applied: {why}; nothing was applied"
                )
            }
        }
    }
}

/// Checks a plan against its policy findings and its approval in `store`.
/// `status` is the plan's current status in the store, if stored.
pub fn check_plan(plan: &Plan, status: Option<&str>) -> Result<(), Refusal> {
    let denied: Vec<String> = plan
        .denials()
        .map(|d| {
            let policy = if d.policy.is_empty() {
                String::new()
            } else {
                format!(" (policy \"{}\")", d.policy)
            };
            format!("{}: {}: {}{policy}", d.host, d.resource, d.message)
        })
        .collect();
    if !denied.is_empty() {
        return Err(Refusal::Denied(denied));
    }
    if status == Some("rejected") || (plan.needs_approval() && status != Some("approved")) {
        return Err(Refusal::Unapproved {
            hash: plan.hash.clone(),
            status: status.unwrap_or("pending").to_string(),
            reasons: plan.required_approvals.clone(),
        });
    }
    Ok(())
}

/// Checks that `plan` may run now, trusting only the state store: it must
/// be a plan `mc plan` recorded there (same content hash, with its audit
/// entry), and its approval and policy findings are the stored record's,
/// whatever a plan file says. An approval counts only with its decision row
/// and audit entry, in an intact audit log.
pub fn check_plan_in(store: &StateStore, plan: &Plan) -> Result<(), Refusal> {
    let untrusted = |why: String| Refusal::Untrusted {
        hash: plan.hash.clone(),
        why,
    };
    let unreadable = |e: crate::state::StateError| untrusted(format!("the state store: {e}"));
    let not_recorded = || {
        untrusted(format!(
            "it was not recorded by `mc plan` in the state store {} (a plan file is applied only when that exact plan was made and recorded there); run `mc plan` again",
            store.location()
        ))
    };
    let record = store
        .plan(&plan.hash)
        .map_err(unreadable)?
        .ok_or_else(not_recorded)?;
    let stored = store
        .plan_body(&plan.hash)
        .map_err(unreadable)?
        .and_then(|body| Plan::verified_head(&body).ok())
        .filter(|p| p.hash == plan.hash)
        .ok_or_else(|| {
            untrusted(
                "its record in the state store was altered (it no longer matches its hash)".into(),
            )
        })?;
    let planner = store
        .plan_recorded_by(&plan.hash)
        .map_err(unreadable)?
        .ok_or_else(not_recorded)?;
    if stored.needs_approval() && record.status == "approved" {
        check_approval(store, &stored, &planner).map_err(untrusted)?;
    }
    check_plan(&stored, Some(&record.status))
}

/// The standing approval of a plan that needs one: recorded by `mc approve`
/// (decision row and audit entry), in an intact log, and by someone other
/// than the planner when the project asks for that.
fn check_approval(store: &StateStore, plan: &Plan, planner: &str) -> Result<(), String> {
    if let crate::state::AuditVerdict::Broken { seq, reason } =
        store.verify_audit().map_err(|e| e.to_string())?
    {
        return Err(format!(
            "the audit log that records its approval is broken at entry {seq} ({reason}); see `mc audit verify`"
        ));
    }
    let approval = store
        .standing_approval(&plan.hash)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            "it is marked approved, but no approval of it was recorded (`mc approve` records a decision and an audit entry)".to_string()
        })?;
    if plan.forbid_self_approval && approval.actor == planner {
        return Err(format!(
            "it was approved by {planner}, who also planned it, and the project sets `self_approval = false`; another person must approve it"
        ));
    }
    Ok(())
}

/// Approves or rejects a stored plan: the one path for `mc approve`,
/// `mc reject` and the TUI. An approval cannot override a policy `deny`.
/// `via` names the front end in the audit entry.
pub fn decide(
    store: &StateStore,
    hash: &str,
    approve: bool,
    reason: &str,
    via: &str,
) -> Result<crate::state::PlanDecision, String> {
    let short = hash.get(..12).unwrap_or(hash);
    let body = store
        .plan_body(hash)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("plan {short} is not in the state store"))?;
    if approve {
        let plan = Plan::from_json(&body).map_err(|e| format!("stored plan {short}: {e}"))?;
        if plan.denials().next().is_some() {
            return Err(format!(
                "plan {short} is denied by policy; an approval cannot override a deny"
            ));
        }
        let planner = store
            .plan_recorded_by(hash)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("plan {short} was not recorded by `mc plan`; it cannot be approved")
            })?;
        if plan.forbid_self_approval && planner == crate::state::actor() {
            return Err(format!(
                "plan {short} was made by {planner}: the project sets `self_approval = false`, so another person must approve it"
            ));
        }
    }
    store
        .decide_plan(hash, approve, reason, &serde_json::json!({ "via": via }))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mc_ir::plan::FindingKind;
    use mc_ir::ResourceId;

    fn finding(kind: FindingKind) -> PolicyFinding {
        PolicyFinding {
            kind,
            policy: "p".into(),
            host: "web1".into(),
            resource: ResourceId::new("file", "/etc/ssh/sshd_config"),
            message: "sshd change".into(),
            rendered: None,
        }
    }

    #[test]
    fn approval_is_needed_until_approved() {
        let mut plan = Plan::new(0, "d".into(), vec![]);
        PolicyOutcome {
            findings: vec![finding(FindingKind::RequireApproval)],
            required_approvals: vec!["sshd change".into(), "sshd change".into()],
            ..Default::default()
        }
        .seal_into(&mut plan);
        assert!(plan.verify());
        assert_eq!(plan.required_approvals, vec!["sshd change".to_string()]);
        let err = check_plan(&plan, Some("pending")).unwrap_err();
        assert!(err.to_string().contains("needs an approval"), "{err}");
        assert!(err.to_string().contains("sshd change"), "{err}");
        assert!(check_plan(&plan, None).is_err());
        assert!(check_plan(&plan, Some("approved")).is_ok());
        let rejected = check_plan(&plan, Some("rejected")).unwrap_err();
        assert!(rejected.to_string().contains("rejected"), "{rejected}");
    }

    #[test]
    fn a_denial_refuses_even_an_approved_plan() {
        let mut plan = Plan::new(0, "d".into(), vec![]);
        PolicyOutcome {
            findings: vec![finding(FindingKind::Deny), finding(FindingKind::Warn)],
            required_approvals: vec![],
            ..Default::default()
        }
        .seal_into(&mut plan);
        let err = check_plan(&plan, Some("approved")).unwrap_err();
        assert!(
            matches!(err, Refusal::Denied(ref m) if m.len() == 1),
            "{err:?}"
        );
        assert!(Plan::new(0, "d".into(), vec![]).verify());
        assert!(check_plan(&Plan::new(0, "d".into(), vec![]), Some("pending")).is_ok());
    }
}
