//! What Terraform and Ansible users reach for, on the real `mc` binary with
//! local hosts: `mc show`, `mc state list|show|forget`, `--target`, host
//! patterns in `--limit`, `mc facts HOST`, and the checks of `mode` and cron
//! fields at `mc check`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

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
    cmd.stdin(Stdio::null()).env("NO_COLOR", "1");
    cmd.env(
        "XDG_RUNTIME_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("state-cli"),
    );
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

/// Three local hosts (web1, web2 in `web` and `prod`/`staging`, db1), each
/// managing its own directory with a config file that requires it, and a
/// motd.
fn fleet_project(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut src = String::new();
    for (name, groups) in [
        ("web1", "\"web\", \"prod\""),
        ("web2", "\"web\", \"staging\""),
        ("db1", "\"db\", \"prod\""),
    ] {
        src.push_str(&format!(
            "host \"{name}\" {{\n  transport = \"local\"\n  groups = [{groups}]\n}}\n\n"
        ));
    }
    src.push_str(&format!(
        r#"on all {{
  directory "{root}/${{host.name}}" {{
    mode = 0o755
  }}
  file "{root}/${{host.name}}/app.conf" {{
    content = "port = 80\n"
    mode = 0o644
  }}
  file "{root}/${{host.name}}/motd" {{
    content = "hello\n"
    mode = 0o644
  }}
}}
"#,
        root = root.display()
    ));
    std::fs::write(dir.path().join("main.mc"), src).unwrap();
    dir
}

