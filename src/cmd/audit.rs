//! `mc audit`: list and verify the hash-chained audit log.

use super::plan::open_store;
use mc_runtime::state::{format_time, AuditVerdict};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Project directory (prefer `mc -C DIR`, the same on every command).
    #[arg(
        short = 'p',
        long = "project",
        default_value = ".",
        hide = true,
        global = true
    )]
    pub project: PathBuf,
    /// State store: a SQLite file (`sqlite:PATH` or a path) or a shared PostgreSQL database (`postgres://USER@HOST/DB`; the password from `PGPASSWORD`); default `MC_STATE`, else PROJECT/.mc/state.db.
    #[arg(long, value_name = "FILE|URL", global = true)]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub output: super::Output,
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Show the latest entries (the default).
    List {
        /// How many entries to show (the latest).
        #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 50)]
        count: usize,
    },
    /// Check the whole chain: exit 1 if any entry was edited, deleted or reordered.
    Verify {
        /// A head printed earlier by `mc audit head` and kept outside the
        /// database: also detects a cut tail or a rebuilt chain.
        #[arg(long, value_name = "SEQ:HASH")]
        anchor: Option<String>,
    },
    /// Print the head of the chain (`SEQ:HASH`), to keep outside the
    /// database and give to `mc audit verify --anchor` later.
    Head,
}

pub fn run(args: Args) -> ExitCode {
    match audit(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Version of the `mc audit --json` documents (docs/json.md).
const AUDIT_SCHEMA: u32 = 1;

fn audit(args: &Args) -> Result<ExitCode, String> {
    let store = open_store(args.state.as_deref(), &args.project)?;
    match args.action.as_ref().unwrap_or(&Action::List { count: 50 }) {
        Action::List { count } => {
            let entries = store
                .audit_entries(Some(*count))
                .map_err(|e| e.to_string())?;
            if args.output.json() {
                crate::out::json(AUDIT_SCHEMA, serde_json::json!({ "entries": entries }));
            } else {
                for e in entries {
                    crate::outln!(
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
        Action::Head => {
            let head = store.audit_head().map_err(|e| e.to_string())?;
            if args.output.json() {
                crate::out::json(AUDIT_SCHEMA, serde_json::json!({ "head": head }));
            } else {
                crate::outln!("{head}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Verify { anchor } => match anchor
            .as_deref()
            .map_or_else(|| store.verify_audit(), |a| store.verify_audit_anchor(a))
            .map_err(|e| e.to_string())?
        {
            AuditVerdict::Intact { entries, head } => {
                let signers = signers(&store)?;
                let signed: usize = signers.values().sum();
                if args.output.json() {
                    crate::out::json(
                        AUDIT_SCHEMA,
                        serde_json::json!({
                            "ok": true, "entries": entries, "head": head,
                            "signed": signed, "signers": signers,
                        }),
                    );
                } else {
                    crate::outln!("audit log intact: {entries} entries, head {head}");
                    crate::outln!(
                        "signatures verified: {signed} entries signed by {} key(s){}",
                        signers.len(),
                        if signed as i64 == entries {
                            ""
                        } else {
                            " (older entries predate signing)"
                        }
                    );
                    for (key, n) in &signers {
                        crate::outln!("  {key}: {n}");
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            AuditVerdict::Broken { seq, reason } => {
                if args.output.json() {
                    crate::out::json(
                        AUDIT_SCHEMA,
                        serde_json::json!({ "ok": false, "seq": seq, "reason": reason }),
                    );
                } else {
                    crate::outln!("audit log BROKEN at entry {seq}: {reason}");
                }
                Ok(ExitCode::from(1))
            }
        },
    }
}

/// How many entries each key (by fingerprint) signed.
fn signers(
    store: &mc_runtime::StateStore,
) -> Result<std::collections::BTreeMap<String, usize>, String> {
    let mut count = std::collections::BTreeMap::new();
    for e in store.audit_entries(None).map_err(|e| e.to_string())? {
        if let Some(key) = &e.signer {
            *count
                .entry(mc_runtime::identity::fingerprint_of(key))
                .or_insert(0) += 1;
        }
    }
    Ok(count)
}
