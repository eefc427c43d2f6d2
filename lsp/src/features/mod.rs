//! The answers to read-only requests, one LSP feature per file, each a
//! thin translation of the compiler's IDE layer (`mc_compiler::ide`) into
//! LSP types. Helpers shared by all of them live here.

pub mod code_actions;
pub mod completion;
pub mod definition;
pub mod formatting;
pub mod hover;
pub mod inlay_hints;
pub mod references;
pub mod rename;
pub mod semantic_tokens;
pub mod signature_help;
pub mod symbols;

#[cfg(test)]
mod tests;

use mc_compiler::db::SourceFile;
use mc_compiler::ide::{Analysis, Def, DefKind};
use mc_diagnostics::{LineCol, LineIndex};
use mc_grammar::Span;
use std::path::Path;
use std::sync::Arc;
use tower_lsp::lsp_types::*;

pub use semantic_tokens::TOKEN_TYPES;

/// The document a request is about: its file in the analysis, its text
/// and line index.
pub struct Doc {
    pub file: SourceFile,
    pub text: Arc<str>,
    pub lines: LineIndex,
}

impl Doc {
    pub fn new(analysis: &Analysis, file: SourceFile) -> Doc {
        let text = analysis.text(file);
        let lines = LineIndex::new(&text);
        Doc { file, text, lines }
    }

    pub fn position(&self, offset: u32) -> Position {
        let lc = self.lines.line_col_utf16(&self.text, offset as usize);
        Position::new(lc.line, lc.col)
    }

    pub fn offset(&self, pos: Position) -> u32 {
        let o = self.lines.offset_utf16(
            &self.text,
            LineCol {
                line: pos.line,
                col: pos.character,
            },
        );
        u32::try_from(o).unwrap_or(u32::MAX)
    }

    pub fn range(&self, span: Span) -> Range {
        Range::new(self.position(span.start), self.position(span.end))
    }

    pub fn slice(&self, span: Span) -> &str {
        span.text(&self.text)
    }
}

pub fn url(path: &Path) -> Option<Url> {
    Url::from_file_path(path).ok()
}

/// The location of `span` in `file` (any file of the analysis).
pub fn location(analysis: &Analysis, file: SourceFile, span: Span) -> Option<Location> {
    let doc = Doc::new(analysis, file);
    Some(Location::new(url(&analysis.path(file))?, doc.range(span)))
}

pub fn markdown(value: String) -> MarkupContent {
    MarkupContent {
        kind: MarkupKind::Markdown,
        value,
    }
}

pub fn def_markdown(def: &Def) -> String {
    let mut s = format!("```mc\n{}\n```", def.detail);
    if let Some(docs) = &def.docs {
        s.push_str("\n\n");
        s.push_str(docs);
    }
    s
}

pub fn completion_kind(kind: DefKind) -> CompletionItemKind {
    match kind {
        DefKind::Import => CompletionItemKind::MODULE,
        DefKind::Let | DefKind::Local | DefKind::Param | DefKind::Builtin => {
            CompletionItemKind::VARIABLE
        }
        DefKind::Type => CompletionItemKind::STRUCT,
        DefKind::Fn | DefKind::Role => CompletionItemKind::FUNCTION,
        DefKind::Resource => CompletionItemKind::CLASS,
        DefKind::Attr => CompletionItemKind::FIELD,
    }
}
