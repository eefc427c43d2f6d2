//! The lexer: a logos scanner for ordinary tokens, wrapped in a modal driver
//! for strings (`"…"`, `"""…"""`) and their `${…}` interpolations.
//!
//! Comments and blank lines do not become tokens: they go into a trivia side
//! table for the formatter and for doc comments. Lexing never fails: bad
//! input yields a [`LexError`] and the scanner carries on.

use crate::span::Span;
use logos::Logos;
use std::fmt;

/// A token as seen by the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok<'a> {
    Ident(&'a str),
    Int(i64),
    /// Milliseconds.
    Duration(u64),
    /// Opening quote; `true` for `"""`.
    StrStart(bool),
    /// Raw source text of a literal string piece (escapes not yet decoded).
    StrText(&'a str),
    /// `${`
    InterpStart,
    /// The `}` closing an interpolation.
    InterpEnd,
    StrEnd,
    // keywords
    Import,
    As,
    Let,
    Type,
    Fn,
    Builtin,
    Role,
    On,
    Policy,
    When,
    Resource,
    Check,
    Assert,
    Project,
    If,
    Else,
    For,
    In,
    Is,
    True,
    False,
    Null,
    // punctuation
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Colon,
    Semi,
    Eq,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    AndAnd,
    OrOr,
    QuestionQuestion,
    Question,
    Amp,
    Pipe,
    Arrow,
}

impl Tok<'_> {
    /// How the token reads in a diagnostic: `` `=` ``, `a name`, …
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Int(_) => "a number".into(),
            Tok::Duration(_) => "a duration".into(),
            Tok::StrStart(_) | Tok::StrText(_) | Tok::StrEnd => "a string".into(),
            Tok::InterpStart => "`${`".into(),
            Tok::InterpEnd => "`}`".into(),
            other => format!("`{}`", other.fixed_text().unwrap_or("?")),
        }
    }

    /// The source text of keywords and punctuation.
    pub fn fixed_text(&self) -> Option<&'static str> {
        Some(match self {
            Tok::Import => "import",
            Tok::As => "as",
            Tok::Let => "let",
            Tok::Type => "type",
            Tok::Fn => "fn",
            Tok::Builtin => "builtin",
            Tok::Role => "role",
            Tok::On => "on",
            Tok::Policy => "policy",
            Tok::When => "when",
            Tok::Resource => "resource",
            Tok::Check => "check",
            Tok::Assert => "assert",
            Tok::Project => "project",
            Tok::If => "if",
            Tok::Else => "else",
            Tok::For => "for",
            Tok::In => "in",
            Tok::Is => "is",
            Tok::True => "true",
            Tok::False => "false",
            Tok::Null => "null",
            Tok::LBrace => "{",
            Tok::RBrace | Tok::InterpEnd => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::Colon => ":",
            Tok::Semi => ";",
            Tok::Eq => "=",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Bang => "!",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::QuestionQuestion => "??",
            Tok::Question => "?",
            Tok::Amp => "&",
            Tok::Pipe => "|",
            Tok::Arrow => "->",
            Tok::InterpStart => "${",
            _ => return None,
        })
    }

    pub fn is_keyword(&self) -> bool {
        keyword(self.fixed_text().unwrap_or("")).is_some()
    }
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The keywords, written once: the list ([`KEYWORDS`], which the editor
/// completes) and the lexer's map from a word to its token ([`keyword`], a
/// `match`, as fast as the lexer needs) both come from it.
macro_rules! keywords {
    ($($word:literal => $tok:ident),* $(,)?) => {
        /// Every keyword of the language.
        pub const KEYWORDS: &[&str] = &[$($word),*];

        /// Maps a word to its keyword token.
        pub fn keyword(word: &str) -> Option<Tok<'static>> {
            Some(match word {
                $($word => Tok::$tok,)*
                _ => return None,
            })
        }
    };
}

keywords! {
    "import" => Import,
    "as" => As,
    "let" => Let,
    "type" => Type,
    "fn" => Fn,
    "builtin" => Builtin,
    "role" => Role,
    "on" => On,
    "policy" => Policy,
    "when" => When,
    "resource" => Resource,
    "check" => Check,
    "assert" => Assert,
    "project" => Project,
    "if" => If,
    "else" => Else,
    "for" => For,
    "in" => In,
    "is" => Is,
    "true" => True,
    "false" => False,
    "null" => Null,
}

