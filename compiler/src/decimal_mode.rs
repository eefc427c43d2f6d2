//! `mode = 644` is Ansible's classic footgun: a decimal number where an
//! octal mode was meant (644 is 0o1204). Any `mode = N` written in decimal
//! (other than 0) is an error, with the `0o` spelling as a quick fix when
//! the digits are octal ones.

use crate::diag::{Diag, Loc};
use mc_grammar::lexer::{lex, Tok};
use mc_grammar::span::Span;
use std::sync::Arc;

/// Every `mode = <decimal literal>` (attribute, record field or argument) in `text`,
/// one item's source; spans are relative to it.
pub fn check(text: &str, path: &Arc<str>) -> Vec<Diag> {
    let tokens = lex(text).tokens;
    let mut out = Vec::new();
    for w in tokens.windows(3) {
        let [(_, Tok::Ident("mode"), _), (_, Tok::Eq, _), (start, Tok::Int(value), end)] = w else {
            continue;
        };
        let written = text.get(*start..*end).unwrap_or_default();
        if *value == 0 || !is_decimal(written) {
            continue;
        }
        out.push(diagnostic(
            path,
            Span::new(*start as u32, *end as u32),
            written,
        ));
    }
    out
}

/// `644` and `1_000` are decimal; `0o644`, `0x1a4` and `0b1` are not.
fn is_decimal(written: &str) -> bool {
    let lower = written.to_ascii_lowercase();
    !(lower.starts_with("0o") || lower.starts_with("0x") || lower.starts_with("0b"))
}

fn diagnostic(path: &Arc<str>, span: Span, written: &str) -> Diag {
    let digits: String = written.chars().filter(|c| *c != '_').collect();
    let loc = Loc::new(path, span);
    let d = Diag::error(
        "E0230",
        loc.clone(),
        format!("mode `{written}` is a decimal number; permission modes are octal"),
    )
    .label(format!(
        "this is decimal {written}, i.e. mode 0o{:o}",
        digits.parse::<i64>().unwrap_or_default()
    ));
    let octal_digits = digits.len() <= 4 && digits.chars().all(|c| ('0'..='7').contains(&c));
    if octal_digits {
        d.fix(loc, format!("0o{digits}"), format!("write `0o{digits}`"))
    } else {
        d.note("write the mode in octal, e.g. `0o644` or `0o755`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diags(src: &str) -> Vec<Diag> {
        check(src, &Arc::from("main.mc"))
    }

    #[test]
    fn decimal_modes_are_errors_with_the_octal_fix() {
        let src = "file \"/a\" {\n  mode = 644\n}\n";
        let d = diags(src);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "E0230");
        assert!(d[0].label.contains("0o1204"), "{}", d[0].label);
        let fix = d[0].fix.as_ref().unwrap();
        assert_eq!(fix.replacement, "0o644");
        assert_eq!(
            &src[fix.loc.span.start as usize..fix.loc.span.end as usize],
            "644"
        );
    }

    #[test]
    fn octal_zero_and_other_fields_pass() {
        assert!(diags("file \"/a\" {\n  mode = 0o644\n}\n").is_empty());
        assert!(diags("file \"/a\" {\n  mode = 0\n}\n").is_empty());
        assert!(diags("user \"a\" {\n  uid = 644\n}\n").is_empty());
    }

    #[test]
    fn digits_that_are_not_octal_get_a_note_instead() {
        let d = diags("f(mode = 999)");
        assert_eq!(d.len(), 1);
        assert!(d[0].fix.is_none());
        assert!(d[0].notes[0].contains("0o644"));
    }
}
