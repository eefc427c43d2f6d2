//! mc-testfleet: real `sshd` test hosts for the test suite.
//!
//! [`Fleet::start`] starts `n` hosts. Each host is Debian's `/usr/sbin/sshd`
//! running in its own mount, UTS, PID and network namespaces (`unshare`),
//! with overlay mounts over `/etc /var /usr /opt /srv /home /root` (so a test
//! may install packages, add users or write anywhere without touching the
//! real machine), a private tmpfs on `/tmp` and `/run`, its own hostname and
//! host key, and listening on its own loopback address `127.0.0.N:22`. Root
//! logs in with a key generated per fleet.
//!
//! Network: each host has its own loopback, firewall, sysctls and ports. A
//! veth pair joins it to the machine: inside the host the link is `eth0`
//! with the address `127.0.0.N/32`; outside it is `mcf-N` with
//! [`CONTROLLER_ADDRESS`], and a `/32` route in the machine's `local` table
//! sends `127.0.0.N` over it (more specific than `127.0.0.0/8` on `lo`).
//! `route_localnet` lets loopback-range addresses cross the link. A host
//! reaches the machine only at [`CONTROLLER_ADDRESS`].
//!
//! Addresses are claimed with a `flock` on `/tmp/mc-fleet-locks/N.lock`, so
//! any number of test binaries can run at once. The namespace's init reads a
//! pipe held by the test process: when the fleet is dropped, or the test
//! process dies, the pipe closes, init exits and the kernel tears down the
//! whole PID namespace and its mounts.
//!
//! Requires root, util-linux `unshare`/`nsenter`, iproute2 and `openssh-server`
//! (`scripts/install-test-deps`).

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod nats;
pub mod postgres;
pub mod tls;
pub mod tmux;
pub mod workload;

use anyhow::{anyhow, bail, Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Directories that get a per-host copy-on-write overlay.
pub const OVERLAID_DIRS: [&str; 7] = ["etc", "var", "usr", "opt", "srv", "home", "root"];

const LOCK_DIR: &str = "/tmp/mc-fleet-locks";
const SSHD: &str = "/usr/sbin/sshd";
/// sshd's log inside the host; lands in the `/var` overlay's upper dir.
const SSHD_LOG: &str = "var/log/mc-sshd.log";
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// The machine's address as every host sees it (the outer end of each
/// host's veth link): a test server for the hosts listens here.
pub const CONTROLLER_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 77, 1);

/// The init of each host: set up the mounts, wait for the test process to
/// plug in the veth link (one line on stdin), configure the host's side of
/// it, start sshd, then wait for the test process to close our stdin. Bash
/// as PID 1 also reaps orphaned daemons, so a stopped service never lingers
/// as a zombie.
const INIT_SCRIPT: &str = r#"
set -eu
mount --make-rprivate /
for d in etc var usr opt srv home root; do
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$MC_HOST_DIR/upper/$d,workdir=$MC_HOST_DIR/work/$d" "/$d"
done
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd /run/lock
chmod 1777 /run/lock
hostname "$MC_HOST_NAME"
read -r _
ip link set lo up
echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet
echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet
ip addr add "$MC_HOST_ADDRESS/32" dev eth0
ip link set eth0 up
ip route add "$MC_CONTROLLER_ADDRESS/32" dev eth0 src "$MC_HOST_ADDRESS"
/usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/mc-sshd.log </dev/null
echo ready
while read -r _; do :; done
"#;

/// The password of root and `admin` on [`Fleet::start_password_only`] hosts.
pub const PASSWORD: &str = "fresh-host-pw";

/// How the hosts of a fleet let people log in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Login {
    /// Root with the fleet's key.
    Key,
    /// Root and `admin` with [`PASSWORD`], no keys.
    Password,
}

/// A set of running test hosts. Dropping it stops them.
pub struct Fleet {
    dir: Option<tempfile::TempDir>,
    hosts: Vec<Host>,
    private_key: PathBuf,
    ssh_config: PathBuf,
    known_hosts: PathBuf,
}