/// What a trivia entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TriviaKind {
    /// `// …`
    LineComment,
    /// `/// …`
    DocComment,
    /// `/* … */` (nested)
    BlockComment,
    /// A run of whitespace holding at least one empty line.
    BlankLine,
}

/// A comment or blank line, kept beside the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trivia {
    pub kind: TriviaKind,
    pub span: Span,
}

/// A lexical error class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexErrorKind {
    UnexpectedChar(char),
    UnterminatedString,
    UnterminatedBlockComment,
    InvalidEscape(String),
    InvalidNumber(String),
    NumberTooLarge,
    UnterminatedInterpolation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    pub kind: LexErrorKind,
    pub span: Span,
    /// Where the unterminated construct started, for a secondary label.
    pub opened_at: Option<Span>,
}

/// A token with its byte offsets, as lalrpop wants it.
pub type Spanned<'a> = (usize, Tok<'a>, usize);

/// The lexer's output for one file.
#[derive(Clone, Debug, Default)]
pub struct Lexed<'a> {
    pub tokens: Vec<Spanned<'a>>,
    pub trivia: Vec<Trivia>,
    pub errors: Vec<LexError>,
}

#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq)]
enum Raw {
    #[regex(r"[ \t\r\n\x0C]+")]
    Whitespace,
    #[regex(r"//[^\n]*", allow_greedy = true)]
    LineComment,
    #[token("/*")]
    BlockCommentStart,
    #[token("\"\"\"")]
    TripleQuote,
    #[token("\"")]
    Quote,
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Word,
    // Numbers are scanned loosely and classified by hand, so that `5min` or
    // `0o9` become one clear error instead of a puzzling token pair.
    #[regex(r"[0-9][0-9A-Za-z_]*")]
    Number,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(".")]
    Dot,
    #[token(":")]
    Colon,
    #[token(";")]
    Semi,
    #[token("=")]
    Eq,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("!")]
    Bang,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("??")]
    QuestionQuestion,
    #[token("?")]
    Question,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("->")]
    Arrow,
}

/// Modes of the driver. Normal mode inside an interpolation counts braces so
/// that a record or block inside `${…}` does not end it.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Interp { depth: u32, opened_at: Span },
    Str { triple: bool, opened_at: Span },
}

/// Lexes a whole file.
pub fn lex(source: &str) -> Lexed<'_> {
    let mut lexer = Lexer {
        src: source,
        pos: 0,
        modes: Vec::new(),
        out: Lexed {
            // Real programs average one token per four to six bytes.
            tokens: Vec::with_capacity(source.len() / 4 + 16),
            trivia: Vec::new(),
            errors: Vec::new(),
        },
    };
    lexer.run();
    lexer.out
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    modes: Vec<Mode>,
    out: Lexed<'a>,
}

impl<'a> Lexer<'a> {
    fn run(&mut self) {
        while self.pos < self.src.len() {
            match self.modes.last().copied() {
                Some(Mode::Str { triple, opened_at }) => self.string_mode(triple, opened_at),
                _ => self.normal_token(),
            }
        }
        // Close whatever is still open so the parser sees balanced strings.
        // Errors point at the end of the last line with text, where the
        // reader's eye is, not past the final newline.
        let end = self.src.trim_end().len();
        let eof = self.src.len();
        while let Some(mode) = self.modes.pop() {
            match mode {
                Mode::Str { opened_at, .. } => {
                    self.error(
                        LexErrorKind::UnterminatedString,
                        Span::from_usize(end, end),
                        Some(opened_at),
                    );
                    self.push(eof, Tok::StrEnd, eof);
                }
                Mode::Interp { opened_at, .. } => {
                    self.error(
                        LexErrorKind::UnterminatedInterpolation,
                        Span::from_usize(end, end),
                        Some(opened_at),
                    );
                    self.push(eof, Tok::InterpEnd, eof);
                }
            }
        }
    }

    fn push(&mut self, start: usize, tok: Tok<'a>, end: usize) {
        self.out.tokens.push((start, tok, end));
    }

    fn error(&mut self, kind: LexErrorKind, span: Span, opened_at: Option<Span>) {
        self.out.errors.push(LexError {
            kind,
            span,
            opened_at,
        });
    }

    fn trivia(&mut self, kind: TriviaKind, start: usize, end: usize) {
        self.out.trivia.push(Trivia {
            kind,
            span: Span::from_usize(start, end),
        });
    }

