//! Property: on valid programs with random layout (white space, blank lines
//! and comments between tokens), formatting is a fixed point, keeps the tree
//! and keeps every comment.

mod common;

use common::{check_format, mc_files, repo_root};
use mc_grammar::lexer::{lex, Tok};
use proptest::prelude::*;

/// The valid programs of the repository.
fn seeds() -> Vec<String> {
    let root = repo_root();
    let mut out = Vec::new();
    for dir in [
        "examples",
        "stdlib",
        "grammar/tests",
        "compiler/fmt/tests/fixtures",
    ] {
        for p in mc_files(&root.join(dir)) {
            if let Ok(src) = std::fs::read_to_string(&p) {
                if mc_grammar::parse(&src).errors.is_empty() {
                    out.push(src);
                }
            }
        }
    }
    out
}

const GAPS: [&str; 8] = [
    " ",
    "\n",
    "\n\n\n",
    "  ",
    " /* c */ ",
    "\n// note\n",
    "\t",
    " // tail\n",
];

/// `src` with the white space and comments between code tokens replaced by
/// `choices` (cycled). String contents are left alone.
fn relayout(src: &str, choices: &[usize]) -> String {
    let tokens = lex(src).tokens;
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth_str = 0usize;
    let mut prev_end = 0usize;
    for (i, (start, tok, end)) in tokens.iter().enumerate() {
        let gap = &src[prev_end..*start];
        if depth_str == 0 && i > 0 && !choices.is_empty() {
            out.push_str(GAPS[choices[i % choices.len()] % GAPS.len()]);
        } else {
            out.push_str(gap);
        }
        out.push_str(&src[*start..*end]);
        match tok {
            Tok::StrStart(_) | Tok::InterpEnd => depth_str += 1,
            Tok::StrEnd | Tok::InterpStart => depth_str = depth_str.saturating_sub(1),
            _ => {}
        }
        prev_end = *end;
    }
    out.push('\n');
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn format_is_a_fixed_point(
        seed in any::<prop::sample::Index>(),
        choices in prop::collection::vec(0usize..GAPS.len(), 1..40),
        width in 20usize..120,
    ) {
        let seeds = seeds();
        let src = seeds[seed.index(seeds.len())].clone();
        let mutated = relayout(&src, &choices);
        // A comment before a `///` line changes what the doc comment attaches
        // to, but never makes the program invalid.
        prop_assume!(mc_grammar::parse(&mutated).errors.is_empty());
        check_format("mutated", &mutated, width);
    }
}

#[test]
fn relayout_keeps_programs_valid() {
    let seeds = seeds();
    assert!(seeds.len() >= 10);
    for src in &seeds {
        let mutated = relayout(src, &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert!(mc_grammar::parse(&mutated).errors.is_empty(), "{mutated}");
    }
}
