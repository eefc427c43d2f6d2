//! Shared by the runner's integration tests: one test host per test binary,
//! the runner uploaded over ssh, and a protocol client over `ssh host mc-runner`.

#![allow(dead_code)]

use mc_ir::{Meta, Resource, ResourceId, Value};
use mc_runner::protocol::{
    Action, ApplyItem, ApplyResult, Event, ProbeResult, Request, Response, Status, PROTOCOL_VERSION,
};
use mc_testfleet::Host;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Upper bound for one response; generous for package installs on 2 cores.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(120);

/// The shared test host, with the runner installed in /usr/local/bin.
pub fn host() -> &'static Host {
    static READY: OnceLock<()> = OnceLock::new();
    let fleet = mc_testfleet::shared(1).expect("test fleet starts");
    let host = fleet.host(0);
    READY.get_or_init(|| upload(host));
    host
}

/// Uploads the runner over ssh, atomically.
pub fn upload(host: &Host) {
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_mc-runner")).expect("runner binary");
    let out = host
        .ssh_with_input(
            "cat > /usr/local/bin/.mc-runner.tmp && chmod 755 /usr/local/bin/.mc-runner.tmp \
             && mv /usr/local/bin/.mc-runner.tmp /usr/local/bin/mc-runner",
            &bytes,
        )
        .expect("ssh runs");
    assert!(
        out.status.success(),
        "upload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tests share one host, where one apply runs at a time (the runner's
/// host lock): they take turns here instead of waiting there.
pub fn apply_turn() -> MutexGuard<'static, ()> {
    static ONE_APPLY: Mutex<()> = Mutex::new(());
    ONE_APPLY.lock().unwrap_or_else(|p| p.into_inner())
}

/// A runner session over ssh. Every line the runner sends is kept in
/// `transcript`, so tests can check what crossed the wire.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    pub transcript: Vec<String>,
}

impl Session {
    pub fn open(host: &Host) -> Session {
        let mut child = host
            .ssh_command()
            .args(["--", "mc-runner"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ssh mc-runner");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin,
            lines: rx,
            transcript: Vec::new(),
        }
    }

    /// A session that has already said hello.
    pub fn greeted(host: &Host) -> Session {
        let mut s = Session::open(host);
        match s.request(&Request::Hello {
            protocol: PROTOCOL_VERSION,
            runtime_version: "test".into(),
        }) {
            (_, Response::Hello { protocol, .. }) => assert_eq!(protocol, PROTOCOL_VERSION),
            (_, other) => panic!("expected hello, got {other:?}"),
        }
        s
    }

    pub fn send_raw(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).expect("write");
        self.stdin.write_all(b"\n").expect("write");
        self.stdin.flush().expect("flush");
    }

    /// The next line, parsed; fails the test after [`RESPONSE_TIMEOUT`].
    pub fn recv(&mut self) -> Response {
        let line = self
            .lines
            .recv_timeout(RESPONSE_TIMEOUT)
            .expect("a response from the runner");
        self.transcript.push(line.clone());
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad response {line}: {e}"))
    }

    /// Sends a request; returns the events streamed before the final answer.
    pub fn request(&mut self, req: &Request) -> (Vec<Event>, Response) {
        self.send_raw(&req.to_line());
        let mut events = Vec::new();
        loop {
            match self.recv() {
                Response::Event(e) => events.push(e),
                other => return (events, other),
            }
        }
    }

    pub fn probe(&mut self, resources: &[Resource]) -> Vec<ProbeResult> {
        self.probe_with(resources, BTreeMap::new())
    }

    pub fn probe_one(&mut self, r: &Resource) -> ProbeResult {
        self.probe(std::slice::from_ref(r)).remove(0)
    }

    pub fn probe_with(
        &mut self,
        resources: &[Resource],
        sensitive: BTreeMap<ResourceId, BTreeMap<String, String>>,
    ) -> Vec<ProbeResult> {
        match self.request(&Request::Probe {
            resources: resources.to_vec(),
            sensitive,
        }) {
            (_, Response::Probed { results }) => results,
            (_, other) => panic!("expected probed, got {other:?}"),
        }
    }

    pub fn apply(&mut self, items: Vec<ApplyItem>) -> (Vec<Event>, Vec<ApplyResult>) {
        let _turn = apply_turn();
        match self.request(&Request::Apply { items }) {
            (events, Response::Applied { results }) => (events, results),
            (_, other) => panic!("expected applied, got {other:?}"),
        }
    }

    /// Probes, then applies with the planned actions.
    pub fn converge(&mut self, resources: &[Resource]) -> Vec<ApplyResult> {
        let plans = self.probe(resources);
        let items = resources
            .iter()
            .zip(&plans)
            .map(|(r, p)| {
                assert!(p.error.is_none(), "{}: {:?}", r.id, p.error);
                item(r.clone(), p.action)
            })
            .collect();
        self.apply(items).1
    }

    pub fn bye(mut self) {
        let (_, r) = self.request(&Request::Bye);
        assert_eq!(r, Response::Bye);
        let status = self.child.wait().expect("ssh exits");
        assert!(status.success(), "runner exited with {status}");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A resource from JSON attributes.
pub fn res(type_name: &str, title: &str, attrs: serde_json::Value) -> Resource {
    let attrs: BTreeMap<String, Value> = serde_json::from_value(attrs).expect("attrs");
    Resource {
        id: ResourceId::new(type_name, title),
        type_name: type_name.into(),
        title: title.into(),
        attrs,
        meta: Meta::default(),
        source: None,
    }
}

pub fn item(resource: Resource, action: Action) -> ApplyItem {
    ApplyItem::new(resource, action)
}

/// The full life cycle every provider must pass: plan `first`, apply →
/// changed, then nothing left to do and a second apply changes nothing.
pub fn assert_converges(s: &mut Session, r: &Resource, first: Action) -> ProbeResult {
    let plan = s.probe(std::slice::from_ref(r)).remove(0);
    assert!(plan.error.is_none(), "{}: {:?}", r.id, plan.error);
    assert_eq!(plan.action, first, "{}: {plan:?}", r.id);
    let result = s.apply(vec![item(r.clone(), plan.action)]).1.remove(0);
    assert_eq!(
        result.status,
        Status::Changed,
        "{}: {}",
        r.id,
        result.message
    );
    let again = s.probe(std::slice::from_ref(r)).remove(0);
    assert_eq!(
        again.action,
        Action::None,
        "{} after apply: {again:?}",
        r.id
    );
    assert!(again.changes.is_empty());
    assert_eq!(
        result.observed_digest.as_deref(),
        Some(again.observed_digest.as_str())
    );
    // Re-applying (even if told to act) reports no change.
    let second = s.apply(vec![item(r.clone(), first)]).1.remove(0);
    assert_eq!(second.status, Status::Ok, "{}: {}", r.id, second.message);
    plan
}
