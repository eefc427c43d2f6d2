//! `mc facts [PATH] [HOST…]`: gather and print the facts of hosts.

use super::plan::{catalog_source, RunArgs};
use mc_runtime::Runtime;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The project directory (default: `.`), then the hosts whose facts to
    /// gather (default: all; patterns as in `--limit`). A first argument
    /// that is not a directory or `.mc` file is a host.
    #[arg(value_name = "PATH|HOST")]
    pub operands: Vec<String>,
    /// Print the cached facts from the last plan instead of asking the hosts.
    #[arg(long)]
    pub cached: bool,
    #[command(flatten)]
    pub output: super::Output,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Version of the `mc facts` document (docs/json.md).
const FACTS_SCHEMA: u32 = 1;

pub fn run(args: Args) -> ExitCode {
    match facts(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Splits the positional arguments into the project and the hosts.
pub(super) fn project_and_hosts(targets: &[String]) -> (PathBuf, Vec<String>) {
    match targets.split_first() {
        Some((first, rest)) if is_project(Path::new(first)) => {
            (super::project_dir(Path::new(first)), rest.to_vec())
        }
        _ => (PathBuf::from("."), targets.to_vec()),
    }
}

fn is_project(p: &Path) -> bool {
    p.is_dir() || (p.is_file() && p.extension().is_some_and(|e| e == "mc"))
}

fn facts(args: &Args) -> Result<ExitCode, String> {
    let (project, hosts) = project_and_hosts(&args.operands);
    let source = catalog_source(&project, &args.run.vars)?;
    let mut selection = args.run.selection();
    selection.limit.extend(hosts);
    let hosts = Runtime::select_hosts(source.as_ref(), &selection).map_err(|e| e.to_string())?;
    if hosts.is_empty() {
        return Err(super::no_hosts_selected(&selection.limit));
    }
    let results: Vec<(String, Result<serde_json::Value, String>)> = if args.cached {
        // No host is contacted, so no runner is needed.
        let store = super::plan::open_store(args.run.state.as_deref(), &project)?;
        hosts
            .iter()
            .map(|h| {
                let cached = store.cached_facts(&h.name).map_err(|e| e.to_string());
                let r = match cached {
                    Ok(Some((f, _))) => Ok(f),
                    Ok(None) => Err("no cached facts; run `mc facts` or `mc plan`".into()),
                    Err(e) => Err(e),
                };
                (h.name.clone(), r)
            })
            .collect()
    } else {
        let rt = args.run.runtime(&project)?;
        let progress = super::progress();
        let results = mc_runtime::block_on(rt.facts(hosts, progress.clone()));
        progress.finish();
        results.map_err(|e| e.to_string())?
    };
    let mut out = serde_json::Map::new();
    let mut failed = false;
    for (host, r) in results {
        match r {
            Ok(f) => {
                out.insert(host, f);
            }
            Err(e) => {
                failed = true;
                eprintln!("{host}: {e}");
            }
        }
    }
    crate::out::json(FACTS_SCHEMA, serde_json::json!({ "hosts": out }));
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