/// One running test host.
pub struct Host {
    name: String,
    address: Ipv4Addr,
    port: u16,
    dir: PathBuf,
    private_key: PathBuf,
    ssh_config: PathBuf,
    ssh_config_unknown: PathBuf,
    known_hosts: PathBuf,
    /// PID (in our namespace) of the host's init, for `nsenter`.
    init_pid: u32,
    process: Mutex<HostProcess>,
    _lock: File,
}

struct HostProcess {
    /// The `unshare` process; `--kill-child` takes init down with it.
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Fleet {
    /// Starts `n` hosts named `host1` … `hostN`.
    pub fn start(n: usize) -> Result<Fleet> {
        Fleet::start_with(n, Login::Key)
    }

    /// Starts `n` hosts that only take passwords, as a fresh machine does
    /// before it is onboarded: root has no authorized key, and root and
    /// `admin` (a member of `sudo`, whose rule asks for the password) log in
    /// with [`PASSWORD`]. `host.ssh()` does not work on them; `exec` does.
    pub fn start_password_only(n: usize) -> Result<Fleet> {
        Fleet::start_with(n, Login::Password)
    }

    fn start_with(n: usize, login: Login) -> Result<Fleet> {
        preflight()?;
        collect_stale_fleet_dirs();
        let dir = tempfile::Builder::new()
            .prefix(&format!("mc-fleet-{}-", std::process::id()))
            .tempdir_in(std::env::temp_dir())
            .context("creating the fleet directory")?;
        let root = dir.path().to_path_buf();
        let client = root.join("client");
        fs::create_dir_all(&client)?;
        fs::set_permissions(&client, fs::Permissions::from_mode(0o700))?;
        let private_key = client.join("id_ed25519");
        keygen(&private_key, "mc-fleet-client")?;
        let public_key = fs::read_to_string(private_key.with_extension("pub"))?;

        let mut fleet = Fleet {
            dir: Some(dir),
            hosts: Vec::with_capacity(n),
            private_key: private_key.clone(),
            ssh_config: client.join("ssh_config"),
            known_hosts: client.join("known_hosts"),
        };
        for i in 1..=n {
            let host = Host::start(&root, &format!("host{i}"), &private_key, &public_key, login)?;
            fleet.hosts.push(host);
        }
        // Fleet-wide files: every host in one config and one known_hosts.
        let mut config = String::new();
        let mut known = String::new();
        for h in &fleet.hosts {
            config.push_str(&host_config_block(
                h,
                &fleet.known_hosts,
                &fleet.private_key,
            ));
            known.push_str(&fs::read_to_string(&h.known_hosts)?);
        }
        fs::write(&fleet.ssh_config, config)?;
        fs::write(&fleet.known_hosts, known)?;
        Ok(fleet)
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host at `index` (0-based).
    pub fn host(&self, index: usize) -> &Host {
        &self.hosts[index]
    }

    /// The fleet's temporary directory (keys, configs, per-host upper dirs).
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("/"))
    }

    /// An `ssh_config` naming every host (strict host-key checking).
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// `known_hosts` with every host's key.
    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    /// Root's private key, accepted by every host.
    pub fn private_key(&self) -> &Path {
        &self.private_key
    }

    /// Stops every host, waits until their processes are gone, then removes
    /// the fleet directory. Also done by `Drop`.
    pub fn stop(mut self) -> Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<()> {
        let mut first_err = None;
        for h in &mut self.hosts {
            if let Err(e) = h.stop() {
                first_err.get_or_insert(e);
            }
        }
        self.hosts.clear();
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.close() {
                first_err.get_or_insert(anyhow!("removing {}: {e}", path.display()));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `stop()` reports them.
        let _ = self.stop_inner();
    }
}

/// A fleet shared by all tests of one test binary, started on first use.
///
/// Statics are never dropped; the hosts still go away when the test process
/// exits (their init sees its stdin close), and the next `Fleet::start`
/// removes the leftover directory.
pub fn shared(n: usize) -> Result<&'static Fleet> {
    static SHARED: Mutex<Option<&'static Fleet>> = Mutex::new(None);
    let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(f) = *guard {
        if f.hosts.len() >= n {
            return Ok(f);
        }
        bail!(
            "the shared fleet already has {} hosts, {n} requested",
            f.hosts.len()
        );
    }
    let fleet: &'static Fleet = Box::leak(Box::new(Fleet::start(n)?));
    *guard = Some(fleet);
    Ok(fleet)
}

