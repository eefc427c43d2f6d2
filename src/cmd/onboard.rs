//! `mc onboard ssh`: bring a fresh host under management, and
//! `mc onboard rollback` to undo it (docs/onboarding.md).
//!
//! The first login uses a password (prompted, or `--password-stdin`) or an
//! existing key. The password reaches `ssh` through `SSH_ASKPASS`: a helper
//! (`mc onboard askpass`) asks this process over a socket in a private
//! directory, so it is never in an argument, the environment or a file.
//! Everything on the host is done by the runner, as root.

use mc_runtime::onboard::{self, Onboarding};
use mc_runtime::state::{self, StateStore};
use mc_runtime::transport::{self, ConnectOptions, Elevation, Runners};
use mc_secrets::SecretString;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: OnboardCommand,
}

#[derive(clap::Subcommand)]
enum OnboardCommand {
    /// Log in to a fresh host (password or key), create a management user
    /// with its own key and sudo rule, and print its inventory entry.
    Ssh(SshArgs),
    /// Undo `mc onboard ssh` on a host: user, key, sudo rule, sshd settings
    /// and the recorded host key.
    Rollback(RollbackArgs),
    /// The SSH_ASKPASS helper of the first login (internal).
    #[command(hide = true)]
    Askpass { prompt: Vec<String> },
}

/// How to make the first login.
#[derive(clap::Args, Clone)]
struct Login {
    /// The account to log in with: root, or one that may use sudo.
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Read the login password from stdin instead of asking on the terminal.
    #[arg(long)]
    password_stdin: bool,
    /// Log in with this private key instead of a password.
    #[arg(long, value_name = "FILE")]
    login_key: Option<PathBuf>,
    /// ssh_config file to use instead of ~/.ssh/config.
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// State store for the audit entry (default: .mc/state.db).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
}

#[derive(clap::Args)]
struct SshArgs {
    /// The host's address (name or IP).
    #[arg(long, value_name = "ADDR")]
    host: String,
    #[arg(long)]
    port: Option<u16>,
    #[command(flatten)]
    login: Login,
    /// The host's name in the inventory (default: the address).
    #[arg(long)]
    name: Option<String>,
    /// The management user to create.
    #[arg(long, default_value = "mc", value_name = "USER")]
    manage_user: String,
    /// Install this key's public half (FILE.pub) instead of generating a key
    /// in .mc/keys/.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Turn off password logins once the management key is proven to work.
    #[arg(long)]
    disable_password_auth: bool,
    /// Trust the host key with this fingerprint (`SHA256:…`, as
    /// `ssh-keygen -lf` prints it).
    #[arg(long, value_name = "SHA256:…")]
    host_key_fingerprint: Option<String>,
    /// Trust whatever host key the host presents at first contact.
    #[arg(long)]
    trust_new_host_key: bool,
}

#[derive(clap::Args)]
struct RollbackArgs {
    /// The name the host was onboarded as.
    name: String,
    /// Log in as `--user` (password or `--login-key`) instead of with the
    /// management key, e.g. when that key no longer works.
    #[command(flatten)]
    login: Login,
}

const ASKPASS_SOCKET: &str = "MC_ASKPASS_SOCKET";

