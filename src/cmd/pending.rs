//! Subcommands that are planned but not built yet: they say so and exit 2.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

pub fn run(name: &str) -> ExitCode {
    eprintln!("mc {name}: not built yet in this version of mc");
    ExitCode::from(2)
}
