//! The plan IR: what `mc plan` found and `mc apply` will do, per host.
//!
//! The plan file (`mc plan -o plan.json`), the state store's `plans` table
//! and the TUI all read this one format. A plan is sealed with a content
//! hash (sha256 of the canonical JSON of the plan without its `hash` field),
//! so an edited plan file is refused.

use crate::{Catalog, HostInfo, ResourceId, Risk};
use serde::{Deserialize, Serialize};

/// Bumped on any change of the serialised plan. Schema 2 added
/// `required_approvals` and `policy`, schema 3 `notified_by`; older plans
/// still read (all empty).
pub const PLAN_SCHEMA: u32 = 3;

/// The oldest plan schema this version reads.
pub const PLAN_SCHEMA_MIN: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub schema: u32,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Makes each planning its own plan: two plans of the same content
    /// made within one second (a converging `mc apply` run twice) have
    /// different hashes, so the second is not refused as already applied.
    /// Plans written before it existed have none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    /// Digest of the project sources the catalogs were compiled from.
    pub source_digest: String,
    /// Absolute path of the project directory at plan time; `mc apply
    /// plan.json` finds the project's state store through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The `--var NAME=VALUE` values the catalogs were compiled with, so
    /// the plan shows them and an apply of it uses exactly them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub vars: std::collections::BTreeMap<String, String>,
    pub hosts: Vec<HostPlan>,
    /// Why this plan needs an approval before `mc apply` runs it (policy
    /// `require_approval` reasons and changes at or above the project's
    /// `approval_risk`). Empty: no approval needed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_approvals: Vec<String>,
    /// What the project's policies said about the planned changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<PolicyFinding>,
    /// The project requires that someone other than the planner approves
    /// this plan (`project { self_approval = false }`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub forbid_self_approval: bool,
    /// The keys that may approve this plan (`project { approvers = […] }`,
    /// `ssh-ed25519 AAAA… name`); empty: anyone who can reach the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// How many distinct approvers must approve (`approvals_required`);
    /// 0 reads as 1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub approvals_required: u32,
    /// sha256 of the canonical JSON of everything above; see [`Plan::seal`].
    #[serde(default)]
    pub hash: String,
}

/// One policy verdict on one planned change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFinding {
    pub kind: FindingKind,
    /// The policy's name; empty for a finding from the project's `approval_risk`.
    pub policy: String,
    pub host: String,
    pub resource: ResourceId,
    pub message: String,
    /// The finding rendered like a compiler diagnostic (spans at the
    /// resource and the policy), without colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The plan must not be applied.
    Deny,
    /// The plan must be approved before it is applied.
    RequireApproval,
    /// Reported only.
    Warn,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostPlan {
    pub host: HostInfo,
    /// Absent when the host could not be reached or compiled (see `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Catalog>,
    /// One entry per selected catalog resource, in the order they apply
    /// ([`Catalog::apply_order`]).
    pub resources: Vec<PlannedResource>,
    /// Why this host has no plan (unreachable, compile error, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedResource {
    pub id: ResourceId,
    pub action: Action,
    /// Attributes that differ; sensitive values read `(secret)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AttrChange>,
    /// Unified diff of a text content change; never for secret content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_diff: Option<String>,
    /// Digest of the observed state at plan time: apply refuses the
    /// resource if the host no longer matches it (stale plan).
    pub observed_digest: String,
    pub risk: Risk,
    /// A notification left pending by an earlier run: the resource gets a
    /// refresh (service reload/restart, `refresh_only` command) in this apply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
    /// Planned changes of this host that notify this resource
    /// (`notify`/`subscribe`): it gets a refresh in this apply when one of
    /// them changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notified_by: Vec<ResourceId>,
    /// What the pending refresh (`refresh`) asks of a service, when its
    /// notifier named an action (`reload(svc)`); `None` is `on_notify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_action: Option<crate::RefreshAction>,
    /// The resource could not be probed; apply treats it as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a provider must do to reach the desired state: in the plan, and
/// in the runner protocol (which uses this same type).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    None,
    Create,
    Update,
    Delete,
    /// A check that changes nothing but must run at apply time, every run
    /// (`http_check`). Its apply status is `ok` or `failed`, never `changed`.
    Check,
}