pub fn run(args: Args) -> ExitCode {
    let done = match args.command {
        OnboardCommand::Ssh(a) => ssh(a),
        OnboardCommand::Rollback(a) => rollback(a),
        OnboardCommand::Askpass { prompt } => askpass(&prompt.join(" ")),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn ssh(args: SshArgs) -> Result<(), String> {
    let project = PathBuf::from(".");
    let name = args.name.clone().unwrap_or_else(|| args.host.clone());
    if !valid_name(&name) || !valid_name(&args.manage_user) {
        return Err("--name and --manage-user take letters, digits, `.`, `_` and `-`".into());
    }
    let record_path = record_path(&project, &name);
    if record_path.exists() {
        return Err(format!(
            "{name} is already onboarded ({}); `mc onboard rollback {name}` undoes it",
            record_path.display()
        ));
    }
    let login_user = args
        .login
        .user
        .clone()
        .ok_or("--user: the account to log in with the first time")?;
    let password = login_secret(&args.login, &login_user, &args.host)?;
    let store = open_store(&args.login, &project)?;
    let dir = private_temp()?;
    let entry = known_host_name(&args.host, args.port);
    // Where ssh looks for this host's key, so every later login checks it.
    let record_in = user_known_hosts(&args.login, &args.host, args.port)?;
    let check = host_key_check(&args, &entry, &record_in, dir.path())?;
    let (private_key, public_key, generated) = management_key(&args, &project, &name)?;
    let rt = tokio_runtime()?;
    let runner = Runners::locate()?;
    let mut record = Onboarding {
        name: name.clone(),
        address: args.host.clone(),
        port: args.port,
        user: args.manage_user.clone(),
        public_key: public_key.trim().to_string(),
        generated_key: generated.then(|| private_key.display().to_string()),
        at: state::now(),
        ..Onboarding::default()
    };
    let first = FirstLogin {
        address: &args.host,
        port: args.port,
        user: &login_user,
        login: &args.login,
        password: password.as_ref(),
        known_hosts: check.file.clone(),
        accept_new: check.accept_new,
    };
    let outcome = rt.block_on(async {
        let socket = first.open(dir.path()).await?;
        // The login proved the host key: keep it where ssh looks, for the
        // management user's logins.
        let recorded = if check.file != record_in {
            append_known_hosts(&check.file, &record_in).map(|()| true)
        } else {
            Ok(false)
        };
        let done = match recorded {
            Ok(r) => {
                if r {
                    record.known_hosts = Some(record_in.display().to_string());
                }
                onboard_over(&first, &socket, &runner, &args, &mut record, &private_key).await
            }
            Err(e) => Err(e),
        };
        transport::stop_master(&socket).await;
        done
    });
    if let Err(e) = outcome {
        if record.known_hosts.is_some() {
            forget_known_host(&record_in, &entry);
        }
        if generated {
            let _ = std::fs::remove_file(&private_key);
            let _ = std::fs::remove_file(format!("{}.pub", private_key.display()));
        }
        return Err(e);
    }
    save_record(&record_path, &record)?;
    audit(&store, "onboard", &record);
    let trusted = match check.accept_new {
        // What the host showed at first contact, as ssh recorded it.
        true => fingerprints(&check.file),
        false => check.added_fingerprints.clone(),
    };
    print_inventory_item(&record, &private_key, trusted.as_deref());
    Ok(())
}

/// The first login's root runner does the user and sudo steps; a second
/// login, as the management user with its key, proves them and does the
/// rest. A failure puts back what was done.
async fn onboard_over(
    first: &FirstLogin<'_>,
    socket: &Path,
    runner: &Runners,
    args: &SshArgs,
    record: &mut Onboarding,
    private_key: &Path,
) -> Result<(), String> {
    let opts = connect_options(runner, first.login.ssh_config.clone());
    let elevation = elevation(socket, first).await?;
    let mut root = transport::connect_over_master(&host_info(first), &opts, socket, elevation)
        .await
        .map_err(|e| format!("starting the runner over the first login: {e}"))?;
    let done = async {
        onboard::prepare_user(&mut root, record).await?;
        let managed = managed_host(record, private_key);
        let mut session = transport::connect(&managed, &opts).await.map_err(|e| {
            format!(
                "{} could not log in with its new key and sudo: {e}",
                record.user
            )
        })?;
        if args.disable_password_auth {
            let off = onboard::disable_passwords(&mut session, record).await;
            // sshd re-read its configuration: prove the key still gets in.
            let proven = match off {
                Ok(()) => key_login_after_reload(&managed, &opts).await,
                Err(e) => Err(e),
            };
            session.close().await;
            proven?;
        } else {
            session.close().await;
        }
        Ok::<(), String>(())
    }
    .await;
    if let Err(e) = done {
        let undone = onboard::roll_back(&mut root, record).await;
        root.close().await;
        return Err(match undone {
            Ok(()) => format!("{e}\nnothing was left on the host"),
            Err(u) => format!("{e}\nputting the host back failed too: {u}"),
        });
    }
    root.close().await;
    Ok(())
}

/// A new key login once sshd has reloaded. sshd re-executes itself on
/// SIGHUP and refuses connections for a moment meanwhile, so a refused
/// connection is tried again for a few seconds; anything else fails at once.
async fn key_login_after_reload(
    managed: &mc_ir::HostInfo,
    opts: &ConnectOptions,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match transport::connect(managed, opts).await {
            Ok(s) => {
                s.close().await;
                return Ok(());
            }
            Err(e)
                if e.to_string().contains("Connection refused")
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(format!(
                    "the key login failed after password logins were turned off: {e}"
                ))
            }
        }
    }
}

