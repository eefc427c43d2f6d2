//! Transports: how the runtime starts one runner per host and talks to it.
//!
//! `local` runs the runner as a child process. `ssh` opens one ControlMaster
//! connection (the `openssh` crate over the system `ssh`, so `~/.ssh/config`,
//! agents and jump hosts work) and runs one remote command on it: a small
//! shell bootstrap that starts the cached runner, or first receives the
//! runner on stdin when the host lacks that exact build. Upload and run
//! therefore share one session and one channel. Resources with `become` /
//! `become_user` get a second runner as that user (under `sudo -n -u`), in
//! another session of the same connection, started on first use
//! ([`RunnerSession::runner_for`]).

use crate::hash::sha256_hex;
use mc_ir::{HostInfo, Transport};
use mc_runner::protocol::{self, Request, Response};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Errors talking to a host. Every variant names what failed, for messages
/// such as "web3: unreachable: …".
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("unreachable: {0}")]
    Connect(String),
    #[error("runner: {0}")]
    Runner(String),
    #[error("connection lost: {0}")]
    Lost(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// The runner executable shipped to hosts, identified by content hash.
#[derive(Clone, Debug)]
pub struct RunnerBinary {
    pub path: PathBuf,
    /// sha256 of the file: the runner reports the same value as `build_id`.
    pub hash: String,
    pub bytes: Arc<Vec<u8>>,
}

impl RunnerBinary {
    pub fn load(path: &Path) -> Result<RunnerBinary, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the runner {}: {e}", path.display()))?;
        Ok(RunnerBinary {
            path: path.to_path_buf(),
            hash: sha256_hex(&bytes),
            bytes: Arc::new(bytes),
        })
    }

    /// Finds the runner: `$MC_RUNNER`, else `mc-runner` next to the current
    /// executable, else one directory up (cargo puts test executables in
    /// `target/<profile>/deps/` and binaries in `target/<profile>/`).
    pub fn locate() -> Result<RunnerBinary, String> {
        if let Some(p) = std::env::var_os("MC_RUNNER") {
            return RunnerBinary::load(Path::new(&p));
        }
        let exe = std::env::current_exe().map_err(|e| format!("cannot locate mc: {e}"))?;
        let mut tried = Vec::new();
        let mut dir = exe.parent();
        for _ in 0..2 {
            let Some(d) = dir else { break };
            let candidate = d.join("mc-runner");
            if candidate.is_file() {
                return RunnerBinary::load(&candidate);
            }
            tried.push(candidate.display().to_string());
            dir = d.parent();
        }
        Err(format!(
            "cannot find mc-runner (tried {}); set MC_RUNNER to its path",
            tried.join(", ")
        ))
    }
}

/// How to reach hosts; shared by every host of a run.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub runner: RunnerBinary,
    /// An ssh_config file used instead of `~/.ssh/config` (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
    /// Accept and remember unknown host keys (`StrictHostKeyChecking=accept-new`).
    /// Changed keys are always refused.
    pub trust_new_host_keys: bool,
    pub connect_timeout: Duration,
    /// Where ssh control sockets go; defaults to the openssh crate's choice.
    pub control_dir: Option<PathBuf>,
}

impl ConnectOptions {
    pub fn new(runner: RunnerBinary) -> ConnectOptions {
        ConnectOptions {
            runner,
            ssh_config: None,
            trust_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            control_dir: None,
        }
    }
}

type Reader = BufReader<Box<dyn AsyncRead + Unpin + Send>>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

enum Process {
    Local(tokio::process::Child),
    Ssh {
        child: Option<openssh::Child<Arc<openssh::Session>>>,
        session: Arc<openssh::Session>,
    },
}

