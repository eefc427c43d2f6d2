//! Compile-time reads are confined to the project: each test replays an
//! attack of a hostile project (absolute paths, `..`, symbolic links out,
//! `/proc`, `/dev`, pipes, huge files, non-mc imports) against the real
//! `mc` binary and checks that it is refused with E0308 and that nothing of
//! the file it aimed at reaches the output.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Text that must never appear in `mc`'s output.
const MARKER: &str = "TOPSECRET-7c1f";

/// `mc ARGS` in `dir`; (exit code, stdout + stderr). Killed after 60 s so
/// a read that blocks fails the test instead of hanging it.
fn mc(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mc"))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mc");
    for _ in 0..600 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("mc output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// A scratch folder with `outside/secret.txt` (holding [`MARKER`]) next
/// to the project folder `p/` with `main.mc`.
fn setup(main: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), format!("{MARKER}\n")).unwrap();
    std::fs::write(outside.join("secret.mc"), format!("{MARKER} = \n")).unwrap();
    std::fs::create_dir_all(tmp.path().join("p")).unwrap();
    std::fs::write(tmp.path().join("p/main.mc"), main).unwrap();
    tmp
}

fn project(tmp: &tempfile::TempDir) -> std::path::PathBuf {
    tmp.path().join("p")
}

/// `main.mc` with one host whose file's content is `expr`.
fn with_content(expr: &str) -> String {
    format!(
        "host \"h\" {{ address = \"127.0.0.1\" }}\non all {{\n  file \"/tmp/x\" {{ content = {expr} }}\n}}\n"
    )
}

fn assert_refused(out: &(i32, String), why: &str) {
    let (code, text) = out;
    assert_eq!(*code, 1, "must fail:\n{text}");
    assert!(text.contains("E0308"), "no E0308:\n{text}");
    assert!(text.contains(why), "no `{why}`:\n{text}");
    assert!(!text.contains(MARKER), "file content leaked:\n{text}");
}

#[test]
fn absolute_and_dotdot_paths_are_refused() {
    let tmp = setup("");
    let secret = tmp.path().join("outside/secret.txt");
    for expr in [
        format!("file_contents(\"{}\")", secret.display()),
        "file_contents(\"../outside/secret.txt\")".to_string(),
        "file_contents(\"/etc/shadow\")".to_string(),
        "yaml_file(\"../outside/secret.txt\").x".to_string(),
        "template(\"../outside/secret.txt\", {})".to_string(),
    ] {
        std::fs::write(project(&tmp).join("main.mc"), with_content(&expr)).unwrap();
        let out = mc(&project(&tmp), &["check", "."], &[]);
        assert_refused(&out, "outside the project");
    }
}

