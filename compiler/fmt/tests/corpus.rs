//! Every valid mc program in the repository formats to a fixed point with
//! an unchanged tree and every comment kept; files with syntax errors are
//! refused.

mod common;

use common::{check_format, mc_files, repo_root};

#[test]
fn every_program_in_the_repository() {
    let root = repo_root();
    let mut formatted = 0;
    let mut refused = 0;
    for dir in [
        "examples",
        "stdlib",
        "grammar/tests",
        "tests",
        "compiler/tests",
        "compiler/fmt/tests",
    ] {
        for path in mc_files(&root.join(dir)) {
            // Some malformed inputs are not even UTF-8: the CLI rejects those.
            let Ok(src) = std::fs::read_to_string(&path) else {
                continue;
            };
            let name = path.display().to_string();
            if mc_grammar::parse(&src).errors.is_empty() {
                check_format(&name, &src, mc_fmt::DEFAULT_WIDTH);
                check_format(&name, &src, 40);
                formatted += 1;
            } else {
                let err =
                    mc_fmt::format(&src, mc_fmt::DEFAULT_WIDTH).expect_err("broken file refused");
                assert!(!err.is_empty());
                refused += 1;
            }
        }
    }
    assert!(formatted >= 15, "only {formatted} valid programs found");
    assert!(refused >= 10, "only {refused} malformed programs found");
}
