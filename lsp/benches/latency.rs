//! Language-server latency on a generated 10,000-resource project, over the
//! real JSON-RPC protocol (an in-memory pipe instead of stdio):
//! keystroke-to-diagnostics, completion and hover percentiles, and memory
//! after indexing.
//!
//! `cargo bench -p mc-lsp --bench latency`

use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const ROLE_FILES: usize = 20;
const RESOURCES_PER_ROLE: usize = 500;

fn generate(root: &Path) {
    let mut main = String::new();
    for r in 0..ROLE_FILES {
        let _ = writeln!(main, "import \"roles/r{r}.mc\"");
        let mut role = format!("/// Role {r}.\nrole setup(port: Int = 80) {{\n");
        for i in 0..RESOURCES_PER_ROLE {
            let _ = write!(
                role,
                "  file \"/etc/app{r}/f{i}.conf\" {{\n    content = \"port=${{port}} n={i}\\n\"\n    mode = 0o644\n  }}\n"
            );
        }
        role.push_str("}\n");
        std::fs::write(root.join(format!("roles/r{r}.mc")), role).expect("write role");
    }
    main.push_str(
        "\nhost \"web1\" {\n  address = \"10.0.0.11\"\n  groups = [\"web\"]\n}\n\non all {\n",
    );
    for r in 0..ROLE_FILES {
        let _ = writeln!(main, "  r{r}.setup(port = {})", 8000 + r);
    }
    main.push_str("}\n");
    std::fs::write(root.join("main.mc"), main).expect("write main");
}

struct Bench {
    rt: tokio::runtime::Runtime,
    writer: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    rx: Receiver<Value>,
    next_id: i64,
    pending: Vec<Value>,
}

impl Bench {
    fn send(&mut self, v: Value) {
        let body = v.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{}", body.len(), body);
        let w = &mut self.writer;
        self.rt
            .block_on(async { w.write_all(frame.as_bytes()).await })
            .expect("write");
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let msg = self
                .rx
                .recv_timeout(Duration::from_secs(600))
                .expect("answer");
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return msg;
            }
            self.pending.push(msg);
        }
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    fn wait_diagnostics(&mut self, uri: &str, version: i64) -> Value {
        loop {
            if let Some(i) = self.pending.iter().position(|m| {
                m["method"] == "textDocument/publishDiagnostics"
                    && m["params"]["uri"] == uri
                    && m["params"]["version"] == version
            }) {
                return self.pending.remove(i);
            }
            let msg = self
                .rx
                .recv_timeout(Duration::from_secs(600))
                .expect("diagnostics");
            self.pending.push(msg);
        }
    }
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i.min(xs.len() - 1)]
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn report(name: &str, xs: Vec<Duration>) {
    let p50 = percentile(xs.clone(), 0.5);
    let p95 = percentile(xs, 0.95);
    println!(
        "{name:<28} p50 {:>8.2} ms   p95 {:>8.2} ms",
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3
    );
}

/// The compiler's share of keystroke-to-diagnostics: `Project::check`
/// after a one-character edit, without the server.
fn compiler_alone(root: &Path) {
    let mut project = mc_compiler::Project::load_dir(root);
    let t = Instant::now();
    let diags = project.check();
    println!(
        "compiler: first check {:.0} ms ({} diagnostics)",
        t.elapsed().as_secs_f64() * 1e3,
        diags.len()
    );
    let role = root.join("roles/r0.mc");
    let mut text = std::fs::read_to_string(&role).expect("role");
    let at = text.find("n=250").expect("marker");
    let mut times = Vec::new();
    for _ in 0..10 {
        text.insert(at, 'x');
        project.set_file_text(&role, text.clone());
        let t = Instant::now();
        let _ = project.check();
        times.push(t.elapsed());
    }
    report("compiler check after an edit", times);
    let mut front = Vec::new();
    for _ in 0..10 {
        text.insert(at, 'x');
        project.set_file_text(&role, text.clone());
        let t = Instant::now();
        let _ = project.check_front_end();
        front.push(t.elapsed());
    }
    report("compiler front end after an edit", front);
}

/// The (line, character) just after `prefix` inside the first `needle`.
fn position_after(text: &str, needle: &str, prefix: &str) -> (usize, usize) {
    let at = text.find(needle).expect("marker") + prefix.len();
    let line = text[..at].matches('\n').count();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    (line, at - line_start)
}

