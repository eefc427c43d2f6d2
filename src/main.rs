//! `mc`: the Masterchef command line. Thin: parses arguments and dispatches
//! to the crates; every subcommand lives in `cmd/<name>.rs`.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mc",
    version,
    about = "Masterchef: typed, declarative configuration management",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new project in a directory.
    Init(cmd::pending::Args),
    /// Check a project or file for errors without touching any host.
    Check(cmd::check::Args),
    /// Format .mc files in the canonical style.
    Fmt(cmd::pending::Args),
    /// Print the compiled catalog of one host.
    Compile(cmd::pending::Args),
    /// Probe hosts and show what an apply would change.
    Plan(cmd::pending::Args),
    /// Apply a plan file, or plan and apply a project.
    Apply(cmd::pending::Args),
    /// Report changes made outside mc since the last apply.
    Drift(cmd::pending::Args),
    /// Gather and print the facts of hosts.
    Facts(cmd::pending::Args),
    /// Approve a plan that needs approval.
    Approve(cmd::pending::Args),
    /// Reject a plan that needs approval.
    Reject(cmd::pending::Args),
    /// List past and running applies.
    Runs(cmd::pending::Args),
    /// Inspect and verify the audit log.
    Audit(cmd::pending::Args),
    /// Back up or restore the state store.
    State(cmd::pending::Args),
    /// Manage encrypted secrets.
    Secret(cmd::pending::Args),
    /// Terminal UI for runs, drift and approvals.
    Tui(cmd::pending::Args),
    /// Language server over stdio.
    Lsp(cmd::pending::Args),
    /// Explain a diagnostic code, e.g. `mc explain E0101`.
    Explain(cmd::pending::Args),
    /// Print shell completions.
    Completions(cmd::completions::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => cmd::check::run(args),
        Command::Completions(args) => cmd::completions::run::<Cli>(args),
        Command::Init(_) => cmd::pending::run("init"),
        Command::Fmt(_) => cmd::pending::run("fmt"),
        Command::Compile(_) => cmd::pending::run("compile"),
        Command::Plan(_) => cmd::pending::run("plan"),
        Command::Apply(_) => cmd::pending::run("apply"),
        Command::Drift(_) => cmd::pending::run("drift"),
        Command::Facts(_) => cmd::pending::run("facts"),
        Command::Approve(_) => cmd::pending::run("approve"),
        Command::Reject(_) => cmd::pending::run("reject"),
        Command::Runs(_) => cmd::pending::run("runs"),
        Command::Audit(_) => cmd::pending::run("audit"),
        Command::State(_) => cmd::pending::run("state"),
        Command::Secret(_) => cmd::pending::run("secret"),
        Command::Tui(_) => cmd::pending::run("tui"),
        Command::Lsp(_) => cmd::pending::run("lsp"),
        Command::Explain(_) => cmd::pending::run("explain"),
    }
}
