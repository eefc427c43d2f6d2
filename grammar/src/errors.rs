//! Turning lexer errors and LALRPOP parse errors into diagnostics a user
//! understands, and the long explanations of codes E0001–E0099.

use crate::lexer::{LexError, LexErrorKind, Spanned, Tok};
use crate::parser::Custom;
use crate::span::Span;
use lalrpop_util::ParseError;
use mc_diagnostics::{Diagnostic, Label, LineIndex};

/// The parse-stage codes. Each distinct class of mistake has its own code.
pub mod codes {
    pub const UNEXPECTED_CHAR: &str = "E0001";
    pub const UNTERMINATED_STRING: &str = "E0002";
    pub const UNTERMINATED_COMMENT: &str = "E0003";
    pub const INVALID_ESCAPE: &str = "E0004";
    pub const INVALID_NUMBER: &str = "E0005";
    pub const NUMBER_TOO_LARGE: &str = "E0006";
    pub const UNTERMINATED_INTERPOLATION: &str = "E0007";
    pub const UNEXPECTED_TOKEN: &str = "E0010";
    pub const UNEXPECTED_EOF: &str = "E0011";
    pub const UNCLOSED_DELIMITER: &str = "E0012";
    pub const MISSING_EQUALS: &str = "E0013";
    pub const COLON_FOR_EQUALS: &str = "E0014";
    pub const STRAY_COMMA: &str = "E0015";
    pub const KEYWORD_AS_NAME: &str = "E0016";
    pub const INTERPOLATION_NOT_ALLOWED: &str = "E0017";
    pub const NOT_AN_ITEM: &str = "E0018";
    pub const BAD_TARGET: &str = "E0019";
    pub const SEMICOLON: &str = "E0020";
    pub const MISSING_OPERAND: &str = "E0021";
    pub const CHAINED_COMPARISON: &str = "E0022";
    pub const UNMATCHED_CLOSE: &str = "E0023";
    pub const MISSING_ELSE: &str = "E0024";
    pub const FILE_TOO_LARGE: &str = "E0025";
    pub const INVALID_UTF8: &str = "E0026";
    pub const MISSING_TITLE: &str = "E0027";
    pub const TOO_DEEP: &str = "E0028";
    pub const MISSING_COLON: &str = "E0029";
    pub const ASSIGN_IN_CONDITION: &str = "E0030";
    pub const MISSPELLED_KEYWORD: &str = "E0031";

    /// Every code above, for tests and `mc explain --list`.
    pub const ALL: &[&str] = &[
        UNEXPECTED_CHAR,
        UNTERMINATED_STRING,
        UNTERMINATED_COMMENT,
        INVALID_ESCAPE,
        INVALID_NUMBER,
        NUMBER_TOO_LARGE,
        UNTERMINATED_INTERPOLATION,
        UNEXPECTED_TOKEN,
        UNEXPECTED_EOF,
        UNCLOSED_DELIMITER,
        MISSING_EQUALS,
        COLON_FOR_EQUALS,
        STRAY_COMMA,
        KEYWORD_AS_NAME,
        INTERPOLATION_NOT_ALLOWED,
        NOT_AN_ITEM,
        BAD_TARGET,
        SEMICOLON,
        MISSING_OPERAND,
        CHAINED_COMPARISON,
        UNMATCHED_CLOSE,
        MISSING_ELSE,
        FILE_TOO_LARGE,
        INVALID_UTF8,
        MISSING_TITLE,
        TOO_DEEP,
        MISSING_COLON,
        ASSIGN_IN_CONDITION,
        MISSPELLED_KEYWORD,
    ];
}

