//! The controller's side of pull-mode agents: hosts with `transport =
//! "agent"` are reached through a NATS server instead of SSH.
//!
//! A session with an agent looks like any runner session to the engine:
//! request lines in, response lines out. A bridge task turns each request
//! line into a signed [`mc_agent::envelope::Payload`] on the agent's
//! subject and copies the frames the agent sends back into the session's
//! input. A missing or silent agent ends the session with a reason.

pub mod desired;
pub mod envelope;
pub mod ingest;
pub mod nats;

use crate::transport::TransportError;
use envelope::{Frame, Kind, Payload};
use futures_util::StreamExt;
use mc_runner::protocol::Response;
use nats::Credentials;
use ssh_key::PrivateKey;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::time::Instant;

/// How long a signed message stays valid.
const VALIDITY_SECS: u64 = 120;
/// An agent that sent nothing for this long while a request runs is gone
/// (it says it is alive every [`envelope::ALIVE_EVERY`]).
const SILENCE: Duration = Duration::from_secs(20);

/// Where the agents of a run are reached, and the key requests are signed with.
pub struct Agents {
    pub server: String,
    pub credentials: Credentials,
    client: tokio::sync::OnceCell<Result<async_nats::Client, String>>,
    /// Agents' encryption keys, read from their registrations once per run.
    recipients: tokio::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Where each agent's key is pinned (`mc agent install`, else its
    /// first registration): a registration naming another key is refused.
    pins: Option<std::sync::Arc<crate::state::StateStore>>,
}

/// The `meta` key of an agent's pinned encryption key.
pub fn pin_key(agent: &str) -> String {
    format!("agent_key:{agent}")
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agents")
            .field("server", &self.server)
            .finish()
    }
}

impl Agents {
    /// Agents behind `server`. Requests are signed with the controller
    /// key ([`crate::identity::controller_key`]), read when the first
    /// agent session opens.
    pub fn new(server: String, credentials: Credentials) -> Agents {
        Agents {
            server,
            credentials,
            client: Default::default(),
            recipients: Default::default(),
            pins: None,
        }
    }

    /// Pins agents' encryption keys in `store` (shared by a team when the
    /// store is).
    pub fn pinning_in(mut self, store: std::sync::Arc<crate::state::StateStore>) -> Agents {
        self.pins = Some(store);
        self
    }

    /// The age key an agent registered: what its requests are encrypted
    /// to. An agent that never registered one gets nothing sent.
    pub(crate) async fn recipient(
        &self,
        client: &async_nats::Client,
        agent: &str,
    ) -> Result<String, TransportError> {
        let mut known = self.recipients.lock().await;
        if let Some(r) = known.get(agent) {
            return Ok(r.clone());
        }
        let js = async_nats::jetstream::new(client.clone());
        let registry = desired::bucket(&js, desired::AGENTS_BUCKET)
            .await
            .map_err(TransportError::Connect)?;
        let reg = desired::registration(&registry, agent)
            .await
            .map_err(TransportError::Connect)?
            .ok_or_else(|| {
                TransportError::Connect(format!(
                    "agent {agent} has never connected to {} (no registration)",
                    self.server
                ))
            })?;
        self.check_pin(agent, &reg.recipient)
            .map_err(TransportError::Connect)?;
        known.insert(agent.to_string(), reg.recipient.clone());
        Ok(reg.recipient)
    }

    /// Trusts an agent's key the way SSH trusts a host key: the one pinned
    /// at install, else the first one seen; a different one is refused.
    fn check_pin(&self, agent: &str, recipient: &str) -> Result<(), String> {
        let Some(store) = &self.pins else {
            return Ok(());
        };
        let key = pin_key(agent);
        match store.meta(&key).map_err(|e| e.to_string())? {
            Some(pinned) if pinned == recipient => Ok(()),
            Some(pinned) => Err(format!(
                "agent {agent}'s encryption key is not the one pinned for it ({pinned}; now {recipient}): \
                 someone may be posing as it; if the agent was reinstalled, run `mc agent install {agent}` to pin its new key"
            )),
            None => store.set_meta(&key, recipient).map_err(|e| e.to_string()),
        }
    }

    /// The connection to the NATS server, made once per run (a failure too
    /// is remembered: every agent host then fails at once with it).
    pub async fn client(&self, timeout: Duration) -> Result<async_nats::Client, String> {
        self.client
            .get_or_init(|| async {
                let opts = self.credentials.options("mc", timeout).await?;
                match tokio::time::timeout(timeout, opts.connect(self.server.as_str())).await {
                    Ok(Ok(c)) => Ok(c),
                    Ok(Err(e)) => Err(format!("cannot reach the NATS server {}: {e}", self.server)),
                    Err(_) => Err(format!(
                        "cannot reach the NATS server {}: no answer within {timeout:?}",
                        self.server
                    )),
                }
            })
            .await
            .clone()
    }
}

/// One session's messages to its agent.
struct Link {
    agents: Arc<Agents>,
    client: async_nats::Client,
    key: PrivateKey,
    signer: String,
    agent: String,
    /// The agent's age key: request lines are encrypted to it.
    recipient: String,
    session: String,
    run_as: Option<String>,
    seq: u64,
}

