//! Command-line conventions as scripts and people coming from Terraform,
//! cargo and Ansible expect them, checked on the real `mc` binary: clean
//! JSON on stdout, closed pipes, colour, flags and words.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The real binary, with the runner built next to it for the commands that
/// reach (local) hosts.
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
    cmd.stdin(Stdio::null())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    cmd.env(
        "XDG_RUNTIME_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-conventions"),
    );
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("running mc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A project managing files under `root` on this machine.
fn project(root: &Path, files: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut src = String::from(
        "host \"localhost\" {\n  transport = \"local\"\n}\n\non host(\"localhost\") {\n",
    );
    for i in 0..files {
        src.push_str(&format!(
            "  file \"{}/f{i}\" {{\n    content = \"{i}\\n\"\n    mode = 0o644\n  }}\n",
            root.display()
        ));
    }
    src.push_str("}\n");
    std::fs::create_dir_all(root).unwrap();
    std::fs::write(dir.path().join("main.mc"), src).unwrap();
    dir
}

#[test]
fn apply_json_puts_only_the_json_document_on_stdout() {
    let root = tempfile::tempdir().unwrap();
    let p = project(root.path(), 2);
    let (code, out, err) = run(mc().args(["apply", "--yes", "--json"]).arg(p.path()));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}"));
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["changed"], 2);
    assert!(err.contains("+ file["), "the plan goes to stderr: {err}");
    // Nothing left to do: still one JSON document.
    let (code, out, _) = run(mc()
        .args(["apply", "--yes", "--format", "json"])
        .arg(p.path()));
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["changed"], 0, "{out}");
}

#[test]
fn every_json_document_carries_its_schema() {
    let root = tempfile::tempdir().unwrap();
    let p = project(root.path(), 1);
    let dir = p.path().to_str().unwrap();
    let (code, _, err) = run(mc().args(["apply", "--yes", dir]));
    assert_eq!(code, 0, "{err}");
    for args in [
        vec!["plan", "--json", dir],
        vec!["-C", dir, "runs", "--json"],
        vec!["-C", dir, "runs", "1", "--json"],
        vec!["-C", dir, "audit", "--json"],
        vec!["-C", dir, "audit", "verify", "--json"],
        vec!["-C", dir, "approve", "--json"],
        vec!["facts", dir],
        vec!["facts", "--cached", "--json", dir],
        vec!["compile", dir, "--host", "localhost", "--json"],
    ] {
        let (code, out, err) = run(mc().args(&args));
        assert_eq!(code, 0, "{args:?}: {err}");
        let doc: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {out}"));
        assert!(doc["schema"].is_u64(), "{args:?} has no schema: {out}");
    }
    // JSON lines: every line has it.
    std::fs::write(p.path().join("main.mc"), "let x = y\n").unwrap();
    let (code, out, _) = run(mc().args(["check", "--json", dir]));
    assert_eq!(code, 1);
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["schema"], 1, "{line}");
    }
}

/// Reads one line and closes the pipe, like `| head -1`.
fn first_line_then_close(cmd: &mut Command) -> (i32, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting mc");
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(141);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    let root = tempfile::tempdir().unwrap();
    let p = project(root.path(), 300);
    let dir = p.path().to_str().unwrap();
    // Enough runs and audit entries that the output outgrows the pipe.
    for _ in 0..3 {
        std::fs::remove_dir_all(root.path()).unwrap();
        std::fs::create_dir_all(root.path()).unwrap();
        let (code, _, err) = run(mc().args(["apply", "--yes", dir]));
        assert_eq!(code, 0, "{err}");
    }
    for args in [
        vec!["-C", dir, "runs", "--json"],
        vec!["-C", dir, "runs", "1", "--json"],
        vec!["-C", dir, "audit", "--json"],
        vec!["-C", dir, "audit"],
        vec!["plan", "--json", dir],
        vec!["compile", dir, "--host", "localhost"],
        vec!["explain", "E0101"],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["--help"],
    ] {
        let (code, err) = first_line_then_close(mc().args(&args));
        assert!(code == 0 || code == 141, "{args:?} exited {code}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn colour_follows_no_color_and_the_color_flag() {
    let root = tempfile::tempdir().unwrap();
    let p = project(root.path(), 1);
    let (_, out, _) = run(mc().args(["plan", "--color", "always"]).arg(p.path()));
    assert!(out.contains('\x1b'), "--color always colours: {out}");
    let (_, out, err) = run(mc()
        .args(["plan", "--color", "auto"])
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .arg(p.path()));
    assert!(!out.contains('\x1b') && !err.contains('\x1b'), "{out}{err}");
    let (_, out, err) = run(mc().args(["plan", "--color", "never"]).arg(p.path()));
    assert!(!out.contains('\x1b') && !err.contains('\x1b'), "{out}{err}");
}

#[test]
fn a_project_file_means_its_project_and_c_changes_directory() {
    let root = tempfile::tempdir().unwrap();
    let p = project(root.path(), 1);
    let main = p.path().join("main.mc");
    let (code, out, err) = run(mc().arg("plan").arg(&main));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 to create"), "{out}");
    let (code, out, err) = run(mc().arg("-C").arg(p.path()).arg("plan"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 to create"), "{out}");
    let (code, out, _) = run(mc().args(["apply", "--yes"]).arg(&main));
    assert_eq!(code, 0);
    assert!(out.contains("on 1 host."), "one host, not `1 hosts`: {out}");
}

#[test]
fn durations_and_errors_read_the_same_everywhere() {
    let root = tempfile::tempdir().unwrap();
    let p = project(root.path(), 1);
    let (code, _, err) = run(mc().args(["plan", "--ssh-persist", "5m"]).arg(p.path()));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(mc().args(["plan", "--ssh-persist", "soon"]).arg(p.path()));
    assert_eq!(code, 2);
    assert!(err.contains("not a duration"), "{err}");
    let (code, _, err) = run(mc().args(["plan", "--limit", "nosuch"]).arg(p.path()));
    assert_eq!(code, 1);
    assert!(err.starts_with("error: "), "{err}");
    let (code, _, err) = run(mc()
        .args(["runs", "-C"])
        .arg(p.path())
        .args(["--limit", "5"]));
    assert_eq!(
        code, 0,
        "--limit on runs is a host pattern, not a count: {err}"
    );
}

#[test]
fn version_names_the_commit_and_every_flag_has_help() {
    let (code, out, _) = run(mc().arg("--version"));
    assert_eq!(code, 0);
    assert!(out.starts_with("mc 0."), "{out}");
    for sub in [
        "approve", "reject", "runs", "audit", "plan", "apply", "drift", "facts",
    ] {
        let (_, help, _) = run(mc().args([sub, "-h"]));
        for line in help
            .lines()
            .filter(|l| l.trim_start().starts_with("--json"))
        {
            assert!(
                line.trim().len() > "--json".len() + 2,
                "{sub}: --json has no help: {help}"
            );
        }
        assert!(help.contains("--json"), "{sub}: {help}");
    }
}

#[test]
fn man_pages_are_written_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(mc().args(["man", "--out-dir"]).arg(dir.path()));
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(dir.path().join("mc-plan.1")).unwrap();
    assert!(page.contains(".TH MC-PLAN"), "{page}");
    assert!(dir.path().join("mc.1").is_file());
}
