//! What a runner may never do, replayed against the real binary: show a
//! secret script in a command line, keep working after its parent died,
//! apply beside another runner, hold an endless request line in memory,
//! or crash on a timeout too large to add to the clock.

mod common;

use common::{apply_turn, host, item, res, Session};
use mc_runner::protocol::{
    Action, ApplyItem, ErrorKind, EventKind, Request, Response, Status, PROTOCOL_VERSION,
};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `cond` every 50 ms for up to `limit`.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The processes of this machine whose command line contains `needle`.
fn local_processes_with(needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let line = std::fs::read(e.path().join("cmdline")).ok()?;
            let line = String::from_utf8_lossy(&line).replace('\0', " ");
            line.contains(needle).then_some(line)
        })
        .collect()
}

fn apply_request(items: Vec<ApplyItem>) -> String {
    Request::Apply { items }.to_line()
}

fn hello_line() -> String {
    Request::Hello {
        protocol: PROTOCOL_VERSION,
        runtime_version: "test".into(),
    }
    .to_line()
}

#[test]
fn a_secret_in_a_script_never_appears_in_any_process_command_line() {
    let h = host();
    let secret = "Tr0ub4dor-argv-secret";
    // The needle comes from a file, so the scan's own argv stays clean.
    h.write_file("/root/argv-needle", secret.as_bytes())
        .unwrap();
    for user in [None, Some("nobody")] {
        let marker = format!("/tmp/argv-{}", user.unwrap_or("root"));
        h.exec_ok(&format!("rm -f {marker}")).unwrap();
        let mut attrs = json!({
            "run": format!("token='{secret}'; touch {marker}; sleep 2; test -n \"$token\"")
        });
        if let Some(u) = user {
            attrs["user"] = json!(u);
        }
        let mut it = item(res("command", "secret script", attrs), Action::Create);
        it.sensitive = vec!["run".into()];
        let _turn = apply_turn();
        let mut s = Session::greeted(h);
        s.send_raw(&apply_request(vec![it]));
        assert!(
            eventually(Duration::from_secs(20), || h.path_exists(&marker).unwrap()),
            "the command did not start"
        );
        let seen = h
            .exec_ok(
                "for f in /proc/[0-9]*/cmdline; do \
                 tr '\\0' ' ' < $f | grep -q -F -f /root/argv-needle && tr '\\0' ' ' < $f && echo; \
                 done; true",
            )
            .unwrap();
        assert_eq!(
            seen.trim(),
            "",
            "the secret is in a command line ({user:?})"
        );
        let result = loop {
            match s.recv() {
                Response::Applied { mut results } => break results.remove(0),
                Response::Event(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(result.status, Status::Changed, "{}", result.message);
        s.bye();
    }
}

#[test]
fn a_command_reading_stdin_gets_nothing_and_its_whole_script_runs() {
    let h = host();
    let mut s = Session::greeted(h);
    let r = res(
        "command",
        "reads stdin",
        json!({"run": "cat; echo after-cat\nif read -r line; then echo \"read: $line\"; else echo no-input; fi\necho last"}),
    );
    let (events, results) = s.apply(vec![item(r, Action::Create)]);
    assert_eq!(results[0].status, Status::Changed, "{}", results[0].message);
    let lines: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::Output)
        .filter_map(|e| e.line.as_deref())
        .collect();
    assert_eq!(lines, ["after-cat", "no-input", "last"]);
    let done = events.iter().find(|e| e.kind == EventKind::Done).unwrap();
    assert_eq!(done.line.as_deref(), Some(results[0].message.as_str()));
    s.bye();
}

#[test]
fn a_second_runner_refuses_to_apply_while_another_is_working() {
    let h = host();
    let _turn = apply_turn();
    h.exec_ok("rm -f /srv/lock-first /srv/lock-second").unwrap();
    let mut first = Session::greeted(h);
    let slow = res(
        "command",
        "slow",
        json!({"run": "touch /srv/lock-first; sleep 120"}),
    );
    first.send_raw(&apply_request(vec![item(slow, Action::Create)]));
    assert!(eventually(Duration::from_secs(20), || h
        .path_exists("/srv/lock-first")
        .unwrap()));

    let mut second = Session::greeted(h);
    let quick = res("command", "quick", json!({"run": "touch /srv/lock-second"}));
    let started = Instant::now();
    let (_, answer) = second.request(&Request::Apply {
        items: vec![item(quick.clone(), Action::Create)],
    });
    let Response::Applied { results } = answer else {
        panic!("expected applied, got {answer:?}");
    };
    assert_eq!(results[0].status, Status::Failed);
    let message = &results[0].message;
    assert!(
        message.contains("another mc run is still applying on this host")
            && message.contains("runner pid"),
        "{message}"
    );
    assert!(started.elapsed() >= mc_runner::host_lock::WAIT);
    assert!(!h.path_exists("/srv/lock-second").unwrap());

    // The first runner's mc goes away: its command ends, the lock with it.
    drop(first);
    let (_, answer) = second.request(&Request::Apply {
        items: vec![item(quick, Action::Create)],
    });
    assert!(
        matches!(&answer, Response::Applied { results } if results[0].status == Status::Changed),
        "{answer:?}"
    );
    assert!(h.path_exists("/srv/lock-second").unwrap());
    second.bye();
}

/// A runner on this machine under `sh`, whose stdin the test holds open.
struct Orphanable {
    shell: Child,
    stdin: ChildStdin,
    lines: BufReader<std::process::ChildStdout>,
    runner_pid: u32,
}

impl Orphanable {
    fn start() -> Orphanable {
        let mut shell = Command::new("/bin/sh")
            .arg("-c")
            // A background job's stdin would be /dev/null: keep ours.
            .arg("exec 3<&0; \"$1\" <&3 3<&- & echo $!; wait")
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_mc-runner"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = shell.stdin.take().unwrap();
        let mut lines = BufReader::new(shell.stdout.take().unwrap());
        let mut pid = String::new();
        lines.read_line(&mut pid).unwrap();
        let mut o = Orphanable {
            shell,
            stdin,
            lines,
            runner_pid: pid.trim().parse().unwrap(),
        };
        o.send(&hello_line());
        assert!(o.recv().contains("\"hello\""));
        o
    }

    fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    fn recv(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        line
    }

    /// Starts a command that runs `sleep SECS` and waits until it runs.
    fn start_sleep(&mut self, secs: &str, dir: &Path) {
        let marker = dir.join(format!("started-{secs}"));
        let cmd = res(
            "command",
            "sleeps",
            json!({"run": format!("touch {}; sleep {secs}", marker.display())}),
        );
        self.send(&apply_request(vec![item(cmd, Action::Create)]));
        assert!(eventually(Duration::from_secs(20), || marker.exists()));
    }

    fn runner_alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.runner_pid)).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.runner_pid))
                .unwrap_or_default()
                .contains(") Z ")
    }
}