    fn normal_token(&mut self) {
        let rest = &self.src[self.pos..];
        let mut raw = Raw::lexer(rest);
        let base = self.pos;
        let Some(result) = raw.next() else {
            self.pos = self.src.len();
            return;
        };
        let range = raw.span();
        let (start, end) = (base + range.start, base + range.end);
        let text = &self.src[start..end];
        self.pos = end;
        let kind = match result {
            Ok(kind) => kind,
            Err(()) => {
                // Skip one whole character, not one byte, to stay on a
                // UTF-8 boundary.
                let ch = rest[range.start..].chars().next().unwrap_or('\u{FFFD}');
                let end = start + ch.len_utf8().max(1);
                self.pos = end;
                self.error(
                    LexErrorKind::UnexpectedChar(ch),
                    Span::from_usize(start, end),
                    None,
                );
                return;
            }
        };
        let tok = match kind {
            Raw::Whitespace => {
                if text.bytes().filter(|&b| b == b'\n').count() >= 2 {
                    self.trivia(TriviaKind::BlankLine, start, end);
                }
                return;
            }
            Raw::LineComment => {
                let is_doc = text.starts_with("///") && !text.starts_with("////");
                let kind = if is_doc {
                    TriviaKind::DocComment
                } else {
                    TriviaKind::LineComment
                };
                // A trailing `\r` is part of the line break, not the comment.
                let end = start + text.trim_end_matches('\r').len();
                self.trivia(kind, start, end);
                return;
            }
            Raw::BlockCommentStart => {
                self.block_comment(start);
                return;
            }
            Raw::Quote | Raw::TripleQuote => {
                let triple = kind == Raw::TripleQuote;
                self.push(start, Tok::StrStart(triple), end);
                self.modes.push(Mode::Str {
                    triple,
                    opened_at: Span::from_usize(start, end),
                });
                return;
            }
            Raw::Word => keyword(text).unwrap_or(Tok::Ident(text)),
            Raw::Number => self.number(text, start, end),
            Raw::LBrace => {
                if let Some(Mode::Interp { depth, .. }) = self.modes.last_mut() {
                    *depth += 1;
                }
                Tok::LBrace
            }
            Raw::RBrace => match self.modes.last_mut() {
                Some(Mode::Interp { depth: 0, .. }) => {
                    self.modes.pop();
                    Tok::InterpEnd
                }
                Some(Mode::Interp { depth, .. }) => {
                    *depth -= 1;
                    Tok::RBrace
                }
                _ => Tok::RBrace,
            },
            Raw::LParen => Tok::LParen,
            Raw::RParen => Tok::RParen,
            Raw::LBracket => Tok::LBracket,
            Raw::RBracket => Tok::RBracket,
            Raw::Comma => Tok::Comma,
            Raw::Dot => Tok::Dot,
            Raw::Colon => Tok::Colon,
            Raw::Semi => Tok::Semi,
            Raw::Eq => Tok::Eq,
            Raw::EqEq => Tok::EqEq,
            Raw::NotEq => Tok::NotEq,
            Raw::Lt => Tok::Lt,
            Raw::Le => Tok::Le,
            Raw::Gt => Tok::Gt,
            Raw::Ge => Tok::Ge,
            Raw::Plus => Tok::Plus,
            Raw::Minus => Tok::Minus,
            Raw::Star => Tok::Star,
            Raw::Slash => Tok::Slash,
            Raw::Percent => Tok::Percent,
            Raw::Bang => Tok::Bang,
            Raw::AndAnd => Tok::AndAnd,
            Raw::OrOr => Tok::OrOr,
            Raw::QuestionQuestion => Tok::QuestionQuestion,
            Raw::Question => Tok::Question,
            Raw::Amp => Tok::Amp,
            Raw::Pipe => Tok::Pipe,
            Raw::Arrow => Tok::Arrow,
        };
        self.push(start, tok, end);
    }

