//! Identities and quorum approvals, against the real `mc` binary: keys
//! made by `ssh-keygen`, two project clones (two operators) sharing one
//! PostgreSQL store named in `project { state = … }`, a plan that needs two
//! approvers, approvals from keys that are not approvers, a spoofed
//! `$USER`, a forged approval in the store, self-approval, break-glass and
//! signatures checked by `ssh-keygen -Y` itself.

mod common;

use mc_testfleet::postgres::{TestPostgres, PASSWORD};
use std::path::{Path, PathBuf};
use std::process::Command;

/// An ed25519 key made by `ssh-keygen`, as an operator has one.
struct Key {
    path: PathBuf,
    public: String,
}

fn keygen(dir: &Path, name: &str) -> Key {
    let path = dir.join(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ssh-keygen failed");
    let public = std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string();
    Key { path, public }
}

/// `mc` as the holder of `key`.
fn mc_as(key: &Key) -> Command {
    let mut cmd = common::mc("approvals-quorum-cli");
    cmd.env("MC_IDENTITY", &key.path)
        .env("PGPASSWORD", PASSWORD);
    cmd
}

/// A project on the local host whose one command needs an approval and
/// appends a line to `marker` when it runs.
fn project(dir: &Path, settings: &str, marker: &Path) {
    let src = format!(
        r#"project {{
{settings}
}}

host "local" {{
  transport = "local"
}}

policy "commands need review" {{
  when change.resource is command {{
    require_approval("a command runs")
  }}
}}

on all {{
  command "mark" {{
    run = "echo ran >> {marker}"
  }}
}}
"#,
        marker = marker.display()
    );
    std::fs::write(dir.join("main.mc"), src).unwrap();
}

