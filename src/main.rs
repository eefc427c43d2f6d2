//! `mc`: the Masterchef command line. Thin: parses arguments and dispatches
//! to the crates; every subcommand lives in `cmd/<name>.rs`.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod cmd;
mod out;
mod sarif;
mod signals;
mod style;
mod telemetry;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mc",
    version = VERSION,
    about = "Masterchef: typed, declarative configuration management",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Run as if mc was started in DIR (like `git -C` and `make -C`).
    #[arg(short = 'C', value_name = "DIR", global = true)]
    directory: Option<std::path::PathBuf>,
    /// When to colour output; `NO_COLOR` in the environment means never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t, global = true)]
    color: style::ColorWhen,
    /// More diagnostics on stderr (-v, -vv); `MC_LOG` sets filters too.
    #[arg(short = 'v', long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr: no progress, no notes.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// The ed25519 private key (OpenSSH format) that signs what you do:
    /// plans, approvals, applies. Default: `MC_IDENTITY`, else
    /// `~/.config/mc/id_ed25519`, else `~/.ssh/id_ed25519`.
    #[arg(long, value_name = "KEY", global = true)]
    identity: Option<std::path::PathBuf>,
}

/// `0.1.0 (commit 1a2b3c4d5e6f)`: the version and the commit it was built
/// from (see build.rs).
const VERSION: &str = env!("MC_VERSION");

#[derive(Subcommand)]
enum Command {
    /// Create a new project in a directory.
    Init(cmd::init::Args),
    /// Check a project or file for errors without touching any host.
    Check(cmd::check::Args),
    /// Format .mc files in the canonical style.
    Fmt(cmd::fmt::Args),
    /// Print the compiled catalog of one host.
    Compile(cmd::compile::Args),
    /// Draw a host's catalog as a graph (DOT, Mermaid or JSON).
    Graph(cmd::graph::Args),
    /// Run a command on the selected hosts (an audited, policy-checked plan).
    Run(cmd::run::Args),
    /// Bring a fresh host under management (`mc onboard ssh`), or undo it.
    Onboard(cmd::onboard::Args),
    /// Probe hosts and show what an apply would change.
    Plan(cmd::plan::Args),
    /// Apply a plan file, or plan and apply a project.
    Apply(cmd::apply::Args),
    /// Show a saved plan (a plan file or a stored plan's hash).
    Show(cmd::show::Args),
    /// Report changes made outside mc since the last apply.
    Drift(cmd::drift::Args),
    /// Translate another tool's files to mc (`mc import ansible-inventory FILE`).
    Import(cmd::import::Args),
    /// Gather and print the facts of hosts.
    Facts(cmd::facts::Args),
    /// List the backups a host keeps of a file.
    Backups(cmd::backups::Args),
    /// Approve a plan that needs approval.
    Approve(cmd::approve::Args),
    /// Reject a plan that needs approval.
    Reject(cmd::approve::Args),
    /// Print your signing key: the line a project lists in `approvers`.
    Identity(cmd::identity::Args),
    /// Pull-mode agents: the key they trust.
    Agent(cmd::agent::Args),
    /// List past and running applies.
    Runs(cmd::runs::Args),
    /// Inspect and verify the audit log.
    Audit(cmd::audit::Args),
    /// What mc tracks (list, show, forget); back up, restore, unlock the store.
    State(cmd::state::Args),
    /// Manage encrypted secrets.
    Secret(cmd::secret::Args),
    /// Terminal UI for runs, drift and approvals.
    Tui(cmd::tui::Args),
    /// Language server over stdio.
    Lsp(cmd::lsp::Args),
    /// Explain a diagnostic code, e.g. `mc explain E0101`.
    Explain(cmd::explain::Args),
    /// Print shell completions (see docs/cli.md to install them).
    Completions(cmd::completions::Args),
    /// Print the manual page, or write all of them with --out-dir.
    Man(cmd::completions::ManArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    style::init(cli.color);
    out::init_logging(cli.verbose, cli.quiet);
    if let Some(dir) = &cli.directory {
        if let Err(e) = std::env::set_current_dir(dir) {
            eprintln!("error: cannot change to directory {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    }
    if let Some(key) = cli.identity {
        mc_runtime::identity::use_key(key);
    }
    let code = match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Completions(args) => cmd::completions::run::<Cli>(args),
        Command::Man(args) => cmd::completions::man::<Cli>(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Fmt(args) => cmd::fmt::run(args),
        Command::Compile(args) => cmd::compile::run(args),
        Command::Graph(args) => cmd::graph::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Onboard(args) => cmd::onboard::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Apply(args) => cmd::apply::run(args),
        Command::Show(args) => cmd::show::run(args),
        Command::Drift(args) => cmd::drift::run(args),
        Command::Facts(args) => cmd::facts::run(args),
        Command::Backups(args) => cmd::backups::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Approve(args) => cmd::approve::run(args, true),
        Command::Reject(args) => cmd::approve::run(args, false),
        Command::Identity(args) => cmd::identity::run(args),
        Command::Agent(args) => cmd::agent::run(args),
        Command::Runs(args) => cmd::runs::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::State(args) => cmd::state::run(args),
        Command::Secret(args) => cmd::secret::run(args),
        Command::Tui(args) => cmd::tui::run(args),
        Command::Lsp(args) => cmd::lsp::run(args),
        Command::Explain(args) => cmd::explain::run(args),
    };
    tracing::debug!(
        statements = mc_runtime::state::statements_run(),
        "state store statements"
    );
    telemetry::shutdown();
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap's own consistency checks (unique names, valid defaults) over
    /// every subcommand; a release build skips them.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
