//! The file-system boundary: the compiler reads sources, `file_contents` and
//! templates only through [`FileSystem`], so tests and the language server
//! can feed it files that are not on disk.

use std::collections::BTreeMap;
use std::io;
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
                if p.is_dir() {
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
