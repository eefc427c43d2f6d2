//! `mc tui` end to end: the real binary in a real terminal (a private tmux
//! server at 80×24), driven with keys, read back with capture-pane. Every
//! wait polls the screen for a condition, with a bound.

use mc_runtime::state::{
    HostResult, HostStatus, PlanStatus, ResourceResult, ResourceStatus, RunStatus,
};
use mc_runtime::StateStore;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(30);

/// A tmux server of our own, killed when the test ends however it ends.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        Tmux {
            socket: dir.join("tmux.sock"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-u")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env("LANG", "C.UTF-8")
            .env("PGPASSWORD", mc_testfleet::postgres::PASSWORD)
            .env_remove("TMUX")
            .output()
            .expect("tmux is installed (scripts/test installs it)")
    }

    /// Starts `mc ARGS` in a detached 80×24 session named `name`. A shell
    /// around it prints the exit status when it ends, which is more reliable
    /// to wait for than tmux's own record of a dead pane.
    fn start(&self, name: &str, args: &[&str]) {
        let mut command = vec![
            "sh".to_string(),
            "-c".to_string(),
            r#""$@"; echo "[mc exited $?]""#.to_string(),
            "sh".to_string(),
            env!("CARGO_BIN_EXE_mc").to_string(),
        ];
        command.extend(args.iter().map(|a| a.to_string()));
        let shell_line = command
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let out = self.cmd(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            name,
            "-e",
            "TERM=xterm-256color",
            &shell_line,
            ";",
            "set-option",
            "-t",
            name,
            "remain-on-exit",
            "on",
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts an interactive shell in a detached 80×24 session: for
    /// checking the terminal state `mc` leaves behind.
    fn start_shell(&self, name: &str) {
        let out = self.cmd(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            name,
            "-e",
            "TERM=xterm-256color",
            "sh",
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn format(&self, name: &str, format: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", name, format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Types text literally (no key-name lookup).
    fn text(&self, name: &str, text: &str) {
        let out = self.cmd(&["send-keys", "-t", name, "-l", text]);
        assert!(out.status.success());
    }

    fn screen(&self, name: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", name]).stdout).into_owned()
    }

    /// The screen and the lines scrolled off it.
    fn history(&self, name: &str) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-S", "-200", "-t", name]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `cond` holds; fails with the last screen.
    fn wait_for(&self, name: &str, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.wait_on(name, what, cond, |name| self.screen(name))
    }

    fn wait_on(
        &self,
        name: &str,
        what: &str,
        cond: impl Fn(&str) -> bool,
        read: impl Fn(&str) -> String,
    ) -> String {
        let start = Instant::now();
        loop {
            let screen = read(name);
            if cond(&screen) {
                return screen;
            }
            if start.elapsed() > BOUND {
                panic!("waited {BOUND:?} for {what}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `mc` to exit and returns its exit status.
    fn wait_exit(&self, name: &str) -> String {
        // What mc prints after leaving the alternate screen may have
        // scrolled into the history.
        let screen = self.wait_on(
            name,
            "mc to exit",
            |s| s.contains("[mc exited "),
            |name| self.history(name),
        );
        let tail = &screen[screen.find("[mc exited ").unwrap_or(0)..];
        tail.trim_start_matches("[mc exited ")
            .split(']')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn fill(store: &StateStore) -> i64 {
    let hosts = vec!["web1".to_string(), "web2".to_string()];
    let run = store.start_run("apply", None, "src", &hosts).unwrap();
    let mut failed = ResourceResult {
        host: "web2".into(),
        resource: "service[nginx]".into(),
        action: "update".into(),
        status: ResourceStatus::Failed,
        message: Some("nginx: configuration test failed".into()),
        duration_ms: 80,
        output: None,
    };
    store.record_resource_result(run, &failed, None).unwrap();
    failed.host = "web1".into();
    failed.status = ResourceStatus::Changed;
    failed.message = None;
    store.record_resource_result(run, &failed, None).unwrap();
    for (h, status) in [("web1", HostStatus::Ok), ("web2", HostStatus::Failed)] {
        store
            .record_host_result(
                run,
                &HostResult {
                    host: h.into(),
                    status,
                    ..HostResult::default()
                },
            )
            .unwrap();
    }
    store
        .finish_run(
            run,
            RunStatus::Failed,
            &serde_json::json!({"changed": 1, "failed_hosts": 1, "hosts": 2}),
        )
        .unwrap();
    run
}

/// A plan that deletes a user: high risk, waiting for approval.
fn the_plan() -> mc_ir::plan::Plan {
    let mut plan = plan_without_policy();
    mc_runtime::policy::PolicyOutcome {
        findings: vec![],
        required_approvals: vec!["high-risk change: delete user[olduser] on db1".into()],
        ..Default::default()
    }
    .seal_into(&mut plan);
    plan
}

fn plan_without_policy() -> mc_ir::plan::Plan {
    use mc_ir::plan::{Action, HostPlan, Plan, PlannedResource};
    let host = mc_ir::HostInfo {
        name: "db1".into(),
        address: "db1".into(),
        user: None,
        port: None,
        transport: mc_ir::Transport::Ssh,
        r#become: false,
        groups: vec![],
        ssh_key: None,
    };
    Plan::new(
        1_700_000_000,
        "src".into(),
        vec![HostPlan {
            host,
            catalog: None,
            resources: vec![PlannedResource {
                id: mc_ir::ResourceId::new("user", "olduser"),
                action: Action::Delete,
                changes: vec![],
                content_diff: None,
                observed_digest: "d".into(),
                risk: mc_ir::Risk::High,
                refresh: false,
                notified_by: vec![],
                refresh_action: None,
                error: None,
            }],
            error: None,
        }],
    )
}

fn pending_plan(store: &StateStore) -> String {
    let plan = the_plan();
    store
        .save_plan(
            &plan.hash,
            &plan.source_digest,
            &plan.host_names(),
            &plan.to_json_pretty(),
            &serde_json::json!({}),
        )
        .unwrap();
    plan.hash
}

#[test]
fn browse_runs_watch_a_live_run_approve_and_quit() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let store = StateStore::open(&StateStore::default_path(&project)).unwrap();
    let first = fill(&store);
    let hash = pending_plan(&store);
    let tmux = Tmux::new(dir.path());
    tmux.start("t", &["tui", project.to_str().unwrap()]);

    let screen = tmux.wait_for("t", "the runs list", |s| s.contains("Runs (1)"));
    assert!(screen.contains(&format!("#{first}")), "{screen}");
    assert!(screen.contains("failed"), "{screen}");

    // A run started by another process shows up without a key press.
    let live = store
        .start_run("apply", None, "src", &["web3".to_string()])
        .unwrap();
    let screen = tmux.wait_for("t", "the new run", |s| s.contains("Runs (2)"));
    assert!(screen.contains("running"), "{screen}");

    // Open the failed run: the failure is listed first, with its message.
    tmux.keys("t", &["j", "Enter"]);
    let screen = tmux.wait_for("t", "the run detail", |s| {
        s.contains(&format!("run #{first} apply"))
    });
    let failed = screen.find("failed   web2").expect("failed row");
    let changed = screen.find("changed  web1").expect("changed row");
    assert!(failed < changed, "{screen}");
    tmux.wait_for("t", "the failure message", |s| {
        s.contains("configuration test failed")
    });

    // Back, filter, help.
    // Escape and a key sent together read as Alt-key: wait in between.
    tmux.keys("t", &["Escape"]);
    tmux.wait_for("t", "the runs list again", |s| s.contains("Runs (2)"));
    tmux.keys("t", &["/"]);
    tmux.text("t", "running");
    tmux.wait_for("t", "the filter", |s| s.contains("Runs (1 of 2)"));
    tmux.keys("t", &["Escape"]);
    tmux.wait_for("t", "the filter cleared", |s| s.contains("Runs (2)"));
    tmux.keys("t", &["?"]);
    tmux.wait_for("t", "help", |s| {
        s.contains(" Keys ") && s.contains("Runs (2)")
    });
    tmux.keys("t", &["?"]);
    tmux.wait_for("t", "help closed", |s| !s.contains(" Keys "));

    // The live run's detail updates while we watch it.
    tmux.keys("t", &["g", "Enter"]);
    tmux.wait_for("t", "the live run", |s| s.contains(&format!("run #{live}")));
    store
        .record_resource_result(
            live,
            &ResourceResult {
                host: "web3".into(),
                resource: "file[/etc/issue]".into(),
                action: "create".into(),
                status: ResourceStatus::Changed,
                message: None,
                duration_ms: 3,
                output: None,
            },
            None,
        )
        .unwrap();
    tmux.wait_for("t", "the new resource", |s| s.contains("file[/etc/issue]"));

    // Approve the pending plan with a reason.
    tmux.keys("t", &["Escape"]);
    tmux.wait_for("t", "the runs list", |s| s.contains("Runs (2)"));
    tmux.keys("t", &["BTab"]);
    tmux.wait_for("t", "approvals", |s| {
        s.contains("- high-risk change: delete user[olduser] on db1")
    });
    tmux.keys("t", &["a"]);
    tmux.wait_for("t", "the reason prompt", |s| s.contains("reason:"));
    tmux.text("t", "checked with the db team");
    tmux.keys("t", &["Enter"]);
    tmux.wait_for("t", "the approval", |s| s.contains("approved"));
    assert_eq!(
        store.plan(&hash).unwrap().unwrap().status,
        PlanStatus::Approved
    );
    let entry = store.audit_entries(Some(1)).unwrap().pop().unwrap();
    assert_eq!(entry.kind, "plan.approve");
    assert!(entry.detail.contains("checked with the db team"));

    tmux.keys("t", &["q"]);
    assert_eq!(tmux.wait_exit("t"), "0");
}

/// An operator watches, in `mc tui` over a shared PostgreSQL store, an
/// apply that another `mc` (another clone, another machine) is running.
#[test]
fn the_tui_over_postgres_shows_an_apply_running_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let pg = mc_testfleet::postgres::TestPostgres::start().unwrap();
    let url = pg.database().unwrap();
    let project = dir.path().join("elsewhere");
    std::fs::create_dir(&project).unwrap();
    let marker = dir.path().join("done");
    std::fs::write(
        project.join("main.mc"),
        format!(
            "host \"local\" {{\n  transport = \"local\"\n}}\n\non all {{\n  command \"slow\" {{\n    run = \"sleep 4; touch {}\"\n  }}\n}}\n",
            marker.display()
        ),
    )
    .unwrap();
    let tmux = Tmux::new(dir.path());
    tmux.start("t", &["tui", "--state", &url]);
    let screen = tmux.wait_for("t", "the empty runs list", |s| s.contains("no runs yet"));
    assert!(
        !screen.contains(mc_testfleet::postgres::PASSWORD),
        "{screen}"
    );

    let mut apply = mc()
        .args(["apply", "--yes", "--state", &url])
        .arg(&project)
        .env("PGPASSWORD", mc_testfleet::postgres::PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let screen = tmux.wait_for("t", "the run from elsewhere", |s| {
        s.contains("Runs (1)") && s.contains("running")
    });
    assert!(screen.contains("apply"), "{screen}");
    tmux.keys("t", &["Enter"]);
    tmux.wait_for("t", "its live detail", |s| s.contains("run #1 apply"));
    tmux.wait_for("t", "its result as it lands", |s| {
        s.contains("command[slow]") && s.contains(" ok")
    });
    assert!(apply.wait().unwrap().success());
    assert!(marker.exists());
    tmux.keys("t", &["q"]);
    assert_eq!(tmux.wait_exit("t"), "0");
}

#[test]
fn ctrl_c_quits_and_plan_files_open_in_the_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let store = StateStore::open(&StateStore::default_path(&project)).unwrap();
    fill(&store);
    let tmux = Tmux::new(dir.path());
    tmux.start("c", &["tui", project.to_str().unwrap()]);
    tmux.wait_for("c", "the runs list", |s| s.contains("Runs (1)"));
    tmux.keys("c", &["/", "C-c"]);
    assert_eq!(tmux.wait_exit("c"), "0");

    // The plan viewer needs no state store.
    let plan = the_plan();
    let plan_file = dir.path().join("plan.json");
    std::fs::write(&plan_file, plan.to_json_pretty()).unwrap();
    let hash = plan.hash;
    tmux.start("p", &["tui", plan_file.to_str().unwrap()]);
    let screen = tmux.wait_for("p", "the plan", |s| s.contains("user[olduser]"));
    assert!(screen.contains("sealed"), "{screen}");
    assert!(screen.contains(&hash[..12]), "{screen}");
    tmux.keys("p", &["q"]);
    assert_eq!(tmux.wait_exit("p"), "0");

    // A directory without a state store is an error, not a blank screen.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    tmux.start("e", &["tui", empty.to_str().unwrap()]);
    assert_eq!(tmux.wait_exit("e"), "1");
    let screen = tmux.history("e");
    assert!(screen.contains("no state store"), "{screen}");
}

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

fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("running mc");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_plan_from_mc_plan_approved_in_the_tui_is_applied_by_mc_apply() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let target = dir.path().join("srv");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("main.mc"),
        format!(
            r#"host "localhost" {{
  transport = "local"
}}

policy "keys need a second person" {{
  when change.resource is file && ends_with(change.resource.path, ".key") {{
    require_approval("a key file changes")
  }}
}}

policy "everything is watched" {{
  when change.action == "create" {{
    warn("${{change.action}} ${{change.resource.id}}")
  }}
}}

on host("localhost") {{
  directory "{t}" {{}}
  file "{t}/app.key" {{
    content = "secret\n"
    mode = 0o600
  }}
}}
"#,
            t = target.display()
        ),
    )
    .unwrap();
    let plan_file = dir.path().join("plan.json");
    let (code, out) = run(mc().arg("plan").arg(&project).arg("-o").arg(&plan_file));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("needs an approval"), "{out}");
    let plan = mc_ir::plan::Plan::from_json(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert!(plan.needs_approval(), "{plan:?}");

    // Not approved yet: refused, nothing written.
    let (code, out) = run(mc().arg("apply").arg(&plan_file));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("needs an approval"), "{out}");
    assert!(!target.exists());

    let tmux = Tmux::new(dir.path());
    tmux.start("a", &["tui", project.to_str().unwrap()]);
    tmux.wait_for("a", "the runs list", |s| s.contains(" Runs "));
    tmux.keys("a", &["BTab"]);
    let screen = tmux.wait_for("a", "the plan's reasons", |s| {
        s.contains("- a key file changes")
    });
    assert!(screen.contains(&plan.hash[..12]), "{screen}");
    assert!(screen.contains("pending  localhost"), "{screen}");
    assert!(
        screen.contains("policy \"keys need a second person\""),
        "{screen}"
    );
    tmux.keys("a", &["a"]);
    tmux.wait_for("a", "the reason prompt", |s| s.contains("reason:"));
    tmux.text("a", "key rotation, ticket 42");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "the approval", |s| {
        s.contains(&format!("plan {} approved", &plan.hash[..12]))
    });
    tmux.keys("a", &["q"]);
    assert_eq!(tmux.wait_exit("a"), "0");

    let (code, out) = run(mc().arg("apply").arg(&plan_file));
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(target.join("app.key")).unwrap(),
        "secret\n"
    );
    let store = StateStore::open(&StateStore::default_path(&project)).unwrap();
    assert_eq!(
        store.plan(&plan.hash).unwrap().unwrap().status,
        PlanStatus::Applied
    );
    let decisions = store.plan_decisions(&plan.hash).unwrap();
    assert_eq!(decisions.len(), 1, "{decisions:?}");
}

/// The pid of the `mc` process whose parent is `parent`.
fn child_mc(parent: &str) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so split after it.
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let ppid = rest.split_whitespace().nth(1);
        if ppid == Some(parent) && head.ends_with("(mc") {
            return head.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

/// Sends `signal` to a running `mc tui` and checks the shell it ran in is
/// usable again: the alternate screen is gone and typed input echoes.
fn signal_restores_the_terminal(signal: &str, status: &str) {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    let store = StateStore::open(&StateStore::default_path(&project)).unwrap();
    fill(&store);
    let tmux = Tmux::new(dir.path());
    tmux.start_shell("s");
    let shell = tmux.format("s", "#{pane_pid}");
    tmux.wait_for("s", "the prompt", |s| !s.trim().is_empty());
    tmux.text(
        "s",
        &format!(
            "'{}' tui '{}'; echo \"[mc exited $?]\"",
            env!("CARGO_BIN_EXE_mc"),
            project.display()
        ),
    );
    tmux.keys("s", &["Enter"]);
    tmux.wait_for("s", "the runs list", |s| s.contains("Runs (1)"));
    assert_eq!(tmux.format("s", "#{alternate_on}"), "1");

    let start = Instant::now();
    let pid = loop {
        if let Some(pid) = child_mc(&shell) {
            break pid;
        }
        assert!(start.elapsed() < BOUND, "no mc process under the shell");
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Killed by the signal (after restoring), as the shell reports it.
    tmux.wait_for("s", "mc to exit", |s| {
        s.contains(&format!("[mc exited {status}]"))
    });
    assert_eq!(tmux.format("s", "#{alternate_on}"), "0");
    // Cooked mode: the line is echoed as typed and run on Enter.
    tmux.text("s", "echo restored-$((40+2))");
    tmux.keys("s", &["Enter"]);
    let screen = tmux.wait_for("s", "the echo", |s| s.contains("\nrestored-42"));
    assert!(screen.contains("echo restored-$((40+2))"), "{screen}");
}

#[test]
fn sigterm_restores_the_terminal() {
    signal_restores_the_terminal("TERM", "143");
}

#[test]
fn sighup_restores_the_terminal() {
    signal_restores_the_terminal("HUP", "129");
}