fn planned_hosts(out: &str) -> Vec<String> {
    let plan: serde_json::Value = serde_json::from_str(out).unwrap();
    plan["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn limit_takes_ansible_host_patterns() {
    let root = tempfile::tempdir().unwrap();
    let p = fleet_project(root.path());
    for (limit, expected) in [
        ("web*", vec!["web1", "web2"]),
        ("!db1", vec!["web1", "web2"]),
        ("web:&prod", vec!["web1"]),
        ("prod,!web1", vec!["db1"]),
        ("db1,web2", vec!["web2", "db1"]),
    ] {
        let (code, out, err) = run(mc()
            .args(["plan", "--json", "--limit", limit])
            .arg(p.path()));
        assert_eq!(code, 0, "{limit}: {err}");
        assert_eq!(planned_hosts(&out), expected, "--limit {limit}");
    }
    let (code, _, err) = run(mc().args(["plan", "--limit", "wbe*"]).arg(p.path()));
    assert_eq!(code, 1);
    assert!(err.contains("\"wbe*\" matches no host"), "{err}");
}

#[test]
fn target_plans_a_resource_and_what_it_depends_on() {
    let root = tempfile::tempdir().unwrap();
    let p = fleet_project(root.path());
    let conf = format!("file[{}/web1/app.conf]", root.path().display());
    let (code, out, err) = run(mc()
        .args(["plan", "--limit", "web1", "--target", &conf])
        .arg(p.path()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("+ {conf}")), "{out}");
    assert!(
        out.contains("+ directory["),
        "its directory comes along: {out}"
    );
    assert!(!out.contains("motd"), "nothing else: {out}");
    assert!(out.contains("2 to create"), "{out}");
    // Applying the target touches only those two.
    let (code, _, err) = run(mc()
        .args(["apply", "--yes", "--limit", "web1", "--target", &conf])
        .arg(p.path()));
    assert_eq!(code, 0, "{err}");
    assert!(root.path().join("web1/app.conf").is_file());
    assert!(!root.path().join("web1/motd").exists());
    // A typo is an error, not an empty plan.
    let (code, _, err) = run(mc().args(["plan", "--target", "file[/nope]"]).arg(p.path()));
    assert_eq!(code, 1);
    assert!(err.contains("matches no resource"), "{err}");
    let (code, _, err) = run(mc().args(["plan", "--target", "/etc/motd"]).arg(p.path()));
    assert_eq!(code, 2, "clap rejects a malformed address: {err}");
    assert!(err.contains("TYPE[TITLE]"), "{err}");
}

#[test]
fn state_list_show_and_forget() {
    let root = tempfile::tempdir().unwrap();
    let p = fleet_project(root.path());
    let dir = p.path().to_str().unwrap();
    let (code, _, err) = run(mc().args(["apply", "--yes", dir]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(mc().args(["-C", dir, "state", "list"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 9, "{out}");
    let motd = format!("file[{}/web1/motd]", root.path().display());
    assert!(out.contains(&format!("web1  {motd}")), "{out}");
    let (_, out, _) = run(mc().args(["-C", dir, "state", "list", "--limit", "db*"]));
    assert_eq!(out.lines().count(), 3, "{out}");

    let (code, out, err) = run(mc().args(["-C", dir, "state", "show", &motd]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("web1: {motd}\n  applied by run 1 at ")),
        "{out}"
    );
    assert!(out.contains("mode = 0o644"), "{out}");
    let (code, out, _) = run(mc().args(["-C", dir, "state", "show", &motd, "--json"]));
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["resources"][0]["attributes"]["mode"], 420, "{out}");
    let typo = motd.replace("motd", "mtod");
    let (code, _, err) = run(mc().args(["-C", dir, "state", "show", &typo]));
    assert_eq!(code, 1);
    assert!(err.contains("did you mean"), "{err}");

    let (code, out, err) = run(mc().args(["-C", dir, "state", "forget", &motd]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("web1: forgot"), "{out}");
    assert!(
        root.path().join("web1/motd").is_file(),
        "the host is not touched"
    );
    let (_, out, _) = run(mc().args(["-C", dir, "state", "list"]));
    assert_eq!(out.lines().count(), 8, "{out}");
    let (_, out, _) = run(mc().args(["-C", dir, "audit"]));
    assert!(out.contains("state.forget"), "{out}");
}

#[test]
fn show_renders_a_saved_plan_as_plan_did() {
    let root = tempfile::tempdir().unwrap();
    let p = fleet_project(root.path());
    let plan_file = p.path().join("saved.json");
    let (code, planned, err) = run(mc()
        .args(["plan", "-l", "web2", "-o"])
        .arg(&plan_file)
        .arg(p.path()));
    assert_eq!(code, 0, "{err}");
    let (code, shown, err) = run(mc().arg("show").arg(&plan_file));
    assert_eq!(code, 0, "{err}");
    let body = planned.split("Saved the plan").next().unwrap();
    assert!(shown.contains(body), "show:\n{shown}\nplan:\n{planned}");
    let (code, out, _) = run(mc().args(["show", "--json"]).arg(&plan_file));
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(doc["schema"].is_u64());
    // By hash prefix from the project's store.
    let hash = doc["hash"].as_str().unwrap()[..10].to_string();
    let (code, out, err) = run(mc().arg("-C").arg(p.path()).args(["show", &hash]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("web2 (web2)"), "{out}");
    let (code, _, err) = run(mc().args(["show", "nothere"]));
    assert_eq!(code, 1);
    assert!(err.contains("neither a plan file nor a plan hash"), "{err}");
}

#[test]
fn facts_takes_hosts_as_arguments() {
    let root = tempfile::tempdir().unwrap();
    let p = fleet_project(root.path());
    let (code, out, err) = run(mc().arg("-C").arg(p.path()).args(["facts", "web2"]));
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hosts: Vec<&String> = doc["hosts"].as_object().unwrap().keys().collect();
    assert_eq!(hosts, ["web2"]);
    let (code, out, _) = run(mc().arg("facts").arg(p.path()).args(["db1", "web1"]));
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["hosts"].as_object().unwrap().len(), 2, "{out}");
}

#[test]
fn decimal_modes_and_bad_cron_fields_fail_check_and_fix_rewrites_the_mode() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main.mc");
    std::fs::write(
        &main,
        "host \"h\" {\n  transport = \"local\"\n}\n\non host(\"h\") {\n  file \"/tmp/x\" {\n    content = \"x\\n\"\n    mode = 644\n  }\n}\n",
    )
    .unwrap();
    let (code, _, err) = run(mc().arg("check").arg(dir.path()));
    assert_eq!(code, 1);
    assert!(err.contains("E0230") && err.contains("0o1204"), "{err}");
    assert!(err.contains("write `0o644`"), "{err}");
    let (code, _, err) = run(mc().args(["check", "--fix"]).arg(dir.path()));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("fixed 1 problem"), "{err}");
    assert!(std::fs::read_to_string(&main)
        .unwrap()
        .contains("mode = 0o644"));

    for (field, value) in [("minute", "61"), ("weekday", "funday"), ("hour", "*/0")] {
        std::fs::write(
            &main,
            format!("host \"h\" {{\n  transport = \"local\"\n}}\n\non host(\"h\") {{\n  cron \"job\" {{\n    command = \"true\"\n    {field} = \"{value}\"\n  }}\n}}\n"),
        )
        .unwrap();
        let (code, _, err) = run(mc().arg("check").arg(dir.path()));
        assert_eq!(code, 1, "{field} = {value:?} passed: {err}");
        assert!(err.contains(&format!("`{field}` must be")), "{err}");
    }
}

#[test]
fn the_plan_shows_a_cron_schedule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.mc"),
        "host \"h\" {\n  transport = \"local\"\n}\n\non host(\"h\") {\n  cron \"mc-test-job\" {\n    command = \"true\"\n    minute = \"*/5\"\n    weekday = \"mon-fri\"\n  }\n}\n",
    )
    .unwrap();
    let (_, out, err) = run(mc().arg("plan").arg(dir.path()));
    assert!(out.contains("schedule */5 * * * mon-fri"), "{out}{err}");
}

/// `mc state unlock RUN` (Terraform's `force-unlock ID`): releases the
/// locks of that run even while its holder looks alive, audited; a run
/// without locks is an error.
#[test]
fn state_unlock_run_releases_that_runs_locks() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = mc_runtime::StateStore::open(&db).unwrap();
    let hosts = vec!["web1".to_string(), "web2".to_string()];
    let run_id = store.start_run("apply", None, "src", &hosts).unwrap();
    // Held by this (live) process: a plain unlock refuses.
    store.acquire_lock(&hosts, run_id).unwrap();
    let state = |args: &[&str]| {
        let mut cmd = mc();
        cmd.arg("state").args(args).arg("--state").arg(&db);
        run(&mut cmd)
    };
    let (code, _, err) = state(&["unlock"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = state(&["unlock", "999"]);
    assert_eq!(code, 1);
    assert!(err.contains("run 999 holds no lock"), "{err}");
    let (code, out, err) = state(&["unlock", &run_id.to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("unlocked web1") && out.contains("unlocked web2"),
        "{out}"
    );
    assert!(store.locks().unwrap().is_empty());
    let last = store.audit_entries(Some(1)).unwrap().pop().unwrap();
    assert_eq!(last.kind, "lock.unlock");
    assert!(last.detail.contains("\"forced\":true"), "{}", last.detail);
}