/// A live runner on one host: the request/response channel and the process
/// or SSH connection behind it.
pub struct RunnerSession {
    pub host: String,
    /// The runner's `build_id` from `hello`.
    pub build_id: String,
    /// True when this session uploaded the runner to the host.
    pub uploaded: bool,
    /// Set when a request failed midway: the stream is out of step, so
    /// closing kills the runner instead of saying `bye`.
    pub broken: bool,
    reader: Reader,
    writer: Writer,
    process: Process,
    stderr: Arc<std::sync::Mutex<String>>,
    /// The user this runner runs as, when known: over ssh as the bootstrap
    /// reported it, locally `root` under host-level `become`.
    runs_as: Option<String>,
    /// Runners started under `sudo -u USER` for resources with `become` /
    /// `become_user`, over the same connection, by target user.
    elevated: Vec<(String, RunnerSession)>,
    /// Target users whose runner could not be started, and why: not retried
    /// within the session.
    refused: Vec<(String, String)>,
    host_info: HostInfo,
    opts: ConnectOptions,
}

/// Starts the runner on `host` and completes `hello`.
pub async fn connect(
    host: &HostInfo,
    opts: &ConnectOptions,
) -> Result<RunnerSession, TransportError> {
    // Connecting, a possible upload and `hello` share one bound; an upload
    // gets time in proportion to the runner's size (at least 64 KiB/s).
    let budget = opts.connect_timeout * 3
        + Duration::from_secs(30 + opts.runner.bytes.len() as u64 / 65_536);
    let started = tokio::time::timeout(budget, async {
        let session = match host.transport {
            Transport::Local => connect_local(host, opts, None).await?,
            Transport::Ssh => connect_ssh(host, opts).await?,
        };
        hello(session).await
    })
    .await;
    match started {
        Ok(r) => r,
        Err(_) => Err(TransportError::Timeout(budget)),
    }
}

/// Starts a runner as `user` next to `main`: over the same SSH connection
/// (a new multiplexed session) or as another local child, under `sudo -n -u
/// USER` unless the login already is that user.
async fn connect_as(
    host: &HostInfo,
    opts: &ConnectOptions,
    ssh: Option<Arc<openssh::Session>>,
    user: &str,
) -> Result<RunnerSession, TransportError> {
    let budget = opts.connect_timeout * 3
        + Duration::from_secs(30 + opts.runner.bytes.len() as u64 / 65_536);
    let started = tokio::time::timeout(budget, async {
        let mut session = match ssh {
            None => connect_local(host, opts, Some(user)).await?,
            Some(session) => {
                let boot = shell_quote(&bootstrap_script(&opts.runner.hash, opts.runner.bytes.len()));
                let who = shell_quote(user);
                let command_line = format!(
                    "if [ \"$(id -un)\" = {who} ]; then exec sh -c {boot}; else exec sudo -n -H -u {who} -- sh -c {boot}; fi"
                );
                start_ssh_runner(host, opts, session, command_line).await?
            }
        };
        session.runs_as = Some(user.to_string());
        hello(session).await
    })
    .await;
    match started {
        Ok(r) => r,
        Err(_) => Err(TransportError::Timeout(budget)),
    }
}

/// Completes `hello` on a freshly started runner.
async fn hello(mut session: RunnerSession) -> Result<RunnerSession, TransportError> {
    let hello = Request::Hello {
        protocol: protocol::PROTOCOL_VERSION,
        runtime_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    match session.request(&hello, |_| {}).await? {
        Response::Hello { build_id, .. } => {
            session.build_id = build_id;
            Ok(session)
        }
        Response::Error { message, .. } => Err(TransportError::Runner(message)),
        other => Err(TransportError::Runner(format!(
            "unexpected answer to hello: {}",
            other.to_line()
        ))),
    }
}

/// Starts the runner as a child process: as `as_user` when given, else as
/// root under host-level `become`, else as the current user.
async fn connect_local(
    host: &HostInfo,
    opts: &ConnectOptions,
    as_user: Option<&str>,
) -> Result<RunnerSession, TransportError> {
    let is_root = crate::state::current_uid() == Some(0);
    let target = match as_user {
        Some(u) => Some(u),
        None if host.r#become => Some("root"),
        None => None,
    };
    // Already root: sudo would add nothing (and may not be installed).
    let mut cmd = match target {
        Some("root") if is_root => tokio::process::Command::new(&opts.runner.path),
        Some(user) => {
            let mut c = tokio::process::Command::new("sudo");
            c.args(["-n", "-H", "-u", user, "--"])
                .arg(&opts.runner.path);
            c
        }
        None => tokio::process::Command::new(&opts.runner.path),
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        TransportError::Connect(format!("cannot start {}: {e}", opts.runner.path.display()))
    })?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(TransportError::Connect("runner pipes missing".into()));
    };
    Ok(RunnerSession {
        host: host.name.clone(),
        build_id: String::new(),
        uploaded: false,
        broken: false,
        reader: BufReader::new(Box::new(stdout)),
        writer: Box::new(stdin),
        process: Process::Local(child),
        stderr: collect_stderr(stderr),
        runs_as: host.r#become.then(|| "root".to_string()),
        elevated: Vec::new(),
        refused: Vec::new(),
        host_info: host.clone(),
        opts: opts.clone(),
    })
}

