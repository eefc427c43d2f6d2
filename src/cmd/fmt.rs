//! `mc fmt`: rewrites `.mc` files in the canonical style (see
//! `docs/formatting.md`). A file with syntax errors is left untouched and its
//! diagnostics are shown.

use mc_diagnostics::Diagnostic;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Files and directories to format (directories are searched for `*.mc`
    /// files); `-` formats standard input to standard output.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Change nothing: list the files that are not formatted and exit 1 if
    /// there are any.
    #[arg(long)]
    pub check: bool,
    /// Change nothing: print a unified diff of what formatting would change
    /// and exit 1 if there is any.
    #[arg(long)]
    pub diff: bool,
    /// Maximum line width.
    #[arg(long, default_value_t = mc_fmt::DEFAULT_WIDTH, value_parser = parse_width)]
    pub width: usize,
}

fn parse_width(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(w) if (20..=1000).contains(&w) => Ok(w),
        _ => Err(format!("`{s}` is not a width between 20 and 1000")),
    }
}

/// What happened to one input.
enum Outcome {
    Unchanged,
    /// Rewritten, or (with `--check`) in need of it.
    Changed,
    Failed,
}

pub fn run(args: Args) -> ExitCode {
    let mut failed = false;
    let mut unformatted = false;
    let mut files: Vec<PathBuf> = Vec::new();
    for path in &args.paths {
        if path.as_os_str() == "-" {
            match format_stdin(&args) {
                Outcome::Unchanged => {}
                Outcome::Changed => unformatted = true,
                Outcome::Failed => failed = true,
            }
        } else if path.is_dir() {
            collect(path, &mut files);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            eprintln!("error: `{}`: no such file or directory", path.display());
            failed = true;
        }
    }
    files.sort();
    files.dedup();
    let mut out = std::io::stdout().lock();
    for file in &files {
        match format_file(file, &args) {
            Outcome::Unchanged => {}
            Outcome::Changed => {
                if args.check {
                    let _ = writeln!(out, "{}", file.display());
                }
                unformatted = true;
            }
            Outcome::Failed => failed = true,
        }
    }
    if failed || ((args.check || args.diff) && unformatted) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Every `*.mc` file under `dir`, skipping hidden directories and `target`.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("warning: cannot read directory `{}`", dir.display());
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !name.starts_with('.') && name != "target" {
                collect(&path, out);
            }
        } else if kind.is_file() && path.extension().is_some_and(|e| e == "mc") {
            out.push(path);
        }
    }
}

fn format_file(path: &Path, args: &Args) -> Outcome {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read `{}`: {e}", path.display());
            return Outcome::Failed;
        }
    };
    let Ok(source) = String::from_utf8(bytes) else {
        eprintln!("error: `{}` is not UTF-8 text", path.display());
        return Outcome::Failed;
    };
    let name = path.display().to_string();
    match mc_fmt::format(&source, args.width) {
        Err(diags) => {
            report(&name, &source, diags);
            Outcome::Failed
        }
        Ok(formatted) if formatted == source => Outcome::Unchanged,
        Ok(formatted) => {
            if args.diff {
                crate::out!("{}", unified_diff(&name, &source, &formatted));
            } else if !args.check {
                if let Err(e) = write_atomically(path, &formatted) {
                    eprintln!("error: cannot write `{name}`: {e}");
                    return Outcome::Failed;
                }
            }
            Outcome::Changed
        }
    }
}

/// Writes through a temporary file in the same directory and a rename, so
/// an interrupted run never leaves a half-written source file; the file
/// keeps its permissions.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".mc-fmt.")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `--- a/FILE` / `+++ b/FILE` unified diff with 3 lines of context.
fn unified_diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

fn format_stdin(args: &Args) -> Outcome {
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("error: cannot read standard input: {e}");
        return Outcome::Failed;
    }
    let Ok(source) = String::from_utf8(bytes) else {
        eprintln!("error: standard input is not UTF-8 text");
        return Outcome::Failed;
    };
    match mc_fmt::format(&source, args.width) {
        Err(diags) => {
            report("<stdin>", &source, diags);
            Outcome::Failed
        }
        Ok(formatted) => {
            let changed = formatted != source;
            if args.diff {
                if changed {
                    crate::out!("{}", unified_diff("<stdin>", &source, &formatted));
                }
            } else if args.check {
                if changed {
                    crate::outln!("<stdin>");
                }
            } else {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(formatted.as_bytes());
            }
            if changed {
                Outcome::Changed
            } else {
                Outcome::Unchanged
            }
        }
    }
}

fn report(name: &str, source: &str, mut diags: Vec<Diagnostic>) {
    let sources: HashMap<String, String> = HashMap::from([(name.to_string(), source.to_string())]);
    let color = crate::style::stderr_color();
    let mut err = std::io::stderr().lock();
    for d in &mut diags {
        d.set_file(name);
        let _ = write!(err, "{}", d.render(&sources, color));
    }
    let n = diags.len();
    let plural = if n == 1 { "" } else { "s" };
    let _ = writeln!(err, "{name}: not formatted: {n} syntax error{plural}");
}
