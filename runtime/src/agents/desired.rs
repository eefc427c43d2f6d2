//! What agents keep between controller runs, in JetStream:
//!
//! - bucket [`CATALOG_BUCKET`], key = agent name: the [`Desired`] state the
//!   controller last applied to the host, signed by the controller (so the
//!   NATS server cannot change it), its secret values age-encrypted to
//!   that agent's key (so the NATS server cannot read them);
//! - bucket [`AGENTS_BUCKET`], key = agent name: the agent's
//!   [`Registration`] (its encryption key, last check-in, last result);
//! - stream [`REPORTS_STREAM`] (`mc.report.>`): every agent run
//!   ([`AgentRun`]) and every refused message.

use super::envelope::{self, Refusal};
use crate::engine::SecretSource;
use mc_ir::plan::Plan;
use serde::{Deserialize, Serialize};
use ssh_key::{PrivateKey, PublicKey};
use std::collections::BTreeMap;

pub const CATALOG_BUCKET: &str = "mc-catalogs";
pub const AGENTS_BUCKET: &str = "mc-agents";
pub const REPORTS_STREAM: &str = "MC_REPORTS";
/// Signature namespace of stored catalogs: a signed request can never be
/// passed off as a catalog, or the reverse.
pub const NAMESPACE: &str = "mc-catalog";

/// The desired state of one agent's host.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Desired {
    pub v: u32,
    pub agent: String,
    /// When the controller stored it (milliseconds since the epoch): an
    /// agent never goes back to an older one.
    pub issued_ms: u64,
    /// The controller's run that applied it, and that run's plan.
    pub run: i64,
    pub plan: String,
    pub signer: String,
    pub catalog: mc_ir::Catalog,
    /// The values of the secrets the catalog uses (a JSON map, name to
    /// value), age-encrypted to the agent's key, base64; absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<String>,
}

/// An agent's record in [`AGENTS_BUCKET`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Registration {
    pub agent: String,
    pub version: String,
    /// The age public key secrets for this agent are encrypted to.
    pub recipient: String,
    pub interval_secs: u64,
    pub noop: bool,
    pub started: u64,
    /// Its last check-in (start, catalog received, run finished).
    pub last_seen: u64,
    /// The controller run whose catalog it converges to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_run: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<AgentRun>,
}

/// One convergence run of an agent, as reported to [`REPORTS_STREAM`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentRun {
    pub agent: String,
    pub started: u64,
    pub finished: u64,
    /// Only looked (`--noop`): `changed` lists drift it did not correct.
    pub noop: bool,
    pub catalog_run: i64,
    pub status: AgentRunStatus,
    /// Resources changed (or, in noop, drifted), with what differed.
    #[serde(default)]
    pub changed: Vec<ResourceReport>,
    #[serde(default)]
    pub failed: Vec<ResourceReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How an agent's run ended, as it reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRunStatus {
    /// Nothing to change.
    #[default]
    Ok,
    Changed,
    /// A `--noop` run that found drift (and left it).
    Drifted,
    Failed,
}

impl std::fmt::Display for AgentRunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AgentRunStatus::Ok => "ok",
            AgentRunStatus::Changed => "changed",
            AgentRunStatus::Drifted => "drifted",
            AgentRunStatus::Failed => "failed",
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceReport {
    pub id: String,
    pub action: mc_ir::plan::Action,
    pub message: String,
    /// What differed (a drifted resource: what restoring it would change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<mc_ir::plan::AttrChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Subject of an agent's run reports.
pub fn run_subject(agent: &str) -> String {
    format!("mc.report.{}.run", super::nats::token(agent))
}

/// Signs a desired state: the bytes to store.
pub fn seal(key: &PrivateKey, d: &Desired) -> Result<Vec<u8>, String> {
    let text = serde_json::to_string(d).map_err(|e| e.to_string())?;
    envelope::sign(key, NAMESPACE, text)
}

/// Checks a stored desired state for agent `me`: signed by a trusted key,
/// for this agent.
pub fn open(bytes: &[u8], trusted: &[PublicKey], me: &str) -> Result<Desired, Refusal> {
    let (payload, signer) = envelope::verify(bytes, NAMESPACE, trusted)?;
    let d: Desired =
        serde_json::from_str(&payload).map_err(|e| Refusal::Unreadable(e.to_string()))?;
    if !envelope::same_key(&d.signer, &signer) {
        return Err(Refusal::BadSignature(
            "the catalog names another signer".into(),
        ));
    }
    if d.agent != me {
        return Err(Refusal::WrongAgent(d.agent));
    }
    Ok(d)
}

/// Encrypts `plain` to an agent's age recipient (`age1…`): base64.
pub fn seal_for(recipient: &str, plain: &[u8]) -> Result<String, String> {
    use base64::Engine;
    let r: age::x25519::Recipient = recipient
        .parse()
        .map_err(|e| format!("the agent's key {recipient:?} is not an age recipient: {e}"))?;
    let sealed = age::encrypt(&r, plain).map_err(|e| e.to_string())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// Decrypts what [`seal_for`] made.
pub fn unseal(
    identity: &age::x25519::Identity,
    sealed: &str,
) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed.trim())
        .map_err(|e| e.to_string())?;
    age::decrypt(identity, &bytes)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| e.to_string())
}

/// Encrypts secret values to an agent's age recipient.
pub fn encrypt_secrets(
    recipient: &str,
    values: &BTreeMap<String, String>,
) -> Result<String, String> {
    let json = zeroize::Zeroizing::new(serde_json::to_vec(values).map_err(|e| e.to_string())?);
    seal_for(recipient, &json)
}

