//! The protocol loop: reads requests line by line, answers each one.

use crate::protocol::{
    observed_digest, sha256_hex, Action, ApplyItem, ApplyResult, ErrorKind, Event, EventKind,
    ProbeResult, Request, Response, Status, MAX_REQUEST_LINE, OUTPUT_KEEP, PROTOCOL_VERSION,
};
use crate::providers::{self, package, Spec};
use crate::scrub::Scrubber;
use crate::session::{Line, TOO_LONG};
use mc_ir::{RefreshAction, Resource, ResourceId, Value};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{self, BufRead, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Duration;

/// The runner's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// sha256 of the running executable (first 16 hex digits): identifies the
/// exact build. The controller installs the runner as `mc-runner-<sha256>`,
/// so the name already says it; only a runner under another name (a
/// development build) hashes its own file.
pub fn build_id() -> &'static str {
    BUILD_ID.get_or_init(|| {
        let exe = std::env::current_exe();
        exe.as_ref()
            .ok()
            .and_then(|p| id_from_file_name(p))
            .or_else(|| {
                let bytes = std::fs::read(exe.ok()?).ok()?;
                Some(sha256_hex(bytes)[..16].to_string())
            })
            .unwrap_or_else(|| "unknown".into())
    })
}

static BUILD_ID: OnceLock<String> = OnceLock::new();

/// Sets the build id when the program that embeds the runner knows it
/// already (`mc-agent` hashes itself once, not at every session).
pub fn set_build_id(id: String) {
    let _ = BUILD_ID.set(id);
}

/// The build id in an installed runner's name: `mc-runner-` and 64 hex digits.
fn id_from_file_name(path: &std::path::Path) -> Option<String> {
    let hash = path.file_name()?.to_str()?.strip_prefix("mc-runner-")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash[..16].to_string())
}

/// Writes responses, removing every secret value from their free text.
struct Out<W: Write> {
    w: W,
    secrets: Scrubber,
}

impl<W: Write> Out<W> {
    fn send(&mut self, resp: &Response) -> io::Result<()> {
        let line = if self.secrets.is_empty() {
            resp.to_line()
        } else {
            let mut resp = resp.clone();
            self.secrets.response(&mut resp);
            resp.to_line()
        };
        self.w.write_all(line.as_bytes())?;
        self.w.write_all(b"\n")?;
        self.w.flush()
    }
}