    /// Scans a nested `/* … */` comment starting at `start`.
    fn block_comment(&mut self, start: usize) {
        let bytes = self.src.as_bytes();
        let mut i = start + 2;
        let mut depth = 1u32;
        while i < bytes.len() {
            if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                depth += 1;
                i += 2;
            } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    self.pos = i;
                    self.trivia(TriviaKind::BlockComment, start, i);
                    return;
                }
            } else {
                i += 1;
            }
        }
        self.pos = self.src.len();
        self.trivia(TriviaKind::BlockComment, start, self.src.len());
        let end = self.src.trim_end().len();
        self.error(
            LexErrorKind::UnterminatedBlockComment,
            Span::from_usize(end, end),
            Some(Span::from_usize(start, start + 2)),
        );
    }

    fn number(&mut self, text: &str, start: usize, end: usize) -> Tok<'a> {
        let span = Span::from_usize(start, end);
        match classify_number(text) {
            Ok(tok) => tok,
            Err(kind) => {
                self.error(kind, span, None);
                Tok::Int(0)
            }
        }
    }

    /// Scans string content up to the next interpolation or the closing
    /// quote.
    fn string_mode(&mut self, triple: bool, opened_at: Span) {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'"' if !triple || self.src[i..].starts_with("\"\"\"") => {
                    self.text(start, i);
                    let len = if triple { 3 } else { 1 };
                    self.push(i, Tok::StrEnd, i + len);
                    self.pos = i + len;
                    self.modes.pop();
                    return;
                }
                b'\n' if !triple => {
                    // A plain string cannot span lines: stop here, so one
                    // missing quote does not swallow the rest of the file.
                    let end = if i > start && bytes[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    self.text(start, end);
                    self.error(
                        LexErrorKind::UnterminatedString,
                        Span::from_usize(opened_at.start as usize, end),
                        Some(opened_at),
                    );
                    self.push(end, Tok::StrEnd, end);
                    self.pos = end;
                    self.modes.pop();
                    return;
                }
                b'$' if bytes.get(i + 1) == Some(&b'{') => {
                    self.text(start, i);
                    self.push(i, Tok::InterpStart, i + 2);
                    self.pos = i + 2;
                    self.modes.push(Mode::Interp {
                        depth: 0,
                        opened_at: Span::from_usize(i, i + 2),
                    });
                    return;
                }
                b'\\' => {
                    i = self.check_escape(i);
                }
                _ => i += 1,
            }
        }
        self.text(start, bytes.len());
        self.pos = bytes.len();
    }

    fn text(&mut self, start: usize, end: usize) {
        if end > start {
            self.push(start, Tok::StrText(&self.src[start..end]), end);
        }
    }

    /// Validates the escape at `at` (a backslash); returns the offset after it.
    fn check_escape(&mut self, at: usize) -> usize {
        let rest = &self.src[at + 1..];
        let mut chars = rest.chars();
        match chars.next() {
            Some('n' | 't' | 'r' | '\\' | '"' | '$' | '0') => at + 2,
            Some('u') => match parse_unicode_escape(rest) {
                Ok(len) => at + 1 + len,
                Err(len) => {
                    let end = at + 1 + len;
                    self.error(
                        LexErrorKind::InvalidEscape(self.src[at..end].to_string()),
                        Span::from_usize(at, end),
                        None,
                    );
                    end
                }
            },
            Some('\n') | None => at + 1,
            Some(c) => {
                let end = at + 1 + c.len_utf8();
                self.error(
                    LexErrorKind::InvalidEscape(self.src[at..end].to_string()),
                    Span::from_usize(at, end),
                    None,
                );
                end
            }
        }
    }
}

/// For `u{1F600}` after a backslash: `Ok(len)` of the valid escape body, or
/// `Err(len)` of the bad part.
fn parse_unicode_escape(rest: &str) -> Result<usize, usize> {
    let Some(body) = rest.strip_prefix("u{") else {
        return Err(1);
    };
    let Some(close) = body.find('}') else {
        return Err(2);
    };
    let hex = &body[..close];
    let ok = !hex.is_empty()
        && hex.len() <= 6
        && u32::from_str_radix(hex, 16)
            .ok()
            .and_then(char::from_u32)
            .is_some();
    if ok {
        Ok(close + 3)
    } else {
        Err(close + 3)
    }
}

/// Classifies a loosely scanned number: decimal, `0o`/`0x`/`0b` integer, or
/// a duration like `30s`, `1h30m`, `250ms`.
pub fn classify_number(text: &str) -> Result<Tok<'static>, LexErrorKind> {
    let invalid = || LexErrorKind::InvalidNumber(text.to_string());
    let radix = match text.get(..2) {
        Some("0o" | "0O") => Some(8),
        Some("0x" | "0X") => Some(16),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        let digits: String = text[2..].chars().filter(|&c| c != '_').collect();
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(invalid());
        }
        return i64::from_str_radix(&digits, radix)
            .map(Tok::Int)
            .map_err(|_| LexErrorKind::NumberTooLarge);
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        if text.ends_with('_') {
            return Err(invalid());
        }
        let digits: String = text.chars().filter(|&c| c != '_').collect();
        return digits
            .parse::<i64>()
            .map(Tok::Int)
            .map_err(|_| LexErrorKind::NumberTooLarge);
    }
    parse_duration(text).map(Tok::Duration)
}