impl Host {
    fn start(
        fleet_dir: &Path,
        name: &str,
        private_key: &Path,
        public_key: &str,
        login: Login,
    ) -> Result<Host> {
        let (n, lock) = claim_address()?;
        let address = Ipv4Addr::new(127, 0, 0, n);
        let dir = fleet_dir.join(name);
        for d in OVERLAID_DIRS {
            let upper = dir.join("upper").join(d);
            fs::create_dir_all(&upper)?;
            fs::create_dir_all(dir.join("work").join(d))?;
            // The overlay's root takes the upper dir's mode: keep the real one
            // (sshd's StrictModes checks /root).
            let real_mode = fs::metadata(Path::new("/").join(d))?.permissions().mode();
            fs::set_permissions(&upper, fs::Permissions::from_mode(real_mode & 0o7777))?;
        }
        let upper = dir.join("upper");

        // Host key, sshd config and root's authorized key go straight into
        // the upper dirs before the overlays are mounted.
        let ssh_dir = upper.join("etc/ssh");
        fs::create_dir_all(&ssh_dir)?;
        let host_key = ssh_dir.join("ssh_host_ed25519_key");
        keygen(&host_key, &format!("root@{name}"))?;
        fs::write(
            ssh_dir.join("sshd_config"),
            sshd_config(address, login == Login::Password),
        )?;
        fs::write(upper.join("etc/hostname"), format!("{name}\n"))?;
        let dot_ssh = upper.join("root/.ssh");
        fs::create_dir_all(&dot_ssh)?;
        fs::set_permissions(&dot_ssh, fs::Permissions::from_mode(0o700))?;
        if login == Login::Key {
            let authorized = dot_ssh.join("authorized_keys");
            fs::write(&authorized, public_key)?;
            fs::set_permissions(&authorized, fs::Permissions::from_mode(0o600))?;
        }
        fs::create_dir_all(upper.join("var/log"))?;

        let host_pub = fs::read_to_string(host_key.with_extension("pub"))?;
        let known_hosts = dir.join("known_hosts");
        fs::write(
            &known_hosts,
            format!("{address} {}", host_pub.trim_end()) + "\n",
        )?;
        let empty_known = dir.join("known_hosts.empty");
        fs::write(&empty_known, "")?;

        let init_log = File::create(dir.join("init.log"))?;
        let mut child = Command::new("unshare")
            .args([
                "--mount",
                "--uts",
                "--pid",
                "--net",
                "--fork",
                "--kill-child",
                "--mount-proc",
            ])
            .args(["/bin/bash", "-c", INIT_SCRIPT, "mc-host-init"])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8")
            .env("MC_HOST_DIR", &dir)
            .env("MC_HOST_NAME", name)
            .env("MC_HOST_ADDRESS", address.to_string())
            .env("MC_CONTROLLER_ADDRESS", CONTROLLER_ADDRESS.to_string())
            .stdin(Stdio::piped())
            .stdout(init_log.try_clone()?)
            .stderr(init_log)
            .spawn()
            .context("spawning unshare")?;
        let stdin = child.stdin.take();
        let process = HostProcess { child, stdin };

        let mut host = Host {
            name: name.to_string(),
            address,
            port: 22,
            ssh_config: dir.join("ssh_config"),
            ssh_config_unknown: dir.join("ssh_config.unknown-host"),
            private_key: private_key.to_path_buf(),
            known_hosts,
            dir,
            init_pid: 0,
            process: Mutex::new(process),
            _lock: lock,
        };
        fs::write(
            &host.ssh_config,
            host_config_block(&host, &host.known_hosts, private_key),
        )?;
        fs::write(
            &host.ssh_config_unknown,
            host_config_block(&host, &empty_known, private_key),
        )?;
        match host.wait_init().and_then(|pid| {
            host.init_pid = pid;
            host.plug_network(n)?;
            host.wait_ready()?;
            if login == Login::Password {
                host.exec_ok(&format!(
                    "useradd -m -s /bin/bash -G sudo admin && \
                     printf 'root:%s\\nadmin:%s\\n' {pw} {pw} | chpasswd",
                    pw = shell_quote(PASSWORD)
                ))?;
            }
            Ok(())
        }) {
            Ok(()) => {}
            Err(e) => {
                let log = fs::read_to_string(host.dir.join("init.log")).unwrap_or_default();
                let _ = host.stop();
                return Err(e.context(format!("host {name} did not start; init log:\n{log}")));
            }
        }
        Ok(host)
    }

