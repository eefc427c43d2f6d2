//! Attacks on plans, approvals and the audit log, replayed against the real
//! `mc` binary on the local transport: hand-made and replayed plan files,
//! approvals forged in the state store with bare SQL, a cut or rebuilt audit
//! chain, self-approval, file permissions and a plan whose project is gone.

use mc_ir::plan::Plan;
use mc_runtime::StateStore;
use std::os::unix::fs::PermissionsExt;
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
    cmd.stdin(Stdio::null())
        .env("MC_SECRET_TOKEN", "s3cr3t-t0ken-value");
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

fn sql(db: &Path, statement: &str) -> String {
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(statement)
        .output()
        .expect("running sqlite3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A local project whose command writes `marker` (appending one line per
/// run) from a project secret. `policy` is placed before the resources.
fn project(policy: &str, marker: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        r#"host "local" {{
  transport = "local"
}}

{policy}

on all {{
  command "leak" {{
    run = "echo \"$TOKEN\" >> {marker}"
    env = {{ TOKEN = secret("token") }}
  }}
}}
"#,
        marker = marker.display()
    );
    std::fs::write(dir.path().join("main.mc"), src).unwrap();
    dir
}

const DENY_COMMANDS: &str = r#"policy "no ad-hoc commands" {
  when change.resource is command {
    deny("commands are not allowed here")
  }
}"#;

const REVIEW_COMMANDS: &str = r#"policy "commands need a second person" {
  when change.resource is command {
    require_approval("a command runs")
  }
}"#;

fn plan_to(project: &Path, file: &Path) -> (i32, String, String) {
    run(mc().arg("plan").arg(project).arg("-o").arg(file))
}

