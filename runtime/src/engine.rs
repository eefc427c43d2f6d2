//! The planner and the executor.
//!
//! Plan: per host, in parallel: start the runner, gather facts (one
//! request), compile through the [`CatalogSource`], probe every resource (one
//! batch) and record action, changes, diff and observed digest.
//!
//! Apply: per host, in parallel up to `parallel`: (from a plan file) re-probe
//! and refuse a stale plan, then apply in the catalog's stable topological
//! order ([`mc_ir::apply_order`]), normally as one request; failures skip
//! only their dependents; notifications are persisted before they run and
//! refresh each target once. Hosts go in rollout batches
//! (`serial`, `canary`), `max_fail` checked before each host and batch.
//! Resources that `become` another user are probed and applied by a runner
//! running as that user ([`run_as`]).

use crate::hash::sha256_hex;
use crate::state::{
    self, HostResult, HostStatus, PlanStatus, ResourceResult, ResourceState, ResourceStatus,
    RunStatus, StateStore,
};
use crate::transport::{self, ConnectOptions, RunnerSession, TransportError};
use mc_ir::plan::{Action, HostPlan, Plan, PlannedResource};
use mc_ir::{Catalog, EdgeKind, HostInfo, RefreshAction, Resource, ResourceId, Value};
use mc_runner::protocol::{self, ApplyItem, Request, Response, Status};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Where catalogs come from. The CLI implements it over the compiler; tests
/// build catalogs in Rust. The runtime never parses source.
pub trait CatalogSource: Send + Sync {
    fn hosts(&self) -> Result<Vec<HostInfo>, SourceError>;
    fn compile(&self, host: &HostInfo, facts: &serde_json::Value) -> Result<Catalog, SourceError>;
    fn source_digest(&self) -> String;
    /// The command-line values of the project's parameters (`--var`),
    /// recorded in the plan.
    fn vars(&self) -> std::collections::BTreeMap<String, String> {
        Default::default()
    }
    /// Evaluates the project's policies (and its `approval_risk`) against a
    /// plan. Sources without policies need not implement it.
    fn evaluate_policies(&self, _plan: &Plan) -> crate::policy::PolicyOutcome {
        crate::policy::PolicyOutcome::default()
    }
}

/// Why a [`CatalogSource`] could not give the hosts or a host's catalog:
/// the project's diagnostics, rendered for a person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Resolves secret names to values at probe and apply time.
pub trait SecretSource: Send + Sync {
    fn resolve(&self, name: &str) -> Result<String, SecretError>;
}

/// Why a secret has no value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Neither a store nor the environment holds it.
    #[error("secret {name:?} is not set (set {var})")]
    NotSet { name: String, var: String },
    /// A store holds it but could not give it (e.g. it cannot decrypt it).
    #[error("{0}")]
    Unreadable(String),
}

/// Secrets from the environment: `secret("db_password")` reads
/// `MC_SECRET_DB_PASSWORD`.
pub struct EnvSecrets;

impl SecretSource for EnvSecrets {
    fn resolve(&self, name: &str) -> Result<String, SecretError> {
        let var: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        let var = format!("MC_SECRET_{var}");
        std::env::var(&var).map_err(|_| SecretError::NotSet {
            name: name.to_string(),
            var,
        })
    }
}

/// What a run reports as it goes; the CLI prints it, tests collect it.
pub trait Progress: Send + Sync {
    fn event(&self, host: &str, event: ProgressEvent<'_>);
    /// The run is over: a live view clears itself.
    fn finish(&self) {}
    /// A message for the person watching (e.g. "interrupted"), printed
    /// without breaking a live view.
    fn notice(&self, text: &str) {
        eprintln!("{text}");
    }
}

#[derive(Debug)]
pub enum ProgressEvent<'a> {
    Connected {
        uploaded: bool,
    },
    /// The host starts applying; `total` resources are in its plan.
    Applying {
        total: usize,
    },
    ResourceStarted(&'a ResourceId),
    Output(&'a ResourceId, &'a str),
    ResourceDone {
        id: &'a ResourceId,
        status: &'a str,
        message: &'a str,
    },
    HostDone(&'a HostResult),
    /// What the host is doing, for work without per-resource steps
    /// (`mc drift`, `mc facts`).
    Phase(&'a str),
    /// The host's drift check or fact gathering ended.
    Checked {
        error: Option<&'a str>,
    },
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {
    fn event(&self, _: &str, _: ProgressEvent<'_>) {}
}

#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Host names or group names; empty selects every host.
    pub limit: Vec<String>,
    /// Only resources carrying one of these tags (empty: all).
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    /// `--target TYPE[TITLE]`: only these resources and what they depend
    /// on (empty: all).
    pub targets: Vec<String>,
}

impl Selection {
    /// Whether `--limit` selects the host (patterns: [`crate::limit`]); an
    /// invalid pattern selects nothing ([`Runtime::select_hosts`] reports it).
    pub fn selects_host(&self, h: &HostInfo) -> bool {
        crate::limit::HostPattern::parse(&self.limit).is_ok_and(|p| p.selects(h))
    }
    /// The catalog's resources that `--target`, `--tags` and `--skip-tags`
    /// select, in catalog order.
    pub fn resources<'a>(&self, catalog: &'a Catalog) -> Vec<&'a Resource> {
        crate::target::select(catalog, &self.targets)
            .into_iter()
            .filter(|r| self.selects_resource(r))
            .collect()
    }
    pub fn selects_resource(&self, r: &Resource) -> bool {
        (self.tags.is_empty() || r.meta.tags.iter().any(|t| self.tags.contains(t)))
            && !r.meta.tags.iter().any(|t| self.skip_tags.contains(t))
    }
}

/// What `mc apply PLAN` does with resources that changed on their host
/// since the plan was made (`--stale`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StalePolicy {
    /// Refuse the stale resources and everything that depends on them
    /// (refreshes they would trigger included), apply the rest, and fail
    /// the run, so one host touched during review does not block a rollout.
    #[default]
    Skip,
    /// Refuse the whole plan before changing anything (Terraform's way).
    Abort,
}

impl std::str::FromStr for StalePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<StalePolicy, String> {
        match s {
            "skip" => Ok(StalePolicy::Skip),
            "abort" => Ok(StalePolicy::Abort),
            other => Err(format!(
                "`{other}` is not a stale policy: use `skip` (refuse only what changed and its dependents) or `abort` (refuse the whole plan)"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Re-probe and refuse what changed since the plan was made.
    pub check_stale: bool,
    /// Refuse only the stale resources (and dependents), or the whole plan.
    pub stale: StalePolicy,
    /// Stop starting new hosts once more than this many hosts failed.
    pub max_fail: Option<usize>,
    /// Per-resource timeout when the resource sets none.
    pub default_timeout: Duration,
    /// Apply hosts in successive batches of this size (`serial`); `None`:
    /// one batch of every host.
    pub serial: Option<Serial>,
    /// The first batch is a single host.
    pub canary: bool,
    /// Set (by Ctrl-C / SIGTERM in the CLI) to stop starting new work:
    /// resources already running finish or time out, the rest are skipped,
    /// and the run is recorded `interrupted`.
    pub interrupt: Interrupt,
    /// Who may approve and how many must; `None`: the rule sealed in the
    /// plan (right for a plan made in this same run).
    pub approval_rule: Option<crate::policy::ApprovalRule>,
    /// `--break-glass --reason`: apply without the approvals, recorded as
    /// a `break-glass` run with this reason in the audit log.
    pub break_glass: Option<String>,
}

/// A shared "stop starting new work" flag, which runs in progress can also
/// wait on (to pass the stop on to their runner).
#[derive(Clone, Debug)]
pub struct Interrupt(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt(Arc::new(tokio::sync::watch::channel(false).0))
    }
}

impl Interrupt {
    pub fn request(&self) {
        self.0.send_replace(true);
    }
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// Why work that was never started is skipped after an interrupt.
pub const INTERRUPTED: &str = mc_runner::session::INTERRUPTED;

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            check_stale: true,
            stale: StalePolicy::default(),
            max_fail: None,
            default_timeout: Duration::from_secs(600),
            serial: None,
            canary: false,
            interrupt: Interrupt::default(),
            approval_rule: None,
            break_glass: None,
        }
    }
}

pub use mc_ir::Serial;

/// Cuts `hosts` hosts into rollout batches and returns their sizes, in
/// order. `canary` makes the first batch one host; the rest follow in
/// batches of `serial` (all at once without it).
pub fn rollout_batches(hosts: usize, serial: Option<Serial>, canary: bool) -> Vec<usize> {
    let size = match serial {
        None => hosts,
        Some(Serial::Hosts(n)) => n,
        Some(Serial::Percent(p)) => (hosts * p as usize).div_ceil(100),
    }
    .max(1);
    let mut out = Vec::new();
    let mut left = hosts;
    if canary && left > 0 {
        out.push(1);
        left -= 1;
    }
    while left > 0 {
        let n = size.min(left);
        out.push(n);
        left -= n;
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("{0}")]
    Source(String),
    #[error("the plan file was modified after it was written (hash mismatch)")]
    PlanTampered,
    #[error("this plan was already applied (run {0}); run `mc plan` again")]
    PlanAlreadyApplied(i64),
    #[error("this plan is stale and was refused earlier; run `mc plan` again")]
    PlanStale,
    #[error("{}", stale_message(.0))]
    Stale(Vec<(String, ResourceId)>),
    #[error("{0}")]
    Policy(crate::policy::Refusal),
    #[error("cannot start the async runtime: {0}")]
    AsyncRuntime(std::io::Error),
}

fn stale_message(items: &[(String, ResourceId)]) -> String {
    let mut s = String::from(
        "the plan is stale: these resources changed on the host since the plan was made, nothing was applied:",
    );
    for (host, id) in items {
        s.push_str(&format!("\n  {host}: {id}"));
    }
    s.push_str("\nrun `mc plan` again");
    s
}

/// A plan plus the runner sessions it opened, so `mc apply` without a plan
/// file applies over the same connections.
pub struct Planned {
    pub plan: Plan,
    pub sessions: HashMap<String, RunnerSession>,
}

impl Planned {
    pub async fn close(self) {
        transport::close_all(self.sessions.into_values()).await;
    }
}

#[derive(Clone, Debug, Default)]
pub struct ApplyReport {
    pub run_id: i64,
    pub hosts: Vec<HostResult>,
    /// Per host: whether the runner was uploaded in this run.
    pub uploads: BTreeMap<String, bool>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.hosts.iter().all(|h| h.status == HostStatus::Ok)
    }
    pub fn changed(&self) -> u32 {
        self.hosts.iter().map(|h| h.changed).sum()
    }
}

