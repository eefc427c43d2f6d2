//! `--format sarif` on `mc check`, `mc plan` and `mc drift`, validated
//! against the SARIF 2.1.0 JSON schema (tests/data, from OASIS).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn mc() -> Command {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "mc-runner", "--bin", "mc-runner"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build for mc-runner");
        assert!(status.success(), "building mc-runner failed");
    });
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mc"));
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs `cmd`, checks that stdout is a valid SARIF 2.1.0 log, returns the
/// exit status and the log's results.
fn sarif(cmd: &mut Command) -> (i32, Vec<serde_json::Value>) {
    let out = cmd.output().expect("running mc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let schema_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json");
    // The published schema's `language` pattern has a stray `]` that a
    // strict regex engine rejects; it is the only one, and mc never sets
    // `language`.
    let text = std::fs::read_to_string(schema_path).unwrap().replace(
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
        r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#,
    );
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().unwrap().clone();
    (out.status.code().unwrap_or(-1), results)
}

fn region(result: &serde_json::Value) -> (&str, u64) {
    let loc = &result["locations"][0]["physicalLocation"];
    (
        loc["artifactLocation"]["uri"].as_str().unwrap(),
        loc["region"]["startLine"].as_u64().unwrap(),
    )
}

#[test]
fn check_reports_each_diagnostic_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.mc"),
        "host \"a\" {\n  transport = \"local\"\n}\n\nimport \"bad.mc\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.mc"), "let a = 1\nlet b =\n").unwrap();
    let (code, results) = sarif(
        mc().arg("check")
            .arg(dir.path())
            .args(["--format", "sarif"]),
    );
    assert_eq!(code, 1);
    assert!(!results.is_empty());
    let r = &results[0];
    assert!(r["ruleId"].as_str().unwrap().starts_with('E'), "{r}");
    assert_eq!(r["level"], "error");
    assert_eq!(region(r), ("bad.mc", 2));

    // A clean project is a valid log with no results.
    std::fs::write(dir.path().join("bad.mc"), "let a = 1\n").unwrap();
    let (code, results) = sarif(
        mc().arg("check")
            .arg(dir.path())
            .args(["--format", "sarif"]),
    );
    assert_eq!(code, 0);
    assert!(results.is_empty(), "{results:?}");
}

/// The 1-based line of `main.mc` that declares the file resource.
fn file_line(dir: &Path) -> u64 {
    let src = std::fs::read_to_string(dir.join("main.mc")).unwrap();
    1 + src
        .lines()
        .position(|l| l.trim_start().starts_with("file "))
        .unwrap() as u64
}

fn project(dir: &Path, content: &str, policy: &str) {
    let f = dir.join("out/app.conf");
    std::fs::write(
        dir.join("main.mc"),
        format!(
            "host \"box\" {{\n  transport = \"local\"\n}}\n\n{policy}\n\non all {{\n  directory \"{}\" {{}}\n  file \"{}\" {{\n    content = \"{content}\\n\"\n  }}\n}}\n",
            dir.join("out").display(),
            f.display()
        ),
    )
    .unwrap();
}

#[test]
fn plan_reports_policy_findings_at_the_resource() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "policy \"frozen config\" {\n  when change.resource is file {\n    deny(\"config is frozen\")\n  }\n}\n";
    project(dir.path(), "v1", policy);
    let (code, results) = sarif(mc().arg("plan").arg(dir.path()).args(["--format", "sarif"]));
    assert_eq!(code, 1, "a denied plan fails");
    assert_eq!(results.len(), 1, "{results:?}");
    let r = &results[0];
    assert_eq!(r["ruleId"], "frozen config");
    assert_eq!(r["level"], "error");
    assert!(r["message"]["text"]
        .as_str()
        .unwrap()
        .contains("config is frozen"));
    assert_eq!(r["properties"]["host"], "box");
    let (file, line) = region(r);
    assert_eq!(file, "main.mc");
    assert_eq!(line, file_line(dir.path()), "the file resource's line");
}

#[test]
fn drift_reports_each_hand_edited_resource() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "v1",
        "project {\n  approval_risk = \"none\"\n}\n",
    );
    let applied = mc()
        .arg("apply")
        .arg("--yes")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(applied.status.success(), "{applied:?}");
    let (code, results) = sarif(
        mc().arg("drift")
            .arg(dir.path())
            .args(["--format", "sarif"]),
    );
    assert_eq!(code, 0);
    assert!(results.is_empty());

    std::fs::write(dir.path().join("out/app.conf"), "edited by hand\n").unwrap();
    let (code, results) = sarif(
        mc().arg("drift")
            .arg(dir.path())
            .args(["--format", "sarif"]),
    );
    assert_eq!(code, 2, "drift found");
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["ruleId"], "drift");
    assert_eq!(results[0]["level"], "warning");
    assert_eq!(region(&results[0]), ("main.mc", file_line(dir.path())));
}