fn read_plan(file: &Path) -> Plan {
    Plan::from_json(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// The plan with its approvals and policy findings removed, re-sealed so
/// its hash matches its new content.
fn forge_without_policy(file: &Path, forged: &Path) -> Plan {
    let mut plan = read_plan(file);
    plan.required_approvals.clear();
    plan.policy.clear();
    plan.seal();
    assert!(plan.verify());
    std::fs::write(forged, plan.to_json_pretty()).unwrap();
    plan
}

fn state_db(project: &Path) -> PathBuf {
    project.join(".mc").join("state.db")
}

fn marker_lines(marker: &Path) -> usize {
    std::fs::read_to_string(marker)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_hand_made_plan_without_its_deny_findings_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("leaked");
    let project = project(DENY_COMMANDS, &marker);
    let p = project.path();
    let plan = p.join("plan.json");
    let (code, out, err) = plan_to(p, &plan);
    assert_eq!(code, 1, "a denied plan fails: {out}{err}");
    assert!(!read_plan(&plan).policy.is_empty());

    let forged = p.join("forged.json");
    forge_without_policy(&plan, &forged);
    let (code, out, err) = run(mc().arg("apply").arg(&forged).arg("--yes"));
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("not recorded by `mc plan`"), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    assert!(!marker.exists(), "the denied command ran");

    // Nor can the forged plan be smuggled in through `mc approve`.
    let (code, _, err) = run(mc().arg("approve").arg(&forged).args(["-m", "x"]));
    assert_eq!(code, 1);
    assert!(err.contains("not recorded by `mc plan`"), "{err}");
    let (code, _, err) = run(mc().arg("apply").arg(&forged).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(!marker.exists());
}

#[test]
fn a_hand_made_plan_without_its_required_approval_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("leaked");
    let project = project(REVIEW_COMMANDS, &marker);
    let p = project.path();
    let plan = p.join("plan.json");
    let (code, out, err) = plan_to(p, &plan);
    assert_eq!(code, 0, "{out}{err}");
    assert!(read_plan(&plan).needs_approval());

    let forged = p.join("forged.json");
    let hash = forge_without_policy(&plan, &forged).hash;
    let (code, _, err) = run(mc().arg("apply").arg(&forged).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&hash[..12]), "{err}");
    assert!(err.contains("not recorded by `mc plan`"), "{err}");

    // A row slipped into the plans table by hand has no audit entry.
    let body = std::fs::read_to_string(&forged)
        .unwrap()
        .replace('\'', "''");
    sql(
        &state_db(p),
        &format!(
            "INSERT INTO plans (hash, status, created_at, source_digest, hosts, body)
             VALUES ('{hash}', 'pending', 0, 'x', '[\"local\"]', '{body}')"
        ),
    );
    let (code, _, err) = run(mc().arg("apply").arg(&forged).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not recorded by `mc plan`"), "{err}");
    assert!(!marker.exists(), "the unapproved command ran");
}

#[test]
fn an_applied_plan_replayed_with_a_new_time_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let project = project("", &marker);
    let p = project.path();
    let plan = p.join("plan.json");
    let (code, out, err) = plan_to(p, &plan);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(mc().arg("apply").arg(&plan).arg("--yes"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(marker_lines(&marker), 1);

    let (code, _, err) = run(mc().arg("apply").arg(&plan).arg("--yes"));
    assert_eq!(code, 1);
    assert!(err.contains("already applied"), "{err}");

    let mut replay = read_plan(&plan);
    replay.created_at += 60;
    replay.seal();
    let replayed = p.join("replay.json");
    std::fs::write(&replayed, replay.to_json_pretty()).unwrap();
    let (code, _, err) = run(mc().arg("apply").arg(&replayed).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not recorded by `mc plan`"), "{err}");
    assert_eq!(marker_lines(&marker), 1, "the command ran twice");
}

#[test]
fn a_plan_flipped_to_approved_by_sql_is_refused_until_really_approved() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let project = project(REVIEW_COMMANDS, &marker);
    let p = project.path();
    let plan = p.join("plan.json");
    assert_eq!(plan_to(p, &plan).0, 0);
    let hash = read_plan(&plan).hash;

    sql(
        &state_db(p),
        &format!("UPDATE plans SET status = 'approved' WHERE hash = '{hash}'"),
    );
    let (code, _, err) = run(mc().arg("apply").arg(&plan).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no approval of it was recorded"), "{err}");
    assert!(!marker.exists());

    // A decision row without its audit entry is no better.
    sql(
        &state_db(p),
        &format!(
            "INSERT INTO plan_decisions (plan_hash, decision, actor, at, reason, audit_seq)
             VALUES ('{hash}', 'approved', 'alice@x', 0, 'lgtm', 999)"
        ),
    );
    let (code, _, err) = run(mc().arg("apply").arg(&plan).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no approval of it was recorded"), "{err}");
    assert!(!marker.exists());

    // The real approval: back to pending first (the flipped status is not one).
    sql(
        &state_db(p),
        &format!("UPDATE plans SET status = 'pending' WHERE hash = '{hash}'"),
    );
    let (code, out, err) = run(mc().arg("approve").arg(&plan).args(["-m", "reviewed"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(mc().arg("apply").arg(&plan).arg("--yes"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(marker_lines(&marker), 1);
}

#[test]
fn an_edited_audit_log_voids_the_approval_it_records() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let project = project(REVIEW_COMMANDS, &marker);
    let p = project.path();
    let plan = p.join("plan.json");
    assert_eq!(plan_to(p, &plan).0, 0);
    let (code, _, err) = run(mc().arg("approve").arg(&plan).args(["-m", "ok"]));
    assert_eq!(code, 0, "{err}");
    sql(
        &state_db(p),
        "UPDATE audit SET detail = replace(detail, '\"ok\"', '\"fine\"') WHERE kind = 'plan.approve'",
    );
    let (code, _, err) = run(mc().arg("apply").arg(&plan).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("audit log"), "{err}");
    assert!(err.contains("broken"), "{err}");
    assert!(!marker.exists());
}

#[test]
fn self_approval_is_refused_when_the_project_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let policy = format!("project {{\n  self_approval = false\n}}\n\n{REVIEW_COMMANDS}");
    let project = project(&policy, &marker);
    let p = project.path();
    let plan = p.join("plan.json");
    assert_eq!(plan_to(p, &plan).0, 0);
    let planned = read_plan(&plan);
    assert!(planned.forbid_self_approval);

    // `$USER` does not make someone else of the planner.
    let (code, _, err) = run(mc()
        .arg("approve")
        .arg(&plan)
        .args(["-m", "mine"])
        .env("USER", "alice")
        .env("LOGNAME", "alice"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("self_approval = false"), "{err}");

    // An approval recorded past `mc approve` (decision and audit entry
    // written through the store) by the planner is refused at apply.
    let store = StateStore::open(&state_db(p)).unwrap();
    store
        .decide_plan(&planned.hash, true, "mine", &serde_json::json!({}))
        .unwrap();
    drop(store);
    let (code, _, err) = run(mc().arg("apply").arg(&plan).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("who also planned it"), "{err}");
    assert!(!marker.exists());
}

#[test]
fn another_person_can_approve_when_self_approval_is_off() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let policy = format!("project {{\n  self_approval = false\n}}\n\n{REVIEW_COMMANDS}");
    let project = project(&policy, &marker);
    let p = project.path();
    let plan = p.join("plan.json");
    assert_eq!(plan_to(p, &plan).0, 0);

    // The reviewer is another local user who can reach the project.
    let bin = p.join("mc");
    std::fs::copy(env!("CARGO_BIN_EXE_mc"), &bin).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(p)
        .status()
        .unwrap();
    assert!(chown.success());
    let (code, out, err) = run(Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&bin)
        .arg("approve")
        .arg(&plan)
        .args(["-m", "reviewed"])
        .env("HOME", p));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("approved by nobody@"), "{out}");

    let (code, out, err) = run(mc().arg("apply").arg(&plan).arg("--yes"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(marker_lines(&marker), 1);
}

#[test]
fn an_anchor_detects_a_cut_tail_and_a_rebuilt_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let project = project("", &marker);
    let p = project.path();
    let plan = p.join("plan.json");
    assert_eq!(plan_to(p, &plan).0, 0);
    let (code, anchor, err) = run(mc().args(["audit", "head", "--state"]).arg(state_db(p)));
    assert_eq!(code, 0, "{err}");
    let anchor = anchor.trim().to_string();
    assert!(anchor.starts_with("1:"), "{anchor}");
    assert_eq!(run(mc().arg("apply").arg(&plan).arg("--yes")).0, 0);

    let verify = |anchor: &str| {
        run(mc()
            .args(["audit", "verify", "--anchor", anchor, "--state"])
            .arg(state_db(p)))
    };
    let (code, out, err) = verify(&anchor);
    assert_eq!(code, 0, "{out}{err}");

    // A writer cuts the log back to nothing and fixes the recorded head:
    // the chain alone looks intact, the anchor does not.
    let db = state_db(p);
    sql(&db, "DELETE FROM audit");
    sql(
        &db,
        &format!(
            "UPDATE meta SET value = '0 {}' WHERE key = 'audit_head'",
            "0".repeat(64)
        ),
    );
    let (code, _, _) = run(mc().args(["audit", "verify", "--state"]).arg(&db));
    assert_eq!(code, 0, "a consistent empty chain passes without an anchor");
    let (code, out, _) = verify(&anchor);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("removed from the end"), "{out}");

    // The writer rebuilds a chain of the same length with other content:
    // valid hashes, but not the anchored entry.
    let store = StateStore::open(&db).unwrap();
    store
        .audit("plan", &serde_json::json!({ "plan": "rewritten" }))
        .unwrap();
    drop(store);
    let (code, _, _) = run(mc().args(["audit", "verify", "--state"]).arg(&db));
    assert_eq!(code, 0);
    let (code, out, _) = verify(&anchor);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("chain was rebuilt"), "{out}");

    let (code, _, err) = verify("not-an-anchor");
    assert_eq!(code, 1);
    assert!(err.contains("SEQ:HASH"), "{err}");
}

#[test]
fn state_and_plan_files_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let project = project(REVIEW_COMMANDS, &marker);
    let p = project.path();
    // A `.mc` left world-readable by an older version is tightened too.
    std::fs::create_dir(p.join(".mc")).unwrap();
    std::fs::set_permissions(p.join(".mc"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let plan = p.join("plan.json");
    assert_eq!(plan_to(p, &plan).0, 0);
    // Applying without a plan file saves the unapproved plan under .mc/plans.
    let (code, _, err) = run(mc().arg("apply").arg(p).arg("--yes"));
    assert_eq!(code, 1, "{err}");
    let saved: Vec<PathBuf> = std::fs::read_dir(p.join(".mc/plans"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");

    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&p.join(".mc")), 0o700);
    assert_eq!(mode(&p.join(".mc/plans")), 0o700);
    assert_eq!(mode(&state_db(p)), 0o600);
    assert_eq!(mode(&plan), 0o600);
    assert_eq!(mode(&saved[0]), 0o600);
}

#[test]
fn a_plan_whose_project_is_gone_needs_an_explicit_store() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("ran");
    let project = project("", &marker);
    let plan = tmp.path().join("plan.json");
    assert_eq!(plan_to(project.path(), &plan).0, 0);
    drop(project);

    // Another project in the current directory, with its own store.
    let other = tempfile::tempdir().unwrap();
    let (code, _, err) = run(mc()
        .current_dir(other.path())
        .arg("apply")
        .arg(&plan)
        .arg("--yes"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no longer exists"), "{err}");
    assert!(err.contains("--state"), "{err}");
    assert!(!other.path().join(".mc").exists());

    let (code, _, err) = run(mc()
        .current_dir(other.path())
        .arg("apply")
        .arg(&plan)
        .arg("--yes")
        .arg("--state")
        .arg(other.path().join("s.db")));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not recorded by `mc plan`"), "{err}");
    assert!(!marker.exists());
}
