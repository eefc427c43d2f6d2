//! Formatting and range formatting: `mc fmt`'s output; a file with syntax
//! errors is left alone; range formatting rewrites the changed lines that
//! touch the range.

use super::Doc;
use mc_compiler::ide::Analysis;
use mc_grammar::Span;
use tower_lsp::lsp_types::*;

/// One edit that turns the document into its formatted form, or none when
/// it is formatted (or has syntax errors). With `within`, only when the
/// changed lines touch that range.
pub fn formatting(a: &Analysis, doc: &Doc, within: Option<Range>) -> Vec<TextEdit> {
    let parsed = a.parsed(doc.file);
    if !parsed.errors.is_empty() {
        return Vec::new();
    }
    let formatted = mc_fmt::format_parsed(&doc.text, parsed, mc_fmt::DEFAULT_WIDTH);
    if formatted == *doc.text {
        return Vec::new();
    }
    // The changed region, in whole lines: common prefix and suffix lines.
    let old: Vec<&str> = doc.text.split_inclusive('\n').collect();
    let new: Vec<&str> = formatted.split_inclusive('\n').collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let start_line = prefix as u32;
    let end_line = (old.len() - suffix) as u32;
    if let Some(r) = within {
        if r.end.line < start_line || r.start.line > end_line {
            return Vec::new();
        }
    }
    let start_off: usize = old[..prefix].iter().map(|l| l.len()).sum();
    let end_off: usize = doc.text.len()
        - old[old.len() - suffix..]
            .iter()
            .map(|l| l.len())
            .sum::<usize>();
    let replacement: String = new[prefix..new.len() - suffix].concat();
    let span = Span::from_usize(start_off, end_off);
    vec![TextEdit::new(doc.range(span), replacement)]
}