impl Action {
    const ALL: [Action; 5] = [
        Action::None,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Check,
    ];

    /// The action's name, as serde writes it (plans, state, policies).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Check => "check",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action `{s}`"))
    }
}

impl PlannedResource {
    /// True when the apply will refresh this resource: a pending
    /// notification, or a planned change that notifies it.
    pub fn gets_refresh(&self) -> bool {
        self.error.is_none() && (self.refresh || !self.notified_by.is_empty())
    }

    /// True when the plan shows it as a refresh: nothing else to change.
    pub fn is_refresh_only(&self) -> bool {
        self.gets_refresh() && !self.action.is_change()
    }
}

impl HostPlan {
    /// Fills in [`PlannedResource::notified_by`] from the catalog's notify
    /// edges: the targets of every planned change.
    pub fn link_refreshes(&mut self) {
        let Some(catalog) = &self.catalog else {
            return;
        };
        let changing: std::collections::HashSet<&ResourceId> = self
            .resources
            .iter()
            .filter(|r| r.error.is_none() && r.action.is_change())
            .map(|r| &r.id)
            .collect();
        let mut notified: std::collections::HashMap<ResourceId, Vec<ResourceId>> =
            std::collections::HashMap::new();
        for e in &catalog.edges {
            if e.kind == crate::EdgeKind::Notify && changing.contains(&e.from) {
                notified
                    .entry(e.to.clone())
                    .or_default()
                    .push(e.from.clone());
            }
        }
        for r in &mut self.resources {
            r.notified_by = notified.remove(&r.id).unwrap_or_default();
        }
    }

    /// Per planned change, the resources it will refresh, in plan order.
    pub fn refreshes_by_notifier(
        &self,
    ) -> std::collections::HashMap<&ResourceId, Vec<&PlannedResource>> {
        let mut out: std::collections::HashMap<&ResourceId, Vec<&PlannedResource>> =
            std::collections::HashMap::new();
        for r in self.resources.iter().filter(|r| r.error.is_none()) {
            for n in &r.notified_by {
                out.entry(n).or_default().push(r);
            }
        }
        out
    }
}

impl Action {
    /// The Terraform-style marker shown in plan output.
    pub fn marker(self) -> &'static str {
        match self {
            Action::None => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::Check => "?",
        }
    }

    /// True for actions that change the host.
    pub fn is_change(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Delete)
    }
}

/// One attribute that differs. `from` is `null` for a resource that does not
/// exist; `to` is `null` for a removal. The plan's and the runner protocol's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub attr: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

/// Counts over a plan, for the summary line and `--detailed-exitcode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCounts {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub refresh: usize,
    pub unchanged: usize,
    pub errors: usize,
}

impl PlanCounts {
    pub fn changes(&self) -> usize {
        self.create + self.update + self.delete + self.refresh
    }
}

impl HostPlan {
    pub fn counts(&self) -> PlanCounts {
        let mut c = PlanCounts::default();
        if self.error.is_some() {
            c.errors += 1;
        }
        for r in &self.resources {
            if r.error.is_some() {
                c.errors += 1;
                continue;
            }
            match r.action {
                Action::Create => c.create += 1,
                Action::Update => c.update += 1,
                Action::Delete => c.delete += 1,
                Action::None | Action::Check if r.gets_refresh() => c.refresh += 1,
                Action::None | Action::Check => c.unchanged += 1,
            }
        }
        c
    }
}

/// A value no other planning on this machine shares (see [`Plan::nonce`]):
/// the time in nanoseconds, the process and a counter, hashed.
pub fn fresh_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!(
        "{nanos}:{}:{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    crate::hash::sha256_hex(seed.as_bytes())[..16].to_string()
}

