//! The compiler thread: owns the compiler's projects, applies edits in the
//! order they arrived, waits for typing to pause (debounce), checks, and
//! hands diagnostics to the publisher.

use mc_compiler::{FileSystem, Project};
use mc_diagnostics::{Diagnostic as McDiagnostic, LineCol, LineIndex, Severity};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;
use tower_lsp::lsp_types::*;

/// How long typing must pause before a check starts.
pub const DEBOUNCE: Duration = Duration::from_millis(25);

/// How long typing must pause before every host is evaluated.
pub const EVALUATION_DELAY: Duration = Duration::from_millis(150);

pub enum CompilerMsg {
    Set {
        path: PathBuf,
        text: Arc<str>,
        version: i32,
    },
    Close {
        path: PathBuf,
    },
    Shutdown,
}

/// Diagnostics of one document, and their quick fixes (diagnostic, edit,
/// title).
pub struct Published {
    pub uri: Url,
    pub diagnostics: Vec<Diagnostic>,
    pub version: Option<i32>,
    pub fixes: Vec<(Diagnostic, WorkspaceEdit, String)>,
}

struct Compiler {
    /// By entry (a directory holding `main.mc`, or a lone file).
    projects: HashMap<PathBuf, Project>,
    open: HashMap<PathBuf, (Arc<str>, i32)>,
    /// Files that had diagnostics at the last publish of each project.
    published: HashMap<PathBuf, HashSet<PathBuf>>,
    /// What the last full check found beyond the front end, per project.
    evaluated: HashMap<PathBuf, Vec<McDiagnostic>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Parse, resolution and static types: milliseconds.
    FrontEnd,
    /// Every host evaluated as well.
    Full,
}