fn rollback(args: RollbackArgs) -> Result<(), String> {
    let project = PathBuf::from(".");
    let path = record_path(&project, &args.name);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{} was not onboarded here ({}: {e})",
            args.name,
            path.display()
        )
    })?;
    let record: Onboarding =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let store = open_store(&args.login, &project)?;
    let runner = Runners::locate()?;
    let known = record
        .known_hosts
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/dev/null"));
    let rt = tokio_runtime()?;
    let undone = match &args.login.user {
        Some(user) => {
            let password = login_secret(&args.login, user, &record.address)?;
            let dir = private_temp()?;
            let first = FirstLogin {
                address: &record.address,
                port: record.port,
                user,
                login: &args.login,
                password: password.as_ref(),
                known_hosts: known_hosts_for(&args.login, &record, &known)?,
                accept_new: false,
            };
            rt.block_on(async {
                let socket = first.open(dir.path()).await?;
                let opts = connect_options(&runner, args.login.ssh_config.clone());
                let done = async {
                    let elevation = elevation(&socket, &first).await?;
                    let mut root = transport::connect_over_master(
                        &host_info(&first),
                        &opts,
                        &socket,
                        elevation,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    let r = onboard::roll_back(&mut root, &record).await;
                    root.close().await;
                    r
                }
                .await;
                transport::stop_master(&socket).await;
                done
            })
        }
        None => rt.block_on(async {
            let key = record
                .generated_key
                .as_ref()
                .map(PathBuf::from)
                .unwrap_or_default();
            let managed = managed_host(&record, &key);
            let opts = connect_options(&runner, args.login.ssh_config.clone());
            let mut root = transport::connect(&managed, &opts).await.map_err(|e| {
                format!(
                    "logging in as {} with its key: {e}\n(`--user USER` logs in another way)",
                    record.user
                )
            })?;
            let r = onboard::roll_back(&mut root, &record).await;
            root.close().await;
            r
        }),
    };
    undone?;
    if record.previous_sshd_config.is_some() {
        wait_for_sshd(&record.address, record.port.unwrap_or(22));
    }
    if let Some(file) = &record.known_hosts {
        forget_known_host(
            Path::new(file),
            &known_host_name(&record.address, record.port),
        );
    }
    if let Some(key) = &record.generated_key {
        let _ = std::fs::remove_file(key);
        let _ = std::fs::remove_file(PathBuf::from(format!("{key}.pub")));
    }
    std::fs::remove_file(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
    audit(&store, "onboard.rollback", &record);
    crate::outln!(
        "Rolled back {}: {} {}, sudo rule removed{}.",
        record.name,
        record.user,
        if record.user_created {
            "deleted"
        } else {
            "keeps its earlier keys"
        },
        if record.previous_sshd_config.is_some() {
            ", password logins restored"
        } else {
            ""
        }
    );
    Ok(())
}

/// Waits (up to 15 s) until sshd, re-executing after a reload, takes
/// connections again, so the next login does not meet a refused port.
fn wait_for_sshd(address: &str, port: u16) {
    use std::net::ToSocketAddrs;
    let Some(addr) = (address, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        return;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The known_hosts file for a rollback's own login: the recorded one, or
/// ssh's.
fn known_hosts_for(login: &Login, record: &Onboarding, known: &Path) -> Result<PathBuf, String> {
    if record.known_hosts.is_some() {
        return Ok(known.to_path_buf());
    }
    user_known_hosts(login, &record.address, record.port)
}

/// The first login: how to reach the host and prove who we are.
struct FirstLogin<'a> {
    address: &'a str,
    port: Option<u16>,
    user: &'a str,
    login: &'a Login,
    password: Option<&'a SecretString>,
    /// The known_hosts file this login checks against.
    known_hosts: PathBuf,
    /// Record a key never seen (`--trust-new-host-key`) in `known_hosts`.
    accept_new: bool,
}

impl FirstLogin<'_> {
    /// Opens an ssh master for the login in `dir` and returns its control
    /// socket.
    async fn open(&self, dir: &Path) -> Result<PathBuf, String> {
        let socket = dir.join("master");
        let log = dir.join("ssh.log");
        let mut ssh = tokio::process::Command::new("ssh");
        if let Some(cfg) = &self.login.ssh_config {
            ssh.arg("-F").arg(cfg);
        }
        ssh.arg("-E").arg(&log).arg("-S").arg(&socket);
        ssh.args(["-M", "-N", "-f", "-o", "ControlPersist=300"]);
        let check = if self.accept_new { "accept-new" } else { "yes" };
        ssh.arg("-o").arg(format!("StrictHostKeyChecking={check}"));
        ssh.arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()));
        ssh.args([
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=10",
        ]);
        ssh.args([
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "NumberOfPasswordPrompts=1",
        ]);
        ssh.args(["-o", "UpdateHostKeys=no"]);
        let _askpass = match (&self.login.login_key, self.password) {
            (Some(key), _) => {
                ssh.arg("-i").arg(key);
                ssh.args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]);
                None
            }
            (None, Some(password)) => {
                ssh.args(["-o", "BatchMode=no", "-o", "PubkeyAuthentication=no"]);
                ssh.args([
                    "-o",
                    "PreferredAuthentications=keyboard-interactive,password",
                ]);
                let helper = Askpass::serve(dir, password.clone())?;
                ssh.env("SSH_ASKPASS", &helper.script)
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .env("DISPLAY", "mc-onboard")
                    .env(ASKPASS_SOCKET, &helper.socket);
                Some(helper)
            }
            (None, None) => return Err("no password and no --login-key".into()),
        };
        if let Some(port) = self.port {
            ssh.arg("-p").arg(port.to_string());
        }
        ssh.arg("-l").arg(self.user).arg("--").arg(self.address);
        ssh.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let status = tokio::time::timeout(Duration::from_secs(60), ssh.status())
            .await
            .map_err(|_| "the first login did not finish within 60 s".to_string())?
            .map_err(|e| format!("running ssh: {e}"))?;
        if !status.success() {
            let why = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "logging in to {} as {}: {}",
                self.address,
                self.user,
                mc_runtime::render::safe(why.trim())
            ));
        }
        Ok(socket)
    }
}