impl Plan {
    pub fn new(created_at: i64, source_digest: String, hosts: Vec<HostPlan>) -> Plan {
        let mut plan = Plan {
            schema: PLAN_SCHEMA,
            created_at,
            nonce: String::new(),
            source_digest,
            project: None,
            vars: Default::default(),
            hosts,
            required_approvals: Vec::new(),
            policy: Vec::new(),
            forbid_self_approval: false,
            approvers: Vec::new(),
            approvals_required: 0,
            hash: String::new(),
        };
        plan.seal();
        plan
    }

    /// The content hash: sha256 of the canonical JSON without `hash`.
    pub fn content_hash(&self) -> String {
        let hosts = self.hosts.iter().map(|h| Ok(h.clone_value()));
        self.head().hash_with(hosts).unwrap_or_default()
    }

    /// Everything but the hosts.
    fn head(&self) -> Plan {
        Plan {
            schema: self.schema,
            created_at: self.created_at,
            nonce: self.nonce.clone(),
            source_digest: self.source_digest.clone(),
            project: self.project.clone(),
            vars: self.vars.clone(),
            hosts: Vec::new(),
            required_approvals: self.required_approvals.clone(),
            policy: self.policy.clone(),
            forbid_self_approval: self.forbid_self_approval,
            approvers: self.approvers.clone(),
            approvals_required: self.approvals_required,
            hash: self.hash.clone(),
        }
    }

    /// The content hash of this head with `hosts` as its hosts. The same
    /// bytes as the canonical JSON of the whole plan, but only one host's
    /// part exists as JSON at a time: a plan of 200 hosts would otherwise
    /// be copied twice over (its JSON tree and its text).
    fn hash_with(
        &self,
        hosts: impl Iterator<Item = Result<serde_json::Value, String>>,
    ) -> Result<String, String> {
        let serde_json::Value::Object(mut fields) =
            serde_json::to_value(self).map_err(|e| e.to_string())?
        else {
            return Err("a plan is not a JSON object".into());
        };
        fields.remove("hash");
        let mut keys: Vec<&String> = fields.keys().collect();
        keys.sort();
        let mut h = crate::hash::CanonicalHasher::new();
        let mut hosts = Some(hosts);
        h.raw("{");
        for (i, k) in keys.into_iter().enumerate() {
            if i > 0 {
                h.raw(",");
            }
            h.key(k);
            match (k.as_str(), hosts.take()) {
                ("hosts", Some(list)) => {
                    h.raw("[");
                    for (j, host) in list.enumerate() {
                        if j > 0 {
                            h.raw(",");
                        }
                        h.value(&host?);
                    }
                    h.raw("]");
                }
                (_, rest) => {
                    hosts = rest;
                    h.value(&fields[k.as_str()]);
                }
            }
        }
        h.raw("}");
        Ok(h.finish())
    }

    /// The header of a stored plan (all but its hosts), when its content
    /// hash is its `hash`: what `mc apply` checks a recorded plan against,
    /// read a host at a time rather than as a second copy of the plan.
    pub fn verified_head(text: &str) -> Result<Plan, String> {
        check_schema(text)?;
        let raw: RawPlan<'_> =
            serde_json::from_str(text).map_err(|e| format!("not a plan file: {e}"))?;
        let head = Plan {
            schema: raw.schema,
            created_at: raw.created_at,
            nonce: raw.nonce,
            source_digest: raw.source_digest,
            project: raw.project,
            vars: raw.vars,
            hosts: Vec::new(),
            required_approvals: raw.required_approvals,
            policy: raw.policy,
            forbid_self_approval: raw.forbid_self_approval,
            approvers: raw.approvers,
            approvals_required: raw.approvals_required,
            hash: raw.hash,
        };
        // Each host goes through its type, as a full parse would: the hash
        // is over what this mc reads, defaults filled in.
        let hosts = raw.hosts.into_iter().map(|r| {
            serde_json::from_str::<HostPlan>(r.get())
                .map(|h| h.clone_value())
                .map_err(|e| format!("not a plan file: {e}"))
        });
        let hash = head.hash_with(hosts)?;
        if head.hash.is_empty() || hash != head.hash {
            return Err("its content does not match its hash".into());
        }
        Ok(head)
    }

    /// Sets `hash` to the content hash.
    pub fn seal(&mut self) {
        self.hash = self.content_hash();
    }

