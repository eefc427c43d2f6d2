//! mc-diagnostics: the one neutral diagnostic type every stage produces,
//! rendered at the edge (ariadne for humans, JSON lines for machines, LSP
//! diagnostics in the language server).

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod line_index;

pub use line_index::{floor_char_boundary, LineCol, LineIndex};

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A byte range in one file, with an optional message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    /// Project-relative path of the file (or any name a [`SourceLookup`]
    /// knows). Empty when not yet known; see [`Diagnostic::set_file`].
    pub file: String,
    pub range: Range<usize>,
    pub message: Option<String>,
}

impl Label {
    pub fn new(file: impl Into<String>, range: Range<usize>) -> Label {
        Label {
            file: file.into(),
            range,
            message: None,
        }
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Label {
        self.message = Some(message.into());
        self
    }
}

/// One text replacement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Edit {
    pub file: String,
    pub range: Range<usize>,
    pub replacement: String,
}

/// A machine-applicable fix (a quick fix in the editor).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Suggestion {
    pub message: String,
    pub edits: Vec<Edit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Stable code such as `E0001`; `mc explain CODE` prints its long form.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub notes: Vec<String>,
    pub suggestion: Option<Suggestion>,
}

impl Diagnostic {
    pub fn new(
        severity: Severity,
        code: impl Into<String>,
        message: impl Into<String>,
        primary: Label,
    ) -> Diagnostic {
        Diagnostic {
            code: code.into(),
            severity,
            message: message.into(),
            primary,
            secondary: Vec::new(),
            notes: Vec::new(),
            suggestion: None,
        }
    }

    pub fn error(
        code: impl Into<String>,
        message: impl Into<String>,
        primary: Label,
    ) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, message, primary)
    }

    pub fn warning(
        code: impl Into<String>,
        message: impl Into<String>,
        primary: Label,
    ) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, message, primary)
    }

    pub fn with_secondary(mut self, label: Label) -> Diagnostic {
        self.secondary.push(label);
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn with_suggestion(mut self, suggestion: Suggestion) -> Diagnostic {
        self.suggestion = Some(suggestion);
        self
    }

    /// A suggestion with a single edit in the primary label's file.
    pub fn with_replacement(
        self,
        message: impl Into<String>,
        range: Range<usize>,
        replacement: impl Into<String>,
    ) -> Diagnostic {
        let file = self.primary.file.clone();
        self.with_suggestion(Suggestion {
            message: message.into(),
            edits: vec![Edit {
                file,
                range,
                replacement: replacement.into(),
            }],
        })
    }

    /// Gives every label and edit without a file name the name `file` (the
    /// parser does not know which file it parses).
    pub fn set_file(&mut self, file: &str) {
        let fill = |f: &mut String| {
            if f.is_empty() {
                *f = file.to_string();
            }
        };
        fill(&mut self.primary.file);
        for label in &mut self.secondary {
            fill(&mut label.file);
        }
        if let Some(suggestion) = &mut self.suggestion {
            for edit in &mut suggestion.edits {
                fill(&mut edit.file);
            }
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders for a terminal, ariadne style, with a `file:line:col` header.
    pub fn render(&self, sources: &dyn SourceLookup, color: bool) -> String {
        render_one(self, sources, color)
    }

    /// One JSON object on one line: code, severity, message, file, line,
    /// col, end_line, end_col (1-based, columns in characters), labels,
    /// notes, suggestion.
    pub fn to_json_line(&self, sources: &dyn SourceLookup) -> String {
        let position = |file: &str, offset: usize| -> (usize, usize) {
            match sources.source(file) {
                Some(text) => LineIndex::new(text).line_col_chars(text, offset),
                None => (1, 1),
            }
        };
        let (line, col) = position(&self.primary.file, self.primary.range.start);
        let (end_line, end_col) = position(&self.primary.file, self.primary.range.end);
        let secondary: Vec<serde_json::Value> = self
            .secondary
            .iter()
            .map(|label| {
                let (line, col) = position(&label.file, label.range.start);
                serde_json::json!({
                    "file": label.file,
                    "line": line,
                    "col": col,
                    "message": label.message,
                })
            })
            .collect();
        let suggestion = self.suggestion.as_ref().map(|s| {
            let edits: Vec<serde_json::Value> = s
                .edits
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "file": e.file,
                        "start": e.range.start,
                        "end": e.range.end,
                        "replacement": e.replacement,
                    })
                })
                .collect();
            serde_json::json!({ "message": s.message, "edits": edits })
        });
        serde_json::json!({
            "code": self.code,
            "severity": self.severity.as_str(),
            "message": self.message,
            "file": self.primary.file,
            "line": line,
            "col": col,
            "end_line": end_line,
            "end_col": end_col,
            "label": self.primary.message,
            "secondary": secondary,
            "notes": self.notes,
            "suggestion": suggestion,
        })
        .to_string()
    }
}

