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

#[test]
fn a_notifying_change_shows_its_refresh_in_the_plan_and_a_drift_fix_runs_it() {
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    write_project(
        p,
        &[host.name()],
        r#"  directory "/srv/notify" {}
  let reload = command "reload" {
    run = "echo reload >> /srv/notify/reloads"
    refresh_only = true
  }
  file "/srv/notify/app.conf" {
    content = "v1\n"
    notify = [reload]
  }
"#,
    );
    let policy = r#"
policy "refreshes are reported" {
  when change.action == "refresh" {
    warn("refresh of ${change.resource.id}")
  }
}
"#;
    let mut main = std::fs::read_to_string(p.join("main.mc")).unwrap();
    main.push_str(policy);
    std::fs::write(p.join("main.mc"), main).unwrap();
    let ssh = ["--ssh-config".as_ref(), host.ssh_config().as_os_str()];

    let (code, out, err) = run(mc().arg("plan").arg(p).args(ssh));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("  + file[/srv/notify/app.conf]\n"), "{out}");
    assert!(
        out.contains("      ↻ command[reload] run, notified by file[/srv/notify/app.conf]\n"),
        "{out}"
    );
    assert!(
        out.contains("2 to create, 0 to update, 0 to delete, 1 to refresh"),
        "{out}"
    );
    assert!(out.contains("refresh of command[reload]"), "{out}");

    let (code, out, _) = run(mc().args(["plan", "--json"]).arg(p).args(ssh));
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reload = plan["hosts"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "command[reload]")
        .unwrap();
    assert_eq!(
        reload["notified_by"],
        serde_json::json!(["file[/srv/notify/app.conf]"])
    );
    assert!(plan["policy"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["resource"] == "command[reload]" && f["kind"] == "warn"));

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(host.read_file("/srv/notify/reloads").unwrap(), b"reload\n");

    // Edited by hand; `mc drift --fix` then `mc apply` restores it and runs
    // the refresh it triggers in the same apply.
    host.exec_ok("echo hand > /srv/notify/app.conf").unwrap();
    let fix = p.join("fix.json");
    let (code, out, err) = run(mc()
        .args(["drift", "--fix", "-o"])
        .arg(&fix)
        .arg(p)
        .args(ssh));
    assert_eq!(code, 2, "{out}{err}");
    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(&fix).args(ssh));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(host.read_file("/srv/notify/app.conf").unwrap(), b"v1\n");
    assert_eq!(
        host.read_file("/srv/notify/reloads").unwrap(),
        b"reload\nreload\n"
    );
    let (code, out, err) = run(mc().args(["plan", "--detailed-exitcode"]).arg(p).args(ssh));
    assert_eq!(code, 0, "{out}{err}");
}
