//! `mc completions SHELL` and `mc man`: shell completions and manual pages
//! generated from the same clap definitions as the command line itself.

use clap::CommandFactory;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

pub fn run<C: CommandFactory>(args: Args) -> ExitCode {
    let mut cmd = C::command();
    // Into a buffer first: clap_complete panics when its writer fails, and
    // stdout may be a pipe that is already closed (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "mc", &mut script);
    crate::out!("{}", String::from_utf8_lossy(&script));
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
pub struct ManArgs {
    /// Write `mc.1` and one page per subcommand (`mc-plan.1`, …) into DIR
    /// instead of printing `mc.1`.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn man<C: CommandFactory>(args: ManArgs) -> ExitCode {
    let cmd = C::command();
    let result = match &args.out_dir {
        None => render(&cmd, "mc").map(|page| crate::out!("{}", String::from_utf8_lossy(&page))),
        Some(dir) => write_pages(&cmd, dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn render(cmd: &clap::Command, title: &str) -> Result<Vec<u8>, String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(title.to_uppercase())
        .render(&mut page)
        .map_err(|e| format!("cannot render the manual page: {e}"))?;
    Ok(page)
}

fn write_pages(cmd: &clap::Command, dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut pages = vec![("mc".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("mc-{}", sub.get_name());
        pages.push((name, sub.clone()));
    }
    for (name, page_cmd) in pages {
        let file = dir.join(format!("{name}.1"));
        std::fs::write(&file, render(&page_cmd, &name)?)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        crate::outln!("wrote {}", file.display());
    }
    Ok(())
}
