//! The agent's side of continuous convergence: the catalog the controller
//! last applied (from the JetStream bucket, kept on disk too), a run every
//! interval at a per-host offset, and the reports of each run.

use crate::agent::Config;
use crate::converge;
use futures_util::StreamExt;
use mc_runtime::agents::desired::{self, AgentRun, Desired, Registration};
use mc_runtime::agents::envelope;
use mc_runtime::transport::Runners;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the agent knows and keeps between runs.
pub struct Convergence {
    identity: age::x25519::Identity,
    js: async_nats::jetstream::Context,
    registry: async_nats::jetstream::kv::Store,
    catalogs: async_nats::jetstream::kv::Store,
    pub registration: Registration,
    desired: Option<Desired>,
    runner: Runners,
    running: bool,
    done: mpsc::Sender<AgentRun>,
}

/// The agent's age key: made on first start, kept in the state folder.
fn identity(dir: &Path) -> Result<age::x25519::Identity, String> {
    use age::secrecy::ExposeSecret;
    let path = dir.join("agent.key");
    let id = match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|e| format!("{}: {e}", path.display()))?,
        Err(_) => {
            let id = age::x25519::Identity::generate();
            write_private(&path, id.to_string().expose_secret().as_bytes())?;
            id
        }
    };
    // The public half, for `mc agent install` to read over SSH and pin.
    let public = format!("{}\n", id.to_public());
    if std::fs::read_to_string(dir.join("agent.pub"))
        .ok()
        .as_deref()
        != Some(public.as_str())
    {
        write_private(&dir.join("agent.pub"), public.as_bytes())?;
    }
    Ok(id)
}

/// Writes a file only root reads, atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| e.to_string())?;
    tmp.write_all(bytes).map_err(|e| e.to_string())?;
    tmp.persist(path)
        .map_err(|e| format!("{}: {}", path.display(), e.error))?;
    Ok(())
}

fn catalog_file(cfg: &Config) -> PathBuf {
    cfg.state_dir.join("catalog.json")
}

/// The offset of this host's runs within the interval: the same for a host
/// every time, spread across hosts (so a fleet does not run at once).
pub fn splay(name: &str, interval: Duration) -> Duration {
    let hash = mc_runtime::hash::sha256_hex(name.as_bytes());
    let n = u64::from_str_radix(&hash[..16], 16).unwrap_or(0);
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(n % ms)
}

impl Convergence {
    /// Opens the buckets, loads the agent's key and last catalog, and
    /// registers. The receiver gets each finished run.
    pub async fn start(
        cfg: &Config,
        client: &async_nats::Client,
    ) -> Result<(Convergence, mpsc::Receiver<AgentRun>), String> {
        std::fs::create_dir_all(&cfg.state_dir)
            .map_err(|e| format!("cannot create {}: {e}", cfg.state_dir.display()))?;
        let identity = identity(&cfg.state_dir)?;
        let js = async_nats::jetstream::new(client.clone());
        let registry = desired::bucket(&js, desired::AGENTS_BUCKET).await?;
        let catalogs = desired::bucket(&js, desired::CATALOG_BUCKET).await?;
        desired::reports_stream(&js).await?;
        // The catalog last received, so a restart without the server still converges.
        let desired = std::fs::read(catalog_file(cfg))
            .ok()
            .and_then(|b| desired::open(&b, &cfg.trusted, &cfg.name).ok());
        let now = envelope::now();
        let registration = Registration {
            agent: cfg.name.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            recipient: identity.to_public().to_string(),
            interval_secs: cfg.interval.as_secs(),
            noop: cfg.noop,
            started: now,
            last_seen: now,
            catalog_run: desired.as_ref().map(|d| d.run),
            last_run: None,
        };
        // This executable is the runner; reading it (megabytes) is not needed.
        let runner = Runners::from(mc_runtime::runners::RunnerBinary::local(
            &cfg.runner.0,
            &cfg.build_id,
        ));
        let (done, finished) = mpsc::channel(1);
        let mut c = Convergence {
            identity,
            js,
            registry,
            catalogs,
            registration,
            desired,
            runner,
            running: false,
            done,
        };
        c.check_in().await;
        Ok((c, finished))
    }

