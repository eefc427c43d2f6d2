//! The stdio framing in front of tower-lsp. tower-lsp's codec ends the
//! session at the first frame it cannot decode (its framed reader stops
//! after an error), and after `exit` it waits for one more message before
//! it notices. This layer reads frames itself: a malformed frame is
//! answered with a JSON-RPC error and skipped, an oversized one is refused
//! without being held in memory, and `exit` ends the session at once.

use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::sync::Mutex;

/// The largest frame accepted: a document of this size is already far past
/// what the server analyses (see `MAX_DOCUMENT_BYTES`).
pub const MAX_FRAME_BYTES: usize = 64 << 20;
/// A header line longer than this is garbage, not a header.
const MAX_HEADER_LINE: usize = 4096;
const HEADER: &str = "content-length:";

/// How the session ended: the exit code the LSP specification asks for
/// (0 when `shutdown` came before `exit`, else 1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub shutdown_requested: bool,
}

impl Ended {
    pub fn exit_code(self) -> i32 {
        if self.shutdown_requested {
            0
        } else {
            1
        }
    }
}

/// Where frames go: the client's stream, shared by the server's answers
/// and this layer's errors so that frames never interleave.
type Out<O> = Arc<Mutex<O>>;

/// Copies well-formed messages from `input` to `server`, answers the
/// others on `out`, and returns at `exit` or at the end of input (dropping
/// `server`, which ends the tower-lsp session).
pub async fn filter_input<I, S, O>(input: I, mut server: S, out: Out<O>) -> Ended
where
    I: AsyncBufRead + Unpin,
    S: AsyncWrite + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut input = input;
    let mut ended = Ended::default();
    let mut reported = false;
    loop {
        let body = match read_frame(&mut input).await {
            Frame::End => return ended,
            Frame::Bad(why) => {
                // One error per run of garbage, not one per line of it.
                if !reported {
                    send(&out, error(Value::Null, -32700, &why)).await;
                }
                reported = true;
                continue;
            }
            Frame::Body(body) => body,
        };
        reported = false;
        let message = match check_message(&body) {
            Ok(m) => m,
            Err((id, code, why)) => {
                send(&out, error(id, code, &why)).await;
                continue;
            }
        };
        let method = message.get("method").and_then(Value::as_str);
        if method == Some("shutdown") {
            ended.shutdown_requested = true;
        }
        if write_frame(&mut server, &body).await.is_err() {
            return ended;
        }
        if method == Some("exit") {
            return ended;
        }
    }
}

/// Copies the server's frames to `out`, each whole under the lock.
pub async fn forward_output<R, O>(server: R, out: Out<O>)
where
    R: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut server = tokio::io::BufReader::new(server);
    while let Frame::Body(body) = read_frame(&mut server).await {
        let mut out = out.lock().await;
        if write_frame(&mut *out, &body).await.is_err() {
            return;
        }
    }
}

enum Frame {
    Body(Vec<u8>),
    Bad(String),
    End,
}

/// Reads one frame: header lines up to an empty line, then the body. A
/// bad header line is reported and skipped; a header that starts in the
/// middle of a line (after an unterminated body) is picked up there.
async fn read_frame<I: AsyncBufRead + Unpin>(input: &mut I) -> Frame {
    let mut length: Option<usize> = None;
    loop {
        let line = match read_line(input).await {
            Some(Ok(line)) => line,
            Some(Err(too_long)) => return Frame::Bad(too_long),
            None => return Frame::End,
        };
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            match length {
                Some(n) => return read_body(input, n).await,
                None => continue,
            }
        }
        let lower = text.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix(HEADER) {
            match value.trim().parse::<usize>() {
                Ok(n) => length = Some(n),
                Err(_) => return Frame::Bad(format!("bad Content-Length header: {text:?}")),
            }
        } else if lower.starts_with("content-type:") {
        } else if let Some(at) = lower.find(HEADER) {
            // Garbage, then a header: report the garbage, keep the header.
            let value = &lower[at + HEADER.len()..];
            if let Ok(n) = value.trim().parse::<usize>() {
                length = Some(n);
            }
            if length.is_some() {
                // Read on: the frame after the garbage is still answered.
                continue;
            }
            return Frame::Bad("malformed frame: expected a Content-Length header".into());
        } else {
            return Frame::Bad("malformed frame: expected a Content-Length header".into());
        }
    }
}

/// One line, at most `MAX_HEADER_LINE` bytes kept (the rest is read past).
async fn read_line<I: AsyncBufRead + Unpin>(input: &mut I) -> Option<Result<Vec<u8>, String>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = input.fill_buf().await.ok()?;
        if buf.is_empty() {
            return (!line.is_empty()).then_some(Ok(line));
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if line.len() + n <= MAX_HEADER_LINE {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
        }
        input.consume(n);
        if done {
            return Some(if too_long {
                Err(format!(
                    "malformed frame: a header line over {MAX_HEADER_LINE} bytes"
                ))
            } else {
                Ok(line)
            });
        }
    }
}

