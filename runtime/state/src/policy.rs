//! Policies and approvals on the runtime side.
//!
//! The runtime never parses source: its `CatalogSource` evaluates the
//! project's policies against a plan and returns a [`PolicyOutcome`], which
//! `Runtime::plan` seals into the plan. `Runtime::apply` then refuses a plan
//! with a `deny` finding, and a plan that needs an approval until that exact
//! plan (its content hash) is approved in the state store. Here with the
//! store, because `mc approve` and the TUI decide on plans through it.

use crate::identity;
use crate::{PlanStatus, StateStore};
use mc_ir::plan::{Plan, PolicyFinding};

/// What the project's policies said about a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyOutcome {
    pub findings: Vec<PolicyFinding>,
    /// Why the plan needs an approval; empty when it does not.
    pub required_approvals: Vec<String>,
    /// Only someone other than the planner may approve the plan.
    pub forbid_self_approval: bool,
    /// The public keys that may approve (empty: anyone).
    pub approvers: Vec<String>,
    /// How many distinct approvers must approve.
    pub approvals_required: u32,
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
        plan.approvers = self.approvers;
        plan.approvals_required = if plan.approvers.is_empty() {
            0
        } else {
            self.approvals_required.max(1)
        };
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
        status: PlanStatus,
        reasons: Vec<String>,
    },
    /// The state store has no trustworthy record of the plan: it was not
    /// made by `mc plan` there, or its record or approval was tampered with.
    Untrusted { hash: String, why: String },
    /// The plan is approved, but by fewer of the project's approvers than
    /// it requires.
    Quorum { hash: String, tally: Tally },
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
                if *status == PlanStatus::Rejected {
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
                if *status != PlanStatus::Rejected {
                    write!(
                        f,
                        "\napprove it with `mc approve {short} --reason \"…\"` (or in `mc tui`), then apply this plan"
                    )?;
                }
                Ok(())
            }
            Refusal::Quorum { hash, tally } => {
                let short = hash.get(..12).unwrap_or(hash);
                let have = match tally.counted.as_slice() {
                    [] => "none".to_string(),
                    names => format!("{} ({})", names.len(), names.join(", ")),
                };
                write!(
                    f,
                    "plan {short} needs {} approvals from the project's approvers and has {have}; nothing was applied",
                    tally.required
                )?;
                for n in &tally.not_counted {
                    write!(f, "\n  not counted: {n}")?;
                }
                write!(
                    f,
                    "\nanother approver approves it with `mc approve {short} --reason \"…\"`"
                )
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
pub fn check_plan(plan: &Plan, status: Option<PlanStatus>) -> Result<(), Refusal> {
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
    let rejected = status == Some(PlanStatus::Rejected);
    if rejected || (plan.needs_approval() && status != Some(PlanStatus::Approved)) {
        return Err(Refusal::Unapproved {
            hash: plan.hash.clone(),
            status: status.unwrap_or(PlanStatus::Pending),
            reasons: plan.required_approvals.clone(),
        });
    }
    Ok(())
}

/// Who may approve a plan and how many must: the project's rule. `mc
/// apply` of a plan file takes it from the project as it is now (a plan
/// in a shared store could have been written by anyone who can write
/// there), a plan made in the same run from the plan itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApprovalRule {
    /// `ssh-ed25519 AAAA… name` lines; empty: anyone may approve.
    pub approvers: Vec<String>,
    /// Distinct approvers needed (at least 1).
    pub required: u32,
    pub self_approval: bool,
}

impl ApprovalRule {
    /// The rule sealed into `plan` when it was made.
    pub fn of_plan(plan: &Plan) -> ApprovalRule {
        ApprovalRule {
            approvers: plan.approvers.clone(),
            required: plan.approvals_required.max(1),
            self_approval: !plan.forbid_self_approval,
        }
    }

    /// The name an approver's key is listed under (its comment, else its
    /// fingerprint); `None` when `key` is not an approver.
    pub fn approver(&self, key: &str) -> Option<String> {
        let want = same_key(key)?;
        self.approvers.iter().find_map(|line| {
            (same_key(line)? == want).then(|| {
                let name = line.split_whitespace().nth(2).map(str::to_string);
                name.unwrap_or_else(|| identity::fingerprint_of(line))
            })
        })
    }
}

/// A key's `type base64` part, the form keys are compared in.
fn same_key(text: &str) -> Option<String> {
    identity::parse_public(text)
        .ok()
        .map(|k| identity::key_text(&k))
}

/// The approvals of a plan that count and those that do not, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Names of the distinct approvers whose signed approvals count.
    pub counted: Vec<String>,
    /// Approvals that do not count, each with why.
    pub not_counted: Vec<String>,
    pub required: u32,
}