    /// Bounded poll until init (the child of `unshare`) exists.
    fn wait_init(&self) -> Result<u32> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let unshare_pid = self.lock_process().child.id();
        loop {
            if let Some(status) = self.lock_process().child.try_wait()? {
                bail!("the host's init exited early ({status})");
            }
            if let Some(pid) = child_pid_of(unshare_pid) {
                return Ok(pid);
            }
            if Instant::now() > deadline {
                bail!("no init after {READY_TIMEOUT:?}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// Creates the veth pair into the host's network namespace, routes
    /// `127.0.0.N` over it, then tells init to go on.
    fn plug_network(&self, n: u8) -> Result<()> {
        let outer = format!("mcf-{n}");
        // A link left by a crashed run dies with its namespace; this only
        // covers a namespace that is still being torn down.
        let _ = ip(&["link", "del", &outer]);
        let pid = self.init_pid.to_string();
        let controller = format!("{CONTROLLER_ADDRESS}/32");
        let host = format!("{}/32", self.address);
        ip(&[
            "link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &pid,
        ])?;
        ip(&["addr", "add", &controller, "dev", &outer])?;
        fs::write(
            format!("/proc/sys/net/ipv4/conf/{outer}/route_localnet"),
            "1",
        )
        .context("enabling route_localnet")?;
        ip(&["link", "set", &outer, "up"])?;
        ip(&[
            "route",
            "add",
            &host,
            "dev",
            &outer,
            "table",
            "local",
            "src",
            &CONTROLLER_ADDRESS.to_string(),
        ])?;
        let mut p = self.lock_process();
        let stdin = p.stdin.as_mut().context("init's stdin is closed")?;
        stdin
            .write_all(b"network\n")
            .context("telling init the network is ready")?;
        Ok(())
    }

    /// Bounded poll until sshd accepts connections.
    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.lock_process().child.try_wait()? {
                bail!("the host's init exited early ({status})");
            }
            if self.accepts_connections() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out after {READY_TIMEOUT:?}");
            }
            std::thread::sleep(POLL);
        }
    }

