//! `mc init [DIR]`: starts a project with an entry file that checks clean and
//! manages one demo file on this machine, so `mc plan` works right away.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Directory of the new project (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

const MAIN_MC: &str = r#"// The entry file of this project. `mc check` checks it, `mc plan` shows
// what would change, `mc apply` makes it so.

/// Hosts are declared in the inventory; `transport = "local"` runs on this
/// machine without SSH. Add `host "web1" { address = "10.0.0.11" }` for a
/// remote one.
host "localhost" {
  transport = "local"
}

on host("localhost") {
  file "/tmp/mc-hello.txt" {
    content = "Hello from ${host.name}, managed by mc\n"
    mode = 0o644
  }
}
"#;

const GITIGNORE: &str = "# mc's local state store (runs, plans, audit log)\n/.mc/\n";

pub fn run(args: Args) -> ExitCode {
    match init(&args.dir) {
        Ok(created) => {
            for path in created {
                crate::outln!("created {}", path.display());
            }
            crate::outln!("next: mc check {0} && mc plan {0}", args.dir.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Writes the files that are missing; refuses to touch an existing project.
fn init(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let main = dir.join("main.mc");
    if main.exists() {
        return Err(format!(
            "`{}` already exists: this is a project already",
            main.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let mut created = Vec::new();
    for (path, text) in [(main, MAIN_MC), (dir.join(".gitignore"), GITIGNORE)] {
        if path.exists() {
            continue;
        }
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        created.push(path);
    }
    Ok(created)
}
