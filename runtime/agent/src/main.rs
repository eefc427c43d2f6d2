//! `mc-agent`: serves the runner protocol over NATS (see `docs/agents.md`).

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use clap::Parser;
use mc_agent::agent;
use mc_runtime::agents::{envelope, nats};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// The mc agent: converges this host to the desired state that trusted
/// controllers send over NATS.
#[derive(Parser, Debug)]
#[command(name = "mc-agent", version)]
struct Args {
    /// The NATS server: nats://HOST:4222 (tls://… for TLS); comma-separated for a cluster.
    #[arg(long, value_name = "URL", required_unless_present = "runner")]
    server: Option<String>,
    /// This agent's name: the host's name in the inventory.
    #[arg(long, required_unless_present = "runner")]
    name: Option<String>,
    /// A controller's public signing key (`mc agent trust-key`), or a file of such lines (repeatable).
    #[arg(long, value_name = "KEY|FILE", required_unless_present = "runner")]
    trust: Vec<String>,
    /// NATS credentials file (JWT and nkey seed).
    #[arg(long, value_name = "FILE")]
    creds: Option<PathBuf>,
    /// A file with this agent's nkey seed.
    #[arg(long, value_name = "FILE")]
    nkey: Option<PathBuf>,
    /// TLS client certificate (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS client key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA certificate(s) that sign the NATS server's certificate (PEM).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Where the agent keeps its key, its last catalog and its state.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/mc-agent")]
    state_dir: PathBuf,
    /// How often to re-converge to the last applied catalog (`30m`, `1h`), at a fixed per-host offset.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    interval: std::time::Duration,
    /// Only report drift; change nothing between controller runs.
    #[arg(long)]
    noop: bool,
    /// Serve one runner session on stdin/stdout (what the agent starts per session).
    #[arg(long, hide = true)]
    runner: bool,
}

fn main() -> ExitCode {
    // Without arguments and not on a terminal, this is a runner, as
    // `mc-runner` is: what the engine starts for the agent's own runs.
    if std::env::args_os().len() == 1 && !std::io::stdin().is_terminal() {
        return serve_runner();
    }
    let args = Args::parse();
    if args.runner {
        return serve_runner();
    }
    match start(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mc-agent: {e}");
            ExitCode::from(1)
        }
    }
}

fn start(args: Args) -> Result<(), String> {
    let name = args.name.unwrap_or_default();
    if !nats::valid_name(&name) {
        return Err(format!(
            "{name:?} is not a valid agent name (letters, digits, - _ .)"
        ));
    }
    let mut trusted = Vec::new();
    for t in &args.trust {
        let text = if t.trim_start().starts_with("ssh-") {
            t.clone()
        } else {
            std::fs::read_to_string(t).map_err(|e| format!("cannot read --trust {t}: {e}"))?
        };
        trusted.extend(envelope::parse_trusted(&text).map_err(|e| format!("--trust {t}: {e}"))?);
    }
    if trusted.is_empty() {
        return Err("no trusted controller key (--trust)".into());
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate myself: {e}"))?;
    let build_id = file_hash(&exe).unwrap_or_else(|_| "unknown".into());
    let cfg = agent::Config {
        server: args.server.unwrap_or_default(),
        name,
        trusted,
        credentials: nats::Credentials {
            creds: args.creds,
            nkey: args.nkey,
            tls_cert: args.tls_cert,
            tls_key: args.tls_key,
            tls_ca: args.tls_ca,
        },
        runner: (exe, vec!["--runner".into()]),
        build_id: build_id.clone(),
        state_dir: args.state_dir,
        interval: args.interval,
        noop: args.noop,
    };
    // Runners started by the engine (no arguments) learn it from here too.
    std::env::set_var(agent::BUILD_ID_ENV, &build_id);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(agent::run(cfg))
}

/// The first 16 hex digits of a file's sha256, read in small pieces (the
/// whole executable in memory would stay in the idle agent's heap).
fn file_hash(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut hasher = sha2::Sha256::new();
    let mut file = std::fs::File::open(path)?;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let hex: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(hex)
}

/// One runner session on stdin/stdout, as `mc-runner` serves it.
fn serve_runner() -> ExitCode {
    if let Ok(id) = std::env::var(agent::BUILD_ID_ENV) {
        mc_runner::server::set_build_id(id);
    }
    mc_runner::server::serve_stdio("mc-agent")
}