pub fn run(rx: Receiver<CompilerMsg>, out: tokio::sync::mpsc::UnboundedSender<Published>) {
    let mut c = Compiler {
        projects: HashMap::new(),
        open: HashMap::new(),
        published: HashMap::new(),
        evaluated: HashMap::new(),
    };
    // Projects whose front end is clean and whose evaluation is due.
    let mut to_evaluate: Vec<PathBuf> = Vec::new();
    let mut pending: Option<CompilerMsg> = None;
    loop {
        let first = match pending.take() {
            Some(msg) => msg,
            None => match rx.recv() {
                Ok(msg) => msg,
                Err(_) => return,
            },
        };
        let mut dirty: Vec<PathBuf> = Vec::new();
        let mut msg = first;
        loop {
            match msg {
                CompilerMsg::Shutdown => return,
                CompilerMsg::Set {
                    path,
                    text,
                    version,
                } => {
                    c.open.insert(path.clone(), (text, version));
                    dirty.push(path);
                }
                CompilerMsg::Close { path } => {
                    c.open.remove(&path);
                    dirty.push(path);
                }
            }
            match rx.recv_timeout(DEBOUNCE) {
                Ok(next) => msg = next,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        dirty.sort();
        dirty.dedup();
        let mut entries: Vec<PathBuf> = Vec::new();
        for path in &dirty {
            let entry = entry_for(path);
            c.update(&entry, path);
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        // The front end takes milliseconds; evaluating every host takes far
        // longer. Its results are published first (with evaluation's last
        // findings kept meanwhile). A project with front-end errors is not
        // evaluated at all, as in `mc check`.
        for entry in entries {
            if !send_all(&out, c.check(&entry, &dirty, Phase::FrontEnd)) {
                return;
            }
            to_evaluate.retain(|e| e != &entry);
            if c.front_end_is_clean(&entry) {
                to_evaluate.push(entry);
            }
        }
        if to_evaluate.is_empty() {
            continue;
        }
        // Evaluate once typing pauses, so the next keystroke does not wait
        // behind a full evaluation.
        match rx.recv_timeout(EVALUATION_DELAY) {
            Ok(next) => {
                pending = Some(next);
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        for entry in std::mem::take(&mut to_evaluate) {
            if !send_all(&out, c.check(&entry, &dirty, Phase::Full)) {
                return;
            }
        }
    }
}

/// False when the publisher is gone (the server is shutting down).
fn send_all(out: &tokio::sync::mpsc::UnboundedSender<Published>, list: Vec<Published>) -> bool {
    list.into_iter().all(|p| out.send(p).is_ok())
}

/// The project a file belongs to: the nearest directory above it with a
/// `main.mc`, or the file alone.
pub fn entry_for(path: &Path) -> PathBuf {
    mc_compiler::ide::entry_for(&mc_compiler::OsFileSystem, path)
}

impl Compiler {
    fn update(&mut self, entry: &Path, path: &Path) {
        if !self.projects.contains_key(entry) {
            let mut project = Project::load_dir(entry);
            for (p, (text, _)) in &self.open {
                if p.starts_with(project.root()) {
                    project.set_file_text(p, text.to_string());
                }
            }
            self.projects.insert(entry.to_path_buf(), project);
            return;
        }
        let Some(project) = self.projects.get_mut(entry) else {
            return;
        };
        match self.open.get(path) {
            Some((text, _)) => project.set_file_text(path, text.to_string()),
            None => project.reload_file(path),
        }
    }

    /// Whether the front end of `entry` is clean, so evaluation has
    /// something to add. A panic counts as not clean: nothing more to run.
    fn front_end_is_clean(&self, entry: &Path) -> bool {
        let Some(project) = self.projects.get(entry) else {
            return false;
        };
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            !project.check_front_end().iter().any(McDiagnostic::is_error)
        }))
        .unwrap_or(false)
    }

    fn check(&mut self, entry: &Path, dirty: &[PathBuf], phase: Phase) -> Vec<Published> {
        let Some(project) = self.projects.get(entry) else {
            return Vec::new();
        };
        let root = project.root().to_path_buf();
        let files: Vec<PathBuf> = project.files().into_iter().map(|(_, p)| p).collect();
        // A compiler failure must not take diagnostics down: the edited
        // files' syntax errors are still reported.
        let checked = std::panic::catch_unwind(AssertUnwindSafe(|| match phase {
            Phase::FrontEnd => project.check_front_end(),
            Phase::Full => project.check(),
        }));
        let panicked = checked.is_err();
        let mut diags: Vec<McDiagnostic> = checked.unwrap_or_default();
        match phase {
            Phase::FrontEnd if !diags.iter().any(McDiagnostic::is_error) => {
                // Until evaluation catches up, keep showing what it found last.
                let stale = self.evaluated.get(entry).cloned().unwrap_or_default();
                diags.extend(stale);
            }
            Phase::FrontEnd => {}
            Phase::Full => {
                let front = project.check_front_end();
                let evaluated = diags
                    .iter()
                    .filter(|d| !front.contains(d))
                    .cloned()
                    .collect();
                self.evaluated.insert(entry.to_path_buf(), evaluated);
            }
        }
        let mut by_file: BTreeMap<PathBuf, Vec<McDiagnostic>> = BTreeMap::new();
        for d in diags {
            if d.primary.file.starts_with('<') {
                continue;
            }
            let path = absolute(&root, &d.primary.file);
            by_file.entry(path).or_default().push(d);
        }
        // Files outside the project's import graph get their syntax errors.
        for path in dirty {
            if panicked || !files.contains(path) {
                if let Some((text, _)) = self.open.get(path) {
                    let parsed = mc_grammar::parse_file(&path.to_string_lossy(), text);
                    by_file.insert(path.clone(), parsed.errors);
                }
            }
        }
        let texts = if by_file.values().any(|v| !v.is_empty()) {
            project.sources()
        } else {
            BTreeMap::new()
        };
        let text_of = |path: &Path| -> Option<String> {
            if let Some((t, _)) = self.open.get(path) {
                return Some(t.to_string());
            }
            let shown = path
                .strip_prefix(&root)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            texts.get(&shown).cloned().or_else(|| {
                let scope = mc_compiler::fs::ReadScope::new(&root, []);
                let bytes = mc_compiler::OsFileSystem.read_in(path, &scope).ok()?;
                String::from_utf8(bytes).ok()
            })
        };
        let mut out = Vec::new();
        let previous = self.published.remove(entry).unwrap_or_default();
        let mut now: HashSet<PathBuf> = HashSet::new();
        let mut targets: Vec<PathBuf> = files.clone();
        targets.extend(by_file.keys().cloned());
        targets.extend(previous.iter().cloned());
        targets.extend(dirty.iter().cloned());
        targets.sort();
        targets.dedup();
        let mut indexes: HashMap<PathBuf, (String, LineIndex)> = HashMap::new();
        for path in targets {
            let Ok(uri) = Url::from_file_path(&path) else {
                continue;
            };
            let list = by_file.remove(&path).unwrap_or_default();
            if list.is_empty() && !previous.contains(&path) && !dirty.contains(&path) {
                continue;
            }
            if !list.is_empty() {
                now.insert(path.clone());
            }
            let mut diagnostics = Vec::new();
            let mut fixes = Vec::new();
            for d in &list {
                let Some(ld) = convert(d, &root, &path, &text_of, &mut indexes) else {
                    continue;
                };
                if let Some(s) = &d.suggestion {
                    if let Some(edit) = workspace_edit(s, &root, &path, &text_of, &mut indexes) {
                        fixes.push((ld.clone(), edit, s.message.clone()));
                    }
                }
                diagnostics.push(ld);
            }
            out.push(Published {
                uri,
                diagnostics,
                version: self.open.get(&path).map(|(_, v)| *v),
                fixes,
            });
        }
        self.published.insert(entry.to_path_buf(), now);
        out
    }
}

fn absolute(root: &Path, shown: &str) -> PathBuf {
    let p = Path::new(shown);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        mc_compiler::fs::normalize(&root.join(p))
    }
}

type Texts<'a> = dyn Fn(&Path) -> Option<String> + 'a;

fn lsp_range(
    path: &Path,
    range: &std::ops::Range<usize>,
    text_of: &Texts<'_>,
    indexes: &mut HashMap<PathBuf, (String, LineIndex)>,
) -> Option<Range> {
    if !indexes.contains_key(path) {
        let text = text_of(path)?;
        let index = LineIndex::new(&text);
        indexes.insert(path.to_path_buf(), (text, index));
    }
    let (text, index) = indexes.get(path)?;
    let pos = |o: usize| {
        let LineCol { line, col } = index.line_col_utf16(text, o);
        Position::new(line, col)
    };
    Some(Range::new(pos(range.start), pos(range.end)))
}

fn convert(
    d: &McDiagnostic,
    root: &Path,
    path: &Path,
    text_of: &Texts<'_>,
    indexes: &mut HashMap<PathBuf, (String, LineIndex)>,
) -> Option<Diagnostic> {
    let range = lsp_range(path, &d.primary.range, text_of, indexes)?;
    let mut related = Vec::new();
    for l in &d.secondary {
        if l.file.starts_with('<') {
            continue;
        }
        let p = absolute(root, &l.file);
        let (Some(r), Ok(uri)) = (
            lsp_range(&p, &l.range, text_of, indexes),
            Url::from_file_path(&p),
        ) else {
            continue;
        };
        related.push(DiagnosticRelatedInformation {
            location: Location::new(uri, r),
            message: l.message.clone().unwrap_or_default(),
        });
    }
    let mut message = d.message.clone();
    if let Some(label) = &d.primary.message {
        message.push_str(&format!(" ({label})"));
    }
    for n in &d.notes {
        message.push_str("\nnote: ");
        message.push_str(n);
    }
    Some(Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Note => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(d.code.clone())),
        source: Some("mc".into()),
        message,
        related_information: if related.is_empty() {
            None
        } else {
            Some(related)
        },
        ..Diagnostic::default()
    })
}

fn workspace_edit(
    s: &mc_diagnostics::Suggestion,
    root: &Path,
    fallback: &Path,
    text_of: &Texts<'_>,
    indexes: &mut HashMap<PathBuf, (String, LineIndex)>,
) -> Option<WorkspaceEdit> {
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    for e in &s.edits {
        let path = if e.file.is_empty() {
            fallback.to_path_buf()
        } else {
            absolute(root, &e.file)
        };
        let range = lsp_range(&path, &e.range, text_of, indexes)?;
        changes
            .entry(Url::from_file_path(&path).ok()?)
            .or_default()
            .push(TextEdit::new(range, e.replacement.clone()));
    }
    Some(WorkspaceEdit {
        changes: Some(changes),
        ..WorkspaceEdit::default()
    })
}
