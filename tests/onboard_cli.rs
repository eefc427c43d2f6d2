//! `mc onboard ssh` and `mc onboard rollback` on real sshd test hosts that
//! only take passwords: the management user, its key and sudo rule, password
//! logins turned off only after the key works, an apply with the new key,
//! and a rollback that puts every piece back.

use mc_testfleet::{shell_quote, Fleet, Host, PASSWORD};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

/// `mc -C DIR`.
fn mc(dir: &Path) -> Command {
    let mut cmd = common::mc("onboard");
    cmd.arg("-C").arg(dir);
    cmd
}

/// Runs `cmd` with `input` on stdin: (exit code, stdout, stderr).
fn run_with(cmd: &mut Command, input: &str) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running mc");
    // mc may refuse (an unknown host key) and exit before it reads the
    // password: a closed pipe is then no error of the test's.
    match child.stdin.take().unwrap().write_all(input.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A project folder with an ssh config whose known_hosts is its own (so
/// the test never touches the machine's `~/.ssh`).
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "Host *\n  UserKnownHostsFile {known}\n  GlobalKnownHostsFile /dev/null\n  \
             StrictHostKeyChecking yes\n  ConnectTimeout 10\n  LogLevel ERROR\n",
            known = dir.path().join("known_hosts").display()
        );
        std::fs::write(dir.path().join("ssh_config"), cfg).unwrap();
        Project { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    /// `mc ARGS --ssh-config CONFIG` in the project.
    fn mc_ssh(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = mc(self.path());
        cmd.args(args).arg("--ssh-config").arg(self.ssh_config());
        run_with(&mut cmd, "")
    }
    fn ssh_config(&self) -> PathBuf {
        self.path().join("ssh_config")
    }
    fn known_hosts(&self) -> String {
        std::fs::read_to_string(self.path().join("known_hosts")).unwrap_or_default()
    }
    fn onboard(
        &self,
        host: &Host,
        user: &str,
        extra: &[&str],
        password: &str,
    ) -> (i32, String, String) {
        self.onboard_as("web", host, user, extra, password)
    }
    fn onboard_as(
        &self,
        name: &str,
        host: &Host,
        user: &str,
        extra: &[&str],
        password: &str,
    ) -> (i32, String, String) {
        let mut cmd = mc(self.path());
        cmd.args([
            "onboard",
            "ssh",
            "--host",
            &host.address().to_string(),
            "--user",
            user,
        ])
        .args(["--name", name, "--password-stdin", "--ssh-config"])
        .arg(self.ssh_config())
        .args(extra);
        run_with(&mut cmd, &format!("{password}\n"))
    }
}

/// Whether `user` can log in to `host` with `password` (a plain `ssh`
/// reading it through its own askpass script).
fn password_login_works(p: &Project, host: &Host, user: &str) -> bool {
    let askpass = p.path().join("test-askpass");
    if !askpass.exists() {
        std::fs::write(
            &askpass,
            format!("#!/bin/sh\necho {}\n", shell_quote(PASSWORD)),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    // Its own known_hosts: the answer must not depend on what mc recorded.
    let scanned = Command::new("ssh-keyscan")
        .arg(host.address().to_string())
        .output()
        .unwrap();
    let known = p.path().join("test-known");
    std::fs::write(&known, scanned.stdout).unwrap();
    Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=no",
            "-o",
            "PubkeyAuthentication=no",
        ])
        .args([
            "-o",
            "PreferredAuthentications=password,keyboard-interactive",
        ])
        .args([
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "StrictHostKeyChecking=yes",
        ])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg("-l")
        .arg(user)
        .arg(host.address().to_string())
        .arg("true")
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn user_exists(host: &Host, user: &str) -> bool {
    host.exec(&format!("id -u {user}"))
        .unwrap()
        .status
        .success()
}

/// The printed inventory item, a file to apply with it, no approvals.
fn write_project(p: &Project, onboard_out: &str) {
    let item = &onboard_out[onboard_out.find("host \"web\"").expect(onboard_out)..];
    let src = format!(
        "project {{\n  approval_risk = \"none\"\n}}\n\n{item}\n\non all {{\n  file \"/etc/onboarded\" {{\n    content = \"managed\\n\"\n  }}\n}}\n"
    );
    std::fs::write(p.path().join("main.mc"), src).unwrap();
}

#[test]
fn a_password_only_host_is_onboarded_applied_to_with_the_new_key_and_rolled_back() {
    let fleet = Fleet::start_password_only(1).unwrap();
    let host = fleet.host(0);
    let p = Project::new();
    assert!(
        password_login_works(&p, host, "root"),
        "the test host must take passwords"
    );
    let sshd_before = host.read_file("/etc/ssh/sshd_config").unwrap();

    let (code, out, err) = p.onboard(
        host,
        "root",
        &["--trust-new-host-key", "--disable-password-auth"],
        PASSWORD,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains(PASSWORD) && !err.contains(PASSWORD),
        "{out}{err}"
    );
    assert!(out.contains("ssh_key = \".mc/keys/web\""), "{out}");
    assert!(
        p.known_hosts().contains(&host.address().to_string()),
        "host key recorded"
    );

    // The user, its key, its sudo rule (valid, 0440), password logins off.
    assert!(user_exists(host, "mc"));
    let public = std::fs::read_to_string(p.path().join(".mc/keys/web.pub")).unwrap();
    let keys = host.exec_ok("cat /home/mc/.ssh/authorized_keys").unwrap();
    assert!(
        keys.contains(public.split_whitespace().nth(1).unwrap()),
        "{keys}"
    );
    assert_eq!(
        host.exec_ok("stat -c '%a %U' /etc/sudoers.d/mc-mc")
            .unwrap()
            .trim(),
        "440 root"
    );
    host.exec_ok("visudo -c -q").unwrap();
    assert!(
        !password_login_works(&p, host, "root"),
        "password logins must be off"
    );

    // The printed item works as it is, with the new key.
    write_project(&p, &out);
    let (code, out, err) = p.mc_ssh(&["apply", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(host.read_file("/etc/onboarded").unwrap(), b"managed\n");

    let (code, out, err) = p.mc_ssh(&["onboard", "rollback", "web"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!user_exists(host, "mc"), "the management user is gone");
    assert!(!host.path_exists("/etc/sudoers.d/mc-mc").unwrap());
    assert_eq!(host.read_file("/etc/ssh/sshd_config").unwrap(), sshd_before);
    assert!(
        password_login_works(&p, host, "root"),
        "password logins are back"
    );
    assert!(!p.known_hosts().contains(&host.address().to_string()));
    assert!(!p.path().join(".mc/keys/web").exists());
    assert!(!p.path().join(".mc/onboard/web.json").exists());
    let (_, audit, _) = run_with(mc(p.path()).args(["audit", "list"]), "");
    assert!(audit.contains("onboard.rollback"), "{audit}");
}

#[test]
fn a_sudo_user_with_a_password_onboards_against_a_vouched_host_key() {
    let fleet = Fleet::start_password_only(1).unwrap();
    let host = fleet.host(0);
    let p = Project::new();

    // An unknown host key and neither flag: refused, with the fingerprint.
    let (code, out, err) = p.onboard(host, "admin", &[], PASSWORD);
    assert_ne!(code, 0, "{out}{err}");
    let fingerprint = host
        .exec_ok("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2")
        .unwrap();
    let fingerprint = fingerprint.trim();
    assert!(
        err.contains("--host-key-fingerprint") && err.contains(fingerprint),
        "{err}"
    );

    // A fingerprint the host does not have: refused before any login.
    let wrong = [
        "--host-key-fingerprint",
        "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ];
    let (code, _, err) = p.onboard(host, "admin", &wrong, PASSWORD);
    assert_ne!(code, 0);
    assert!(err.contains("refusing"), "{err}");

    // A wrong password: a clear error, nothing on the host, no key left.
    let vouched = ["--host-key-fingerprint", fingerprint];
    // (A dotted name: its key's `.pub` must go too.)
    let (code, _, err) = p.onboard_as("web.example", host, "admin", &vouched, "not-the-password");
    assert_ne!(code, 0);
    assert!(err.contains("logging in"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    assert!(!user_exists(host, "mc"));
    let keys = std::fs::read_dir(p.path().join(".mc/keys"))
        .unwrap()
        .count();
    assert_eq!(keys, 0, "no key is left after a failed onboarding");

    let sshd_before = host.read_file("/etc/ssh/sshd_config").unwrap();
    let (code, out, err) = p.onboard(host, "admin", &vouched, PASSWORD);
    assert_eq!(code, 0, "{out}{err}");
    assert!(user_exists(host, "mc"));
    assert_eq!(host.read_file("/etc/ssh/sshd_config").unwrap(), sshd_before);
    assert!(
        password_login_works(&p, host, "admin"),
        "passwords stay on unless asked"
    );

    write_project(&p, &out);
    let (code, out, err) = p.mc_ssh(&["apply", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(host.read_file("/etc/onboarded").unwrap(), b"managed\n");
    // Onboarding the same name twice is refused.
    let (code, _, err) = p.onboard(host, "admin", &vouched, PASSWORD);
    assert_ne!(code, 0);
    assert!(err.contains("already onboarded"), "{err}");
}

#[test]
fn a_key_login_onboards_an_existing_user_and_rollback_gives_back_its_keys() {
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    let p = Project::new();
    // The management user exists already, with a key of its own.
    let theirs = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8a5s0FQ6bqW4v0h8bXq0o1Y7bq4xkzZ2cC3mJQbQ1x ops@laptop";
    host.exec_ok(&format!(
        "useradd -m -s /bin/sh mc && usermod -p '*' mc && mkdir -p /home/mc/.ssh && \
         echo {} > /home/mc/.ssh/authorized_keys && chown -R mc: /home/mc/.ssh",
        shell_quote(theirs)
    ))
    .unwrap();
    let key = fleet.private_key().to_str().unwrap();
    let (code, out, err) = p.onboard(
        host,
        "root",
        &["--login-key", key, "--trust-new-host-key"],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    let keys = host.exec_ok("cat /home/mc/.ssh/authorized_keys").unwrap();
    assert!(
        keys.contains("ops@laptop") && keys.contains("mc@web"),
        "{keys}"
    );

    let (code, out, err) = p.mc_ssh(&["onboard", "rollback", "web"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        user_exists(host, "mc"),
        "a user onboarding did not create stays"
    );
    assert_eq!(
        host.exec_ok("cat /home/mc/.ssh/authorized_keys").unwrap(),
        format!("{theirs}\n")
    );
    assert!(!host.path_exists("/etc/sudoers.d/mc-mc").unwrap());
}
