//! String literal assembly: multi-line indentation stripping and escape
//! decoding. The lexer has already reported bad escapes, so decoding here is
//! lenient.

use crate::ast::{Expr, StrPart, StringExpr};
use crate::span::Span;

/// A raw piece of a string literal, as the grammar sees it.
pub enum Piece<'a> {
    Text(&'a str, Span),
    Interp(Expr),
}

enum Seg {
    Text(String, Span),
    Interp(Expr),
}

/// Builds a string expression from its pieces. For `"""` strings: a first
/// line holding only whitespace is dropped, trailing whitespace before the
/// closing quotes is dropped, and the common indentation of the remaining
/// lines is stripped.
pub fn build_string(triple: bool, pieces: Vec<Piece<'_>>, span: Span) -> StringExpr {
    if !triple {
        // The common case: no dedenting, so decode each piece in place.
        let parts = pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text(raw, span) => StrPart::Text {
                    value: unescape(raw),
                    span,
                },
                Piece::Interp(e) => StrPart::Interp(Box::new(e)),
            })
            .collect();
        return StringExpr {
            parts,
            multiline: false,
            span,
        };
    }
    let mut segs: Vec<Seg> = pieces
        .into_iter()
        .map(|p| match p {
            Piece::Text(t, s) => Seg::Text(t.to_string(), s),
            Piece::Interp(e) => Seg::Interp(e),
        })
        .collect();
    dedent(&mut segs);
    let mut parts: Vec<StrPart> = Vec::new();
    for seg in segs {
        match seg {
            Seg::Text(raw, seg_span) => {
                if raw.is_empty() {
                    continue;
                }
                let value = unescape(&raw);
                if let Some(StrPart::Text {
                    value: prev,
                    span: prev_span,
                }) = parts.last_mut()
                {
                    prev.push_str(&value);
                    *prev_span = prev_span.to(seg_span);
                } else {
                    parts.push(StrPart::Text {
                        value,
                        span: seg_span,
                    });
                }
            }
            Seg::Interp(e) => parts.push(StrPart::Interp(Box::new(e))),
        }
    }
    StringExpr {
        parts,
        multiline: true,
        span,
    }
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(|b| b == b' ' || b == b'\t' || b == b'\r')
}

fn leading_ws(s: &str) -> usize {
    s.bytes().take_while(|&b| b == b' ' || b == b'\t').count()
}

fn dedent(segs: &mut [Seg]) {
    // Drop the line break right after the opening quotes.
    if let Some(Seg::Text(first, _)) = segs.first_mut() {
        if let Some(nl) = first.find('\n') {
            if is_blank(&first[..nl]) {
                first.drain(..=nl);
            }
        }
    }
    // Drop the indentation of the closing quotes, keeping the last newline.
    if let Some(Seg::Text(last, _)) = segs.last_mut() {
        if let Some(nl) = last.rfind('\n') {
            if is_blank(&last[nl + 1..]) {
                last.truncate(nl + 1);
            }
        }
    }
    // Common indentation of lines that hold something.
    let mut indent: Option<usize> = None;
    let mut at_line_start = true;
    let count = segs.len();
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            Seg::Interp(_) => {
                if at_line_start {
                    indent = Some(0);
                }
                at_line_start = false;
            }
            Seg::Text(text, _) => {
                let lines: Vec<&str> = text.split('\n').collect();
                let last = lines.len() - 1;
                for (k, line) in lines.iter().enumerate() {
                    let starts_line = k > 0 || at_line_start;
                    if starts_line {
                        let continues_into_interp =
                            k == last && i + 1 < count && matches!(segs[i + 1], Seg::Interp(_));
                        let blank = is_blank(line);
                        if !blank || continues_into_interp {
                            let n = leading_ws(line);
                            indent = Some(indent.map_or(n, |m| m.min(n)));
                        }
                    }
                }
                at_line_start = text.ends_with('\n') || (at_line_start && text.is_empty());
            }
        }
    }
    let Some(indent) = indent.filter(|&n| n > 0) else {
        return;
    };
    let mut at_line_start = true;
    for seg in segs.iter_mut() {
        match seg {
            Seg::Interp(_) => at_line_start = false,
            Seg::Text(text, _) => {
                let mut out = String::with_capacity(text.len());
                for (k, line) in text.split('\n').enumerate() {
                    if k > 0 {
                        out.push('\n');
                    }
                    if k > 0 || at_line_start {
                        let strip = leading_ws(line).min(indent);
                        out.push_str(&line[strip..]);
                    } else {
                        out.push_str(line);
                    }
                }
                at_line_start = text.ends_with('\n') || (at_line_start && text.is_empty());
                *text = out;
            }
        }
    }
}

/// Decodes `\n \t \r \\ \" \$ \0 \u{…}`; anything else is kept as written.
pub fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().map(|&(_, c)| c) {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('$') => out.push('$'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let rest = &raw[i + 2..];
                let decoded = rest.strip_prefix('{').and_then(|body| {
                    let close = body.find('}')?;
                    let c = u32::from_str_radix(&body[..close], 16)
                        .ok()
                        .and_then(char::from_u32)?;
                    Some((c, close + 2))
                });
                match decoded {
                    Some((c, len)) => {
                        out.push(c);
                        chars.next();
                        // Skip the `{…}` body.
                        for _ in 0..rest[..len].chars().count() {
                            chars.next();
                        }
                        continue;
                    }
                    None => {
                        out.push('\\');
                        continue;
                    }
                }
            }
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes() {
        assert_eq!(unescape(r#"a\n\t\\\"\$b"#), "a\n\t\\\"$b");
        assert_eq!(unescape(r"\u{41}\u{1F600}!"), "A😀!");
        assert_eq!(unescape(r"\q\u{zz}"), r"\q\u{zz}");
    }

    fn text(triple: bool, raw: &str) -> String {
        let s = build_string(
            triple,
            vec![Piece::Text(raw, Span::new(0, 0))],
            Span::new(0, 0),
        );
        s.as_plain().unwrap_or_default()
    }

    #[test]
    fn dedents_multiline() {
        assert_eq!(
            text(true, "\n    a\n      b\n\n    c\n    "),
            "a\n  b\n\nc\n"
        );
        assert_eq!(text(true, "one line"), "one line");
        assert_eq!(text(true, "\n\ta\n\tb"), "a\nb");
        assert_eq!(text(false, "\n    a"), "\n    a");
    }

    #[test]
    fn dedent_with_interpolation_at_line_start() {
        let pieces = vec![
            Piece::Text("\n    x = ", Span::new(0, 0)),
            Piece::Interp(Expr::Null(Span::new(0, 0))),
            Piece::Text("\n    y\n  ", Span::new(0, 0)),
        ];
        let s = build_string(true, pieces, Span::new(0, 0));
        match (&s.parts[0], &s.parts[2]) {
            (StrPart::Text { value: a, .. }, StrPart::Text { value: b, .. }) => {
                assert_eq!(a, "x = ");
                assert_eq!(b, "\ny\n");
            }
            other => panic!("unexpected parts {other:?}"),
        }
    }
}
