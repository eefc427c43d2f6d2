//! Least privilege on real test hosts: a non-root login, and root running
//! resources as another user (`become_user`), create, update and remove a
//! file and a line in that user's home, each step twice. Backups go to the
//! user's own state directory, never to root's.

mod common;

use common::*;
use mc_ir::{HostInfo, Resource};
use mc_runtime::Quiet;
use mc_runtime::{Runtime, Selection};
use mc_testfleet::Host;
use std::sync::Arc;

/// The file and the line as they should be at one step.
#[derive(Clone, Copy)]
enum Step {
    Create,
    Update,
    Remove,
}

fn resources(home: &str, step: Step, become_user: Option<&str>) -> Vec<Resource> {
    let conf = format!("{home}/app.conf");
    let mut file = match step {
        Step::Create => resource("file", &conf, &[("content", s("port = 80\n"))]),
        Step::Update => resource("file", &conf, &[("content", s("port = 8080\n"))]),
        Step::Remove => resource("file", &conf, &[("state", s("absent"))]),
    };
    let mut line = resource(
        "line",
        "editor",
        &[
            ("path", s(&format!("{home}/.profile"))),
            ("match", s("^EDITOR=")),
            (
                "line",
                s(match step {
                    Step::Create => "EDITOR=vi",
                    _ => "EDITOR=nano",
                }),
            ),
            (
                "state",
                s(match step {
                    Step::Remove => "absent",
                    _ => "present",
                }),
            ),
        ],
    );
    for r in [&mut file, &mut line] {
        r.meta.become_user = become_user.map(str::to_string);
    }
    vec![file, line]
}

/// Plans and applies `step`; returns the number of changes planned.
async fn run(
    rt: &Runtime,
    info: &HostInfo,
    home: &str,
    step: Step,
    as_user: Option<&str>,
) -> usize {
    let (home, as_user) = (home.to_string(), as_user.map(str::to_string));
    let source = TestSource::new(vec![info.clone()], move |_| {
        (resources(&home, step, as_user.as_deref()), vec![])
    });
    let planned = rt
        .plan(source, &Selection::default(), Arc::new(Quiet))
        .await
        .unwrap();
    let plan = planned.plan.clone();
    for r in &plan.hosts[0].resources {
        assert!(r.error.is_none(), "{r:?}");
    }
    let changes = plan.counts().changes();
    let report = apply_now(rt, &plan, planned.sessions).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.changed() as usize, changes);
    changes
}

/// Each step changes both resources once, then nothing.
async fn every_step_twice(
    rt: &Runtime,
    info: &HostInfo,
    h: &Host,
    user: &str,
    as_user: Option<&str>,
) {
    let home = format!("/home/{user}");
    h.exec_ok(&format!(
        "printf 'PATH=/bin\\n' > {home}/.profile && chown {user}: {home}/.profile"
    ))
    .unwrap();
    for step in [Step::Create, Step::Update, Step::Remove] {
        assert_eq!(run(rt, info, &home, step, as_user).await, 2);
        assert_eq!(run(rt, info, &home, step, as_user).await, 0, "idempotent");
        match step {
            Step::Create => {
                assert_eq!(
                    h.read_file(&format!("{home}/app.conf")).unwrap(),
                    b"port = 80\n"
                );
                assert_eq!(
                    h.exec_ok(&format!("stat -c %U {home}/app.conf")).unwrap(),
                    format!("{user}\n")
                );
            }
            Step::Update => {
                assert_eq!(
                    h.read_file(&format!("{home}/app.conf")).unwrap(),
                    b"port = 8080\n"
                );
                assert_eq!(
                    h.read_file(&format!("{home}/.profile")).unwrap(),
                    b"PATH=/bin\nEDITOR=nano\n"
                );
            }
            Step::Remove => {
                assert!(!h.path_exists(&format!("{home}/app.conf")).unwrap());
                assert_eq!(
                    h.read_file(&format!("{home}/.profile")).unwrap(),
                    b"PATH=/bin\n"
                );
            }
        }
    }
    // The replaced contents are in the user's own backup store.
    let store = format!("{home}/.local/state/mc/backups/files{home}");
    let kept = h.exec_ok(&format!("cat {store}/app.conf/*")).unwrap();
    assert!(
        kept.contains("port = 80\n") && kept.contains("port = 8080\n"),
        "{kept}"
    );
    let owners = h
        .exec_ok(&format!(
            "find {home}/.local/state/mc -printf '%u\\n' | sort -u"
        ))
        .unwrap();
    assert_eq!(owners, format!("{user}\n"));
    assert!(!h
        .path_exists(&format!("/var/lib/mc/backups/files{home}"))
        .unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_root_login_manages_its_own_files_and_lines() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let h = fleet.host(0);
    add_login_user(h, "mcplainuser", false);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let mut info = ssh_host(h.name());
    info.user = Some("mcplainuser".into());
    every_step_twice(&rt, &info, h, "mcplainuser", None).await;
    // The runner is cached in the user's own cache directory.
    assert!(h
        .exec_ok("ls /home/mcplainuser/.cache/mc/runner")
        .unwrap()
        .starts_with("mc-runner-"));
}

#[tokio::test(flavor = "multi_thread")]
async fn become_user_manages_that_users_files_and_lines() {
    let fleet = mc_testfleet::shared(2).unwrap();
    let h = fleet.host(1);
    add_login_user(h, "mcbecomeuser", false);
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path(), Some(fleet.ssh_config()));
    let info = ssh_host(h.name());
    every_step_twice(&rt, &info, h, "mcbecomeuser", Some("mcbecomeuser")).await;
}
