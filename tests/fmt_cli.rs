//! `mc fmt` end to end with the real binary: files and directories rewritten
//! in place, `--check`, standard input, `--width`, and files with syntax
//! errors left untouched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(60);

const UGLY: &str = "let  x=[1,2 ,3,]\nrole r{file \"/x\"{mode=0o644}}\n";
const PRETTY: &str = "let x = [1, 2, 3]\nrole r {\n  file \"/x\" {\n    mode = 0o644\n  }\n}\n";
const BROKEN: &str = "let x = \nrole {\n";

/// Runs `mc ARGS` with `stdin` as standard input, failing the test if it
/// does not exit within the bound.
fn mc(args: &[&str], cwd: &Path, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mc");
    if let Some(mut input) = child.stdin.take() {
        // A usage error exits before reading: a broken pipe is expected then.
        let _ = input.write_all(stdin.as_bytes());
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(BOUND)
        .expect("mc fmt finished within the bound")
        .expect("mc fmt output")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_path_buf();
    std::fs::create_dir_all(root.join("roles")).expect("mkdir");
    std::fs::create_dir_all(root.join(".hidden")).expect("mkdir");
    std::fs::write(root.join("main.mc"), UGLY).expect("write");
    std::fs::write(root.join("roles/web.mc"), UGLY).expect("write");
    std::fs::write(root.join("roles/ok.mc"), PRETTY).expect("write");
    std::fs::write(root.join("roles/notes.txt"), UGLY).expect("write");
    std::fs::write(root.join(".hidden/skip.mc"), UGLY).expect("write");
    (dir, root)
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(p).expect("read")
}

#[test]
fn formats_a_directory_in_place() {
    let (_dir, root) = project();
    let out = mc(&["fmt"], &root, "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read(root.join("main.mc")), PRETTY);
    assert_eq!(read(root.join("roles/web.mc")), PRETTY);
    assert_eq!(read(root.join("roles/ok.mc")), PRETTY);
    // Only `.mc` files, and not in hidden directories.
    assert_eq!(read(root.join("roles/notes.txt")), UGLY);
    assert_eq!(read(root.join(".hidden/skip.mc")), UGLY);
    // A second run changes nothing and `--check` agrees.
    let check = mc(&["fmt", "--check", "."], &root, "");
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert_eq!(stdout(&check), "");
}

#[test]
fn check_lists_unformatted_files_and_changes_nothing() {
    let (_dir, root) = project();
    let out = mc(&["fmt", "--check", "main.mc", "roles"], &root, "");
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let listed: Vec<String> = text.lines().map(|l| l.trim().replace('\\', "/")).collect();
    assert_eq!(listed, vec!["main.mc", "roles/web.mc"]);
    assert_eq!(read(root.join("main.mc")), UGLY);
    assert_eq!(read(root.join("roles/web.mc")), UGLY);
}

#[test]
fn stdin_is_formatted_to_stdout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mc(&["fmt", "-"], dir.path(), UGLY);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), PRETTY);
    let check = mc(&["fmt", "--check", "-"], dir.path(), UGLY);
    assert_eq!(check.status.code(), Some(1));
    let clean = mc(&["fmt", "--check", "-"], dir.path(), PRETTY);
    assert_eq!(clean.status.code(), Some(0));
}

#[test]
fn width_changes_where_lines_break() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = "let xs = [\"alpha\", \"beta\", \"gamma\"]\n";
    let wide = mc(&["fmt", "-"], dir.path(), src);
    assert_eq!(stdout(&wide), src);
    let narrow = mc(&["fmt", "--width", "20", "-"], dir.path(), src);
    assert_eq!(
        stdout(&narrow),
        "let xs = [\n  \"alpha\",\n  \"beta\",\n  \"gamma\"\n]\n"
    );
    let silly = mc(&["fmt", "--width", "3", "-"], dir.path(), src);
    assert_eq!(
        silly.status.code(),
        Some(2),
        "a width below 20 is a usage error"
    );
}

#[test]
fn syntax_errors_leave_the_file_untouched() {
    let (_dir, root) = project();
    std::fs::write(root.join("roles/broken.mc"), BROKEN).expect("write");
    let out = mc(&["fmt", "."], &root, "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(read(root.join("roles/broken.mc")), BROKEN);
    let err = stderr(&out);
    assert!(err.contains("broken.mc"), "{err}");
    assert!(err.contains("E00"), "diagnostics are shown: {err}");
    // The other files are still formatted.
    assert_eq!(read(root.join("main.mc")), PRETTY);
    let stdin = mc(&["fmt", "-"], &root, BROKEN);
    assert_eq!(stdin.status.code(), Some(1));
    assert_eq!(stdout(&stdin), "");
}

#[test]
fn missing_paths_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mc(&["fmt", "nope.mc"], dir.path(), "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nope.mc"));
}

#[test]
fn diff_shows_the_changes_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.mc"), UGLY).unwrap();
    std::fs::write(dir.path().join("b.mc"), PRETTY).unwrap();
    let out = mc(&["fmt", "--diff", "."], dir.path(), "");
    assert_eq!(out.status.code(), Some(1), "unformatted files: exit 1");
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("--- a/./a.mc\n+++ b/./a.mc\n"), "{diff}");
    assert!(diff.contains("\n-let  x=[1,2 ,3,]\n"), "{diff}");
    assert!(diff.contains("\n+let x = [1, 2, 3]\n"), "{diff}");
    assert!(
        !diff.contains("b.mc"),
        "formatted files have no diff: {diff}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.mc")).unwrap(),
        UGLY
    );
    let out = mc(&["fmt", "--diff", "b.mc"], dir.path(), "");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}
