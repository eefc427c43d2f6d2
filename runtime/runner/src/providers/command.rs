//! `command`: runs the `run` script with `/bin/sh`, streaming its output
//! as events. The script goes to the shell on stdin, never in its argv.
//!
//! The probe evaluates the guards (`creates`, `unless`, `only_if`; these
//! should only read the host) and plans `create` when the command would run.
//! A `refresh_only` command plans nothing and runs only on refresh. The
//! timeout is the `timeout` attribute or the `timeout` meta-attribute, in
//! seconds; on expiry the whole process group is killed. With `until`, a
//! run counts as successful only once that check command succeeds.

use super::{Emit, Outcome, Plan, Spec};
use crate::protocol::{Action, AttrChange, Event, EventKind, Status, Stream};
use mc_ir::Value;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn run_text(spec: &Spec) -> Result<super::Text, String> {
    match spec.text("run")? {
        Some(t) => Ok(t),
        None => spec.text("command")?.map_or_else(
            || {
                Ok(super::Text {
                    value: Some(spec.title().to_string()),
                    digest: crate::protocol::sha256_hex(spec.title()),
                    sensitive: false,
                })
            },
            Ok,
        ),
    }
}

/// Why the command should not run now, if it should not.
fn guard_blocks(spec: &Spec) -> Result<Option<String>, String> {
    if let Some(p) = spec.str("creates")? {
        if Path::new(p).exists() {
            return Ok(Some(format!("{p} exists")));
        }
    }
    if let Some(u) = spec.str("unless")? {
        if guard(spec, u)? {
            return Ok(Some("`unless` succeeded".into()));
        }
    }
    if let Some(o) = spec.str("only_if")? {
        if !guard(spec, o)? {
            return Ok(Some("`only_if` failed".into()));
        }
    }
    Ok(None)
}

fn guard(spec: &Spec, script: &str) -> Result<bool, String> {
    let mut cmd = shell(spec)?;
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = spawn_script(&mut cmd, script).map_err(|e| format!("running guard: {e}"))?;
    Ok(child
        .wait()
        .map_err(|e| format!("running guard: {e}"))?
        .success())
}

/// What `sh -c` runs: the script, read whole from stdin before any of it
/// runs, then stdin is `/dev/null` as for any command. The script never
/// appears in an argv, which every local user can read in
/// `/proc/PID/cmdline`, and a command reading stdin cannot eat it.
const READ_SCRIPT: &str = "mc_script=$(cat; echo .) || exit 125
exec </dev/null
eval \"${mc_script%.}\"";

/// `sh` with the resource's cwd, env and user, reading its script from
/// stdin (see [`spawn_script`]).
fn shell(spec: &Spec) -> Result<Command, String> {
    let mut cmd = match spec.str("user")? {
        Some(u) if u != "root" => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--", "/bin/sh", "-c", READ_SCRIPT]);
            c
        }
        _ => {
            let mut c = Command::new("/bin/sh");
            c.args(["-c", READ_SCRIPT]);
            c
        }
    };
    if let Some(cwd) = spec.str("cwd")? {
        cmd.current_dir(cwd);
    }
    if let Some(Value::Map(env)) = spec.res.attrs.get("env") {
        for (k, v) in env {
            match v {
                Value::String(s) => {
                    cmd.env(k, s);
                }
                Value::Int(i) => {
                    cmd.env(k, i.to_string());
                }
                Value::Bool(b) => {
                    cmd.env(k, b.to_string());
                }
                // A probe never gets secret values: its guards run without them.
                Value::Secret(_) if spec.digests.is_some() => {}
                _ => return Err(format!("env `{k}` must be a resolved string")),
            }
        }
    }
    Ok(cmd)
}

/// Starts a [`shell`] and hands it `script` on stdin, from a thread of its
/// own so a long script cannot block the runner.
fn spawn_script(cmd: &mut Command, script: &str) -> std::io::Result<Child> {
    let mut child = cmd.stdin(Stdio::piped()).spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        let script = script.to_string();
        // A shell that ended early closed the pipe: nothing to do then.
        std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    }
    Ok(child)
}

/// The `timeout` attribute, else the `timeout` meta-attribute, in seconds;
/// none when unset, zero, negative, or too far off to reach.
fn timeout(spec: &Spec) -> Result<Option<Duration>, String> {
    let secs = match spec.int("timeout")? {
        Some(t) => t,
        None => spec
            .res
            .meta
            .timeout
            .map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX)),
    };
    Ok((secs > 0).then(|| crate::sys::seconds(secs)))
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let run = run_text(spec)?;
    let refresh_only = spec.bool("refresh_only", false)?;
    let mut plan = Plan::new(json!({"refresh_only": refresh_only}));
    if refresh_only {
        return Ok(plan);
    }
    match guard_blocks(spec)? {
        Some(reason) => plan.observed["skip"] = json!(reason),
        None => {
            plan.action = Action::Create;
            plan.changes.push(AttrChange {
                attr: "run".into(),
                from: serde_json::Value::Null,
                to: run.shown(),
            });
        }
    }
    Ok(plan)
}

