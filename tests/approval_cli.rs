//! Policies, approvals and drift end to end: the real `mc` binary, the real
//! runner and real sshd test hosts.

use mc_runtime::state::PlanStatus;
use mc_runtime::StateStore;
use mc_testfleet::Fleet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

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

fn ssh_args(fleet: &Fleet) -> Vec<PathBuf> {
    vec![
        PathBuf::from("--ssh-config"),
        fleet.ssh_config().to_path_buf(),
    ]
}

fn project(fleet: &Fleet, body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_main(dir.path(), fleet, body);
    dir
}

fn write_main(dir: &Path, fleet: &Fleet, body: &str) {
    let mut src = String::new();
    for h in fleet.hosts() {
        src.push_str(&format!("host \"{}\" {{}}\n", h.name()));
    }
    src.push_str(body);
    std::fs::write(dir.join("main.mc"), src).unwrap();
}

fn secure_project(content: &str) -> String {
    format!(
        r#"
policy "secure files need a second person" {{
  when change.resource is file && starts_with(change.resource.path, "/srv/appr/secure/") {{
    require_approval("change under /srv/appr/secure")
  }}
}}

on all {{
  directory "/srv/appr" {{}}
  directory "/srv/appr/secure" {{}}
  file "/srv/appr/secure/key" {{
    content = "{content}\n"
  }}
}}
"#
    )
}

fn plan_hash(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    mc_ir::plan::Plan::from_json(&text).unwrap().hash
}

#[test]
fn a_plan_needing_approval_is_refused_until_approved_and_a_changed_plan_needs_its_own() {
    let fleet = mc_testfleet::shared(1).unwrap();
    let host = fleet.host(0);
    let project = project(fleet, &secure_project("v1"));
    let p = project.path();
    let plan1 = p.join("plan1.json");

    let (code, out, err) = run(mc()
        .arg("plan")
        .arg(p)
        .arg("-o")
        .arg(&plan1)
        .args(ssh_args(fleet)));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("This plan needs an approval"), "{out}");
    assert!(out.contains("- change under /srv/appr/secure"), "{out}");
    let hash1 = plan_hash(&plan1);

    // Unapproved: refused, with the reasons, and nothing touched.
    let (code, out, err) = run(mc().arg("apply").arg(&plan1).args(ssh_args(fleet)));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("needs an approval"), "{err}");
    assert!(err.contains("change under /srv/appr/secure"), "{err}");
    assert!(!host.path_exists("/srv/appr/secure/key").unwrap());

    // `mc approve` alone lists the plans waiting.
    let (code, out, err) = run(mc().arg("approve").arg("-p").arg(p));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&hash1[..12]), "{out}");

    let (code, out, err) = run(mc()
        .arg("approve")
        .arg(&hash1[..12])
        .arg("-p")
        .arg(p)
        .args(["--reason", "reviewed with ops"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("approved by"), "{out}");
    assert!(out.contains("reviewed with ops"), "{out}");
    let store = StateStore::open(&StateStore::default_path(p)).unwrap();
    let decisions = store.plan_decisions(&hash1).unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].reason, "reviewed with ops");
    assert!(decisions[0].actor.contains('@'), "{}", decisions[0].actor);
    let audit = store.audit_entries(None).unwrap();
    let entry = audit
        .iter()
        .find(|e| e.seq == decisions[0].audit_seq)
        .unwrap();
    assert_eq!(entry.kind, "plan.approve");
    assert!(entry.detail.contains(&hash1), "{}", entry.detail);

    // The source changes: the new plan needs its own approval.
    write_main(p, fleet, &secure_project("v2"));
    let plan2 = p.join("plan2.json");
    let (code, out, err) = run(mc()
        .arg("plan")
        .arg(p)
        .arg("-o")
        .arg(&plan2)
        .args(ssh_args(fleet)));
    assert_eq!(code, 0, "{out}{err}");
    let hash2 = plan_hash(&plan2);
    assert_ne!(hash1, hash2);
    let (code, _, err) = run(mc().arg("apply").arg(&plan2).args(ssh_args(fleet)));
    assert_eq!(code, 1);
    assert!(err.contains("needs an approval"), "{err}");

    // The approved plan applies.
    let (code, out, err) = run(mc().arg("apply").arg(&plan1).args(ssh_args(fleet)));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(host.read_file("/srv/appr/secure/key").unwrap(), b"v1\n");

    // A rejected plan stays refused; rejection is audited.
    let (code, out, err) = run(mc()
        .arg("reject")
        .arg(&plan2)
        .args(["--reason", "not during the freeze"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rejected"), "{out}");
    assert_eq!(
        store.plan(&hash2).unwrap().unwrap().status,
        PlanStatus::Rejected
    );
    let (code, _, err) = run(mc().arg("apply").arg(&plan2).args(ssh_args(fleet)));
    assert_eq!(code, 1);
    assert!(err.contains("rejected"), "{err}");
    let (code, _, err) = run(mc().arg("approve").arg(&plan2));
    assert_eq!(code, 1);
    assert!(err.contains("rejected"), "{err}");
    assert_eq!(host.read_file("/srv/appr/secure/key").unwrap(), b"v1\n");

    // `mc apply DIR` refuses before asking and saves the plan to approve.
    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh_args(fleet)));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("needs an approval"), "{err}");
    assert!(err.contains(".mc/plans/plan-"), "{err}");
    assert_eq!(host.read_file("/srv/appr/secure/key").unwrap(), b"v1\n");
}

