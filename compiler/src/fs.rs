//! The file-system boundary: the compiler reads sources, `file_contents` and
//! templates only through [`FileSystem`], so tests and the language server
//! can feed it files that are not on disk.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::RwLock;

/// Read access to project files.
pub trait FileSystem: Send + Sync {
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// The raw bytes, used only to point at the first bad byte of a file
    /// that is not UTF-8.
    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.read_to_string(path).map(String::into_bytes)
    }
    fn is_dir(&self, path: &Path) -> bool;
    /// Whether `path` is a file (the editor looks for a project's `main.mc`).
    fn is_file(&self, path: &Path) -> bool {
        !self.is_dir(path) && self.read_to_string(path).is_ok()
    }
    /// The bytes of `path` when `scope` allows reading it. The default
    /// checks the path as written; the real file system also follows links.
    fn read_in(&self, path: &Path, scope: &ReadScope) -> Result<Vec<u8>, ReadError> {
        let path = normalize(path);
        let root = scope.root_of(&path).ok_or(ReadError::Outside)?;
        refuse_hidden_dirs(&path, root)?;
        let bytes = self.read_bytes(&path).map_err(ReadError::Io)?;
        if bytes.len() as u64 > MAX_READ_BYTES {
            return Err(ReadError::TooLarge);
        }
        Ok(bytes)
    }
    /// Every `.mc` file under `dir`, recursively, sorted.
    fn list_mc_files(&self, dir: &Path) -> Vec<PathBuf>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFileSystem;

