//! The agent's service loop: verified requests in, runner answers out.
//!
//! Each controller session gets a runner process of its own (this same
//! executable, `--runner`), exactly as an SSH session does: the runner's
//! per-session state (package index refreshed once, batched firewall
//! rules, the stop flag) starts fresh every time.

use crate::convergence::{self, Convergence};
use futures_util::StreamExt;
use mc_runner::protocol::Response;
use mc_runtime::agents::desired;
use mc_runtime::agents::envelope::{self, Frame, Kind, Payload, Seen, ALIVE_EVERY};
use mc_runtime::agents::nats::{self, Credentials};
use ssh_key::PublicKey;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// A session with no request for this long is ended (its controller is gone).
const IDLE_SESSION: Duration = Duration::from_secs(15 * 60);
/// Sessions open at once.
const MAX_SESSIONS: usize = 16;

/// What an agent needs to run.
pub struct Config {
    /// The NATS server(s): `nats://host:4222`, `tls://…`, comma-separated.
    pub server: String,
    pub name: String,
    /// Controller keys whose signed requests this agent acts on.
    pub trusted: Vec<PublicKey>,
    pub credentials: Credentials,
    /// The runner: this executable and the argument that makes it one.
    pub runner: (PathBuf, Vec<String>),
    /// The build id runners report in `hello`.
    pub build_id: String,
    /// Where the agent keeps its key, its last catalog and its state.
    pub state_dir: PathBuf,
    /// How often it re-converges to its catalog.
    pub interval: Duration,
    /// Only report drift; change nothing.
    pub noop: bool,
}

/// The environment variable through which runners learn their build id
/// (hashing a large executable at every session would cost milliseconds).
pub const BUILD_ID_ENV: &str = "MC_AGENT_BUILD_ID";

/// What the request running in a session answers to.
#[derive(Default)]
struct Current {
    reply: Option<async_nats::Subject>,
    seq: u64,
    busy: bool,
    ended: bool,
}

struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    current: Arc<Mutex<Current>>,
    next_seq: u64,
    last_used: Instant,
}

/// Serves until the process is asked to stop (SIGTERM, SIGINT).
pub async fn run(cfg: Config) -> Result<(), String> {
    let client = cfg
        .credentials
        .options(&format!("mc-agent {}", cfg.name), Duration::from_secs(10))
        .await?
        .retry_on_initial_connect()
        .connect(cfg.server.as_str())
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", cfg.server))?;
    // Registered (its encryption key published) before it serves.
    let (mut conv, mut finished) = Convergence::start(&cfg, &client).await?;
    let mut requests = client
        .subscribe(nats::rpc_subject(&cfg.name))
        .await
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    // Serving means the server has the subscription.
    client
        .flush()
        .await
        .map_err(|e| format!("cannot reach {}: {e}", cfg.server))?;
    eprintln!(
        "mc-agent {}: serving {} on {}",
        cfg.name,
        nats::rpc_subject(&cfg.name),
        cfg.server
    );
    let mut sessions: HashMap<String, Session> = HashMap::new();
    let mut seen = Seen::default();
    let mut sweep = tokio::time::interval(Duration::from_secs(30));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    let mut watch = conv.watch(&cfg.name).await;
    let first = convergence::splay(&cfg.name, cfg.interval);
    let mut due = tokio::time::interval_at(
        tokio::time::Instant::now() + first,
        cfg.interval.max(Duration::from_secs(1)),
    );
    due.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = requests.next() => {
                let Some(msg) = msg else { break };
                handle(&cfg, &client, &mut sessions, &mut seen, conv.identity(), msg).await;
            }
            entry = convergence::next_entry(&mut watch) => {
                if let Some(e) = entry {
                    if e.operation == async_nats::jetstream::kv::Operation::Put {
                        conv.on_catalog(&cfg, &client, &e.value).await;
                    }
                }
            }
            _ = due.tick() => {
                if watch.is_none() {
                    watch = conv.watch(&cfg.name).await;
                }
                conv.begin(&cfg);
            }
            Some(run) = finished.recv() => conv.on_finished(&cfg, run).await,
            _ = sweep.tick() => sweep_sessions(&mut sessions),
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    for (_, s) in sessions.drain() {
        end_session(s);
    }
    // Bounded: with the server gone, a flush would wait for it forever.
    let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
    Ok(())
}