#[test]
fn symbolic_links_out_of_the_project_are_refused() {
    let tmp = setup("");
    let p = project(&tmp);
    std::fs::create_dir_all(p.join("files")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside/secret.txt"), p.join("files/a.txt"))
        .unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside"), p.join("shared")).unwrap();
    std::fs::write(p.join("files/t.j2"), "{% include 'a.txt' %}").unwrap();
    for expr in [
        "file_contents(\"files/a.txt\")",
        "file_contents(\"shared/secret.txt\")",
        "toml_file(\"files/a.txt\").x",
        "template(\"files/a.txt\", {})",
    ] {
        std::fs::write(p.join("main.mc"), with_content(expr)).unwrap();
        let out = mc(&p, &["check", "."], &[]);
        assert_refused(&out, "symbolic link");
    }
    // A template's include is a template error (E0309) naming the reason.
    std::fs::write(
        p.join("main.mc"),
        with_content("template(\"files/t.j2\", {})"),
    )
    .unwrap();
    let (code, text) = mc(&p, &["check", "."], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("E0309") && text.contains("symbolic link"),
        "{text}"
    );
    assert!(!text.contains(MARKER), "file content leaked:\n{text}");
    // A file's `source` is read the same way.
    let main = "host \"h\" { address = \"127.0.0.1\" }\non all { file \"/tmp/x\" { source = \"files/a.txt\" } }\n";
    std::fs::write(p.join("main.mc"), main).unwrap();
    assert_refused(&mc(&p, &["check", "."], &[]), "symbolic link");
}

#[test]
fn proc_dev_and_special_files_are_never_read_even_when_widened() {
    let widened =
        |expr: &str| format!("project {{ read_paths = [\"/\"] }}\n{}", with_content(expr));
    let tmp = setup("");
    let p = project(&tmp);
    let env = [("MC_SECRET_DB", MARKER)];
    for expr in [
        "file_contents(\"/proc/self/environ\")",
        "file_contents(\"/dev/zero\")",
        "file_contents(\"/dev/stdin\")",
    ] {
        std::fs::write(p.join("main.mc"), widened(expr)).unwrap();
        assert_refused(&mc(&p, &["check", "."], &env), "are never read");
        let compiled = mc(&p, &["compile", ".", "--host", "h", "--json"], &env);
        assert_refused(&compiled, "are never read");
    }
    // A link inside the project to /proc is just as refused.
    std::os::unix::fs::symlink("/proc/self/environ", p.join("env.txt")).unwrap();
    std::fs::write(
        p.join("main.mc"),
        with_content("file_contents(\"env.txt\")"),
    )
    .unwrap();
    assert_refused(&mc(&p, &["check", "."], &env), "symbolic link");
    // A named pipe would block a reader forever: refused without opening.
    let fifo = p.join("pipe.txt");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::write(
        p.join("main.mc"),
        with_content("file_contents(\"pipe.txt\")"),
    )
    .unwrap();
    assert_refused(
        &mc(&p, &["check", "."], &[]),
        "named pipe, not a regular file",
    );
    std::fs::write(p.join("main.mc"), with_content("file_contents(\".\")")).unwrap();
    assert_refused(&mc(&p, &["check", "."], &[]), "not a regular file");
}

#[test]
fn huge_files_are_refused() {
    let tmp = setup("");
    let p = project(&tmp);
    let big = std::fs::File::create(p.join("big.txt")).unwrap();
    big.set_len(64 * 1024 * 1024).unwrap();
    std::fs::write(
        p.join("main.mc"),
        with_content("file_contents(\"big.txt\")"),
    )
    .unwrap();
    assert_refused(&mc(&p, &["check", "."], &[]), "larger than 16 MiB");
}

#[test]
fn hidden_folders_are_not_read() {
    let tmp = setup("");
    let p = project(&tmp);
    std::fs::create_dir_all(p.join(".mc")).unwrap();
    std::fs::write(p.join(".mc/identity.txt"), MARKER).unwrap();
    std::fs::write(
        p.join("main.mc"),
        with_content("file_contents(\".mc/identity.txt\")"),
    )
    .unwrap();
    assert_refused(&mc(&p, &["check", "."], &[]), "hidden folder `.mc`");
}

#[test]
fn imports_read_only_mc_files_of_the_project_and_never_echo_them() {
    let tmp = setup("");
    let p = project(&tmp);
    std::fs::write(p.join("data.txt"), format!("{MARKER} }}{{ ((\n")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside/secret.mc"), p.join("lib.mc")).unwrap();
    let secret_mc = tmp.path().join("outside/secret.mc");
    let cases = [
        (
            "\"data.txt\"".to_string(),
            "only `.mc` files can be imported",
        ),
        (
            "\"/etc/shadow\"".to_string(),
            "only `.mc` files can be imported",
        ),
        (
            "\"/dev/stdin\"".to_string(),
            "only `.mc` files can be imported",
        ),
        ("\"lib.mc\"".to_string(), "symbolic link"),
        (
            "\"../outside/secret.mc\"".to_string(),
            "outside the project",
        ),
        (
            format!("\"{}\"", secret_mc.display()),
            "outside the project",
        ),
    ];
    for (import, why) in cases {
        std::fs::write(p.join("main.mc"), format!("import {import}\n")).unwrap();
        let out = mc(&p, &["check", "."], &[]);
        assert_refused(&out, why);
        assert!(!out.1.contains("E0101"), "reported twice:\n{}", out.1);
    }
}

#[test]
fn a_file_that_is_not_utf8_is_not_shown() {
    let tmp = setup("import \"bin.mc\"\n");
    let p = project(&tmp);
    let mut bytes = MARKER.as_bytes().to_vec();
    bytes.extend([0xff, 0xfe, b'\n']);
    std::fs::write(p.join("bin.mc"), bytes).unwrap();
    let (code, text) = mc(&p, &["check", "."], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("E0026"), "{text}");
    assert!(!text.contains(MARKER), "content shown:\n{text}");
}

#[test]
fn read_paths_widens_reads_from_the_entry_file_only() {
    let tmp = setup("");
    let p = project(&tmp);
    let main = format!(
        "project {{ read_paths = [\"../outside\"] }}\n{}",
        with_content("file_contents(\"../outside/secret.txt\")")
    );
    std::fs::write(p.join("main.mc"), &main).unwrap();
    let (code, text) = mc(&p, &["compile", ".", "--host", "h", "--json"], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(MARKER), "the widened read must work:\n{text}");

    // An imported file cannot widen the scope.
    std::fs::write(p.join("lib.mc"), "project { read_paths = [\"/\"] }\n").unwrap();
    std::fs::write(p.join("main.mc"), "import \"lib.mc\"\n").unwrap();
    let (code, text) = mc(&p, &["check", "."], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("E0316") && text.contains("entry file only"),
        "{text}"
    );

    std::fs::write(p.join("main.mc"), "project { read_paths = \"/\" }\n").unwrap();
    let (code, text) = mc(&p, &["check", "."], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("E0316") && text.contains("list of quoted paths"),
        "{text}"
    );
}

#[test]
fn links_inside_the_project_still_work() {
    let tmp = setup("");
    let p = project(&tmp);
    std::fs::create_dir_all(p.join("files")).unwrap();
    std::fs::write(p.join("files/real.txt"), "hello\n").unwrap();
    std::os::unix::fs::symlink("real.txt", p.join("files/alias.txt")).unwrap();
    std::fs::write(
        p.join("main.mc"),
        with_content("file_contents(\"files/alias.txt\")"),
    )
    .unwrap();
    let (code, text) = mc(&p, &["compile", ".", "--host", "h", "--json"], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("hello"), "{text}");
}