/// The remote bootstrap. It picks the runner cache directory, and either
/// execs the cached runner (`MC-READY user`) or asks for the binary
/// (`MC-UPLOAD user`), reads exactly its size from stdin, installs it atomically
/// and execs it. `head -c` never reads past the count, so the protocol bytes
/// that follow stay on stdin for the runner.
fn bootstrap_script(hash: &str, size: usize) -> String {
    // The hot path (runner cached) spawns no process before the runner.
    format!(
        r#"set -e
c="${{XDG_CACHE_HOME:-$HOME/.cache}}/mc/runner"
for f in "/var/lib/mc/runner/mc-runner-{hash}" "$c/mc-runner-{hash}"; do
  if [ -x "$f" ]; then echo "MC-READY $USER"; exec "$f"; fi
done
if [ "$(id -u)" = 0 ]; then d=/var/lib/mc/runner; else d="$c"; fi
if ! mkdir -p "$d" 2>/dev/null; then
  # No usable home (system accounts under become_user): a private directory.
  d="/tmp/mc-runner-$(id -u)"
  mkdir -p -m 700 "$d"
  [ -O "$d" ] || {{ echo "$d belongs to another user" >&2; exit 1; }}
  if [ -x "$d/mc-runner-{hash}" ]; then echo "MC-READY $USER"; exec "$d/mc-runner-{hash}"; fi
fi
f="$d/mc-runner-{hash}"
echo "MC-UPLOAD $USER"
t="$f.tmp.$$"
head -c {size} > "$t"
chmod 0755 "$t"
mv -f "$t" "$f"
exec "$f""#
    )
}

async fn connect_ssh(
    host: &HostInfo,
    opts: &ConnectOptions,
) -> Result<RunnerSession, TransportError> {
    let mut builder = openssh::SessionBuilder::default();
    builder
        .known_hosts_check(if opts.trust_new_host_keys {
            openssh::KnownHosts::Add
        } else {
            openssh::KnownHosts::Strict
        })
        .connect_timeout(opts.connect_timeout)
        .server_alive_interval(Duration::from_secs(5));
    // A killed mc must not leave a master connection behind forever.
    if let Some(idle) = NonZeroUsize::new(30) {
        builder.control_persist(openssh::ControlPersist::IdleFor(idle));
    }
    if let Some(cfg) = &opts.ssh_config {
        builder.config_file(cfg);
    }
    if let Some(dir) = &opts.control_dir {
        builder.control_directory(dir);
    }
    if let Some(user) = &host.user {
        builder.user(user.clone());
    }
    if let Some(port) = host.port {
        builder.port(port);
    }
    let session = builder
        .connect_mux(&host.address)
        .await
        .map_err(|e| TransportError::Connect(error_chain(&e)))?;
    let session = Arc::new(session);
    let script = bootstrap_script(&opts.runner.hash, opts.runner.bytes.len());
    let quoted = shell_quote(&script);
    let command_line = if host.r#become {
        // Root already (the usual fleet login) needs no sudo.
        format!(
            "if [ \"$(id -u)\" = 0 ]; then exec sh -c {quoted}; else exec sudo -n sh -c {quoted}; fi"
        )
    } else {
        format!("sh -c {quoted}")
    };
    let mut s = start_ssh_runner(host, opts, session, command_line).await?;
    if s.runs_as.is_none() {
        s.runs_as = if host.r#become {
            Some("root".to_string())
        } else {
            host.user.clone()
        };
    }
    Ok(s)
}