/// Where renderers find the text of a file named in a label.
pub trait SourceLookup {
    fn source(&self, file: &str) -> Option<&str>;
}

impl SourceLookup for HashMap<String, String> {
    fn source(&self, file: &str) -> Option<&str> {
        self.get(file).map(String::as_str)
    }
}

impl SourceLookup for BTreeMap<String, String> {
    fn source(&self, file: &str) -> Option<&str> {
        self.get(file).map(String::as_str)
    }
}

/// A single file's text, for callers that render diagnostics of one file.
pub struct SingleSource<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl SourceLookup for SingleSource<'_> {
    fn source(&self, file: &str) -> Option<&str> {
        (file == self.file).then_some(self.text)
    }
}

/// Clamps a range into `text`, on character boundaries, so that a stale or
/// wrong span can never make the renderer panic.
fn clamp(text: &str, range: &Range<usize>) -> Range<usize> {
    let start = floor_char_boundary(text, range.start);
    let end = floor_char_boundary(text, range.end).max(start);
    start..end
}

fn render_one(diag: &Diagnostic, sources: &dyn SourceLookup, color: bool) -> String {
    use ariadne::{Config, IndexType, Report, ReportKind};

    let kind = match diag.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
        Severity::Note => ReportKind::Advice,
    };
    let Some(primary_text) = sources.source(&diag.primary.file) else {
        return render_plain(diag);
    };
    // Each file is handed to ariadne as the lines the labels touch, after
    // as many empty lines as came before them (so line numbers stay): the
    // whole file for every diagnostic made many diagnostics quadratic.
    let mut files: Vec<(&str, &str)> = vec![(&diag.primary.file, primary_text)];
    for label in &diag.secondary {
        if let Some(text) = sources.source(&label.file) {
            if !files.iter().any(|(f, _)| *f == label.file) {
                files.push((&label.file, text));
            }
        }
    }
    let mut excerpts: HashMap<String, Excerpt> = HashMap::new();
    for (file, text) in &files {
        let ranges = std::iter::once(&diag.primary)
            .chain(&diag.secondary)
            .filter(|l| l.file == *file)
            .map(|l| clamp(text, &l.range));
        let e = Excerpt::new(text, ranges);
        if e.longest_line > MAX_RENDERED_LINE {
            return render_compact(diag, primary_text);
        }
        excerpts.insert(file.to_string(), e);
    }
    let local = |file: &str, text: &str, range: &Range<usize>| {
        let shift = excerpts.get(file).map_or(0, |e| e.start - e.first_line);
        let r = clamp(text, range);
        r.start - shift..r.end - shift
    };
    let primary_range = local(&diag.primary.file, primary_text, &diag.primary.range);
    let mut labels = Vec::new();
    let mut primary_label =
        ariadne::Label::new((diag.primary.file.clone(), primary_range.clone())).with_order(0);
    if let Some(message) = &diag.primary.message {
        primary_label = primary_label.with_message(message);
    }
    if color {
        primary_label = primary_label.with_color(ariadne::Color::Red);
    }
    labels.push(primary_label);
    for (i, label) in diag.secondary.iter().enumerate() {
        let Some(text) = sources.source(&label.file) else {
            continue;
        };
        let mut l =
            ariadne::Label::new((label.file.clone(), local(&label.file, text, &label.range)))
                .with_order(i32::try_from(i + 1).unwrap_or(i32::MAX));
        if let Some(message) = &label.message {
            l = l.with_message(message);
        }
        if color {
            l = l.with_color(ariadne::Color::Blue);
        }
        labels.push(l);
    }
    let mut builder = Report::build(kind, (diag.primary.file.clone(), primary_range))
        .with_config(
            Config::default()
                .with_color(color)
                .with_index_type(IndexType::Byte),
        )
        .with_code(&diag.code)
        .with_message(&diag.message)
        .with_labels(labels);
    for note in &diag.notes {
        builder = builder.with_note(note);
    }
    if let Some(suggestion) = &diag.suggestion {
        builder = builder.with_help(&suggestion.message);
    }
    let cache = ariadne::FnCache::new(
        (|id: &String| Err(format!("no source {id}"))) as fn(&String) -> Result<String, String>,
    )
    .with_sources(
        excerpts
            .into_iter()
            .map(|(file, e)| (file, ariadne::Source::from(e.text)))
            .collect(),
    );
    let mut out = Vec::new();
    if builder.finish().write(cache, &mut out).is_err() {
        return render_plain(diag);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A source line longer than this is not drawn whole: the diagnostic is
/// rendered compactly, with a window of the line around its place.
const MAX_RENDERED_LINE: usize = 400;

/// The whole lines of a text that some ranges touch, after one empty line
/// for each line before them.
struct Excerpt {
    /// Byte offset of the first line in the text.
    start: usize,
    /// 0-based number of the first line.
    first_line: usize,
    text: String,
    longest_line: usize,
}

impl Excerpt {
    fn new(text: &str, ranges: impl Iterator<Item = Range<usize>>) -> Excerpt {
        let (mut lo, mut hi) = (usize::MAX, 0);
        for r in ranges {
            lo = lo.min(r.start);
            hi = hi.max(r.end);
        }
        if lo == usize::MAX {
            (lo, hi) = (0, 0);
        }
        let start = text[..lo].rfind('\n').map_or(0, |i| i + 1);
        let end = text[hi..].find('\n').map_or(text.len(), |i| hi + i + 1);
        let body = &text[start..end];
        let first_line = text.as_bytes()[..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        Excerpt {
            start,
            first_line,
            longest_line: body.split('\n').map(str::len).max().unwrap_or(0),
            text: "\n".repeat(first_line) + body,
        }
    }
}

/// One diagnostic whose line is too long to draw: `file:line:col`, a window
/// of the line around the primary place, the label, notes and help.
fn render_compact(diag: &Diagnostic, text: &str) -> String {
    const SIDE: usize = 60;
    let at = clamp(text, &diag.primary.range).start;
    let (line, col) = LineIndex::new(text).line_col_chars(text, at);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let from = floor_char_boundary(text, at.saturating_sub(SIDE).max(line_start));
    let to = floor_char_boundary(text, (at + SIDE).min(line_end));
    let before = if from > line_start { "…" } else { "" };
    let after = if to < line_end { "…" } else { "" };
    let caret = before.chars().count() + text[from..at].chars().count();
    let mut out = format!(
        "[{}] {}: {}\n  --> {}:{line}:{col}\n   | {before}{}{after}\n   | {}^ {}\n",
        diag.code,
        diag.severity.as_str(),
        diag.message,
        diag.primary.file,
        &text[from..to],
        " ".repeat(caret),
        diag.primary.message.as_deref().unwrap_or(""),
    );
    for note in &diag.notes {
        let _ = writeln!(out, "   = note: {note}");
    }
    if let Some(s) = &diag.suggestion {
        let _ = writeln!(out, "   = help: {}", s.message);
    }
    out
}

/// Rendering without source text (file unreadable or unknown).
fn render_plain(diag: &Diagnostic) -> String {
    let mut out = format!(
        "[{}] {}: {}\n  at {} (bytes {}..{})\n",
        diag.code,
        diag.severity.as_str(),
        diag.message,
        diag.primary.file,
        diag.primary.range.start,
        diag.primary.range.end
    );
    for note in &diag.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    out
}

/// Renders several diagnostics, in order, separated as ariadne prints them.
pub fn render_all(diags: &[Diagnostic], sources: &dyn SourceLookup, color: bool) -> String {
    diags.iter().map(|d| d.render(sources, color)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Diagnostic, BTreeMap<String, String>) {
        let mut sources = BTreeMap::new();
        sources.insert(
            "main.mc".to_string(),
            "let a = 1\nlet b = é x\n".to_string(),
        );
        sources.insert("lib.mc".to_string(), "fn f() = 1\n".to_string());
        let diag = Diagnostic::error(
            "E0001",
            "unexpected `x`",
            Label::new("main.mc", 21..22).with_message("here"),
        )
        .with_secondary(Label::new("lib.mc", 3..4).with_message("defined here"))
        .with_note("a note")
        .with_replacement("remove it", 21..22, "");
        (diag, sources)
    }

    #[test]
    fn renders_header_labels_and_notes_without_colour() {
        let (diag, sources) = sample();
        let text = diag.render(&sources, false);
        assert!(text.contains("[E0001] Error: unexpected `x`"), "{text}");
        assert!(text.contains("main.mc:2:11"), "{text}");
        assert!(text.contains("lib.mc:1:4"), "{text}");
        assert!(text.contains("defined here"), "{text}");
        assert!(text.contains("a note"), "{text}");
        assert!(!text.contains('\u{1b}'), "no escape codes: {text}");
    }

    #[test]
    fn json_line_has_positions() {
        let (diag, sources) = sample();
        let line = diag.to_json_line(&sources);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(v["code"], "E0001");
        assert_eq!(v["severity"], "error");
        assert_eq!(v["file"], "main.mc");
        assert_eq!(v["line"], 2);
        assert_eq!(v["col"], 11);
        assert_eq!(v["end_col"], 12);
        assert_eq!(v["notes"][0], "a note");
        assert_eq!(v["suggestion"]["edits"][0]["start"], 21);
    }

    #[test]
    fn bad_spans_and_missing_files_do_not_panic() {
        let mut sources = BTreeMap::new();
        sources.insert("a.mc".to_string(), "é".to_string());
        let diag = Diagnostic::error("E0001", "x", Label::new("a.mc", 1..99));
        assert!(diag.render(&sources, false).contains("E0001"));
        let missing = Diagnostic::error("E0001", "x", Label::new("nope.mc", 0..1));
        assert!(missing.render(&sources, true).contains("nope.mc"));
        assert!(missing.to_json_line(&sources).contains("\"line\":1"));
    }

    #[test]
    fn set_file_fills_only_empty_names() {
        let mut diag = Diagnostic::error("E0001", "x", Label::new("", 0..1))
            .with_secondary(Label::new("other.mc", 0..1));
        diag.set_file("main.mc");
        assert_eq!(diag.primary.file, "main.mc");
        assert_eq!(diag.secondary[0].file, "other.mc");
    }
}

/// Edit distance counting a swap of two neighbours as one edit (optimal
/// string alignment), so `hots` is one edit from `host`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// The closest candidate to `name`, if it is close enough to be a likely
/// typo (a third of the length, at least one edit).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, c)| (d, c.len()))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod suggest_tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("hots", "host"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(did_you_mean("hots", ["host", "group"]), Some("host"));
        assert_eq!(
            did_you_mean("nginx.mc", ["ngnix.mc", "base.mc"]),
            Some("ngnix.mc")
        );
        assert_eq!(did_you_mean("zzz", ["host", "group"]), None);
    }
}
