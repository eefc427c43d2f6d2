//! `mc audit`: list and verify the hash-chained audit log.

use super::plan::open_store;
use mc_runtime::state::{format_time, AuditVerdict};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Project directory whose state store to read.
    #[arg(short = 'p', long, default_value = ".", global = true)]
    pub project: PathBuf,
    /// State store (default: PROJECT/.mc/state.db).
    #[arg(long, value_name = "FILE", global = true)]
    pub state: Option<PathBuf>,
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Show the latest entries (the default).
    List {
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
    },
    /// Check the whole chain: exit 1 if any entry was edited, deleted or reordered.
    Verify,
}

pub fn run(args: Args) -> ExitCode {
    match audit(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mc audit: {e}");
            ExitCode::from(1)
        }
    }
}

fn audit(args: &Args) -> Result<ExitCode, String> {
    let store = open_store(args.state.as_deref(), &args.project)?;
    match args.action.as_ref().unwrap_or(&Action::List { limit: 50 }) {
        Action::List { limit } => {
            let entries = store
                .audit_entries(Some(*limit))
                .map_err(|e| e.to_string())?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&entries).unwrap_or_default()
                );
            } else {
                for e in entries {
                    println!(
                        "{:>5}  {}  {:<20}  {}  {}",
                        e.seq,
                        format_time(e.at),
                        e.kind,
                        e.actor,
                        e.detail
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Verify => match store.verify_audit().map_err(|e| e.to_string())? {
            AuditVerdict::Intact { entries, head } => {
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({ "ok": true, "entries": entries, "head": head })
                    );
                } else {
                    println!("audit log intact: {entries} entries, head {head}");
                }
                Ok(ExitCode::SUCCESS)
            }
            AuditVerdict::Broken { seq, reason } => {
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({ "ok": false, "seq": seq, "reason": reason })
                    );
                } else {
                    println!("audit log BROKEN at entry {seq}: {reason}");
                }
                Ok(ExitCode::from(1))
            }
        },
    }
}