/// The long explanation of a parse-stage code (`mc explain E0013`).
pub fn explain(code: &str) -> Option<&'static str> {
    Some(match code {
        "E0001" => {
            "A character that is not part of mc's syntax appeared outside a string or comment, \
for example `@` or `#`. Remove it, or put it inside a string."
        }
        "E0002" => {
            "A string was opened with `\"` but not closed on the same line. Plain strings cannot \
span lines; close the string, or use a multi-line string `\"\"\"…\"\"\"`."
        }
        "E0003" => {
            "A block comment `/* … */` was not closed before the end of the file. Block \
comments nest, so every `/*` needs its own `*/`."
        }
        "E0004" => {
            "A backslash in a string must start one of the escapes `\\n`, `\\t`, `\\r`, `\\\\`, \
`\\\"`, `\\$`, `\\0` or `\\u{HEX}` (a Unicode scalar value, 1 to 6 hex digits). To write a \
literal backslash, double it."
        }
        "E0005" => {
            "A number literal is malformed. Integers are written `42`, `1_000`, `0o644`, `0x1F` \
or `0b101`; durations are a number followed by a unit `ms`, `s`, `m`, `h` or `d`, and units can \
be combined: `1h30m`."
        }
        "E0006" => {
            "A number does not fit in a signed 64-bit integer (or a duration overflows \
2^64 milliseconds)."
        }
        "E0007" => {
            "An interpolation `${…}` inside a string was not closed with `}` before the end \
of the file."
        }
        "E0010" => {
            "The parser found a token it did not expect at this point. The message lists \
what would have been valid here."
        }
        "E0011" => "The file ended in the middle of an item, statement or expression.",
        "E0012" => {
            "A `{`, `(` or `[` was opened but never closed. The secondary label shows where \
it was opened; add the matching closing delimiter."
        }
        "E0013" => {
            "Fields in resource bodies, records, inventory entries and project settings are \
written `name = value`. The `=` between the name and the value is missing."
        }
        "E0014" => {
            "Fields are assigned with `=`, not `:`. The colon is used for types: \
`port: Int = 80` in parameters and record types, `{ port = 80 }` in values."
        }
        "E0015" => {
            "A comma appeared where nothing was separated: a leading comma, two commas in a \
row, or a comma where a value was expected. Commas between fields are optional; remove it."
        }
        "E0016" => {
            "A reserved keyword (`let`, `type`, `role`, `on`, `if`, `for`, `in`, …) was \
used where a name is expected. Choose another name. Some keywords, like `type`, are allowed as \
field names."
        }
        "E0017" => {
            "This string must be a plain literal, because it is read before evaluation \
(import paths, host and group names, policy names, literal types). Remove the `${…}`."
        }
        "E0018" => {
            "Only `import`, `let`, `type`, `fn`, `builtin fn`, `role`, `resource`, `host`, \
`group`, `on`, `policy` and `project` may appear at the top level of a file. Resources such as \
`file \"/etc/motd\" { … }` go inside a `role` or an `on` block."
        }
        "E0019" => {
            "An `on` target selects hosts: `all`, `host(\"web1\")`, `group(\"web\")`, and \
combinations with `&&`, `||`, `!` and parentheses."
        }
        "E0020" => {
            "mc does not use semicolons; statements and fields are separated by line \
breaks (or commas between fields). Remove the `;`."
        }
        "E0021" => "A binary operator such as `+`, `&&` or `??` needs an expression on both sides.",
        "E0022" => {
            "Comparisons do not chain: `a < b < c` is not allowed. Write \
`a < b && b < c`."
        }
        "E0023" => {
            "A closing `}`, `)` or `]` has no matching opening delimiter. Remove it, or \
add the missing opening delimiter."
        }
        "E0024" => {
            "An `if` used as an expression must have an `else` branch, so that it always \
has a value: `if c { a } else { b }`."
        }
        "E0025" => "Source files are limited to 4 GiB.",
        "E0026" => {
            "Source files must be UTF-8. The file contains bytes that are not valid UTF-8 \
(often a file saved in Latin-1 or UTF-16); re-encode it as UTF-8."
        }
        "E0027" => {
            "A resource is declared as `TYPE TITLE { … }`: the title (a file's path, a \
package's name…) comes between the type and the `{`, e.g. `file \"/etc/motd\" { … }`."
        }
        "E0028" => {
            "Brackets, braces, parentheses, interpolations and prefix operators are \
nested more than 256 levels deep, or one expression chains more than 10,000 binary operators \
(`a + b + …`, which nests as deep as it is long). No real configuration needs this; the limit \
keeps the compiler from running out of stack. Split the expression with `let` bindings."
        }
        "E0029" => {
            "Parameters, record type fields and resource attributes are declared \
`name: Type`, optionally followed by `= default`. The `:` and the type are missing."
        }
        "E0030" => {
            "`=` gives a field or binding its value; comparing two values uses `==`: \
`if tier == \"prod\" { … }`."
        }
        "E0031" => {
            "A word that looks like a misspelled keyword (`fro` for `for`) starts a \
statement. The suggestion names the keyword."
        }
        // The import loader of `mc check` reports these two.
        "E0101" => {
            "An `import` names a file that does not exist. Import paths are relative to \
the importing file and include the `.mc` extension: from `main.mc`, `import \"roles/web.mc\"` \
reads `roles/web.mc` next to it. When a file with a similar name exists, the message suggests it."
        }
        "E0102" => {
            "Modules import each other in a cycle (a imports b, b imports a, possibly \
through more files). The message lists the files of the cycle and labels each import. Move the \
items both modules need into a third module that imports neither."
        }
        _ => return None,
    })
}

