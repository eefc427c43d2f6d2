//! `mc check` end to end: the real binary over the malformed corpus, the
//! example projects, and import errors (missing files, cycles).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `mc ARGS`, failing the test if it does not exit within the bound.
fn mc(args: &[&str], cwd: &Path) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_mc"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mc");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(BOUND) {
        Ok(output) => output.expect("wait for mc"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("mc {args:?} did not finish within {BOUND:?}");
        }
    }
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad json {l:?}: {e}")))
        .collect()
}

fn is_code(code: &str) -> bool {
    code.len() == 5 && code.starts_with('E') && code[1..].bytes().all(|b| b.is_ascii_digit())
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/malformed"))
        .expect("tests/malformed")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mc"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_malformed_program_gets_located_coded_diagnostics() {
    let files = corpus();
    assert!(
        files.len() >= 25,
        "corpus has only {} programs",
        files.len()
    );
    let mut codes = std::collections::BTreeSet::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let dir = file.parent().unwrap_or(Path::new("."));

        let json = mc(&["check", name, "--format", "json"], dir);
        assert_eq!(json.status.code(), Some(1), "{name}: {json:?}");
        let diags = json_lines(&json);
        assert!(!diags.is_empty(), "{name}: no diagnostics");
        for d in &diags {
            let code = d["code"].as_str().unwrap_or_default();
            assert!(is_code(code), "{name}: {d}");
            assert_eq!(d["file"], name, "{name}: {d}");
            assert!(d["line"].as_u64().is_some_and(|l| l >= 1), "{name}: {d}");
            assert!(d["col"].as_u64().is_some_and(|c| c >= 1), "{name}: {d}");
            assert!(!d["message"].as_str().unwrap_or_default().is_empty());
            codes.insert(code.to_string());
        }

        let human = mc(&["check", name], dir);
        assert_eq!(human.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&human.stderr);
        let first = &diags[0];
        let location = format!("{}:{}:{}", name, first["line"], first["col"]);
        assert!(
            stderr.contains(&location),
            "{name}: {location} not in\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    assert!(
        codes.len() >= 20,
        "only {} distinct codes: {codes:?}",
        codes.len()
    );
}

#[test]
fn human_output_shows_all_errors_of_a_file() {
    let out = mc(
        &["check", "several_errors.mc"],
        &repo().join("tests/malformed"),
    );
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr));
}

#[test]
fn examples_check_clean() {
    for example in ["webserver", "hardening"] {
        let out = mc(&["check", example], &repo().join("examples"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{example}: {stderr}");
        assert!(stderr.contains("no errors"), "{stderr}");
        let json = mc(
            &["check", example, "--format", "json"],
            &repo().join("examples"),
        );
        assert_eq!(json.status.code(), Some(0));
        assert!(json.stdout.is_empty());
    }
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn missing_import_is_e0101_with_did_you_mean() {
    let dir = project(&[
        (
            "main.mc",
            "import \"roles/ngnix.mc\"\nimport \"lib/nothing_like_it.mc\"\n",
        ),
        ("roles/nginx.mc", "role nginx() {}\n"),
    ]);
    let out = mc(&["check", ".", "--format", "json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let diags = json_lines(&out);
    assert_eq!(diags.len(), 2, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0101");
    assert_eq!(diags[0]["file"], "main.mc");
    assert_eq!(
        (diags[0]["line"].as_u64(), diags[0]["col"].as_u64()),
        (Some(1), Some(8))
    );
    assert_eq!(
        diags[0]["suggestion"]["message"],
        "did you mean `roles/nginx.mc`?"
    );
    assert_eq!(
        diags[0]["suggestion"]["edits"][0]["replacement"],
        "\"roles/nginx.mc\""
    );
    assert_eq!(diags[1]["code"], "E0101");
    assert!(diags[1]["suggestion"].is_null());
}

#[test]
fn import_cycle_is_e0102_naming_the_cycle() {
    let dir = project(&[
        ("main.mc", "import \"a.mc\"\n"),
        ("a.mc", "import \"lib/b.mc\"\n"),
        ("lib/b.mc", "import \"../a.mc\"\n"),
    ]);
    let out = mc(&["check", "--format", "json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let diags = json_lines(&out);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0102");
    assert_eq!(diags[0]["message"], "import cycle: a.mc → lib/b.mc → a.mc");
    // Reported at the import that enters the cycle first in load order.
    assert_eq!(diags[0]["file"], "a.mc");
    assert_eq!(diags[0]["secondary"][0]["file"], "lib/b.mc");

    let human = mc(&["check"], dir.path());
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(stderr.contains("lib/b.mc:1:8"), "{stderr}");
    assert!(stderr.contains("a.mc:1:8"), "{stderr}");
}

#[test]
fn errors_in_imported_files_name_that_file() {
    let dir = project(&[
        ("main.mc", "import \"roles/web.mc\"\nlet ok = 1\n"),
        (
            "roles/web.mc",
            "role web {\n  file \"/x\" { mode: 0o644 }\n}\n",
        ),
        ("latin1.mc", ""),
    ]);
    std::fs::write(dir.path().join("latin1.mc"), b"let caf\xe9 = 1\n").expect("write");
    let out = mc(&["check", "--format", "json"], dir.path());
    let diags = json_lines(&out);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "E0014");
    assert_eq!(diags[0]["file"], "roles/web.mc");
    assert_eq!(
        (diags[0]["line"].as_u64(), diags[0]["col"].as_u64()),
        (Some(2), Some(19))
    );

    let out = mc(&["check", "latin1.mc", "--format", "json"], dir.path());
    let diags = json_lines(&out);
    assert_eq!(diags[0]["code"], "E0026", "{diags:?}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn missing_project_is_an_error_not_a_panic() {
    let dir = project(&[("other.mc", "let a = 1\n")]);
    let out = mc(&["check"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `main.mc`"));
    let out = mc(&["check", "nope.mc"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
