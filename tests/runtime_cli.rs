//! `mc plan` / `mc apply` / `mc runs` / `mc audit` / `mc state` end to end:
//! the real `mc` binary, the real runner, a local host and real sshd test
//! hosts.

use mc_testfleet::Fleet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `mc` finds the runner next to itself; cargo does not build other
/// packages' binaries for this test, so build it once here.
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
    cmd.stdin(Stdio::null());
    // Kept SSH masters go to the build's scratch space, not the user's.
    cmd.env(
        "XDG_RUNTIME_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-cli"),
    );
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running mc");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn local_project(demo: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = demo.display();
    std::fs::write(
        dir.path().join("main.mc"),
        format!(
            r#"host "localhost" {{
  transport = "local"
}}

on host("localhost") {{
  directory "{root}" {{
    mode = 0o755
  }}
  file "{root}/motd" {{
    content = "hello\n"
    mode = 0o644
  }}
}}
"#
        ),
    )
    .unwrap();
    dir
}

#[test]
fn local_plan_apply_and_second_apply_is_a_no_op() {
    let demo_dir = tempfile::tempdir().unwrap();
    let demo = demo_dir.path().join("demo");
    let project = local_project(&demo);
    let p = project.path();

    let (code, out, err) = run(mc().arg("plan").arg("--detailed-exitcode").arg(p));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains(&format!("+ file[{}/motd]", demo.display())),
        "{out}"
    );
    assert!(out.contains("Plan: 2 to create"), "{out}");

    // No terminal and no --yes: refused before touching anything.
    let (code, _, err) = run(mc().arg("apply").arg(p));
    assert_eq!(code, 1);
    assert!(err.contains("--yes"), "{err}");
    assert!(!demo.exists());

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(demo.join("motd")).unwrap(),
        "hello\n"
    );
    assert!(out.contains("2 changed"), "{out}");

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
    let (code, _, _) = run(mc().arg("plan").arg("--detailed-exitcode").arg(p));
    assert_eq!(code, 0);

    // JSON plan output is the plan IR.
    let (code, out, _) = run(mc().arg("plan").arg("--json").arg(p));
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["schema"], mc_ir::plan::PLAN_SCHEMA);
    assert_eq!(plan["hosts"][0]["host"]["name"], "localhost");

    let (code, out, _) = run(mc().args(["runs", "--project"]).arg(p));
    assert_eq!(code, 0);
    assert!(out.lines().nth(1).unwrap_or("").contains("ok"), "{out}");
    let (code, out, _) = run(mc().args(["runs", "1", "--project"]).arg(p));
    assert_eq!(code, 0);
    assert!(out.starts_with("run 1 (apply) ok by "), "{out}");
    assert!(out.contains("localhost: ok: 2 changed"), "{out}");
    let (code, out, err) = run(mc().arg("facts").arg(p));
    assert_eq!(code, 0, "{err}");
    let facts: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(facts["schema"], 1, "{out}");
    assert!(facts["hosts"]["localhost"].is_object(), "{out}");
    let (code, cached, _) = run(mc().args(["facts", "--cached"]).arg(p));
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&cached).unwrap(),
        facts
    );
    let (code, out, _) = run(mc().args(["audit", "verify", "--project"]).arg(p));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
}

