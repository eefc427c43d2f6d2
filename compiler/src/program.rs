//! A snapshot of the whole project for evaluation: every module's items
//! (each with its own relative spans and its offset in the file), what the
//! checker resolved each name in them to, and the stdlib prelude.

use crate::diag::Loc;
use mc_grammar::ast::Item;
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
    pub stdlib: bool,
    /// Byte offset of the start of each line.
    pub line_starts: Arc<[u32]>,
    /// Per item: what each name in it that refers to a top-level
    /// definition or a module resolves to, by its item-relative span. The
    /// checker resolved them (`resolve::ItemCheck::globals`); evaluation
    /// reads this instead of looking names up again.
    pub globals: Vec<Arc<[(Span, crate::db::Global)]>>,
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

    /// What the name at `span` of the item at `offset` in `file` refers
    /// to, as the checker resolved it; `None` for locals, built-ins and
    /// names the checker could not resolve (it reported those).
    pub fn resolved(&self, file: usize, offset: u32, span: Span) -> Option<Def> {
        let m = self.modules.get(file)?;
        let i = m.items.binary_search_by_key(&offset, |(o, _)| *o).ok()?;
        let globals = m.globals.get(i)?;
        let at = globals
            .binary_search_by_key(&(span.start, span.end), |(s, _)| (s.start, s.end))
            .ok()?;
        Some(match globals[at].1 {
            crate::db::Global::Item { file, item } => Def::Item(ItemRef {
                file: *self.module_of.get(&file)?,
                item: item as usize,
            }),
            crate::db::Global::Module(file) => Def::Module(*self.module_of.get(&file)?),
        })
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
