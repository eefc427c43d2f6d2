//! `mc facts`: gather and print the facts of hosts.

use super::plan::{catalog_source, RunArgs};
use mc_runtime::Runtime;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Print the cached facts from the last plan instead of asking the hosts.
    #[arg(long)]
    pub cached: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: Args) -> ExitCode {
    match facts(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mc facts: {e}");
            ExitCode::from(1)
        }
    }
}

fn facts(args: &Args) -> Result<ExitCode, String> {
    let source = catalog_source(&args.path, &args.run.vars)?;
    let hosts =
        Runtime::select_hosts(source.as_ref(), &args.run.selection()).map_err(|e| e.to_string())?;
    let results: Vec<(String, Result<serde_json::Value, String>)> = if args.cached {
        // No host is contacted, so no runner is needed.
        let store = super::plan::open_store(args.run.state.as_deref(), &args.path)?;
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
        let rt = args.run.runtime(&args.path)?;
        mc_runtime::block_on(rt.facts(hosts))
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
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::Value::Object(out)).unwrap_or_default()
    );
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
