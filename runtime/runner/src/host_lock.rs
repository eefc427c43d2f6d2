//! One apply at a time per host and user: an `flock` on `runner.lock` in
//! the runner user's state directory, held while an `apply` request runs.
//! The kernel releases it when the runner ends, however it ends, so a
//! crashed run never leaves a lock behind, and a runner still working after
//! its `mc` went away keeps a second run from changing the host beside it.

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

/// How long a second runner waits for the lock before it refuses: long
/// enough for a short apply to finish (and for a runner whose `mc` was just
/// killed to end its command and exit), short enough to say soon that the
/// host is busy.
pub const WAIT: Duration = Duration::from_secs(30);

const POLL: Duration = Duration::from_millis(100);

/// The held lock; dropping it releases it.
pub struct HostLock {
    _lock: Flock<File>,
}

/// Takes the host lock, waiting up to `wait`; the error says who holds it.
pub fn acquire(wait: Duration) -> Result<HostLock, String> {
    let dir = crate::sys::state_dir().map_err(|e| format!("the runner's state directory: {e}"))?;
    let path = dir.join("runner.lock");
    let give_up = Instant::now().checked_add(wait);
    let mut file = open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                record_holder(&mut lock);
                return Ok(HostLock { _lock: lock });
            }
            Err((f, Errno::EWOULDBLOCK | Errno::EINTR)) => file = f,
            Err((_, e)) => return Err(format!("locking {}: {e}", path.display())),
        }
        if give_up.is_none_or(|t| Instant::now() >= t) {
            return Err(busy_message(&mut file));
        }
        std::thread::sleep(POLL);
    }
}

/// Only its owner may open it: anyone able to open it could hold it.
fn open(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// Who holds the lock, for the message of a runner that waits in vain.
fn record_holder(file: &mut File) {
    let line = format!(
        "runner pid {} since {}\n",
        std::process::id(),
        crate::sys::utc_stamp(std::time::SystemTime::now())
    );
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(line.as_bytes()));
}

fn busy_message(file: &mut File) -> String {
    let mut holder = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut holder));
    let holder = holder.trim();
    format!(
        "not started: another mc run is still applying on this host{}; run again once it has finished",
        if holder.is_empty() {
            String::new()
        } else {
            format!(" ({holder})")
        }
    )
}