/// Every secret value of a batch: each sensitive attribute's strings and
/// each resolved secret the runtime lists in `scrub` (a secret inside a
/// longer string, which a command may print on its own).
fn scrubber_for(items: &[ApplyItem]) -> Scrubber {
    let mut terms = Vec::new();
    for item in items {
        for attr in &item.sensitive {
            if let Some(val) = item.resource.attrs.get(attr) {
                collect_strings(val, &mut terms);
            }
        }
        terms.extend(item.scrub.iter().cloned());
    }
    let mut scrubber = Scrubber::default();
    terms.iter().for_each(|t| scrubber.add(t));
    scrubber
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::List(l) => l.iter().for_each(|x| collect_strings(x, out)),
        Value::Map(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Serves one session on stdin/stdout, ending with the parent process:
/// `mc-runner`, and `mc-agent` in runner mode. `program` names it in errors.
pub fn serve_stdio(program: &str) -> std::process::ExitCode {
    use std::process::ExitCode;
    if let Err(e) = crate::session::end_with_parent() {
        eprintln!("{program}: cannot arrange to end with its parent: {e}");
        return ExitCode::from(1);
    }
    // Watched, so a command still running when the parent goes away is ended.
    let input = crate::session::watched(io::stdin());
    let stdout = io::stdout();
    match serve(input, stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::from(1)
        }
    }
}

/// Serves one session: until `bye` or end of input. Bad input never ends it.
pub fn serve<R: BufRead, W: Write>(mut input: R, output: W) -> io::Result<()> {
    let mut out = Out {
        w: output,
        secrets: Scrubber::default(),
    };
    let mut greeted = false;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = crate::session::read_line_capped(&mut input, &mut buf, MAX_REQUEST_LINE)?;
        if read == Line::End {
            return Ok(());
        }
        if read == Line::TooLong || buf == TOO_LONG {
            out.send(&Response::error(
                ErrorKind::Protocol,
                format!(
                    "request line longer than {} MiB: not read",
                    MAX_REQUEST_LINE >> 20
                ),
            ))?;
            continue;
        }
        let Ok(line) = std::str::from_utf8(&buf) else {
            out.send(&Response::error(
                ErrorKind::Protocol,
                "request is not UTF-8",
            ))?;
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let req: Request = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                out.send(&Response::error(
                    ErrorKind::Protocol,
                    format!("bad request: {e}"),
                ))?;
                continue;
            }
        };
        match req {
            Request::Hello { protocol, .. } => {
                if protocol != PROTOCOL_VERSION {
                    out.send(&Response::error(
                        ErrorKind::Version,
                        format!("this runner speaks protocol {PROTOCOL_VERSION}, not {protocol}"),
                    ))?;
                    continue;
                }
                greeted = true;
                out.send(&Response::Hello {
                    protocol: PROTOCOL_VERSION,
                    runner_version: VERSION.into(),
                    build_id: build_id().into(),
                })?;
            }
            Request::Bye => {
                out.send(&Response::Bye)?;
                return Ok(());
            }
            _ if !greeted => {
                out.send(&Response::error(ErrorKind::Protocol, "send hello first"))?;
            }
            Request::Backups { path } => {
                let answer = guarded(|| backups_of(&path))
                    .and_then(|r| r)
                    .unwrap_or_else(|e| Response::error(ErrorKind::Internal, e));
                out.send(&answer)?;
            }
            Request::Facts => {
                let facts = guarded(crate::facts::gather)
                    .unwrap_or_else(|e| serde_json::json!({"error": e}));
                out.send(&Response::Facts { facts })?;
            }
            Request::Probe {
                resources,
                sensitive,
            } => {
                crate::providers::firewall::set_batch(resources.iter());
                let results = resources
                    .iter()
                    .map(|r| probe_one(r, sensitive.get(&r.id)))
                    .collect();
                out.send(&Response::Probed { results })?;
            }
            Request::Apply { items } => {
                crate::providers::firewall::set_batch(items.iter().map(|i| &i.resource));
                out.secrets = scrubber_for(&items);
                let results = match crate::host_lock::acquire(crate::host_lock::WAIT) {
                    Ok(_held) => apply_batch(&items, &mut out)?,
                    Err(busy) => items
                        .iter()
                        .map(|i| not_run(i, Status::Failed, busy.clone()))
                        .collect(),
                };
                out.send(&Response::Applied { results })?;
                out.secrets = Scrubber::default();
            }
        }
    }
}

/// Runs `f`, turning a panic into an error instead of ending the session.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "internal error".into())
    })
}

fn probe_one(r: &Resource, digests: Option<&BTreeMap<String, String>>) -> ProbeResult {
    let spec = Spec {
        res: r,
        digests: Some(digests.unwrap_or(&EMPTY_DIGESTS)),
        sensitive: &[],
    };
    match guarded(|| providers::probe(&spec)).and_then(|x| x) {
        Ok(plan) => ProbeResult {
            id: r.id.clone(),
            observed_digest: plan.digest(),
            observed: plan.observed,
            action: plan.action,
            changes: plan.changes,
            content_diff: plan.content_diff,
            error: None,
        },
        Err(e) => ProbeResult {
            id: r.id.clone(),
            observed: serde_json::Value::Null,
            observed_digest: observed_digest(&serde_json::Value::Null),
            action: Action::None,
            changes: Vec::new(),
            content_diff: None,
            error: Some(e),
        },
    }
}

static EMPTY_DIGESTS: BTreeMap<String, String> = BTreeMap::new();