#[test]
fn plan_file_applies_once_and_state_backs_up_and_restores() {
    let demo_dir = tempfile::tempdir().unwrap();
    let demo = demo_dir.path().join("demo");
    let project = local_project(&demo);
    let p = project.path();
    let plan_file = p.join("plan.json");

    let (code, out, err) = run(mc().arg("plan").arg(p).arg("-o").arg(&plan_file));
    assert_eq!(code, 0, "{out}{err}");
    // Applied from another directory: the plan names its project's state store.
    let (code, out, err) = run(mc().arg("apply").arg(&plan_file).current_dir("/"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(demo.join("motd").exists());
    let (code, _, err) = run(mc().arg("apply").arg(&plan_file));
    assert_eq!(code, 1);
    assert!(err.contains("already applied"), "{err}");

    // An edited plan file is refused.
    let text = std::fs::read_to_string(&plan_file).unwrap();
    std::fs::write(&plan_file, text.replace("\"create\"", "\"delete\"")).unwrap();
    let (code, _, err) = run(mc().arg("apply").arg(&plan_file));
    assert_eq!(code, 1);
    assert!(err.contains("modified"), "{err}");

    let backup = p.join("backup.db");
    let (code, _, err) = run(mc()
        .args(["state", "backup", "--project"])
        .arg(p)
        .arg(&backup));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(mc()
        .args(["state", "restore", "--project"])
        .arg(p)
        .arg(&backup));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(mc().args(["runs", "--json", "--project"]).arg(p));
    assert_eq!(code, 0);
    let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(runs["schema"], 1, "{out}");
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{out}");
    let (code, _, _) = run(mc().args(["audit", "verify", "--project"]).arg(p));
    assert_eq!(code, 0);
}

fn fleet_project(fleet: &Fleet, slow: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut src = String::new();
    for h in fleet.hosts() {
        src.push_str(&format!("host \"{}\" {{}}\n", h.name()));
    }
    src.push_str(
        r#"
on all {
  directory "/srv/cli" {
    mode = 0o755
  }
  file "/srv/cli/motd" {
    content = "hello ${host.name}\n"
  }
"#,
    );
    if slow {
        src.push_str(
            r#"  command "slow" {
    run = "touch /srv/cli/slow-started && sleep 4 && touch /srv/cli/slow-done"
    creates = "/srv/cli/slow-done"
  }
  file "/srv/cli/after" {
    content = "after\n"
  }
"#,
        );
    }
    src.push_str("}\n");
    std::fs::write(dir.path().join("main.mc"), src).unwrap();
    dir
}

fn ssh_args(fleet: &Fleet) -> Vec<PathBuf> {
    vec![
        PathBuf::from("--ssh-config"),
        fleet.ssh_config().to_path_buf(),
    ]
}

#[test]
fn fleet_apply_uses_one_ssh_session_per_host_and_converges() {
    let fleet = Fleet::start(2).unwrap();
    let project = fleet_project(&fleet, false);
    let p = project.path();
    let before: Vec<usize> = fleet.hosts().iter().map(|h| h.count_sessions()).collect();
    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh_args(&fleet)));
    assert_eq!(code, 0, "{out}{err}");
    for (h, b) in fleet.hosts().iter().zip(before) {
        assert_eq!(
            h.count_sessions() - b,
            1,
            "one connection for plan + apply on {}",
            h.name()
        );
        assert_eq!(
            h.read_file("/srv/cli/motd").unwrap(),
            format!("hello {}\n", h.name()).as_bytes()
        );
    }
    let (code, out, _) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh_args(&fleet)));
    assert_eq!(code, 0);
    assert!(out.contains("No changes"), "{out}");
    // --limit selects hosts.
    let (code, out, _) = run(mc()
        .args(["plan", "--json", "-l", fleet.host(1).name()])
        .arg(p)
        .args(ssh_args(&fleet)));
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["hosts"].as_array().unwrap().len(), 1);
}