pub struct Runtime {
    pub store: Arc<StateStore>,
    pub connect: ConnectOptions,
    pub secrets: Arc<dyn SecretSource>,
    pub parallel: usize,
    /// Recorded in plans (see [`Plan::project`]).
    pub project: Option<String>,
    /// How long an apply waits for another run's lock on its hosts before
    /// it is refused (Terraform's `-lock-timeout`; zero: refuse at once).
    pub lock_timeout: std::time::Duration,
}

impl Runtime {
    pub fn new(store: Arc<StateStore>, connect: ConnectOptions) -> Runtime {
        Runtime {
            store,
            connect,
            secrets: Arc::new(EnvSecrets),
            parallel: 16,
            project: None,
            lock_timeout: std::time::Duration::ZERO,
        }
    }

    /// The hosts a selection picks, in inventory order.
    pub fn select_hosts(
        source: &dyn CatalogSource,
        sel: &Selection,
    ) -> Result<Vec<HostInfo>, RuntimeError> {
        let hosts = source
            .hosts()
            .map_err(|e| RuntimeError::Source(e.to_string()))?;
        let pattern = crate::limit::HostPattern::parse(&sel.limit).map_err(RuntimeError::Source)?;
        if let Some(term) = pattern.unmatched(&hosts) {
            return Err(RuntimeError::Source(format!(
                "--limit {term:?} matches no host or group of the inventory"
            )));
        }
        Ok(hosts.into_iter().filter(|h| pattern.selects(h)).collect())
    }

    /// Gathers facts of the selected hosts (and caches them).
    pub async fn facts(
        &self,
        hosts: Vec<HostInfo>,
        progress: Arc<dyn Progress>,
    ) -> Vec<(String, Result<serde_json::Value, String>)> {
        let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
        let gathered = per_host(hosts, self.parallel, |host| {
            let (opts, store) = (self.connect.clone(), self.store.clone());
            let progress = progress.clone();
            async move {
                progress.event(&host.name, ProgressEvent::Phase("gathering facts"));
                let r = connect_and_gather_facts(&host, &opts, &store).await;
                let error = r.as_ref().err().map(String::as_str);
                progress.event(&host.name, ProgressEvent::Checked { error });
                r
            }
        })
        .await;
        match gathered {
            Ok(facts) => names.into_iter().zip(facts).collect(),
            Err(e) => {
                let why = format!("gathering facts failed: {e}");
                names.into_iter().map(|n| (n, Err(why.clone()))).collect()
            }
        }
    }

    /// Plans the selected hosts. Connections stay open in the result.
    pub async fn plan(
        &self,
        source: Arc<dyn CatalogSource>,
        sel: &Selection,
        progress: Arc<dyn Progress>,
    ) -> Result<Planned, RuntimeError> {
        let hosts = Self::select_hosts(source.as_ref(), sel)?;
        let source_digest = source.source_digest();
        let run_span = tracing::info_span!("mc.plan", hosts = hosts.len());
        let results = per_host(hosts, self.parallel, |host| {
            let span = tracing::info_span!(parent: &run_span, "host", host = %host.name);
            let (source, opts, store) = (source.clone(), self.connect.clone(), self.store.clone());
            let (secrets, sel, progress) = (self.secrets.clone(), sel.clone(), progress.clone());
            async move {
                let early = compile_from_cached_facts(source.clone(), store.clone(), host.clone());
                plan_host(
                    host,
                    source.as_ref(),
                    &opts,
                    &store,
                    secrets.as_ref(),
                    &sel,
                    progress.as_ref(),
                    early,
                )
                .await
            }
            .instrument(span)
        })
        .await
        .map_err(|e| RuntimeError::Source(format!("planning task failed: {e}")))?;
        let mut sessions = HashMap::new();
        let mut host_plans = Vec::new();
        for (hp, s) in results {
            if let Some(s) = s {
                sessions.insert(hp.host.name.clone(), s);
            }
            host_plans.push(hp);
        }
        let mut plan = Plan::new(state::now(), source_digest, host_plans);
        plan.nonce = mc_ir::plan::fresh_nonce();
        plan.project = self.project.clone();
        plan.vars = source.vars();
        source.evaluate_policies(&plan).seal_into(&mut plan);
        self.save_plan(&plan)?;
        Ok(Planned { plan, sessions })
    }

    /// Records a sealed plan as `pending`, with its audit entry: only
    /// plans recorded this way can be applied.
    pub fn save_plan(&self, plan: &Plan) -> Result<(), RuntimeError> {
        let body = plan.to_json();
        let c = plan.counts();
        let detail = serde_json::json!({
            "hosts": plan.host_names(),
            "create": c.create, "update": c.update, "delete": c.delete,
            "refresh": c.refresh, "errors": c.errors,
            "required_approvals": plan.required_approvals,
            "denied": plan.denials().count(),
        });
        self.store.save_plan(
            &plan.hash,
            &plan.source_digest,
            &plan.host_names(),
            &body,
            &detail,
        )?;
        Ok(())
    }

    /// Applies a plan. `sessions` are connections left open by [`Runtime::plan`]
    /// (empty when applying a plan file). Holds the apply lock on the plan's
    /// hosts for the whole run.
    pub async fn apply(
        &self,
        plan: &Plan,
        mut sessions: HashMap<String, RunnerSession>,
        opts: &ApplyOptions,
        progress: Arc<dyn Progress>,
    ) -> Result<ApplyReport, RuntimeError> {
        let refused = |e: RuntimeError| -> Result<ApplyReport, RuntimeError> {
            self.store.audit(
                "apply.refused",
                &serde_json::json!({ "plan": plan.hash, "error": e.to_string() }),
            )?;
            Err(e)
        };
        if !plan.verify() {
            return refused(RuntimeError::PlanTampered);
        }
        match self.store.plan(&plan.hash)? {
            Some(rec) if rec.status == PlanStatus::Applied => {
                return refused(RuntimeError::PlanAlreadyApplied(rec.run_id.unwrap_or(0)))
            }
            Some(rec) if rec.status == PlanStatus::Stale => {
                return refused(RuntimeError::PlanStale)
            }
            _ => {}
        }
        let rule = opts
            .approval_rule
            .clone()
            .unwrap_or_else(|| crate::policy::ApprovalRule::of_plan(plan));
        let glass = opts.break_glass.is_some();
        if let Err(r) = crate::policy::check_plan_in(&self.store, plan, &rule, glass) {
            return refused(RuntimeError::Policy(r));
        }
        let hosts = plan.host_names();
        let kind = if glass { "break-glass" } else { "apply" };
        let run_id = self
            .store
            .start_run(kind, Some(&plan.hash), &plan.source_digest, &hosts)?;
        if let Some(reason) = &opts.break_glass {
            self.store.audit(
                "apply.break_glass",
                &serde_json::json!({
                    "plan": plan.hash, "run": run_id, "reason": reason, "hosts": hosts,
                    "skipped_approvals": plan.required_approvals,
                }),
            )?;
        }
        let locked = {
            let (store, hosts, wait) = (self.store.clone(), hosts.clone(), self.lock_timeout);
            tokio::task::spawn_blocking(move || store.acquire_lock_waiting(&hosts, run_id, wait))
                .await
                .unwrap_or_else(|e| Err(state::StateError::Other(format!("taking the lock: {e}"))))
        };
        if let Err(e) = locked {
            self.store.finish_run(
                run_id,
                RunStatus::Refused,
                &serde_json::json!({ "error": e.to_string() }),
            )?;
            return refused(e.into());
        }
        let short = plan.hash.get(..12).unwrap_or(&plan.hash);
        let result = self
            .apply_locked(plan, &mut sessions, opts, progress, run_id)
            .instrument(tracing::info_span!("mc.apply", run = run_id, plan = short))
            .await;
        transport::close_all(sessions.into_values()).await;
        let release = self.store.release_lock(run_id);
        let report = result?;
        release?;
        if let Some(agents) = &self.connect.agents {
            let notes = crate::agents::desired::publish(
                agents,
                plan,
                &report,
                self.secrets.as_ref(),
                self.connect.connect_timeout,
            )
            .await;
            for n in notes {
                eprintln!("note: {n}");
            }
        }
        Ok(report)
    }

