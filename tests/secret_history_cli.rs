//! A file that held a secret and is changed to plain text: the host still
//! holds the old secret until the apply, so neither the plan printed, nor
//! its JSON, nor the plan file, nor the state store may show it. Replayed
//! on the local transport with the real `mc`.

mod common;

use std::path::Path;
use std::process::Command;

const SECRET: &str = "Hist0ric-S3cret-V4lue";

fn mc(project: &Path) -> Command {
    let mut cmd = common::mc("secret-history");
    cmd.env("MC_SECRET_TOKEN", SECRET).current_dir(project);
    cmd
}

fn write_project(project: &Path, target: &Path, content: &str) {
    let main = format!(
        "host \"localhost\" {{ transport = \"local\" }}\n\
         on host(\"localhost\") {{\n  file \"{}\" {{ content = {content} }}\n}}\n",
        target.display()
    );
    std::fs::write(project.join("main.mc"), main).expect("write main.mc");
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(SECRET),
        "{what} shows the old secret:\n{text}"
    );
}

#[test]
fn a_secret_replaced_by_plain_text_is_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("proj");
    std::fs::create_dir(&project).expect("mkdir");
    let target = dir.path().join("app.conf");

    write_project(&project, &target, r#""token=${secret("token")}\n""#);
    let (code, out, err) = common::run(mc(&project).args(["apply", "--yes", "."]));
    assert_eq!(code, 0, "{out}{err}");
    let on_host = std::fs::read_to_string(&target).expect("read");
    assert_eq!(on_host, format!("token={SECRET}\n"));

    // Now plain: the plan must not diff against what the host holds.
    write_project(&project, &target, r#""token=public\n""#);
    let (code, out, err) = common::run(mc(&project).args(["plan", ".", "-o", "plan.json"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("file["), "the change is planned: {out}");
    assert_no_secret("mc plan", &format!("{out}{err}"));
    let plan_file = std::fs::read_to_string(project.join("plan.json")).expect("plan file");
    assert_no_secret("the plan file", &plan_file);
    let (_, json, _) = common::run(mc(&project).args(["plan", ".", "--json"]));
    assert_no_secret("mc plan --json", &json);
    let db = std::fs::read(project.join(".mc/state.db")).expect("state.db");
    assert_no_secret("the state store", &String::from_utf8_lossy(&db));

    let (code, out, err) = common::run(mc(&project).args(["apply", "plan.json"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_no_secret("mc apply", &format!("{out}{err}"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "token=public\n");

    // Plain to plain: the host no longer holds a secret, so the diff is
    // shown again.
    write_project(&project, &target, r#""token=public2\n""#);
    let (code, out, err) = common::run(mc(&project).args(["plan", "."]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("-token=public"), "a plain diff: {out}");
    assert!(out.contains("+token=public2"), "a plain diff: {out}");
}
