//! A snapshot of the whole project for evaluation: every module's items
//! (each with its own relative spans and its offset in the file), the names
//! each module defines, its imports, and the stdlib prelude.

use crate::diag::Loc;
use mc_grammar::ast::{Item, ResourceDecl};
use mc_grammar::span::Span;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemRef {
    pub file: usize,
    pub item: usize,
}

#[derive(Debug)]
pub struct Module {
    /// Path as shown in messages (relative to the project root, or `<stdlib>/…`).
    pub path: Arc<str>,
    /// Absolute path on the file system, used to resolve relative file reads.
    pub fs_path: std::path::PathBuf,
    pub text: Arc<str>,
    /// Items with the byte offset of their text in the file. Spans inside an
    /// item are relative to that offset.
    pub items: Vec<(u32, Arc<Item>)>,
    pub names: HashMap<String, usize>,
    /// Import alias → module index; `None` when the file is missing.
    pub imports: HashMap<String, Option<usize>>,
    pub stdlib: bool,
    /// Byte offset of the start of each line.
    pub line_starts: Vec<u32>,
    /// The source file it was read from.
    pub source: crate::db::SourceFile,
}

impl Module {
    pub fn line_starts_of(text: &str) -> Vec<u32> {
        std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i as u32 + 1))
            .collect()
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1] as usize;
        let end = (offset as usize).min(self.text.len()).max(start);
        let col = self
            .text
            .get(start..end)
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line as u32, col as u32 + 1)
    }
}

#[derive(Debug, Default)]
pub struct Program {
    pub modules: Vec<Module>,
    /// Names of the stdlib, visible in every module.
    pub prelude: HashMap<String, ItemRef>,
    /// `--var NAME=VALUE` from the command line, for `param` items.
    pub params: std::collections::BTreeMap<String, String>,
    /// Where compile-time reads may go.
    pub read_scope: crate::fs::ReadScope,
    /// Module index of each source file.
    pub module_of: HashMap<crate::db::SourceFile, usize>,
}

/// What a name in scope refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Def {
    Item(ItemRef),
    Module(usize),
}

impl Program {
    pub fn item(&self, r: ItemRef) -> Option<&Item> {
        self.modules
            .get(r.file)
            .and_then(|m| m.items.get(r.item))
            .map(|(_, i)| i.as_ref())
    }

    pub fn offset(&self, r: ItemRef) -> u32 {
        self.modules
            .get(r.file)
            .and_then(|m| m.items.get(r.item))
            .map(|(o, _)| *o)
            .unwrap_or(0)
    }

    /// Absolute location of a span relative to an item at `offset` in `file`.
    pub fn loc(&self, file: usize, offset: u32, span: Span) -> Loc {
        let path = self
            .modules
            .get(file)
            .map(|m| m.path.clone())
            .unwrap_or_else(|| Arc::from("<unknown>"));
        Loc {
            file: path,
            span: Span::new(span.start + offset, span.end + offset),
        }
    }

    /// Resolves a bare name as seen from `file`: local items, then import
    /// aliases, then the prelude.
    pub fn lookup(&self, file: usize, name: &str) -> Option<Def> {
        let m = self.modules.get(file)?;
        if let Some(&i) = m.names.get(name) {
            return Some(Def::Item(ItemRef { file, item: i }));
        }
        if let Some(Some(target)) = m.imports.get(name) {
            return Some(Def::Module(*target));
        }
        self.prelude.get(name).copied().map(Def::Item)
    }

    /// A top-level name of module `file` (for `alias.name`).
    pub fn member(&self, file: usize, name: &str) -> Option<ItemRef> {
        let m = self.modules.get(file)?;
        m.names.get(name).map(|&i| ItemRef { file, item: i })
    }

    /// Every name visible from `file`, for "did you mean".
    pub fn visible_names(&self, file: usize) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(m) = self.modules.get(file) {
            out.extend(m.names.keys().map(String::as_str));
            out.extend(m.imports.keys().map(String::as_str));
        }
        out.extend(self.prelude.keys().map(String::as_str));
        out
    }

    pub fn resource_decl(&self, file: usize, name: &str) -> Option<(ItemRef, &ResourceDecl)> {
        match self.lookup(file, name)? {
            Def::Item(r) => match self.item(r)? {
                Item::Resource(d) => Some((r, d)),
                _ => None,
            },
            Def::Module(_) => None,
        }
    }

    /// Names of every resource type visible from `file`.
    pub fn resource_type_names(&self, file: usize) -> Vec<&str> {
        self.visible_names(file)
            .into_iter()
            .filter(|n| self.resource_decl(file, n).is_some())
            .collect()
    }

    /// Modules of the user's project (not the stdlib), in load order.
    pub fn user_modules(&self) -> impl Iterator<Item = (usize, &Module)> {
        self.modules.iter().enumerate().filter(|(_, m)| !m.stdlib)
    }
}

/// The name an item defines at top level, if any.
pub fn item_name(item: &Item) -> Option<&mc_grammar::ast::Ident> {
    match item {
        Item::Let(x) => Some(&x.name),
        Item::Type(x) => Some(&x.name),
        Item::Fn(x) => Some(&x.name),
        Item::Role(x) => Some(&x.name),
        Item::Resource(x) => Some(&x.name),
        _ => None,
    }
}
