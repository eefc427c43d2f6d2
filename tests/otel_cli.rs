//! OpenTelemetry traces of a real `mc apply`, received by an OTLP/HTTP
//! receiver the test runs (JSON encoding): the span tree run → host →
//! phase → resource, and nothing sent when no endpoint is configured.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

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
    cmd.stdin(Stdio::null())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    cmd
}

/// An OTLP/HTTP receiver on a free loopback port: the JSON bodies posted
/// to `/v1/traces`.
fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = sink.clone();
            std::thread::spawn(move || serve(stream, &sink));
        }
    });
    (url, got)
}

fn serve(stream: std::net::TcpStream, sink: &Mutex<Vec<serde_json::Value>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        if request_line.starts_with("POST /v1/traces") {
            sink.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).expect("an OTLP/JSON body"));
        }
        let _ = writer.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        );
    }
}

struct Span {
    name: String,
    parent: Option<String>,
    attrs: HashMap<String, String>,
}

/// Every span received, by span id.
fn spans(bodies: &[serde_json::Value]) -> HashMap<String, Span> {
    let mut out = HashMap::new();
    for body in bodies {
        for rs in body["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let attrs = s["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let v = &a["value"];
                            let text = v["stringValue"]
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string());
                            (a["key"].as_str().unwrap().to_string(), text)
                        })
                        .collect();
                    let parent = s["parentSpanId"]
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .map(str::to_string);
                    out.insert(
                        s["spanId"].as_str().unwrap().to_string(),
                        Span {
                            name: s["name"].as_str().unwrap().to_string(),
                            parent,
                            attrs,
                        },
                    );
                }
            }
        }
    }
    out
}

/// The names from `id` up to its root.
fn ancestry(spans: &HashMap<String, Span>, id: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cur = Some(id.to_string());
    while let Some(c) = cur {
        let Some(s) = spans.get(&c) else { break };
        names.push(s.name.clone());
        cur = s.parent.clone();
    }
    names
}

fn project(dir: &std::path::Path) {
    let o = dir.join("out");
    std::fs::write(
        dir.join("main.mc"),
        format!(
            "host \"box\" {{\n  transport = \"local\"\n}}\n\non all {{\n  directory \"{o}\" {{}}\n  file \"{o}/a\" {{\n    content = \"a\\n\"\n  }}\n}}\n",
            o = o.display()
        ),
    )
    .unwrap();
}

#[test]
fn an_apply_exports_its_span_tree_over_otlp() {
    let (url, got) = receiver();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let out = mc()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &url)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let spans = spans(&got.lock().unwrap());
    let file = format!("file[{}/out/a]", dir.path().display());
    let (id, _) = spans
        .iter()
        .find(|(_, s)| s.name == "resource" && s.attrs.get("id") == Some(&file))
        .unwrap_or_else(|| panic!("no span for {file}"));
    assert_eq!(
        ancestry(&spans, id),
        ["resource", "apply", "host", "mc.apply"]
    );
    assert_eq!(spans[id].attrs["status"], "changed");
    let host = spans[id]
        .parent
        .as_ref()
        .and_then(|p| spans[p].parent.clone())
        .unwrap();
    assert_eq!(spans[&host].attrs["host"], "box");
    for phase in ["connect", "facts", "compile", "probe"] {
        let (pid, _) = spans
            .iter()
            .find(|(_, s)| s.name == phase)
            .unwrap_or_else(|| panic!("no {phase} span"));
        assert_eq!(ancestry(&spans, pid), [phase, "host", "mc.plan"], "{phase}");
    }
}

#[test]
fn without_an_endpoint_nothing_is_sent() {
    let (url, got) = receiver();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let out = mc()
        .args(["apply", "--yes"])
        .arg(dir.path())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("UNRELATED_ENDPOINT", &url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(got.lock().unwrap().is_empty());
}