impl FileSystem for OsFileSystem {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn read_bytes(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn read_in(&self, path: &Path, scope: &ReadScope) -> Result<Vec<u8>, ReadError> {
        let path = normalize(path);
        scope.root_of(&path).ok_or(ReadError::Outside)?;
        let real = std::fs::canonicalize(&path).map_err(ReadError::Io)?;
        let root = scope
            .roots
            .iter()
            .filter_map(|r| std::fs::canonicalize(r).ok())
            .find(|r| real.starts_with(r))
            .ok_or(ReadError::LinkOutside)?;
        refuse_hidden_dirs(&real, &root)?;
        if SYSTEM_DIRS.iter().any(|d| real.starts_with(d)) {
            return Err(ReadError::System);
        }
        // Checked before opening, so a FIFO or device is never opened.
        let kind = std::fs::metadata(&real).map_err(ReadError::Io)?;
        refuse_special(&kind)?;
        let file = std::fs::File::open(&real).map_err(ReadError::Io)?;
        refuse_special(&file.metadata().map_err(ReadError::Io)?)?;
        let mut bytes = Vec::new();
        file.take(MAX_READ_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(ReadError::Io)?;
        if bytes.len() as u64 > MAX_READ_BYTES {
            return Err(ReadError::TooLarge);
        }
        Ok(bytes)
    }

    fn list_mc_files(&self, dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                let name = entry.file_name();
                // Hidden folders hold state (`.mc/`) and VCS data, never sources.
                if name.to_string_lossy().starts_with('.') {
                    continue;
                }
                // Links are not followed: a link to `.` would never end.
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "mc") {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

/// Files held in memory, for tests, benchmarks and unsaved editor buffers.
#[derive(Debug, Default)]
pub struct MemoryFileSystem {
    files: RwLock<BTreeMap<PathBuf, String>>,
}

impl MemoryFileSystem {
    pub fn new() -> Self {
        Self::default()
    }

    /// A file system holding `files` (path, content).
    pub fn with_files<P: AsRef<Path>, S: Into<String>>(
        files: impl IntoIterator<Item = (P, S)>,
    ) -> Self {
        let fs = Self::new();
        for (p, s) in files {
            fs.insert(p.as_ref(), s);
        }
        fs
    }

    pub fn insert(&self, path: &Path, content: impl Into<String>) {
        if let Ok(mut files) = self.files.write() {
            files.insert(normalize(path), content.into());
        }
    }

    pub fn remove(&self, path: &Path) {
        if let Ok(mut files) = self.files.write() {
            files.remove(&normalize(path));
        }
    }
}

impl FileSystem for MemoryFileSystem {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        let files = self
            .files
            .read()
            .map_err(|_| io::Error::other("file table poisoned"))?;
        files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn is_dir(&self, path: &Path) -> bool {
        let dir = normalize(path);
        self.files
            .read()
            .map(|files| files.keys().any(|p| p != &dir && p.starts_with(&dir)))
            .unwrap_or(false)
    }

    fn list_mc_files(&self, dir: &Path) -> Vec<PathBuf> {
        let dir = normalize(dir);
        self.files
            .read()
            .map(|files| {
                files
                    .keys()
                    .filter(|p| p.starts_with(&dir) && p.extension().is_some_and(|e| e == "mc"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The largest file a compile-time read accepts (sources, templates, data
/// files, `file_contents`, `source`).
pub const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;

/// Pseudo file systems: never read at compile time, whatever the project
/// allows (`/proc/self/environ` holds the secrets of `mc`'s environment).
const SYSTEM_DIRS: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Where compile-time reads may go: the project folder, and the folders
/// the entry file lists in `project { read_paths = [...] }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadScope {
    roots: Vec<PathBuf>,
}

impl ReadScope {
    /// Reads confined to `root` and the `extra` folders (normalised).
    pub fn new(root: &Path, extra: impl IntoIterator<Item = PathBuf>) -> Self {
        let mut roots = vec![normalize(root)];
        roots.extend(extra.into_iter().map(|p| normalize(&root.join(p))));
        ReadScope { roots }
    }

    /// The allowed folder that holds `path` as written.
    fn root_of(&self, path: &Path) -> Option<&Path> {
        self.roots
            .iter()
            .find(|r| path.starts_with(r))
            .map(PathBuf::as_path)
    }
}

/// Why a compile-time read was refused. Never carries file content.
#[derive(Debug)]
pub enum ReadError {
    Outside,
    LinkOutside,
    HiddenDir(String),
    System,
    NotRegular(&'static str),
    TooLarge,
    NotMc,
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Outside => f.write_str("this file is outside the project"),
            ReadError::LinkOutside => {
                f.write_str("a symbolic link leads from here out of the project")
            }
            ReadError::HiddenDir(d) => write!(f, "this file is inside the hidden folder `{d}`"),
            ReadError::System => f.write_str("`/proc`, `/sys` and `/dev` are never read"),
            ReadError::NotRegular(kind) => write!(f, "this is a {kind}, not a regular file"),
            ReadError::TooLarge => write!(
                f,
                "this file is larger than {} MiB",
                MAX_READ_BYTES / (1024 * 1024)
            ),
            ReadError::NotMc => f.write_str("only `.mc` files can be imported"),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// The bytes of a source file an `import` names: an `.mc` file the scope
/// allows (anything else is never parsed, so never shown, as mc).
pub fn read_import(
    fs: &dyn FileSystem,
    path: &Path,
    scope: &ReadScope,
) -> Result<Vec<u8>, ReadError> {
    if path.extension().is_none_or(|e| e != "mc") {
        return Err(ReadError::NotMc);
    }
    fs.read_in(path, scope)
}

/// Hidden folders under an allowed folder (`.mc` with the state, `.git`,
/// `.ssh`, `.config` with the age identity) are not project files.
fn refuse_hidden_dirs(path: &Path, root: &Path) -> Result<(), ReadError> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let dirs = rel.parent().into_iter().flat_map(Path::components);
    match dirs
        .map(|c| c.as_os_str().to_string_lossy())
        .find(|name| name.starts_with('.'))
    {
        Some(name) => Err(ReadError::HiddenDir(name.into_owned())),
        None => Ok(()),
    }
}

fn refuse_special(meta: &std::fs::Metadata) -> Result<(), ReadError> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "folder"
    } else if t.is_fifo() {
        "named pipe"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else {
        "special file"
    };
    Err(ReadError::NotRegular(kind))
}

/// Lexical normalisation: drops `.`, resolves `..` against earlier
/// components. Never touches the disk, so it works the same for every
/// [`FileSystem`].
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }

    #[test]
    fn memory_fs_reads_lists_and_knows_dirs() {
        let fs = MemoryFileSystem::with_files([
            ("/p/main.mc", "x"),
            ("/p/roles/web.mc", "y"),
            ("/p/files/a.conf", "z"),
        ]);
        assert_eq!(fs.read_to_string(Path::new("/p/./main.mc")).unwrap(), "x");
        assert!(fs.read_to_string(Path::new("/p/none.mc")).is_err());
        assert!(fs.is_dir(Path::new("/p")));
        assert!(!fs.is_dir(Path::new("/p/main.mc")));
        assert_eq!(
            fs.list_mc_files(Path::new("/p")),
            vec![
                PathBuf::from("/p/main.mc"),
                PathBuf::from("/p/roles/web.mc")
            ]
        );
    }
}
