//! `mc secret` end to end: the real binary, real files, a private identity
//! in a temporary config directory.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(60);

/// Runs `mc secret ARGS` in `project` with `stdin` piped in, the identity
/// under `config`, failing the test if it does not exit within the bound.
fn mc_secret(project: &Path, config: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mc"))
        .arg("secret")
        .args(args)
        .current_dir(project)
        .env("XDG_CONFIG_HOME", config)
        .env_remove("MC_IDENTITY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mc");
    let mut input = child.stdin.take().expect("stdin");
    // mc may refuse the arguments and exit before reading its input.
    if let Err(e) = input.write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    drop(input);
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(BOUND) {
        Ok(output) => output.expect("wait for mc"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("mc secret {args:?} did not finish within {BOUND:?}");
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn set_list_rm_round_trip_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    let config = tmp.path().join("config");
    std::fs::create_dir_all(&project).unwrap();
    let value = "p4ss-w0rd-that-must-not-leak";

    let out = mc_secret(
        &project,
        &config,
        &["set", "db_password"],
        format!("{value}\n").as_bytes(),
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("created your identity"), "{stderr}");
    assert!(!stderr.contains(value) && !text(&out.stdout).contains(value));

    let identity = config.join("mc/identity.txt");
    assert!(identity.is_file());
    let file = std::fs::read(project.join("secrets/db_password.age")).unwrap();
    assert!(!file.windows(value.len()).any(|w| w == value.as_bytes()));
    assert!(project.join("secrets/recipients.txt").is_file());

    // The library reads back exactly what was piped in, minus the newline.
    let store = mc_secrets::SecretStore::with_identity(&project, identity);
    assert_eq!(store.resolve("db_password").unwrap().expose(), value);

    let out = mc_secret(&project, &config, &["set", "api_token"], b"tok-value");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mc_secret(&project, &config, &["list"], b"");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "api_token\ndb_password\n");

    let out = mc_secret(&project, &config, &["rm", "api_token"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = mc_secret(&project, &config, &["list"], b"");
    assert_eq!(text(&out.stdout), "db_password\n");

    let out = mc_secret(&project, &config, &["rm", "api_tokn"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not set"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn refuses_empty_values_and_bad_names() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let out = mc_secret(tmp.path(), &config, &["set", "x"], b"\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("empty"), "{}", text(&out.stderr));
    let out = mc_secret(tmp.path(), &config, &["set", "../x"], b"v");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("invalid secret name"));
    assert!(!tmp.path().join("secrets").exists());
}

#[test]
fn a_teammate_is_added_with_rekey() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let alice = tmp.path().join("alice");
    let bob = tmp.path().join("bob");
    assert!(mc_secret(&project, &alice, &["set", "token"], b"abc-123")
        .status
        .success());
    let out = mc_secret(&project, &bob, &["public-key"], b"");
    let bob_key = text(&out.stdout).trim().to_string();
    assert!(bob_key.starts_with("age1"), "{bob_key}");

    let recipients = project.join("secrets/recipients.txt");
    let mut list = std::fs::read_to_string(&recipients).unwrap();
    list.push_str(&format!("{bob_key}\n"));
    std::fs::write(&recipients, list).unwrap();
    let out = mc_secret(&project, &alice, &["rekey"], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("re-encrypted 1 secret"));

    let store = mc_secrets::SecretStore::with_identity(&project, bob.join("mc/identity.txt"));
    assert_eq!(store.resolve("token").unwrap().expose(), "abc-123");
}

/// On a terminal the value is prompted for and not echoed: the real binary
/// in a private tmux server, typed into, read back with capture-pane.
#[test]
fn prompts_without_echo_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let config = tmp.path().join("config");
    let socket = tmp.path().join("tmux.sock");
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux is installed (scripts/test installs it)")
    };
    struct Kill<F: Fn(&[&str]) -> Output>(F);
    impl<F: Fn(&[&str]) -> Output> Drop for Kill<F> {
        fn drop(&mut self) {
            let _ = (self.0)(&["kill-server"]);
        }
    }
    let tmux = Kill(tmux);
    let line = format!(
        "sh -c 'XDG_CONFIG_HOME={} {} secret -p {} set api_key; echo \"[exited $?]\"'",
        config.display(),
        env!("CARGO_BIN_EXE_mc"),
        project.display()
    );
    let out = (tmux.0)(&[
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "24",
        "-s",
        "s",
        &line,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = (tmux.0)(&["set-option", "-t", "s", "remain-on-exit", "on"]);
    let wait = |what: &str, cond: &dyn Fn(&str) -> bool| -> String {
        let start = std::time::Instant::now();
        loop {
            let screen = text(&(tmux.0)(&["capture-pane", "-p", "-S", "-50", "-t", "s"]).stdout);
            if cond(&screen) {
                return screen;
            }
            assert!(start.elapsed() < BOUND, "waited for {what}:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("the prompt", &|s| s.contains("value of api_key:"));
    let value = "typed-not-shown-42";
    (tmux.0)(&["send-keys", "-t", "s", "-l", value]);
    (tmux.0)(&["send-keys", "-t", "s", "Enter"]);
    let screen = wait("mc to exit", &|s| s.contains("[exited "));
    assert!(screen.contains("[exited 0]"), "{screen}");
    assert!(!screen.contains(value), "the value was echoed:\n{screen}");
    let store = mc_secrets::SecretStore::with_identity(&project, config.join("mc/identity.txt"));
    assert_eq!(store.resolve("api_key").unwrap().expose(), value);
}