    async fn apply_locked(
        &self,
        plan: &Plan,
        sessions: &mut HashMap<String, RunnerSession>,
        opts: &ApplyOptions,
        progress: Arc<dyn Progress>,
        run_id: i64,
    ) -> Result<ApplyReport, RuntimeError> {
        self.claim_plan(plan, opts, run_id)?;
        self.store.audit(
            "apply.start",
            &serde_json::json!({ "run": run_id, "plan": plan.hash, "hosts": plan.host_names() }),
        )?;
        let spans = HostSpans::of(plan);
        let prepared = self
            .prepare_hosts(plan, sessions, opts, &progress, &spans)
            .await?;
        let prepared = self
            .follow_stale_policy(plan, prepared, opts, run_id)
            .await?;
        let ctx = ApplyContext {
            store: self.store.clone(),
            secrets: self.secrets.clone(),
            progress,
            opts: opts.clone(),
            run_id,
            failed_hosts: Arc::new(Mutex::new(0)),
        };
        let report = self.apply_in_batches(prepared, ctx, &spans).await?;
        self.finish_apply(&report, opts)?;
        Ok(report)
    }

    /// Marks the plan as being applied by `run_id`, or refuses the run: the
    /// plan was applied already, went stale, or lost its approval.
    fn claim_plan(
        &self,
        plan: &Plan,
        opts: &ApplyOptions,
        run_id: i64,
    ) -> Result<(), RuntimeError> {
        let needs_approval = plan.needs_approval() && opts.break_glass.is_none();
        if self
            .store
            .claim_plan_for_apply(&plan.hash, run_id, needs_approval)?
        {
            return Ok(());
        }
        let rec = self.store.plan(&plan.hash)?;
        let msg = "plan already applied";
        self.store.finish_run(
            run_id,
            RunStatus::Refused,
            &serde_json::json!({ "error": msg }),
        )?;
        Err(match rec {
            Some(r) if r.status == PlanStatus::Stale => RuntimeError::PlanStale,
            Some(r) if r.status == PlanStatus::Pending || r.status == PlanStatus::Rejected => {
                RuntimeError::Policy(crate::policy::Refusal::Unapproved {
                    hash: plan.hash.clone(),
                    status: r.status,
                    reasons: plan.required_approvals.clone(),
                })
            }
            Some(r) => RuntimeError::PlanAlreadyApplied(r.run_id.unwrap_or(0)),
            None => RuntimeError::Source(msg.into()),
        })
    }

    /// Phase 1 of an apply: a session per host (the plan's, or a new one)
    /// and, for a plan file, what changed on the host since the plan.
    async fn prepare_hosts(
        &self,
        plan: &Plan,
        sessions: &mut HashMap<String, RunnerSession>,
        opts: &ApplyOptions,
        progress: &Arc<dyn Progress>,
        spans: &HostSpans,
    ) -> Result<Vec<PreparedHost>, RuntimeError> {
        per_host(&plan.hosts, self.parallel, |hp| {
            let existing = sessions.remove(&hp.host.name);
            let remembered = remembered_sensitive(&self.store, &hp.host.name);
            let (hp, connect) = (hp.clone(), self.connect.clone());
            let (secrets, progress) = (self.secrets.clone(), progress.clone());
            let check_stale = opts.check_stale && hp.catalog.is_some();
            let span = spans.get(&hp.host.name);
            async move {
                let session = match existing {
                    Some(s) => Ok(s),
                    None => open_session(&hp, &connect, progress.as_ref()).await,
                };
                let (session, stale) = match session {
                    Ok(mut s) if check_stale => {
                        match reprobe_stale(&mut s, &hp, secrets.as_ref(), &remembered)
                            .instrument(tracing::info_span!("probe"))
                            .await
                        {
                            Ok(stale) => (Ok(s), stale),
                            Err(e) => (Err(e), vec![]),
                        }
                    }
                    other => (other, vec![]),
                };
                PreparedHost { hp, session, stale }
            }
            .instrument(span)
        })
        .await
        .map_err(|e| RuntimeError::Source(format!("apply task failed: {e}")))
    }

    /// What `--stale` says about resources that changed since the plan:
    /// `skip` audits them and goes on (they are refused host by host),
    /// `abort` closes every session and refuses the run.
    async fn follow_stale_policy(
        &self,
        plan: &Plan,
        prepared: Vec<PreparedHost>,
        opts: &ApplyOptions,
        run_id: i64,
    ) -> Result<Vec<PreparedHost>, RuntimeError> {
        let stale: Vec<(String, ResourceId)> = prepared
            .iter()
            .flat_map(|p| {
                p.stale
                    .iter()
                    .map(|id| (p.hp.host.name.clone(), id.clone()))
            })
            .collect();
        if stale.is_empty() {
            return Ok(prepared);
        }
        let items: Vec<String> = stale.iter().map(|(h, r)| format!("{h}: {r}")).collect();
        if opts.stale == StalePolicy::Skip {
            self.store.audit(
                "apply.stale_skipped",
                &serde_json::json!({ "run": run_id, "plan": plan.hash, "stale": items }),
            )?;
            return Ok(prepared);
        }
        for p in prepared {
            if let Ok(s) = p.session {
                s.close().await;
            }
        }
        self.store
            .set_plan_status(&plan.hash, PlanStatus::Stale, Some(run_id))?;
        self.store.audit(
            "apply.refused_stale",
            &serde_json::json!({ "run": run_id, "plan": plan.hash, "stale": items }),
        )?;
        let err = RuntimeError::Stale(stale);
        self.store.finish_run(
            run_id,
            RunStatus::Refused,
            &serde_json::json!({ "error": err.to_string() }),
        )?;
        Err(err)
    }

    /// Phase 2 of an apply: the hosts in rollout batches, each batch's
    /// hosts in parallel; a batch starts once the previous one finished.
    async fn apply_in_batches(
        &self,
        prepared: Vec<PreparedHost>,
        ctx: ApplyContext,
        spans: &HostSpans,
    ) -> Result<ApplyReport, RuntimeError> {
        let uploads = prepared
            .iter()
            .filter_map(|p| {
                let s = p.session.as_ref().ok()?;
                Some((p.hp.host.name.clone(), s.uploaded))
            })
            .collect();
        let batches = rollout_batches(prepared.len(), ctx.opts.serial, ctx.opts.canary);
        let mut queue = prepared.into_iter();
        let mut hosts = Vec::new();
        for size in batches {
            let batch = queue.by_ref().take(size);
            let done = per_host(batch, self.parallel, |p| {
                let span = spans.get(&p.hp.host.name);
                ctx.clone().apply_prepared(p).instrument(span)
            })
            .await
            .map_err(|e| RuntimeError::Source(format!("apply task failed: {e}")))?;
            hosts.extend(done);
        }
        Ok(ApplyReport {
            run_id: ctx.run_id,
            hosts,
            uploads,
        })
    }

    /// Records the run's outcome and its audit entry.
    fn finish_apply(&self, report: &ApplyReport, opts: &ApplyOptions) -> Result<(), RuntimeError> {
        let status = if opts.interrupt.requested() {
            RunStatus::Interrupted
        } else if report.ok() {
            RunStatus::Ok
        } else {
            RunStatus::Failed
        };
        let mut summary = serde_json::json!({
            "changed": report.changed(),
            "failed_hosts": report.hosts.iter().filter(|h| h.status != HostStatus::Ok).count(),
            "skipped_hosts": report.hosts.iter().filter(|h| h.status == HostStatus::Skipped).count(),
            "hosts": report.hosts.len(),
        });
        if let Some(reason) = &opts.break_glass {
            summary["break_glass"] = reason.as_str().into();
        }
        let run_id = report.run_id;
        self.store.finish_run(run_id, status, &summary)?;
        self.store.audit(
            "apply.finish",
            &serde_json::json!({ "run": run_id, "status": status, "summary": summary }),
        )?;
        Ok(())
    }
}

/// Runs `task` on each item (one per host), at most `parallel` at a time,
/// and returns the results in the items' order. Tasks start in order, so a
/// later host sees what the ones before it recorded (`max_fail`). Fails
/// when a task panicked.
pub(crate) async fn per_host<I, T, Fut>(
    items: impl IntoIterator<Item = I>,
    parallel: usize,
    mut task: impl FnMut(I) -> Fut,
) -> Result<Vec<T>, tokio::task::JoinError>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let slots = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let slot = slots.clone().acquire_owned().await;
        let work = task(item);
        tasks.spawn(async move {
            let _slot = slot;
            (i, work.await)
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        done.push(joined?);
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, t)| t).collect())
}

/// Connects to `host`, gathers its facts and caches them.
async fn connect_and_gather_facts(
    host: &HostInfo,
    opts: &ConnectOptions,
    store: &StateStore,
) -> Result<serde_json::Value, String> {
    let mut s = transport::connect(host, opts)
        .await
        .map_err(|e| e.to_string())?;
    let facts = gather_facts(&mut s).await;
    s.close().await;
    let facts = facts?;
    let _ = store.cache_facts(&host.name, &facts);
    Ok(facts)
}

/// One span per host across both phases of an apply (for traces and `-v`).
struct HostSpans(HashMap<String, tracing::Span>);

impl HostSpans {
    fn of(plan: &Plan) -> HostSpans {
        let run_span = tracing::Span::current();
        let spans = plan.hosts.iter().map(|hp| {
            let name = hp.host.name.clone();
            let span = tracing::info_span!(parent: &run_span, "host", host = %name);
            (name, span)
        });
        HostSpans(spans.collect())
    }

    fn get(&self, host: &str) -> tracing::Span {
        self.0
            .get(host)
            .cloned()
            .unwrap_or_else(tracing::Span::none)
    }
}

/// A host ready to apply: its plan, its session (or why it has none) and
/// the resources that changed on it since the plan was made.
struct PreparedHost {
    hp: HostPlan,
    session: Result<RunnerSession, String>,
    stale: Vec<ResourceId>,
}