fn event<W: Write>(
    out: &mut Out<W>,
    id: &ResourceId,
    kind: EventKind,
    status: Option<Status>,
) -> io::Result<()> {
    out.send(&Response::Event(Event {
        id: id.clone(),
        kind,
        stream: None,
        line: None,
        status,
        attempt: None,
    }))
}

/// An item is finished: its status, message and attempts go out at once,
/// so `mc` can show each result as it happens.
fn done<W: Write>(out: &mut Out<W>, result: &ApplyResult) -> io::Result<()> {
    out.send(&Response::Event(Event {
        id: result.id.clone(),
        kind: EventKind::Done,
        stream: None,
        line: (!result.message.is_empty()).then(|| result.message.clone()),
        status: Some(result.status),
        attempt: Some(result.attempts),
    }))
}

/// What happened to the items of a batch so far, for the items after them.
#[derive(Default)]
struct BatchProgress {
    /// Failed, or skipped because something they depend on did not apply.
    not_applied: HashSet<ResourceId>,
    changed: HashSet<ResourceId>,
}

impl BatchProgress {
    fn blocked_by<'i>(&self, item: &'i ApplyItem) -> Option<&'i ResourceId> {
        item.after.iter().find(|d| self.not_applied.contains(*d))
    }

    /// The refresh the item gets, if any: the strongest of what its
    /// pending refresh and its notifiers that changed ask.
    fn refreshes(&self, item: &ApplyItem) -> Option<RefreshAction> {
        let own = item.action_of_refresh();
        let notified = item
            .notified_by
            .iter()
            .filter(|n| self.changed.contains(*n))
            .map(|n| {
                item.notify_actions
                    .get(n)
                    .copied()
                    .unwrap_or(RefreshAction::OnNotify)
            });
        RefreshAction::strongest(own.into_iter().chain(notified))
    }

    fn record(&mut self, result: &ApplyResult) {
        match result.status {
            Status::Changed => {
                self.changed.insert(result.id.clone());
            }
            Status::Failed | Status::Skipped => {
                self.not_applied.insert(result.id.clone());
            }
            Status::Ok => {}
        }
    }
}

/// Applies a batch in the order given (see [`ApplyItem::after`] and
/// [`ApplyItem::notified_by`]); one result per item, in order.
fn apply_batch<W: Write>(items: &[ApplyItem], out: &mut Out<W>) -> io::Result<Vec<ApplyResult>> {
    let specs: Vec<Spec> = items
        .iter()
        .map(|i| Spec {
            res: &i.resource,
            digests: None,
            sensitive: &i.sensitive,
        })
        .collect();
    let mut progress = BatchProgress::default();
    let mut results: Vec<Option<ApplyResult>> = vec![None; items.len()];
    for idx in 0..items.len() {
        if results[idx].is_some() {
            continue; // applied with an earlier package run
        }
        let item = &items[idx];
        let result = if crate::session::stop_requested() || crate::session::closed() {
            // mc was interrupted: the running resource finished; no new one.
            not_run(item, Status::Skipped, crate::session::INTERRUPTED.into())
        } else if let Some(dep) = progress.blocked_by(item) {
            not_run(
                item,
                Status::Skipped,
                format!("skipped: depends on {dep}, which did not apply"),
            )
        } else if item.action == Action::None && progress.refreshes(item).is_none() {
            not_run_idle(item)
        } else if item.resource.type_name == "package" {
            let run = package_run(items, idx, &progress);
            for (i, r) in apply_packages(items, &specs, &run, out)? {
                progress.record(&r);
                results[i] = Some(r);
            }
            continue;
        } else {
            let refresh = progress.refreshes(item);
            apply_with_retries(item, &specs[idx], refresh, out)?
        };
        progress.record(&result);
        results[idx] = Some(result);
    }
    Ok(results.into_iter().flatten().collect())
}