/// Runs the bootstrap `command_line` in a new session of the connection,
/// uploading the runner when it asks for it.
async fn start_ssh_runner(
    host: &HostInfo,
    opts: &ConnectOptions,
    session: Arc<openssh::Session>,
    command_line: String,
) -> Result<RunnerSession, TransportError> {
    let mut child = session
        .clone()
        .arc_raw_command(command_line)
        .stdin(openssh::Stdio::piped())
        .stdout(openssh::Stdio::piped())
        .stderr(openssh::Stdio::piped())
        .spawn()
        .await
        .map_err(|e| TransportError::Connect(error_chain(&e)))?;
    let (Some(stdin), Some(stdout), Some(stderr)) = (
        child.stdin().take(),
        child.stdout().take(),
        child.stderr().take(),
    ) else {
        return Err(TransportError::Connect("ssh pipes missing".into()));
    };
    let stderr = collect_stderr(stderr);
    let mut reader: Reader = BufReader::new(Box::new(stdout));
    let mut writer: Writer = Box::new(stdin);
    let mut line = String::new();
    let n = reader
        .read_line(&mut line)
        .await
        .map_err(|e| TransportError::Lost(e.to_string()))?;
    // sshd and sudo both set $USER: who the runner runs as, for free.
    let (tag, user) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
    let runs_as = (!user.is_empty()).then(|| user.to_string());
    let uploaded = match tag {
        "MC-READY" => false,
        "MC-UPLOAD" => {
            writer
                .write_all(&opts.runner.bytes)
                .await
                .map_err(|e| TransportError::Lost(format!("uploading the runner: {e}")))?;
            writer
                .flush()
                .await
                .map_err(|e| TransportError::Lost(format!("uploading the runner: {e}")))?;
            true
        }
        _ => {
            let err = wait_for_stderr(&stderr).await;
            return Err(TransportError::Runner(format!(
                "bootstrap failed{}: {}",
                if n == 0 { " (no output)" } else { "" },
                if err.is_empty() {
                    line.trim().to_string()
                } else {
                    err
                }
            )));
        }
    };
    Ok(RunnerSession {
        host: host.name.clone(),
        build_id: String::new(),
        uploaded,
        broken: false,
        reader,
        writer,
        process: Process::Ssh {
            child: Some(child),
            session,
        },
        stderr,
        runs_as,
        elevated: Vec::new(),
        refused: Vec::new(),
        host_info: host.clone(),
        opts: opts.clone(),
    })
}

fn collect_stderr<R: AsyncRead + Unpin + Send + 'static>(
    stderr: R,
) -> Arc<std::sync::Mutex<String>> {
    let buf = Arc::new(std::sync::Mutex::new(String::new()));
    let sink = buf.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
            // Keep the tail only: this is for error messages.
            if s.len() > 8192 {
                let cut = s.len() - 4096;
                let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                s.drain(..cut);
            }
            s.push_str(&line);
            s.push('\n');
        }
    });
    buf
}