/// How the first login becomes root: already root, sudo without a
/// password, or sudo with the login password.
async fn elevation<'a>(socket: &Path, first: &FirstLogin<'a>) -> Result<Elevation<'a>, String> {
    let run = |cmd: &'static str, input: Vec<u8>| {
        let socket = socket.to_path_buf();
        async move {
            transport::master_command(&socket, cmd, &input)
                .await
                .map_err(|e| e.to_string())
        }
    };
    let (_, uid, _) = run("id -u", Vec::new()).await?;
    if uid.trim() == "0" {
        return Ok(Elevation::None);
    }
    if run("sudo -n true", Vec::new()).await?.0 == 0 {
        return Ok(Elevation::Sudo);
    }
    let Some(password) = first.password else {
        return Err(format!(
            "{} is not root and may not use sudo without a password",
            first.user
        ));
    };
    let line = zeroize::Zeroizing::new(format!("{}\n", password.expose()).into_bytes());
    let (code, _, err) = run("sudo -S -k -p '' true", line.to_vec()).await?;
    if code != 0 {
        return Err(format!(
            "{} may not use sudo with its password: {}",
            first.user,
            mc_runtime::render::safe(err.trim())
        ));
    }
    Ok(Elevation::SudoPassword(password.expose()))
}

/// Answers ssh's password prompt from this process: the helper script
/// runs `mc onboard askpass`, which asks over a socket in a private
/// directory. Only prompts that ask for a password get it.
struct Askpass {
    script: PathBuf,
    socket: PathBuf,
}