fn parse_duration(text: &str) -> Result<u64, LexErrorKind> {
    let invalid = || LexErrorKind::InvalidNumber(text.to_string());
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '_'))
            .ok_or_else(invalid)?;
        if digits_len == 0 {
            return Err(invalid());
        }
        let digits: String = rest[..digits_len].chars().filter(|&c| c != '_').collect();
        let value: u64 = digits.parse().map_err(|_| LexErrorKind::NumberTooLarge)?;
        rest = &rest[digits_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let factor: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(invalid()),
        };
        total = value
            .checked_mul(factor)
            .and_then(|v| total.checked_add(v))
            .ok_or(LexErrorKind::NumberTooLarge)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok<'_>> {
        lex(src).tokens.into_iter().map(|(_, t, _)| t).collect()
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(
            toks("42 1_000 0o644 0x1F 0b101"),
            vec![
                Tok::Int(42),
                Tok::Int(1000),
                Tok::Int(0o644),
                Tok::Int(31),
                Tok::Int(5)
            ]
        );
        assert_eq!(
            toks("30s 5m 1h 1d 250ms 1h30m"),
            vec![
                Tok::Duration(30_000),
                Tok::Duration(300_000),
                Tok::Duration(3_600_000),
                Tok::Duration(86_400_000),
                Tok::Duration(250),
                Tok::Duration(5_400_000)
            ]
        );
        for bad in ["0o9", "5min", "1_", "0x", "12ab"] {
            let lexed = lex(bad);
            assert_eq!(lexed.errors.len(), 1, "{bad}");
            assert!(matches!(
                lexed.errors[0].kind,
                LexErrorKind::InvalidNumber(_)
            ));
        }
        let big = lex("99999999999999999999");
        assert_eq!(big.errors[0].kind, LexErrorKind::NumberTooLarge);
    }

    #[test]
    fn interpolation_nesting() {
        let src = r#""a ${ f({ x = "b${c}" }) } d""#;
        let t = toks(src);
        assert_eq!(t.first(), Some(&Tok::StrStart(false)));
        assert_eq!(t.last(), Some(&Tok::StrEnd));
        assert_eq!(t.iter().filter(|t| **t == Tok::InterpStart).count(), 2);
        assert_eq!(t.iter().filter(|t| **t == Tok::InterpEnd).count(), 2);
        assert_eq!(t.iter().filter(|t| **t == Tok::RBrace).count(), 1);
        assert!(lex(src).errors.is_empty());
    }

    #[test]
    fn comments_go_to_trivia() {
        let src = "/// doc\nlet x = 1 // tail\n\n/* a /* nested */ b */ let y = 2";
        let lexed = lex(src);
        let kinds: Vec<TriviaKind> = lexed.trivia.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            vec![
                TriviaKind::DocComment,
                TriviaKind::LineComment,
                TriviaKind::BlankLine,
                TriviaKind::BlockComment
            ]
        );
        assert_eq!(lexed.trivia[3].span.text(src), "/* a /* nested */ b */");
        assert_eq!(lexed.tokens.len(), 8);
    }

    #[test]
    fn unterminated_string_stops_at_line_end() {
        let lexed = lex("let a = \"abc\nlet b = 1");
        assert_eq!(lexed.errors.len(), 1);
        assert_eq!(lexed.errors[0].kind, LexErrorKind::UnterminatedString);
        assert!(lexed.tokens.iter().any(|(_, t, _)| *t == Tok::Ident("b")));
    }

    #[test]
    fn bad_escapes_and_chars() {
        let lexed = lex(r#""a\qb \u{110000} \u{41}" @"#);
        let kinds: Vec<_> = lexed.errors.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                LexErrorKind::InvalidEscape("\\q".into()),
                LexErrorKind::InvalidEscape("\\u{110000}".into()),
                LexErrorKind::UnexpectedChar('@')
            ]
        );
    }
}

#[cfg(test)]
mod keyword_tests {
    use super::*;

    #[test]
    fn each_keyword_lexes_as_its_token_and_prints_as_itself() {
        for k in KEYWORDS {
            let tok = keyword(k).unwrap_or_else(|| panic!("`{k}` is not a keyword"));
            assert!(tok.is_keyword());
            assert_eq!(tok.fixed_text(), Some(*k));
        }
        assert_eq!(keyword("host"), None);
    }
}
