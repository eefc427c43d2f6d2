//! Two clones of one project, as two operators on two machines, sharing a
//! PostgreSQL state store (a real server started by the test) and applying
//! to the same real test host at once: the second is refused naming the
//! first, or waits for it with `--lock-timeout`; both see one history.

mod common;

use mc_testfleet::postgres::{TestPostgres, PASSWORD};
use mc_testfleet::Fleet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mc() -> Command {
    let mut cmd = common::mc("shared-state-cli");
    cmd.env("PGPASSWORD", PASSWORD);
    cmd
}

/// A project whose apply takes a few seconds on `host`.
fn clone(dir: &Path, host: &str, marker: &str) {
    std::fs::write(
        dir.join("main.mc"),
        format!(
            "host \"{host}\" {{}}\n\non all {{\n  command \"slow-{marker}\" {{\n    run = \"sleep 3; echo {marker} >> /srv/applied\"\n    creates = \"/srv/{marker}\"\n  }}\n}}\n"
        ),
    )
    .unwrap();
}

#[test]
fn two_clones_on_one_postgres_store_take_turns_on_a_host() {
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.hosts()[0].name().to_string();
    let pg = TestPostgres::start().unwrap();
    let url = pg.database().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    clone(a.path(), &host, "a");
    clone(b.path(), &host, "b");
    let apply = |dir: &Path, extra: &[&str]| {
        let mut cmd = mc();
        cmd.args(["apply", "--yes", "--ssh-persist", "0", "--state", &url])
            .args(extra)
            .arg(dir)
            .arg("--ssh-config")
            .arg(fleet.ssh_config());
        cmd
    };

    // A applies; while it runs, B is refused at once, naming A's run.
    let first = apply(a.path(), &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, out, _) = common::run(mc().args(["state", "locks", "--state", &url]));
        if out.contains(&host) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first apply never took its lock"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, out, err) = common::run(&mut apply(b.path(), &[]));
    assert_ne!(
        code, 0,
        "a second apply of a locked host must not run: {out}{err}"
    );
    assert!(
        err.contains("lock") && err.contains(&host) && err.contains("since"),
        "{err}"
    );
    assert!(
        !err.contains(PASSWORD) && !out.contains(PASSWORD),
        "{out}{err}"
    );

    // With --lock-timeout it waits for A, then applies.
    let started = Instant::now();
    let (code, out, err) = common::run(&mut apply(b.path(), &["--lock-timeout", "60s"]));
    assert_eq!(code, 0, "{out}{err}");
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let applied = fleet.hosts()[0].exec_ok("cat /srv/applied").unwrap();
    assert_eq!(applied.trim(), "a\nb", "one after the other");

    // Both clones see the same history, and the audit chain is intact.
    let runs = |dir: &Path| common::run(mc().arg("-C").arg(dir).args(["runs", "--state", &url])).1;
    let (runs_a, runs_b) = (runs(a.path()), runs(b.path()));
    assert_eq!(runs_a, runs_b);
    assert!(runs_a.matches("refused").count() >= 1, "{runs_a}");
    let (code, out, err) = common::run(mc().args(["audit", "verify", "--state", &url]));
    assert_eq!(code, 0, "{out}{err}");
}
