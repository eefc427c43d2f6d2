//! Secrets and hostile text in everything `mc` prints or stores, replayed
//! through the real `mc` binary on the local transport and on a test host:
//! a secret inside a longer string and in a file a command prints, a
//! command that fails printing it, a one-character secret, terminal escapes
//! in command output and in a file's old content, and the mode of a file
//! that holds a secret.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mc_testfleet::Fleet;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const SECRET: &str = "Sup3r-S3cret-V4lue";

fn mc(secret: &str) -> Command {
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
        .env(
            "XDG_RUNTIME_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("secret-output"),
        )
        .env("MC_SECRET_TOKEN", secret);
    cmd
}

/// Exit code and stdout, stderr.
fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("running mc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Resources under `dir` (on the host): a file holding the secret (never
/// alone, so no attribute's whole value is the bare secret), a
/// command with the secret inside a longer env value that prints it alone
/// (no whole attribute value), the file and terminal escapes, a command
/// that fails printing it alone, and a plain file whose old content holds
/// escapes.
fn resources(dir: &str) -> String {
    format!(
        r#"  file "{dir}/secret.txt" {{
    content = "k=${{secret("token")}}"
  }}
  file "{dir}/was-open.txt" {{
    content = "v=${{secret("token")}}"
  }}
  command "show" {{
    run = "echo \"x=$X\" | cut -c7-; cat {dir}/secret.txt; echo; printf '\\033]0;pwned\\007\\033[2Jafter\\n'"
    env = {{ X = "pre-${{secret("token")}}" }}
  }}
  command "fail" {{
    run = "echo \"boom: $X\" | sed s/pre-// >&2; exit 3"
    env = {{ X = "pre-${{secret("token")}}" }}
  }}
  file "{dir}/motd" {{
    content = "new\n"
  }}
"#
    )
}

fn prepare_host_files(dir: &Path) {
    std::fs::write(dir.join("motd"), "old\x1b]0;pwned\x07\x1b[31m\n").unwrap();
    let open = dir.join("was-open.txt");
    std::fs::write(&open, "before\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
}

fn local_project(secret_dir: &Path) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let src = format!(
        "host \"local\" {{\n  transport = \"local\"\n}}\non all {{\n{}}}\n",
        resources(&secret_dir.display().to_string())
    );
    std::fs::write(project.path().join("main.mc"), src).unwrap();
    project
}

