//! The compiler's own diagnostic record, converted to the neutral
//! `mc_diagnostics::Diagnostic` at the API edge.

use mc_grammar::span::Span;
use std::sync::Arc;

/// A place in a source file. `file` is the path as the project knows it
/// (relative to the project root, or `<stdlib>/…`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Loc {
    pub file: Arc<str>,
    pub span: Span,
}

impl Loc {
    pub fn new(file: &Arc<str>, span: Span) -> Loc {
        Loc {
            file: file.clone(),
            span,
        }
    }

    pub fn is_stdlib(&self) -> bool {
        self.file.starts_with(mc_stdlib::PATH_PREFIX)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
}

/// A fix that can be applied mechanically: replace `loc` by `replacement`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fix {
    pub message: String,
    pub loc: Loc,
    pub replacement: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diag {
    pub code: &'static str,
    pub level: Level,
    pub message: String,
    pub loc: Loc,
    pub label: String,
    pub secondary: Vec<(Loc, String)>,
    pub notes: Vec<String>,
    pub fix: Option<Fix>,
}

impl Diag {
    pub fn error(code: &'static str, loc: Loc, message: impl Into<String>) -> Diag {
        Diag {
            code,
            level: if code.starts_with('W') {
                Level::Warning
            } else {
                Level::Error
            },
            message: message.into(),
            loc,
            label: String::new(),
            secondary: Vec::new(),
            notes: Vec::new(),
            fix: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Diag {
        self.label = label.into();
        self
    }

    pub fn secondary(mut self, loc: Loc, label: impl Into<String>) -> Diag {
        self.secondary.push((loc, label.into()));
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diag {
        self.notes.push(note.into());
        self
    }

    pub fn fix(
        mut self,
        loc: Loc,
        replacement: impl Into<String>,
        message: impl Into<String>,
    ) -> Diag {
        self.fix = Some(Fix {
            message: message.into(),
            loc,
            replacement: replacement.into(),
        });
        self
    }

    /// Adds "did you mean" for `wrong` (at `loc`) among `candidates`.
    pub fn did_you_mean<'a>(
        self,
        loc: Loc,
        wrong: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Diag {
        match crate::suggest::closest(wrong, candidates) {
            Some(best) => {
                let msg = format!("did you mean `{best}`?");
                self.fix(loc, best, msg)
            }
            None => self,
        }
    }

    /// "Did you mean" for a string value: the fix writes the closest of
    /// `values` as a string literal.
    pub fn did_you_mean_value<'a>(
        self,
        loc: Loc,
        wrong: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Diag {
        match crate::suggest::closest(wrong, values) {
            Some(best) => {
                let literal = format!("{best:?}");
                let msg = format!("did you mean `{literal}`?");
                self.fix(loc, literal, msg)
            }
            None => self,
        }
    }
}

pub type Diags = Vec<Diag>;

/// E0212: `==`/`!=` on a secret, which is only a reference at compile time.
pub(crate) fn secret_comparison(loc: Loc, op: mc_grammar::ast::BinaryOp) -> Diag {
    Diag::error(
        "E0212",
        loc,
        format!("a secret cannot be compared with `{}`", op.symbol()),
    )
    .label("one side is a secret")
    .note("a secret's value is only read on the host when the plan is applied, so this comparison would never see it")
}
