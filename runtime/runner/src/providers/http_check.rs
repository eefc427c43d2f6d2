//! `http_check`: a plain HTTP GET from the host, retried until it answers
//! with the expected status (and body text) or `within` seconds pass.
//!
//! It never changes the host. Its probe always plans [`Action::Check`], so
//! the check runs at every apply (after what it depends on); its apply
//! status is `ok` or `failed`, never `changed`. `https://` URLs are refused:
//! the runner has no TLS.

use super::{Outcome, Plan, Spec};
use crate::protocol::{Action, Status};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

const MAX_BODY: u64 = 1 << 20;
const RETRY_EVERY: Duration = Duration::from_millis(500);

struct Desired {
    url: String,
    host: String,
    port: u16,
    path: String,
    status: u16,
    contains: Option<String>,
    within: Duration,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let url = spec.str("url")?.ok_or("`url` is required")?.to_string();
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported, got {url:?}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_matches(['[', ']']).to_string(),
            p.parse().map_err(|_| format!("bad port in {url:?}"))?,
        ),
        _ => (authority.to_string(), 80),
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    let status = spec.int("status")?.unwrap_or(200);
    Ok(Desired {
        status: u16::try_from(status).map_err(|_| format!("bad status {status}"))?,
        contains: spec.str("contains")?.map(str::to_string),
        within: Duration::from_secs(spec.int("within")?.unwrap_or(30).max(0) as u64),
        url,
        host,
        port,
        path,
    })
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let mut plan = Plan::new(json!({"url": d.url}));
    plan.action = Action::Check;
    Ok(plan)
}

/// One GET: (status, body).
fn get(d: &Desired, timeout: Duration) -> Result<(u16, String), String> {
    let addr = (d.host.as_str(), d.port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {}: {e}", d.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", d.host))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    // One write: a request split over several segments may be answered and
    // closed by a quick server before the rest arrives.
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: mc-runner\r\nConnection: close\r\n\r\n",
        d.path, d.host
    );
    s.write_all(request.as_bytes())
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut raw = Vec::new();
    // A reset after the response arrived still leaves a usable answer.
    let read = s.take(MAX_BODY).read_to_end(&mut raw);
    if let Err(e) = read {
        if raw.is_empty() {
            return Err(format!("reading the response: {e}"));
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let status_line = text.lines().next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {status_line:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn apply(spec: &Spec) -> Result<Outcome, String> {
    let d = desired(spec)?;
    let deadline = Instant::now() + d.within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = get(
            &d,
            left.clamp(Duration::from_millis(200), Duration::from_secs(10)),
        );
        let verdict = match &attempt {
            Ok((status, _)) if *status != d.status => {
                Err(format!("got status {status}, expected {}", d.status))
            }
            Ok((_, body))
                if d.contains
                    .as_ref()
                    .is_some_and(|c| !body.contains(c.as_str())) =>
            {
                Err("the response does not contain the expected text".to_string())
            }
            Ok((status, _)) => Ok(*status),
            Err(e) => Err(e.clone()),
        };
        match verdict {
            Ok(status) => {
                return Ok(Outcome {
                    status: Status::Ok,
                    message: format!("GET {} answered {status}", d.url),
                    observed_digest: None,
                })
            }
            Err(e) if Instant::now() + RETRY_EVERY >= deadline => {
                return Err(format!("GET {}: {e}", d.url));
            }
            Err(_) => std::thread::sleep(RETRY_EVERY),
        }
    }
}
