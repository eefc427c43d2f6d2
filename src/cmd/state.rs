//! `mc state`: back up, restore and unlock the state store.

use super::plan::open_store;
use mc_runtime::state::format_time;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
    /// Project directory (prefer `mc -C DIR`, the same on every command).
    #[arg(short = 'p', long = "project", default_value = ".", hide = true, global = true)]
    pub project: PathBuf,
    /// State store (default: PROJECT/.mc/state.db).
    #[arg(long, value_name = "FILE", global = true)]
    pub state: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Copy the state store to FILE (SQLite online backup; safe while mc runs).
    Backup { file: PathBuf },
    /// Replace the state store with the backup in FILE.
    Restore { file: PathBuf },
    /// Show who holds the apply lock.
    Locks,
    /// Release apply locks left by a crashed run.
    Unlock {
        /// Only these hosts (default: every lock).
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Vec<String>,
        /// Also remove locks whose holder still seems alive.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(args: Args) -> ExitCode {
    match state(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn state(args: &Args) -> Result<(), String> {
    let store = open_store(args.state.as_deref(), &args.project)?;
    let err = |e: mc_runtime::state::StateError| e.to_string();
    match &args.action {
        Action::Backup { file } => {
            store.backup(file).map_err(err)?;
            crate::outln!("backed up {} to {}", store.path().display(), file.display());
        }
        Action::Restore { file } => {
            store.restore(file).map_err(err)?;
            crate::outln!(
                "restored {} from {}",
                store.path().display(),
                file.display()
            );
        }
        Action::Locks => {
            let locks = store.locks().map_err(err)?;
            if locks.is_empty() {
                crate::outln!("no locks held");
            }
            for l in locks {
                crate::outln!(
                    "{}: run {}, pid {} on {}, since {}{}",
                    l.host,
                    l.run_id,
                    l.pid,
                    l.hostname,
                    format_time(l.acquired_at),
                    if l.is_stale() {
                        " (stale: the process is gone)"
                    } else {
                        ""
                    }
                );
            }
        }
        Action::Unlock { hosts, force } => {
            let filter = if hosts.is_empty() {
                None
            } else {
                Some(hosts.as_slice())
            };
            let removed = store.unlock(filter, *force).map_err(err)?;
            if removed.is_empty() {
                crate::outln!("no locks held");
            }
            for l in removed {
                crate::outln!("unlocked {} (run {}, pid {})", l.host, l.run_id, l.pid);
            }
        }
    }
    Ok(())
}
