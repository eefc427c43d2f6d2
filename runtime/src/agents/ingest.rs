//! Agents' own runs into the state store: read from the reports stream
//! and recorded once each, so `mc runs`, the TUI's drift view and `mc
//! drift` show them beside the controller's runs.

use super::desired::{AgentRun, AgentRunStatus, REPORTS_STREAM};
use super::Agents;
use crate::state::{
    AgentRunRecord, DriftItem, HostResult, HostStatus, ResourceResult, ResourceStatus, RunStatus,
    StateStore,
};
use futures_util::StreamExt;
use std::time::Duration;

/// The `meta` key holding the last report sequence ingested.
const LAST_SEQ: &str = "agent_reports_seq";

/// Records every agent run reported since the last call; returns how many
/// were new. Safe to run from several controllers at once.
pub async fn ingest(
    agents: &Agents,
    store: &StateStore,
    timeout: Duration,
) -> Result<usize, String> {
    use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    let js = async_nats::jetstream::new(agents.client(timeout).await?);
    let Ok(mut stream) = js.get_stream(REPORTS_STREAM).await else {
        return Ok(0); // no agent has reported yet
    };
    let last_stored = stream
        .info()
        .await
        .map_err(|e| format!("cannot read the reports stream: {e}"))?
        .state
        .last_sequence;
    let from: u64 = store
        .meta(LAST_SEQ)
        .map_err(|e| e.to_string())?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if from >= last_stored {
        return Ok(0);
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: "mc.report.*.run".into(),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: from + 1,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot read the reports stream: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("cannot read the reports stream: {e}"))?;
    let (mut new, mut seen) = (0, from);
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(Duration::from_secs(2), messages.next()).await
    {
        let Ok(info) = msg.info() else { break };
        let (seq, pending) = (info.stream_sequence, info.pending);
        if let Ok(run) = serde_json::from_slice::<AgentRun>(&msg.payload) {
            let record = record_of(&run, seq);
            if store.record_agent_run(&record).map_err(|e| e.to_string())? {
                new += 1;
            }
        }
        seen = seen.max(seq);
        if pending == 0 {
            break;
        }
    }
    store
        .set_meta(LAST_SEQ, &seen.to_string())
        .map_err(|e| e.to_string())?;
    Ok(new)
}

/// An agent's report as the state store keeps runs.
fn record_of(run: &AgentRun, seq: u64) -> AgentRunRecord {
    let host = run.agent.clone();
    let result = |r: &super::desired::ResourceReport, status: ResourceStatus| ResourceResult {
        host: host.clone(),
        resource: r.id.clone(),
        action: r.action.as_str().into(),
        status,
        message: Some(r.message.clone()).filter(|m| !m.is_empty()),
        ..Default::default()
    };
    let mut results = Vec::new();
    let mut drift = Vec::new();
    for r in &run.changed {
        if run.noop {
            drift.push(DriftItem {
                host: host.clone(),
                resource: r.id.clone(),
                status: mc_state::DriftStatus::Drifted,
                summary: r.message.clone(),
                changes: r.changes.clone(),
                diff: r.diff.clone(),
            });
        } else {
            results.push(result(r, ResourceStatus::Changed));
        }
    }
    results.extend(run.failed.iter().map(|r| result(r, ResourceStatus::Failed)));
    let (status, host_status) = match run.status {
        AgentRunStatus::Failed => (RunStatus::Failed, HostStatus::Failed),
        AgentRunStatus::Drifted => (RunStatus::Drifted, HostStatus::Drifted),
        AgentRunStatus::Ok | AgentRunStatus::Changed => (RunStatus::Ok, HostStatus::Ok),
    };
    AgentRunRecord {
        key: format!("agent-report:{}:{seq}", run.agent),
        agent: run.agent.clone(),
        noop: run.noop,
        status,
        started: run.started as i64,
        finished: run.finished as i64,
        summary: serde_json::json!({
            "changed": if run.noop { 0 } else { run.changed.len() },
            "drifted": if run.noop { run.changed.len() } else { 0 },
            "failed": run.failed.len(),
            "catalog_run": run.catalog_run,
            "error": run.error,
        }),
        host_result: HostResult {
            host: host.clone(),
            status: host_status,
            changed: if run.noop {
                0
            } else {
                run.changed.len() as u32
            },
            failed: run.failed.len() as u32,
            error: run.error.clone(),
            ..Default::default()
        },
        results,
        drift,
    }
}
