//! Find references: every name in the project whose declaration is the
//! one the name at an offset refers to.

use super::{Analysis, DefLoc, Occurrence};
use crate::db::SourceFile;

impl Analysis {
    /// Every occurrence of what the name at `offset` refers to, the
    /// declaration included when `include_decl`, by file (sorted by path).
    pub fn references(
        &self,
        file: SourceFile,
        offset: u32,
        include_decl: bool,
    ) -> Vec<(SourceFile, Occurrence)> {
        let Some(occ) = self.occurrence_at(file, offset) else {
            return Vec::new();
        };
        self.references_to(&occ.def.clone(), file, include_decl)
    }

    /// Every occurrence of `def` in the project's files and in `from`
    /// (which may lie outside the entry's import graph); in the stdlib too
    /// when `def` is declared there.
    pub fn references_to(
        &self,
        def: &DefLoc,
        from: SourceFile,
        include_decl: bool,
    ) -> Vec<(SourceFile, Occurrence)> {
        let mut files = self.project_files();
        if !files.contains(&from) {
            files.push(from);
        }
        if def.file.is_some_and(|f| self.is_stdlib(f)) {
            files.extend(self.input.stdlib(self.db()).iter().copied());
        }
        files.sort_by_key(|f| self.path(*f));
        let mut out: Vec<(SourceFile, Occurrence)> = Vec::new();
        for f in files {
            for o in self.occurrences(f) {
                if o.def.same(def) && (include_decl || !o.is_def) {
                    out.push((f, o.clone()));
                }
            }
        }
        out.dedup_by(|a, b| a.0 == b.0 && a.1.span == b.1.span);
        out
    }
}