    fn lock_process(&self) -> std::sync::MutexGuard<'_, HostProcess> {
        self.process.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&mut self) -> Result<()> {
        let mut p = self.lock_process();
        // Closing init's stdin makes it exit, which ends the PID namespace.
        p.stdin.take();
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if p.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                // SIGKILL to unshare (by PID); --kill-child kills init too.
                p.child.kill()?;
                p.child.wait()?;
                break;
            }
            std::thread::sleep(POLL);
        }
        drop(p);
        // The namespace is gone once init is: wait for it so the mounts are
        // released before the upper dirs are removed.
        if self.init_pid != 0 {
            let proc_dir = PathBuf::from(format!("/proc/{}", self.init_pid));
            let deadline = Instant::now() + STOP_TIMEOUT;
            while proc_dir.exists() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            if proc_dir.exists() {
                bail!("init of {} (pid {}) did not exit", self.name, self.init_pid);
            }
        }
        Ok(())
    }

    /// `host1`, `host2`, …: the host's hostname and its `Host` alias in the
    /// ssh configs.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The machine's address as this host sees it.
    pub fn controller_address(&self) -> Ipv4Addr {
        CONTROLLER_ADDRESS
    }

    /// PID of the host's init (PID 1 inside the host), as seen from outside.
    pub fn init_pid(&self) -> u32 {
        self.init_pid
    }

    /// A client config with a `Host <name>` entry: root, the fleet key,
    /// `StrictHostKeyChecking yes` against [`Host::known_hosts`].
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// The same config, but with an empty known_hosts file: a strict client
    /// must refuse to connect.
    pub fn ssh_config_without_known_host(&self) -> &Path {
        &self.ssh_config_unknown
    }

    pub fn known_hosts(&self) -> &Path {
        &self.known_hosts
    }

    pub fn private_key(&self) -> &Path {
        &self.private_key
    }

    /// The per-host directory outside the host (upper dirs, configs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ssh -F <config> <name>`, ready for more arguments.
    pub fn ssh_command(&self) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(&self.ssh_config).arg(&self.name);
        cmd
    }

    /// Runs `cmd` on the host over ssh (as root, through sshd).
    pub fn ssh(&self, cmd: &str) -> Result<Output> {
        self.ssh_command()
            .arg("--")
            .arg(cmd)
            .stdin(Stdio::null())
            .output()
            .context("running ssh")
    }

    /// Runs `cmd` over ssh with `input` on its stdin.
    pub fn ssh_with_input(&self, cmd: &str, input: &[u8]) -> Result<Output> {
        let mut child = self
            .ssh_command()
            .arg("--")
            .arg(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running ssh")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input)?;
        }
        Ok(child.wait_with_output()?)
    }

    /// Runs `sh -c cmd` inside the host's namespaces with `nsenter`, without
    /// ssh: for test set-up and assertions.
    pub fn exec(&self, cmd: &str) -> Result<Output> {
        self.nsenter(cmd)
            .stdin(Stdio::null())
            .output()
            .context("running nsenter")
    }

    /// Like [`Host::exec`], but fails unless the command exits 0; returns stdout.
    pub fn exec_ok(&self, cmd: &str) -> Result<String> {
        let out = self.exec(cmd)?;
        if !out.status.success() {
            bail!(
                "`{cmd}` on {} failed ({}): {}{}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn nsenter(&self, cmd: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg("-t")
            .arg(self.init_pid.to_string())
            .args(["-m", "-u", "-p", "-n", "--wd=/", "--", "/bin/sh", "-c", cmd])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/root")
            .env("LANG", "C.UTF-8");
        c
    }

    /// Reads a file inside the host.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let out = self.exec(&format!("cat -- {}", shell_quote(path)))?;
        if !out.status.success() {
            bail!(
                "reading {path} on {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    }

    /// Writes a file inside the host (parent directories must exist).
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<()> {
        let mut child = self
            .nsenter(&format!("cat > {}", shell_quote(path)))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running nsenter")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(data)?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "writing {path} on {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Whether a path exists inside the host.
    pub fn path_exists(&self, path: &str) -> Result<bool> {
        Ok(self
            .exec(&format!(
                "test -e {} || test -L {}",
                shell_quote(path),
                shell_quote(path)
            ))?
            .status
            .success())
    }

    /// sshd's log (LogLevel VERBOSE).
    pub fn sshd_log(&self) -> String {
        fs::read_to_string(self.dir.join("upper").join(SSHD_LOG)).unwrap_or_default()
    }

    /// Number of authenticated ssh connections so far (one per TCP
    /// connection, however many sessions are multiplexed over it).
    pub fn count_sessions(&self) -> usize {
        self.sshd_log()
            .lines()
            .filter(|l| l.contains("Accepted publickey for"))
            .count()
    }

    /// Kills the listening sshd: new connections are refused, existing ones
    /// keep going until [`Host::cut_connections`].
    pub fn kill_sshd(&self) -> Result<()> {
        self.exec_ok("kill -TERM \"$(cat /run/sshd.pid)\"")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.accepts_connections() {
            if Instant::now() > deadline {
                bail!("sshd on {} still listening", self.name);
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Starts sshd again after [`Host::kill_sshd`].
    pub fn start_sshd(&self) -> Result<()> {
        self.exec_ok(&format!(
            "{SSHD} -f /etc/ssh/sshd_config -E /var/log/mc-sshd.log </dev/null"
        ))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.accepts_connections() {
            if Instant::now() > deadline {
                bail!("sshd on {} did not come back", self.name);
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }

    /// Kills every sshd connection process (and so every session and the
    /// processes they run), keeping the listener: clients see their
    /// connection drop and can reconnect.
    pub fn cut_connections(&self) -> Result<()> {
        // Connection handlers are the listener's children; select them by
        // parent PID, never by name.
        self.exec_ok(
            "l=$(cat /run/sshd.pid); for d in /proc/[0-9]*; do \
               p=$(sed -n 's/^PPid:[[:space:]]*//p' \"$d/status\" 2>/dev/null); \
               [ \"$p\" = \"$l\" ] && kill -KILL \"${d#/proc/}\" 2>/dev/null; \
             done; true",
        )?;
        Ok(())
    }

    /// Whether something accepts TCP connections on the host's ssh port.
    pub fn accepts_connections(&self) -> bool {
        let addr = SocketAddr::V4(SocketAddrV4::new(self.address, self.port));
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    }
}

fn host_config_block(h: &Host, known_hosts: &Path, key: &Path) -> String {
    format!(
        "Host {name}\n  HostName {addr}\n  Port {port}\n  User root\n  IdentityFile {key}\n  \
         IdentitiesOnly yes\n  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  \
         StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 10\n  LogLevel ERROR\n\n",
        name = h.name,
        addr = h.address,
        port = h.port,
        key = key.display(),
        known = known_hosts.display(),
    )
}

fn sshd_config(address: Ipv4Addr, passwords: bool) -> String {
    let (root, password) = if passwords {
        ("yes", "yes")
    } else {
        ("prohibit-password", "no")
    };
    format!(
        "ListenAddress {address}:22\n\
         HostKey /etc/ssh/ssh_host_ed25519_key\n\
         PidFile /run/sshd.pid\n\
         UsePAM no\n\
         PermitRootLogin {root}\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication {password}\n\
         KbdInteractiveAuthentication no\n\
         AuthorizedKeysFile .ssh/authorized_keys\n\
         StrictModes yes\n\
         LogLevel VERBOSE\n\
         MaxStartups 200\n\
         MaxSessions 100\n\
         PrintMotd no\n\
         UseDNS no\n\
         AcceptEnv LANG LC_*\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n"
    )
}

/// Runs `ip ARGS` on the machine.
fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn keygen(path: &Path, comment: &str) -> Result<()> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .context("running ssh-keygen")?;
    if !out.status.success() {
        bail!("ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn preflight() -> Result<()> {
    for tool in [SSHD, "/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/sbin/ip"] {
        if !Path::new(tool).exists() {
            bail!("{tool} is missing: run scripts/install-test-deps");
        }
    }
    Ok(())
}

/// Claims a free `127.0.0.N` with an exclusive flock held for the host's life.
fn claim_address() -> Result<(u8, File)> {
    fs::create_dir_all(LOCK_DIR).context("creating the fleet lock directory")?;
    for n in 2u8..=250 {
        let path = Path::new(LOCK_DIR).join(format!("{n}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            continue;
        }
        // A listener left by a crashed run (or anything else) makes N unusable.
        let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, n), 22));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            continue;
        }
        return Ok((n, file));
    }
    bail!("no free test-host address in 127.0.0.2..=250")
}

/// The first child of `pid`, from /proc.
fn child_pid_of(pid: u32) -> Option<u32> {
    let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// Removes fleet directories whose test process is gone.
fn collect_stale_fleet_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("mc-fleet-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Single-quotes `s` for `sh`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
