//! Continuous convergence: the agent re-applies the catalog the
//! controller last applied, every interval, with the controller's own
//! engine (so order, notifications, `become_user` and state work exactly
//! as in `mc apply`), on the local transport, with a state store of its own.

use mc_ir::{Catalog, HostInfo};
use mc_runtime::agents::desired::{AgentRun, AgentRunStatus, Desired, ResourceReport};
use mc_runtime::engine::{
    ApplyOptions, CatalogSource, Quiet, Runtime, SecretError, SecretSource, Selection, SourceError,
};
use mc_runtime::state::{ResourceStatus, StateStore};
use mc_runtime::transport::{ConnectOptions, Runners};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The stored catalog, as the engine's source of a one-host project.
struct Stored {
    host: HostInfo,
    catalog: Catalog,
    digest: String,
}

impl CatalogSource for Stored {
    fn hosts(&self) -> Result<Vec<HostInfo>, SourceError> {
        Ok(vec![self.host.clone()])
    }
    fn compile(&self, _: &HostInfo, _: &serde_json::Value) -> Result<Catalog, SourceError> {
        Ok(self.catalog.clone())
    }
    fn source_digest(&self) -> String {
        self.digest.clone()
    }
}

/// The decrypted secret values of a catalog.
struct Values(BTreeMap<String, String>);

impl SecretSource for Values {
    fn resolve(&self, name: &str) -> Result<String, SecretError> {
        self.0.get(name).cloned().ok_or_else(|| {
            SecretError::Unreadable(format!(
                "the stored catalog holds no value for secret {name:?}"
            ))
        })
    }
}

/// Plans the desired state on this host and, unless `noop`, applies it.
pub async fn converge(
    name: &str,
    desired: &Desired,
    secrets: BTreeMap<String, String>,
    runner: &Runners,
    state: &Path,
    noop: bool,
) -> AgentRun {
    let started = mc_runtime::agents::envelope::now();
    let mut run = AgentRun {
        agent: name.to_string(),
        started,
        noop,
        catalog_run: desired.run,
        ..Default::default()
    };
    if let Err(e) = converge_into(&mut run, name, desired, secrets, runner, state).await {
        run.status = AgentRunStatus::Failed;
        run.error = Some(e);
    }
    run.finished = mc_runtime::agents::envelope::now();
    run
}

async fn converge_into(
    run: &mut AgentRun,
    name: &str,
    desired: &Desired,
    secrets: BTreeMap<String, String>,
    runner: &Runners,
    state: &Path,
) -> Result<(), String> {
    let store = StateStore::open(state).map_err(|e| e.to_string())?;
    let mut rt = Runtime::new(Arc::new(store), ConnectOptions::new(runner.clone()));
    rt.secrets = Arc::new(Values(secrets));
    rt.project = Some(format!("agent {name}"));
    // This host, as the agent's user (root).
    let host = HostInfo::local(name);
    let source = Arc::new(Stored {
        host,
        catalog: desired.catalog.clone(),
        digest: desired.plan.clone(),
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .map_err(|e| e.to_string())?;
    let hp = planned.plan.hosts.first().ok_or("nothing planned")?;
    if let Some(e) = &hp.error {
        mc_runtime::transport::close_all(planned.sessions.into_values()).await;
        return Err(e.clone());
    }
    let changes: Vec<ResourceReport> = hp
        .resources
        .iter()
        .filter(|r| r.action != mc_ir::plan::Action::None || r.error.is_some())
        .map(|r| ResourceReport {
            id: r.id.to_string(),
            action: r.action,
            message: r.error.clone().unwrap_or_else(|| {
                r.changes
                    .iter()
                    .map(|c| c.attr.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
            changes: r.changes.clone(),
            diff: r.content_diff.clone(),
        })
        .collect();
    if run.noop || changes.is_empty() {
        mc_runtime::transport::close_all(planned.sessions.into_values()).await;
        run.status = if changes.is_empty() {
            AgentRunStatus::Ok
        } else {
            AgentRunStatus::Drifted
        };
        run.changed = changes;
        return Ok(());
    }
    let report = rt
        .apply(
            &planned.plan,
            planned.sessions,
            &ApplyOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .map_err(|e| e.to_string())?;
    for r in rt
        .store
        .resource_results(report.run_id)
        .map_err(|e| e.to_string())?
    {
        let rr = ResourceReport {
            id: r.resource,
            action: r.action.parse().unwrap_or_default(),
            message: r.message.unwrap_or_default(),
            ..Default::default()
        };
        match r.status {
            ResourceStatus::Changed => run.changed.push(rr),
            ResourceStatus::Failed | ResourceStatus::Skipped => run.failed.push(rr),
            ResourceStatus::Ok => {}
        }
    }
    run.status = if !report.ok() {
        AgentRunStatus::Failed
    } else if run.changed.is_empty() {
        AgentRunStatus::Ok
    } else {
        AgentRunStatus::Changed
    };
    if let Some(h) = report.hosts.first() {
        run.error = h.error.clone();
    }
    Ok(())
}
