//! Golden files: each `fixtures/NAME.mc` formats to `fixtures/NAME.expected`,
//! which is itself a fixed point with the same tree and comments.

mod common;

use common::check_format;
use std::path::Path;

fn fixtures() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mc"))
        .collect();
    out.sort();
    out
}

#[test]
fn fixtures_match_their_expected_output() {
    let files = fixtures();
    assert!(files.len() >= 3, "fixtures missing");
    for path in files {
        let src = std::fs::read_to_string(&path).expect("fixture");
        let name = path.display().to_string();
        let out = check_format(&name, &src, mc_fmt::DEFAULT_WIDTH);
        let expected_path = path.with_extension("expected");
        if std::env::var_os("MC_FMT_BLESS").is_some() {
            std::fs::write(&expected_path, &out).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!(
                "{}: missing; run with MC_FMT_BLESS=1",
                expected_path.display()
            )
        });
        assert_eq!(out, expected, "{name}");
        assert_eq!(
            check_format(&name, &expected, mc_fmt::DEFAULT_WIDTH),
            expected
        );
    }
}