/// Every byte of the state store (with its WAL) and of the plan file.
fn stored_bytes(project: &Path, plan: &Path) -> Vec<u8> {
    let mut all = std::fs::read(plan).unwrap();
    for entry in std::fs::read_dir(project.join(".mc")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    all
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The TUI over the project's store: the runs list, then each resource of
/// the newest run's detail.
fn tui_text(project: &Path) -> String {
    let mut app = mc_tui::app_for_project(project).unwrap();
    let mut text = String::new();
    let draw = |app: &mut mc_tui::App| {
        let mut terminal = Terminal::new(TestBackend::new(160, 60)).unwrap();
        terminal.draw(|f| app.draw(f)).unwrap();
        mc_tui::buffer_text(terminal.backend().buffer())
    };
    refresh(&mut app);
    text.push_str(&draw(&mut app));
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    refresh(&mut app);
    for _ in 0..6 {
        text.push_str(&draw(&mut app));
        app.handle_key(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
    }
    text
}

/// Loads what the TUI's poller would, now.
fn refresh(app: &mut mc_tui::App) {
    let source = app.source().unwrap();
    let watched = app.watched().load(std::sync::atomic::Ordering::Relaxed);
    let snapshot = mc_tui::term::load_snapshot(source.as_ref(), (watched != 0).then_some(watched));
    app.update(mc_tui::Action::Data(Box::new(snapshot)));
}

/// Plans, applies and reads back the run through every channel; returns
/// everything printed (stdout and stderr of each command, and the TUI).
fn every_channel(project: &Path, extra: &[&str]) -> (String, Vec<u8>) {
    let plan_file = project.join("plan.json");
    let mut printed = String::new();
    let mut step = |args: &[&str]| {
        let host_args = if matches!(args[0], "plan" | "apply") {
            extra
        } else {
            &[]
        };
        let (code, out, err) = run(mc(SECRET).args(args).args(host_args));
        printed.push_str(&out);
        printed.push_str(&err);
        (code, out, err)
    };
    let p = project.to_str().unwrap();
    let (code, _, err) = step(&["plan", p, "-o", plan_file.to_str().unwrap()]);
    assert!(code == 0 || code == 2, "{err}");
    let (code, _, _) = step(&["apply", "--yes", p]);
    assert_eq!(code, 1, "the failing command fails the run");
    let (_, json, err) = step(&["apply", "--yes", "--json", p]);
    serde_json::from_str::<serde_json::Value>(&json).expect("a JSON report");
    assert!(
        err.contains("(secret)"),
        "output is scrubbed, not dropped: {err}"
    );
    let (_, runs, _) = step(&["runs", "-p", p]);
    let id = runs
        .lines()
        .find_map(|l| {
            l.split_whitespace()
                .next()?
                .trim_start_matches('#')
                .parse::<u32>()
                .ok()
        })
        .expect("a run id");
    let (_, detail, _) = step(&["runs", &id.to_string(), "-p", p, "--events"]);
    assert!(detail.contains("(secret)"), "{detail}");
    step(&["runs", &id.to_string(), "-p", p, "--events", "--json"]);
    step(&["runs", &(id - 1).to_string(), "-p", p, "--events"]);
    printed.push_str(&tui_text(project));
    (printed, stored_bytes(project, &plan_file))
}

fn assert_clean(printed: &str, stored: &[u8]) {
    assert!(!printed.contains(SECRET), "secret printed:\n{printed}");
    assert!(
        !holds(stored, SECRET),
        "secret stored in .mc or the plan file"
    );
    // Nothing a host sent may drive the terminal.
    assert!(
        !printed.contains('\x1b'),
        "raw escape printed:\n{printed:?}"
    );
    assert!(!printed.contains('\x07'), "raw bell printed:\n{printed:?}");
    assert!(printed.contains("\\x1b]0;pwned"), "{printed}");
}

#[test]
fn secrets_and_escapes_never_reach_any_channel_on_the_local_transport() {
    let files = tempfile::tempdir().unwrap();
    prepare_host_files(files.path());
    let project = local_project(files.path());
    let (printed, stored) = every_channel(project.path(), &[]);
    assert_clean(&printed, &stored);

    // The command really printed the secret: the files hold it.
    let secret_file = files.path().join("secret.txt");
    let written = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(written, format!("k={SECRET}"));
    // Files holding a secret are the owner's only, also one that existed.
    for name in ["secret.txt", "was-open.txt"] {
        let mode = std::fs::metadata(files.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o600, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(files.path().join("motd")).unwrap(),
        "new\n"
    );
}

#[test]
fn secrets_and_escapes_never_reach_any_channel_on_a_test_host() {
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    host.exec_ok(
        "mkdir -p /srv/t && printf 'old\\033]0;pwned\\007\\n' > /srv/t/motd && \
         printf 'before\\n' > /srv/t/was-open.txt && chmod 644 /srv/t/was-open.txt",
    )
    .unwrap();
    let project = tempfile::tempdir().unwrap();
    let src = format!(
        "host \"{}\" {{}}\non all {{\n{}}}\n",
        host.name(),
        resources("/srv/t")
    );
    std::fs::write(project.path().join("main.mc"), src).unwrap();
    let ssh = fleet.ssh_config().to_str().unwrap().to_string();
    let (printed, stored) = every_channel(project.path(), &["--ssh-config", &ssh]);
    assert_clean(&printed, &stored);
    let written = host.read_file("/srv/t/secret.txt").unwrap();
    assert_eq!(written, format!("k={SECRET}").into_bytes());
    assert_eq!(
        host.exec_ok("stat -c %a /srv/t/secret.txt /srv/t/was-open.txt")
            .unwrap(),
        "600\n600\n"
    );
}

#[test]
fn a_one_character_secret_cannot_break_the_protocol() {
    // `e`, `a` and `t` are in every protocol word the runner sends.
    for secret in ["e", "a", "t"] {
        let files = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let src = format!(
            "host \"local\" {{\n  transport = \"local\"\n}}\non all {{\n  command \"c\" {{\n    run = \"echo t=$T > {}/out\"\n    env = {{ T = secret(\"token\") }}\n  }}\n}}\n",
            files.path().display()
        );
        std::fs::write(project.path().join("main.mc"), src).unwrap();
        let (code, out, err) = run(mc(secret)
            .args(["apply", "--yes", "--json"])
            .arg(project.path()));
        assert_eq!(code, 0, "{out}{err}");
        let report: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
        assert_eq!(report["changed"], 1, "{report}");
        let written = std::fs::read_to_string(files.path().join("out")).unwrap();
        assert_eq!(written, format!("t={secret}\n"));
    }
}

#[test]
fn secret_set_refuses_values_too_short_to_scrub() {
    let project = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let set = |value: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mc"))
            .args(["secret", "set", "pin", "-p"])
            .arg(project.path())
            .env("XDG_CONFIG_HOME", config.path())
            .env_remove("MC_IDENTITY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(value).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = set(b"123\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("shorter than 4 characters"), "{err}");
    assert!(!project.path().join("secrets/pin.age").exists());
    let out = set(b"1234\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(project.path().join("secrets/pin.age").exists());
}
