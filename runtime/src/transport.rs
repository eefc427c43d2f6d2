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
//!
//! Without persistence (`ssh_persist` zero) the connection is one `ssh`
//! process whose own session carries the runner's stdio: it authenticates
//! and runs the bootstrap in one go, without a daemonized master, a
//! multiplexing handshake or a liveness check. It still listens on a
//! private control socket (`ControlMaster=yes`), so the runners of other
//! users and [`RunnerSession::shell`] share its connection.
//!
//! With [`ConnectOptions::ssh_persist`] the master outlives the run, idle,
//! behind a socket in a private directory named by [`master_key`], and the
//! next command resumes it after an alive check instead of connecting again
//! (as Ansible's `ControlPersist`).

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

pub use crate::runners::{RunnerBinary, Runners};

/// How to reach hosts; shared by every host of a run.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// The runners to ship, one per architecture.
    pub runner: Runners,
    /// An ssh_config file used instead of `~/.ssh/config` (`ssh -F`).
    pub ssh_config: Option<PathBuf>,
    /// Accept and remember unknown host keys (`StrictHostKeyChecking=accept-new`).
    /// Changed keys are always refused.
    pub trust_new_host_keys: bool,
    pub connect_timeout: Duration,
    /// Where ssh control sockets go; defaults to the system's temporary
    /// directory (a private directory per connection inside it), or to
    /// [`default_persist_dir`] when `ssh_persist` is on.
    pub control_dir: Option<PathBuf>,
    /// How long each host's ssh master stays up after a run for the next
    /// command to reuse (ssh's `ControlPersist`); zero closes it at once.
    pub ssh_persist: Duration,
    /// The NATS server behind hosts with `transport = "agent"`.
    pub agents: Option<Arc<crate::agents::Agents>>,
}

