//! `mc agent`: pull-mode agents (see docs/agents.md).

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
}

pub fn run(args: Args) -> ExitCode {
    match args.command {
        AgentCommand::TrustKey => trust_key(),
    }
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