fn lines(marker: &Path) -> usize {
    std::fs::read_to_string(marker)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn plan_hash(file: &Path) -> String {
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    plan["hash"].as_str().unwrap()[..12].to_string()
}

#[test]
fn two_clones_on_postgres_need_two_distinct_approvers() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (alice, bob, carol, dave) = (
        keygen(&keys, "alice"),
        keygen(&keys, "bob"),
        keygen(&keys, "carol"),
        keygen(&keys, "dave"),
    );
    let pg = TestPostgres::start().unwrap();
    let url = pg.database().unwrap();
    assert!(!url.contains(PASSWORD), "{url}");
    let marker = tmp.path().join("ran");
    let settings = format!(
        "  state = \"{url}\"\n  approvers = [\"{}\", \"{}\"]\n  approvals_required = 2",
        alice.public, bob.public
    );
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for clone in [&a, &b] {
        std::fs::create_dir(clone).unwrap();
        project(clone, &settings, &marker);
    }
    let (code, out, err) = common::run(mc_as(&dave).arg("check").arg(&a));
    assert_eq!(code, 0, "{out}{err}");

    // Dave plans in clone A; the plan is recorded in the shared store.
    let plan = a.join("plan.json");
    let (code, out, err) = common::run(mc_as(&dave).arg("plan").arg(&a).arg("-o").arg(&plan));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("It needs 2 of these approvers, not the planner: alice, bob"),
        "{out}"
    );
    let short = plan_hash(&plan);
    let apply = |key: &Key| common::run(mc_as(key).arg("apply").arg(&plan).arg("--yes"));
    let (code, _, err) = apply(&dave);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("needs an approval"), "{err}");

    // Carol is not an approver, whatever $USER says.
    let approve = |key: &Key, clone: &Path| {
        common::run(mc_as(key).args(["-C"]).arg(clone).args([
            "approve",
            &short,
            "-m",
            "looks fine",
        ]))
    };
    let (code, out, err) = common::run(
        mc_as(&carol)
            .env("USER", "alice")
            .env("LOGNAME", "alice")
            .args(["-C"])
            .arg(&b)
            .args(["approve", &short, "-m", "I am alice"]),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("not one of the project's approvers"), "{err}");

    // Alice approves from clone B: one of two.
    let (code, out, err) = approve(&alice, &b);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 of 2 approvals (alice)"), "{out}");
    assert!(out.contains("approved by alice ("), "{out}");
    let (code, _, err) = approve(&alice, &b);
    assert_eq!(code, 1);
    assert!(err.contains("already approved"), "{err}");
    // Still waiting for a second approver, in the list too.
    let (code, out, err) = common::run(mc_as(&bob).args(["-C"]).arg(&b).arg("approve"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&short) && out.contains("(1 of 2 approvals)"),
        "{out}"
    );
    let (code, _, err) = apply(&dave);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("needs 2 approvals") && err.contains("has 1 (alice)"),
        "{err}"
    );
    assert_eq!(lines(&marker), 0);

    // An approval written past `mc approve` by a key that is not an
    // approver (here: straight through the store's API) does not count.
    let store = mc_runtime::StateStore::open_at(&mc_runtime::state::StateLocation::Postgres(
        TestPostgres::url_with_password(&url),
    ))
    .unwrap();
    let full = store.find_plans(&short).unwrap()[0].hash.clone();
    store
        .decide_plan(&full, true, "forged", &serde_json::json!({}))
        .unwrap();
    drop(store);
    let (code, _, err) = apply(&dave);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("has 1 (alice)") && err.contains("not one of the project's approvers"),
        "{err}"
    );

    // Bob approves (his key given with --identity): two of two, and
    // clone A applies.
    let (code, out, err) = common::run(
        common::mc("approvals-quorum-cli")
            .env("PGPASSWORD", PASSWORD)
            .arg("--identity")
            .arg(&bob.path)
            .args(["-C"])
            .arg(&b)
            .args(["approve", &short, "-m", "looks fine"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 of 2 approvals"), "{out}");

    // A database writer swaps Alice's signature for Carol's signature of
    // the same entry (the signature is outside the hash chain): Alice's
    // approval no longer counts.
    let db = url.rsplit('/').next().unwrap();
    let query = |sql: &str| {
        let out = pg.psql(db, sql).unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let alice_key = alice.public.rsplit_once(' ').unwrap().0.to_string();
    let row = format!("kind = 'plan.approve' AND signer = '{alice_key}'");
    let alice_seq = query(&format!("SELECT seq FROM audit WHERE {row}"));
    let hash = query(&format!("SELECT hash FROM audit WHERE seq = {alice_seq}"));
    let saved = query(&format!(
        "SELECT signature FROM audit WHERE seq = {alice_seq}"
    ));
    let carol_sig = ssh_sign(&carol, &hash);
    query(&format!(
        "UPDATE audit SET signature = '{carol_sig}' WHERE seq = {alice_seq}"
    ));
    let (code, _, err) = apply(&dave);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("has 1 (bob)") && err.contains("signature does not verify"),
        "{err}"
    );
    query(&format!(
        "UPDATE audit SET signature = '{saved}' WHERE seq = {alice_seq}"
    ));

    let (code, out, err) = apply(&dave);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(lines(&marker), 1);

    // Both clones see one signed history.
    let (code, out, err) =
        common::run(mc_as(&carol).args(["-C"]).arg(&b).args(["audit", "verify"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signatures verified"), "{out}");
    for key in [&alice, &bob, &dave] {
        let fp = fingerprint(key);
        assert!(out.contains(&fp), "{fp} missing from {out}");
    }

    // Someone with write access to the database claims Bob signed the
    // forged approval: the log no longer verifies and nothing applies.
    let seq = pg
        .psql(
            db,
            "SELECT max(seq) FROM audit WHERE kind = 'plan.approve' AND detail LIKE '%forged%'",
        )
        .unwrap();
    let seq = String::from_utf8_lossy(&seq.stdout).trim().to_string();
    assert!(!seq.is_empty());
    let forged = pg
        .psql(
            db,
            &format!(
                "UPDATE audit SET signer = '{}' WHERE seq = {seq}",
                bob.public
            ),
        )
        .unwrap();
    assert!(forged.status.success());
    let (code, out, _) = common::run(mc_as(&carol).args(["-C"]).arg(&b).args(["audit", "verify"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN"), "{out}");
}

/// `ssh-keygen -Y sign` of `data` with `key`, namespace `mc-audit`.
fn ssh_sign(key: &Key, data: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-q", "-n", "mc-audit", "-f"])
        .arg(&key.path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn fingerprint(key: &Key) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.path.with_extension("pub"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn approvers_cannot_approve_their_own_plan_and_break_glass_is_loud() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice, erin) = (keygen(tmp.path(), "alice"), keygen(tmp.path(), "erin"));
    let marker = tmp.path().join("ran");
    let dir = tmp.path().join("p");
    std::fs::create_dir(&dir).unwrap();
    project(
        &dir,
        &format!("  approvers = [\"{}\", \"{}\"]", alice.public, erin.public),
        &marker,
    );
    let plan = dir.join("plan.json");
    let (code, out, err) = common::run(mc_as(&alice).arg("plan").arg(&dir).arg("-o").arg(&plan));
    assert_eq!(code, 0, "{out}{err}");
    let short = plan_hash(&plan);

    // Once approvers are listed, a planner cannot approve their own plan.
    let (code, _, err) = common::run(
        mc_as(&alice)
            .args(["-C"])
            .arg(&dir)
            .args(["approve", &short]),
    );
    assert_eq!(code, 1);
    assert!(err.contains("self_approval = false"), "{err}");

    // Break-glass needs a reason, applies, and says so everywhere.
    let (code, _, err) = common::run(
        mc_as(&alice)
            .args(["apply", "--yes", "--break-glass"])
            .arg(&plan),
    );
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = common::run(
        mc_as(&alice)
            .args([
                "apply",
                "--yes",
                "--break-glass",
                "--reason",
                "outage INC-42",
            ])
            .arg(&plan),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(lines(&marker), 1);
    let (code, out, err) = common::run(mc_as(&erin).args(["-C"]).arg(&dir).arg("runs"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("break-glass"), "{out}");
    let (code, out, err) = common::run(mc_as(&erin).args(["-C"]).arg(&dir).args(["runs", "1"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("BREAK-GLASS") && out.contains("outage INC-42"),
        "{out}"
    );

    // Each audit entry's signature is an SSH signature: `ssh-keygen -Y`
    // verifies it against the signer's key on its own.
    let db = dir.join(".mc").join("state.db");
    let row = Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT hash, signature, signer FROM audit WHERE kind = 'apply.break_glass'")
        .output()
        .unwrap();
    let row = String::from_utf8_lossy(&row.stdout).into_owned();
    let mut parts = row.splitn(3, '|');
    let (hash, sig, signer) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap().trim(),
    );
    assert_eq!(signer, alice.public.rsplit_once(' ').unwrap().0);
    let sig_file = tmp.path().join("entry.sig");
    std::fs::write(&sig_file, sig).unwrap();
    let allowed = tmp.path().join("allowed_signers");
    std::fs::write(&allowed, format!("alice {signer}\n")).unwrap();
    let check = |data: &str| {
        let mut child = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-n", "mc-audit", "-I", "alice", "-f"])
            .arg(&allowed)
            .arg("-s")
            .arg(&sig_file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(data.as_bytes())
            .unwrap();
        child.wait().unwrap().success()
    };
    assert!(
        check(hash),
        "ssh-keygen does not verify the entry's signature"
    );
    assert!(!check("another entry"));
}

#[test]
fn check_reports_bad_approver_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let key = keygen(tmp.path(), "alice");
    let marker = tmp.path().join("ran");
    let cases = [
        (
            "  approvers = [\"ssh-ed25519 AAAAnotakey alice\"]",
            "not an SSH public key",
        ),
        (
            &format!(
                "  approvers = [\"{}\"]\n  approvals_required = 2",
                key.public
            ),
            "only 1 approvers",
        ),
        (
            &format!("  approvers = [\"{0}\", \"{0}\"]", key.public),
            "listed twice",
        ),
        (
            "  state = \"postgres://mc:hunter2@db.internal/mc\"",
            "holds a password",
        ),
        ("  approvals_requird = 2", "did you mean"),
        ("  approvals_required = 2", "none are listed"),
    ];
    for (settings, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        project(dir.path(), settings, &marker);
        let (code, out, err) = common::run(mc_as(&key).arg("check").arg(dir.path()));
        assert_eq!(code, 1, "{settings}: {out}{err}");
        let all = format!("{out}{err}");
        assert!(
            all.contains("E0504") && all.contains(want),
            "{settings}: {all}"
        );
    }
}

/// An encrypted key signs through ssh-agent (the private half never leaves
/// it); without the agent, a clear error.
#[test]
fn an_encrypted_key_signs_through_ssh_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    let made = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "s3cret-pass",
            "-C",
            "erin",
            "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let sock = tmp.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let askpass = tmp.path().join("askpass");
    std::fs::write(&askpass, "#!/bin/sh\necho s3cret-pass\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();

    let marker = tmp.path().join("ran");
    let dir = tmp.path().join("p");
    std::fs::create_dir(&dir).unwrap();
    project(&dir, "", &marker);
    let plan = |agent_sock: Option<&Path>| {
        let mut cmd = common::mc("approvals-quorum-cli");
        cmd.arg("--identity").arg(&key).arg("plan").arg(&dir);
        match agent_sock {
            Some(s) => cmd.env("SSH_AUTH_SOCK", s),
            None => cmd.env_remove("SSH_AUTH_SOCK"),
        };
        common::run(&mut cmd)
    };
    let (code, _, err) = plan(None);
    assert_eq!(code, 1);
    assert!(
        err.contains("encrypted") && err.contains("ssh-agent"),
        "{err}"
    );

    let added = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", "none")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let (code, out, err) = plan(Some(&sock));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = common::run(
        common::mc("approvals-quorum-cli")
            .args(["-C"])
            .arg(&dir)
            .args(["audit", "verify"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fp = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(out.contains(&fp), "{public} / {fp} not in {out}");
    let _ = agent.kill();
    let _ = agent.wait();
}
