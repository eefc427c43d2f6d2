//! `mc run TARGET -- COMMAND` on real sshd test hosts: output and exit
//! status per host, one session per host, policies and approvals as for a
//! plan, an audit entry, and nothing left in the state for drift.

use mc_testfleet::Fleet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `mc -C DIR`.
fn mc(dir: &Path, _fleet: &Fleet) -> Command {
    mc_in(dir)
}

/// `mc -C DIR SUBCOMMAND --ssh-config FILE`, for commands reaching hosts.
fn mc_ssh(dir: &Path, fleet: &Fleet, subcommand: &str) -> Command {
    let mut cmd = mc_in(dir);
    cmd.arg(subcommand)
        .arg("--ssh-config")
        .arg(fleet.ssh_config());
    cmd
}

fn mc_in(dir: &Path) -> Command {
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
    cmd.stdin(Stdio::null()).arg("-C").arg(dir);
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

/// Both test hosts, the second in group `prod`, and `settings` (project
/// settings and policies).
fn project(fleet: &Fleet, settings: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (fleet.host(0).name(), fleet.host(1).name());
    let src = format!(
        "host \"{a}\" {{}}\nhost \"{b}\" {{\n  groups = [\"prod\"]\n}}\n\n{settings}\n\non all {{\n  directory \"/srv/run-test\" {{}}\n}}\n"
    );
    std::fs::write(dir.path().join("main.mc"), src).unwrap();
    dir
}

const NO_APPROVAL: &str = "project {\n  approval_risk = \"none\"\n}\n";

fn state_db(dir: &Path) -> PathBuf {
    dir.join(".mc/state.db")
}

#[test]
fn a_command_runs_on_every_host_with_its_output_and_exit_status() {
    // Its own hosts: the session count must not see other tests' sessions.
    let fleet = &Fleet::start(2).unwrap();
    let dir = project(fleet, NO_APPROVAL);
    let p = dir.path();
    let before: Vec<usize> = fleet.hosts().iter().map(|h| h.count_sessions()).collect();
    let (code, out, err) =
        run(mc_ssh(p, fleet, "run").args(["all", "--", "echo from $(cat /etc/hostname); exit 0"]));
    assert_eq!(code, 0, "{out}{err}");
    for (i, h) in fleet.hosts().iter().enumerate() {
        assert!(out.contains(&format!("── {} (exit 0)", h.name())), "{out}");
        assert_eq!(
            h.count_sessions() - before[i],
            1,
            "one ssh session per host"
        );
    }
    assert!(out.contains("from "), "{out}");

    // A failing host: its exit status, and mc exits 1.
    let b = fleet.host(1).name();
    let (code, out, err) =
        run(mc_ssh(p, fleet, "run").args([b, "--json", "--", "echo oops >&2; exit 3"]));
    assert_eq!(code, 1, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["hosts"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["hosts"][0]["host"], b);
    assert_eq!(doc["hosts"][0]["exit"], 3);
    assert!(
        doc["hosts"][0]["output"].as_str().unwrap().contains("oops"),
        "{doc}"
    );

    // Audited, and not left behind as applied state that drift would report.
    let (_, audit, _) = run(mc(p, fleet).args(["audit", "--json"]));
    assert!(audit.contains("run.command"), "{audit}");
    let (code, drift, err) = run(&mut mc_ssh(p, fleet, "drift"));
    assert_eq!(code, 0, "{drift}{err}");
    assert!(!drift.contains("mc run"), "{drift}");
    let (_, state, _) = run(mc(p, fleet).args(["state", "list"]));
    assert!(!state.contains("mc run"), "{state}");
    assert!(state_db(p).exists());
}

#[test]
fn become_and_timeout_reach_the_command() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let dir = project(fleet, NO_APPROVAL);
    let p = dir.path();
    let a = fleet.host(0).name();
    let (code, out, err) = run(mc_ssh(p, fleet, "run").args([a, "--become", "--", "id -u"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\n0\n"), "{out}");
    let (code, out, _) =
        run(mc_ssh(p, fleet, "run").args([a, "--timeout", "1s", "--json", "--", "sleep 30"]));
    assert_eq!(code, 1, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["hosts"][0]["exit"], serde_json::Value::Null, "{doc}");
    assert!(
        doc["hosts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{doc}"
    );
}

#[test]
fn policies_deny_and_approvals_gate_ad_hoc_commands() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let deny = r#"policy "no ad-hoc commands in prod" {
  when change.resource is command && contains(change.host.groups, "prod") {
    deny("ad-hoc command on production host ${change.host.name}")
  }
}"#;
    let dir = project(fleet, &format!("{NO_APPROVAL}\n{deny}"));
    let p = dir.path();
    let (code, _, err) =
        run(mc_ssh(p, fleet, "run").args(["prod", "--", "touch /srv/run-test/denied"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("denied by policy"), "{err}");
    assert!(!fleet.host(1).path_exists("/srv/run-test/denied").unwrap());

    // High risk by default: the default approval_risk asks for an approval.
    let dir = project(fleet, "");
    let p = dir.path();
    let a = fleet.host(0).name();
    let (code, _, err) = run(mc_ssh(p, fleet, "run").args([
        a,
        "--",
        "mkdir -p /srv/run-test && touch /srv/run-test/approved",
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("needs an approval"), "{err}");
    assert!(!fleet.host(0).path_exists("/srv/run-test/approved").unwrap());
    let saved = err
        .lines()
        .find_map(|l| l.split("run `mc apply ").nth(1))
        .map(|s| s.trim_end_matches('`').to_string())
        .expect("the saved plan");
    let saved = p.join(saved);
    let (code, out, err) = run(mc(p, fleet).arg("approve").arg(&saved).args(["-m", "ok"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(mc_ssh(p, fleet, "apply").arg(&saved).arg("--yes"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(fleet.host(0).path_exists("/srv/run-test/approved").unwrap());
}
