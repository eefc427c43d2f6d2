//! `mc check`: runs the compiler's whole front end on a project (the entry
//! file and everything it imports) and reports every diagnostic, without
//! touching any host.

use mc_compiler::Project;
use mc_diagnostics::{Diagnostic, Edit};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`) or a single `.mc` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Apply every machine-applicable suggestion to the files, then check again.
    #[arg(long)]
    pub fix: bool,
    /// With `--json`: one diagnostic per line on stdout (JSON Lines).
    #[command(flatten)]
    pub output: super::Output,
    /// Set a `param` of the project (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = super::plan::parse_var)]
    pub vars: Vec<(String, String)>,
}

/// Version of each `mc check --json` line (docs/json.md).
const DIAGNOSTIC_SCHEMA: u32 = 1;

pub fn run(args: Args) -> ExitCode {
    if let Err(message) = validate_entry(&args.path) {
        eprintln!("error: {message}");
        return ExitCode::from(1);
    }
    let mut project = Project::load_dir(&args.path);
    project.set_params(args.vars.iter().cloned().collect());
    project.set_gathered_facts(gathered_facts(&args.path));
    let mut diagnostics = project.check();
    if args.fix {
        match fix_all(&args.path, &args.vars, project, diagnostics) {
            Ok((fixed, p, d)) => {
                project = p;
                diagnostics = d;
                if !crate::out::quiet() {
                    eprintln!("fixed {}", mc_runtime::render::plural(fixed, "problem"));
                }
            }
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(1);
            }
        }
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    match args.output.format() {
        Some(super::Format::Json) => {
            let sources = project.sources();
            for diag in &diagnostics {
                crate::outln!("{}", with_schema(&diag.to_json_line(&sources)));
            }
        }
        Some(super::Format::Sarif) => {
            let sources = project.sources();
            let findings: Vec<crate::sarif::Finding> = diagnostics
                .iter()
                .filter_map(|d| serde_json::from_str(&d.to_json_line(&sources)).ok())
                .map(|v| crate::sarif::from_diagnostic_json(&v))
                .collect();
            let log = crate::sarif::log(&findings);
            crate::outln!("{}", serde_json::to_string_pretty(&log).unwrap_or_default());
        }
        _ => {
            let color = crate::style::stderr_color();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{}", project.render(&diagnostics, color));
            let files = project.files().len();
            let plural = if files == 1 { "" } else { "s" };
            report_facts(&mut err, &project);
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

/// The facts last gathered from each host (`mc plan`, `mc facts`), from the
/// project's state store when there is one. A store that cannot be read
/// only costs the check its host-specific facts, with a note.
fn gathered_facts(path: &Path) -> BTreeMap<String, serde_json::Value> {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let store = dir.join(".mc").join("state.db");
    mc_runtime::state::StateStore::read_cached_facts(&store).unwrap_or_else(|e| {
        eprintln!("note: the facts of the last run cannot be read from {}: {e}; hosts are checked with default facts", store.display());
        BTreeMap::new()
    })
}

/// Which facts each host was checked with: a summary line when any host
/// used more than the defaults, each host with `-v`.
fn report_facts(err: &mut impl Write, project: &Project) {
    let sources = project.facts_sources();
    for (host, source) in &sources {
        tracing::info!(host = %host, ?source, "facts used by mc check");
    }
    let count = |want: mc_compiler::FactsSource| sources.iter().filter(|(_, s)| *s == want).count();
    let (gathered, files) = (
        count(mc_compiler::FactsSource::Gathered),
        count(mc_compiler::FactsSource::File),
    );
    if gathered + files > 0 && !crate::out::quiet() {
        let plural = mc_runtime::render::plural;
        let _ = writeln!(
            err,
            "facts: {} checked with the facts last gathered, {} with facts/HOST.json, {} with defaults",
            plural(gathered, "host"),
            files,
            sources.len() - gathered - files
        );
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

/// A diagnostic's JSON line with the `schema` field added.
fn with_schema(line: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("schema".into(), DIAGNOSTIC_SCHEMA.into());
            serde_json::Value::Object(map).to_string()
        }
        _ => line.to_string(),
    }
}

/// `--fix`: applies every suggestion, re-checking after each round (a fix can
/// reveal the next error), until none is left or nothing changes. Returns the
/// number of edits applied, the reloaded project and its diagnostics.
fn fix_all(
    path: &Path,
    vars: &[(String, String)],
    mut project: Project,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<(usize, Project, Vec<Diagnostic>), String> {
    let mut fixed = 0;
    for _round in 0..10 {
        let files: HashMap<String, PathBuf> = project.files().into_iter().collect();
        let mut edits: BTreeMap<PathBuf, Vec<Edit>> = BTreeMap::new();
        for suggestion in diagnostics.iter().filter_map(|d| d.suggestion.as_ref()) {
            // Only edits in the project's own files (never the stdlib).
            for edit in &suggestion.edits {
                if let Some(file) = files.get(&edit.file) {
                    edits.entry(file.clone()).or_default().push(edit.clone());
                }
            }
        }
        if edits.is_empty() {
            break;
        }
        let mut applied = 0;
        for (file, file_edits) in edits {
            applied += apply_edits(&file, file_edits)?;
        }
        if applied == 0 {
            break;
        }
        fixed += applied;
        project = Project::load_dir(path);
        project.set_params(vars.iter().cloned().collect());
        diagnostics = project.check();
    }
    Ok((fixed, project, diagnostics))
}

/// Applies the non-overlapping edits to one file (from the end, so earlier
/// offsets stay valid) and writes it atomically.
fn apply_edits(file: &Path, mut edits: Vec<Edit>) -> Result<usize, String> {
    let mut text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    edits.sort_by(|a, b| {
        b.range
            .start
            .cmp(&a.range.start)
            .then(b.range.end.cmp(&a.range.end))
    });
    edits.dedup();
    let mut applied = 0;
    let mut limit = usize::MAX;
    for edit in edits {
        let r = edit.range.clone();
        let valid = r.start <= r.end
            && r.end <= limit.min(text.len())
            && text.is_char_boundary(r.start)
            && text.is_char_boundary(r.end);
        if !valid {
            continue;
        }
        text.replace_range(r.clone(), &edit.replacement);
        limit = r.start;
        applied += 1;
    }
    if applied > 0 {
        crate::cmd::fmt::write_atomically(file, &text)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(applied)
}