fn not_run(item: &ApplyItem, status: Status, message: String) -> ApplyResult {
    ApplyResult {
        id: item.resource.id.clone(),
        status,
        message,
        observed_digest: None,
        output: None,
        attempts: 0,
    }
}

/// An item with nothing to do: `skipped` when the runtime sent it that way,
/// `ok` when it waited for a notification that did not come.
fn not_run_idle(item: &ApplyItem) -> ApplyResult {
    if item.notified_by.is_empty() {
        not_run(item, Status::Skipped, "nothing to do".into())
    } else {
        not_run(item, Status::Ok, "not notified".into())
    }
}

/// The consecutive packages from `start` that can go to the package manager
/// together: each one runnable now and not depending on another of the run.
fn package_run(items: &[ApplyItem], start: usize, progress: &BatchProgress) -> Vec<usize> {
    let mut run: Vec<usize> = Vec::new();
    for (i, item) in items.iter().enumerate().skip(start) {
        let runnable = item.resource.type_name == "package"
            && item.action != Action::None
            && progress.blocked_by(item).is_none()
            && !run
                .iter()
                .any(|&j| item.after.contains(&items[j].resource.id));
        if !runnable {
            break;
        }
        run.push(i);
    }
    if run.is_empty() {
        run.push(start);
    }
    run
}

/// One package manager call for a run of packages; a package that fails
/// there and has retries goes again alone.
fn apply_packages<W: Write>(
    items: &[ApplyItem],
    specs: &[Spec],
    run: &[usize],
    out: &mut Out<W>,
) -> io::Result<Vec<(usize, ApplyResult)>> {
    for &i in run {
        event(out, &items[i].resource.id, EventKind::Started, None)?;
    }
    let batch: Vec<&Spec> = run.iter().map(|&i| &specs[i]).collect();
    let outcomes =
        guarded(|| package::apply_batch(&batch)).unwrap_or_else(|e| vec![Err(e); batch.len()]);
    let mut results = Vec::with_capacity(run.len());
    for (&i, outcome) in run.iter().zip(outcomes) {
        let item = &items[i];
        let mut result = to_result(item, outcome, OutputBuffer::default(), 1);
        if result.status == Status::Failed && RetryPolicy::of(item).retries > 0 {
            attempt_failed(
                out,
                item,
                1,
                &result.message,
                RetryPolicy::of(item).delay(1),
            )?;
            result = retry_from(item, &specs[i], None, out, 2)?;
        } else {
            done(out, &result)?;
        }
        results.push((i, result));
    }
    Ok(results)
}

/// How often, and how long apart, a failed item runs again.
struct RetryPolicy {
    retries: u32,
    delay: Duration,
    backoff: u32,
}

/// Retries of a `command` with `until` when the resource sets none, as in
/// Ansible.
const UNTIL_DEFAULT_RETRIES: u32 = 3;

impl RetryPolicy {
    fn of(item: &ApplyItem) -> RetryPolicy {
        let meta = &item.resource.meta;
        let has_until = item.resource.attrs.contains_key("until");
        let retries = if meta.retries == 0 && has_until {
            UNTIL_DEFAULT_RETRIES
        } else {
            meta.retries
        };
        RetryPolicy {
            retries,
            delay: Duration::from_secs(meta.retry_delay.unwrap_or(1)),
            backoff: meta.retry_backoff.unwrap_or(1).max(1),
        }
    }

    /// The wait after failed attempt `n` (1-based): delay × backoff^(n-1).
    fn delay(&self, n: u32) -> Duration {
        let factor = self.backoff.saturating_pow(n.saturating_sub(1));
        self.delay.saturating_mul(factor)
    }
}

fn apply_with_retries<W: Write>(
    item: &ApplyItem,
    spec: &Spec,
    refresh: Option<RefreshAction>,
    out: &mut Out<W>,
) -> io::Result<ApplyResult> {
    event(out, &item.resource.id, EventKind::Started, None)?;
    retry_from(item, spec, refresh, out, 1)
}