impl Tally {
    pub fn met(&self) -> bool {
        self.counted.len() >= self.required as usize
    }
}

/// Counts the standing approvals of plan `hash` (those since its last
/// rejection) under `rule`: each must be signed by a listed approver's key,
/// each key counts once, and the planner's key not at all unless the rule
/// allows self-approval. The audit log must already be verified (it checks
/// every signature).
pub fn tally(store: &StateStore, hash: &str, rule: &ApprovalRule) -> Result<Tally, String> {
    let approvals = store.standing_approvals(hash).map_err(|e| e.to_string())?;
    let planner = store
        .plan_entry(hash)
        .map_err(|e| e.to_string())?
        .and_then(|e| e.signer)
        .and_then(|k| same_key(&k));
    let mut tally = Tally {
        required: rule.required.max(1),
        ..Default::default()
    };
    let mut keys = std::collections::HashSet::new();
    for e in approvals {
        let who = format!(
            "{} ({})",
            e.actor,
            e.signer
                .as_deref()
                .map(identity::fingerprint_of)
                .unwrap_or_else(|| "unsigned".into())
        );
        let Some(key) = e.signer.as_deref().and_then(same_key) else {
            tally.not_counted.push(format!("{who}: not signed"));
            continue;
        };
        let signature = e.signature.as_deref().unwrap_or_default();
        if identity::verify(
            &key,
            identity::AUDIT_NAMESPACE,
            e.hash.as_bytes(),
            signature,
        )
        .is_err()
        {
            tally
                .not_counted
                .push(format!("{who}: its signature does not verify"));
            continue;
        }
        match rule.approver(&key) {
            None => tally
                .not_counted
                .push(format!("{who}: not one of the project's approvers")),
            Some(name) if !rule.self_approval && planner.as_deref() == Some(key.as_str()) => {
                tally.not_counted.push(format!(
                    "{name}: made the plan, and the project sets `self_approval = false`"
                ))
            }
            Some(name) => {
                if keys.insert(key) {
                    tally.counted.push(name);
                }
            }
        }
    }
    Ok(tally)
}

/// The tally of a plan whose project names its approvers (`None` when it
/// names none: any one approval does).
pub fn quorum(store: &StateStore, plan: &Plan) -> Result<Option<Tally>, String> {
    if plan.approvers.is_empty() {
        return Ok(None);
    }
    tally(store, &plan.hash, &ApprovalRule::of_plan(plan)).map(Some)
}

/// Whether a stored plan with `status` still waits for a decision: pending
/// and needing an approval, or approved by fewer approvers than it needs.
pub fn waits_for_approval(status: PlanStatus, plan: &Plan, quorum: Option<&Tally>) -> bool {
    plan.needs_approval()
        && match status {
            PlanStatus::Pending => true,
            PlanStatus::Approved => quorum.is_some_and(|t| !t.met()),
            _ => false,
        }
}

/// Checks that `plan` may run now, trusting only the state store: it must
/// be a plan `mc plan` recorded there (same content hash, with its audit
/// entry), and its approval and policy findings are the stored record's,
/// whatever a plan file says. An approval counts only with its signed
/// audit entry, in an intact audit log, under `rule`. `break_glass` skips
/// the approval (never a policy `deny`); the caller audits it.
pub fn check_plan_in(
    store: &StateStore,
    plan: &Plan,
    rule: &ApprovalRule,
    break_glass: bool,
) -> Result<(), Refusal> {
    let untrusted = |why: String| Refusal::Untrusted {
        hash: plan.hash.clone(),
        why,
    };
    let unreadable = |e: crate::StateError| untrusted(format!("the state store: {e}"));
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
        .plan_entry(&plan.hash)
        .map_err(unreadable)?
        .ok_or_else(not_recorded)?;
    if break_glass {
        return check_plan(&stored, Some(PlanStatus::Approved));
    }
    if stored.needs_approval() && record.status == PlanStatus::Approved {
        check_approval(store, &stored, &planner, rule)?;
    }
    check_plan(&stored, Some(record.status))
}

