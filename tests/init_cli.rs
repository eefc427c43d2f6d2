//! `mc init` makes a project that checks clean and compiles, and never
//! overwrites an existing one.

use std::process::Command;

fn mc(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run mc")
}

#[test]
fn init_creates_a_project_that_checks_and_compiles() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = mc(&["init", "site"], tmp.path());
    assert!(out.status.success(), "{out:?}");
    let project = tmp.path().join("site");
    assert!(project.join("main.mc").is_file());
    assert_eq!(
        std::fs::read_to_string(project.join(".gitignore")).expect("gitignore"),
        "# mc's local state store (runs, plans, audit log)\n/.mc/\n"
    );

    let check = mc(&["check", "site"], tmp.path());
    assert!(check.status.success(), "{check:?}");
    let compile = mc(
        &["compile", "site", "--host", "localhost", "--json"],
        tmp.path(),
    );
    assert!(compile.status.success(), "{compile:?}");
    let catalog: serde_json::Value = serde_json::from_slice(&compile.stdout).expect("json");
    assert_eq!(catalog["resources"][0]["id"], "file[/tmp/mc-hello.txt]");
    assert_eq!(
        catalog["resources"][0]["attrs"]["content"],
        "Hello from localhost, managed by mc\n"
    );
}

#[test]
fn init_refuses_an_existing_project() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("main.mc"), "// mine\n").expect("write");
    let out = mc(&["init"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("main.mc")).expect("read"),
        "// mine\n"
    );
}