    /// True when `hash` matches the content (the file was not edited).
    pub fn verify(&self) -> bool {
        !self.hash.is_empty() && self.hash == self.content_hash()
    }

    pub fn counts(&self) -> PlanCounts {
        let mut total = PlanCounts::default();
        for h in &self.hosts {
            let c = h.counts();
            total.create += c.create;
            total.update += c.update;
            total.delete += c.delete;
            total.refresh += c.refresh;
            total.unchanged += c.unchanged;
            total.errors += c.errors;
        }
        total
    }

    /// The `deny` findings: a plan with any is never applied.
    pub fn denials(&self) -> impl Iterator<Item = &PolicyFinding> {
        self.policy.iter().filter(|f| f.kind == FindingKind::Deny)
    }

    /// True when `mc apply` needs an approval of this exact plan first.
    pub fn needs_approval(&self) -> bool {
        !self.required_approvals.is_empty()
    }

    pub fn host_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.host.name.clone()).collect()
    }

    /// Compact JSON: what the state store keeps (a third the size of the
    /// pretty form, which matters at hundreds of hosts).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a plan file, refusing other schema versions.
    pub fn from_json(text: &str) -> Result<Plan, String> {
        check_schema(text)?;
        serde_json::from_str(text).map_err(|e| format!("not a plan file: {e}"))
    }
}

/// Refuses plan text of a schema this mc does not read (before the whole
/// of it is parsed).
fn check_schema(text: &str) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Schema {
        schema: Option<serde_json::Value>,
    }
    let found: Schema = serde_json::from_str(text).map_err(|e| format!("not a plan file: {e}"))?;
    let schema = found.schema.as_ref().and_then(|s| s.as_u64());
    if !schema.is_some_and(|s| (u64::from(PLAN_SCHEMA_MIN)..=u64::from(PLAN_SCHEMA)).contains(&s)) {
        return Err(format!(
            "plan schema {} is not supported (this mc reads schema {PLAN_SCHEMA})",
            schema.map_or("missing".to_string(), |s| s.to_string())
        ));
    }
    Ok(())
}

/// A plan with its hosts left as text: [`Plan::verified_head`]. Its
/// fields and defaults are [`Plan`]'s.
#[derive(Deserialize)]
struct RawPlan<'a> {
    schema: u32,
    created_at: i64,
    #[serde(default)]
    nonce: String,
    source_digest: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    vars: std::collections::BTreeMap<String, String>,
    #[serde(borrow)]
    hosts: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    required_approvals: Vec<String>,
    #[serde(default)]
    policy: Vec<PolicyFinding>,
    #[serde(default)]
    forbid_self_approval: bool,
    #[serde(default)]
    approvers: Vec<String>,
    #[serde(default)]
    approvals_required: u32,
    #[serde(default)]
    hash: String,
}

impl HostPlan {
    fn clone_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{canonical_json, sha256_hex};
    use crate::{Transport, CATALOG_SCHEMA};

    #[test]
    fn the_nonce_makes_each_planning_its_own_plan() {
        let a = plan();
        let mut b = plan();
        assert_eq!(a.hash, b.hash, "same content, no nonce: same plan");
        b.nonce = fresh_nonce();
        b.seal();
        assert_ne!(a.hash, b.hash);
        let head = Plan::verified_head(&b.to_json()).expect("a sealed plan verifies");
        assert_eq!(head.nonce, b.nonce);
        assert_ne!(fresh_nonce(), fresh_nonce());
    }