/// Connections ("Accepted publickey") and sessions a host's sshd logged.
fn connections_and_sessions(h: &mc_testfleet::Host) -> (usize, usize) {
    (
        h.sshd_log().matches("Accepted publickey").count(),
        h.count_sessions(),
    )
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

#[test]
fn a_cold_run_connects_once_per_host_refuses_unknown_keys_and_leaves_nothing() {
    let fleet = Fleet::start(2).unwrap();
    let project = fleet_project(&fleet, false);
    let p = project.path();
    // mc's private control directories go to TMPDIR: this one, to look at.
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let before: Vec<_> = fleet.hosts().iter().map(connections_and_sessions).collect();
        let (code, out, err) = run(mc()
            .env("TMPDIR", tmp.path())
            .args(["apply", "--yes", "--ssh-persist", "0"])
            .arg(p)
            .args(ssh_args(&fleet)));
        assert_eq!(code, 0, "{out}{err}");
        if round == 1 {
            assert!(out.contains("No changes"), "{out}");
        }
        for (h, (c, s)) in fleet.hosts().iter().zip(before) {
            let (c1, s1) = connections_and_sessions(h);
            assert_eq!((c1 - c, s1 - s), (1, 1), "{}", h.sshd_log());
            assert_eq!(
                h.read_file("/srv/cli/motd").unwrap(),
                format!("hello {}\n", h.name()).as_bytes()
            );
        }
        // Nothing of the run is left: no control directory, no ssh.
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
        assert_eq!(processes_mentioning(tmp.path()), Vec::<String>::new());
    }

    // A host whose key is not known is refused before anything runs there.
    let h = fleet.host(0);
    let (c, s) = connections_and_sessions(h);
    let (code, out, err) = run(mc()
        .env("TMPDIR", tmp.path())
        .args(["plan", "--ssh-persist", "0", "-l", h.name(), "--ssh-config"])
        .arg(h.ssh_config_without_known_host())
        .arg(p));
    assert_ne!(code, 0, "{out}{err}");
    let text = format!("{out}{err}");
    assert!(text.contains("unreachable"), "{text}");
    assert!(text.contains("Host key verification failed"), "{text}");
    assert_eq!(connections_and_sessions(h), (c, s));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn kill_9_mid_apply_leaves_a_recoverable_store() {
    let fleet = Fleet::start(2).unwrap();
    let project = fleet_project(&fleet, true);
    let p = project.path();
    let mut child = mc()
        .args(["apply", "--yes"])
        .arg(p)
        .args(ssh_args(&fleet))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fleet
        .hosts()
        .iter()
        .all(|h| h.path_exists("/srv/cli/slow-started").unwrap_or(false))
    {
        assert!(child.try_wait().unwrap().is_none(), "mc apply ended early");
        assert!(Instant::now() < deadline, "the slow command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let (code, out, _) = run(mc().args(["state", "locks", "--project"]).arg(p));
    assert_eq!(code, 0);
    assert!(out.contains("stale"), "{out}");
    let (code, out, _) = run(mc().args(["runs", "--project"]).arg(p));
    assert_eq!(code, 0);
    assert!(out.contains("crashed"), "{out}");
    let (code, out, _) = run(mc().args(["audit", "verify", "--project"]).arg(p));
    assert_eq!(code, 0, "{out}");

    // The rerun takes the dead run's lock over and converges.
    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh_args(&fleet)));
    assert_eq!(code, 0, "{out}{err}");
    for h in fleet.hosts() {
        assert_eq!(h.read_file("/srv/cli/after").unwrap(), b"after\n");
    }
    let (_, out, _) = run(mc().args(["audit", "--project"]).arg(p));
    assert!(out.contains("lock.takeover"), "{out}");
    let (code, out, _) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh_args(&fleet)));
    assert_eq!(code, 0);
    assert!(out.contains("No changes"), "{out}");
}

#[test]
fn the_quickstart_plans() {
    let state = tempfile::tempdir().unwrap();
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart");
    let (code, out, err) = run(mc()
        .arg("plan")
        .arg(&project)
        .arg("--state")
        .arg(state.path().join("state.db")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("localhost (localhost)\n"), "{out}");
    assert!(out.contains("Plan: "), "{out}");
}

/// Runs `mc ARGS` on a pseudo-terminal (util-linux `script`) with `input`
/// typed in.
fn on_a_terminal(args: &str, input: &str) -> (i32, String) {
    use std::io::Write;
    mc(); // builds the runner
    let mut child = Command::new("script")
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_mc")),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn apply_asks_for_confirmation_on_a_terminal() {
    let demo_dir = tempfile::tempdir().unwrap();
    let demo = demo_dir.path().join("demo");
    let project = local_project(&demo);
    let p = project.path().display().to_string();

    let (code, out) = on_a_terminal(&format!("apply {p}"), "no\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Apply these changes?"), "{out}");
    assert!(out.contains("cancelled"), "{out}");
    assert!(!demo.exists());

    let (code, out) = on_a_terminal(&format!("apply {p}"), "yes\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 changed"), "{out}");
    assert_eq!(
        std::fs::read_to_string(demo.join("motd")).unwrap(),
        "hello\n"
    );
}