pub fn apply(spec: &Spec, refresh: bool, emit: &mut Emit) -> Result<Outcome, String> {
    let run = run_text(spec)?;
    let refresh_only = spec.bool("refresh_only", false)?;
    let skip = |message: String| Outcome {
        status: Status::Ok,
        message,
        observed_digest: None,
    };
    if refresh_only && !refresh {
        return Ok(skip("not notified".into()));
    }
    if let Some(reason) = guard_blocks(spec)? {
        return Ok(skip(format!("not run: {reason}")));
    }
    let timeout = timeout(spec)?;
    let returns: Vec<i64> = match spec.res.attrs.get("returns") {
        Some(Value::List(l)) => l.iter().filter_map(Value::as_int).collect(),
        _ => vec![0],
    };
    let mut cmd = shell(spec)?;
    // Its own process group, so a timeout kills everything it started.
    cmd.process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = spawn_script(&mut cmd, run.require("run")?)
        .map_err(|e| format!("starting the command: {e}"))?;
    crate::session::set_command_group(Some(child.id()));
    let (tx, rx) = mpsc::channel::<(Stream, String)>();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, Stream::Stdout, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, Stream::Stderr, tx.clone());
    }
    drop(tx);
    // A timeout too far off to reach is no deadline.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut timed_out = false;
    let mut session_closed = false;
    let id = spec.res.id.clone();
    let mut last_stderr = String::new();
    // A daemon started in the background may keep the pipes open after the
    // command exits: once it has exited, stop reading when no output came
    // for a short while (not a fixed time after the exit, which would drop
    // the tail of a command that printed faster than it is forwarded).
    let mut exited_at: Option<Instant> = None;
    let mut last_output = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((stream, line)) => {
                if stream == Stream::Stderr {
                    last_stderr.clone_from(&line);
                }
                emit(Event {
                    id: id.clone(),
                    kind: EventKind::Output,
                    stream: Some(stream),
                    line: Some(line),
                    status: None,
                    attempt: None,
                });
                // Idle counts from here: forwarding may block on a slow
                // reader, and lines still queued are not idleness.
                last_output = Instant::now();
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if exited_at.is_none() && child.try_wait().ok().flatten().is_some() {
            exited_at = Some(Instant::now());
            crate::session::set_command_group(None);
        }
        let idle = last_output.elapsed() > Duration::from_millis(500);
        // Bounded even if something left behind never stops printing.
        let long_gone = exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(30));
        if exited_at.is_some() && (idle || long_gone) {
            break;
        }
        if exited_at.is_none() && deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out = true;
            kill_group(&mut child);
            break;
        }
        if exited_at.is_none() && crate::session::closed() {
            session_closed = true;
            kill_group(&mut child);
            break;
        }
    }
    crate::session::set_command_group(None);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the command: {e}"))?;
    if session_closed {
        return Err("ended: mc closed the session (aborted) while it ran".into());
    }
    if timed_out {
        return Err(format!(
            "timed out after {}s",
            timeout.map(|t| t.as_secs()).unwrap_or_default()
        ));
    }
    let code = status.code().map(i64::from);
    match code {
        Some(c) if returns.contains(&c) => until_holds(spec).map(|()| Outcome {
            status: Status::Changed,
            message: format!("ran (exit {c})"),
            observed_digest: None,
        }),
        Some(c) => Err(format!("exit status {c}: {last_stderr}")),
        None => Err(format!("killed by a signal ({status})")),
    }
}

/// `until`: after a successful run, the check command must succeed too,
/// or the attempt counts as failed (and is retried within `retries`).
fn until_holds(spec: &Spec) -> Result<(), String> {
    match spec.str("until")? {
        Some(check) if !guard(spec, check)? => {
            Err(format!("the `until` check did not succeed: {check}"))
        }
        _ => Ok(()),
    }
}

/// Kills the command and everything it started (its own process group).
fn kill_group(child: &mut Child) {
    crate::session::kill_command_group();
    let _ = child.kill();
}

/// Longest output line sent in one event, in bytes.
const MAX_LINE: u64 = 64 * 1024;

fn spawn_reader<R: Read + Send + 'static>(
    r: R,
    stream: Stream,
    tx: mpsc::Sender<(Stream, String)>,
) {
    // Detached: a reader blocked on a pipe that a background process still
    // holds finishes on its own.
    std::thread::spawn(move || {
        let mut reader = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            // Bounded: output without newlines is cut into MAX_LINE pieces
            // instead of growing without limit.
            match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    if tx.send((stream, line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}
