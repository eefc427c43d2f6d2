//! mc-fmt: the one canonical layout of mc source.
//!
//! The tree from `mc-grammar` is turned into a [`doc::Doc`] (text, lines,
//! indentation and groups) and printed within a line width. Comments and
//! blank lines come from the parser's trivia side table and are reattached
//! as leading, trailing or dangling comments. Formatting is idempotent and
//! never changes the syntax tree. See `docs/formatting.md` for the style.
//!
//! ```
//! let out = mc_fmt::format("let  x=[1,2 ,3,]", mc_fmt::DEFAULT_WIDTH).unwrap();
//! assert_eq!(out, "let x = [1, 2, 3]\n");
//! ```

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod doc;
mod format;

use mc_diagnostics::Diagnostic;

/// The line width `mc fmt` uses unless told otherwise.
pub const DEFAULT_WIDTH: usize = 100;

/// Formats one source file. A file with syntax errors is refused with its
/// diagnostics (which name no file).
pub fn format(source: &str, width: usize) -> Result<String, Vec<Diagnostic>> {
    let parsed = mc_grammar::parse(source);
    if !parsed.errors.is_empty() {
        return Err(parsed.errors);
    }
    Ok(format_parsed(source, &parsed, width))
}

/// Formats an already parsed, error-free file.
pub fn format_parsed(source: &str, parsed: &mc_grammar::Parsed, width: usize) -> String {
    let mut f = format::Formatter::new(source, &parsed.trivia);
    let doc = f.module(&parsed.module);
    let mut out = doc::print_into(
        &doc,
        width.max(1),
        String::with_capacity(source.len() + source.len() / 4),
    );
    // Comments the tree gave no place to (none expected) are kept at the end.
    let rest = f.remaining();
    if !rest.is_empty() {
        for c in rest {
            out.push_str(c);
            out.push('\n');
        }
    }
    out
}