impl Link {
    async fn publish(
        &mut self,
        kind: Kind,
        body: String,
        reply: Option<&async_nats::Subject>,
    ) -> Result<u64, String> {
        self.seq += 1;
        let now = envelope::now();
        let sealed = !body.is_empty();
        let body = if sealed {
            desired::seal_for(&self.recipient, body.as_bytes())?
        } else {
            body
        };
        let p = Payload {
            v: envelope::VERSION,
            agent: self.agent.clone(),
            session: self.session.clone(),
            seq: self.seq,
            issued: now,
            expires: now + VALIDITY_SECS,
            signer: self.signer.clone(),
            kind,
            run_as: self.run_as.clone(),
            body,
            sealed,
        };
        let bytes = envelope::seal(&self.key, &p)?;
        let subject = nats::rpc_subject(&self.agent);
        let sent = match reply {
            Some(r) => {
                self.client
                    .publish_with_reply(subject, r.clone(), bytes.into())
                    .await
            }
            None => self.client.publish(subject, bytes.into()).await,
        };
        sent.map_err(|e| format!("cannot publish to the NATS server: {e}"))?;
        Ok(self.seq)
    }
}

/// Opens a session with the agent named `agent`: returns the session's end
/// of the stream and the bridge task. The bridge writes why it ended into
/// `why`.
pub async fn open(
    agents: Arc<Agents>,
    agent: &str,
    run_as: Option<&str>,
    timeout: Duration,
    why: Arc<Mutex<String>>,
) -> Result<(DuplexStream, tokio::task::JoinHandle<()>), TransportError> {
    let client = agents
        .client(timeout)
        .await
        .map_err(TransportError::Connect)?;
    let key = crate::identity::controller_key().map_err(TransportError::Connect)?;
    let signer = key
        .public_key()
        .to_openssh()
        .map_err(|e| TransportError::Connect(e.to_string()))?;
    let recipient = agents.recipient(&client, agent).await?;
    let inbox = client.new_inbox();
    let frames = client.subscribe(inbox.clone()).await.map_err(|e| {
        TransportError::Connect(format!("cannot subscribe on the NATS server: {e}"))
    })?;
    let link = Link {
        agents,
        client,
        key,
        signer,
        agent: agent.to_string(),
        recipient,
        session: random_id(),
        run_as: run_as.map(str::to_string),
        seq: 0,
    };
    let (session_end, bridge_end) = tokio::io::duplex(1 << 20);
    let task = tokio::spawn(async move {
        let mut link = link;
        let reason = bridge(&mut link, bridge_end, inbox.into(), frames, timeout).await;
        if let Some(reason) = reason {
            // Best effort: the agent ends the session's runner now rather
            // than when it has been idle long enough.
            let close = link.publish(Kind::Close, String::new(), None);
            let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
            let mut w = why.lock().unwrap_or_else(|e| e.into_inner());
            w.push_str(&reason);
            w.push('\n');
        }
    });
    Ok((session_end, task))
}

/// The request in flight: its number, whether the agent took it, and when
/// silence means the agent is gone.
struct Waiting {
    seq: u64,
    acked: bool,
    deadline: Instant,
}

/// Copies request lines out and frames back until the session closes
/// (`None`) or the agent fails it (the reason).
async fn bridge(
    link: &mut Link,
    end: DuplexStream,
    inbox: async_nats::Subject,
    mut frames: async_nats::Subscriber,
    timeout: Duration,
) -> Option<String> {
    let (rd, mut wr) = tokio::io::split(end);
    let mut lines = BufReader::new(rd).lines();
    let mut waiting: Option<Waiting> = None;
    let name = link.agent.clone();
    loop {
        let deadline = waiting.as_ref().map(|w| w.deadline);
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else {
                    let _ = link.publish(Kind::Close, String::new(), None).await;
                    return None;
                };
                if line == mc_runner::session::STOP_LINE {
                    if let Err(e) = link.publish(Kind::Stop, String::new(), None).await {
                        return Some(e);
                    }
                    continue;
                }
                match link.publish(Kind::Request, line, Some(&inbox)).await {
                    Ok(seq) => {
                        waiting = Some(Waiting { seq, acked: false, deadline: Instant::now() + timeout });
                    }
                    Err(e) => return Some(e),
                }
            }
            msg = frames.next() => {
                let Some(msg) = msg else {
                    return Some("the NATS connection closed".into());
                };
                if msg.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                    return Some(format!("no agent named {name} is connected to {}", link.agents.server));
                }
                let Ok(frame) = serde_json::from_slice::<Frame>(&msg.payload) else {
                    continue;
                };
                match frame {
                    Frame::Refused { reason } => {
                        return Some(format!("agent {name} refused the request: {reason}"));
                    }
                    Frame::Ended { reason } => return Some(format!("agent {name}: {reason}")),
                    Frame::Ack { seq } | Frame::Alive { seq } => {
                        if let Some(w) = waiting.as_mut().filter(|w| w.seq == seq) {
                            w.acked = true;
                            w.deadline = Instant::now() + SILENCE;
                        }
                    }
                    Frame::Line { seq, line } => {
                        if waiting.as_ref().is_none_or(|w| w.seq != seq) {
                            continue;
                        }
                        let done = !matches!(
                            serde_json::from_str::<Response>(&line),
                            Ok(Response::Event(_))
                        );
                        let mut bytes = line.into_bytes();
                        bytes.push(b'\n');
                        if wr.write_all(&bytes).await.is_err() {
                            return None;
                        }
                        if done {
                            waiting = None;
                        } else if let Some(w) = waiting.as_mut() {
                            w.deadline = Instant::now() + SILENCE;
                        }
                    }
                }
            }
            _ = sleep_until(deadline) => {
                let acked = waiting.as_ref().is_some_and(|w| w.acked);
                return Some(if acked {
                    format!("agent {name} went silent for {SILENCE:?} in the middle of a request")
                } else {
                    format!("agent {name} did not answer within {timeout:?}")
                });
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// 128 random bits, hex.
fn random_id() -> String {
    use ssh_key::rand_core::RngCore;
    let mut bytes = [0u8; 16];
    ssh_key::rand_core::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
