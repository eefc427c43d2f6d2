//! The editor's parse of a file. Text being typed at the end of a file
//! often leaves brackets open, which costs the parser the whole enclosing
//! item; closing them at the very end (offsets of the real text are
//! unchanged) keeps that item's tree. The errors are those of the real text.

use crate::db::SourceFile;
use mc_grammar::ast::Item;
use mc_grammar::Parsed;

/// [`parse_tolerant`] of a file, once per text.
#[salsa::tracked(returns(ref), no_eq)]
pub fn editor_parse(db: &dyn salsa::Database, file: SourceFile) -> Parsed {
    parse_tolerant(file.text(db))
}

/// Parses `text`, closing brackets left open at its end when that keeps
/// more items whole.
pub fn parse_tolerant(text: &str) -> Parsed {
    let parsed = mc_grammar::parse(text);
    if parsed.errors.is_empty() {
        return parsed;
    }
    use mc_grammar::lexer::{lex, Tok};
    let mut open: Vec<&str> = Vec::new();
    for (_, tok, _) in lex(text).tokens {
        match tok {
            Tok::LBrace => open.push("}"),
            Tok::LParen => open.push(")"),
            Tok::LBracket => open.push("]"),
            Tok::RBrace | Tok::RParen | Tok::RBracket => {
                open.pop();
            }
            _ => {}
        }
    }
    if open.is_empty() {
        return parsed;
    }
    let mut patched = String::with_capacity(text.len() + open.len() + 1);
    patched.push_str(text);
    patched.push('\n');
    while let Some(close) = open.pop() {
        patched.push_str(close);
    }
    let mut better = mc_grammar::parse(&patched);
    let broken = |p: &Parsed| {
        p.module
            .items
            .iter()
            .filter(|i| matches!(i, Item::Error(_)))
            .count()
    };
    if broken(&better) < broken(&parsed) {
        better.errors = parsed.errors;
        better.module.span = parsed.module.span;
        better
    } else {
        parsed
    }
}
