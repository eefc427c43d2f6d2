//! Helpers shared by the formatter tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The syntax tree of `src` as text, with every span removed, so that two
/// layouts of one program compare equal.
pub fn ast_without_spans(src: &str) -> String {
    let parsed = mc_grammar::parse(src);
    assert!(
        parsed.errors.is_empty(),
        "parse errors: {:?}",
        parsed.errors
    );
    strip_spans(&format!("{:?}", parsed.module))
}

/// Removes `N..M` (how a span prints in Debug output).
fn strip_spans(debug: &str) -> String {
    let bytes = debug.as_bytes();
    let mut out = String::with_capacity(debug.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
        };
        let a = digits(i);
        let before_ok = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if a > 0 && before_ok && bytes.get(i + a..i + a + 2) == Some(b"..") {
            let b = digits(i + a + 2);
            if b > 0 {
                out.push('_');
                i += a + 2 + b;
                continue;
            }
        }
        let ch = debug[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.mc` file under `dir`, recursively, sorted.
pub fn mc_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mc") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Formats `src` and checks the three properties every output must have:
/// a fixed point, the same tree, and every comment kept. Returns the output.
pub fn check_format(name: &str, src: &str, width: usize) -> String {
    let once = mc_fmt::format(src, width).unwrap_or_else(|e| panic!("{name}: refused: {e:?}"));
    let twice = mc_fmt::format(&once, width)
        .unwrap_or_else(|e| panic!("{name}: output does not parse: {e:?}\n{once}"));
    assert_eq!(once, twice, "{name}: not idempotent");
    assert_eq!(
        ast_without_spans(src),
        ast_without_spans(&once),
        "{name}: tree changed:\n{once}"
    );
    let comments = |s: &str| -> Vec<String> {
        let parsed = mc_grammar::parse(s);
        parsed
            .trivia
            .iter()
            .filter(|t| t.kind != mc_grammar::TriviaKind::BlankLine)
            .map(|t| t.span.text(s).trim_end().to_string())
            .collect()
    };
    assert_eq!(
        comments(src),
        comments(&once),
        "{name}: comments changed:\n{once}"
    );
    once
}