    #[test]
    fn action_names_are_their_serde_names() {
        for a in Action::ALL {
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::json!(a.as_str())
            );
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
        }
        assert!("created".parse::<Action>().is_err());
    }

    fn plan() -> Plan {
        let host = HostInfo {
            name: "web1".into(),
            address: "127.0.0.2".into(),
            user: None,
            port: None,
            transport: Transport::Ssh,
            r#become: false,
            groups: vec![],
            ssh_key: None,
        };
        Plan::new(
            1_700_000_000,
            "src".into(),
            vec![HostPlan {
                catalog: Some(Catalog {
                    schema: CATALOG_SCHEMA,
                    host: host.clone(),
                    resources: vec![],
                    edges: vec![],
                }),
                host,
                resources: vec![PlannedResource {
                    id: ResourceId::new("file", "/etc/motd"),
                    action: Action::Update,
                    changes: vec![AttrChange {
                        attr: "mode".into(),
                        from: 420.into(),
                        to: 384.into(),
                    }],
                    content_diff: None,
                    observed_digest: "d".into(),
                    risk: Risk::Low,
                    refresh: false,
                    notified_by: vec![],
                    refresh_action: None,
                    error: None,
                }],
                error: None,
            }],
        )
    }

    #[test]
    fn sealed_plan_verifies_and_round_trips() {
        let p = plan();
        assert!(p.verify());
        let back = Plan::from_json(&p.to_json_pretty()).unwrap();
        assert_eq!(back, p);
        assert!(back.verify());
        assert_eq!(p.counts().update, 1);
        assert_eq!(p.counts().changes(), 1);
    }

    #[test]
    fn the_hash_is_that_of_the_whole_plans_canonical_json() {
        // Hashed a host at a time, but the same bytes as before: plans
        // recorded by earlier versions still verify.
        let mut p = plan();
        p.hosts.push(p.hosts[0].clone());
        p.hosts[1].host.name = "web2".into();
        p.vars.insert("tier".into(), "prod".into());
        p.required_approvals.push("why".into());
        let mut whole = serde_json::to_value(&p).unwrap();
        whole.as_object_mut().unwrap().remove("hash");
        assert_eq!(p.content_hash(), sha256_hex(canonical_json(&whole)));
        let mut empty = plan();
        empty.hosts.clear();
        let mut whole = serde_json::to_value(&empty).unwrap();
        whole.as_object_mut().unwrap().remove("hash");
        assert_eq!(empty.content_hash(), sha256_hex(canonical_json(&whole)));
    }

    #[test]
    fn a_stored_plan_is_verified_a_host_at_a_time() {
        let p = plan();
        let head = Plan::verified_head(&p.to_json()).unwrap();
        assert_eq!(head.hash, p.hash);
        assert!(head.hosts.is_empty());
        assert_eq!(head.required_approvals, p.required_approvals);
        let edited = p.to_json().replace("/etc/motd", "/etc/shadow");
        assert!(Plan::verified_head(&edited).is_err());
        let mut other = serde_json::to_value(&p).unwrap();
        other["schema"] = 99.into();
        assert!(Plan::verified_head(&other.to_string()).is_err());
    }

    #[test]
    fn any_edit_breaks_the_hash() {
        let mut p = plan();
        p.hosts[0].resources[0].observed_digest = "other".into();
        assert!(!p.verify());
        let mut q = plan();
        q.hash = String::new();
        assert!(!q.verify());
    }

    #[test]
    fn approvals_and_findings_are_part_of_the_hash() {
        let mut p = plan();
        assert!(!p.needs_approval());
        p.required_approvals.push("sshd change".into());
        p.policy.push(PolicyFinding {
            kind: FindingKind::Deny,
            policy: "no deletes".into(),
            host: "web1".into(),
            resource: ResourceId::new("file", "/etc/motd"),
            message: "never".into(),
            rendered: None,
        });
        assert!(!p.verify(), "adding a requirement changes the content");
        p.seal();
        assert!(p.verify());
        assert!(p.needs_approval());
        assert_eq!(p.denials().count(), 1);
        let back = Plan::from_json(&p.to_json_pretty()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn schema_1_plans_still_read() {
        let mut v = serde_json::to_value(plan()).unwrap();
        v["schema"] = 1.into();
        let back = Plan::from_json(&v.to_string()).unwrap();
        assert!(back.required_approvals.is_empty() && back.policy.is_empty());
    }

    #[test]
    fn other_schemas_are_refused() {
        let err = Plan::from_json(r#"{"schema":99,"hosts":[]}"#).unwrap_err();
        assert!(err.contains("schema 99"), "{err}");
        assert!(Plan::from_json("nope").is_err());
    }
}