/// The standing approval of a plan that needs one: recorded by `mc approve`
/// (decision row and signed audit entry), in an intact log, by as many
/// approvers as `rule` asks, the planner not among them when it says so.
fn check_approval(
    store: &StateStore,
    plan: &Plan,
    planner: &crate::AuditEntry,
    rule: &ApprovalRule,
) -> Result<(), Refusal> {
    let untrusted = |why: String| Refusal::Untrusted {
        hash: plan.hash.clone(),
        why,
    };
    // The chain, then the signatures of the entries that count (tally):
    // verifying every signature of a long log would cost seconds an apply.
    match store
        .verify_audit_chain()
        .map_err(|e| untrusted(e.to_string()))?
    {
        crate::AuditVerdict::Broken { seq, reason } => {
            return Err(untrusted(format!(
                "the audit log that records its approval is broken at entry {seq} ({reason}); see `mc audit verify`"
            )))
        }
        crate::AuditVerdict::Intact { .. } => {}
    }
    let approval = store
        .standing_approval(&plan.hash)
        .map_err(|e| untrusted(e.to_string()))?
        .ok_or_else(|| {
            untrusted("it is marked approved, but no approval of it was recorded (`mc approve` records a decision and an audit entry)".to_string())
        })?;
    if rule.approvers.is_empty() {
        let entry = store
            .audit_entry(approval.audit_seq)
            .map_err(|e| untrusted(e.to_string()))?;
        let same_key = entry.as_ref().and_then(|e| e.signer.as_ref()).is_some()
            && entry.as_ref().and_then(|e| e.signer.as_ref()) == planner.signer.as_ref();
        if !rule.self_approval && (same_key || approval.actor == planner.actor) {
            return Err(untrusted(format!(
                "it was approved by {}, who also planned it, and the project sets `self_approval = false`; another person must approve it",
                planner.actor
            )));
        }
        return Ok(());
    }
    let tally = tally(store, &plan.hash, rule).map_err(untrusted)?;
    if tally.met() {
        return Ok(());
    }
    Err(Refusal::Quorum {
        hash: plan.hash.clone(),
        tally,
    })
}

/// Approves or rejects a stored plan: the one path for `mc approve`,
/// `mc reject` and the TUI. An approval cannot override a policy `deny`,
/// must come from one of the plan's approvers when it names them, and
/// counts once per key. `via` names the front end in the audit entry.
pub fn decide(
    store: &StateStore,
    hash: &str,
    approve: bool,
    reason: &str,
    via: &str,
) -> Result<crate::PlanDecision, String> {
    let short = hash.get(..12).unwrap_or(hash);
    let body = store
        .plan_body(hash)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("plan {short} is not in the state store"))?;
    let plan = Plan::from_json(&body).map_err(|e| format!("stored plan {short}: {e}"))?;
    let me = identity::current()?;
    let rule = ApprovalRule::of_plan(&plan);
    if !rule.approvers.is_empty() && rule.approver(&me.public_key()).is_none() {
        return Err(format!(
            "your key {} ({}) is not one of the project's approvers, so you cannot {} plan {short}; the project lists its approvers in `project {{ approvers = […] }}`",
            me.fingerprint(),
            me.path().display(),
            if approve { "approve" } else { "reject" }
        ));
    }
    if approve {
        if plan.denials().next().is_some() {
            return Err(format!(
                "plan {short} is denied by policy; an approval cannot override a deny"
            ));
        }
        let planner = store
            .plan_entry(hash)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("plan {short} was not recorded by `mc plan`; it cannot be approved")
            })?;
        let mine = match &planner.signer {
            Some(key) => same_key(key) == Some(me.public_key()),
            None => planner.actor == crate::actor(),
        };
        if plan.forbid_self_approval && mine {
            return Err(format!(
                "plan {short} was made by {} (your key): the project sets `self_approval = false`, so another person must approve it",
                planner.actor
            ));
        }
        let approved_by_me = store
            .standing_approvals(hash)
            .map_err(|e| e.to_string())?
            .iter()
            .any(|e| e.signer.as_deref().and_then(same_key) == Some(me.public_key()));
        if approved_by_me {
            return Err(format!(
                "you ({}) already approved plan {short}; each approver counts once",
                me.fingerprint()
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
        let err = check_plan(&plan, Some(PlanStatus::Pending)).unwrap_err();
        assert!(err.to_string().contains("needs an approval"), "{err}");
        assert!(err.to_string().contains("sshd change"), "{err}");
        assert!(check_plan(&plan, None).is_err());
        assert!(check_plan(&plan, Some(PlanStatus::Approved)).is_ok());
        let rejected = check_plan(&plan, Some(PlanStatus::Rejected)).unwrap_err();
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
        let err = check_plan(&plan, Some(PlanStatus::Approved)).unwrap_err();
        assert!(
            matches!(err, Refusal::Denied(ref m) if m.len() == 1),
            "{err:?}"
        );
        assert!(Plan::new(0, "d".into(), vec![]).verify());
        assert!(check_plan(&Plan::new(0, "d".into(), vec![]), Some(PlanStatus::Pending)).is_ok());
    }
}