/// A new session for an apply from a plan file; none for a host the plan
/// could not compile.
async fn open_session(
    hp: &HostPlan,
    connect: &ConnectOptions,
    progress: &dyn Progress,
) -> Result<RunnerSession, String> {
    if hp.catalog.is_none() {
        return Err(hp.error.clone().unwrap_or_else(|| "no catalog".into()));
    }
    let s = transport::connect(&hp.host, connect)
        .instrument(tracing::info_span!("connect"))
        .await
        .map_err(|e| e.to_string())?;
    progress.event(
        &hp.host.name,
        ProgressEvent::Connected {
            uploaded: s.uploaded,
        },
    );
    Ok(s)
}

/// What every host's apply shares.
#[derive(Clone)]
struct ApplyContext {
    store: Arc<StateStore>,
    secrets: Arc<dyn SecretSource>,
    progress: Arc<dyn Progress>,
    opts: ApplyOptions,
    run_id: i64,
    /// Hosts that did not end `ok` so far, for `max_fail`.
    failed_hosts: Arc<Mutex<usize>>,
}

impl ApplyContext {
    /// Applies one prepared host, or records why it was not started, and
    /// records its result.
    async fn apply_prepared(self, p: PreparedHost) -> HostResult {
        let result = match (self.reason_not_to_start(), p.session) {
            (Some(why), session) => {
                if let Ok(s) = session {
                    s.close().await;
                }
                skip_host(&self.store, self.run_id, &p.hp, HostStatus::Skipped, why)
            }
            (None, Ok(s)) => {
                let stale = p.stale.into_iter().collect();
                self.apply_over(s, &p.hp, &stale).await
            }
            (None, Err(e)) => skip_host(&self.store, self.run_id, &p.hp, HostStatus::Failed, &e),
        };
        if result.status != HostStatus::Ok {
            *self.failed_hosts.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        }
        let _ = self.store.record_host_result(self.run_id, &result);
        self.progress
            .event(&result.host, ProgressEvent::HostDone(&result));
        result
    }

    /// Why a host is not started: the run was interrupted, or more hosts
    /// failed than `max_fail` allows.
    fn reason_not_to_start(&self) -> Option<&'static str> {
        let over_budget = self
            .opts
            .max_fail
            .is_some_and(|m| *self.failed_hosts.lock().unwrap_or_else(|e| e.into_inner()) > m);
        if self.opts.interrupt.requested() {
            Some(INTERRUPTED)
        } else if over_budget {
            Some("not started: max_fail exceeded")
        } else {
            None
        }
    }

    /// Applies the host over its session, then closes it.
    async fn apply_over(
        &self,
        mut s: RunnerSession,
        hp: &HostPlan,
        stale: &BTreeSet<ResourceId>,
    ) -> HostResult {
        let (store, run_id, host) = (&self.store, self.run_id, hp.host.name.as_str());
        let _ = store.record_event(run_id, host, None, "host-started", None);
        let r = apply_host(&mut s, hp, stale, self)
            .instrument(tracing::info_span!("apply"))
            .await;
        s.close().await;
        let _ = store.record_event(run_id, host, None, "host-done", Some(r.status.as_str()));
        r
    }
}

/// Bounds on read-only requests; a runner stuck longer is treated as lost.
const FACTS_TIMEOUT: Duration = Duration::from_secs(120);
const PROBE_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) async fn gather_facts(s: &mut RunnerSession) -> Result<serde_json::Value, String> {
    let answer = tokio::time::timeout(FACTS_TIMEOUT, s.request(&Request::Facts, |_| {}))
        .await
        .unwrap_or(Err(TransportError::Timeout(FACTS_TIMEOUT)));
    match answer {
        Ok(Response::Facts { facts }) => Ok(facts),
        Ok(Response::Error { message, .. }) => Err(format!("facts: {message}")),
        Ok(other) => Err(format!("facts: unexpected answer {}", other.to_line())),
        Err(e) => Err(e.to_string()),
    }
}

/// A host's catalog compiled from the facts it gave last time, on a
/// blocking thread while its ssh connection is made (mostly the key
/// exchange): when the facts have not changed, the catalog is ready when
/// they arrive instead of being compiled after them. `None` without
/// cached facts.
type EarlyCatalog =
    tokio::task::JoinHandle<Option<(serde_json::Value, Result<Catalog, SourceError>)>>;

fn compile_from_cached_facts(
    source: Arc<dyn CatalogSource>,
    store: Arc<StateStore>,
    host: HostInfo,
) -> EarlyCatalog {
    tokio::task::spawn_blocking(move || {
        let (facts, _) = store.cached_facts(&host.name).ok().flatten()?;
        let compiled = tracing::info_span!("compile").in_scope(|| source.compile(&host, &facts));
        Some((facts, compiled))
    })
}

#[allow(clippy::too_many_arguments)]
async fn plan_host(
    host: HostInfo,
    source: &dyn CatalogSource,
    opts: &ConnectOptions,
    store: &StateStore,
    secrets: &dyn SecretSource,
    sel: &Selection,
    progress: &dyn Progress,
    early: EarlyCatalog,
) -> (HostPlan, Option<RunnerSession>) {
    let failed = |host: HostInfo, e: String| HostPlan {
        host,
        catalog: None,
        resources: vec![],
        error: Some(e),
    };
    let mut session = match transport::connect(&host, opts)
        .instrument(tracing::info_span!("connect"))
        .await
    {
        Ok(s) => s,
        Err(e) => return (unreachable(host, e.to_string(), source, store), None),
    };
    progress.event(
        &host.name,
        ProgressEvent::Connected {
            uploaded: session.uploaded,
        },
    );
    let facts = match gather_facts(&mut session)
        .instrument(tracing::info_span!("facts"))
        .await
    {
        Ok(f) => f,
        Err(e) => {
            session.close().await;
            return (failed(host, e), None);
        }
    };
    let _ = store.cache_facts(&host.name, &facts);
    let compiled = match early.await.ok().flatten() {
        Some((cached, compiled)) if cached == facts => compiled,
        _ => tracing::info_span!("compile").in_scope(|| source.compile(&host, &facts)),
    };
    let catalog = match compiled {
        Ok(c) => c,
        Err(e) => {
            session.close().await;
            return (failed(host, format!("compile: {e}")), None);
        }
    };
    let selected: Vec<&Resource> = sel.resources(&catalog);
    let pending: HashMap<String, RefreshAction> = store
        .pending_notifications(&host.name)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let remembered = remembered_sensitive(store, &host.name);
    let probed = match probe(&mut session, &selected, secrets, &remembered)
        .instrument(tracing::info_span!("probe"))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            session.close().await;
            return (failed(host, e), None);
        }
    };
    // Listed in the order they will apply, so the plan shows that order.
    let declared: Vec<ResourceId> = selected.iter().map(|r| r.id.clone()).collect();
    let position: HashMap<ResourceId, usize> = mc_ir::apply_order(&declared, &catalog.edges)
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    let mut selected = selected;
    selected.sort_by_key(|r| position.get(&r.id).copied().unwrap_or(usize::MAX));
    let resources = selected
        .iter()
        .map(|r| {
            let mut pr = match probed.get(&r.id) {
                Some(Ok(p)) => planned_from_probe(r, p),
                Some(Err(e)) => unprobed_resource(r, e.clone()),
                None => unprobed_resource(r, "the runner returned no probe result".into()),
            };
            if let Some(action) = pending.get(r.id.as_str()) {
                pr.refresh = true;
                pr.refresh_action = (*action != RefreshAction::OnNotify).then_some(*action);
            }
            pr
        })
        .collect();
    let mut hp = HostPlan {
        host,
        catalog: Some(catalog),
        resources,
        error: None,
    };
    hp.link_refreshes();
    (hp, Some(session))
}

/// The plan of a host that could not be reached. An agent host keeps a
/// catalog compiled from its cached facts: `mc apply` stores it for the
/// agent to converge to when it is back.
fn unreachable(
    host: HostInfo,
    error: String,
    source: &dyn CatalogSource,
    store: &StateStore,
) -> HostPlan {
    let catalog = match (host.transport, store.cached_facts(&host.name)) {
        (mc_ir::Transport::Agent, Ok(Some((facts, _)))) => source.compile(&host, &facts).ok(),
        _ => None,
    };
    HostPlan {
        host,
        catalog,
        resources: vec![],
        error: Some(error),
    }
}

pub(crate) fn unprobed_resource(r: &Resource, error: String) -> PlannedResource {
    PlannedResource {
        id: r.id.clone(),
        action: Action::None,
        changes: vec![],
        content_diff: None,
        observed_digest: String::new(),
        risk: r.meta.risk,
        refresh: false,
        notified_by: vec![],
        refresh_action: None,
        error: Some(error),
    }
}

pub(crate) fn planned_from_probe(r: &Resource, p: &protocol::ProbeResult) -> PlannedResource {
    PlannedResource {
        id: r.id.clone(),
        action: p.action,
        changes: p.changes.clone(),
        content_diff: p.content_diff.clone(),
        observed_digest: p.observed_digest.clone(),
        risk: r.meta.risk,
        refresh: false,
        notified_by: vec![],
        refresh_action: None,
        error: p.error.clone(),
    }
}

/// Resolves every secret in a value to plain text.
fn resolve_value(v: &Value, secrets: &dyn SecretSource) -> Result<Value, SecretError> {
    Ok(match v {
        Value::Secret(s) => {
            let mut out = String::new();
            for part in &s.parts {
                match part {
                    mc_ir::SecretPart::Text(t) => out.push_str(t),
                    mc_ir::SecretPart::Secret(n) => {
                        let value = secrets.resolve(n)?;
                        crate::scrub::remember(&value);
                        out.push_str(&value);
                    }
                }
            }
            crate::scrub::remember(&out);
            Value::String(out)
        }
        Value::List(l) => Value::List(
            l.iter()
                .map(|x| resolve_value(x, secrets))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), resolve_value(x, secrets)?)))
                .collect::<Result<_, SecretError>>()?,
        ),
        other => other.clone(),
    })
}