/// Decrypts what [`encrypt_secrets`] made.
pub fn decrypt_secrets(
    identity: &age::x25519::Identity,
    sealed: &str,
) -> Result<BTreeMap<String, String>, String> {
    let plain = unseal(identity, sealed).map_err(|e| format!("secrets: {e}"))?;
    serde_json::from_slice(&plain).map_err(|e| format!("secrets: {e}"))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A key-value bucket, made on first use (one value per key). Made as
/// its stream, the way the KV API lays it out: `create_key_value` reads
/// account fields that servers before 2.10 do not send.
pub async fn bucket(
    js: &async_nats::jetstream::Context,
    name: &str,
) -> Result<async_nats::jetstream::kv::Store, String> {
    use async_nats::jetstream::stream::{Config, DiscardPolicy};
    let fail = |e: &dyn std::fmt::Display| format!("cannot open the JetStream bucket {name}: {e}");
    js.get_or_create_stream(Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| fail(&e))?;
    js.get_key_value(name).await.map_err(|e| fail(&e))
}

/// The stream of agents' reports, made on first use (kept 30 days).
pub async fn reports_stream(js: &async_nats::jetstream::Context) -> Result<(), String> {
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: REPORTS_STREAM.to_string(),
        subjects: vec!["mc.report.>".to_string()],
        max_age: std::time::Duration::from_secs(30 * 86_400),
        ..Default::default()
    })
    .await
    .map(|_| ())
    .map_err(|e| format!("cannot open the JetStream stream {REPORTS_STREAM}: {e}"))
}

/// An agent's registration, if it ever started.
pub async fn registration(
    registry: &async_nats::jetstream::kv::Store,
    agent: &str,
) -> Result<Option<Registration>, String> {
    match registry.get(agent).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("agent {agent}'s registration is unreadable: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("cannot read agent {agent}'s registration: {e}")),
    }
}

/// After an apply: stores, for each agent host that applied cleanly (or
/// could not be reached but has a catalog compiled from cached facts), the
/// catalog it converges to from now on. Returns what to tell the user.
pub async fn publish(
    agents: &super::Agents,
    plan: &Plan,
    report: &crate::engine::ApplyReport,
    secrets: &dyn SecretSource,
    timeout: std::time::Duration,
) -> Vec<String> {
    let mut notes = Vec::new();
    let hosts: Vec<&mc_ir::plan::HostPlan> = plan
        .hosts
        .iter()
        .filter(|hp| hp.host.transport == mc_ir::Transport::Agent && hp.catalog.is_some())
        .collect();
    if hosts.is_empty() {
        return notes;
    }
    let client = match agents.client(timeout).await {
        Ok(c) => c,
        Err(e) => return vec![format!("agents keep their previous catalogs: {e}")],
    };
    let js = async_nats::jetstream::new(client.clone());
    let catalogs = match bucket(&js, CATALOG_BUCKET).await {
        Ok(c) => c,
        Err(e) => return vec![format!("agents keep their previous catalogs: {e}")],
    };
    for hp in hosts {
        let name = &hp.host.name;
        match publish_one(agents, &client, &catalogs, hp, plan, report, secrets).await {
            Ok(Some(note)) => notes.push(format!("{name}: {note}")),
            Ok(None) => {}
            Err(e) => notes.push(format!("{name}: the agent keeps its previous catalog: {e}")),
        }
    }
    notes
}

async fn publish_one(
    agents: &super::Agents,
    client: &async_nats::Client,
    catalogs: &async_nats::jetstream::kv::Store,
    hp: &mc_ir::plan::HostPlan,
    plan: &Plan,
    report: &crate::engine::ApplyReport,
    secrets: &dyn SecretSource,
) -> Result<Option<String>, String> {
    let name = &hp.host.name;
    let Some(catalog) = &hp.catalog else {
        return Ok(None);
    };
    let applied = report
        .hosts
        .iter()
        .any(|h| &h.host == name && h.status == crate::state::HostStatus::Ok);
    let offline = hp.error.is_some() && hp.resources.is_empty();
    if !applied && !offline {
        return Ok(None);
    }
    if applied && hp.resources.len() != catalog.resources.len() {
        return Ok(Some(
            "only part of its catalog was planned (--tags, --target): the agent keeps its previous catalog"
                .into(),
        ));
    }
    let values = crate::engine::secret_values(catalog, secrets).map_err(|e| e.to_string())?;
    let sealed = if values.is_empty() {
        None
    } else {
        let recipient = agents
            .recipient(client, name)
            .await
            .map_err(|e| e.to_string())?;
        Some(encrypt_secrets(&recipient, &values)?)
    };
    let key = crate::identity::controller_key()?;
    let d = Desired {
        v: 1,
        agent: name.clone(),
        issued_ms: now_ms(),
        run: report.run_id,
        plan: plan.hash.clone(),
        signer: key.public_key().to_openssh().map_err(|e| e.to_string())?,
        catalog: catalog.clone(),
        secrets: sealed,
    };
    catalogs
        .put(name, seal(&key, &d)?.into())
        .await
        .map_err(|e| format!("cannot store its catalog: {e}"))?;
    Ok(offline.then(|| "its catalog is stored; the agent converges to it when it is back".into()))
}

/// Every agent that ever registered with this NATS server, by name.
pub async fn registrations(
    agents: &super::Agents,
    timeout: std::time::Duration,
) -> Result<Vec<Registration>, String> {
    use futures_util::StreamExt;
    let js = async_nats::jetstream::new(agents.client(timeout).await?);
    let registry = bucket(&js, AGENTS_BUCKET).await?;
    let mut keys = registry
        .keys()
        .await
        .map_err(|e| format!("cannot list agents: {e}"))?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| format!("cannot list agents: {e}"))?;
        if let Some(r) = registration(&registry, &key).await? {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.agent.cmp(&b.agent));
    Ok(out)
}