#[test]
fn a_policy_deny_fails_the_plan_with_spans_and_cannot_be_approved() {
    let fleet = mc_testfleet::shared(1).unwrap();
    let project = project(
        fleet,
        r#"
project {
  approval_risk = "high"
}

policy "no world-writable files" {
  when change.resource is file && (change.resource.mode ?? 0) == 0o777 {
    deny("world-writable file ${change.resource.path}")
  }
}

on all {
  file "/srv/deny/open" {
    content = "x\n"
    mode = 0o777
  }
}
"#,
    );
    let p = project.path();
    let out_file = p.join("plan.json");
    let (code, out, err) = run(mc()
        .arg("plan")
        .arg(p)
        .arg("-o")
        .arg(&out_file)
        .args(ssh_args(fleet)));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("E0501"), "{out}");
    assert!(out.contains("world-writable file /srv/deny/open"), "{out}");
    // Spans: the resource declaration and the deny call, with file and line.
    assert!(out.contains("main.mc:14"), "{out}");
    assert!(out.contains("file \"/srv/deny/open\""), "{out}");
    assert!(
        out.contains("denied here, by policy \"no world-writable files\""),
        "{out}"
    );
    assert!(out.contains("Denied by policy"), "{out}");

    let (code, _, err) = run(mc().arg("approve").arg(&out_file).args(["--reason", "x"]));
    assert_eq!(code, 1);
    assert!(err.contains("cannot override a deny"), "{err}");
    let (code, _, err) = run(mc().arg("apply").arg(&out_file).args(ssh_args(fleet)));
    assert_eq!(code, 1);
    assert!(err.contains("denied by policy"), "{err}");
    assert!(!fleet.host(0).path_exists("/srv/deny/open").unwrap());
}

#[test]
fn drift_reports_a_hand_edit_with_its_diff_and_the_fix_plan_restores_it() {
    let fleet = mc_testfleet::shared(1).unwrap();
    let host = fleet.host(0);
    let project = project(
        fleet,
        r#"
on all {
  directory "/srv/drift-cli" {}
  file "/srv/drift-cli/motd" {
    content = "managed by mc\n"
    mode = 0o644
  }
}
"#,
    );
    let p = project.path();
    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh_args(fleet)));
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = run(mc().arg("drift").arg(p).args(ssh_args(fleet)));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no drift (2 resources"), "{out}");

    host.write_file("/srv/drift-cli/motd", b"edited by hand\n")
        .unwrap();
    let (code, out, err) = run(mc().arg("drift").arg(p).args(ssh_args(fleet)));
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("~ file[/srv/drift-cli/motd]"), "{out}");
    assert!(out.contains("-edited by hand"), "{out}");
    assert!(out.contains("+managed by mc"), "{out}");
    assert!(out.contains("Drift: 1 of 2 resources"), "{out}");

    let (code, out, _) = run(mc().args(["drift", "--json"]).arg(p).args(ssh_args(fleet)));
    assert_eq!(code, 2);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["drifted"], 1);
    assert_eq!(
        json["hosts"][0]["drifted"][0]["id"],
        "file[/srv/drift-cli/motd]"
    );
    assert!(json["hosts"][0]["drifted"][0]["content_diff"]
        .as_str()
        .unwrap()
        .contains("-edited by hand"));

    // Stored for the TUI and later reads.
    let store = StateStore::open(&StateStore::default_path(p)).unwrap();
    let stored = store.current_drift().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].item.resource, "file[/srv/drift-cli/motd]");

    let fix = p.join("fix.json");
    let (code, out, err) = run(mc()
        .args(["drift", "--fix", "-o"])
        .arg(&fix)
        .arg(p)
        .args(ssh_args(fleet)));
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("Plan: 0 to create, 1 to update"), "{out}");
    let (code, out, err) = run(mc().arg("apply").arg(&fix).args(ssh_args(fleet)));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        host.read_file("/srv/drift-cli/motd").unwrap(),
        b"managed by mc\n"
    );
    let (code, out, err) = run(mc().arg("drift").arg(p).args(ssh_args(fleet)));
    assert_eq!(code, 0, "{out}{err}");
    assert!(store.current_drift().unwrap().is_empty());
}