fn label(span: Span) -> Label {
    Label::new("", span.range())
}

pub(crate) fn file_too_large(len: usize) -> Diagnostic {
    Diagnostic::error(
        codes::FILE_TOO_LARGE,
        format!("file is too large to parse ({len} bytes)"),
        label(Span::new(0, 0)),
    )
}

/// For loaders: a file that is not UTF-8, at the first bad byte.
pub fn invalid_utf8(offset: usize) -> Diagnostic {
    Diagnostic::error(
        codes::INVALID_UTF8,
        "file is not valid UTF-8",
        label(Span::from_usize(offset, offset + 1)).with_message("invalid byte"),
    )
}

pub(crate) fn too_deep(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error(
        codes::TOO_DEEP,
        format!("nesting is deeper than {limit} levels"),
        label(span).with_message("too deep here"),
    )
}

pub(crate) fn too_long_chain(span: Span, limit: usize) -> Diagnostic {
    Diagnostic::error(
        codes::TOO_DEEP,
        format!("more than {limit} operators in one expression"),
        label(Span::new(span.start, span.start)).with_message("this expression"),
    )
    .with_note("split it with `let` bindings, or build the value with a comprehension")
}

pub(crate) fn chained_comparison(first: Span, second: Span) -> Diagnostic {
    Diagnostic::error(
        codes::CHAINED_COMPARISON,
        "comparison operators cannot be chained",
        label(second).with_message("second comparison"),
    )
    .with_secondary(label(first).with_message("first comparison"))
    .with_note("write `a < b && b < c` instead of `a < b < c`")
}

pub(crate) fn interpolation_not_allowed(span: Span) -> Diagnostic {
    Diagnostic::error(
        codes::INTERPOLATION_NOT_ALLOWED,
        "interpolation is not allowed in this string",
        label(span).with_message("this must be plain text"),
    )
}

pub(crate) fn bad_target(name: &crate::ast::Ident) -> Diagnostic {
    Diagnostic::error(
        codes::BAD_TARGET,
        format!("unknown target `{}`", name.name),
        label(name.span).with_message("not a host selector"),
    )
    .with_note(
        "expected `all`, `host(\"NAME\")` or `group(\"NAME\")`, combined with `&&`, `||`, `!`",
    )
}