impl ConnectOptions {
    pub fn new(runner: impl Into<Runners>) -> ConnectOptions {
        ConnectOptions {
            runner: runner.into(),
            ssh_config: None,
            trust_new_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            control_dir: None,
            ssh_persist: Duration::ZERO,
            agents: None,
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
        /// The master outlives the run (`ssh_persist`): closing the session
        /// leaves it up.
        persistent: bool,
    },
    /// One `ssh` process (nothing persisted): its session is the runner's
    /// stdio, and `session` reaches its control socket for more sessions.
    Direct {
        child: tokio::process::Child,
        session: Arc<openssh::Session>,
        /// The private directory of its control socket and log; removed
        /// when the session closes.
        dir: PrivateDir,
    },
    /// A pull-mode agent: the task bridging the session to NATS.
    Agent(tokio::task::JoinHandle<()>),
}

/// A directory of ours (mode 0700, a new name), removed with its contents
/// when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new_in(parent: &Path) -> std::io::Result<PrivateDir> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let mut last = None;
        for _ in 0..16 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default();
            let name = format!(
                ".mc-ssh-{}-{}-{nanos:x}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            );
            let path = parent.join(name);
            // `create` never follows or reuses an existing entry.
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(PrivateDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free name")))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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
    let budget =
        opts.connect_timeout * 3 + Duration::from_secs(30 + opts.runner.max_size() as u64 / 65_536);
    let started = tokio::time::timeout(budget, async {
        let session = match host.transport {
            Transport::Local => connect_local(host, opts, None).await?,
            Transport::Ssh => connect_ssh(host, opts).await?,
            Transport::Agent => return connect_agent(host, opts, None).await,
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
    let budget =
        opts.connect_timeout * 3 + Duration::from_secs(30 + opts.runner.max_size() as u64 / 65_536);
    let started = tokio::time::timeout(budget, async {
        if host.transport == Transport::Agent {
            return connect_agent(host, opts, Some(user)).await;
        }
        let mut session = match ssh {
            None => connect_local(host, opts, Some(user)).await?,
            Some(session) => {
                let boot = shell_quote(&bootstrap_script(&opts.runner));
                let who = shell_quote(user);
                let command_line = format!(
                    "if [ \"$(id -un)\" = {who} ]; then exec sh -c {boot}; else exec sudo -n -H -u {who} -- sh -c {boot}; fi"
                );
                start_ssh_runner(host, opts, session, false, command_line, None).await?
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

/// Opens a session with the host's agent over NATS and completes `hello`;
/// an agent that does not answer makes the host unreachable.
async fn connect_agent(
    host: &HostInfo,
    opts: &ConnectOptions,
    as_user: Option<&str>,
) -> Result<RunnerSession, TransportError> {
    let agents = opts.agents.clone().ok_or_else(|| {
        TransportError::Connect(
            "the host uses transport = \"agent\", and no NATS server is set: project { agents = \"nats://HOST:4222\" } or MC_AGENTS".into(),
        )
    })?;
    let why = Arc::new(std::sync::Mutex::new(String::new()));
    let (stream, bridge) = crate::agents::open(
        agents,
        &host.name,
        as_user,
        opts.connect_timeout,
        why.clone(),
    )
    .await?;
    let (rd, wr) = tokio::io::split(stream);
    let session = RunnerSession {
        host: host.name.clone(),
        build_id: String::new(),
        uploaded: false,
        broken: false,
        reader: BufReader::new(Box::new(rd)),
        writer: Box::new(wr),
        process: Process::Agent(bridge),
        stderr: why.clone(),
        runs_as: as_user.map(str::to_string),
        elevated: Vec::new(),
        refused: Vec::new(),
        host_info: host.clone(),
        opts: opts.clone(),
    };
    hello(session).await.map_err(|e| match e {
        TransportError::Lost(m) => {
            let reason = why
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .trim()
                .to_string();
            TransportError::Connect(if reason.is_empty() { m } else { reason })
        }
        other => other,
    })
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
    let runner = opts
        .runner
        .local_executable()
        .map_err(TransportError::Connect)?;
    // Already root: sudo would add nothing (and may not be installed).
    let mut cmd = match target {
        Some("root") if is_root => tokio::process::Command::new(&runner),
        Some(user) => {
            let mut c = tokio::process::Command::new("sudo");
            c.args(["-n", "-H", "-u", user, "--"]).arg(&runner);
            c
        }
        None => tokio::process::Command::new(&runner),
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Not in the terminal's process group: Ctrl-C is for mc, which lets
        // running resources finish (a second one closes the runner's stdin,
        // and the runner ends its commands).
        .process_group(0)
        .kill_on_drop(true);
    let mut child = spawn_runner(&mut cmd)
        .await
        .map_err(|e| TransportError::Connect(format!("cannot start {}: {e}", runner.display())))?;
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

/// How many runner builds a host's cache keeps: the newest, so a host
/// managed by a few `mc` versions in turn does not upload at every switch.
pub const RUNNER_BUILDS_KEPT: usize = 3;

/// The remote bootstrap. It execs a cached runner of one of our builds
/// (`MC-READY user`) or, by `uname -m`, asks for the binary of the host's
/// architecture (`MC-UPLOAD user arch`), reads exactly its size from stdin,
/// installs it atomically, prunes older builds and execs it. An
/// architecture we have no runner for is reported (`MC-NOARCH user arch`).
/// `head -c` never reads past the count, so the protocol bytes that follow
/// stay on stdin for the runner.
fn bootstrap_script(runners: &Runners) -> String {
    let cached: Vec<String> = runners
        .all()
        .iter()
        .flat_map(|r| {
            [
                format!("\"/var/lib/mc/runner/mc-runner-{}\"", r.hash),
                format!("\"$c/mc-runner-{}\"", r.hash),
            ]
        })
        .collect();
    let arches: String = runners
        .all()
        .iter()
        .map(|r| {
            let aliases = match r.arch.as_str() {
                "x86_64" => "x86_64|amd64",
                "aarch64" => "aarch64|arm64",
                other => other,
            };
            format!("  {aliases}) h={}; n={} ;;\n", r.hash, r.bytes.len())
        })
        .collect();
    let cached = cached.join(" ");
    let keep = RUNNER_BUILDS_KEPT + 1;
    // The hot path (runner cached) spawns no process before the runner.
    format!(
        r#"set -e
c="${{XDG_CACHE_HOME:-$HOME/.cache}}/mc/runner"
for f in {cached}; do
  if [ -x "$f" ]; then echo "MC-READY $USER"; exec "$f"; fi
done
a=$(uname -m)
case "$a" in
{arches}  *) echo "MC-NOARCH $USER $a"; exit 0 ;;
esac
if [ "$(id -u)" = 0 ]; then d=/var/lib/mc/runner; else d="$c"; fi
if ! mkdir -p "$d" 2>/dev/null; then
  # No usable home (system accounts under become_user): a private directory.
  d="/tmp/mc-runner-$(id -u)"
  mkdir -p -m 700 "$d"
  if [ -L "$d" ] || [ ! -O "$d" ]; then echo "$d belongs to another user" >&2; exit 1; fi
  if [ -x "$d/mc-runner-$h" ]; then echo "MC-READY $USER"; exec "$d/mc-runner-$h"; fi
fi
f="$d/mc-runner-$h"
echo "MC-UPLOAD $USER $a"
t="$f.tmp.$$"
rm -f "$t"
# noclobber: the temp file is created new, never opened through a link.
set -C
head -c $n > "$t"
set +C
chmod 0755 "$t"
mv -f "$t" "$f"
ls -t "$d" | grep -E '^mc-runner-[0-9a-f]{{64}}$' | tail -n +{keep} | while read -r o; do rm -f "$d/$o"; done
exec "$f""#
    )
}

async fn connect_ssh(
    host: &HostInfo,
    opts: &ConnectOptions,
) -> Result<RunnerSession, TransportError> {
    let command_line = main_command_line(host, opts);
    let persist = opts.ssh_persist.as_secs();
    if persist == 0 {
        return Ok(with_runs_as(
            connect_direct(host, opts, command_line).await?,
            host,
        ));
    }
    let (session, persistent) = {
        let dir = persist_dir(opts).map_err(TransportError::Connect)?;
        let socket = dir.join(master_key(host, opts));
        if let Some(session) = resume_master(&socket).await {
            let session = Arc::new(session);
            match start_ssh_runner(
                host,
                opts,
                session.clone(),
                true,
                command_line.clone(),
                None,
            )
            .await
            {
                Ok(s) => return Ok(with_runs_as(s, host)),
                // The master answered but its connection is gone (the
                // server went away before ServerAlive noticed): replace it.
                Err(TransportError::Connect(_) | TransportError::Lost(_)) => {
                    stop_master(&socket).await;
                }
                Err(e) => return Err(e),
            }
        }
        sweep_dead_sockets(&dir);
        let session = connect_master(host, opts, &dir).await?;
        (adopt_master(session, &socket).await?, true)
    };
    let s = start_ssh_runner(
        host,
        opts,
        Arc::new(session),
        persistent,
        command_line,
        None,
    )
    .await?;
    Ok(with_runs_as(s, host))
}

/// How the first login of `mc onboard` becomes root.
#[derive(Clone, Copy, Debug)]
pub enum Elevation<'a> {
    /// The login is root.
    None,
    /// `sudo -n`: the login may sudo without a password.
    Sudo,
    /// `sudo -S`, fed this password on stdin.
    SudoPassword(&'a str),
}

/// Starts a root runner over an ssh master that `mc onboard` opened
/// itself (control socket `socket`, e.g. after a password login) and
/// completes `hello`. The master stays up when the session closes.
pub async fn connect_over_master(
    host: &HostInfo,
    opts: &ConnectOptions,
    socket: &Path,
    elevation: Elevation<'_>,
) -> Result<RunnerSession, TransportError> {
    let session = Arc::new(openssh::Session::resume_mux(socket.into(), None));
    let boot = shell_quote(&bootstrap_script(&opts.runner));
    let (command_line, password) = match elevation {
        Elevation::None => (format!("exec sh -c {boot}"), None),
        Elevation::Sudo => (format!("exec sudo -n sh -c {boot}"), None),
        // -k: never a cached ticket, so sudo always reads the password line
        // (else the bootstrap would read it).
        Elevation::SudoPassword(p) => (format!("exec sudo -S -k -p '' sh -c {boot}"), Some(p)),
    };
    let budget =
        opts.connect_timeout * 3 + Duration::from_secs(30 + opts.runner.max_size() as u64 / 65_536);
    let started = tokio::time::timeout(budget, async {
        let mut s = start_ssh_runner(host, opts, session, true, command_line, password).await?;
        s.runs_as = Some("root".into());
        hello(s).await
    })
    .await;
    started.unwrap_or(Err(TransportError::Timeout(budget)))
}

/// Runs `command` over a master's control socket with `input` on its
/// stdin; its exit code (-1 when killed by a signal), stdout and stderr.
pub async fn master_command(
    socket: &Path,
    command: &str,
    input: &[u8],
) -> Result<(i32, String, String), TransportError> {
    let session = openssh::Session::resume_mux(socket.into(), None);
    let mut child = session
        .raw_command(command)
        .stdin(openssh::Stdio::piped())
        .stdout(openssh::Stdio::piped())
        .stderr(openssh::Stdio::piped())
        .spawn()
        .await
        .map_err(|e| TransportError::Connect(error_chain(&e)))?;
    if let Some(mut stdin) = child.stdin().take() {
        let _ = stdin.write_all(input).await;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| TransportError::Lost(error_chain(&e)))?;
    // A resumed session leaves the master up: it is `mc onboard`'s to close.
    drop(session);
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn main_command_line(host: &HostInfo, opts: &ConnectOptions) -> String {
    let script = bootstrap_script(&opts.runner);
    let quoted = shell_quote(&script);
    if host.r#become {
        // Root already (the usual fleet login) needs no sudo.
        format!(
            "if [ \"$(id -u)\" = 0 ]; then exec sh -c {quoted}; else exec sudo -n sh -c {quoted}; fi"
        )
    } else {
        format!("sh -c {quoted}")
    }
}

fn with_runs_as(mut s: RunnerSession, host: &HostInfo) -> RunnerSession {
    if s.runs_as.is_none() {
        s.runs_as = if host.r#become {
            Some("root".to_string())
        } else {
            host.user.clone()
        };
    }
    s
}

/// Opens a new master connection with its socket in `dir`; it stays up for
/// `ssh_persist` after its last session ends.
async fn connect_master(
    host: &HostInfo,
    opts: &ConnectOptions,
    dir: &Path,
) -> Result<openssh::Session, TransportError> {
    let mut builder = openssh::SessionBuilder::default();
    builder
        .known_hosts_check(if opts.trust_new_host_keys {
            openssh::KnownHosts::Add
        } else {
            openssh::KnownHosts::Strict
        })
        .connect_timeout(opts.connect_timeout)
        .server_alive_interval(Duration::from_secs(5));
    let idle = opts.ssh_persist.as_secs().max(1);
    if let Some(idle) = NonZeroUsize::new(idle as usize) {
        builder.control_persist(openssh::ControlPersist::IdleFor(idle));
    }
    if let Some(cfg) = &opts.ssh_config {
        builder.config_file(cfg);
    }
    builder.control_directory(dir);
    if let Some(user) = &host.user {
        builder.user(user.clone());
    }
    if let Some(key) = &host.ssh_key {
        builder.keyfile(key);
    }
    if let Some(port) = host.port {
        builder.port(port);
    }
    let session = builder
        .connect_mux(&host.address)
        .await
        .map_err(|e| TransportError::Connect(error_chain(&e)))?;
    if let Some(pid) = master_pid(session.control_socket()).await {
        remember_master(pid, session.control_socket());
    }
    Ok(session)
}

/// Moves a new master's control socket to its persistent name and returns
/// a session over it that leaves the master up when dropped.
async fn adopt_master(
    session: openssh::Session,
    socket: &Path,
) -> Result<openssh::Session, TransportError> {
    let (ctl, _log) = session.detach();
    // Renaming keeps the bound socket: the master still answers on it.
    let moved = std::fs::rename(&ctl, socket);
    if let Some(tmp) = ctl.parent() {
        let _ = std::fs::remove_dir_all(tmp);
    }
    if let Err(e) = moved {
        // Unreachable now: end the master rather than leak it.
        let _ = openssh::Session::resume_mux(ctl, None).close().await;
        return Err(TransportError::Connect(format!(
            "cannot keep the ssh control socket at {}: {e}",
            socket.display()
        )));
    }
    Ok(openssh::Session::resume_mux(socket.into(), None))
}

/// A session over a persisted master when it is alive; a dead or stale
/// socket is removed.
async fn resume_master(socket: &Path) -> Option<openssh::Session> {
    if std::fs::symlink_metadata(socket).is_err() {
        return None;
    }
    if master_pid(socket).await.is_some() {
        return Some(openssh::Session::resume_mux(socket.into(), None));
    }
    let _ = std::fs::remove_file(socket);
    None
}

/// Whether a file name is one of ours: [`master_key`]'s 32 hex digits.
fn is_master_name(name: &std::ffi::OsStr) -> bool {
    name.len() == 32
        && name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Removes sockets whose master is gone (hosts not seen again would leave
/// them forever). A dead socket refuses a connection at once.
fn sweep_dead_sockets(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !is_master_name(&entry.file_name()) {
            continue;
        }
        let path = entry.path();
        if let Err(e) = std::os::unix::net::UnixStream::connect(&path) {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Asks the master behind `socket` to exit and removes the socket.
pub async fn stop_master(socket: &Path) {
    let session = openssh::Session::resume_mux(socket.into(), None);
    let _ = tokio::time::timeout(Duration::from_secs(5), session.close()).await;
    let _ = std::fs::remove_file(socket);
}

/// The PID of the ssh master answering on `socket`, if one does.
pub async fn master_pid(socket: &Path) -> Option<u32> {
    let check = async {
        let mut conn = openssh_mux_client::Connection::connect(socket).await.ok()?;
        conn.send_alive_check().await.ok().map(|p| p.get())
    };
    tokio::time::timeout(Duration::from_secs(2), check)
        .await
        .ok()
        .flatten()
}

static MASTERS: std::sync::Mutex<Vec<(u32, PathBuf)>> = std::sync::Mutex::new(Vec::new());

fn remember_master(pid: u32, socket: &Path) {
    MASTERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((pid, socket.to_path_buf()));
}

/// The ssh masters this process started, oldest first: PID and the control
/// socket it was started with (a persisted one is renamed afterwards, in
/// the same directory).
pub fn started_masters() -> Vec<(u32, PathBuf)> {
    MASTERS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Ends every persisted master in `dir` (or the default directory) and
/// removes the sockets; returns how many were alive.
pub async fn stop_persisted_masters(dir: Option<&Path>) -> usize {
    let Some(dir) = dir.map(Path::to_path_buf).or_else(default_persist_dir) else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut alive = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if !is_master_name(&entry.file_name()) {
            continue;
        }
        if master_pid(&path).await.is_some() {
            alive += 1;
        }
        stop_master(&path).await;
    }
    alive
}

/// The name of a host's persistent control socket: a hash of everything
/// that selects the identity and the host key check, so a master is never
/// reused for another user, host, port or ssh config.
pub fn master_key(host: &HostInfo, opts: &ConnectOptions) -> String {
    let config = opts
        .ssh_config
        .as_deref()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
    let mut id = format!(
        "user={:?}\naddress={}\nport={:?}\nconfig={:?}\ntrust_new={}",
        host.user, host.address, host.port, config, opts.trust_new_host_keys
    );
    // Added only when set, so existing sockets keep their names.
    if let Some(key) = &host.ssh_key {
        id.push_str(&format!("\nkey={key}"));
    }
    let mut key = sha256_hex(id.as_bytes());
    // Socket paths are limited to about 100 bytes.
    key.truncate(32);
    key
}

/// `$XDG_RUNTIME_DIR/mc/ssh`, else `~/.cache/mc/ssh`.
pub fn default_persist_dir() -> Option<PathBuf> {
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(run).join("mc").join("ssh"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("mc").join("ssh"))
}

/// The directory for persistent control sockets, created mode 0700 and
/// checked: anyone who can reach a socket can run commands as us on the
/// host, so it must be ours and private.
fn persist_dir(opts: &ConnectOptions) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let dir = opts
        .control_dir
        .clone()
        .or_else(default_persist_dir)
        .ok_or("no directory for ssh control sockets (set HOME or XDG_RUNTIME_DIR)")?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let uid = crate::state::current_uid();
    if !meta.is_dir() || Some(meta.uid()) != uid {
        return Err(format!(
            "{} is not a directory owned by the current user",
            dir.display()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is open to other users (mode {:o}); it must be 0700",
            dir.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    Ok(dir)
}

/// Runs the bootstrap `command_line` in a new session of the connection,
/// uploading the runner when it asks for it.
/// Starts the runner with `command_line`; `sudo_password` (for `sudo -S`)
/// goes first on its stdin, before anything the bootstrap reads.
async fn start_ssh_runner(
    host: &HostInfo,
    opts: &ConnectOptions,
    session: Arc<openssh::Session>,
    persistent: bool,
    command_line: String,
    sudo_password: Option<&str>,
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
    let process = Process::Ssh {
        child: Some(child),
        session,
        persistent,
    };
    bootstrap(
        host,
        opts,
        process,
        Box::new(stdin),
        Box::new(stdout),
        collect_stderr(stderr),
        sudo_password,
    )
    .await
}

/// Connects to `host` with one `ssh` process that runs `command_line` (the
/// bootstrap) in its own session: authentication and the runner's start
/// take one process and no multiplexing round trip. The process is also a
/// master (`ControlMaster=yes`, never persisted) on a socket in a private
/// directory, for the sessions of other users' runners and `shell`. It
/// ends when its session and theirs have ended, or with mc.
async fn connect_direct(
    host: &HostInfo,
    opts: &ConnectOptions,
    command_line: String,
) -> Result<RunnerSession, TransportError> {
    // A chosen directory must exist (and be private); else the system's
    // temporary one.
    let parent = match &opts.control_dir {
        Some(_) => persist_dir(opts).map_err(TransportError::Connect)?,
        None => std::env::temp_dir(),
    };
    let dir = PrivateDir::new_in(&parent).map_err(|e| {
        TransportError::Connect(format!(
            "cannot create a directory for the ssh control socket in {}: {e}",
            parent.display()
        ))
    })?;
    let socket = dir.path().join("master");
    let mut cmd = direct_ssh_command(host, opts, dir.path(), &socket);
    cmd.arg(&command_line)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Not in the terminal's process group: Ctrl-C is for mc, which
        // lets running resources finish over this connection.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| TransportError::Connect(format!("cannot start ssh: {e}")))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(TransportError::Connect("ssh pipes missing".into()));
    };
    if let Some(pid) = child.id() {
        remember_master(pid, &socket);
    }
    let session = Arc::new(openssh::Session::resume_mux(socket.into_boxed_path(), None));
    let process = Process::Direct {
        child,
        session,
        dir,
    };
    bootstrap(
        host,
        opts,
        process,
        Box::new(stdin),
        Box::new(stdout),
        collect_stderr(stderr),
        None,
    )
    .await
}

/// The `ssh` command line of [`connect_direct`], before the remote command:
/// the options a master of [`connect_master`] gets (batch mode, the host
/// key check, timeouts, port, user, identity, config file), no terminal,
/// and its log in `dir`.
fn direct_ssh_command(
    host: &HostInfo,
    opts: &ConnectOptions,
    dir: &Path,
    socket: &Path,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.arg("-E")
        .arg(dir.join("log"))
        .arg("-S")
        .arg(socket)
        .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-T"])
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(if opts.trust_new_host_keys {
            "StrictHostKeyChecking=accept-new"
        } else {
            "StrictHostKeyChecking=yes"
        })
        .arg("-o")
        .arg(format!(
            "ConnectTimeout={}",
            opts.connect_timeout.as_secs().max(1)
        ))
        .args(["-o", "ServerAliveInterval=5"]);
    if let Some(port) = host.port {
        cmd.arg("-p").arg(port.to_string());
    }
    if let Some(user) = &host.user {
        cmd.arg("-l").arg(user);
    }
    if let Some(key) = &host.ssh_key {
        // Only that key, as for a master.
        cmd.args(["-o", "IdentitiesOnly=yes", "-i"]).arg(key);
    }
    if let Some(cfg) = &opts.ssh_config {
        cmd.arg("-F").arg(cfg);
    }
    // `--`: an address is never read as an option.
    cmd.arg("--").arg(&host.address);
    cmd
}

/// Reads the bootstrap's first line from a runner started with `process`
/// and uploads the runner when it asks for it.
async fn bootstrap(
    host: &HostInfo,
    opts: &ConnectOptions,
    mut process: Process,
    stdin: Writer,
    stdout: Box<dyn AsyncRead + Unpin + Send>,
    stderr: Arc<std::sync::Mutex<String>>,
    sudo_password: Option<&str>,
) -> Result<RunnerSession, TransportError> {
    let mut reader: Reader = BufReader::new(stdout);
    let mut writer: Writer = stdin;
    if let Some(password) = sudo_password {
        let line = zeroize::Zeroizing::new(format!("{password}\n"));
        let sent = writer.write_all(line.as_bytes()).await;
        if let Err(e) = sent.and(writer.flush().await) {
            return Err(TransportError::Lost(format!("answering sudo: {e}")));
        }
    }
    let mut line = String::new();
    let read = reader.read_line(&mut line).await;
    if matches!(read, Ok(0) | Err(_)) {
        // A direct connection that failed (ssh exits 255): its log says why.
        if let Some(why) = process.ssh_failure().await {
            return Err(TransportError::Connect(why));
        }
    }
    let n = read.map_err(|e| TransportError::Lost(e.to_string()))?;
    // sshd and sudo both set $USER: who the runner runs as, for free.
    let mut words = line.split_whitespace();
    let (tag, user, arch) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let runs_as = (!user.is_empty()).then(|| user.to_string());
    let uploaded = match tag {
        "MC-READY" => false,
        "MC-NOARCH" => return Err(TransportError::Runner(opts.runner.unsupported(arch))),
        "MC-UPLOAD" => {
            let runner = opts.runner.for_arch(arch).map_err(TransportError::Runner)?;
            writer
                .write_all(&runner.bytes[..])
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
        process,
        stderr,
        runs_as,
        elevated: Vec::new(),
        refused: Vec::new(),
        host_info: host.clone(),
        opts: opts.clone(),
    })
}

impl Process {
    /// Why a direct ssh connection failed, when its `ssh` exited with 255
    /// (ssh's own errors: refused host key, authentication, unreachable).
    async fn ssh_failure(&mut self) -> Option<String> {
        let Process::Direct { child, dir, .. } = self else {
            return None;
        };
        let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .ok()?
            .ok()?;
        if status.code() != Some(255) {
            return None;
        }
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        let log = crate::scrub::text(log.trim());
        Some(if log.is_empty() {
            "ssh exited with status 255".to_string()
        } else {
            log.lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// The ssh session that more sessions of this connection go over.
    fn ssh_session(&self) -> Option<Arc<openssh::Session>> {
        match self {
            Process::Ssh { session, .. } | Process::Direct { session, .. } => Some(session.clone()),
            Process::Local(_) | Process::Agent(_) => None,
        }
    }
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
        on_event: impl FnMut(&protocol::Event),
    ) -> Result<Response, TransportError> {
        self.request_stoppable(req, None, on_event).await
    }

    /// [`RunnerSession::request`], passing `stop` on to the runner (as
    /// `STOP_LINE`, once) when it turns true: the runner then starts no new
    /// resource and answers with the rest skipped.
    pub async fn request_stoppable(
        &mut self,
        req: &Request,
        mut stop: Option<tokio::sync::watch::Receiver<bool>>,
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
            // `read_line` keeps what it read in `buf` when the stop branch
            // wins, and the next call continues the same line.
            let read = loop {
                let stopping = async {
                    match stop.as_mut() {
                        Some(rx) => rx.wait_for(|s| *s).await.is_ok(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = self.reader.read_line(&mut buf) => break r,
                    asked = stopping => {
                        stop = None;
                        if asked {
                            self.send_stop().await;
                        }
                    }
                }
            };
            match read {
                Ok(0) => return Err(lost(self.stderr.clone(), "the runner exited".into()).await),
                Ok(_) => {}
                Err(e) => return Err(lost(self.stderr.clone(), e.to_string()).await),
            }
            let text = buf.trim();
            if text.is_empty() {
                continue;
            }
            let mut resp: Response = serde_json::from_str(text).map_err(|e| {
                let text = crate::scrub::text(text);
                TransportError::Runner(format!("unreadable message from the runner: {e}: {text}"))
            })?;
            // The runner scrubs too; nothing it sends is trusted to be clean.
            crate::scrub::response(&mut resp);
            match resp {
                Response::Event(ev) => on_event(&ev),
                other => {
                    self.broken = false;
                    return Ok(other);
                }
            }
        }
    }

    /// Asks the runner to start no new resource of the apply in progress.
    /// A failure shows up as a lost connection on the next read.
    async fn send_stop(&mut self) {
        let line = format!("{}\n", mc_runner::session::STOP_LINE);
        let _ = self.writer.write_all(line.as_bytes()).await;
        let _ = self.writer.flush().await;
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
        let ssh = self.process.ssh_session();
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

    /// Runs `sh -c command` on the host beside the runner (over the same
    /// SSH connection, under `sudo -n` when the host has `become`), with
    /// `input` on its stdin: exit code (-1 when killed), stdout, stderr.
    /// For what the runner protocol does not carry (a large binary upload).
    pub async fn shell(
        &mut self,
        command: &str,
        input: &[u8],
    ) -> Result<(i32, String, String), String> {
        let line = if self.host_info.r#become {
            format!("sudo -n sh -c {}", shell_quote(command))
        } else {
            format!("sh -c {}", shell_quote(command))
        };
        let Some(session) = self.process.ssh_session() else {
            return Err("only over SSH".into());
        };
        let mut child = session
            .raw_command(&line)
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped())
            .spawn()
            .await
            .map_err(|e| error_chain(&e))?;
        if let Some(mut stdin) = child.stdin().take() {
            stdin.write_all(input).await.map_err(|e| e.to_string())?;
            stdin.shutdown().await.map_err(|e| e.to_string())?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| error_chain(&e))?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
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
        if matches!(self.process, Process::Agent(_)) {
            // One half of a split stream: dropping it alone is no end of input.
            let _ = self.writer.shutdown().await;
        }
        drop(self.writer);
        match self.process {
            Process::Agent(mut bridge) => {
                if tokio::time::timeout(grace, &mut bridge).await.is_err() {
                    bridge.abort();
                }
            }
            Process::Local(mut child) => {
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
            }
            Process::Direct { mut child, dir, .. } => {
                // The runner ends on `bye` (or end of input), its session
                // with it, and then ssh, which has no other session left.
                if tokio::time::timeout(grace, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                drop(dir);
            }
            Process::Ssh {
                mut child,
                session,
                persistent,
            } => {
                if let Some(c) = child.take() {
                    if tokio::time::timeout(grace, c.wait()).await.is_err() {
                        // Dropping the child ended its ssh client; closing
                        // the master below ends the connection, and sshd
                        // then hangs up the remote runner.
                    }
                }
                // A persistent master is left for the next command; its
                // own `ControlPersist` timer ends it when unused.
                if !persistent {
                    if let Ok(s) = Arc::try_unwrap(session) {
                        let _ = tokio::time::timeout(Duration::from_secs(5), s.close()).await;
                    }
                }
            }
        }
    }
}

/// Closes every session at once: each `bye` and exit is a round trip to its
/// host, which one host after the other would add up across a fleet.
pub async fn close_all(sessions: impl IntoIterator<Item = RunnerSession>) {
    let mut closing = tokio::task::JoinSet::new();
    for s in sessions {
        closing.spawn(s.close());
    }
    while closing.join_next().await.is_some() {}
}

async fn lost(stderr: Arc<std::sync::Mutex<String>>, what: String) -> TransportError {
    let err = crate::scrub::text(&wait_for_stderr(&stderr).await);
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

/// Starts the local runner. A child another thread forks while this
/// process writes the runner file holds it open for writing until that
/// child execs; starting the runner then fails with "text file busy" for a
/// moment, so that error is retried briefly.
async fn spawn_runner(cmd: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let mut wait = std::time::Duration::from_millis(2);
    loop {
        match cmd.spawn() {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy && wait.as_millis() < 500 =>
            {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    fn info(user: Option<&str>, port: Option<u16>) -> HostInfo {
        HostInfo {
            name: "web1".into(),
            address: "10.0.0.1".into(),
            user: user.map(str::to_string),
            port,
            transport: Transport::Ssh,
            r#become: false,
            groups: vec![],
            ssh_key: None,
        }
    }

    #[test]
    fn master_keys_differ_by_user_port_and_config() {
        let runner = RunnerBinary {
            path: None,
            hash: "h".into(),
            bytes: Arc::new(Vec::new().into()),
            arch: "x86_64".into(),
        };
        let opts = ConnectOptions::new(runner);
        let base = master_key(&info(Some("root"), Some(22)), &opts);
        assert_eq!(base, master_key(&info(Some("root"), Some(22)), &opts));
        assert_eq!(base.len(), 32);
        assert_ne!(base, master_key(&info(Some("deploy"), Some(22)), &opts));
        assert_ne!(base, master_key(&info(None, Some(22)), &opts));
        assert_ne!(base, master_key(&info(Some("root"), Some(2222)), &opts));
        let mut other = opts.clone();
        other.ssh_config = Some(PathBuf::from("/nonexistent/ssh_config"));
        assert_ne!(base, master_key(&info(Some("root"), Some(22)), &other));
        let mut trusting = opts.clone();
        trusting.trust_new_host_keys = true;
        assert_ne!(base, master_key(&info(Some("root"), Some(22)), &trusting));
    }

    #[test]
    fn an_open_control_directory_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = std::env::temp_dir().join(format!("mc-ctl-test-{}", std::process::id()));
        let runner = RunnerBinary {
            path: None,
            hash: "h".into(),
            bytes: Arc::new(Vec::new().into()),
            arch: "x86_64".into(),
        };
        let mut opts = ConnectOptions::new(runner);
        opts.control_dir = Some(tmp.join("ssh"));
        let dir = persist_dir(&opts).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = persist_dir(&opts).unwrap_err();
        assert!(err.contains("open to other users"), "{err}");
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn bootstrap_names_the_build_of_each_architecture() {
        let runner = |arch: &str, hash: &str, size: usize| RunnerBinary {
            path: None,
            hash: hash.into(),
            bytes: Arc::new(vec![0; size].into()),
            arch: arch.into(),
        };
        let runners = Runners::from(runner("x86_64", "abc", 42));
        let s = bootstrap_script(&runners);
        assert!(s.contains("/var/lib/mc/runner/mc-runner-abc"));
        assert!(s.contains("x86_64|amd64) h=abc; n=42 ;;"));
        assert!(!s.contains("aarch64"));
    }
}
