//! Drift: what changed on the hosts outside mc since mc last applied.
//!
//! Per host, in parallel: one runner session, one facts request, the
//! catalog compiled as for a plan, then one probe batch over the resources
//! the state store holds a last-applied state for. A resource drifted when
//! its observed digest differs from the one recorded after the apply *and*
//! the host no longer matches the desired state. Its probe is exactly what a
//! plan would have found, so the fix is an ordinary plan of the drifted
//! resources, which goes through the same policies and approvals.

use crate::engine::{
    gather_facts, per_host, planned_from_probe, probe, unprobed_resource, CatalogSource,
    ProgressEvent, Runtime, RuntimeError, Selection,
};
use crate::render;
use crate::state::{self, DriftItem, DriftStatus, ResourceState};
use crate::transport;
use mc_ir::plan::{HostPlan, Plan, PlannedResource};
use mc_ir::{HostInfo, Resource};
use std::collections::HashMap;
use std::sync::Arc;

/// The drifted resources of a host to restore, then the resources their
/// changes notify (a handler, a service), so the apply of the fix runs the
/// refreshes of what it fixed. A notified resource is not probed: its
/// observed digest is empty and the stale check leaves it alone.
fn fix_with_refreshes(h: &HostDrift) -> Vec<PlannedResource> {
    let mut out: Vec<PlannedResource> = h
        .drifted
        .iter()
        .filter(|r| r.error.is_none())
        .cloned()
        .collect();
    let Some(catalog) = &h.catalog else {
        return out;
    };
    let fixing: std::collections::HashSet<&mc_ir::ResourceId> = out.iter().map(|r| &r.id).collect();
    let targets: std::collections::HashSet<&mc_ir::ResourceId> = catalog
        .edges
        .iter()
        .filter(|e| e.kind == mc_ir::EdgeKind::Notify && fixing.contains(&e.from))
        .map(|e| &e.to)
        .filter(|t| !fixing.contains(*t))
        .collect();
    let added: Vec<PlannedResource> = catalog
        .resources
        .iter()
        .filter(|r| targets.contains(&r.id))
        .map(|r| PlannedResource {
            id: r.id.clone(),
            action: mc_ir::plan::Action::None,
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
    out.extend(added);
    out
}

/// The result of `mc drift` over the selected hosts.
#[derive(Clone, Debug)]
pub struct DriftReport {
    /// The stored report (see [`state::StateStore::current_drift`]).
    pub id: i64,
    pub created_at: i64,
    pub source_digest: String,
    pub hosts: Vec<HostDrift>,
}

#[derive(Clone, Debug)]
pub struct HostDrift {
    pub host: HostInfo,
    /// Why the host could not be checked (unreachable, compile error, …).
    pub error: Option<String>,
    /// Resources with a last-applied state that were probed.
    pub probed: u32,
    /// Resources with a last-applied state that the source no longer declares.
    pub not_in_source: Vec<String>,
    /// Drifted or unprobeable resources, in catalog order: what restoring
    /// them would do, as a plan shows it.
    pub drifted: Vec<PlannedResource>,
    /// The host's catalog, for the fix plan.
    pub catalog: Option<mc_ir::Catalog>,
}

impl DriftReport {
    /// Resources changed outside mc.
    pub fn drifted(&self) -> usize {
        self.hosts
            .iter()
            .map(|h| h.drifted.iter().filter(|r| r.error.is_none()).count())
            .sum()
    }

    /// Hosts that could not be checked plus resources that could not be probed.
    pub fn errors(&self) -> usize {
        self.hosts
            .iter()
            .map(|h| {
                usize::from(h.error.is_some())
                    + h.drifted.iter().filter(|r| r.error.is_some()).count()
            })
            .sum()
    }

    pub fn probed(&self) -> u32 {
        self.hosts.iter().map(|h| h.probed).sum()
    }

    /// The per-resource findings as stored in the state store.
    pub fn items(&self) -> Vec<DriftItem> {
        let mut out = Vec::new();
        for h in &self.hosts {
            for r in &h.drifted {
                let (status, summary) = match &r.error {
                    Some(e) => (DriftStatus::Error, e.clone()),
                    None => (DriftStatus::Drifted, summary(r)),
                };
                out.push(DriftItem {
                    host: h.host.name.clone(),
                    resource: r.id.to_string(),
                    status,
                    summary,
                    changes: r.changes.clone(),
                    diff: r.content_diff.clone(),
                });
            }
        }
        out
    }

    /// A plan that restores the desired state of every drifted resource
    /// (hosts without drift are left out). Not yet evaluated by policies.
    pub fn fix_plan(&self, project: Option<String>) -> Plan {
        let hosts = self
            .hosts
            .iter()
            .filter(|h| h.error.is_none() && h.drifted.iter().any(|r| r.error.is_none()))
            .map(|h| {
                let mut hp = HostPlan {
                    host: h.host.clone(),
                    catalog: h.catalog.clone(),
                    resources: fix_with_refreshes(h),
                    error: None,
                };
                hp.link_refreshes();
                hp
            })
            .collect();
        let mut plan = Plan::new(self.created_at, self.source_digest.clone(), hosts);
        plan.project = project;
        plan.seal();
        plan
    }

    pub fn to_json(&self) -> serde_json::Value {
        let hosts: Vec<serde_json::Value> = self
            .hosts
            .iter()
            .map(|h| {
                serde_json::json!({
                    "host": h.host.name,
                    "error": h.error,
                    "probed": h.probed,
                    "not_in_source": h.not_in_source,
                    "drifted": h.drifted,
                })
            })
            .collect();
        serde_json::json!({
            "report": self.id,
            "created_at": self.created_at,
            "probed": self.probed(),
            "drifted": self.drifted(),
            "errors": self.errors(),
            "hosts": hosts,
        })
    }
}

/// `content changed`, `mode, owner changed`, `missing`.
fn summary(r: &PlannedResource) -> String {
    use mc_ir::plan::Action;
    match r.action {
        Action::Create => "missing (removed outside mc)".into(),
        Action::Delete => "present again (created outside mc)".into(),
        _ if r.changes.is_empty() => "changed outside mc".into(),
        _ => {
            let attrs: Vec<&str> = r.changes.iter().map(|c| c.attr.as_str()).collect();
            format!("{} changed outside mc", attrs.join(", "))
        }
    }
}

/// Drift rendered like a plan: per host the drifted resources with the
/// changes (and diffs) that would restore them.
pub fn render_drift(report: &DriftReport, color: bool) -> String {
    let mut out = String::new();
    for h in &report.hosts {
        out.push_str(&format!("{} ({})\n", h.host.name, h.host.address));
        if let Some(e) = &h.error {
            out.push_str(&format!("  ! {e}\n"));
            continue;
        }
        if h.drifted.is_empty() {
            out.push_str(&format!(
                "  no drift ({} resources as last applied)\n",
                h.probed
            ));
        }
        for r in &h.drifted {
            out.push_str(&render::render_planned_resource(r, color));
        }
        if !h.not_in_source.is_empty() {
            out.push_str(&format!(
                "  ({} applied resources are no longer in the source and were not checked)\n",
                h.not_in_source.len()
            ));
        }
    }
    out.push_str(&format!(
        "\nDrift: {} of {} resources changed outside mc on {} hosts{}.\n",
        report.drifted(),
        report.probed(),
        report.hosts.len(),
        match report.errors() {
            0 => String::new(),
            n => format!("; {n} errors"),
        }
    ));
    out
}

impl Runtime {
    /// Checks the selected hosts for drift and stores the report.
    pub async fn drift(
        &self,
        source: Arc<dyn CatalogSource>,
        sel: &Selection,
        progress: Arc<dyn crate::engine::Progress>,
    ) -> Result<DriftReport, RuntimeError> {
        let hosts = Self::select_hosts(source.as_ref(), sel)?;
        let source_digest = source.source_digest();
        let mut with_applied = Vec::with_capacity(hosts.len());
        for host in hosts {
            let applied = self.store.resource_states(&host.name)?;
            with_applied.push((host, applied));
        }
        let results = per_host(with_applied, self.parallel, |(host, applied)| {
            let (source, opts) = (source.clone(), self.connect.clone());
            let (secrets, sel, progress) = (self.secrets.clone(), sel.clone(), progress.clone());
            async move {
                let name = host.name.clone();
                progress.event(&name, ProgressEvent::Phase("checking for drift"));
                let hd = drift_host(
                    host,
                    source.as_ref(),
                    &opts,
                    secrets.as_ref(),
                    &sel,
                    applied,
                )
                .await;
                progress.event(
                    &name,
                    ProgressEvent::Checked {
                        error: hd.error.as_deref(),
                    },
                );
                hd
            }
        })
        .await
        .map_err(|e| RuntimeError::Source(format!("drift task failed: {e}")))?;
        let mut report = DriftReport {
            id: 0,
            created_at: state::now(),
            source_digest,
            hosts: results,
        };
        // A host that could not be checked is left out of the stored report,
        // so its last known drift stays current.
        let checked: Vec<String> = report
            .hosts
            .iter()
            .filter(|h| h.error.is_none())
            .map(|h| h.host.name.clone())
            .collect();
        report.id = self
            .store
            .record_drift_report(&checked, report.probed(), &report.items())?;
        Ok(report)
    }
}

async fn drift_host(
    host: HostInfo,
    source: &dyn CatalogSource,
    opts: &transport::ConnectOptions,
    secrets: &dyn crate::engine::SecretSource,
    sel: &Selection,
    applied: Vec<ResourceState>,
) -> HostDrift {
    let mut hd = HostDrift {
        host,
        error: None,
        probed: 0,
        not_in_source: vec![],
        drifted: vec![],
        catalog: None,
    };
    if applied.is_empty() {
        // Nothing was ever applied here: nothing can have drifted, and
        // there is no reason to connect.
        return hd;
    }
    let mut session = match transport::connect(&hd.host, opts).await {
        Ok(s) => s,
        Err(e) => {
            hd.error = Some(e.to_string());
            return hd;
        }
    };
    let facts = match gather_facts(&mut session).await {
        Ok(f) => f,
        Err(e) => {
            session.close().await;
            hd.error = Some(e);
            return hd;
        }
    };
    let catalog = match source.compile(&hd.host, &facts) {
        Ok(c) => c,
        Err(e) => {
            session.close().await;
            hd.error = Some(format!("compile: {e}"));
            return hd;
        }
    };
    let applied: HashMap<&str, &ResourceState> =
        applied.iter().map(|s| (s.resource.as_str(), s)).collect();
    let selected: Vec<&Resource> = sel
        .resources(&catalog)
        .into_iter()
        .filter(|r| applied.contains_key(r.id.as_str()))
        .collect();
    let mut not_in_source: Vec<String> = applied
        .keys()
        .filter(|id| catalog.resources.iter().all(|r| r.id.as_str() != **id))
        .map(|id| id.to_string())
        .collect();
    not_in_source.sort();
    hd.not_in_source = not_in_source;
    let remembered: crate::engine::Remembered = applied
        .values()
        .filter(|s| !s.sensitive.is_empty())
        .map(|s| (s.resource.clone(), s.sensitive.clone()))
        .collect();
    let probed = probe(&mut session, &selected, secrets, &remembered).await;
    session.close().await;
    let probed = match probed {
        Ok(p) => p,
        Err(e) => {
            hd.error = Some(e);
            return hd;
        }
    };
    hd.probed = selected.len() as u32;
    for r in &selected {
        let planned = match probed.get(&r.id) {
            Some(Ok(p)) if p.error.is_none() => {
                let recorded = applied
                    .get(r.id.as_str())
                    .map(|s| s.observed_digest.as_str());
                let changed_on_host = recorded != Some(p.observed_digest.as_str());
                let planned = planned_from_probe(r, p);
                if !(changed_on_host && planned.action.is_change()) {
                    continue;
                }
                planned
            }
            Some(Ok(p)) => planned_from_probe(r, p),
            Some(Err(e)) => unprobed_resource(r, e.clone()),
            None => unprobed_resource(r, "the runner returned no probe result".into()),
        };
        hd.drifted.push(planned);
    }
    hd.catalog = Some(catalog);
    hd
}