async fn read_body<I: AsyncBufRead + Unpin>(input: &mut I, n: usize) -> Frame {
    if n > MAX_FRAME_BYTES {
        // Read past it without holding it.
        let skipped = tokio::io::copy(&mut input.take(n as u64), &mut tokio::io::sink()).await;
        if !matches!(skipped, Ok(k) if k == n as u64) {
            return Frame::End;
        }
        return Frame::Bad(format!(
            "frame of {n} bytes refused: the limit is {MAX_FRAME_BYTES} bytes"
        ));
    }
    let mut body = vec![0; n];
    match input.read_exact(&mut body).await {
        Ok(_) => Frame::Body(body),
        Err(_) => Frame::End,
    }
}

/// The message when tower-lsp can decode it as a request, notification or
/// response; else the id to answer, the JSON-RPC error code and why.
fn check_message(body: &[u8]) -> Result<Value, (Value, i64, String)> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| (Value::Null, -32700, format!("parse error: {e}")))?;
    let decodes = serde_json::from_value::<tower_lsp::jsonrpc::Request>(value.clone()).is_ok()
        || serde_json::from_value::<tower_lsp::jsonrpc::Response>(value.clone()).is_ok();
    if decodes {
        return Ok(value);
    }
    let id = match value.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        _ => Value::Null,
    };
    Err((
        id,
        -32600,
        "invalid request: not a JSON-RPC 2.0 message".into(),
    ))
}

fn error(id: Value, code: i64, message: &str) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
        .to_string()
        .into_bytes()
}

async fn send<O: AsyncWrite + Unpin>(out: &Out<O>, body: Vec<u8>) {
    let mut out = out.lock().await;
    let _ = write_frame(&mut *out, &body).await;
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, body: &[u8]) -> std::io::Result<()> {
    w.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())
        .await?;
    w.write_all(body).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(input: &[u8]) -> (Ended, Vec<Value>, Vec<Value>) {
        let (server_w, mut server_r) = tokio::io::duplex(1 << 20);
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let ended = filter_input(input, server_w, out.clone()).await;
        let mut passed = Vec::new();
        server_r.read_to_end(&mut passed).await.expect("read");
        let out = out.lock().await.clone();
        (ended, frames(&passed).await, frames(&out).await)
    }

    async fn frames(mut bytes: &[u8]) -> Vec<Value> {
        let mut all = Vec::new();
        while let Frame::Body(b) = read_frame(&mut bytes).await {
            all.push(serde_json::from_slice(&b).expect("json"));
        }
        all
    }

    fn frame(v: Value) -> Vec<u8> {
        let b = v.to_string();
        format!("Content-Length: {}\r\n\r\n{b}", b.len()).into_bytes()
    }

    fn req(id: i64, method: &str) -> Vec<u8> {
        frame(json!({ "jsonrpc": "2.0", "id": id, "method": method }))
    }

    #[tokio::test]
    async fn malformed_frames_are_answered_and_skipped() {
        let mut input = req(1, "initialize");
        input.extend(b"Content-Length: 5\r\n\r\n{bad}");
        input.extend(b"Content-Length: xyz\r\n\r\n{}");
        input.extend(frame(json!({ "jsonrpc": "1.0", "id": 7, "method": "x" })));
        input.extend(frame(json!([1, 2])));
        input.extend(req(2, "shutdown"));
        let (ended, passed, answered) = run(&input).await;
        let methods: Vec<&str> = passed.iter().filter_map(|m| m["method"].as_str()).collect();
        assert_eq!(methods, ["initialize", "shutdown"]);
        let codes: Vec<(i64, Value)> = answered
            .iter()
            .map(|m| (m["error"]["code"].as_i64().unwrap_or(0), m["id"].clone()))
            .collect();
        assert_eq!(
            codes,
            [
                (-32700, Value::Null),
                (-32700, Value::Null),
                (-32600, json!(7)),
                (-32600, Value::Null)
            ]
        );
        assert!(ended.shutdown_requested);
    }

    #[tokio::test]
    async fn exit_ends_the_session_even_without_shutdown() {
        let mut input = req(1, "initialize");
        input.extend(frame(json!({ "jsonrpc": "2.0", "method": "exit" })));
        input.extend(req(2, "never-read"));
        let (ended, passed, _) = run(&input).await;
        assert_eq!(passed.len(), 2);
        assert_eq!(ended.exit_code(), 1);
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_unread() {
        let big = MAX_FRAME_BYTES + 1;
        let mut input = format!("Content-Length: {big}\r\n\r\n").into_bytes();
        input.resize(input.len() + big, b'x');
        input.extend(req(1, "initialize"));
        let (_, passed, answered) = run(&input).await;
        assert_eq!(passed.len(), 1);
        assert_eq!(answered.len(), 1);
        assert!(answered[0]["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("refused"));
    }
}
