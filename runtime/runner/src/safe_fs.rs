//! Filesystem changes a local user cannot redirect.
//!
//! A runner running as root writes into directories other users may write
//! too (their homes, shared trees). A path is never looked up again
//! between a check and a change: everything here works on open handles.
//!
//! - A path's directories are opened one at a time. A symbolic link on the
//!   way is followed only when root or the runner's own user owns it, so
//!   another user cannot point a directory of the path somewhere else.
//! - The last component is never followed (`O_NOFOLLOW`): a symbolic link
//!   there is replaced, never written through.
//! - New content goes to a temp file with a random name, created with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW`; owner and mode are set on the open handle;
//!   then it is renamed over the target.
//! - Owner and mode of an existing file are changed on a handle opened
//!   without following links; a regular file with more than one name is
//!   refused, as the change would reach its other names too.

use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, renameat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, mkdirat, FileStat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed while resolving one path, as the kernel allows.
const MAX_LINKS: usize = 40;

/// Attempts at a fresh temp name before giving up.
const TEMP_ATTEMPTS: usize = 16;

/// Owner, group and mode wanted for a file or directory; `None` keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ownership {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mode: Option<u32>,
}

/// The last component of a path, relative to its parent directory, which
/// is already open.
pub struct PathAt {
    dir: OwnedFd,
    name: OsString,
    path: PathBuf,
}

fn err(e: Errno) -> io::Error {
    io::Error::from(e)
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Whether `st` is a directory's.
pub fn is_dir(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFDIR
}

/// Whether `st` is a symbolic link's.
pub fn is_link(st: &FileStat) -> bool {
    kind(st) == SFlag::S_IFLNK
}

/// Whether a symbolic link owned by `uid` may be followed: root's, or the
/// runner's own user's.
fn trusted(uid: u32) -> bool {
    uid == 0 || uid == Uid::effective().as_raw()
}

fn open_root() -> io::Result<OwnedFd> {
    openat(
        nix::fcntl::AT_FDCWD,
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(err)
}

/// Pushes `path`'s components on `todo` so they pop in order; an absolute
/// path starts with a return to `/`.
fn push_components(todo: &mut Vec<OsString>, path: &Path) {
    let start = todo.len();
    for c in path.components() {
        match c {
            Component::RootDir => todo.push(OsString::from("/")),
            Component::CurDir => {}
            Component::ParentDir => todo.push(OsString::from("..")),
            Component::Normal(n) => todo.push(n.to_os_string()),
            Component::Prefix(_) => {}
        }
    }
    todo[start..].reverse();
}

/// Opens the directory `path` (`O_PATH`), following only trusted links on
/// the way; with `create`, missing directories are made with that mode.
pub fn resolve_dir(path: &Path, create: Option<u32>) -> io::Result<OwnedFd> {
    if !path.is_absolute() {
        return Err(io::Error::other(format!(
            "{} is not an absolute path",
            path.display()
        )));
    }
    let mut todo = Vec::new();
    push_components(&mut todo, path);
    let mut cur = open_root()?;
    let mut shown = PathBuf::from("/");
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == "/" {
            cur = open_root()?;
            shown = PathBuf::from("/");
            continue;
        }
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match openat(&cur, c.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create.is_some() && c != ".." => {
                let mode = Mode::from_bits_truncate(create.unwrap_or(0o755));
                match mkdirat(&cur, c.as_os_str(), mode) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(with_path(&shown.join(&c), err(e))),
                }
                todo.push(c);
                continue;
            }
            Err(e) => return Err(with_path(&shown.join(&c), err(e))),
        };
        if c == ".." {
            shown.pop();
        } else {
            shown.push(&c);
        }
        let st = fstat(&fd).map_err(err)?;
        match kind(&st) {
            SFlag::S_IFDIR => cur = fd,
            SFlag::S_IFLNK => {
                if !trusted(st.st_uid) {
                    return Err(untrusted_link(&shown, st.st_uid));
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(with_path(path, err(Errno::ELOOP)));
                }
                let target = readlinkat(&fd, "").map_err(err)?;
                shown.pop();
                push_components(&mut todo, Path::new(&target));
            }
            _ => return Err(with_path(&shown, err(Errno::ENOTDIR))),
        }
    }
    Ok(cur)
}

fn untrusted_link(link: &Path, owner: u32) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "{} is a symbolic link owned by {}: mc follows only links owned by root or by the user it runs as, so another user cannot redirect the change",
            link.display(),
            crate::sys::user_name(owner)
        ),
    )
}