/// Runs attempts `first..` of an item until one succeeds or its retries
/// are used up; sends `attempt` events for failed attempts and `done`.
fn retry_from<W: Write>(
    item: &ApplyItem,
    spec: &Spec,
    refresh: Option<RefreshAction>,
    out: &mut Out<W>,
    first: u32,
) -> io::Result<ApplyResult> {
    let policy = RetryPolicy::of(item);
    let mut output = OutputBuffer::default();
    let mut n = first;
    loop {
        let outcome = apply_once(spec, refresh, out, &mut output)?;
        let failed = !matches!(&outcome, Ok(o) if o.status != Status::Failed);
        // A closed session (mc went away) gets no further attempt.
        if !failed || n > policy.retries || crate::session::closed() {
            let result = to_result(item, outcome, output, n);
            done(out, &result)?;
            return Ok(result);
        }
        let why = match &outcome {
            Ok(o) => o.message.clone(),
            Err(e) => e.clone(),
        };
        attempt_failed(out, item, n, &why, policy.delay(n))?;
        n += 1;
    }
}

/// Reports a failed attempt and waits before the next one.
fn attempt_failed<W: Write>(
    out: &mut Out<W>,
    item: &ApplyItem,
    n: u32,
    why: &str,
    wait: Duration,
) -> io::Result<()> {
    let total = RetryPolicy::of(item).retries + 1;
    out.send(&Response::Event(Event {
        id: item.resource.id.clone(),
        kind: EventKind::Attempt,
        stream: None,
        line: Some(format!(
            "attempt {n} of {total} failed: {why}; next in {}s",
            wait.as_secs()
        )),
        status: Some(Status::Failed),
        attempt: Some(n),
    }))?;
    crate::session::pause(wait);
    Ok(())
}

/// One run of the provider; its output events are streamed and kept.
fn apply_once<W: Write>(
    spec: &Spec,
    refresh: Option<RefreshAction>,
    out: &mut Out<W>,
    output: &mut OutputBuffer,
) -> io::Result<Result<providers::Outcome, String>> {
    let mut write_err = None;
    let r = guarded(|| {
        let mut emit = |e: Event| {
            if let Some(line) = &e.line {
                output.push_line(line);
            }
            if write_err.is_none() {
                if let Err(err) = out.send(&Response::Event(e)) {
                    write_err = Some(err);
                }
            }
        };
        providers::apply(spec, refresh, &mut emit)
    })
    .and_then(|x| x);
    match write_err {
        Some(err) => Err(err),
        None => Ok(r),
    }
}

fn to_result(
    item: &ApplyItem,
    outcome: Result<providers::Outcome, String>,
    output: OutputBuffer,
    attempts: u32,
) -> ApplyResult {
    let (status, message, observed_digest) = match outcome {
        Ok(o) => (o.status, o.message, o.observed_digest),
        Err(e) => (Status::Failed, e, None),
    };
    ApplyResult {
        id: item.resource.id.clone(),
        status,
        message,
        observed_digest,
        output: output.finish(),
        attempts,
    }
}

/// An item's output, bounded: the first and the last [`OUTPUT_KEEP`] bytes,
/// with a marker saying how much was left out between them.
#[derive(Default)]
struct OutputBuffer {
    head: String,
    tail: VecDeque<u8>,
    dropped: usize,
}

impl OutputBuffer {
    fn push_line(&mut self, line: &str) {
        let text = format!("{line}\n");
        let mut cut = OUTPUT_KEEP.saturating_sub(self.head.len()).min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.head.push_str(&text[..cut]);
        for b in text[cut..].bytes() {
            self.tail.push_back(b);
            if self.tail.len() > OUTPUT_KEEP {
                self.tail.pop_front();
                self.dropped += 1;
            }
        }
    }

