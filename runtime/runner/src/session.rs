//! Hearing from mc while a request runs. The protocol loop only reads
//! between requests, so stdin is read ahead on a thread of its own, which
//! notices two things:
//!
//! - [`STOP_LINE`] (sent on the first Ctrl-C): the apply in progress starts
//!   no new resource; the running one finishes. See [`stop_requested`].
//! - the end of input (mc exited, was killed, or aborted on a second
//!   Ctrl-C): the command running is killed with its whole process group
//!   instead of being left behind, orphaned, and nothing new starts. See
//!   [`closed`].
//!
//! [`end_with_parent`] adds the same for the runner's parent dying (the
//! kernel's parent-death signal) and for SIGTERM, SIGHUP and SIGINT: the
//! command's group is killed and the runner exits at once.

use crate::protocol::MAX_REQUEST_LINE;
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::unistd::Pid;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

static CLOSED: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);
/// The process group of the command running now; 0 when none.
static COMMAND_GROUP: AtomicI32 = AtomicI32::new(0);

/// Records the process group of the command now running (`None`: it
/// ended), for the end of the session to kill.
pub fn set_command_group(group: Option<u32>) {
    let id = group.and_then(|g| i32::try_from(g).ok()).unwrap_or(0);
    COMMAND_GROUP.store(id, Ordering::SeqCst);
}

/// Kills the running command and everything it started.
pub fn kill_command_group() {
    let group = COMMAND_GROUP.swap(0, Ordering::SeqCst);
    if group > 0 {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
}

/// Makes the runner end with its parent (mc, or the sshd or sudo between
/// them) and on SIGTERM, SIGHUP or SIGINT: the running command's process
/// group is killed, then the runner exits. Call before any thread starts,
/// so every thread leaves these signals to the one that waits for them.
pub fn end_with_parent() -> io::Result<()> {
    let parent = std::os::unix::process::parent_id();
    let mut ending = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        ending.add(sig);
    }
    ending.thread_block()?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
    std::thread::spawn(move || loop {
        if let Ok(sig) = ending.wait() {
            CLOSED.store(true, Ordering::SeqCst);
            kill_command_group();
            std::process::exit(128 + sig as i32);
        }
    });
    // The parent may have gone before the death signal was armed.
    if std::os::unix::process::parent_id() != parent {
        CLOSED.store(true, Ordering::SeqCst);
        std::process::exit(128 + Signal::SIGTERM as i32);
    }
    Ok(())
}

/// Waits `wait`, or less when the session closes meanwhile.
pub fn pause(wait: Duration) {
    let start = Instant::now();
    while !closed() {
        let left = wait.saturating_sub(start.elapsed());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

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
            match read_line_capped(&mut input, &mut line, MAX_REQUEST_LINE) {
                Ok(Line::End) => break,
                Ok(Line::Whole) if line.trim_ascii() == STOP_LINE.as_bytes() => {
                    stop.store(true, Ordering::SeqCst);
                }
                Ok(found) => {
                    // An over-long line goes no further: a short stand-in
                    // tells the protocol loop to refuse it.
                    let line = match found {
                        Line::TooLong => TOO_LONG.to_vec(),
                        _ => line,
                    };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        closed.store(true, Ordering::SeqCst);
        kill_command_group();
    });
    BufReader::new(Chunks {
        rx,
        chunk: Vec::new(),
        at: 0,
    })
}

/// What the reader thread passes on instead of a line longer than
/// [`MAX_REQUEST_LINE`]: a NUL byte cannot start a JSON request.
pub const TOO_LONG: &[u8] = b"\0request line too long\n";

/// What [`read_line_capped`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, with its newline unless the input ended first.
    Whole,
    /// A line longer than the limit: only its first `max + 1` bytes are
    /// kept; the rest, up to its newline, was read and dropped.
    TooLong,
    /// The end of input.
    End,
}

/// Reads one line into `buf` keeping at most `max + 1` bytes of it, so an
/// endless line cannot take all memory.
pub fn read_line_capped<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..=i], true),
            None => (chunk, false),
        };
        let room = (max + 1).saturating_sub(buf.len());
        too_long |= part.len() > room;
        buf.extend_from_slice(&part[..part.len().min(room)]);
        let used = part.len();
        r.consume(used);
        if done {
            break;
        }
    }
    Ok(match (any, too_long) {
        (false, _) => Line::End,
        (true, true) => Line::TooLong,
        (true, false) => Line::Whole,
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
    fn over_long_lines_are_cut_and_read_past() {
        let mut r = io::Cursor::new(b"0123456789\nok\nend".to_vec());
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 4).unwrap(),
            Line::TooLong
        );
        assert_eq!(buf, b"01234");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 4).unwrap(), Line::Whole);
        assert_eq!(buf, b"ok\n");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 4).unwrap(), Line::Whole);
        assert_eq!(buf, b"end");
        buf.clear();
        assert_eq!(read_line_capped(&mut r, &mut buf, 4).unwrap(), Line::End);
    }

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
