//! `mc backups HOST PATH`: list the backups a host keeps of one file, so
//! one can be restored by hand.

use super::plan::{catalog_source, RunArgs};
use mc_runtime::state::format_time;
use mc_runtime::{Runtime, Selection};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The host, as the inventory names it.
    pub host: String,
    /// The file's absolute path on the host.
    pub file: String,
    /// Project directory (entry file `main.mc`).
    #[arg(short = 'p', long = "project", default_value = ".")]
    pub project: PathBuf,
    /// Read this user's backups (those of resources with `become_user`);
    /// default: the user mc logs in as (root under the host's `become`).
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: Args) -> ExitCode {
    match backups(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mc backups: {e}");
            ExitCode::from(1)
        }
    }
}

fn backups(args: &Args) -> Result<(), String> {
    if !args.file.starts_with('/') {
        return Err(format!("the path must be absolute, got {:?}", args.file));
    }
    let source = catalog_source(&args.project, &args.run.vars)?;
    let selection = Selection {
        limit: vec![args.host.clone()],
        ..Selection::default()
    };
    let host = Runtime::select_hosts(source.as_ref(), &selection)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|h| h.name == args.host)
        .ok_or_else(|| format!("no host named {:?} in the inventory", args.host))?;
    let rt = args.run.runtime(&args.project)?;
    let (dir, list) = mc_runtime::block_on(mc_runtime::backups::list(
        &host,
        &rt.connect,
        &args.file,
        args.as_user.as_deref(),
    ))
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("{}: {e}", host.name))?;
    if args.json {
        let json =
            serde_json::json!({"host": host.name, "path": args.file, "dir": dir, "backups": list});
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
        return Ok(());
    }
    if list.is_empty() {
        println!(
            "{}: no backups of {} (looked in {dir})",
            host.name, args.file
        );
        return Ok(());
    }
    println!(
        "{}: backups of {} in {dir}, newest last:",
        host.name, args.file
    );
    for b in &list {
        println!(
            "  {}  {:>10} bytes  sha256 {}…  {}",
            format_time(i64::try_from(b.made_at).unwrap_or(i64::MAX)),
            b.size,
            &b.sha256[..12.min(b.sha256.len())],
            b.name
        );
    }
    if let Some(last) = list.last() {
        println!(
            "restore one by hand on the host, e.g.: cp -p {dir}/{} {}",
            last.name, args.file
        );
    }
    Ok(())
}
