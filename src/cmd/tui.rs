//! `mc tui [DIR | PLAN.json]`: the terminal UI over a project's state store,
//! or the viewer of a saved plan file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (opens DIR/.mc/state.db) or a plan file from
    /// `mc plan -o`.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Use this state store instead of the project's: a SQLite file or a shared PostgreSQL database (`postgres://USER@HOST/DB`, password from `PGPASSWORD`); default `MC_STATE`.
    #[arg(long, value_name = "FILE|URL", env = "MC_STATE")]
    pub state: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        eprintln!("error: mc tui needs a terminal");
        return ExitCode::from(1);
    }
    if args.path.is_dir() && matches!(super::plan::agents(&args.path), Ok(Some(_))) {
        let state = args
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(std::path::Path::new);
        if let Ok(store) = super::plan::open_store(state, &args.path) {
            super::agent::ingest_reports(&args.path, &store);
        }
    }
    let app = match (&args.state, args.path.is_file()) {
        (Some(state), _) if !state.is_empty() => {
            mc_tui::app_for_store(&mc_runtime::state::StateLocation::parse(state))
        }
        (_, true) => mc_tui::app_for_plan_file(&args.path),
        (_, false) => mc_tui::app_for_project(&args.path),
    };
    match app.and_then(mc_tui::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}
