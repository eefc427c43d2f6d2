//! `mc check`: placeholder until the parse stage lands.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`) or a single `.mc` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
}

pub fn run(_args: Args) -> ExitCode {
    super::pending::run("check")
}
