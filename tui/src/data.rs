//! What the TUI reads, behind a small read-only trait so the views do not
//! depend on how the state store is laid out. [`StoreSource`] implements it
//! over the real [`StateStore`].

use mc_ir::plan::Plan;
use mc_state::StateStore;
use mc_state::{EventRecord, HostResult, PlanStatus, ResourceResult, RunRecord, StateLocation};

/// Everything the run-detail view shows about one run.
#[derive(Clone, Debug, Default)]
pub struct RunDetail {
    pub run: Option<RunRecord>,
    pub hosts: Vec<HostResult>,
    pub resources: Vec<ResourceResult>,
    pub events: Vec<EventRecord>,
    /// The plan the run applied, for per-resource diffs.
    pub plan: Option<Plan>,
}

/// A plan waiting for a decision.
#[derive(Clone, Debug)]
pub struct PendingPlan {
    pub hash: String,
    pub hosts: Vec<String>,
    /// The parsed plan, or why its stored body could not be read.
    pub plan: Result<Plan, String>,
    /// Its approvals so far, when its project names approvers.
    pub quorum: Option<mc_state::policy::Tally>,
}

impl PendingPlan {
    /// A policy denied some of its changes: it can be rejected, never
    /// approved.
    pub fn denied(&self) -> bool {
        matches!(&self.plan, Ok(p) if p.denials().next().is_some())
    }
}

/// The latest drift found on one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftEntry {
    pub host: String,
    pub resource: String,
    /// Seconds since the Unix epoch.
    pub detected_at: i64,
    pub summary: String,
    pub diff: Option<String>,
    /// When mc applied the resource after the drift was found (e.g. the
    /// plan of `mc drift --fix`): the drift is resolved.
    pub resolved_at: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn verb(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// Read access to runs, drift and plans, plus the one write the TUI makes:
/// a decision on a pending plan.
pub trait DataSource: Send + Sync {
    /// Runs newest first.
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, String>;
    fn run_detail(&self, run_id: i64) -> Result<RunDetail, String>;
    fn drift(&self) -> Result<Vec<DriftEntry>, String>;
    /// `pending` plans that need an approval or were denied by a policy,
    /// newest first.
    fn pending_plans(&self) -> Result<Vec<PendingPlan>, String>;
    /// Records the decision on the plan and in the audit log.
    fn decide(&self, hash: &str, decision: Decision, reason: &str) -> Result<(), String>;
}

/// The data source over a project's SQLite state store, through the
/// store's own calls only (a decision goes through the same
/// [`StateStore::decide_plan`] as `mc approve` and `mc reject`).
pub struct StoreSource {
    store: StateStore,
}

impl StoreSource {
    /// Opens the store at `location`, refusing to create a SQLite store
    /// that does not exist.
    pub fn open(location: &StateLocation) -> Result<StoreSource, String> {
        if let StateLocation::Sqlite(path) = location {
            if !path.is_file() {
                return Err(format!(
                    "no state store at {}: run `mc apply` or `mc plan` in the project first",
                    path.display()
                ));
            }
        }
        let store = StateStore::open_at(location).map_err(|e| e.to_string())?;
        StoreSource::new(store)
    }

    pub fn new(store: StateStore) -> Result<StoreSource, String> {
        Ok(StoreSource { store })
    }

    /// Where the store is (a path, or a PostgreSQL URL without password).
    pub fn location(&self) -> String {
        self.store.location()
    }
}

fn err(e: mc_state::StateError) -> String {
    e.to_string()
}

impl DataSource for StoreSource {
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, String> {
        self.store.list_runs(limit).map_err(err)
    }

    fn run_detail(&self, run_id: i64) -> Result<RunDetail, String> {
        let run = self.store.run(run_id).map_err(err)?;
        let plan = match run.as_ref().and_then(|r| r.plan_hash.as_deref()) {
            Some(hash) => self
                .store
                .plan_body(hash)
                .map_err(err)?
                .and_then(|body| Plan::from_json(&body).ok()),
            None => None,
        };
        Ok(RunDetail {
            hosts: self.store.host_results(run_id).map_err(err)?,
            resources: self.store.resource_results(run_id).map_err(err)?,
            events: self.store.events_since(run_id, 0).map_err(err)?,
            run,
            plan,
        })
    }

    fn drift(&self) -> Result<Vec<DriftEntry>, String> {
        let mut applied: std::collections::HashMap<String, std::collections::HashMap<String, i64>> =
            std::collections::HashMap::new();
        let mut out = Vec::new();
        for d in self.store.current_drift().map_err(err)? {
            if !applied.contains_key(&d.item.host) {
                let states = self.store.resource_states(&d.item.host).map_err(err)?;
                let by_resource = states
                    .into_iter()
                    .map(|s| (s.resource, s.applied_at))
                    .collect();
                applied.insert(d.item.host.clone(), by_resource);
            }
            let resolved_at = applied
                .get(&d.item.host)
                .and_then(|m| m.get(&d.item.resource))
                .copied()
                .filter(|at| *at >= d.detected_at);
            out.push(DriftEntry {
                host: d.item.host,
                resource: d.item.resource,
                detected_at: d.detected_at,
                summary: d.item.summary,
                diff: d.item.diff,
                resolved_at,
            });
        }
        Ok(out)
    }

    fn pending_plans(&self) -> Result<Vec<PendingPlan>, String> {
        let mut out = Vec::new();
        for rec in self
            .store
            .list_plans(&[PlanStatus::Pending, PlanStatus::Approved], 500)
            .map_err(err)?
        {
            let plan = match self.store.plan_body(&rec.hash).map_err(err)? {
                Some(body) => Plan::from_json(&body),
                None => Err("the stored plan has no body".to_string()),
            };
            let quorum = match &plan {
                Ok(p) => mc_state::policy::quorum(&self.store, p)?,
                Err(_) => None,
            };
            // Plans that need no (more) approval can be applied as they
            // are; a denied plan stays listed so its denial is visible. An
            // unreadable pending body is listed too rather than hidden.
            let listed = match &plan {
                Ok(p) => {
                    mc_state::policy::waits_for_approval(rec.status, p, quorum.as_ref())
                        || (rec.status == PlanStatus::Pending && p.denials().next().is_some())
                }
                Err(_) => rec.status == PlanStatus::Pending,
            };
            if !listed {
                continue;
            }
            out.push(PendingPlan {
                hash: rec.hash,
                hosts: rec.hosts,
                plan,
                quorum,
            });
        }
        Ok(out)
    }

    fn decide(&self, hash: &str, decision: Decision, reason: &str) -> Result<(), String> {
        if decision == Decision::Reject && reason.trim().is_empty() {
            return Err("a rejection needs a reason".into());
        }
        // The store refuses a plan that is no longer waiting (applied,
        // rejected, stale), with the same words as `mc approve`.
        mc_state::policy::decide(
            &self.store,
            hash,
            decision == Decision::Approve,
            reason,
            "tui",
        )?;
        Ok(())
    }
}

/// The first 12 hex digits, enough to tell plans apart on screen.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
