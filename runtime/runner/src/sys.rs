//! Small system helpers shared by the providers: running programs, atomic
//! writes, backups, and user/group lookups.

use crate::protocol::sha256_hex;
use crate::safe_fs::{self, Ownership, PathAt};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Root's state directory: backups, the host lock.
pub const STATE_DIR: &str = "/var/lib/mc";

/// Runs a program with no stdin and returns its output.
pub fn run(program: &str, args: &[&str]) -> Result<Output, String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {program}: {e}"))
}

/// Runs a program; fails with its stderr unless it exits 0. Returns stdout.
pub fn run_ok(program: &str, args: &[&str]) -> Result<String, String> {
    let out = run(program, args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// True if `name` is an executable found on PATH (or an absolute path).
pub fn have(name: &str) -> bool {
    if name.starts_with('/') {
        return Path::new(name).exists();
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|d| Path::new(d).join(name).exists());
    found
}

/// Writes `data` to `path` atomically and without following a symbolic
/// link there: see [`crate::safe_fs::PathAt::write`].
pub fn atomic_write(
    path: &Path,
    data: &[u8],
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<()> {
    PathAt::of(path)?.write(data, Ownership { uid, gid, mode })
}

/// The longest wait an attribute can ask for: a hundred years, far below
/// what a clock reading plus a duration can hold.
pub const LONGEST_WAIT: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `n` seconds from an attribute: negative as zero, at most
/// [`LONGEST_WAIT`], so deadlines computed from it never overflow.
pub fn seconds(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0)).min(LONGEST_WAIT)
}

/// The effective user id, from `/proc/self/status` (no libc call, no
/// unsafe code); `None` without `/proc`.
pub fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The runner user's own state directory (backups, the host lock):
/// `/var/lib/mc` for root; for anyone else `$XDG_STATE_HOME/mc`, else
/// `~/.local/state/mc`, or, with no usable home (system accounts under
/// `become_user`), a private `/tmp/mc-state-UID`.
pub fn state_dir() -> io::Result<PathBuf> {
    let uid = effective_uid();
    if uid == Some(0) {
        safe_fs::ensure_dir(Path::new(STATE_DIR), 0o755, Ownership::default())?;
        return Ok(PathBuf::from(STATE_DIR));
    }
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| Path::new(v).is_absolute())
                .map(|h| Path::new(&h).join(".local/state"))
        });
    if let Some(dir) = state_home.map(|s| s.join("mc")) {
        if safe_fs::ensure_dir(&dir, 0o700, Ownership::default()).is_ok() {
            return Ok(dir);
        }
    }
    let dir = std::env::temp_dir().join(format!("mc-state-{}", uid.unwrap_or(u32::MAX)));
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || Some(meta.uid()) != uid || meta.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "{} belongs to another user or is open to others",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Where this user's backups go: `backups` in [`state_dir`].
pub fn backup_root() -> io::Result<PathBuf> {
    Ok(state_dir()?.join("backups"))
}

/// How many backups of one file to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// The newest `keep` backups stay (the one just made always does).
    pub keep: usize,
    /// Backups older than this many days go, when set.
    pub max_age_days: Option<u64>,
}

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            keep: 10,
            max_age_days: None,
        }
    }
}

/// The directory holding the backups of `path`: the path's own components
/// under `<root>/files`, so one can find them by hand.
pub fn backup_dir_of(root: &Path, path: &str) -> PathBuf {
    root.join("files").join(path.trim_start_matches('/'))
}

/// Keeps `data`, the content `path` had, as `<UTC time>-<sha256>` in the
/// path's backup directory, then prunes that directory by `retention`.
/// Returns the backup's path.
pub fn backup(path: &str, data: &[u8], retention: Retention) -> io::Result<PathBuf> {
    let dir = backup_dir_of(&backup_root()?, path);
    let private = Ownership {
        mode: Some(0o700),
        ..Ownership::default()
    };
    safe_fs::ensure_dir(&dir, 0o700, private)?;
    let digest = sha256_hex(data);
    let now = std::time::SystemTime::now();
    let name = format!("{}-{digest}", utc_stamp(now));
    let target = dir.join(&name);
    // The same content backed up before moves to the front instead of
    // being stored twice.
    let previous = list_backups(&dir)?
        .into_iter()
        .find(|b| b.sha256 == digest && b.name != name);
    match previous {
        Some(p) => fs::rename(dir.join(&p.name), &target)?,
        None => atomic_write(&target, data, Some(0o600), None, None)?,
    }
    prune_backups(&dir, &name, retention, now)?;
    Ok(target)
}

