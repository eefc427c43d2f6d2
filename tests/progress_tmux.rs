//! Progress as a user sees it: results as each resource finishes, in a real
//! terminal (a private tmux server) and through a pipe.

use mc_testfleet::tmux::{wait_until, Tmux};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
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

/// A file, then a command that waits for `out/go` (so the test decides
/// when it ends), then another file.
fn project(dir: &Path) {
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
  file "{o}/first" {{
    content = "1\n"
  }}
  command "wait" {{
    run = "touch {o}/waiting; while [ ! -e {o}/go ]; do sleep 0.05; done"
    creates = "{o}/go"
  }}
  file "{o}/last" {{
    content = "3\n"
  }}
}}
"#
        ),
    )
    .unwrap();
}

/// Lets the command end after `secs` whatever happens, so a failing test
/// fails instead of hanging.
fn release_later(out: &Path, secs: u64) {
    let go = out.join("go");
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        let _ = std::fs::write(go, "");
    });
}

#[test]
fn a_terminal_shows_each_result_and_the_host_bar_while_the_host_is_still_applying() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let out = dir.path().join("out");
    release_later(&out, 60);
    let tmux = Tmux::new(dir.path());
    tmux.start(
        "p",
        dir.path(),
        mc_path(),
        &["apply", "--yes", "--color", "always", "."],
    );
    wait_until("the command to start", || out.join("waiting").exists());
    let screen = tmux.wait_for("p", "the first result and the bar", |s| {
        s.contains("file[") && s.contains("changed") && s.contains("▸ command[wait]")
    });
    let bar = screen
        .lines()
        .find(|l| l.contains("▸ command[wait]"))
        .unwrap();
    assert!(bar.starts_with("localhost"), "{screen}");
    assert!(bar.contains("1/3"), "one of three done: {screen}");
    assert!(bar.contains("1 changed, 0 failed, 0 skipped"), "{screen}");
    assert!(
        bar.trim_end().chars().count() <= 100,
        "fits the 100 columns: {screen}"
    );
    std::fs::write(out.join("go"), "").unwrap();
    assert_eq!(tmux.wait_exit("p"), 0, "{}", tmux.history("p"));
    let end = tmux.history("p");
    assert!(!end.contains("▸ command"), "the bars are cleared: {end}");
    assert!(end.contains("changed on 1 host"), "{end}");
}

#[test]
fn plain_lines_come_as_resources_finish_not_when_the_host_is_done() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let out = dir.path().join("out");
    release_later(&out, 30);
    let mut child = Command::new(mc_path())
        .args(["apply", "--yes"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("first] changed"))
        .expect("the first file's result");
    assert!(first.starts_with("localhost: file["), "{first}");
    assert!(
        !out.join("last").exists(),
        "the result came while the host was still applying"
    );
    std::fs::write(out.join("go"), "").unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success(), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("last] changed")), "{rest:?}");
}