/// The digest the runner compares a sensitive attribute against: sha256 of
/// the resolved string (or of the canonical JSON of a resolved structure).
fn sensitive_digest(v: &Value) -> String {
    match v {
        Value::String(s) => sha256_hex(s.as_bytes()),
        other => {
            let json = serde_json::to_value(other).unwrap_or(serde_json::Value::Null);
            sha256_hex(protocol::canonical_json(&json).as_bytes())
        }
    }
}

pub(crate) type ProbeMap = HashMap<ResourceId, Result<protocol::ProbeResult, String>>;

/// Per resource id, the attributes that held a secret when it was last
/// applied. The host may still hold that secret, so a probe treats them as
/// sensitive even when the new value is plain: the plan never shows it.
pub(crate) type Remembered = HashMap<String, Vec<String>>;

/// What the store remembers of `host`'s sensitive attributes.
pub(crate) fn remembered_sensitive(store: &StateStore, host: &str) -> Remembered {
    store
        .resource_states(host)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.sensitive.is_empty())
        .map(|s| (s.resource, s.sensitive))
        .collect()
}

/// The user a resource's provider must run as, when not the host's runner:
/// `become_user` (which implies `become`), or root for `become = true`.
/// `become = false` keeps the host's runner.
pub fn run_as(r: &Resource) -> Option<&str> {
    match (r.meta.r#become, r.meta.become_user.as_deref()) {
        (Some(false), _) => None,
        (_, Some(user)) => Some(user),
        (Some(true), None) => Some("root"),
        (None, None) => None,
    }
}

/// Cuts items into runs of consecutive items with the same [`run_as`], so
/// each run goes to one runner and source order is kept.
fn runs_by_user<T>(items: &[T], res: impl Fn(&T) -> &Resource) -> Vec<(Option<&str>, Vec<usize>)> {
    let mut out: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let user = run_as(res(it));
        match out.last_mut() {
            Some((u, idx)) if *u == user => idx.push(i),
            _ => out.push((user, vec![i])),
        }
    }
    out
}

/// Probes resources: one batch per user they run as (one batch when no
/// resource sets `become`/`become_user`). A resource whose runner cannot be
/// started (sudo refused) reports that error, like an unresolvable secret;
/// only the host's own runner failing fails the whole probe.
pub(crate) async fn probe(
    s: &mut RunnerSession,
    resources: &[&Resource],
    secrets: &dyn SecretSource,
    remembered: &Remembered,
) -> Result<ProbeMap, String> {
    let mut by_user: Vec<(Option<&str>, Vec<&Resource>)> = Vec::new();
    for r in resources {
        let user = run_as(r);
        match by_user.iter_mut().find(|(u, _)| *u == user) {
            Some((_, rs)) => rs.push(r),
            None => by_user.push((user, vec![r])),
        }
    }
    let mut out: ProbeMap = HashMap::new();
    for (user, rs) in by_user {
        let runner = match s.runner_for(user).await {
            Ok(runner) => runner,
            Err(e) => {
                for r in rs {
                    out.insert(r.id.clone(), Err(e.to_string()));
                }
                continue;
            }
        };
        match probe_batch(runner, &rs, secrets, remembered).await {
            Ok(m) => out.extend(m),
            Err(e) if user.is_none() => return Err(e),
            Err(e) => {
                for r in rs {
                    out.insert(r.id.clone(), Err(e.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// Probes resources in one batch on one runner. A resource whose secrets
/// cannot be resolved is not sent and reports the error instead.
async fn probe_batch(
    s: &mut RunnerSession,
    resources: &[&Resource],
    secrets: &dyn SecretSource,
    remembered: &Remembered,
) -> Result<ProbeMap, String> {
    let mut out: ProbeMap = HashMap::new();
    let mut batch = Vec::new();
    let mut sensitive = BTreeMap::new();
    'res: for r in resources {
        let mut digests = BTreeMap::new();
        let was_secret = remembered.get(r.id.as_str());
        for (k, v) in &r.attrs {
            if !v.contains_secret() {
                if was_secret.is_some_and(|w| w.contains(k)) && *v != Value::Null {
                    digests.insert(k.clone(), sensitive_digest(v));
                }
            } else {
                match resolve_value(v, secrets) {
                    Ok(resolved) => {
                        digests.insert(k.clone(), sensitive_digest(&resolved));
                    }
                    Err(e) => {
                        out.insert(r.id.clone(), Err(e.to_string()));
                        continue 'res;
                    }
                }
            }
        }
        if !digests.is_empty() {
            sensitive.insert(r.id.clone(), digests);
        }
        batch.push((*r).clone());
    }
    if batch.is_empty() {
        return Ok(out);
    }
    let req = Request::Probe {
        resources: batch,
        sensitive,
    };
    let answer = tokio::time::timeout(PROBE_TIMEOUT, s.request(&req, |_| {}))
        .await
        .unwrap_or(Err(TransportError::Timeout(PROBE_TIMEOUT)));
    match answer {
        Ok(Response::Probed { results }) => {
            for p in results {
                out.insert(p.id.clone(), Ok(p));
            }
            Ok(out)
        }
        Ok(Response::Error { message, .. }) => Err(format!("probe: {message}")),
        Ok(other) => Err(format!("probe: unexpected answer {}", other.to_line())),
        Err(e) => Err(e.to_string()),
    }
}

/// Re-probes a host's planned resources and returns those whose observed
/// state no longer matches the plan.
async fn reprobe_stale(
    s: &mut RunnerSession,
    hp: &HostPlan,
    secrets: &dyn SecretSource,
    remembered: &Remembered,
) -> Result<Vec<ResourceId>, String> {
    let Some(catalog) = &hp.catalog else {
        return Ok(vec![]);
    };
    // An empty observed digest: not probed at plan time (a resource a drift
    // fix only refreshes), so there is nothing to compare.
    let observed = |p: &&PlannedResource| p.error.is_none() && !p.observed_digest.is_empty();
    let resources: Vec<&Resource> = hp
        .resources
        .iter()
        .filter(observed)
        .filter_map(|p| catalog.resource(&p.id))
        .collect();
    let now = probe(s, &resources, secrets, remembered).await?;
    let mut stale = Vec::new();
    for p in hp.resources.iter().filter(observed) {
        match now.get(&p.id) {
            Some(Ok(r)) if r.observed_digest == p.observed_digest => {}
            _ => stale.push(p.id.clone()),
        }
    }
    Ok(stale)
}

/// Digest of a resource's desired state: its type, title and attributes as
/// in the catalog (secrets by name, never by value).
pub fn desired_digest(r: &Resource) -> String {
    let json = serde_json::json!({ "type": r.type_name, "title": r.title, "attrs": r.attrs });
    sha256_hex(protocol::canonical_json(&json).as_bytes())
}

/// A host none of whose resources were applied: each is recorded
/// `skipped` with the reason; the host gets `status`.
fn skip_host(
    store: &StateStore,
    run_id: i64,
    hp: &HostPlan,
    status: HostStatus,
    why: &str,
) -> HostResult {
    let mut r = HostResult {
        host: hp.host.name.clone(),
        status,
        error: Some(why.to_string()),
        ..Default::default()
    };
    for p in &hp.resources {
        r.skipped += 1;
        let _ = store.record_resource_result(
            run_id,
            &ResourceResult {
                host: hp.host.name.clone(),
                resource: p.id.to_string(),
                action: p.action.as_str().into(),
                status: ResourceStatus::Skipped,
                message: Some(why.to_string()),
                duration_ms: 0,
                output: None,
            },
            None,
        );
    }
    r
}

fn resource_status(s: Status) -> ResourceStatus {
    match s {
        Status::Ok => ResourceStatus::Ok,
        Status::Changed => ResourceStatus::Changed,
        Status::Failed => ResourceStatus::Failed,
        Status::Skipped => ResourceStatus::Skipped,
    }
}

/// One resource on its way to the runner.
#[derive(Clone)]
struct SendItem<'c> {
    resource: &'c Resource,
    action: Action,
    /// A pending notification from an earlier run, or a notifier that
    /// changed in an earlier request of this run: what it asks.
    refresh: Option<RefreshAction>,
    /// Predecessors in the same request (the runner skips the item if one
    /// of them did not apply).
    after: Vec<ResourceId>,
    /// Notifiers in the same request (the runner refreshes the item if one
    /// of them changed), with what each asks.
    notified_by: Vec<(ResourceId, RefreshAction)>,
}

/// The edges of a host's catalog, by target.
struct Preds<'c> {
    of: HashMap<&'c ResourceId, Vec<(&'c ResourceId, EdgeKind, RefreshAction)>>,
    notify_targets: HashMap<&'c ResourceId, Vec<(&'c ResourceId, RefreshAction)>>,
}

impl<'c> Preds<'c> {
    fn new(catalog: &'c Catalog) -> Preds<'c> {
        let mut of: HashMap<&ResourceId, Vec<(&ResourceId, EdgeKind, RefreshAction)>> =
            HashMap::new();
        let mut notify_targets: HashMap<&ResourceId, Vec<(&ResourceId, RefreshAction)>> =
            HashMap::new();
        for e in &catalog.edges {
            let action = e.action.unwrap_or(RefreshAction::OnNotify);
            of.entry(&e.to).or_default().push((&e.from, e.kind, action));
            if e.kind == EdgeKind::Notify {
                notify_targets
                    .entry(&e.from)
                    .or_default()
                    .push((&e.to, action));
            }
        }
        Preds { of, notify_targets }
    }

    fn all(&self, id: &ResourceId) -> impl Iterator<Item = &'c ResourceId> + '_ {
        self.of.get(id).into_iter().flatten().map(|(p, _, _)| *p)
    }

    /// The resources that notify `id`, with what each asks.
    fn notifiers(
        &self,
        id: &ResourceId,
    ) -> impl Iterator<Item = (&'c ResourceId, RefreshAction)> + '_ {
        self.of
            .get(id)
            .into_iter()
            .flatten()
            .filter(|(_, k, _)| *k == EdgeKind::Notify)
            .map(|(p, _, a)| (*p, *a))
    }
}

/// A host's apply as it goes: outcomes so far and the counts.
struct HostRun<'a> {
    host: &'a str,
    store: &'a StateStore,
    run_id: i64,
    progress: &'a dyn Progress,
    /// Failed, or skipped because something they depend on did not apply.
    not_applied: BTreeSet<ResourceId>,
    changed: BTreeSet<ResourceId>,
    result: HostResult,
}

impl HostRun<'_> {
    fn record(
        &self,
        id: &ResourceId,
        action: Action,
        outcome: &Outcome,
        applied: Option<ResourceState>,
    ) {
        let message = outcome.message.as_str();
        let status = resource_status(outcome.status);
        let _ = self.store.record_resource_result(
            self.run_id,
            &ResourceResult {
                host: self.host.to_string(),
                resource: id.to_string(),
                action: action.as_str().into(),
                status,
                message: (!message.is_empty()).then(|| message.to_string()),
                duration_ms: outcome.ms,
                output: outcome.output.clone(),
            },
            applied.as_ref(),
        );
        let _ = self.store.record_event(
            self.run_id,
            self.host,
            Some(id.as_str()),
            status.as_str(),
            Some(message),
        );
        if !outcome.shown {
            self.progress.event(
                self.host,
                ProgressEvent::ResourceDone {
                    id,
                    status: status.as_str(),
                    message,
                },
            );
        }
    }

    /// Records a resource that never reached the runner.
    fn not_sent(&mut self, id: &ResourceId, action: Action, status: Status, message: String) {
        self.record(id, action, &Outcome::new(status, message), None);
        self.not_applied.insert(id.clone());
        match status {
            Status::Failed => self.result.failed += 1,
            _ => self.result.skipped += 1,
        }
    }

    fn failed_dependency<'p>(&self, preds: &'p Preds, id: &ResourceId) -> Option<&'p ResourceId> {
        preds.all(id).find(|p| self.not_applied.contains(*p))
    }
}