    /// The agent's age key: requests and catalogs' secrets are encrypted to it.
    pub fn identity(&self) -> &age::x25519::Identity {
        &self.identity
    }

    /// Watches this agent's key in the catalog bucket (its current value first).
    pub async fn watch(&self, name: &str) -> Option<async_nats::jetstream::kv::Watch> {
        self.catalogs.watch_with_history(name).await.ok()
    }

    /// Records the agent's state in the registry: its check-in.
    pub async fn check_in(&mut self) {
        self.registration.last_seen = envelope::now();
        if let Ok(bytes) = serde_json::to_vec(&self.registration) {
            let _ = self
                .registry
                .put(&self.registration.agent, bytes.into())
                .await;
        }
    }

    /// A value of the catalog key: kept if signed, for this agent and
    /// newer than the one in use; converged to at once when it differs
    /// from the one in use (an agent that was offline catches up).
    pub async fn on_catalog(&mut self, cfg: &Config, client: &async_nats::Client, bytes: &[u8]) {
        match desired::open(bytes, &cfg.trusted, &cfg.name) {
            Ok(d) => {
                let newer = self
                    .desired
                    .as_ref()
                    .is_none_or(|c| d.issued_ms > c.issued_ms);
                if !newer {
                    return;
                }
                if let Err(e) = write_private(&catalog_file(cfg), bytes) {
                    eprintln!("mc-agent {}: cannot keep the catalog: {e}", cfg.name);
                }
                eprintln!("mc-agent {}: new catalog from run {}", cfg.name, d.run);
                // The controller stores the catalog after every apply; the
                // same catalog again was just applied: nothing to catch up.
                let differs = self.desired.as_ref().is_none_or(|c| {
                    c.catalog != d.catalog || c.secrets.is_some() != d.secrets.is_some()
                });
                self.registration.catalog_run = Some(d.run);
                self.desired = Some(d);
                self.check_in().await;
                if differs {
                    self.begin(cfg);
                }
            }
            Err(why) => {
                crate::agent::refuse(cfg, client, None, format!("catalog: {why}")).await;
            }
        }
    }

    /// Starts a run unless one is running or there is no catalog yet.
    pub fn begin(&mut self, cfg: &Config) {
        let Some(d) = self.desired.clone() else {
            return;
        };
        if self.running {
            return;
        }
        self.running = true;
        let secrets = match &d.secrets {
            Some(s) => desired::decrypt_secrets(&self.identity, s),
            None => Ok(Default::default()),
        };
        let (name, runner, noop) = (cfg.name.clone(), self.runner.clone(), cfg.noop);
        let state = cfg.state_dir.join("state.db");
        let done = self.done.clone();
        tokio::spawn(async move {
            let run = match secrets {
                Ok(values) => converge::converge(&name, &d, values, &runner, &state, noop).await,
                Err(e) => AgentRun {
                    agent: name,
                    started: envelope::now(),
                    finished: envelope::now(),
                    noop,
                    catalog_run: d.run,
                    status: desired::AgentRunStatus::Failed,
                    error: Some(e),
                    ..Default::default()
                },
            };
            let _ = done.send(run).await;
        });
    }

    /// A run ended: report it to the stream and the registry.
    pub async fn on_finished(&mut self, cfg: &Config, run: AgentRun) {
        self.running = false;
        eprintln!(
            "mc-agent {}: run {}: {} changed, {} failed{}",
            cfg.name,
            run.status,
            run.changed.len(),
            run.failed.len(),
            run.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
        if let Ok(bytes) = serde_json::to_vec(&run) {
            let subject = desired::run_subject(&cfg.name);
            match self.js.publish(subject, bytes.into()).await {
                Ok(ack) => {
                    let _ = ack.await;
                }
                Err(e) => eprintln!("mc-agent {}: cannot report the run: {e}", cfg.name),
            }
        }
        self.registration.last_run = Some(run);
        self.check_in().await;
    }
}

/// The next value of a catalog watch, or never when there is none.
pub async fn next_entry(
    watch: &mut Option<async_nats::jetstream::kv::Watch>,
) -> Option<async_nats::jetstream::kv::Entry> {
    match watch {
        Some(w) => match w.next().await {
            Some(Ok(e)) => Some(e),
            _ => {
                *watch = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}
