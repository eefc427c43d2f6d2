//! Go to definition: what the name at an offset refers to, through the
//! resolver's own answer (`crate::resolve::item_names`). On an import's
//! path: the imported file.

use super::Analysis;
use crate::db::SourceFile;
use mc_grammar::ast::Item;
use mc_grammar::span::Span;
use std::path::PathBuf;

/// Where to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NavTarget {
    /// The file when the project has it loaded.
    pub file: Option<SourceFile>,
    pub path: PathBuf,
    pub span: Span,
}

impl Analysis {
    pub fn goto_definition(&self, file: SourceFile, offset: u32) -> Option<NavTarget> {
        for item in &self.parsed(file).module.items {
            if let Item::Import(imp) = item {
                if imp.path.span.contains(offset) {
                    let path = crate::db::import_fs_path(file.fs_path(self.db()), &imp.path.value);
                    return Some(NavTarget {
                        file: self.file(&path),
                        path,
                        span: Span::empty(0),
                    });
                }
            }
        }
        let def = &self.occurrence_at(file, offset)?.def;
        let target = def.file?;
        Some(NavTarget {
            file: Some(target),
            path: self.path(target),
            span: def.span,
        })
    }
}
