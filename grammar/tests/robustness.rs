//! The lexer and parser never panic and always terminate: arbitrary bytes,
//! token soups and mutated valid programs. Case counts are bounded so this
//! runs in seconds; each run is also bounded in wall time by a watchdog
//! that fails the test instead of hanging it.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::sync::mpsc;
use std::time::Duration;

/// Cases per property; `MC_FUZZ_CASES=20000` runs a deeper search locally.
fn cases() -> u32 {
    std::env::var("MC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn bound() -> Duration {
    Duration::from_secs(120).max(Duration::from_millis(u64::from(cases()) * 20))
}

/// Parses and checks the invariants every consumer relies on.
fn check(src: &str) {
    let lexed = mc_grammar::lexer::lex(src);
    for (l, _, r) in &lexed.tokens {
        assert!(l <= r && *r <= src.len());
    }
    let parsed = mc_grammar::parse(src);
    assert_eq!(parsed.module.span.end as usize, src.len());
    for item in &parsed.module.items {
        assert!(item.span().end as usize <= src.len());
    }
    for diag in &parsed.errors {
        assert!(diag.primary.range.end <= src.len(), "{diag:?}");
        assert!(diag.code.starts_with("E00"), "{diag:?}");
        // Rendering must not panic either.
        let sources = mc_diagnostics::SingleSource {
            file: "",
            text: src,
        };
        let _ = diag.render(&sources, false);
    }
    // A clean parse is also a strict parse.
    assert_eq!(
        parsed.errors.is_empty(),
        mc_grammar::parse_strict(src).is_ok()
    );
}

/// Runs `f` on another thread and fails if it does not finish in time.
fn bounded(name: &'static str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(bound()) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: surface its message.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: did not finish within {:?}", bound())
        }
    }
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn arbitrary_bytes() {
    bounded("arbitrary_bytes", || {
        runner()
            .run(&proptest::collection::vec(any::<u8>(), 0..400), |bytes| {
                check(&String::from_utf8_lossy(&bytes));
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

const VOCABULARY: &[&str] = &[
    "import", "as", "let", "type", "fn", "builtin", "role", "on", "policy", "when", "resource",
    "check", "project", "if", "else", "for", "in", "is", "true", "false", "null", "host", "group",
    "all", "file", "x", "y", "{", "}", "(", ")", "[", "]", ",", ".", ":", ";", "=", "==", "!=",
    "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "!", "&&", "||", "??", "?", "&", "|", "->",
    "\"", "\"\"\"", "\"a${", "${", "\"s\"", "42", "0o644", "30s", "9x", "//c\n", "/*", "*/",
    "///d\n", "\\", "\n", "@", "é",
];

#[test]
fn token_soups() {
    bounded("token_soups", || {
        let token = proptest::sample::select(VOCABULARY);
        let sep = proptest::sample::select(&[" ", "", "\n"][..]);
        runner()
            .run(&proptest::collection::vec((token, sep), 0..120), |parts| {
                let src: String = parts.iter().flat_map(|(t, s)| [*t, *s]).collect();
                check(&src);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

fn valid_programs() -> Vec<String> {
    let mut programs = vec![include_str!("all_syntax.mc").to_string()];
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut stack = vec![examples];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "mc") {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    programs.push(text);
                }
            }
        }
    }
    programs
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, &'static str),
    Duplicate(usize, usize),
}

fn apply(src: &str, mutation: &Mutation) -> String {
    let at = |n: usize| {
        let mut n = n % (src.len() + 1);
        while !src.is_char_boundary(n) {
            n -= 1;
        }
        n
    };
    match *mutation {
        Mutation::Delete(a, len) => {
            let start = at(a);
            let end = at(start + len % 40).max(start);
            format!("{}{}", &src[..start], &src[end..])
        }
        Mutation::Insert(a, text) => {
            let pos = at(a);
            format!("{}{}{}", &src[..pos], text, &src[pos..])
        }
        Mutation::Duplicate(a, len) => {
            let start = at(a);
            let end = at(start + len % 60).max(start);
            format!("{}{}", &src[..end], &src[start..])
        }
    }
}

#[test]
fn mutated_valid_programs() {
    let programs = valid_programs();
    assert!(programs.len() >= 5, "examples not found");
    for program in &programs {
        check(program);
    }
    bounded("mutated_valid_programs", move || {
        let mutation = prop_oneof![
            (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Mutation::Delete(a, l)),
            (any::<usize>(), proptest::sample::select(VOCABULARY))
                .prop_map(|(a, t)| Mutation::Insert(a, t)),
            (any::<usize>(), any::<usize>()).prop_map(|(a, l)| Mutation::Duplicate(a, l)),
        ];
        let strategy = (0..programs.len(), proptest::collection::vec(mutation, 1..6));
        runner()
            .run(&strategy, |(which, mutations)| {
                let mut src = programs[which].clone();
                for m in &mutations {
                    src = apply(&src, m);
                }
                check(&src);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let nest = |depth: usize| format!("let x = {}1{}", "(".repeat(depth), ")".repeat(depth));
    bounded("deep_nesting", move || {
        assert!(mc_grammar::parse(&nest(200)).errors.is_empty());
        for src in [nest(100_000), format!("let x = {}1", "!".repeat(100_000))] {
            let parsed = mc_grammar::parse(&src);
            let codes: Vec<&str> = parsed.errors.iter().map(|d| d.code.as_str()).collect();
            assert_eq!(codes, ["E0028"]);
            assert_eq!(parsed.module.items.len(), 1);
        }
    });
}