async fn handle(
    cfg: &Config,
    client: &async_nats::Client,
    sessions: &mut HashMap<String, Session>,
    seen: &mut Seen,
    identity: &age::x25519::Identity,
    msg: async_nats::Message,
) {
    let mut payload =
        match envelope::open(&msg.payload, &cfg.trusted, &cfg.name, envelope::now(), seen) {
            Ok(p) => p,
            Err(why) => return refuse(cfg, client, msg.reply, why.to_string()).await,
        };
    let reply = msg.reply;
    if payload.kind == Kind::Request {
        // Requests may carry secrets: only ever accepted encrypted.
        let plain = if payload.sealed {
            desired::unseal(identity, &payload.body)
                .and_then(|b| String::from_utf8(b.to_vec()).map_err(|e| e.to_string()))
        } else {
            Err("not encrypted to this agent".into())
        };
        match plain {
            Ok(line) => payload.body = line,
            Err(e) => return refuse(cfg, client, reply, format!("request: {e}")).await,
        }
    }
    match payload.kind {
        Kind::Request => request(cfg, client, sessions, payload, reply).await,
        Kind::Stop => {
            if let Some(s) = sessions.get_mut(&payload.session) {
                write_line(s, mc_runner::session::STOP_LINE).await;
            }
        }
        Kind::Close => {
            if let Some(s) = sessions.remove(&payload.session) {
                end_session(s);
            }
        }
    }
}

/// Reports a refused message: on the agent's log, to the report subject
/// (which the controller's stream keeps), and to the sender.
pub(crate) async fn refuse(
    cfg: &Config,
    client: &async_nats::Client,
    reply: Option<async_nats::Subject>,
    reason: String,
) {
    eprintln!("mc-agent {}: refused a message: {reason}", cfg.name);
    let report = serde_json::json!({
        "agent": cfg.name,
        "at": envelope::now(),
        "reason": reason,
    });
    let _ = client
        .publish(nats::refused_subject(&cfg.name), report.to_string().into())
        .await;
    if let Some(reply) = reply {
        send(client, reply, &Frame::Refused { reason }).await;
    }
}

async fn request(
    cfg: &Config,
    client: &async_nats::Client,
    sessions: &mut HashMap<String, Session>,
    p: Payload,
    reply: Option<async_nats::Subject>,
) {
    let Some(reply) = reply else {
        return refuse(
            cfg,
            client,
            None,
            "a request without a reply subject".into(),
        )
        .await;
    };
    if !sessions.contains_key(&p.session) {
        if p.seq != 1 {
            let why = format!("session {} is not open here (message {})", p.session, p.seq);
            return refuse(cfg, client, Some(reply), why).await;
        }
        sweep_sessions(sessions);
        if sessions.len() >= MAX_SESSIONS {
            let why = format!("{MAX_SESSIONS} sessions are open already");
            return refuse(cfg, client, Some(reply), why).await;
        }
        match start_runner(cfg, client, p.run_as.as_deref()) {
            Ok(s) => {
                sessions.insert(p.session.clone(), s);
            }
            Err(e) => {
                let why = format!("cannot start a runner: {e}");
                return refuse(cfg, client, Some(reply), why).await;
            }
        }
    }
    let Some(s) = sessions.get_mut(&p.session) else {
        return;
    };
    if p.seq != s.next_seq {
        let why = format!("message {} out of order (expected {})", p.seq, s.next_seq);
        return refuse(cfg, client, Some(reply), why).await;
    }
    s.next_seq += 1;
    s.last_used = Instant::now();
    {
        let mut cur = lock(&s.current);
        cur.reply = Some(reply.clone());
        cur.seq = p.seq;
        cur.busy = true;
    }
    send(client, reply, &Frame::Ack { seq: p.seq }).await;
    write_line(s, &p.body).await;
}