impl Askpass {
    fn serve(dir: &Path, password: SecretString) -> Result<Askpass, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot locate mc: {e}"))?;
        let script = dir.join("askpass");
        let body = format!(
            "#!/bin/sh\nexec {} onboard askpass \"$@\"\n",
            transport::shell_quote(&exe.to_string_lossy())
        );
        write_executable(&script, &body)?;
        let socket = dir.join("askpass.sock");
        let listener = UnixListener::bind(&socket).map_err(|e| format!("askpass socket: {e}"))?;
        std::thread::spawn(move || {
            // One login asks once; a few more cover keyboard-interactive.
            for stream in listener.incoming().take(3).flatten() {
                answer(stream, &password);
            }
        });
        Ok(Askpass { script, socket })
    }
}

fn answer(stream: UnixStream, password: &SecretString) {
    let mut prompt = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut prompt).is_err() {
        return;
    }
    // A host-key question or anything else but a password gets no answer.
    let lower = prompt.to_lowercase();
    let reply = if lower.contains("password") && !lower.contains("passphrase") {
        zeroize::Zeroizing::new(format!("{}\n", password.expose()))
    } else {
        zeroize::Zeroizing::new("\n".to_string())
    };
    let _ = (&stream).write_all(reply.as_bytes());
}

/// `mc onboard askpass PROMPT`: ssh's SSH_ASKPASS helper.
fn askpass(prompt: &str) -> Result<(), String> {
    let socket =
        std::env::var_os(ASKPASS_SOCKET).ok_or("only ssh started by mc onboard uses this")?;
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("askpass: {e}"))?;
    let line = prompt.replace('\n', " ");
    stream
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| format!("askpass: {e}"))?;
    let mut reply = zeroize::Zeroizing::new(String::new());
    stream
        .read_to_string(&mut reply)
        .map_err(|e| format!("askpass: {e}"))?;
    if reply.trim().is_empty() {
        return Err("declined".into());
    }
    std::io::stdout()
        .write_all(reply.as_bytes())
        .map_err(|e| format!("askpass: {e}"))
}

/// The login password: from stdin with `--password-stdin`, else asked on
/// the terminal; none with `--login-key`.
fn login_secret(login: &Login, user: &str, host: &str) -> Result<Option<SecretString>, String> {
    if login.login_key.is_some() {
        return Ok(None);
    }
    if login.password_stdin {
        let mut text = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading the password from stdin: {e}"))?;
        let pw = text.trim_end_matches(['\n', '\r']);
        if pw.is_empty() {
            return Err("--password-stdin: stdin was empty".into());
        }
        return Ok(Some(SecretString::new(pw.to_string())));
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            "no terminal to ask the password on: use --password-stdin or --login-key".into(),
        );
    }
    mc_secrets::prompt::read_hidden(&format!("{user}@{host}'s password: "))
        .map(Some)
        .map_err(|e| format!("reading the password: {e}"))
}

/// Which known_hosts the first login checks, and whether it may add to it.
struct HostKeyCheck {
    file: PathBuf,
    accept_new: bool,
    /// Fingerprints trusted on this run, to show.
    added_fingerprints: Option<String>,
}

/// Strict against `record_in` when it knows the host; else against the
/// keys the user vouched for (`--host-key-fingerprint`), or any key
/// (`--trust-new-host-key`), kept in a temporary file until the login
/// works.
fn host_key_check(
    args: &SshArgs,
    entry: &str,
    record_in: &Path,
    dir: &Path,
) -> Result<HostKeyCheck, String> {
    let known = Command::new("ssh-keygen")
        .arg("-F")
        .arg(entry)
        .arg("-f")
        .arg(record_in)
        .stdin(Stdio::null())
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false);
    if known {
        return Ok(HostKeyCheck {
            file: record_in.to_path_buf(),
            accept_new: false,
            added_fingerprints: None,
        });
    }
    let file = dir.join("known_hosts");
    if args.trust_new_host_key {
        write_file(&file, "")?;
        return Ok(HostKeyCheck {
            file,
            accept_new: true,
            added_fingerprints: None,
        });
    }
    let scanned = key_scan(&args.host, args.port)?;
    let Some(wanted) = &args.host_key_fingerprint else {
        let list: Vec<String> = scanned.iter().map(|(fp, _)| format!("  {fp}")).collect();
        return Err(format!(
            "the host key of {entry} is not known ({}). Check its fingerprint on the host \
             (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) and pass it as \
             --host-key-fingerprint, or pass --trust-new-host-key. It offers:\n{}",
            record_in.display(),
            list.join("\n")
        ));
    };
    let matching: Vec<&(String, String)> = scanned
        .iter()
        .filter(|(fp, _)| fp.split_whitespace().nth(1) == Some(wanted.trim()))
        .collect();
    if matching.is_empty() {
        return Err(format!(
            "{entry} offers no host key with the fingerprint {wanted}: refusing to log in"
        ));
    }
    let lines: String = matching.iter().map(|(_, l)| format!("{l}\n")).collect();
    write_file(&file, &lines)?;
    Ok(HostKeyCheck {
        file,
        accept_new: false,
        added_fingerprints: Some(wanted.clone()),
    })
}