#[test]
fn the_runner_and_its_command_end_when_its_parent_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Orphanable::start();
    o.start_sleep("313.5", dir.path());
    // The parent dies; the runner's stdin stays open (the test holds it),
    // so only the parent's death can tell the runner.
    o.shell.kill().unwrap();
    o.shell.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(5), || local_processes_with(
            "sleep 313.5"
        )
        .is_empty()),
        "the command outlived the runner's parent"
    );
    assert!(
        eventually(Duration::from_secs(5), || !o.runner_alive()),
        "the runner outlived its parent"
    );
    drop(o.stdin);
}

#[test]
fn sigterm_ends_the_runner_and_its_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Orphanable::start();
    o.start_sleep("313.7", dir.path());
    Command::new("kill")
        .args(["-TERM", &o.runner_pid.to_string()])
        .status()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || local_processes_with(
            "sleep 313.7"
        )
        .is_empty()),
        "the command outlived the runner"
    );
    assert!(eventually(Duration::from_secs(5), || !o.runner_alive()));
    let _ = o.shell.kill();
    let _ = o.shell.wait();
}

#[test]
fn an_over_long_request_line_is_refused_in_bounded_memory() {
    let mut runner = Command::new(env!("CARGO_BIN_EXE_mc-runner"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = runner.stdin.take().unwrap();
    let mut out = BufReader::new(runner.stdout.take().unwrap());
    let writer = std::thread::spawn(move || {
        // 256 MiB without a newline, then a proper request.
        let block = vec![b'a'; 1 << 20];
        for _ in 0..256 {
            stdin.write_all(&block).unwrap();
        }
        stdin.write_all(b"\n").unwrap();
        stdin.write_all(hello_line().as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin
    });
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let error: Response = serde_json::from_str(&first).unwrap();
    match error {
        Response::Error { kind, message, .. } => {
            assert_eq!(kind, ErrorKind::Protocol);
            assert!(message.contains("longer than 64 MiB"), "{message}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    let mut second = String::new();
    out.read_line(&mut second).unwrap();
    assert!(second.contains("\"hello\""), "{second}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", runner.id())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    // The limit plus room for the program, well under the line's size.
    assert!(peak_kib < 160 * 1024, "peak memory {peak_kib} KiB");
    drop(writer.join().unwrap());
    assert!(runner.wait().unwrap().success());
}

#[test]
fn timeouts_too_large_for_the_clock_run_instead_of_crashing() {
    let h = host();
    let mut s = Session::greeted(h);
    let mut meta_max = res("command", "meta timeout", json!({"run": "true"}));
    meta_max.meta.timeout = Some(u64::MAX);
    let attr_max = res(
        "command",
        "attribute timeout",
        json!({"run": "true", "timeout": i64::MAX}),
    );
    let (_, results) = s.apply(vec![
        item(meta_max, Action::Create),
        item(attr_max, Action::Create),
    ]);
    for r in results {
        assert_eq!(r.status, Status::Changed, "{}: {}", r.id, r.message);
    }
    s.bye();
}