/// Applies one host's plan over an open session: its resources in the
/// catalog's apply order ([`mc_ir::apply_order`]), in one apply request per
/// run of resources that run as the same user (one request unless
/// `become` differs). The runner skips the dependents of a failure and
/// refreshes the targets of a change within a request; the runtime does the
/// same across requests. `stale` resources (plan file, `--stale skip`) are
/// refused with everything that depends on them.
async fn apply_host(
    s: &mut RunnerSession,
    hp: &HostPlan,
    stale: &BTreeSet<ResourceId>,
    ctx: &ApplyContext,
) -> HostResult {
    let Some(catalog) = &hp.catalog else {
        let why = hp.error.as_deref().unwrap_or("no catalog");
        return skip_host(&ctx.store, ctx.run_id, hp, HostStatus::Failed, why);
    };
    let planned: HashMap<&ResourceId, &PlannedResource> =
        hp.resources.iter().map(|p| (&p.id, p)).collect();
    let order = apply_order(catalog, &planned);
    let host = hp.host.name.as_str();
    ctx.progress
        .event(host, ProgressEvent::Applying { total: order.len() });
    let preds = Preds::new(catalog);
    let mut run = HostRun {
        host,
        store: &ctx.store,
        run_id: ctx.run_id,
        progress: ctx.progress.as_ref(),
        not_applied: BTreeSet::new(),
        changed: BTreeSet::new(),
        result: HostResult {
            host: host.to_string(),
            status: HostStatus::Ok,
            ..Default::default()
        },
    };
    for id in order.iter().filter(|id| stale.contains(*id)) {
        if let Some(p) = planned.get(id) {
            run.not_sent(id, p.action, Status::Skipped, STALE_REFUSAL.into());
        }
    }
    let to_send = items_to_send(&order, &planned, catalog, &preds, &mut run);
    let connection_lost = send_by_user(s, &to_send, &planned, &preds, &mut run, ctx).await;
    host_result(run.result, connection_lost, stale)
}

/// The planned resources in the catalog's apply order.
fn apply_order(
    catalog: &Catalog,
    planned: &HashMap<&ResourceId, &PlannedResource>,
) -> Vec<ResourceId> {
    let declared: Vec<ResourceId> = catalog
        .resources
        .iter()
        .filter(|r| planned.contains_key(&r.id))
        .map(|r| r.id.clone())
        .collect();
    mc_ir::apply_order(&declared, &catalog.edges)
}

/// Sends the items in one apply request per run of items with the same
/// `become` user, and records their outcomes. Returns why the connection
/// was lost, if it was: what was not sent then fails with that reason.
async fn send_by_user(
    s: &mut RunnerSession,
    to_send: &[SendItem<'_>],
    planned: &HashMap<&ResourceId, &PlannedResource>,
    preds: &Preds<'_>,
    run: &mut HostRun<'_>,
    ctx: &ApplyContext,
) -> Option<String> {
    let mut connection_lost: Option<String> = None;
    for (user, idx) in runs_by_user(to_send, |it| it.resource) {
        let segment: Vec<SendItem> = idx.iter().map(|i| to_send[*i].clone()).collect();
        if let Some(why) = &connection_lost {
            for it in segment {
                run.not_sent(&it.resource.id, it.action, Status::Failed, why.clone());
            }
            continue;
        }
        if ctx.opts.interrupt.requested() {
            for it in segment {
                run.not_sent(
                    &it.resource.id,
                    it.action,
                    Status::Skipped,
                    INTERRUPTED.into(),
                );
            }
            continue;
        }
        let items = prepare_request(segment, preds, run);
        if items.is_empty() {
            continue;
        }
        let secrets = ctx.secrets.as_ref();
        let outcomes = match s.runner_for(user).await {
            Ok(runner) => apply_batch(runner, &items, secrets, preds, run, &ctx.opts).await,
            Err(e) => Ok(vec![
                Outcome::new(Status::Failed, e.to_string());
                items.len()
            ]),
        };
        match outcomes {
            Ok(outcomes) => record_outcomes(&items, outcomes, planned, run),
            Err((partial, lost)) => {
                let why = lost.to_string();
                record_cut_short(&items, partial, &why, planned, run);
                connection_lost = Some(why);
            }
        }
    }
    connection_lost
}

/// Records a request the connection was lost during: the outcomes that
/// came back, and the rest failed with an unknown outcome on the host.
fn record_cut_short(
    items: &[SendItem],
    partial: Vec<Option<Outcome>>,
    why: &str,
    planned: &HashMap<&ResourceId, &PlannedResource>,
    run: &mut HostRun,
) {
    let unknown = format!("{why}; the outcome on the host is unknown");
    for (it, o) in items.iter().zip(partial) {
        match o {
            Some(o) => record_outcomes(std::slice::from_ref(it), vec![o], planned, run),
            None => run.not_sent(&it.resource.id, it.action, Status::Failed, unknown.clone()),
        }
    }
}

/// The host's result once its resources are recorded: failed when one
/// failed, the connection was lost or stale resources were refused.
fn host_result(
    mut result: HostResult,
    connection_lost: Option<String>,
    stale: &BTreeSet<ResourceId>,
) -> HostResult {
    if result.failed > 0 || connection_lost.is_some() {
        result.status = HostStatus::Failed;
        result.error = connection_lost;
    }
    if !stale.is_empty() {
        result.status = HostStatus::Failed;
        let refused = stale_refusal_note(stale);
        result.error = Some(match result.error.take() {
            Some(e) => format!("{e}; {refused}"),
            None => refused,
        });
    }
    result
}

/// Why a resource of a plan file was not applied: it changed on the host.
const STALE_REFUSAL: &str =
    "refused: changed on the host since the plan was made; run `mc plan` again";

/// The host's error after stale resources were refused: which ones, and
/// what to do.
fn stale_refusal_note(stale: &BTreeSet<ResourceId>) -> String {
    let ids: Vec<&str> = stale.iter().map(ResourceId::as_str).collect();
    let what = if ids.len() == 1 {
        "resource"
    } else {
        "resources"
    };
    format!(
        "refused {} stale {what} (changed on the host since the plan) and what depends on them: {}; run `mc plan` again for a new plan",
        ids.len(),
        ids.join(", ")
    )
}

/// Walks the apply order once: records what cannot apply (probe errors and
/// their dependents), counts what has nothing to do, and returns the rest.
fn items_to_send<'c>(
    order: &[ResourceId],
    planned: &HashMap<&ResourceId, &PlannedResource>,
    catalog: &'c Catalog,
    preds: &Preds,
    run: &mut HostRun,
) -> Vec<SendItem<'c>> {
    let by_id: HashMap<&ResourceId, &'c Resource> =
        catalog.resources.iter().map(|r| (&r.id, r)).collect();
    let mut sent: BTreeSet<&ResourceId> = BTreeSet::new();
    let mut out = Vec::new();
    for id in order {
        let (Some(p), Some(&resource)) = (planned.get(id), by_id.get(id)) else {
            continue;
        };
        if run.not_applied.contains(id) {
            continue; // refused as stale
        }
        if let Some(e) = &p.error {
            run.not_sent(id, p.action, Status::Failed, e.clone());
            continue;
        }
        if let Some(dep) = run.failed_dependency(preds, id) {
            let why = format!("skipped: depends on {dep}, which did not apply");
            run.not_sent(id, p.action, Status::Skipped, why);
            continue;
        }
        let may_be_notified = preds.notifiers(id).any(|(n, _)| sent.contains(n));
        if p.action == Action::None && !p.refresh && !may_be_notified {
            run.result.unchanged += 1;
            continue;
        }
        sent.insert(&resource.id);
        out.push(SendItem {
            resource,
            action: p.action,
            refresh: p
                .refresh
                .then(|| p.refresh_action.unwrap_or(RefreshAction::OnNotify)),
            after: vec![],
            notified_by: vec![],
        });
    }
    out
}

