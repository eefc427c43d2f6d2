//! Semantic tokens: keywords, strings, numbers, comments, operators, and
//! names classified by what the resolver says they refer to.

use super::Doc;
use mc_compiler::ide::{Analysis, DefKind};
use mc_grammar::lexer::{lex, Tok};
use mc_grammar::{Span, TriviaKind};
use std::collections::HashMap;
use tower_lsp::lsp_types::*;

pub const TOKEN_TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::TYPE,
    SemanticTokenType::CLASS,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::NAMESPACE,
];

fn token_index(t: &SemanticTokenType) -> u32 {
    TOKEN_TYPES.iter().position(|x| x == t).unwrap_or(0) as u32
}

pub fn semantic_tokens(a: &Analysis, doc: &Doc) -> Vec<SemanticToken> {
    let text = &doc.text;
    let occs: HashMap<u32, DefKind> = a
        .occurrences(doc.file)
        .iter()
        .map(|o| (o.span.start, o.def.kind))
        .collect();
    let mut spans: Vec<(Span, u32)> = Vec::new();
    for (s, tok, e) in lex(text).tokens {
        let span = Span::from_usize(s, e);
        let ty = match tok {
            Tok::Ident(_) => match occs.get(&span.start) {
                Some(DefKind::Fn | DefKind::Role) => SemanticTokenType::FUNCTION,
                Some(DefKind::Type) => SemanticTokenType::TYPE,
                Some(DefKind::Resource) => SemanticTokenType::CLASS,
                Some(DefKind::Param) => SemanticTokenType::PARAMETER,
                Some(DefKind::Attr) => SemanticTokenType::PROPERTY,
                Some(DefKind::Import) => SemanticTokenType::NAMESPACE,
                _ => SemanticTokenType::VARIABLE,
            },
            Tok::Int(_) | Tok::Duration(_) => SemanticTokenType::NUMBER,
            Tok::StrStart(_) | Tok::StrText(_) | Tok::StrEnd => SemanticTokenType::STRING,
            Tok::True | Tok::False | Tok::Null => SemanticTokenType::KEYWORD,
            t if t.is_keyword() => SemanticTokenType::KEYWORD,
            Tok::EqEq
            | Tok::NotEq
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::Slash
            | Tok::Percent
            | Tok::Bang
            | Tok::AndAnd
            | Tok::OrOr
            | Tok::QuestionQuestion
            | Tok::Amp
            | Tok::Pipe
            | Tok::Arrow => SemanticTokenType::OPERATOR,
            _ => continue,
        };
        spans.push((span, token_index(&ty)));
    }
    for t in &a.parsed(doc.file).trivia {
        if t.kind != TriviaKind::BlankLine {
            spans.push((t.span, token_index(&SemanticTokenType::COMMENT)));
        }
    }
    spans.sort_by_key(|(s, _)| s.start);
    // Multi-line tokens are split per line, as most clients require.
    let mut out = Vec::new();
    let (mut prev_line, mut prev_col) = (0u32, 0u32);
    for (span, ty) in spans {
        let mut start = span.start as usize;
        let end = span.end as usize;
        while start < end {
            let line_end = text[start..end].find('\n').map_or(end, |i| start + i);
            if line_end > start {
                let p = doc.lines.line_col_utf16(text, start);
                let len: usize = text[start..line_end].chars().map(char::len_utf16).sum();
                let delta_line = p.line - prev_line;
                let delta_start = if delta_line == 0 {
                    p.col - prev_col
                } else {
                    p.col
                };
                out.push(SemanticToken {
                    delta_line,
                    delta_start,
                    length: len as u32,
                    token_type: ty,
                    token_modifiers_bitset: 0,
                });
                prev_line = p.line;
                prev_col = p.col;
            }
            start = line_end + 1;
        }
    }
    out
}
