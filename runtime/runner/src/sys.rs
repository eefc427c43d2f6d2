//! Small system helpers shared by the providers: running programs, atomic
//! writes, backups, and user/group lookups.

use crate::protocol::sha256_hex;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where replaced file content is kept, addressed by its sha256.
pub const BACKUP_DIR: &str = "/var/lib/mc/backups";

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

/// Runs `sh -c script`; true when it exits 0.
pub fn sh_succeeds(script: &str) -> Result<bool, String> {
    Ok(run("/bin/sh", &["-c", script])?.status.success())
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

/// Writes `data` to `path` atomically: a temp file in the same directory,
/// owner/mode set before it becomes visible, fsync, rename, fsync of the
/// directory.
pub fn atomic_write(
    path: &Path,
    data: &[u8],
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mc-tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode.unwrap_or(0o644))
            .open(&tmp)?;
        f.write_all(data)?;
        if let Some(m) = mode {
            // The umask may have cut bits off the create mode.
            f.set_permissions(fs::Permissions::from_mode(m))?;
        }
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::fchown(&f, uid, gid)?;
        }
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Keeps `data` under [`BACKUP_DIR`] by its sha256; returns the backup path.
pub fn backup(data: &[u8]) -> io::Result<PathBuf> {
    let dir = Path::new(BACKUP_DIR);
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let path = dir.join(sha256_hex(data));
    if !path.exists() {
        atomic_write(&path, data, Some(0o600), None, None)?;
    }
    Ok(path)
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