pub(crate) fn lex_errors(errors: &[LexError]) -> Vec<Diagnostic> {
    errors
        .iter()
        .map(|e| {
            let (code, message, text) = match &e.kind {
                LexErrorKind::UnexpectedChar(c) => (
                    codes::UNEXPECTED_CHAR,
                    format!("unexpected character `{}`", c.escape_debug()),
                    "not valid here",
                ),
                LexErrorKind::UnterminatedString => (
                    codes::UNTERMINATED_STRING,
                    "unterminated string".to_string(),
                    "missing closing quote",
                ),
                LexErrorKind::UnterminatedBlockComment => (
                    codes::UNTERMINATED_COMMENT,
                    "unterminated block comment".to_string(),
                    "file ends inside the comment",
                ),
                LexErrorKind::InvalidEscape(esc) => (
                    codes::INVALID_ESCAPE,
                    format!("invalid escape `{esc}` in string"),
                    "unknown escape",
                ),
                LexErrorKind::InvalidNumber(text) => (
                    codes::INVALID_NUMBER,
                    format!("invalid number literal `{text}`"),
                    "not a number or duration",
                ),
                LexErrorKind::NumberTooLarge => (
                    codes::NUMBER_TOO_LARGE,
                    "number is too large".to_string(),
                    "does not fit in 64 bits",
                ),
                LexErrorKind::UnterminatedInterpolation => (
                    codes::UNTERMINATED_INTERPOLATION,
                    "unterminated interpolation `${`".to_string(),
                    "missing `}`",
                ),
            };
            let mut diag = Diagnostic::error(code, message, label(e.span).with_message(text));
            if let Some(opened) = e.opened_at {
                diag = diag.with_secondary(label(opened).with_message("opened here"));
            }
            if let LexErrorKind::InvalidEscape(esc) = &e.kind {
                if esc.len() == 2 {
                    diag = diag.with_replacement(
                        "to write a backslash, double it",
                        e.span.range(),
                        format!("\\{esc}"),
                    );
                }
            }
            diag
        })
        .collect()
}

/// What the error converter needs to look around an error.
pub(crate) struct Context<'a, 'src> {
    pub source: &'src str,
    pub tokens: &'a [Spanned<'src>],
}

const EXPR_STARTS: &[&str] = &[
    "\"int\"",
    "\"name\"",
    "\"str_start\"",
    "\"[\"",
    "\"(\"",
    "\"!\"",
];

const ITEM_KEYWORDS: &[&str] = &[
    "import", "type", "fn", "builtin", "role", "on", "policy", "resource", "project",
];

impl Context<'_, '_> {
    pub(crate) fn parse_error(&self, error: ParseError<usize, Tok<'_>, Custom>) -> Diagnostic {
        match error {
            ParseError::User { error } => *error.0,
            ParseError::InvalidToken { location } => Diagnostic::error(
                codes::UNEXPECTED_TOKEN,
                "invalid token",
                label(Span::from_usize(location, location)),
            ),
            ParseError::ExtraToken { token: (l, tok, r) } => Diagnostic::error(
                codes::UNEXPECTED_TOKEN,
                format!("unexpected {}", tok.describe()),
                label(Span::from_usize(l, r)),
            ),
            ParseError::UnrecognizedEof { location, expected } => {
                self.unexpected_eof(location, &expected)
            }
            ParseError::UnrecognizedToken {
                token: (l, tok, r),
                expected,
            } => self.unexpected_token(l, tok, r, &expected),
        }
    }

    fn index_of(&self, start: usize) -> usize {
        self.tokens.partition_point(|(l, _, _)| *l < start)
    }

