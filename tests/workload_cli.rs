//! Source order through the real `mc` binary on real test hosts: the
//! standard workload (`tests/workloads/standard/`, 77 resources per host)
//! on ten hosts converges in the first apply, checked resource by resource
//! on the hosts without `mc`, and the second apply and the plan after it
//! change nothing; a role whose steps rely on declaration order applies in
//! one run; `mc compile` and `mc plan --json` show the apply order.

mod common;

use mc_testfleet::workload::{check_standard, write_standard, STANDARD_RESOURCES};
use mc_testfleet::Fleet;
use std::process::Command;

fn mc() -> Command {
    common::mc("workload-cli")
}

use common::run;

#[test]
fn the_standard_workload_converges_in_one_apply_on_ten_hosts() {
    let fleet = Fleet::start(10).unwrap();
    let project = tempfile::tempdir().unwrap();
    let names: Vec<&str> = fleet.hosts().iter().map(|h| h.name()).collect();
    write_standard(project.path(), &names).unwrap();
    let ssh = ["--ssh-config".as_ref(), fleet.ssh_config().as_os_str()];
    let p = project.path();

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh));
    assert_eq!(code, 0, "first apply: {out}{err}");
    for h in fleet.hosts() {
        let problems = check_standard(h, 1).unwrap();
        assert!(problems.is_empty(), "{}: {problems:#?}", h.name());
    }

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh));
    assert_eq!(code, 0, "second apply: {out}{err}");
    assert!(out.contains("No changes"), "{out}");
    let (code, out, err) = run(mc().args(["plan", "--detailed-exitcode"]).arg(p).args(ssh));
    assert_eq!(code, 0, "plan after: {out}{err}");
    for h in fleet.hosts() {
        let problems = check_standard(h, 1).unwrap();
        assert!(problems.is_empty(), "{}: {problems:#?}", h.name());
    }
}

#[test]
fn compile_and_plan_json_show_the_apply_order() {
    let fleet = Fleet::start(1).unwrap();
    let project = tempfile::tempdir().unwrap();
    write_standard(project.path(), &[fleet.host(0).name()]).unwrap();
    let p = project.path();
    let host = fleet.host(0).name();

    let (code, out, err) = run(mc().args(["compile", "--json", "--host", host]).arg(p));
    assert_eq!(code, 0, "{err}");
    let catalog: serde_json::Value = serde_json::from_str(&out).unwrap();
    let order: Vec<&str> = catalog["apply_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(order.len(), STANDARD_RESOURCES);
    let pos = |id: &str| order.iter().position(|x| *x == id).unwrap();
    assert!(pos("command[checksums]") > pos("directory[/srv/bench/files]"));
    assert!(pos("command[checksums]") > pos("file[/srv/bench/files/f49]"));
    assert_eq!(order[0], "group[benchapp]");

    let (code, out, _) = run(mc().args(["compile", "--host", host]).arg(p));
    assert_eq!(code, 0);
    assert!(out.contains("\n59. command[checksums]"), "{out}");

    let ssh = ["--ssh-config".as_ref(), fleet.ssh_config().as_os_str()];
    let (code, out, err) = run(mc().args(["plan", "--json"]).arg(p).args(ssh));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let planned: Vec<&str> = plan["hosts"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(planned, order, "the plan lists resources in apply order");
}

#[test]
fn a_role_relying_on_declaration_order_applies_in_one_run() {
    let fleet = Fleet::start(2).unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    std::fs::create_dir(p.join("roles")).unwrap();
    std::fs::write(
        p.join("roles/seeded.mc"),
        r#"/// Seeds a data file, then edits it: each step needs the one before.
role seeded(root: Path) {
  directory root {}
  directory "${root}/data" {}
  command "seed" {
    run = "echo seed > ${root}/data/seed.txt"
    creates = "${root}/data/seed.txt"
  }
  line "seed extra" {
    path = "${root}/data/seed.txt"
    line = "extra"
  }
}
"#,
    )
    .unwrap();
    let mut main = String::from("import \"roles/seeded.mc\"\n\n");
    for h in fleet.hosts() {
        main.push_str(&format!("host \"{}\" {{}}\n", h.name()));
    }
    main.push_str("\non all {\n  seeded.seeded(root = \"/srv/seeded\")\n}\n");
    std::fs::write(p.join("main.mc"), main).unwrap();
    let ssh = ["--ssh-config".as_ref(), fleet.ssh_config().as_os_str()];

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh));
    assert_eq!(code, 0, "{out}{err}");
    for h in fleet.hosts() {
        assert_eq!(
            h.read_file("/srv/seeded/data/seed.txt").unwrap(),
            b"seed\nextra\n",
            "{}",
            h.name()
        );
    }
    let (code, out, err) = run(mc().args(["plan", "--detailed-exitcode"]).arg(p).args(ssh));
    assert_eq!(code, 0, "{out}{err}");
}
