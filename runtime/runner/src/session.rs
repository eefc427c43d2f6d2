//! Hearing from mc while a request runs. The protocol loop only reads
//! between requests, so stdin is read ahead on a thread of its own, which
//! notices two things:
//!
//! - [`STOP_LINE`] (sent on the first Ctrl-C): the apply in progress starts
//!   no new resource; the running one finishes. See [`stop_requested`].
//! - the end of input (mc exited, was killed, or aborted on a second
//!   Ctrl-C): a command still running is ended instead of being left behind,
//!   orphaned. See [`closed`].

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

static CLOSED: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);

/// The line mc sends to stop an apply between resources. It is not a
/// request: it never gets an answer, and it may arrive at any time.
pub const STOP_LINE: &str = r#"{"type":"stop"}"#;

/// Why a resource was not applied after [`STOP_LINE`].
pub const INTERRUPTED: &str = "not started: interrupted";

/// Whether mc asked to start no new resource (only with [`watched`] input).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Whether the session's input has ended (only with [`watched`] input).
pub fn closed() -> bool {
    CLOSED.load(Ordering::SeqCst)
}

/// `input`, read ahead on a thread that records [`STOP_LINE`] in
/// [`stop_requested`] (and drops it) and the end in [`closed`].
pub fn watched<R: Read + Send + 'static>(input: R) -> impl BufRead {
    watched_with(input, &STOP, &CLOSED)
}

/// [`watched`], recording into the given flags.
fn watched_with<R: Read + Send + 'static>(
    input: R,
    stop: &'static AtomicBool,
    closed: &'static AtomicBool,
) -> impl BufRead {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut input = BufReader::new(input);
        loop {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) if line.trim_ascii() == STOP_LINE.as_bytes() => {
                    stop.store(true, Ordering::SeqCst);
                }
                Ok(_) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        closed.store(true, Ordering::SeqCst);
    });
    BufReader::new(Chunks {
        rx,
        chunk: Vec::new(),
        at: 0,
    })
}

/// The chunks the reader thread sends, as one stream.
struct Chunks {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(next) => {
                    self.chunk = next;
                    self.at = 0;
                }
                // The reader thread ended: end of input.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_input_through_and_records_its_end() {
        // Its own flag: the process-wide one would end commands that other
        // tests run.
        static STOPPED: AtomicBool = AtomicBool::new(false);
        static ENDED: AtomicBool = AtomicBool::new(false);
        let input = format!("one\n{STOP_LINE}\ntwo\n");
        let mut r = watched_with(io::Cursor::new(input.into_bytes()), &STOPPED, &ENDED);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "one\n");
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "two\n");
        line.clear();
        assert_eq!(r.read_line(&mut line).unwrap(), 0);
        assert!(ENDED.load(Ordering::SeqCst));
        assert!(
            STOPPED.load(Ordering::SeqCst),
            "the stop line is noticed, not passed on"
        );
        assert!(!closed() && !stop_requested());
    }
}