async fn wait_for_stderr(stderr: &Arc<std::sync::Mutex<String>>) -> String {
    // stderr is read by a task; give it a bounded moment to catch up.
    for _ in 0..20 {
        let s = stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .trim()
            .to_string();
        if !s.is_empty() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    String::new()
}

impl RunnerSession {
    /// Sends one request and waits for its final response; `on_event` sees
    /// the events streamed before it.
    pub async fn request(
        &mut self,
        req: &Request,
        mut on_event: impl FnMut(&protocol::Event),
    ) -> Result<Response, TransportError> {
        // Cleared again only if the full exchange completes.
        self.broken = true;
        let mut line = req.to_line();
        line.push('\n');
        if let Err(e) = self.writer.write_all(line.as_bytes()).await {
            return Err(lost(self.stderr.clone(), e.to_string()).await);
        }
        if let Err(e) = self.writer.flush().await {
            return Err(lost(self.stderr.clone(), e.to_string()).await);
        }
        let mut buf = String::new();
        loop {
            buf.clear();
            match self.reader.read_line(&mut buf).await {
                Ok(0) => return Err(lost(self.stderr.clone(), "the runner exited".into()).await),
                Ok(_) => {}
                Err(e) => return Err(lost(self.stderr.clone(), e.to_string()).await),
            }
            let text = buf.trim();
            if text.is_empty() {
                continue;
            }
            let resp: Response = serde_json::from_str(text).map_err(|e| {
                TransportError::Runner(format!("unreadable message from the runner: {e}: {text}"))
            })?;
            match resp {
                Response::Event(ev) => on_event(&ev),
                other => {
                    self.broken = false;
                    return Ok(other);
                }
            }
        }
    }

    /// The runner for resources that run as `user` (`become` /
    /// `become_user`): this one for `None` or when it already runs as that
    /// user, else a runner started as that user on first use (see
    /// [`connect_as`]) and kept for the rest of the session.
    pub async fn runner_for(
        &mut self,
        user: Option<&str>,
    ) -> Result<&mut RunnerSession, TransportError> {
        let Some(user) = user else { return Ok(self) };
        if self.runs_as.as_deref() == Some(user) {
            return Ok(self);
        }
        if let Some((_, why)) = self.refused.iter().find(|(u, _)| u == user) {
            return Err(TransportError::Runner(why.clone()));
        }
        if let Some(i) = self.elevated.iter().position(|(u, _)| u == user) {
            return Ok(&mut self.elevated[i].1);
        }
        // Owned copies: a `&RunnerSession` held across the await would make
        // the future `!Send`.
        let ssh = match &self.process {
            Process::Local(_) => None,
            Process::Ssh { session, .. } => Some(session.clone()),
        };
        let (host, opts) = (self.host_info.clone(), self.opts.clone());
        match connect_as(&host, &opts, ssh, user).await {
            Ok(s) => {
                self.elevated.push((user.to_string(), s));
                let last = self.elevated.len() - 1;
                Ok(&mut self.elevated[last].1)
            }
            Err(e) => {
                let why = format!("cannot start a runner as {user:?}: {e}");
                self.refused.push((user.to_string(), why.clone()));
                Err(TransportError::Runner(why))
            }
        }
    }

    /// Says `bye` and waits for the runner (and the SSH connection) to end.
    /// A broken session is killed instead: the runner may be stuck in a
    /// batch that timed out.
    pub async fn close(mut self) {
        // The runners started as other users go first: they share the
        // connection the main session then closes.
        for (_, s) in std::mem::take(&mut self.elevated) {
            s.close_one().await;
        }
        self.close_one().await;
    }

    async fn close_one(mut self) {
        let grace = if self.broken {
            Duration::ZERO
        } else {
            let _ =
                tokio::time::timeout(Duration::from_secs(5), self.request(&Request::Bye, |_| {}))
                    .await;
            Duration::from_secs(5)
        };
        drop(self.writer);
        match self.process {
            Process::Local(mut child) => {
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
            }
            Process::Ssh { mut child, session } => {
                if let Some(c) = child.take() {
                    if tokio::time::timeout(grace, c.wait()).await.is_err() {
                        // Dropping the child ended its ssh client; closing
                        // the master below ends the connection, and sshd
                        // then hangs up the remote runner.
                    }
                }
                if let Ok(s) = Arc::try_unwrap(session) {
                    let _ = tokio::time::timeout(Duration::from_secs(5), s.close()).await;
                }
            }
        }
    }
}

async fn lost(stderr: Arc<std::sync::Mutex<String>>, what: String) -> TransportError {
    let err = wait_for_stderr(&stderr).await;
    if err.is_empty() {
        TransportError::Lost(what)
    } else {
        TransportError::Lost(format!(
            "{what}: {}",
            err.lines().last().unwrap_or_default()
        ))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(c.trim());
        }
        src = cause.source();
    }
    s
}

/// Single-quotes a string for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn bootstrap_names_the_build() {
        let s = bootstrap_script("abc", 42);
        assert!(s.contains("mc-runner-abc"));
        assert!(s.contains("head -c 42"));
    }
}
