//! The generated docs are up to date. With `UPDATE_DOCS=1` the test
//! rewrites them instead of failing.

use std::path::Path;

fn check(rel: &str, expected: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, expected).expect("write docs");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == expected,
        "{rel} is out of date: run `UPDATE_DOCS=1 cargo test -p mc-compiler --test docs`"
    );
}

#[test]
fn stdlib_reference_is_up_to_date() {
    let md = mc_compiler::docs::stdlib_markdown();
    for ty in [
        "file",
        "directory",
        "link",
        "line",
        "package",
        "service",
        "user",
        "group",
        "command",
        "cron",
        "sysctl",
        "http_check",
        "download",
        "archive",
        "git",
        "firewall_rule",
        "systemd_unit",
        "mount",
    ] {
        assert!(md.contains(&format!("### `{ty}`")), "{ty} documented");
    }
    assert!(md.contains("| `content` | `Secret?` |"));
    check("docs/stdlib.md", &md);
}

#[test]
fn diagnostics_index_is_up_to_date() {
    let md = mc_compiler::docs::diagnostics_markdown();
    for (code, _, _) in mc_compiler::CODES {
        assert!(md.contains(&format!("## {code}")));
    }
    check("docs/diagnostics.md", &md);
}
