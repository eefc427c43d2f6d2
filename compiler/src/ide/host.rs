//! The editor's projects: one [`Project`] per project an open document
//! belongs to, kept current with the editor's buffers, and [`Analysis`]
//! snapshots of them. Files are read through the compiler's file system
//! and read scope, as `mc check` reads them.

use super::Analysis;
use crate::fs::FileSystem;
use crate::Project;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The project a file belongs to: the nearest directory above it with a
/// `main.mc`, or the file alone.
pub fn entry_for(fs: &dyn FileSystem, path: &Path) -> PathBuf {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if fs.is_file(&d.join("main.mc")) {
            return d.to_path_buf();
        }
        dir = d.parent();
    }
    path.to_path_buf()
}

/// Writes the stdlib's sources into `dir` (read-only copies for editors to
/// open: "go to definition" into the stdlib), when they differ.
pub fn write_stdlib(dir: &Path) {
    let _ = std::fs::create_dir_all(dir);
    for f in mc_stdlib::FILES {
        let name = f.path.rsplit('/').next().unwrap_or(f.path);
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(f.source) {
            let _ = std::fs::write(&path, f.source);
        }
    }
}

/// The projects of the open documents.
pub struct AnalysisHost {
    fs: Arc<dyn FileSystem>,
    stdlib_dir: Option<PathBuf>,
    /// By entry (a directory holding `main.mc`, or a lone file).
    projects: HashMap<PathBuf, Project>,
    /// Open documents outside their project's import graph, each analysed
    /// as a project of its own (so its own imports resolve).
    lone: HashMap<PathBuf, Project>,
    /// The editor's text of every open document.
    open: HashMap<PathBuf, Arc<str>>,
}

impl AnalysisHost {
    pub fn new(fs: Arc<dyn FileSystem>, stdlib_dir: Option<PathBuf>) -> AnalysisHost {
        AnalysisHost {
            fs,
            stdlib_dir,
            projects: HashMap::new(),
            lone: HashMap::new(),
            open: HashMap::new(),
        }
    }

    /// An open document's text changed (or it was opened).
    pub fn set_text(&mut self, path: &Path, text: Arc<str>) {
        let path = crate::fs::normalize(path);
        // The stdlib's read-only copies are analysed as the stdlib, in
        // whichever project asks.
        if self.is_stdlib_copy(&path) {
            return;
        }
        self.open.insert(path.clone(), text.clone());
        let entry = entry_for(self.fs.as_ref(), &path);
        let project = match self.projects.get_mut(&entry) {
            Some(p) => p,
            None => {
                let mut p = Project::load(self.fs.clone(), &entry);
                for (other, t) in &self.open {
                    if other.starts_with(p.root()) {
                        p.set_file_text(other, t.to_string());
                    }
                }
                self.projects.entry(entry.clone()).or_insert(p)
            }
        };
        project.set_file_text(&path, text.to_string());
        if project.in_graph(&path) {
            self.lone.remove(&path);
            return;
        }
        match self.lone.get_mut(&path) {
            Some(p) => p.set_file_text(&path, text.to_string()),
            None => {
                let mut p = Project::load(self.fs.clone(), &path);
                p.set_file_text(&path, text.to_string());
                self.lone.insert(path, p);
            }
        }
    }

    /// A document was closed: the file on disk is the truth again.
    pub fn close(&mut self, path: &Path) {
        let path = crate::fs::normalize(path);
        self.open.remove(&path);
        self.lone.remove(&path);
        let entry = entry_for(self.fs.as_ref(), &path);
        if let Some(p) = self.projects.get_mut(&entry) {
            p.reload_file(&path);
        }
    }

    /// A snapshot of the project `path` is analysed in, when it is known.
    pub fn analysis(&self, path: &Path) -> Option<Analysis> {
        let path = crate::fs::normalize(path);
        let project = match self.lone.get(&path) {
            Some(p) => p,
            None if self.is_stdlib_copy(&path) => self.projects.values().next()?,
            None => self.projects.get(&entry_for(self.fs.as_ref(), &path))?,
        };
        let a = self.with_stdlib(project.analysis());
        a.file(&path)?;
        Some(a)
    }

    /// Snapshots of every project (workspace symbols).
    pub fn analyses(&self) -> Vec<Analysis> {
        self.projects
            .values()
            .chain(self.lone.values())
            .map(|p| self.with_stdlib(p.analysis()))
            .collect()
    }

    fn is_stdlib_copy(&self, path: &Path) -> bool {
        self.stdlib_dir
            .as_ref()
            .is_some_and(|d| path.parent() == Some(d.as_path()))
    }

    fn with_stdlib(&self, a: Analysis) -> Analysis {
        match &self.stdlib_dir {
            Some(d) => a.with_stdlib_dir(d),
            None => a,
        }
    }
}