/// Fits one request's items to what earlier requests did: skips dependents
/// of their failures, turns on refreshes their changes triggered, and links
/// each item to its predecessors and notifiers in this request.
fn prepare_request<'c>(
    segment: Vec<SendItem<'c>>,
    preds: &Preds,
    run: &mut HostRun,
) -> Vec<SendItem<'c>> {
    let mut in_request: BTreeSet<ResourceId> = BTreeSet::new();
    let mut out = Vec::new();
    for mut it in segment {
        let id = &it.resource.id;
        if let Some(dep) = run.failed_dependency(preds, id) {
            let why = format!("skipped: depends on {dep}, which did not apply");
            run.not_sent(id, it.action, Status::Skipped, why);
            continue;
        }
        let earlier = preds
            .notifiers(id)
            .filter(|(n, _)| run.changed.contains(*n))
            .map(|(_, a)| a);
        it.refresh = RefreshAction::strongest(it.refresh.into_iter().chain(earlier));
        it.after = preds
            .all(id)
            .filter(|p| in_request.contains(*p))
            .cloned()
            .collect();
        it.notified_by = preds
            .notifiers(id)
            .filter(|(p, _)| in_request.contains(*p))
            .map(|(p, a)| (p.clone(), a))
            .collect();
        if it.action == Action::None && it.refresh.is_none() && it.notified_by.is_empty() {
            run.result.unchanged += 1;
            continue;
        }
        in_request.insert(id.clone());
        out.push(it);
    }
    out
}

/// Records a request's outcomes in order: state, counts, and which
/// notifications are done.
fn record_outcomes(
    items: &[SendItem],
    outcomes: Vec<Outcome>,
    planned: &HashMap<&ResourceId, &PlannedResource>,
    run: &mut HostRun,
) {
    for (it, o) in items.iter().zip(outcomes) {
        let r = it.resource;
        let refreshed =
            it.refresh.is_some() || it.notified_by.iter().any(|(n, _)| run.changed.contains(n));
        if o.status == Status::Ok && it.action == Action::None && !refreshed {
            run.result.unchanged += 1; // waited for a notification that did not come
            continue;
        }
        let applied = matches!(o.status, Status::Ok | Status::Changed).then(|| ResourceState {
            host: run.host.to_string(),
            resource: r.id.to_string(),
            type_name: r.type_name.clone(),
            desired_digest: desired_digest(r),
            observed_digest: o
                .observed
                .clone()
                .or_else(|| planned.get(&r.id).map(|p| p.observed_digest.clone()))
                .unwrap_or_default(),
            run_id: run.run_id,
            applied_at: state::now(),
            sensitive: r
                .attrs
                .iter()
                .filter(|(_, v)| v.contains_secret())
                .map(|(k, _)| k.clone())
                .collect(),
        });
        run.record(&r.id, it.action, &o, applied);
        match o.status {
            Status::Changed => {
                run.result.changed += 1;
                run.changed.insert(r.id.clone());
            }
            Status::Ok => run.result.unchanged += 1,
            Status::Skipped => {
                run.result.skipped += 1;
                run.not_applied.insert(r.id.clone());
            }
            Status::Failed => {
                run.result.failed += 1;
                run.not_applied.insert(r.id.clone());
            }
        }
        if refreshed && matches!(o.status, Status::Ok | Status::Changed) {
            let _ = run
                .store
                .clear_pending_notification(run.host, r.id.as_str());
        }
    }
}

/// One item's outcome from the runner.
#[derive(Clone, Debug)]
struct Outcome {
    status: Status,
    message: String,
    observed: Option<String>,
    ms: u64,
    output: Option<String>,
    /// Already shown as it finished (the runner's `done` event).
    shown: bool,
}

impl Outcome {
    fn new(status: Status, message: String) -> Outcome {
        Outcome {
            status,
            message,
            observed: None,
            ms: 0,
            output: None,
            shown: false,
        }
    }
}

/// The longest an item may take: its timeout for each attempt, plus the
/// waits between attempts.
fn item_budget(r: &Resource, default_timeout: Duration) -> Duration {
    let per_attempt = r
        .meta
        .timeout
        .map(Duration::from_secs)
        .unwrap_or(default_timeout);
    let retries = if r.meta.retries == 0 && r.attrs.contains_key("until") {
        3
    } else {
        r.meta.retries
    };
    let delay = Duration::from_secs(r.meta.retry_delay.unwrap_or(1));
    let backoff = r.meta.retry_backoff.unwrap_or(1).max(1);
    let mut total = per_attempt;
    for n in 0..retries {
        total = total
            .saturating_add(per_attempt)
            .saturating_add(delay.saturating_mul(backoff.saturating_pow(n)));
    }
    total
}

/// Why a request's outcomes are incomplete: the outcomes that arrived (from
/// `done` events) and the error that lost the runner.
type Lost = (Vec<Option<Outcome>>, TransportError);

/// Sends one apply request and collects per-item outcomes, in order. An
/// item whose secrets cannot be resolved is not sent: it fails, and the
/// items after it that depend on it are skipped.
async fn apply_batch(
    s: &mut RunnerSession,
    items: &[SendItem<'_>],
    secrets: &dyn SecretSource,
    preds: &Preds<'_>,
    run: &HostRun<'_>,
    opts: &ApplyOptions,
) -> Result<Vec<Outcome>, Lost> {
    let (host, store, run_id, progress) = (run.host, run.store, run.run_id, run.progress);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; items.len()];
    let mut send = Vec::new();
    let mut send_idx = Vec::new();
    let mut unsent: BTreeSet<&ResourceId> = BTreeSet::new();
    let mut budget = Duration::ZERO;
    for (i, it) in items.iter().enumerate() {
        if let Some(dep) = it.after.iter().find(|d| unsent.contains(d)) {
            let why = format!("skipped: depends on {dep}, which did not apply");
            outcomes[i] = Some(Outcome::new(Status::Skipped, why));
            unsent.insert(&it.resource.id);
            continue;
        }
        let (resource, sensitive, scrub) = match resolved(it.resource, secrets) {
            Ok(x) => x,
            Err(e) => {
                outcomes[i] = Some(Outcome::new(Status::Failed, e.to_string()));
                unsent.insert(&it.resource.id);
                continue;
            }
        };
        budget = budget.saturating_add(item_budget(it.resource, opts.default_timeout));
        send.push(ApplyItem {
            resource,
            action: it.action,
            refresh: it.refresh.is_some(),
            refresh_action: it.refresh.filter(|a| *a != RefreshAction::OnNotify),
            sensitive,
            scrub,
            after: it.after.clone(),
            notified_by: it.notified_by.iter().map(|(n, _)| n.clone()).collect(),
            notify_actions: it
                .notified_by
                .iter()
                .filter(|(_, a)| *a != RefreshAction::OnNotify)
                .map(|(n, a)| (n.clone(), *a))
                .collect(),
        });
        send_idx.push(i);
    }
    if send.is_empty() {
        return Ok(outcomes.into_iter().flatten().collect());
    }
    // The runner may first wait for another run on the host to finish.
    budget = budget.saturating_add(mc_runner::host_lock::WAIT);
    let started = Instant::now();
    let mut started_at: HashMap<ResourceId, Instant> = HashMap::new();
    // A span per resource, from its `started` to its `done` event.
    let mut spans: HashMap<ResourceId, tracing::Span> = HashMap::new();
    let mut durations: HashMap<ResourceId, u64> = HashMap::new();
    let mut done: HashMap<ResourceId, Status> = HashMap::new();
    let req = Request::Apply { items: send };
    let stop = Some(opts.interrupt.subscribe());
    let fut = s.request_stoppable(&req, stop, |ev| match ev.kind {
        protocol::EventKind::Started => {
            started_at.insert(ev.id.clone(), Instant::now());
            let span = tracing::info_span!(
                "resource",
                id = %ev.id,
                status = tracing::field::Empty
            );
            spans.insert(ev.id.clone(), span);
            let _ = store.record_event(run_id, host, Some(ev.id.as_str()), "started", None);
            progress.event(host, ProgressEvent::ResourceStarted(&ev.id));
        }
        protocol::EventKind::Output => {
            if let Some(line) = &ev.line {
                progress.event(host, ProgressEvent::Output(&ev.id, line));
            }
        }
        protocol::EventKind::Attempt => {
            let _ = store.record_event(
                run_id,
                host,
                Some(ev.id.as_str()),
                "attempt",
                ev.line.as_deref(),
            );
            if let Some(line) = &ev.line {
                progress.event(host, ProgressEvent::Output(&ev.id, line));
            }
        }
        protocol::EventKind::Done => {
            let ms = started_at
                .get(&ev.id)
                .map(|t| t.elapsed().as_millis() as u64)
                .unwrap_or(0);
            durations.insert(ev.id.clone(), ms);
            if let Some(span) = spans.remove(&ev.id) {
                let status = ev.status.map(|s| resource_status(s).as_str());
                span.record("status", status.unwrap_or("unknown"));
            }
            if let Some(status) = ev.status {
                done.insert(ev.id.clone(), status);
                let message =
                    with_attempts(ev.line.as_deref().unwrap_or(""), ev.attempt.unwrap_or(1));
                progress.event(
                    host,
                    ProgressEvent::ResourceDone {
                        id: &ev.id,
                        status: resource_status(status).as_str(),
                        message: &message,
                    },
                );
                if status == Status::Changed {
                    // Persisted as soon as the notifier changed, so a crash
                    // before the refresh keeps it pending.
                    if let Some(targets) = preds.notify_targets.get(&ev.id) {
                        let names: Vec<(String, RefreshAction)> =
                            targets.iter().map(|(t, a)| (t.to_string(), *a)).collect();
                        let _ = store.add_pending_notifications(host, &names, run_id);
                    }
                }
            }
        }
    });
    let resp = match tokio::time::timeout(budget, fut).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(lost_outcomes(items, outcomes, &done, e)),
        Err(_) => {
            return Err(lost_outcomes(
                items,
                outcomes,
                &done,
                TransportError::Timeout(budget),
            ))
        }
    };
    let total_ms = started.elapsed().as_millis() as u64;
    match resp {
        Response::Applied { results } => {
            let by_id: HashMap<&ResourceId, &protocol::ApplyResult> =
                results.iter().map(|r| (&r.id, r)).collect();
            for i in send_idx {
                let id = &items[i].resource.id;
                outcomes[i] = Some(match by_id.get(id) {
                    Some(r) => Outcome {
                        status: r.status,
                        message: with_attempts(&r.message, r.attempts),
                        observed: r.observed_digest.clone(),
                        ms: durations.get(id).copied().unwrap_or(total_ms),
                        output: r.output.clone(),
                        shown: done.contains_key(id),
                    },
                    None => Outcome::new(Status::Failed, "the runner returned no result".into()),
                });
            }
        }
        Response::Error { message, .. } => {
            for i in send_idx {
                outcomes[i] = Some(Outcome::new(Status::Failed, format!("runner: {message}")));
            }
        }
        other => {
            let e =
                TransportError::Runner(format!("unexpected answer to apply: {}", other.to_line()));
            return Err(lost_outcomes(items, outcomes, &done, e));
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::new(Status::Failed, "not applied".into())))
        .collect())
}

