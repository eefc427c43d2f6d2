//! Ctrl-C during `mc apply`, typed into a real terminal (a private tmux
//! server) running the real binary: the first stops new work and lets the
//! running command finish, the second ends it; either way the run is
//! recorded `interrupted`, the lock is free, and no command is left behind.

use mc_testfleet::tmux::{wait_until, Tmux};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

fn mc_path() -> &'static Path {
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
    Path::new(env!("CARGO_BIN_EXE_mc"))
}

fn mc(args: &[&str]) -> String {
    let out = Command::new(mc_path())
        .args(args)
        .output()
        .expect("running mc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A slow command (`sleep SECS`, marked by the unusual duration so the test
/// can look for it) that signals when it has started, then a second command
/// that depends on it.
fn project(dir: &Path, secs: &str) {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let o = out.display();
    std::fs::write(
        dir.join("main.mc"),
        format!(
            r#"host "localhost" {{
  transport = "local"
}}

on host("localhost") {{
  command "slow" {{
    run = "touch {o}/started; sleep {secs}; touch {o}/first-done"
    creates = "{o}/first-done"
  }}
  command "after" {{
    run = "touch {o}/second"
    creates = "{o}/second"
    requires = [command("slow")]
  }}
}}
"#
        ),
    )
    .unwrap();
}

/// Whether a process whose command line contains `needle` is running.
fn running(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| {
                let line = String::from_utf8_lossy(&c).replace('\0', " ");
                line.contains(needle) && !line.contains("touch")
            })
            .unwrap_or(false)
    })
}

fn last_run(dir: &Path) -> serde_json::Value {
    let out = mc(&["-C", dir.to_str().unwrap(), "runs", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    doc["runs"][0].clone()
}

fn assert_no_locks(dir: &Path) {
    let out = mc(&["-C", dir.to_str().unwrap(), "state", "locks"]);
    assert_eq!(out.trim(), "no locks held");
}

#[test]
fn first_ctrl_c_lets_the_running_command_finish_and_starts_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "2.25");
    let tmux = Tmux::new(dir.path());
    tmux.start("a", dir.path(), mc_path(), &["apply", "--yes", "."]);
    let out = dir.path().join("out");
    wait_until("the slow command to start", || out.join("started").exists());
    tmux.keys("a", &["C-c"]);
    let status = tmux.wait_exit("a");
    let screen = tmux.history("a");
    assert_eq!(status, 130, "{screen}");
    assert!(
        out.join("first-done").exists(),
        "the running command finished: {screen}"
    );
    assert!(
        !out.join("second").exists(),
        "nothing new started: {screen}"
    );
    assert!(
        screen.contains("command[after] skipped: not started: interrupted"),
        "{screen}"
    );
    assert_eq!(last_run(dir.path())["status"], "interrupted");
    assert_no_locks(dir.path());
    // The next apply finishes the job.
    let done = Command::new(mc_path())
        .args(["apply", "--yes"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(done.status.success());
    assert!(out.join("second").exists());
}

#[test]
fn second_ctrl_c_aborts_and_ends_the_running_command() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "47.125");
    let tmux = Tmux::new(dir.path());
    tmux.start("b", dir.path(), mc_path(), &["apply", "--yes", "."]);
    let out = dir.path().join("out");
    wait_until("the slow command to start", || out.join("started").exists());
    tmux.keys("b", &["C-c"]);
    tmux.wait_for("b", "the interrupt notice", |s| s.contains("Interrupted:"));
    tmux.keys("b", &["C-c"]);
    let status = tmux.wait_exit("b");
    assert_eq!(status, 130, "{}", tmux.history("b"));
    wait_until("the runner to end the command", || !running("sleep 47.125"));
    assert!(!out.join("first-done").exists());
    assert!(!out.join("second").exists());
    let run = last_run(dir.path());
    assert_eq!(run["status"], "interrupted", "{run}");
    assert_no_locks(dir.path());
}