    /// The innermost `{`, `(` or `[` still open before token index `upto`.
    fn unclosed_opener(&self, upto: usize) -> Option<(Span, Tok<'_>)> {
        let mut stack: Vec<(Span, Tok<'_>)> = Vec::new();
        for (l, tok, r) in &self.tokens[..upto.min(self.tokens.len())] {
            match tok {
                Tok::LBrace | Tok::LParen | Tok::LBracket => {
                    stack.push((Span::from_usize(*l, *r), *tok));
                }
                Tok::RBrace | Tok::RParen | Tok::RBracket => {
                    stack.pop();
                }
                _ => {}
            }
        }
        stack.pop()
    }

    /// Whether only indentation comes before `span` on its line.
    fn starts_line(&self, span: Span) -> bool {
        let before = &self.source[..(span.start as usize).min(self.source.len())];
        let line = before.rsplit('\n').next().unwrap_or("");
        line.trim().is_empty()
    }

    fn unexpected_eof(&self, location: usize, expected: &[String]) -> Diagnostic {
        let at = Span::from_usize(location, location);
        let wants_close = expected
            .iter()
            .any(|e| e == "\"}\"" || e == "\")\"" || e == "\"]\"");
        if wants_close {
            if let Some((open, tok)) = self.unclosed_opener(self.tokens.len()) {
                let close = closer(tok);
                return Diagnostic::error(
                    codes::UNCLOSED_DELIMITER,
                    format!("unclosed `{}`", tok.fixed_text().unwrap_or("{")),
                    label(at)
                        .with_message(format!("expected `{close}` before the end of the file")),
                )
                .with_secondary(label(open).with_message("opened here"))
                .with_replacement(format!("add `{close}`"), at.range(), close);
            }
        }
        if let Some((l, op, r)) = self.tokens.last() {
            if is_binary_operator(op) && wants_expression(expected) {
                return missing_operand(*op, Span::from_usize(*l, *r));
            }
        }
        Diagnostic::error(
            codes::UNEXPECTED_EOF,
            format!(
                "unexpected end of file, expected {}",
                describe_expected(expected)
            ),
            label(at).with_message("file ends here"),
        )
    }

    fn unexpected_token(
        &self,
        l: usize,
        tok: Tok<'_>,
        r: usize,
        expected: &[String],
    ) -> Diagnostic {
        let span = Span::from_usize(l, r);
        let index = self.index_of(l);
        let prev = index
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map(|(pl, t, pr)| (Span::from_usize(*pl, *pr), *t));
        let expects = |s: &str| expected.iter().any(|e| e.trim_matches('"') == s);
        let found = tok.describe();

        if tok == Tok::Semi {
            return Diagnostic::error(
                codes::SEMICOLON,
                "mc does not use `;`",
                label(span).with_message("remove this"),
            )
            .with_replacement("remove the `;`", span.range(), "");
        }
        if let Some((not_span, Tok::Ident("not"))) = prev {
            let starts_value = matches!(
                tok,
                Tok::Ident(_) | Tok::Int(_) | Tok::StrStart(_) | Tok::LParen | Tok::Bang
            );
            if starts_value {
                return Diagnostic::error(
                    codes::UNEXPECTED_TOKEN,
                    format!("expected an operator after `not`, found {found}"),
                    label(not_span).with_message("mc writes `not` as `!`"),
                )
                .with_replacement(
                    "replace `not` with `!`",
                    not_span.start as usize..l,
                    "!",
                );
            }
        }
        // Python, Jinja and Puppet spell these as words: `and`/`or` right
        // after a value is one of them.
        if let Tok::Ident(word @ ("and" | "or")) = tok {
            let op = if word == "and" { "&&" } else { "||" };
            let after_value = prev.is_some_and(|(_, t)| {
                matches!(
                    t,
                    Tok::Ident(_) | Tok::Int(_) | Tok::StrEnd | Tok::RParen | Tok::RBracket
                )
            });
            if expects(op) || after_value {
                return Diagnostic::error(
                    codes::UNEXPECTED_TOKEN,
                    format!("expected an operator, found `{word}`"),
                    label(span).with_message(format!("mc writes `{word}` as `{op}`")),
                )
                .with_replacement(
                    format!("replace `{word}` with `{op}`"),
                    span.range(),
                    op,
                );
            }
        }
        if let Some((prev_span, prev_tok)) = prev {
            let prev_is_name = matches!(prev_tok, Tok::Ident(_)) || prev_tok.is_keyword();
            if expects("=") && prev_is_name && !expects("==") {
                let name = prev_span.text(self.source);
                if tok == Tok::Colon && !expects(":") {
                    return Diagnostic::error(
                        codes::COLON_FOR_EQUALS,
                        format!("expected `=` after field name `{name}`, found `:`"),
                        label(span).with_message("use `=` to give a field its value"),
                    )
                    .with_replacement(
                        "replace `:` with `=`",
                        span.range(),
                        "=",
                    );
                }
                if !expects("(") || matches!(tok, Tok::StrStart(_) | Tok::Int(_)) {
                    let what = if expects(":") { "" } else { "field name " };
                    return Diagnostic::error(
                        codes::MISSING_EQUALS,
                        format!("expected `=` after {what}`{name}`, found {found}"),
                        label(span).with_message("expected `=` before this"),
                    )
                    .with_replacement(
                        "insert `=`",
                        Span::empty(prev_span.end).range(),
                        " =",
                    );
                }
            }
            if is_binary_operator(&prev_tok) && wants_expression(expected) {
                return missing_operand(prev_tok, prev_span);
            }
            // `let a =` at the end of a line: the mistake is on that line,
            // not at whatever starts the next one.
            let line_break = self
                .source
                .get(prev_span.end as usize..l)
                .is_some_and(|gap| gap.contains('\n'));
            if prev_tok == Tok::Eq && line_break && wants_expression(expected) {
                return Diagnostic::error(
                    codes::UNEXPECTED_TOKEN,
                    format!("expected a value after `=`, found {found} on the next line"),
                    label(prev_span).with_message("nothing follows this `=`"),
                );
            }
            if matches!(prev_tok, Tok::Ident(_))
                && tok == Tok::LBrace
                && expects("str_start")
                && expects(".")
            {
                let ty = prev_span.text(self.source);
                return Diagnostic::error(
                    codes::MISSING_TITLE,
                    format!("expected a title between `{ty}` and `{{`"),
                    label(span).with_message("the title goes before this brace"),
                )
                .with_secondary(label(prev_span).with_message("resource type"))
                .with_note(format!("a resource is declared as `{ty} TITLE {{ … }}`, e.g. `file \"/etc/motd\" {{ … }}`"));
            }
            if expected.len() == 1 && expects(":") && prev_is_name {
                let name = prev_span.text(self.source);
                return Diagnostic::error(
                    codes::MISSING_COLON,
                    format!("expected `:` and a type after `{name}`, found {found}"),
                    label(span).with_message("expected `:` before this"),
                )
                .with_replacement(
                    "insert `:`",
                    Span::empty(prev_span.end).range(),
                    ":",
                );
            }
        }
        if tok == Tok::In {
            let word = index
                .checked_sub(2)
                .and_then(|i| self.tokens.get(i))
                .and_then(|(l, t, r)| match t {
                    Tok::Ident(w) => Some((Span::from_usize(*l, *r), *w)),
                    _ => None,
                });
            if let Some((word_span, word)) = word {
                if mc_diagnostics::did_you_mean(word, ["for"]).is_some() {
                    return Diagnostic::error(
                        codes::MISSPELLED_KEYWORD,
                        format!("unknown statement `{word}`"),
                        label(word_span).with_message("not a keyword"),
                    )
                    .with_replacement(
                        "did you mean `for`?",
                        word_span.range(),
                        "for",
                    );
                }
            }
        }
        if tok == Tok::Eq && expects("==") && !expects("=") {
            return Diagnostic::error(
                codes::ASSIGN_IN_CONDITION,
                "expected an operator, found `=`",
                label(span).with_message("`=` gives a value; `==` compares"),
            )
            .with_replacement("compare with `==`", span.range(), "==");
        }
        if tok == Tok::Comma && !expects(",") {
            return Diagnostic::error(
                codes::STRAY_COMMA,
                "unexpected `,`",
                label(span).with_message("nothing to separate here"),
            )
            .with_replacement("remove the `,`", span.range(), "");
        }
        // An item keyword where a closer was due: the bracket was left
        // open. The error sits at the bracket, so that the next item's own
        // mistakes, on the keyword's line, are reported too.
        let item_keyword = tok.fixed_text().is_some_and(|t| ITEM_KEYWORDS.contains(&t))
            || (tok == Tok::Let && self.starts_line(span));
        if item_keyword {
            if let Some((open, open_tok)) = self.unclosed_opener(index) {
                let close = closer(open_tok);
                if expects(close) {
                    let opener = open_tok.fixed_text().unwrap_or("{");
                    return Diagnostic::error(
                        codes::UNCLOSED_DELIMITER,
                        format!("unclosed `{opener}` before {found}"),
                        label(open).with_message(format!("this `{opener}` is never closed")),
                    )
                    .with_secondary(
                        label(span).with_message(format!("expected `{close}` before this item")),
                    );
                }
            }
        }
        let names_something = prev.is_some_and(|(_, t)| {
            matches!(
                t,
                Tok::Let | Tok::Fn | Tok::Role | Tok::Resource | Tok::Type | Tok::For | Tok::As
            ) || (matches!(t, Tok::LParen | Tok::Comma) && !wants_expression(expected))
        });
        if tok.is_keyword() && expects("name") && names_something {
            let word = tok.fixed_text().unwrap_or("");
            return Diagnostic::error(
                codes::KEYWORD_AS_NAME,
                format!("`{word}` is a keyword and cannot be used as a name"),
                label(span).with_message("keyword"),
            )
            .with_replacement("rename it", span.range(), format!("{word}_"));
        }
        if expects("else") && expected.len() == 1 {
            return Diagnostic::error(
                codes::MISSING_ELSE,
                format!("expected `else` after the `if` branch, found {found}"),
                label(span).with_message("an `if` expression needs an `else`"),
            );
        }
        let closes = matches!(tok, Tok::RBrace | Tok::RParen | Tok::RBracket);
        if closes && self.unclosed_opener(index).is_none() {
            return Diagnostic::error(
                codes::UNMATCHED_CLOSE,
                format!("unmatched {found}"),
                label(span).with_message("nothing to close here"),
            )
            .with_replacement(format!("remove the {found}"), span.range(), "");
        }
        if expects("import") && expects("role") {
            return Diagnostic::error(
                codes::NOT_AN_ITEM,
                format!("expected an item, found {found}"),
                label(span).with_message("not an item"),
            )
            .with_note(
                "items are `import`, `let`, `type`, `fn`, `role`, `resource`, `host`, `group`, `on`, `policy`, `project`",
            );
        }
        // The next item's keyword where this item wanted more: the mistake
        // is at the end of this item's line, and the next item's own
        // mistakes (on the keyword's line) are reported too.
        let on_next_line = |prev_span: Span| {
            self.source
                .get(prev_span.end as usize..span.start as usize)
                .is_some_and(|gap| gap.contains('\n'))
        };
        if let Some((prev_span, prev_tok)) = prev.filter(|(p, _)| item_keyword && on_next_line(*p))
        {
            let text = prev_tok
                .fixed_text()
                .map_or_else(|| "this".to_string(), |t| format!("`{t}`"));
            return Diagnostic::error(
                codes::UNEXPECTED_TOKEN,
                format!(
                    "expected {} after {text}, found {found} on the next line",
                    describe_expected(expected)
                ),
                label(prev_span).with_message("the item is incomplete here"),
            );
        }
        let mut diag = Diagnostic::error(
            codes::UNEXPECTED_TOKEN,
            format!("expected {}, found {found}", describe_expected(expected)),
            label(span).with_message("unexpected here"),
        );
        if expects("when") {
            diag = diag.with_note("a policy holds rules `when CONDITION { … }`");
        }
        diag
    }
}

fn closer(open: Tok<'_>) -> &'static str {
    match open {
        Tok::LParen => ")",
        Tok::LBracket => "]",
        _ => "}",
    }
}

fn missing_operand(op: Tok<'_>, op_span: Span) -> Diagnostic {
    let op = op.fixed_text().unwrap_or("?");
    Diagnostic::error(
        codes::MISSING_OPERAND,
        format!("expected an expression after `{op}`"),
        label(op_span).with_message("this operator has no right-hand side"),
    )
}

fn wants_expression(expected: &[String]) -> bool {
    EXPR_STARTS
        .iter()
        .all(|start| expected.iter().any(|e| e == start))
}

fn is_binary_operator(tok: &Tok<'_>) -> bool {
    matches!(
        tok,
        Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::Slash
            | Tok::Percent
            | Tok::AndAnd
            | Tok::OrOr
            | Tok::QuestionQuestion
            | Tok::Amp
    ) || is_comparison(&Some(*tok))
}

fn is_comparison(tok: &Option<Tok<'_>>) -> bool {
    matches!(
        tok,
        Some(Tok::EqEq | Tok::NotEq | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge)
    )
}

/// Turns LALRPOP's terminal list into words: "`=`, `,` or `}`", "an
/// expression", "a name".
pub(crate) fn describe_expected(expected: &[String]) -> String {
    let structural: Vec<String> = expected
        .iter()
        .filter(|e| !CONTINUATIONS.contains(&e.trim_matches('"')))
        .cloned()
        .collect();
    // An expression could always go on with an operator; naming every one
    // of them hides the tokens that would actually fix the code.
    let expected = if structural.is_empty() || wants_expression(expected) {
        expected
    } else {
        structural.as_slice()
    };
    let mut words: Vec<String> = Vec::new();
    let expression = wants_expression(expected);
    if expression {
        words.push("an expression".into());
    }
    for e in expected {
        let raw = e.trim_matches('"');
        if expression && (EXPR_STARTS.contains(&e.as_str()) || is_expr_start_word(raw)) {
            continue;
        }
        let word = match raw {
            "name" => "a name".to_string(),
            "int" => "a number".to_string(),
            "duration" => "a duration".to_string(),
            "str_start" => "a string".to_string(),
            "str_text" | "str_end" => "the rest of the string".to_string(),
            "interp_end" => "`}`".to_string(),
            other => format!("`{other}`"),
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.len() {
        0 => "something else".to_string(),
        1 => words.remove(0),
        n if n > 6 => {
            let shown = words[..5].join(", ");
            format!("{shown} or another token")
        }
        _ => {
            let last = words.pop().unwrap_or_default();
            format!("{} or {last}", words.join(", "))
        }
    }
}

const CONTINUATIONS: &[&str] = &[
    "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "??", "&", "is", ".",
    "(", "[", "?", "|",
];

fn is_expr_start_word(raw: &str) -> bool {
    matches!(
        raw,
        "duration" | "true" | "false" | "null" | "{" | "-" | "if"
    )
}

/// Orders diagnostics by position and drops parser errors that follow
/// another error on the same line: after recovery they are usually echoes
/// of the first mistake.
pub(crate) fn tidy(source: &str, mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if diags.is_empty() {
        return diags;
    }
    diags.sort_by_key(|d| (d.primary.range.start, d.primary.range.end));
    diags.dedup_by(|b, a| a.code == b.code && a.primary.range == b.primary.range);
    let index = LineIndex::new(source);
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    let mut last_line: Option<u32> = None;
    for diag in diags {
        let line = index.line_col(diag.primary.range.start).line;
        let is_parse = diag.code.as_str() >= codes::UNEXPECTED_TOKEN;
        if is_parse && last_line == Some(line) {
            continue;
        }
        // After a first error, recovery often leaves a closing delimiter
        // with nothing to close: an echo, not a new mistake.
        // A missing value before the closer (`mode = }`) is a mistake of
        // its own.
        let text = source.get(diag.primary.range.clone()).unwrap_or("");
        let wants_value = diag.message.starts_with("expected an expression");
        // A closer with no opener anywhere before it (E0023) is a mistake
        // of its own too.
        let unmatched = diag.code == codes::UNMATCHED_CLOSE;
        if is_parse
            && !out.is_empty()
            && matches!(text, "}" | ")" | "]")
            && !wants_value
            && !unmatched
        {
            continue;
        }
        last_line = Some(line);
        out.push(diag);
    }
    out
}
