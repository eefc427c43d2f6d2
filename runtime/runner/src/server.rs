//! The protocol loop: reads requests line by line, answers each one.

use crate::protocol::{
    observed_digest, sha256_hex, Action, ApplyItem, ApplyResult, ErrorKind, Event, EventKind,
    ProbeResult, Request, Response, Status, PROTOCOL_VERSION,
};
use crate::providers::{self, package, Spec};
use mc_ir::{Resource, ResourceId, Value};
use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

/// The runner's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// sha256 of the running executable (first 16 hex digits): identifies the
/// exact build.
pub fn build_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        std::env::current_exe()
            .and_then(std::fs::read)
            .map(|bytes| sha256_hex(bytes)[..16].to_string())
            .unwrap_or_else(|_| "unknown".into())
    })
}

/// Writes responses, removing any sensitive value from their strings.
struct Out<W: Write> {
    w: W,
    secrets: Vec<String>,
}

impl<W: Write> Out<W> {
    fn send(&mut self, resp: &Response) -> io::Result<()> {
        let line = if self.secrets.is_empty() {
            resp.to_line()
        } else {
            match serde_json::to_value(resp) {
                Ok(mut v) => {
                    scrub(&mut v, &self.secrets);
                    v.to_string()
                }
                Err(e) => Response::error(ErrorKind::Internal, e.to_string()).to_line(),
            }
        };
        self.w.write_all(line.as_bytes())?;
        self.w.write_all(b"\n")?;
        self.w.flush()
    }
}

/// Replaces every occurrence of a secret in the string values (never the
/// keys, so the message stays well-formed).
fn scrub(v: &mut serde_json::Value, secrets: &[String]) {
    match v {
        serde_json::Value::String(s) => {
            for secret in secrets {
                if s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), crate::protocol::SECRET_PLACEHOLDER);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, secrets)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| scrub(x, secrets)),
        _ => {}
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::List(l) => l.iter().for_each(|x| collect_strings(x, out)),
        Value::Map(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Serves one session: until `bye` or end of input. Bad input never ends it.
pub fn serve<R: BufRead, W: Write>(mut input: R, output: W) -> io::Result<()> {
    let mut out = Out {
        w: output,
        secrets: Vec::new(),
    };
    let mut greeted = false;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
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
            Request::Facts => {
                let facts = guarded(crate::facts::gather)
                    .unwrap_or_else(|e| serde_json::json!({"error": e}));
                out.send(&Response::Facts { facts })?;
            }
            Request::Probe {
                resources,
                sensitive,
            } => {
                let results = resources
                    .iter()
                    .map(|r| probe_one(r, sensitive.get(&r.id)))
                    .collect();
                out.send(&Response::Probed { results })?;
            }
            Request::Apply { items } => {
                out.secrets = items
                    .iter()
                    .flat_map(|i| {
                        let mut v = Vec::new();
                        for attr in &i.sensitive {
                            if let Some(val) = i.resource.attrs.get(attr) {
                                collect_strings(val, &mut v);
                            }
                        }
                        v
                    })
                    .collect();
                // Longest first, so a secret containing another is replaced whole.
                out.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
                let results = apply_batch(&items, &mut out)?;
                out.send(&Response::Applied { results })?;
                out.secrets.clear();
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
    }))
}

fn apply_batch<W: Write>(items: &[ApplyItem], out: &mut Out<W>) -> io::Result<Vec<ApplyResult>> {
    let specs: Vec<Spec> = items
        .iter()
        .map(|i| Spec {
            res: &i.resource,
            digests: None,
            sensitive: &i.sensitive,
        })
        .collect();
    let runs = |i: &ApplyItem| i.action != Action::None || i.refresh;
    // All packages of the batch go to the package manager together.
    let pkg_idx: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].resource.type_name == "package" && runs(&items[i]))
        .collect();
    let mut pkg_results: BTreeMap<usize, Result<providers::Outcome, String>> = BTreeMap::new();
    if !pkg_idx.is_empty() {
        let pkg_specs: Vec<&Spec> = pkg_idx.iter().map(|&i| &specs[i]).collect();
        let results = guarded(|| package::apply_batch(&pkg_specs))
            .unwrap_or_else(|e| vec![Err(e); pkg_specs.len()]);
        pkg_results = pkg_idx.iter().copied().zip(results).collect();
    }

    let mut results = Vec::with_capacity(items.len());
    for (idx, (item, spec)) in items.iter().zip(&specs).enumerate() {
        let id = &item.resource.id;
        if !runs(item) {
            results.push(ApplyResult {
                id: id.clone(),
                status: Status::Skipped,
                message: "nothing to do".into(),
                observed_digest: None,
            });
            continue;
        }
        event(out, id, EventKind::Started, None)?;
        let outcome = match pkg_results.remove(&idx) {
            Some(r) => r,
            None => {
                let mut write_err = None;
                let r = guarded(|| {
                    let mut emit = |e: Event| {
                        if write_err.is_none() {
                            if let Err(err) = out.send(&Response::Event(e)) {
                                write_err = Some(err);
                            }
                        }
                    };
                    providers::apply(spec, item.refresh, &mut emit)
                })
                .and_then(|x| x);
                if let Some(err) = write_err {
                    return Err(err);
                }
                r
            }
        };
        let result = match outcome {
            Ok(o) => ApplyResult {
                id: id.clone(),
                status: o.status,
                message: o.message,
                observed_digest: o.observed_digest,
            },
            Err(e) => ApplyResult {
                id: id.clone(),
                status: Status::Failed,
                message: e,
                observed_digest: None,
            },
        };
        event(out, id, EventKind::Done, Some(result.status))?;
        results.push(result);
    }
    Ok(results)
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
    fn scrub_replaces_secrets_in_values_only() {
        let mut v = serde_json::json!({"type": "event", "line": "token=abc123 and abc123", "abc123": ["xabc123y"]});
        scrub(&mut v, &["abc123".to_string()]);
        assert_eq!(
            v,
            serde_json::json!({"type": "event", "line": "token=(secret) and (secret)", "abc123": ["x(secret)y"]})
        );
    }
}
