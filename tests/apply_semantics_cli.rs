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

#[test]
fn a_hand_edit_on_one_host_between_plan_and_apply_leaves_the_other_host_applied() {
    let fleet = Fleet::start(2).unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let names: Vec<&str> = fleet.hosts().iter().map(|h| h.name()).collect();
    write_project(
        p,
        &names,
        r#"  directory "/srv/site" {}
  file "/srv/site/app.conf" {
    content = "managed ${host.name}\n"
  }
  file "/srv/site/index.html" {
    content = "hello\n"
  }
"#,
    );
    for h in fleet.hosts() {
        h.exec_ok("mkdir -p /srv/site && echo old > /srv/site/app.conf")
            .unwrap();
    }
    let ssh = ["--ssh-config".as_ref(), fleet.ssh_config().as_os_str()];
    let plan_file = p.join("plan.json");
    let (code, out, err) = run(mc().arg("plan").arg(p).arg("-o").arg(&plan_file).args(ssh));
    assert_eq!(code, 0, "{out}{err}");
    let (clean, edited) = (fleet.host(0), fleet.host(1));
    edited
        .exec_ok("echo edited by hand > /srv/site/app.conf")
        .unwrap();

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(&plan_file).args(ssh));
    assert_eq!(code, 1, "{out}{err}");
    let text = format!("{out}{err}");
    assert!(text.contains("file[/srv/site/app.conf]"), "{text}");
    assert!(text.contains("run `mc plan` again"), "{text}");
    assert_eq!(
        clean.read_file("/srv/site/app.conf").unwrap(),
        format!("managed {}\n", clean.name()).as_bytes()
    );
    assert_eq!(
        edited.read_file("/srv/site/app.conf").unwrap(),
        b"edited by hand\n"
    );
    assert_eq!(
        edited.read_file("/srv/site/index.html").unwrap(),
        b"hello\n"
    );

    // --stale abort refuses the whole plan.
    let (code, _, _) = run(mc().arg("plan").arg(p).arg("-o").arg(&plan_file).args(ssh));
    assert_eq!(code, 0);
    clean
        .exec_ok("echo edited too > /srv/site/index.html")
        .unwrap();
    let (code, out, err) = run(mc()
        .args(["apply", "--yes", "--stale", "abort"])
        .arg(&plan_file)
        .args(ssh));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("the plan is stale"), "{err}");
    assert_eq!(
        edited.read_file("/srv/site/app.conf").unwrap(),
        b"edited by hand\n"
    );
    let (code, _, err) = run(mc().args(["apply", "--stale", "later"]).arg(&plan_file));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`skip`"), "{err}");
}
