pub mod agent;
pub mod apply;
pub mod approve;
pub mod audit;
pub mod backups;
pub mod check;
pub mod compile;
pub mod completions;
pub mod drift;
pub mod explain;
pub mod facts;
pub mod fmt;
pub mod graph;
pub mod identity;
pub mod import;
pub mod init;
pub mod lsp;
pub mod onboard;
pub mod plan;
pub mod run;
pub mod runs;
pub mod secret;
pub mod show;
pub mod state;
pub mod tui;

/// `--json` (and its synonym `--format json`): machine-readable output on
/// stdout, everything for people on stderr. See `docs/json.md`.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct Output {
    /// Print JSON on stdout (see docs/json.md); messages for people go to stderr.
    #[arg(long, global = true)]
    json: bool,
    /// Output format: `json` is the same as `--json`; `sarif` on `mc check`,
    /// `mc plan` and `mc drift`; `dot` and `mermaid` on `mc graph`.
    #[arg(long, value_enum, value_name = "FORMAT", global = true)]
    format: Option<Format>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Dot,
    Mermaid,
    Sarif,
}

impl Output {
    pub fn json(&self) -> bool {
        self.json || self.format == Some(Format::Json)
    }

    /// The format asked for: `--json` wins, else `--format`.
    pub fn format(&self) -> Option<Format> {
        if self.json {
            Some(Format::Json)
        } else {
            self.format
        }
    }
}

/// The project a PATH argument names: a directory, or the directory of a
/// `.mc` file given instead (`mc plan proj/main.mc`).
/// A project's `project { … }` settings and their errors, read once per
/// process: the state store, the agents' server and `mc apply` all ask.
pub fn settings_of(
    dir: &std::path::Path,
) -> std::sync::Arc<(
    mc_compiler::settings::Settings,
    Vec<mc_diagnostics::Diagnostic>,
)> {
    type Read = std::sync::Arc<(
        mc_compiler::settings::Settings,
        Vec<mc_diagnostics::Diagnostic>,
    )>;
    static READ: std::sync::Mutex<Vec<(std::path::PathBuf, Read)>> =
        std::sync::Mutex::new(Vec::new());
    let mut read = READ.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, r)) = read.iter().find(|(d, _)| d == dir) {
        return r.clone();
    }
    let r: Read = std::sync::Arc::new(mc_compiler::Project::load_dir(dir).settings());
    read.push((dir.to_path_buf(), r.clone()));
    r
}

pub fn project_dir(path: &std::path::Path) -> std::path::PathBuf {
    if path.is_file() {
        match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        }
    } else {
        path.to_path_buf()
    }
}

/// The error for a `--limit` (or host list) that selects nothing.
pub fn no_hosts_selected(limit: &[String]) -> String {
    if limit.is_empty() {
        "the project declares no host".to_string()
    } else {
        format!(
            "no host matches {}; patterns are names, groups, `web*`, `!db1`, `web:&prod`",
            limit.join(",")
        )
    }
}

/// Progress on stderr for the commands that reach hosts: nothing with `-q`,
/// a live view on a colour terminal, plain lines otherwise (so `NO_COLOR`
/// and `--color never` get no escape codes at all).
pub fn progress() -> std::sync::Arc<dyn mc_runtime::Progress> {
    if crate::out::quiet() {
        return std::sync::Arc::new(mc_runtime::Quiet);
    }
    let color = crate::style::stderr_color();
    mc_runtime::render::progress_for_stderr(crate::style::stderr_is_live() && color, color)
}