/// Starts a runner for one session, and the task that forwards its output
/// to whichever request is current.
fn start_runner(
    cfg: &Config,
    client: &async_nats::Client,
    run_as: Option<&str>,
) -> Result<Session, String> {
    let (exe, args) = &cfg.runner;
    let mut cmd = match run_as {
        Some(user) if Some(user) != current_user().as_deref() => {
            let mut c = Command::new("sudo");
            c.args(["-n", "-H", "-u", user, "--"]).arg(exe).args(args);
            c
        }
        _ => {
            let mut c = Command::new(exe);
            c.args(args);
            c
        }
    };
    cmd.env(BUILD_ID_ENV, &cfg.build_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().ok_or("no runner output")?;
    let current = Arc::new(Mutex::new(Current::default()));
    tokio::spawn(forward_output(client.clone(), stdout, current.clone()));
    tokio::spawn(keep_alive(client.clone(), current.clone()));
    Ok(Session {
        child,
        stdin,
        current,
        next_seq: 1,
        last_used: Instant::now(),
    })
}

async fn forward_output(
    client: async_nats::Client,
    stdout: tokio::process::ChildStdout,
    current: Arc<Mutex<Current>>,
) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let final_answer = !matches!(
            serde_json::from_str::<Response>(&line),
            Ok(Response::Event(_))
        );
        let (reply, seq) = {
            let mut cur = lock(&current);
            if final_answer {
                cur.busy = false;
            }
            (cur.reply.clone(), cur.seq)
        };
        if let Some(reply) = reply {
            send(&client, reply, &Frame::Line { seq, line }).await;
        }
    }
    let reply = {
        let mut cur = lock(&current);
        cur.ended = true;
        cur.busy.then(|| cur.reply.clone()).flatten()
    };
    if let Some(reply) = reply {
        let reason = "the runner exited".to_string();
        send(&client, reply, &Frame::Ended { reason }).await;
    }
}

async fn keep_alive(client: async_nats::Client, current: Arc<Mutex<Current>>) {
    loop {
        tokio::time::sleep(ALIVE_EVERY).await;
        let (reply, seq, ended) = {
            let cur = lock(&current);
            (
                cur.busy.then(|| cur.reply.clone()).flatten(),
                cur.seq,
                cur.ended,
            )
        };
        if ended {
            return;
        }
        if let Some(reply) = reply {
            send(&client, reply, &Frame::Alive { seq }).await;
        }
    }
}

async fn write_line(s: &mut Session, line: &str) {
    if let Some(stdin) = s.stdin.as_mut() {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
            s.stdin = None;
        }
    }
}

/// Ends sessions whose runner exited or whose controller went quiet.
fn sweep_sessions(sessions: &mut HashMap<String, Session>) {
    let done: Vec<String> = sessions
        .iter()
        .filter(|(_, s)| lock(&s.current).ended || s.last_used.elapsed() > IDLE_SESSION)
        .map(|(k, _)| k.clone())
        .collect();
    for k in done {
        if let Some(s) = sessions.remove(&k) {
            end_session(s);
        }
    }
}

/// Closes the runner's input (it exits after `bye` or at end of input) and
/// kills it if it is still there a few seconds later.
fn end_session(mut s: Session) {
    s.stdin = None;
    tokio::spawn(async move {
        if tokio::time::timeout(Duration::from_secs(5), s.child.wait())
            .await
            .is_err()
        {
            let _ = s.child.kill().await;
        }
    });
}

async fn send(client: &async_nats::Client, to: async_nats::Subject, frame: &Frame) {
    if let Ok(bytes) = serde_json::to_vec(frame) {
        let _ = client.publish(to, bytes.into()).await;
    }
}

fn lock(m: &Mutex<Current>) -> std::sync::MutexGuard<'_, Current> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The user this agent runs as.
fn current_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}
