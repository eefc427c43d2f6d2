//! `mc check`: runs the compiler's whole front end on a project (the entry
//! file and everything it imports) and reports every diagnostic, without
//! touching any host.

use mc_compiler::Project;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`) or a single `.mc` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Output format: `human` (rendered, on stderr) or `json` (one object per
    /// line, on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Set a `param` of the project (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = super::plan::parse_var)]
    pub vars: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub fn run(args: Args) -> ExitCode {
    if let Err(message) = validate_entry(&args.path) {
        eprintln!("error: {message}");
        return ExitCode::from(1);
    }
    let mut project = Project::load_dir(&args.path);
    project.set_params(args.vars.iter().cloned().collect());
    let diagnostics = project.check();
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    match args.format {
        Format::Json => {
            let sources = project.sources();
            let mut out = std::io::stdout().lock();
            for diag in &diagnostics {
                let _ = writeln!(out, "{}", diag.to_json_line(&sources));
            }
        }
        Format::Human => {
            let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{}", project.render(&diagnostics, color));
            let files = project.files().len();
            let plural = if files == 1 { "" } else { "s" };
            let _ = match errors {
                0 => writeln!(err, "checked {files} file{plural}: no errors"),
                1 => writeln!(err, "checked {files} file{plural}: 1 error"),
                n => writeln!(err, "checked {files} file{plural}: {n} errors"),
            };
        }
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A clear message for an entry that cannot be a project, before loading.
fn validate_entry(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        if path.join("main.mc").is_file() {
            return Ok(());
        }
        return Err(format!("no `main.mc` in `{}`", path.display()));
    }
    if path.is_file() {
        return Ok(());
    }
    Err(format!("`{}` does not exist", path.display()))
}
