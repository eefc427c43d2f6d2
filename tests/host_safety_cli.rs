//! Attacks on a managed host, replayed end to end through the real `mc`
//! binary against real test hosts: a local user planting links where root
//! writes, a secret looked for in every command line while its command
//! runs, `mc` killed in the middle of a command, and a second run on a host
//! that is still being changed.

use mc_testfleet::{Fleet, Host};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn mc(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mc"));
    cmd.stdin(Stdio::null())
        // Kept SSH masters go to the build's scratch space, not the user's.
        .env(
            "XDG_RUNTIME_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("host-safety"),
        )
        .env("XDG_CONFIG_HOME", config)
        .env_remove("MC_IDENTITY");
    cmd
}

/// `mc apply --yes PROJECT --ssh-config …`, not waited for.
fn start_apply(fleet: &Fleet, project: &Path) -> Child {
    mc(&project.join(".config"))
        .args(["apply", "--yes"])
        .arg(project)
        .arg("--ssh-config")
        .arg(fleet.ssh_config())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running mc")
}

/// Runs `mc apply --yes` on `project`; returns (exit code, stdout + stderr).
fn apply(fleet: &Fleet, project: &Path) -> (i32, String) {
    let out = start_apply(fleet, project).wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn project(host: &Host, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.mc"),
        format!("host \"{}\" {{}}\non all {{\n{body}\n}}\n", host.name()),
    )
    .unwrap();
    dir
}

fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

/// Command lines on the host that hold the text in `needle_file`.
fn command_lines_with(host: &Host, needle_file: &str) -> String {
    host.exec_ok(&format!(
        "for f in /proc/[0-9]*/cmdline; do \
         tr '\\0' ' ' < $f | grep -q -F -f {needle_file} && tr '\\0' ' ' < $f && echo; \
         done; true"
    ))
    .unwrap()
}

fn running_on(host: &Host, needle: &str) -> bool {
    host.exec(&format!("pgrep -f -x '{needle}' >/dev/null"))
        .unwrap()
        .status
        .success()
}

#[test]
fn a_users_planted_links_never_turn_roots_file_write_against_root() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    h.exec_ok(
        "useradd -m -s /bin/sh mallory && printf 'root only\\n' > /etc/precious && chmod 600 /etc/precious && \
         runuser -u mallory -- sh -c 'cd /home/mallory && ln -s /etc/precious app.conf && \
           perl -e \"symlink(q(/etc/precious), qq(.app.conf.mc-tmp-\\$_)) for 1..9999\"'",
    )
    .unwrap();
    let p = project(
        h,
        "  file \"/home/mallory/app.conf\" {\n    content = \"managed\\n\"\n    owner = \"mallory\"\n  }",
    );
    let (code, out) = apply(&fleet, p.path());
    assert_eq!(code, 0, "{out}");
    assert_eq!(h.read_file("/etc/precious").unwrap(), b"root only\n");
    assert_eq!(
        h.exec_ok("stat -c %a:%U /etc/precious").unwrap().trim(),
        "600:root"
    );
    assert_eq!(
        h.exec_ok("stat -c %F:%a:%U /home/mallory/app.conf")
            .unwrap()
            .trim(),
        "regular file:644:mallory"
    );
    assert_eq!(h.read_file("/home/mallory/app.conf").unwrap(), b"managed\n");
}

#[test]
fn a_secret_in_a_command_is_in_no_command_line_on_the_host() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    let secret = "c0rrect-h0rse-argv-secret";
    let p = project(
        h,
        "  command \"deploy\" {\n    run = \"token='${secret(\"token\")}'; touch /root/started; sleep 3; test -n \\\"$token\\\"\"\n  }",
    );
    let config = p.path().join(".config");
    let mut set = mc(&config)
        .args(["secret", "set", "token"])
        .current_dir(p.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    set.stdin
        .take()
        .unwrap()
        .write_all(secret.as_bytes())
        .unwrap();
    assert!(set.wait().unwrap().success());
    h.write_file("/root/needle", secret.as_bytes()).unwrap();

    let run = start_apply(&fleet, p.path());
    let started = eventually(Duration::from_secs(60), || {
        h.path_exists("/root/started").unwrap()
    });
    let seen = command_lines_with(h, "/root/needle");
    let out = run.wait_with_output().unwrap();
    assert!(started, "the command did not start: {out:?}");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(seen.trim(), "", "the secret is in a command line");
    assert!(!text.contains(secret), "{text}");
}

/// A command that notes each start, refuses to run beside itself (an
/// `flock` it takes), and sleeps `secs`.
fn guarded_sleep(secs: &str) -> String {
    format!(
        "  command \"migrate\" {{\n    run = \"exec 9>/root/migrate.lock; flock -n 9 || {{ echo concurrent >> /root/log; exit 9; }}; echo start >> /root/log; sleep {secs}; echo end >> /root/log\"\n  }}"
    )
}

#[test]
fn killing_mc_ends_its_command_on_the_host_and_the_next_apply_runs_it_alone() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    let p = project(h, &guarded_sleep("7.25"));
    let mut first = start_apply(&fleet, p.path());
    assert!(eventually(Duration::from_secs(60), || h
        .path_exists("/root/log")
        .unwrap()));
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || !running_on(h, "sleep 7.25")),
        "the command outlived mc"
    );
    // A new plan (the killed run claimed the first one).
    let p = project(
        h,
        &format!(
            "{}\n  file \"/root/second-run\" {{\n    content = \"\"\n  }}",
            guarded_sleep("7.25")
        ),
    );
    let (code, out) = apply(&fleet, p.path());
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        String::from_utf8(h.read_file("/root/log").unwrap()).unwrap(),
        "start\nstart\nend\n"
    );
}

#[test]
fn a_second_run_on_a_busy_host_is_refused_with_a_clear_message() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    // Two projects, two state stores: only the host can tell they collide.
    let a = project(h, &guarded_sleep("40"));
    let b = project(h, &guarded_sleep("1"));
    let first = start_apply(&fleet, a.path());
    assert!(eventually(Duration::from_secs(60), || h
        .path_exists("/root/log")
        .unwrap()));
    let (code, out) = apply(&fleet, b.path());
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("another mc run is still applying on this host"),
        "{out}"
    );
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(h.read_file("/root/log").unwrap()).unwrap(),
        "start\nend\n",
        "the second run's command must not have run"
    );
}