/// Opens `path` as a directory without following a link at its end, making
/// it (and missing parents) with `mode` when missing; then sets `own` on it.
pub fn ensure_dir(path: &Path, mode: u32, own: Ownership) -> io::Result<File> {
    let at = PathAt::creating_parents(path, 0o755)?;
    match at.mkdir(mode) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let dir = at.open_dir()?;
    set_ownership(&dir, own)?;
    Ok(dir)
}

/// Sets owner, then mode (changing the owner may clear set-id bits) on an
/// open handle.
pub fn set_ownership(f: &File, own: Ownership) -> io::Result<()> {
    if own.uid.is_some() || own.gid.is_some() {
        std::os::unix::fs::fchown(f, own.uid, own.gid)?;
    }
    if let Some(m) = own.mode {
        f.set_permissions(std::fs::Permissions::from_mode(m))?;
    }
    Ok(())
}

impl PathAt {
    /// `path`'s parent opened (it must exist) and its last component.
    pub fn of(path: &Path) -> io::Result<PathAt> {
        PathAt::resolve(path, None)
    }

    /// As [`PathAt::of`], for looking: `None` when a parent directory is
    /// missing (so nothing is at the path).
    pub fn looking_at(path: &Path) -> io::Result<Option<PathAt>> {
        match PathAt::of(path) {
            Ok(at) => Ok(Some(at)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// As [`PathAt::of`], making missing parent directories with `mode`.
    pub fn creating_parents(path: &Path, mode: u32) -> io::Result<PathAt> {
        PathAt::resolve(path, Some(mode))
    }

    /// `name` in the open directory `dir`; `path` is for messages.
    pub fn in_dir(dir: &File, name: &str, path: &Path) -> io::Result<PathAt> {
        Ok(PathAt {
            dir: dir.as_fd().try_clone_to_owned()?,
            name: OsString::from(name),
            path: path.to_path_buf(),
        })
    }

    fn resolve(path: &Path, create: Option<u32>) -> io::Result<PathAt> {
        let name = match path.components().next_back() {
            Some(Component::Normal(n)) => n.to_os_string(),
            _ => {
                return Err(io::Error::other(format!(
                    "{} does not name a file",
                    path.display()
                )))
            }
        };
        let parent = path.parent().unwrap_or(Path::new("/"));
        Ok(PathAt {
            dir: resolve_dir(parent, create)?,
            name,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is at the name, not following a link; `None` when nothing.
    pub fn stat(&self) -> io::Result<Option<FileStat>> {
        match fstatat(
            &self.dir,
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.fail(err(e))),
        }
    }

    /// Whether a symbolic link is at the name.
    pub fn is_link(&self) -> io::Result<bool> {
        Ok(self.stat()?.is_some_and(|st| is_link(&st)))
    }

    fn fail(&self, e: io::Error) -> io::Error {
        with_path(&self.path, e)
    }

    fn open_nofollow(&self, flags: OFlag) -> io::Result<Option<File>> {
        let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
        match openat(&self.dir, self.name.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(Errno::ENOENT) => Ok(None),
            Err(Errno::ELOOP) => Err(self.fail(io::Error::other("is a symbolic link"))),
            Err(e) => Err(self.fail(err(e))),
        }
    }

    /// The regular file at the name, opened for reading; `None` when
    /// nothing or a symbolic link is there. Anything else is an error.
    pub fn open_regular(&self) -> io::Result<Option<File>> {
        match self.stat()? {
            None => return Ok(None),
            Some(st) if kind(&st) == SFlag::S_IFLNK => return Ok(None),
            Some(st) if kind(&st) == SFlag::S_IFDIR => {
                return Err(self.fail(io::Error::other("is a directory, not a file")))
            }
            Some(_) => {}
        }
        // Non-blocking: a FIFO swapped in meanwhile must not hang the open.
        let Some(f) = self.open_nofollow(OFlag::O_RDONLY | OFlag::O_NONBLOCK)? else {
            return Ok(None);
        };
        if !f.metadata()?.is_file() {
            return Err(self.fail(io::Error::other("is not a regular file")));
        }
        Ok(Some(f))
    }

    /// The regular file's metadata and content (see [`PathAt::open_regular`]).
    pub fn read_regular(&self) -> io::Result<Option<(std::fs::Metadata, Vec<u8>)>> {
        let Some(mut f) = self.open_regular()? else {
            return Ok(None);
        };
        let meta = f.metadata()?;
        let mut data = Vec::with_capacity(meta.len() as usize);
        f.read_to_end(&mut data).map_err(|e| self.fail(e))?;
        Ok(Some((meta, data)))
    }

    /// The directory at the name, opened without following a link.
    pub fn open_dir(&self) -> io::Result<File> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
        match self.open_nofollow(flags) {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(self.fail(err(Errno::ENOENT))),
            Err(e) if e.raw_os_error() == Some(Errno::ENOTDIR as i32) => {
                Err(self.fail(io::Error::other("is not a directory")))
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces what is at the name (a symbolic link included, never
    /// followed) with a regular file holding `data`.
    pub fn write(&self, data: &[u8], own: Ownership) -> io::Result<()> {
        let (mut f, tmp) = self.create_temp()?;
        let written = f
            .write_all(data)
            .and_then(|()| set_ownership(&f, own))
            .and_then(|()| f.sync_all())
            .and_then(|()| self.commit(&tmp));
        if written.is_err() {
            self.discard(&tmp);
        }
        written.map_err(|e| self.fail(e))
    }

    /// [`PathAt::write`], with `check` run on the finished temp file (by
    /// its path) before it replaces the name: a failed check leaves the
    /// old file as it was. Used by `file`'s `validate`.
    pub fn write_checked(
        &self,
        data: &[u8],
        own: Ownership,
        check: impl FnOnce(&Path) -> Result<(), String>,
    ) -> Result<(), String> {
        let (mut f, tmp) = self.create_temp().map_err(|e| e.to_string())?;
        let written = f
            .write_all(data)
            .and_then(|()| set_ownership(&f, own))
            .and_then(|()| f.sync_all())
            .map_err(|e| self.fail(e).to_string());
        drop(f);
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let done = written
            .and_then(|()| check(&dir.join(&tmp)))
            .and_then(|()| self.commit(&tmp).map_err(|e| self.fail(e).to_string()));
        if done.is_err() {
            self.discard(&tmp);
        }
        done
    }

    /// A new, empty, mode 0600 temp file beside the name: random name,
    /// `O_CREAT|O_EXCL|O_NOFOLLOW`, so nothing planted there is opened.
    pub fn create_temp(&self) -> io::Result<(File, OsString)> {
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY;
        let mut last = Errno::EEXIST;
        for _ in 0..TEMP_ATTEMPTS {
            let tmp = self.temp_name("tmp");
            match openat(
                &self.dir,
                tmp.as_os_str(),
                flags,
                Mode::from_bits_truncate(0o600),
            ) {
                Ok(fd) => return Ok((File::from(fd), tmp)),
                Err(e @ (Errno::EEXIST | Errno::ELOOP)) => last = e,
                Err(e) => return Err(self.fail(err(e))),
            }
        }
        Err(self.fail(err(last)))
    }

    /// `.NAME.mc-KIND-RANDOM`, the name cut short enough to stay a valid
    /// file name.
    fn temp_name(&self, what: &str) -> OsString {
        let base: Vec<u8> = self.name.as_bytes().iter().take(64).copied().collect();
        let mut name = b".".to_vec();
        name.extend(base);
        name.extend(format!(".mc-{what}-{}", random_hex()).into_bytes());
        OsString::from_vec(name)
    }

    /// Renames the temp file `tmp` over the name, then makes it durable.
    pub fn commit(&self, tmp: &OsStr) -> io::Result<()> {
        renameat(&self.dir, tmp, &self.dir, self.name.as_os_str()).map_err(err)?;
        self.sync_dir();
        Ok(())
    }

    /// Removes a temp file that will not be committed.
    pub fn discard(&self, tmp: &OsStr) {
        let _ = unlinkat(&self.dir, tmp, UnlinkatFlags::NoRemoveDir);
    }

    fn sync_dir(&self) {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        if let Ok(fd) = openat(&self.dir, ".", flags, Mode::empty()) {
            let _ = File::from(fd).sync_all();
        }
    }

    /// Removes a file or symbolic link at the name (never what a link
    /// points to).
    pub fn remove_file(&self) -> io::Result<()> {
        unlinkat(&self.dir, self.name.as_os_str(), UnlinkatFlags::NoRemoveDir)
            .map_err(|e| self.fail(err(e)))
    }

    /// Removes the empty directory at the name.
    pub fn remove_dir(&self) -> io::Result<()> {
        unlinkat(&self.dir, self.name.as_os_str(), UnlinkatFlags::RemoveDir)
            .map_err(|e| self.fail(err(e)))
    }

    /// Removes the directory at the name and everything in it, never
    /// following a link.
    pub fn remove_tree(&self) -> io::Result<()> {
        remove_tree_at(&self.dir, &self.name).map_err(|e| self.fail(e))
    }

    /// Makes a directory at the name.
    pub fn mkdir(&self, mode: u32) -> io::Result<()> {
        mkdirat(
            &self.dir,
            self.name.as_os_str(),
            Mode::from_bits_truncate(mode),
        )
        .map_err(|e| self.fail(err(e)))
    }

    /// Points a symbolic link at the name to `target`: made under a random
    /// name beside it, then renamed over it, so the path never disappears.
    pub fn set_link(&self, target: &str) -> io::Result<()> {
        let mut last = Errno::EEXIST;
        for _ in 0..TEMP_ATTEMPTS {
            let tmp = self.temp_name("link");
            match symlinkat(target, &self.dir, tmp.as_os_str()) {
                Ok(()) => {
                    return self.commit(&tmp).map_err(|e| {
                        self.discard(&tmp);
                        self.fail(e)
                    })
                }
                Err(Errno::EEXIST) => last = Errno::EEXIST,
                Err(e) => return Err(self.fail(err(e))),
            }
        }
        Err(self.fail(err(last)))
    }

    /// Where the symbolic link at the name points.
    pub fn read_link(&self) -> io::Result<OsString> {
        readlinkat(&self.dir, self.name.as_os_str()).map_err(|e| self.fail(err(e)))
    }

    /// Sets the owner of the symbolic link at the name itself.
    pub fn set_link_owner(&self, uid: u32) -> io::Result<()> {
        fchownat(
            &self.dir,
            self.name.as_os_str(),
            Some(Uid::from_raw(uid)),
            None::<Gid>,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.fail(err(e)))
    }

    /// Sets owner and mode of the existing regular file or directory at the
    /// name, on a handle that did not follow a link.
    pub fn set_ownership(&self, own: Ownership) -> io::Result<()> {
        let st = self.stat()?.ok_or_else(|| self.fail(err(Errno::ENOENT)))?;
        let f = match kind(&st) {
            SFlag::S_IFDIR => self.open_dir()?,
            SFlag::S_IFREG => self
                .open_regular()?
                .ok_or_else(|| self.fail(io::Error::other("vanished")))?,
            _ => return Err(self.fail(io::Error::other("is not a regular file or directory"))),
        };
        let meta = f.metadata()?;
        if meta.is_file() && meta.nlink() > 1 {
            return Err(self.fail(io::Error::other(format!(
                "has {} hard links: changing its owner or mode would change the other names too, so mc leaves it alone",
                meta.nlink()
            ))));
        }
        set_ownership(&f, own).map_err(|e| self.fail(e))
    }
}

/// Removes `name` in `dir`: a file or link directly, a directory after
/// its contents. Links are removed, never followed.
fn remove_tree_at(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(err(e)),
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let sub = openat(dir, name, flags, Mode::empty()).map_err(err)?;
    let mut listing = nix::dir::Dir::from_fd(sub.try_clone()?).map_err(err)?;
    let names: Vec<OsString> = listing
        .iter()
        .filter_map(Result::ok)
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    for n in names {
        remove_tree_at(&sub, &n)?;
    }
    unlinkat(dir, name, UnlinkatFlags::RemoveDir).map_err(err)
}

/// 16 hex digits nobody can guess: std's per-process random hash keys.
fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_differ_and_stay_short() {
        let dir = std::env::temp_dir();
        let at = PathAt::of(&dir.join("x".repeat(250))).unwrap();
        let (a, b) = (at.temp_name("tmp"), at.temp_name("tmp"));
        assert_ne!(a, b);
        assert!(a.len() < 100, "{a:?}");
    }

    #[test]
    fn components_pop_in_order() {
        let mut todo = Vec::new();
        push_components(&mut todo, Path::new("/a/../b/./c"));
        let order: Vec<OsString> = std::iter::from_fn(|| todo.pop()).collect();
        assert_eq!(order, ["/", "a", "..", "b", "c"]);
    }
}