/// The `SHA256:…` fingerprints of the keys in a known_hosts file.
fn fingerprints(file: &Path) -> Option<String> {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let fps: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    (!fps.is_empty()).then(|| fps.join(", "))
}

/// `ssh-keyscan` of the host: (fingerprint line, known_hosts line) per key.
fn key_scan(host: &str, port: Option<u16>) -> Result<Vec<(String, String)>, String> {
    let mut scan = Command::new("ssh-keyscan");
    scan.args(["-T", "10"]);
    if let Some(p) = port {
        scan.arg("-p").arg(p.to_string());
    }
    let out = scan
        .arg(host)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running ssh-keyscan: {e}"))?;
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if lines.is_empty() {
        return Err(format!(
            "{host} offered no host key (is sshd running there?)"
        ));
    }
    let mut keys = Vec::new();
    for line in lines {
        let mut child = Command::new("ssh-keygen")
            .args(["-l", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("running ssh-keygen: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(format!("{line}\n").as_bytes());
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let fp = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !fp.is_empty() {
            keys.push((fp, line));
        }
    }
    Ok(keys)
}

/// ssh's `UserKnownHostsFile` for this host (its first file), as `ssh -G`
/// resolves it.
fn user_known_hosts(login: &Login, host: &str, port: Option<u16>) -> Result<PathBuf, String> {
    let mut g = Command::new("ssh");
    if let Some(cfg) = &login.ssh_config {
        g.arg("-F").arg(cfg);
    }
    if let Some(p) = port {
        g.arg("-p").arg(p.to_string());
    }
    let out = g
        .arg("-G")
        .arg("--")
        .arg(host)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running ssh -G: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let file = text
        .lines()
        .find_map(|l| l.strip_prefix("userknownhostsfile "))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("~/.ssh/known_hosts");
    Ok(expand_home(file))
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// `addr`, or `[addr]:port` off port 22, as known_hosts names hosts.
fn known_host_name(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if p != 22 => format!("[{host}]:{p}"),
        _ => host.to_string(),
    }
}

fn append_known_hosts(from: &Path, to: &Path) -> Result<(), String> {
    let lines = std::fs::read_to_string(from).map_err(|e| e.to_string())?;
    if let Some(dir) = to.parent().filter(|d| !d.exists()) {
        state::private_dir(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(to)
        .map_err(|e| format!("recording the host key in {}: {e}", to.display()))?;
    f.write_all(lines.as_bytes())
        .map_err(|e| format!("recording the host key in {}: {e}", to.display()))
}

fn forget_known_host(file: &Path, entry: &str) {
    let _ = Command::new("ssh-keygen")
        .arg("-R")
        .arg(entry)
        .arg("-f")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_file(PathBuf::from(format!("{}.old", file.display())));
}

/// The management user's key: `--key`, or a new ed25519 key in
/// `.mc/keys/NAME`. Returns (private key, public key line, generated).
fn management_key(
    args: &SshArgs,
    project: &Path,
    name: &str,
) -> Result<(PathBuf, String, bool), String> {
    let (private, generated) = match &args.key {
        Some(k) => (k.clone(), false),
        None => {
            let dir = project.join(".mc").join("keys");
            state::private_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            let key = dir.join(name);
            if key.exists() {
                return Err(format!(
                    "{} exists: pass it as --key, or remove it",
                    key.display()
                ));
            }
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(format!("mc@{name}"))
                .arg("-f")
                .arg(&key)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("running ssh-keygen: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ssh-keygen: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            (key, true)
        }
    };
    let public = PathBuf::from(format!("{}.pub", private.display()));
    let line = std::fs::read_to_string(&public)
        .map_err(|e| format!("reading the public key {}: {e}", public.display()))?;
    Ok((absolute(&private), line, generated))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The host as the first login reaches it.
fn host_info(first: &FirstLogin<'_>) -> mc_ir::HostInfo {
    mc_ir::HostInfo {
        name: first.address.to_string(),
        address: first.address.to_string(),
        user: Some(first.user.to_string()),
        port: first.port,
        transport: mc_ir::Transport::Ssh,
        r#become: false,
        groups: Vec::new(),
        ssh_key: None,
    }
}

/// The host as the inventory entry describes it.
fn managed_host(record: &Onboarding, key: &Path) -> mc_ir::HostInfo {
    mc_ir::HostInfo {
        name: record.name.clone(),
        address: record.address.clone(),
        user: Some(record.user.clone()),
        port: record.port,
        transport: mc_ir::Transport::Ssh,
        r#become: true,
        groups: Vec::new(),
        ssh_key: (!key.as_os_str().is_empty()).then(|| key.display().to_string()),
    }
}

/// The management user's logins: strict host keys, as `mc apply`'s.
fn connect_options(runner: &Runners, ssh_config: Option<PathBuf>) -> ConnectOptions {
    let mut opts = ConnectOptions::new(runner.clone());
    opts.ssh_config = ssh_config;
    opts
}

fn print_inventory_item(record: &Onboarding, key: &Path, trusted: Option<&str>) {
    let cwd = std::env::current_dir().unwrap_or_default();
    let shown = key.strip_prefix(&cwd).unwrap_or(key);
    crate::outln!(
        "Onboarded {} as {}: user {} with key {}, sudo rule in {}{}.",
        record.address,
        record.name,
        record.user,
        shown.display(),
        record.sudoers_path,
        if record.previous_sshd_config.is_some() {
            ", password logins off"
        } else {
            ""
        }
    );
    if let (Some(fp), Some(file)) = (trusted, &record.known_hosts) {
        crate::outln!("Host key {fp} recorded in {file}.");
    }
    crate::outln!(
        "Add it to the inventory (`mc onboard rollback {}` undoes this):\n",
        record.name
    );
    let mut item = format!(
        "host {:?} {{\n  address = {:?}\n  user    = {:?}\n  ssh_key = {:?}\n  become  = true\n",
        record.name,
        record.address,
        record.user,
        shown.display().to_string()
    );
    if let Some(p) = record.port {
        item.push_str(&format!("  port    = {p}\n"));
    }
    item.push('}');
    crate::outln!("{item}");
}

fn record_path(project: &Path, name: &str) -> PathBuf {
    project
        .join(".mc")
        .join("onboard")
        .join(format!("{name}.json"))
}

fn save_record(path: &Path, record: &Onboarding) -> Result<(), String> {
    let text = serde_json::to_string_pretty(record).map_err(|e| e.to_string())?;
    state::write_private(path, text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn open_store(login: &Login, project: &Path) -> Result<Arc<StateStore>, String> {
    super::plan::open_store(login.state.as_deref(), project).map(Arc::new)
}

/// An audit entry without the public key's body or earlier file contents.
fn audit(store: &StateStore, kind: &str, record: &Onboarding) {
    let detail = serde_json::json!({
        "host": record.name,
        "address": record.address,
        "user": record.user,
        "user_created": record.user_created,
        "sudoers": record.sudoers_path,
        "passwords_off": record.previous_sshd_config.is_some(),
    });
    if let Err(e) = store.audit(kind, &detail) {
        eprintln!("warning: the audit log did not take the {kind} entry: {e}");
    }
}

fn private_temp() -> Result<tempfile::TempDir, String> {
    // Short: the control socket's path must stay under ~100 bytes.
    tempfile::Builder::new()
        .prefix("mc-onboard-")
        .tempdir_in("/tmp")
        .map_err(|e| format!("creating a private directory: {e}"))
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn write_executable(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o700)
        .open(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '.'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}
