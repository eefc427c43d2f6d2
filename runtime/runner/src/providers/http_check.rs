//! `http_check`: an HTTP or HTTPS GET from the host, retried until it
//! answers with the expected status (and body text) or `within` seconds
//! pass.
//!
//! It never changes the host. Its probe always plans [`Action::Check`], so
//! the check runs at every apply (after what it depends on); its apply
//! status is `ok` or `failed`, never `changed`.
//!
//! HTTPS always verifies the certificate chain and the host name (rustls),
//! against the host's system trust store, or only the PEM certificates of
//! `ca_file` when it is set (as `curl --cacert`). Redirects are not
//! followed: a 301 is an answer like any other.

use super::{Outcome, Plan, Spec};
use crate::protocol::{Action, Status};
use serde_json::json;
use std::io::Read;
use std::time::{Duration, Instant};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

const MAX_BODY: u64 = 1 << 20;
const RETRY_EVERY: Duration = Duration::from_millis(500);

struct Desired {
    url: String,
    status: u16,
    contains: Option<String>,
    within: Duration,
    ca_file: Option<String>,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let url = spec.str("url")?.ok_or("`url` is required")?.to_string();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("the URL must start with http:// or https://, got {url:?}"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("no host in {url:?}"));
    }
    let ca_file = spec.str("ca_file")?.map(str::to_string);
    if ca_file.is_some() && !url.starts_with("https://") {
        return Err(format!("`ca_file` is for https:// URLs, got {url:?}"));
    }
    let status = spec.int("status")?.unwrap_or(200);
    Ok(Desired {
        status: u16::try_from(status).map_err(|_| format!("bad status {status}"))?,
        contains: spec.str("contains")?.map(str::to_string),
        within: crate::sys::seconds(spec.int("within")?.unwrap_or(30)),
        url,
        ca_file,
    })
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let mut plan = Plan::new(json!({"url": d.url}));
    plan.action = Action::Check;
    Ok(plan)
}

/// The trusted roots: `ca_file`'s certificates, else the system's.
pub(crate) fn root_certs(ca_file: Option<&str>) -> Result<RootCerts, String> {
    let certs: Vec<Certificate<'static>> = match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("reading ca_file {path}: {e}"))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(format!("ca_file {path} holds no PEM certificate"));
            }
            certs
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let certs: Vec<_> = found
                .certs
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                .collect();
            if certs.is_empty() {
                return Err(format!(
                    "no CA certificates in the system trust store ({}); install ca-certificates or set `ca_file`",
                    found
                        .errors
                        .first()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "none found".into())
                ));
            }
            certs
        }
    };
    Ok(RootCerts::new_with_certs(&certs))
}

fn agent(d: &Desired, timeout: Duration) -> Result<ureq::Agent, String> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(timeout))
        .user_agent("mc-runner");
    if d.url.starts_with("https://") {
        config = config.tls_config(
            TlsConfig::builder()
                .root_certs(root_certs(d.ca_file.as_deref())?)
                .build(),
        );
    }
    Ok(config.build().new_agent())
}

/// One GET: (status, body).
fn get(d: &Desired, timeout: Duration) -> Result<(u16, String), String> {
    let mut resp = agent(d, timeout)?
        .get(&d.url)
        .call()
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let mut raw = Vec::new();
    // A reset after the response arrived still leaves a usable answer.
    let read = resp
        .body_mut()
        .as_reader()
        .take(MAX_BODY)
        .read_to_end(&mut raw);
    if let Err(e) = read {
        if raw.is_empty() && d.contains.is_some() {
            return Err(format!("reading the response: {e}"));
        }
    }
    Ok((status, String::from_utf8_lossy(&raw).into_owned()))
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
            // No more tries once mc has gone away.
            Err(e) if Instant::now() + RETRY_EVERY >= deadline || crate::session::closed() => {
                return Err(format!("GET {}: {e}", d.url));
            }
            Err(_) => std::thread::sleep(RETRY_EVERY),
        }
    }
}