/// One backup of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// `<UTC time>-<sha256>`: sorts by time.
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub modified: std::time::SystemTime,
}

/// The backups in `dir`, oldest first. A missing directory has none.
pub fn list_backups(dir: &Path) -> io::Result<Vec<Backup>> {
    let entries = match fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((_, digest)) = name.rsplit_once('-') else {
            continue;
        };
        let meta = entry.metadata()?;
        if !meta.is_file() || digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        found.push(Backup {
            sha256: digest.to_string(),
            size: meta.len(),
            modified: meta.modified()?,
            name,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn prune_backups(
    dir: &Path,
    newest: &str,
    retention: Retention,
    now: std::time::SystemTime,
) -> io::Result<()> {
    let all = list_backups(dir)?;
    let excess = all.len().saturating_sub(retention.keep.max(1));
    let max_age = retention
        .max_age_days
        .map(|d| std::time::Duration::from_secs(d.saturating_mul(86_400)));
    for (i, b) in all.iter().enumerate() {
        let too_old = max_age.is_some_and(|age| {
            now.duration_since(b.modified)
                .is_ok_and(|elapsed| elapsed > age)
        });
        if b.name != newest && (i < excess || too_old) {
            fs::remove_file(dir.join(&b.name))?;
        }
    }
    Ok(())
}

/// `20261203T083000.123456789Z`: UTC, sortable, safe in a file name.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let since = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_nanos()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// One entry of /etc/passwd or /etc/group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbEntry {
    pub fields: Vec<String>,
}

impl DbEntry {
    pub fn field(&self, i: usize) -> &str {
        self.fields.get(i).map(String::as_str).unwrap_or("")
    }
    pub fn id(&self) -> Option<u32> {
        self.field(2).parse().ok()
    }
}

/// Entries of a colon-separated database (`/etc/passwd`, `/etc/group`). Only
/// the local files are read: mc manages local accounts.
pub fn read_db(path: &str) -> Vec<DbEntry> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| DbEntry {
            fields: l.split(':').map(str::to_string).collect(),
        })
        .collect()
}

pub fn find_user(name: &str) -> Option<DbEntry> {
    read_db("/etc/passwd")
        .into_iter()
        .find(|e| e.field(0) == name)
}

pub fn find_group(name: &str) -> Option<DbEntry> {
    read_db("/etc/group")
        .into_iter()
        .find(|e| e.field(0) == name)
}

/// A user name or numeric uid → uid.
pub fn uid_of(user: &str) -> Result<u32, String> {
    if let Ok(n) = user.parse() {
        return Ok(n);
    }
    find_user(user)
        .and_then(|e| e.id())
        .ok_or_else(|| format!("no such user: {user}"))
}

/// A group name or numeric gid → gid.
pub fn gid_of(group: &str) -> Result<u32, String> {
    if let Ok(n) = group.parse() {
        return Ok(n);
    }
    find_group(group)
        .and_then(|e| e.id())
        .ok_or_else(|| format!("no such group: {group}"))
}

pub fn user_name(uid: u32) -> String {
    read_db("/etc/passwd")
        .into_iter()
        .find(|e| e.id() == Some(uid))
        .map(|e| e.field(0).to_string())
        .unwrap_or_else(|| uid.to_string())
}

pub fn group_name(gid: u32) -> String {
    read_db("/etc/group")
        .into_iter()
        .find(|e| e.id() == Some(gid))
        .map(|e| e.field(0).to_string())
        .unwrap_or_else(|| gid.to_string())
}

/// Owner, group and permission bits of existing metadata, as observed JSON.
pub fn ownership_json(meta: &fs::Metadata) -> serde_json::Value {
    serde_json::json!({
        "owner": user_name(meta.uid()),
        "group": group_name(meta.gid()),
        "mode": mode_string(meta.mode() & 0o7777),
    })
}

/// `0644`-style text for permission bits.
pub fn mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn stamps_are_utc_and_sort_by_time() {
        let t = UNIX_EPOCH + Duration::new(1_764_750_600, 5);
        assert_eq!(utc_stamp(t), "20251203T083000.000000005Z");
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000.000000000Z");
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "20000229T000000.000000000Z"
        );
    }

    #[test]
    fn backups_of_a_path_live_under_its_own_components() {
        assert_eq!(
            backup_dir_of(Path::new("/var/lib/mc/backups"), "/etc/app.conf"),
            Path::new("/var/lib/mc/backups/files/etc/app.conf")
        );
    }
}