fn has_error(published: &Value) -> bool {
    published["params"]["diagnostics"]
        .as_array()
        .is_some_and(|ds| ds.iter().any(|d| d["severity"] == 1))
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    std::fs::create_dir_all(root.join("roles")).expect("mkdir");
    generate(&root);
    compiler_alone(&root);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let (server_read, server_write) = tokio::io::split(server_io);
    rt.spawn(mc_lsp::serve(server_read, server_write));
    let (client_read, writer) = tokio::io::split(client_io);
    let (tx, rx) = channel();
    rt.spawn(async move {
        let mut reader = BufReader::new(client_read);
        loop {
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("Content-Length: ") {
                    len = v.parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).await.is_err() {
                return;
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                if tx.send(v).is_err() {
                    return;
                }
            }
        }
    });
    let mut b = Bench {
        rt,
        writer,
        rx,
        next_id: 0,
        pending: Vec::new(),
    };
    let root_uri = format!("file://{}", root.display());
    b.request(
        "initialize",
        json!({ "processId": null, "rootUri": root_uri, "capabilities": {} }),
    );
    b.notify("initialized", json!({}));

    let rss_before = rss_mb();
    let t = Instant::now();
    let main_path = root.join("main.mc");
    let main_text = std::fs::read_to_string(&main_path).expect("main");
    let main_uri = format!("file://{}", main_path.display());
    b.notify("textDocument/didOpen", json!({ "textDocument": { "uri": main_uri, "languageId": "mc", "version": 1, "text": main_text } }));
    let role_path = root.join("roles/r0.mc");
    let role_text = std::fs::read_to_string(&role_path).expect("role");
    let role_uri = format!("file://{}", role_path.display());
    b.notify("textDocument/didOpen", json!({ "textDocument": { "uri": role_uri, "languageId": "mc", "version": 1, "text": role_text } }));
    let d = b.wait_diagnostics(&role_uri, 1);
    let errors = d["params"]["diagnostics"].as_array().map_or(0, Vec::len);
    println!(
        "project: {} resources in {} files, {} KB",
        ROLE_FILES * RESOURCES_PER_ROLE,
        ROLE_FILES + 1,
        (main_text.len() + role_text.len() * ROLE_FILES) / 1024
    );
    println!(
        "indexing (open + first diagnostics): {:.0} ms, {errors} diagnostics",
        t.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "server memory after indexing: {:.0} MB RSS (process; {:.0} MB before opening)",
        rss_mb(),
        rss_before
    );

    // Keystrokes: type a character into a string in the middle of the role.
    let line = role_text[..role_text.find("n=250").expect("marker")]
        .matches('\n')
        .count();
    let col = role_text
        .lines()
        .nth(line)
        .and_then(|l| l.find("n=250"))
        .unwrap_or(0);
    let mut keystrokes = Vec::new();
    for v in 2..=31i64 {
        let t = Instant::now();
        b.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": role_uri, "version": v }, "contentChanges": [{ "range": { "start": { "line": line, "character": col }, "end": { "line": line, "character": col } }, "text": "x" }] }),
        );
        b.wait_diagnostics(&role_uri, v);
        keystrokes.push(t.elapsed());
    }
    report("keystroke → diagnostics", keystrokes);

    // An edit that breaks name resolution (`${port}` → `${portx}`), then
    // the edit that fixes it: the first is answered from the front end
    // alone, the second needs the full check again.
    let (err_line, err_col) = position_after(&role_text, "port=${port} n=100", "port=${port");
    let mut version = 31i64;
    let mut introduce = Vec::new();
    let mut fix = Vec::new();
    for _ in 0..20 {
        version += 1;
        let t = Instant::now();
        b.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": role_uri, "version": version }, "contentChanges": [{ "range": { "start": { "line": err_line, "character": err_col }, "end": { "line": err_line, "character": err_col } }, "text": "x" }] }),
        );
        let d = b.wait_diagnostics(&role_uri, version);
        introduce.push(t.elapsed());
        assert!(has_error(&d), "the unknown name is reported: {d}");

        version += 1;
        let t = Instant::now();
        b.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": role_uri, "version": version }, "contentChanges": [{ "range": { "start": { "line": err_line, "character": err_col }, "end": { "line": err_line, "character": err_col + 1 } }, "text": "" }] }),
        );
        let d = b.wait_diagnostics(&role_uri, version);
        fix.push(t.elapsed());
        assert!(!has_error(&d), "the fix clears the error: {d}");
    }
    report("edit adding an error", introduce);
    report("edit fixing it", fix);

    let body_line = line + 1;
    let mut completion = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let r = b.request("textDocument/completion", json!({ "textDocument": { "uri": role_uri }, "position": { "line": body_line, "character": 4 } }));
        assert!(r["result"].as_array().is_some_and(|a| !a.is_empty()), "{r}");
        completion.push(t.elapsed());
    }
    report("completion", completion);

    let mut hover = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let r = b.request("textDocument/hover", json!({ "textDocument": { "uri": role_uri }, "position": { "line": line - 1, "character": 3 } }));
        assert!(r["result"].is_object(), "{r}");
        hover.push(t.elapsed());
    }
    report("hover", hover);
    println!("server memory at the end: {:.0} MB RSS", rss_mb());
}