    fn finish(self) -> Option<String> {
        if self.head.is_empty() {
            return None;
        }
        let mut text = self.head;
        if self.dropped > 0 {
            text.push_str(&format!(
                "[… {} bytes of output left out …]\n",
                self.dropped
            ));
        }
        let tail: Vec<u8> = self.tail.into_iter().collect();
        // The cut may split a character; lossy decoding marks it.
        text.push_str(&String::from_utf8_lossy(&tail));
        Some(text)
    }
}

/// The backups of `path` in this user's backup store.
fn backups_of(path: &str) -> Result<Response, String> {
    if !path.starts_with('/') {
        return Err(format!("the path must be absolute, got {path:?}"));
    }
    let root = crate::sys::backup_root().map_err(|e| format!("the backup store: {e}"))?;
    let dir = crate::sys::backup_dir_of(&root, path);
    let backups = crate::sys::list_backups(&dir)
        .map_err(|e| format!("listing {}: {e}", dir.display()))?
        .into_iter()
        .map(|b| crate::protocol::BackupInfo {
            made_at: b
                .modified
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            name: b.name,
            sha256: b.sha256,
            size: b.size,
        })
        .collect();
    Ok(Response::Backups {
        dir: dir.display().to_string(),
        backups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(input: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        serve(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn every_request_gets_one_answer_and_bye_ends_the_session() {
        let replies = session(concat!(
            "{\"type\":\"facts\"}\n",
            "\u{ff}garbage\n",
            "{\"type\":\"bye\"}\n",
            "{\"type\":\"facts\"}\n",
        ));
        assert_eq!(replies.len(), 3, "{replies:?}");
        assert_eq!(replies[0]["type"], "error");
        assert_eq!(replies[0]["kind"], "protocol");
        assert_eq!(replies[1]["type"], "error");
        assert_eq!(replies[2]["type"], "bye");
    }

    #[test]
    fn an_installed_runner_takes_its_build_id_from_its_name() {
        let hash = "47fdba0f49633ed41f8c8d7e731a9a41a1a83adfa6b37a430e868d3e12a1b873";
        let path = std::path::PathBuf::from(format!("/var/lib/mc/runner/mc-runner-{hash}"));
        assert_eq!(
            id_from_file_name(&path).as_deref(),
            Some("47fdba0f49633ed4")
        );
        for other in [
            "/usr/bin/mc-runner",
            "/tmp/mc-runner-abc",
            "/x/mc-runner-{hash}.tmp.1",
        ] {
            assert_eq!(id_from_file_name(std::path::Path::new(other)), None);
        }
    }

    #[test]
    fn invalid_utf8_is_a_protocol_error() {
        let mut out = Vec::new();
        serve(&b"\xff\xfe\n{\"type\":\"bye\"}\n"[..], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(r#"{"type":"error","kind":"protocol""#),
            "{text}"
        );
        assert!(text.ends_with("{\"type\":\"bye\"}\n"));
    }

    #[test]
    fn output_keeps_its_first_and_last_part() {
        let mut small = OutputBuffer::default();
        small.push_line("hello");
        small.push_line("world");
        assert_eq!(small.finish().as_deref(), Some("hello\nworld\n"));
        assert_eq!(OutputBuffer::default().finish(), None);

        let mut big = OutputBuffer::default();
        for i in 0..20_000 {
            big.push_line(&format!("line {i:05} é"));
        }
        let text = big.finish().unwrap();
        assert!(text.starts_with("line 00000 é\n"));
        assert!(text.ends_with("line 19999 é\n"));
        assert!(text.contains("bytes of output left out"));
        assert!(text.len() < 2 * OUTPUT_KEEP + 100, "{}", text.len());
    }

    #[test]
    fn retry_delays_grow_by_the_backoff_factor() {
        let p = RetryPolicy {
            retries: 3,
            delay: Duration::from_secs(2),
            backoff: 3,
        };
        assert_eq!(
            [p.delay(1), p.delay(2), p.delay(3)],
            [2, 6, 18].map(Duration::from_secs)
        );
    }
}
