//! The runner `mc` ships: statically linked (it starts in an empty chroot
//! and on the test hosts), chosen by the host's `uname -m`, refused with a
//! clear error for an architecture it has no build for, and old builds
//! pruned from the host's cache.

mod common;

use common::*;
use mc_runtime::runners::{elf_arch, has_interpreter};
use mc_runtime::transport::{connect, RUNNER_BUILDS_KEPT};
use mc_runtime::{ConnectOptions, Runners};
use mc_testfleet::Fleet;
use std::io::Write;
use std::process::{Command, Stdio};

const HELLO: &str = r#"{"type":"hello","protocol":1,"runtime_version":"test"}"#;

/// Runs `program` with a `hello` request on stdin; returns its stdout.
fn say_hello(mut cmd: Command) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{HELLO}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_shipped_runner_answers_hello_in_an_empty_chroot() {
    let runners = Runners::embedded();
    let runner = runners.for_arch(std::env::consts::ARCH).unwrap();
    assert!(!has_interpreter(&runner.bytes), "the runner is dynamic");
    let root = tempfile::tempdir().unwrap();
    let exe = root.path().join("mc-runner");
    std::fs::write(&exe, &runner.bytes[..]).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Nothing but the runner: no libc, no loader, no /proc, no /etc.
    let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
    let mut cmd = Command::new("chroot");
    cmd.arg(root.path()).arg("/mc-runner");
    let answer = say_hello(cmd);
    assert!(answer.contains(r#""type":"hello""#), "{answer}");
    assert!(answer.contains(r#""protocol":1"#), "{answer}");
}

#[test]
fn a_dynamically_linked_program_is_told_apart() {
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(has_interpreter(&me));
    assert_eq!(elf_arch(&me), Some(std::env::consts::ARCH));
    assert_eq!(elf_arch(b"#!/bin/sh\n"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_test_hosts_run_the_uploaded_static_runner_and_keep_the_newest_builds() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    // Older builds in root's cache, newest first.
    let old: Vec<String> = (0..RUNNER_BUILDS_KEPT + 1)
        .map(|i| format!("mc-runner-{}", &format!("{i:x}").repeat(64)[..64]))
        .collect();
    for (age, name) in old.iter().enumerate() {
        h.exec_ok(&format!(
            "mkdir -p /var/lib/mc/runner && touch -d '-{} hours' /var/lib/mc/runner/{name}",
            age + 1
        ))
        .unwrap();
    }
    let mut opts = ConnectOptions::new(runner());
    opts.ssh_config = Some(fleet.ssh_config().to_path_buf());
    let session = connect(&ssh_host(h.name()), &opts).await.unwrap();
    assert!(session.uploaded);
    session.close().await;

    let runner = opts.runner.for_arch("x86_64").unwrap();
    let shipped = h
        .read_file(&format!("/var/lib/mc/runner/mc-runner-{}", runner.hash))
        .unwrap();
    assert_eq!(shipped[..], runner.bytes[..], "the upload is byte for byte");
    let kept = h.exec_ok("ls /var/lib/mc/runner").unwrap();
    let kept: Vec<&str> = kept.lines().collect();
    assert_eq!(kept.len(), RUNNER_BUILDS_KEPT, "{kept:?}");
    assert!(kept.contains(&format!("mc-runner-{}", runner.hash).as_str()));
    // The newest older builds stay; the oldest ones go.
    assert!(kept.contains(&old[0].as_str()), "{kept:?}");
    assert!(!kept.contains(&old[old.len() - 1].as_str()), "{kept:?}");

    // The shipped file runs inside an empty chroot on the host too.
    let answer = h
        .exec_ok(&format!(
            "d=$(mktemp -d) && cp /var/lib/mc/runner/mc-runner-{} $d/r && echo '{HELLO}' | chroot $d /r",
            runner.hash
        ))
        .unwrap();
    assert!(answer.contains(r#""type":"hello""#), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_of_another_architecture_gets_an_error_naming_it() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    // The host says it is a RISC-V machine.
    h.write_file("/usr/local/bin/uname", b"#!/bin/sh\necho riscv64\n")
        .unwrap();
    h.exec_ok("chmod 755 /usr/local/bin/uname").unwrap();
    let mut opts = ConnectOptions::new(runner());
    opts.ssh_config = Some(fleet.ssh_config().to_path_buf());
    let err = match connect(&ssh_host(h.name()), &opts).await {
        Ok(_) => panic!("a riscv64 host got an x86_64 runner"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("architecture is riscv64"), "{err}");
    assert!(err.contains("runners: x86_64"), "{err}");
    assert!(
        !h.path_exists("/var/lib/mc/runner").unwrap_or(false) || {
            h.exec_ok("ls /var/lib/mc/runner")
                .unwrap()
                .trim()
                .is_empty()
        }
    );
}
