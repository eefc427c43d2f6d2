use clap::CommandFactory;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

pub fn run<C: CommandFactory>(args: Args) -> ExitCode {
    let mut cmd = C::command();
    clap_complete::generate(args.shell, &mut cmd, "mc", &mut std::io::stdout());
    ExitCode::SUCCESS
}
