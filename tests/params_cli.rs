//! `param` items set with `--var NAME=VALUE`: typed and checked on `mc
//! check`, recorded in the plan, and refused when applying a plan file.

use std::path::Path;
use std::process::{Command, Output};

fn mc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn vars_are_typed_checked_and_recorded_in_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.txt");
    std::fs::write(
        dir.path().join("main.mc"),
        format!(
            "param port: Int = 8080\nparam env: \"dev\" | \"prod\" = \"dev\"\nhost \"local\" {{ transport = \"local\" }}\non all {{ file {:?} {{ content = \"${{env}} ${{port}}\\n\" }} }}\n",
            target.display().to_string()
        ),
    )
    .unwrap();
    let ok = mc(&["check", "--var", "port=9090"], dir.path());
    assert!(ok.status.success(), "{}", text(&ok));
    let bad = mc(&["check", "--var", "port=abc"], dir.path());
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("--var port=abc") && text(&bad).contains("expected Int"),
        "{}",
        text(&bad)
    );
    let unknown = mc(&["check", "--var", "prot=1"], dir.path());
    assert!(
        text(&unknown).contains("E0315") && text(&unknown).contains("did you mean `port`"),
        "{}",
        text(&unknown)
    );
    let malformed = mc(&["check", "--var", "port"], dir.path());
    assert!(
        text(&malformed).contains("is not NAME=VALUE"),
        "{}",
        text(&malformed)
    );

    let state = dir.path().join("state.db");
    let plan = mc(
        &[
            "plan",
            "--var",
            "env=prod",
            "--var",
            "port=1",
            "-o",
            "plan.json",
            "--state",
            state.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(text(&plan).contains("prod 1"), "{}", text(&plan));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved["vars"],
        serde_json::json!({"env": "prod", "port": "1"})
    );

    let refused = mc(&["apply", "plan.json", "--var", "port=2"], dir.path());
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("applied with the values it was planned with"),
        "{}",
        text(&refused)
    );
}
