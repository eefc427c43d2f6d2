//! Apply semantics as users see them through the real `mc` binary: stored
//! command output in `mc runs`, per-resource staleness of a plan file, and
//! refreshes shown in the plan.

mod common;

use common::run;
use mc_testfleet::Fleet;
use std::path::Path;
use std::process::Command;

fn mc() -> Command {
    common::mc("apply-semantics-cli")
}

fn write_project(dir: &Path, hosts: &[&str], body: &str) {
    let mut src = String::new();
    for h in hosts {
        src.push_str(&format!("host \"{h}\" {{}}\n"));
    }
    src.push_str(&format!("\non all {{\n{body}}}\n"));
    std::fs::write(dir.join("main.mc"), src).unwrap();
}

#[test]
fn a_commands_output_is_readable_in_mc_runs() {
    let fleet = Fleet::start(1).unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    write_project(
        p,
        &[fleet.host(0).name()],
        r#"  command "greet" {
    run = "echo hello from ${host.name}; echo careful >&2"
    creates = "/srv/greeted"
  }
  command "fail" {
    run = "echo about to fail; echo broken pipe >&2; exit 3"
  }
"#,
    );
    let ssh = ["--ssh-config".as_ref(), fleet.ssh_config().as_os_str()];
    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh));
    assert_eq!(code, 1, "{out}{err}");

    let (code, out, err) = run(mc().args(["runs", "1", "-p"]).arg(p));
    assert_eq!(code, 0, "{err}");
    let host = fleet.host(0).name();
    assert!(out.contains("command[greet] create changed"), "{out}");
    assert!(out.contains(&format!("    | hello from {host}\n")), "{out}");
    assert!(out.contains("    | careful\n"), "{out}");
    assert!(
        out.contains("command[fail] create failed: exit status 3: broken pipe"),
        "{out}"
    );
    assert!(out.contains("    | about to fail\n"), "{out}");
    assert!(out.contains("    | broken pipe\n"), "{out}");

    let (code, out, _) = run(mc().args(["runs", "1", "--json", "--events", "-p"]).arg(p));
    assert_eq!(code, 0);
    let run: serde_json::Value = serde_json::from_str(&out).unwrap();
    let greet = run["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["resource"] == "command[greet]")
        .unwrap();
    // stdout and stderr are read apart: each line is there, in either order.
    let output = greet["output"].as_str().unwrap();
    assert!(output.contains(&format!("hello from {host}\n")), "{output}");
    assert!(output.contains("careful\n"), "{output}");
    assert_eq!(output.lines().count(), 2, "{output}");
    assert!(run["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "started"));
}
