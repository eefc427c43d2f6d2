//! `mc agent`: pull-mode agents (see docs/agents.md).

use super::plan::{catalog_source, RunArgs};
use mc_runtime::agent_install::{self, Install};
use mc_runtime::Runtime;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(clap::Subcommand)]
pub enum AgentCommand {
    /// Print the controller's public signing key: what `mc-agent --trust` takes (made on first use).
    TrustKey,
    /// Install or update `mc-agent` on hosts over SSH and run it as a service.
    Install(Box<InstallArgs>),
    /// List agents: last check-in, the catalog they converge to, their last run.
    Status(StatusArgs),
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The project directory (default: `.`), for `project { agents }`.
    #[arg(value_name = "PATH", default_value = ".")]
    pub project: PathBuf,
    #[command(flatten)]
    pub output: super::Output,
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// The project directory (default: `.`), then the hosts (patterns as in `--limit`).
    #[arg(value_name = "PATH|HOST", required = true)]
    pub operands: Vec<String>,
    /// The NATS server as the hosts reach it (default: MC_AGENTS, else `project { agents }`).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// A NATS credentials file to give each agent (copied, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub creds: Option<PathBuf>,
    /// The mc-agent executable to install (default: MC_AGENT_BINARY, else mc-agent next to mc).
    #[arg(long, value_name = "FILE")]
    pub agent_binary: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        AgentCommand::TrustKey => return trust_key(),
        AgentCommand::Install(a) => install(&a),
        AgentCommand::Status(a) => status(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn install(args: &InstallArgs) -> Result<ExitCode, String> {
    let (project, hosts) = super::facts::project_and_hosts(&args.operands);
    let source = catalog_source(&project, &args.run.vars)?;
    let mut selection = args.run.selection();
    selection.limit.extend(hosts);
    let hosts = Runtime::select_hosts(source.as_ref(), &selection).map_err(|e| e.to_string())?;
    if hosts.is_empty() {
        return Err(super::no_hosts_selected(&selection.limit));
    }
    let server = match &args.server {
        Some(s) => s.clone(),
        None => super::plan::agents(&project)?
            .map(|a| a.server)
            .ok_or("no NATS server: give --server, set MC_AGENTS or `project { agents }`")?,
    };
    let binary_path = agent_binary(args.agent_binary.as_ref())?;
    let binary = std::fs::read(&binary_path)
        .map_err(|e| format!("cannot read {}: {e}", binary_path.display()))?;
    if mc_runtime::runners::elf_is_dynamic(&binary) {
        eprintln!(
            "warning: {} is dynamically linked: it runs only on hosts with this machine's C library or a newer one; \
             a static build runs on any Linux (docs/agents.md)",
            binary_path.display()
        );
    }
    let trust = mc_runtime::identity::controller_key()?
        .public_key()
        .to_openssh()
        .map_err(|e| e.to_string())?;
    let creds = match &args.creds {
        Some(p) => Some(
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let rt = args.run.runtime(&project)?;
    let mut failed = false;
    for host in hosts {
        let inst = Install {
            server: server.clone(),
            name: host.name.clone(),
            trust: format!("{trust}\n"),
            binary: binary.clone(),
            creds: creds.clone(),
        };
        let mut ssh = host.clone();
        ssh.transport = mc_ir::Transport::Ssh;
        let done = mc_runtime::block_on(async {
            let mut s = mc_runtime::transport::connect(&ssh, &rt.connect)
                .await
                .map_err(|e| e.to_string())?;
            let r = agent_install::install(&mut s, &inst).await;
            s.close().await;
            r
        })
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match done {
            Ok(installed) => {
                let changed: Vec<String> = installed
                    .results
                    .iter()
                    .filter(|r| r.1 == agent_install::Status::Changed)
                    .map(|r| r.0.clone())
                    .chain(
                        installed
                            .binary_changed
                            .then(|| agent_install::BINARY.to_string()),
                    )
                    .collect();
                let mut failures: Vec<String> = installed
                    .results
                    .iter()
                    .filter(|r| r.1 == agent_install::Status::Failed)
                    .map(|r| format!("{}: {}", r.0, r.2))
                    .collect();
                // Pinned from the host itself, over SSH: a key that the
                // NATS server (or a writer of its buckets) shows later
                // must be this one.
                let pin = mc_runtime::agents::pin_key(&host.name);
                if let Err(e) = rt.store.set_meta(&pin, &installed.recipient) {
                    failures.push(format!("cannot pin the agent's key: {e}"));
                }
                if !failures.is_empty() {
                    failed = true;
                    eprintln!("{}: failed: {}", host.name, failures.join("; "));
                } else if changed.is_empty() {
                    crate::outln!("{}: agent up to date", host.name);
                } else {
                    crate::outln!("{}: agent installed ({})", host.name, changed.join(", "));
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("{}: {e}", host.name);
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Records the runs agents made on their own since the last time, so
/// that `mc runs`, `mc drift` and the TUI show them. Nothing when the
/// project has no agents; a warning when their server cannot be read.
pub fn ingest_reports(project: &std::path::Path, store: &mc_runtime::state::StateStore) {
    let Ok(Some(agents)) = super::plan::agents(project) else {
        return;
    };
    let read = mc_runtime::block_on(mc_runtime::agents::ingest::ingest(
        &agents,
        store,
        std::time::Duration::from_secs(5),
    ))
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    if let Err(e) = read {
        eprintln!("warning: agents' own runs not read: {e}");
    }
}

/// Version of the `mc agent status --json` document (docs/json.md).
const STATUS_SCHEMA: u32 = 1;

fn status(args: &StatusArgs) -> Result<ExitCode, String> {
    let project = super::project_dir(&args.project);
    let agents = super::plan::agents(&project)?
        .ok_or("no NATS server: set MC_AGENTS or `project { agents }`")?;
    let list = mc_runtime::block_on(mc_runtime::agents::desired::registrations(
        &agents,
        std::time::Duration::from_secs(10),
    ))
    .map_err(|e| e.to_string())??;
    if args.output.json() {
        crate::out::json(STATUS_SCHEMA, serde_json::json!({ "agents": list }));
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        crate::outln!("no agent has registered with {}", agents.server);
        return Ok(ExitCode::SUCCESS);
    }
    let now = mc_runtime::agents::envelope::now();
    let ago = |t: u64| {
        let secs = now.saturating_sub(t);
        format!(
            "{} ago",
            humantime::format_duration(std::time::Duration::from_secs(secs))
        )
    };
    let width = list
        .iter()
        .map(|r| r.agent.len() + 7)
        .max()
        .unwrap_or(5)
        .max(5);
    crate::outln!(
        "{:<width$}  {:<16}  {:<9}  LAST RUN",
        "AGENT",
        "LAST CHECK-IN",
        "CATALOG"
    );
    for r in list {
        let catalog = r
            .catalog_run
            .map(|n| format!("run {n}"))
            .unwrap_or_else(|| "none".into());
        let last = match &r.last_run {
            Some(run) => {
                let mut s = format!(
                    "{} ({} changed, {} failed) {}",
                    run.status,
                    run.changed.len(),
                    run.failed.len(),
                    ago(run.finished)
                );
                if let Some(e) = &run.error {
                    s.push_str(&format!(": {e}"));
                }
                s
            }
            None => "none yet".into(),
        };
        let name = if r.noop {
            format!("{} (noop)", r.agent)
        } else {
            r.agent.clone()
        };
        crate::outln!(
            "{name:<width$}  {:<16}  {catalog:<9}  {last}",
            ago(r.last_seen)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--agent-binary`, else `MC_AGENT_BINARY`, else `mc-agent` beside `mc`.
fn agent_binary(given: Option<&PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    if let Some(p) = std::env::var_os("MC_AGENT_BINARY").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate mc: {e}"))?;
    let beside = exe.with_file_name("mc-agent");
    if beside.is_file() {
        return Ok(beside);
    }
    Err(format!(
        "cannot find mc-agent (tried {}); give --agent-binary or set MC_AGENT_BINARY",
        beside.display()
    ))
}

fn trust_key() -> ExitCode {
    let key = match mc_runtime::identity::controller_key() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let line = key.public_key().to_openssh().unwrap_or_default();
    crate::outln!("{line}");
    let path = mc_runtime::identity::controller_key_path().unwrap_or_default();
    eprintln!(
        "key {} ({}); give the line above to `mc-agent --trust`",
        path.display(),
        mc_runtime::identity::fingerprint_of(&line)
    );
    ExitCode::SUCCESS
}