/// A result's message, saying how many attempts it took when retried.
fn with_attempts(message: &str, attempts: u32) -> String {
    if attempts > 1 {
        format!("{message} (after {attempts} attempts)")
    } else {
        message.to_string()
    }
}

/// The outcomes known when a runner was lost: those decided before sending
/// and those the runner reported done.
fn lost_outcomes(
    items: &[SendItem],
    mut outcomes: Vec<Option<Outcome>>,
    done: &HashMap<ResourceId, Status>,
    e: TransportError,
) -> Lost {
    for (i, it) in items.iter().enumerate() {
        if outcomes[i].is_none() {
            if let Some(status) = done.get(&it.resource.id) {
                let msg = "finished before the connection was lost".to_string();
                outcomes[i] = Some(Outcome {
                    shown: true,
                    ..Outcome::new(*status, msg)
                });
            }
        }
    }
    (outcomes, e)
}

/// A resource with its secrets resolved, the attributes that held them, and
/// each secret's value (for the runner to scrub from its answers).
fn resolved(r: &Resource, secrets: &dyn SecretSource) -> Result<Resolved, SecretError> {
    let mut resource = r.clone();
    let mut sensitive = Vec::new();
    let mut scrub = Vec::new();
    for (k, v) in resource.attrs.iter_mut() {
        if v.contains_secret() {
            for name in secret_names(v) {
                scrub.push(secrets.resolve(name)?);
            }
            *v = resolve_value(v, secrets)?;
            sensitive.push(k.clone());
        }
    }
    Ok((resource, sensitive, scrub))
}

type Resolved = (Resource, Vec<String>, Vec<String>);

/// The value of every secret a catalog uses, by name (what an agent needs
/// to apply the catalog on its own).
pub fn secret_values(
    catalog: &Catalog,
    secrets: &dyn SecretSource,
) -> Result<BTreeMap<String, String>, SecretError> {
    let mut out = BTreeMap::new();
    for r in &catalog.resources {
        for v in r.attrs.values() {
            for name in secret_names(v) {
                if !out.contains_key(name) {
                    out.insert(name.to_string(), secrets.resolve(name)?);
                }
            }
        }
    }
    Ok(out)
}

/// The names of the secrets in a value, also inside lists and maps.
fn secret_names(v: &Value) -> Vec<&str> {
    match v {
        Value::Secret(s) => s.secret_names().collect(),
        Value::List(l) => l.iter().flat_map(secret_names).collect(),
        Value::Map(m) => m.values().flat_map(secret_names).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mc_ir::{Edge, Meta, Transport, CATALOG_SCHEMA};

    fn res(title: &str) -> Resource {
        Resource {
            id: ResourceId::new("file", title),
            type_name: "file".into(),
            title: title.into(),
            attrs: BTreeMap::new(),
            meta: Meta::default(),
            source: None,
        }
    }

    #[test]
    fn catalog_apply_order_follows_edges_and_keeps_source_order() {
        let host = HostInfo {
            name: "h".into(),
            address: "h".into(),
            user: None,
            port: None,
            transport: Transport::Local,
            r#become: false,
            groups: vec![],
            ssh_key: None,
        };
        let (a, b, c, d) = (res("/a"), res("/b"), res("/c"), res("/d"));
        let catalog = Catalog {
            schema: CATALOG_SCHEMA,
            host,
            resources: vec![a.clone(), b.clone(), c.clone(), d.clone()],
            edges: vec![
                Edge {
                    from: c.id.clone(),
                    to: a.id.clone(),
                    kind: EdgeKind::Requires,
                    action: None,
                },
                Edge {
                    from: a.id.clone(),
                    to: d.id.clone(),
                    kind: EdgeKind::Notify,
                    action: None,
                },
            ],
        };
        assert_eq!(catalog.apply_order(), vec![b.id, c.id, a.id, d.id]);
    }

    #[test]
    fn the_budget_covers_every_attempt_and_wait() {
        let mut r = res("/x");
        r.meta.timeout = Some(10);
        assert_eq!(
            item_budget(&r, Duration::from_secs(300)),
            Duration::from_secs(10)
        );
        r.meta.retries = 2;
        r.meta.retry_delay = Some(5);
        r.meta.retry_backoff = Some(2);
        // 3 attempts of 10s, waits of 5s and 10s.
        assert_eq!(
            item_budget(&r, Duration::from_secs(300)),
            Duration::from_secs(45)
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn per_host_keeps_item_order_and_runs_at_most_parallel() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let out = per_host(0..8u64, 3, |i| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Later items finish first: the order is the items', not
                // the finishing order.
                tokio::time::sleep(Duration::from_millis(5 * (8 - i))).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        })
        .await
        .unwrap();
        assert_eq!(out, (0..8).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn per_host_reports_a_task_that_panicked() {
        let out = per_host([false, true], 2, |fail| async move {
            assert!(!fail, "task failure");
        })
        .await;
        assert!(out.unwrap_err().is_panic());
    }

    #[test]
    fn rollout_batches_follow_serial_and_canary() {
        assert_eq!(rollout_batches(5, None, false), vec![5]);
        assert_eq!(
            rollout_batches(5, Some(Serial::Hosts(2)), false),
            vec![2, 2, 1]
        );
        assert_eq!(
            rollout_batches(5, Some(Serial::Hosts(2)), true),
            vec![1, 2, 2]
        );
        assert_eq!(rollout_batches(5, None, true), vec![1, 4]);
        // 25% of 10 is 2.5: rounded up.
        assert_eq!(
            rollout_batches(10, Some(Serial::Percent(25)), false),
            vec![3, 3, 3, 1]
        );
        // A percentage never makes an empty batch.
        assert_eq!(
            rollout_batches(3, Some(Serial::Percent(1)), false),
            vec![1, 1, 1]
        );
        assert_eq!(rollout_batches(2, Some(Serial::Hosts(10)), false), vec![2]);
        assert!(rollout_batches(0, Some(Serial::Hosts(1)), true).is_empty());
    }

    #[test]
    fn serial_parses_counts_and_percentages() {
        assert_eq!("3".parse::<Serial>(), Ok(Serial::Hosts(3)));
        assert_eq!("25%".parse::<Serial>(), Ok(Serial::Percent(25)));
        for bad in ["0", "0%", "101%", "-1", "x", "2.5", ""] {
            let err = bad.parse::<Serial>().unwrap_err();
            assert!(err.contains("serial"), "{bad}: {err}");
        }
        assert_eq!(Serial::Percent(25).to_string(), "25%");
    }

    #[test]
    fn env_secrets_name_the_variable() {
        let err = EnvSecrets.resolve("no such-secret").unwrap_err();
        assert_eq!(
            err,
            SecretError::NotSet {
                name: "no such-secret".into(),
                var: "MC_SECRET_NO_SUCH_SECRET".into()
            }
        );
        assert!(
            err.to_string().contains("MC_SECRET_NO_SUCH_SECRET"),
            "{err}"
        );
    }

    #[test]
    fn selection_by_group_and_tags() {
        let sel = Selection {
            limit: vec!["web".into()],
            tags: vec!["t".into()],
            skip_tags: vec!["x".into()],
            targets: vec![],
        };
        let mut h = HostInfo {
            name: "a".into(),
            address: "a".into(),
            user: None,
            port: None,
            transport: Transport::Ssh,
            r#become: false,
            ssh_key: None,
            groups: vec!["web".into()],
        };
        assert!(sel.selects_host(&h));
        h.groups.clear();
        assert!(!sel.selects_host(&h));
        let mut r = res("/a");
        assert!(!sel.selects_resource(&r));
        r.meta.tags = vec!["t".into()];
        assert!(sel.selects_resource(&r));
        r.meta.tags.push("x".into());
        assert!(!sel.selects_resource(&r));
    }
}
