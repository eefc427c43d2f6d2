//! The IDE layer: what an editor asks of a program (definition, references,
//! the type at an offset, the names in scope, a call's signature), answered
//! from the compiler's own database and resolver, never from a second name
//! lookup. The language server (`mc-lsp`) turns these answers into LSP.
//!
//! Modelled on rust-analyzer's `ide` over `hir` and ty's `ty_ide`: one small
//! file per feature over one snapshot type, [`Analysis`]:
//!
//! - `goto_definition.rs`: what the name at an offset refers to;
//! - `references.rs`: every name in the project that refers to it;
//! - `type_at.rs`: the checker's type of the name at an offset;
//! - `scope.rs`: the names visible at an offset, and the members of a
//!   module, a resource type, `host.vars` and `facts` (completion);
//! - `signature.rs`: the role or function whose call the cursor is in;
//! - `describe.rs`: how a declaration reads on hover.
//!
//! Files with syntax errors: each file is parsed for the editor with the
//! brackets left open at its end closed (`syntax.rs`), and every item is
//! resolved by [`crate::resolve::item_names`] as `mc check` resolves it.

mod describe;
mod goto_definition;
pub use goto_definition::NavTarget;
mod host;
mod references;
mod scope;
mod signature;
mod syntax;
mod type_at;

#[cfg(test)]
mod tests;

pub use crate::resolve::DefKind;
pub use describe::{walk_stmts, Def, BUILTINS};
pub use host::{entry_for, write_stdlib, AnalysisHost};
pub use scope::{ResourceInfo, ScopeEntry};
pub use signature::Signature;
pub use syntax::parse_tolerant;

use crate::db::{module_summary, Database, ProjectInput, SourceFile};
use crate::resolve::{item_names, NameTarget};
use crate::types::Origin;
use mc_grammar::ast::{Item, ResourceMember};
use mc_grammar::span::Span;
use mc_grammar::Parsed;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::types::Type;

/// Where a name is declared. Two names refer to the same thing exactly
/// when their `DefLoc`s have the same file, span and name (`host` and
/// `change` have neither file nor span).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DefLoc {
    /// `None` for `host` and `change`, which no source declares.
    pub file: Option<SourceFile>,
    pub span: Span,
    pub kind: DefKind,
    pub name: String,
}

impl DefLoc {
    pub fn same(&self, other: &DefLoc) -> bool {
        self.file == other.file && self.span == other.span && self.name == other.name
    }
}

/// A name written in a file and what it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    pub span: Span,
    pub def: DefLoc,
    /// This occurrence is the declaration itself.
    pub is_def: bool,
    /// The checker's type of the value named here, when it names one.
    pub ty: Option<Type>,
}

/// A read-only snapshot of one project's database. Cheap to make (a
/// salsa handle); an edit to the project waits until it is dropped, and a
/// query it runs meanwhile is cancelled (it unwinds).
pub struct Analysis {
    db: Database,
    input: ProjectInput,
    /// Every user file loaded, by absolute path.
    files: BTreeMap<PathBuf, SourceFile>,
    /// Where the stdlib's sources are written for editors to open.
    stdlib_dir: Option<PathBuf>,
}

impl crate::Project {
    /// A snapshot for IDE requests (see [`Analysis`]).
    pub fn analysis(&self) -> Analysis {
        Analysis {
            db: self.database(),
            input: self.input(),
            files: self.file_map(),
            stdlib_dir: None,
        }
    }
}

impl Analysis {
    /// Declarations in the stdlib point into `dir` (see [`write_stdlib`]).
    pub fn with_stdlib_dir(mut self, dir: &Path) -> Analysis {
        self.stdlib_dir = Some(dir.to_path_buf());
        self
    }

    fn db(&self) -> &dyn salsa::Database {
        &self.db
    }

    /// The source file at `path`: a user file, or a stdlib file under the
    /// stdlib directory.
    pub fn file(&self, path: &Path) -> Option<SourceFile> {
        let path = crate::fs::normalize(path);
        if let Some(f) = self.files.get(&path) {
            return Some(*f);
        }
        let dir = self.stdlib_dir.as_ref()?;
        let name = path.strip_prefix(dir).ok()?.to_str()?;
        self.input
            .stdlib(self.db())
            .iter()
            .copied()
            .find(|f| f.path(self.db()).strip_prefix(mc_stdlib::PATH_PREFIX) == Some(name))
    }

    /// Where `file` is on disk (for the stdlib: under the stdlib directory).
    pub fn path(&self, file: SourceFile) -> PathBuf {
        let shown = file.path(self.db());
        match (shown.strip_prefix(mc_stdlib::PATH_PREFIX), &self.stdlib_dir) {
            (Some(name), Some(dir)) => dir.join(name),
            _ => file.fs_path(self.db()).clone(),
        }
    }

    pub fn is_stdlib(&self, file: SourceFile) -> bool {
        file.path(self.db()).starts_with(mc_stdlib::PATH_PREFIX)
    }

    pub fn text(&self, file: SourceFile) -> Arc<str> {
        file.text(self.db()).clone()
    }

    /// The file's syntax tree as the editor sees it (see `syntax.rs`).
    pub fn parsed(&self, file: SourceFile) -> &Parsed {
        syntax::editor_parse(self.db(), file)
    }

    /// The user files of the project: the entry's import graph.
    pub fn project_files(&self) -> Vec<SourceFile> {
        self.input.files(self.db()).clone()
    }

    /// Every name in `file` and what it refers to.
    pub fn occurrences(&self, file: SourceFile) -> &[Occurrence] {
        &file_names(self.db(), self.input, file).occurrences
    }

    /// Each positional argument of a call in `file` (its value's span) and
    /// the parameter it binds: roles, functions and the stdlib's alike.
    pub fn argument_params(&self, file: SourceFile) -> &[(Span, String)] {
        &file_names(self.db(), self.input, file).arguments
    }

    /// The name at `offset` (the cursor may also sit just after it).
    pub fn occurrence_at(&self, file: SourceFile, offset: u32) -> Option<&Occurrence> {
        let occs = self.occurrences(file);
        occs.iter()
            .find(|o| o.span.start <= offset && offset < o.span.end)
            .or_else(|| occs.iter().find(|o| o.span.end == offset))
    }

    /// The item of `file` (editor parse) that holds `offset`.
    fn item_at(&self, file: SourceFile, offset: u32) -> Option<&Item> {
        self.item_index_at(file, offset).map(|(_, i)| i)
    }

    /// The item at `offset` with where it is, for the resolver.
    fn item_index_at(&self, file: SourceFile, offset: u32) -> Option<(Origin, &Item)> {
        let items = &self.parsed(file).module.items;
        let i = items
            .iter()
            .position(|i| i.span().start <= offset && offset <= i.span().end)?;
        Some((origin(file, i, &items[i]), &items[i]))
    }
}

/// What the resolver records of one file for the editor.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileNames {
    /// Every name with its declaration.
    pub occurrences: Vec<Occurrence>,
    /// Each positional argument (its value's span) and the parameter it
    /// binds, as the checker bound them.
    pub arguments: Vec<(Span, String)>,
    /// Each field read (the field name's span) and its checked type.
    pub fields: Vec<(Span, Type)>,
}

/// Every name of a file with its declaration, and the parameter each
/// positional argument binds, as the resolver sees them.
#[salsa::tracked(returns(ref))]
pub fn file_names(db: &dyn salsa::Database, project: ProjectInput, file: SourceFile) -> FileNames {
    let mut out = FileNames::default();
    for (i, item) in syntax::editor_parse(db, file)
        .module
        .items
        .iter()
        .enumerate()
    {
        let names = item_names(db, project, origin(file, i, item), item, None);
        let kinds: HashMap<Span, DefKind> = names
            .refs
            .iter()
            .filter_map(|r| Some((r.span, r.def?)))
            .collect();
        for r in names.refs {
            let Some(def) = locate(db, project, file, &r.target, &kinds) else {
                continue;
            };
            out.occurrences.push(Occurrence {
                span: r.span,
                def,
                is_def: r.def.is_some(),
                ty: r.ty,
            });
        }
        out.arguments.extend(names.arguments);
        out.fields.extend(names.fields);
    }
    out
}

/// The declaration a resolved name refers to.
fn locate(
    db: &dyn salsa::Database,
    project: ProjectInput,
    file: SourceFile,
    target: &NameTarget,
    kinds: &HashMap<Span, DefKind>,
) -> Option<DefLoc> {
    match target {
        NameTarget::Local(span) => Some(DefLoc {
            file: Some(file),
            span: *span,
            kind: kinds.get(span).copied().unwrap_or(DefKind::Local),
            name: span.text(file.text(db)).to_string(),
        }),
        NameTarget::Item(module, name) => {
            let module = match module {
                Some(m) => *m,
                None => prelude_file(db, project, name)?,
            };
            let (_, item) = top_item(db, module, name)?;
            let (span, kind) = item_name(item)?;
            Some(DefLoc {
                file: Some(module),
                span,
                kind,
                name: name.clone(),
            })
        }
        NameTarget::Module(alias) => {
            let span = syntax::editor_parse(db, file)
                .module
                .items
                .iter()
                .find_map(|i| match i {
                    Item::Import(imp) if crate::db::import_alias(imp) == *alias => {
                        Some(imp.alias.as_ref().map_or(imp.path.span, |a| a.span))
                    }
                    _ => None,
                })?;
            Some(DefLoc {
                file: Some(file),
                span,
                kind: DefKind::Import,
                name: alias.clone(),
            })
        }
        NameTarget::Param(callee, name) => {
            let c = locate(db, project, file, callee, kinds)?;
            let module = c.file?;
            let (_, item) = top_item(db, module, &c.name)?;
            let params: Vec<&mc_grammar::ast::Param> = match item {
                Item::Fn(f) => f.params.iter().collect(),
                Item::Role(r) => r.params.iter().collect(),
                Item::Resource(r) => vec![&r.title],
                _ => Vec::new(),
            };
            let p = params.into_iter().find(|p| p.name.name == *name)?;
            Some(DefLoc {
                file: Some(module),
                span: p.name.span,
                kind: DefKind::Param,
                name: name.clone(),
            })
        }
        NameTarget::Attr(resource, name) => {
            let r = locate(db, project, file, resource, kinds)?;
            let module = r.file?;
            let (_, item) = top_item(db, module, &r.name)?;
            let Item::Resource(decl) = item else {
                return None;
            };
            let a = decl.members.iter().find_map(|m| match m {
                ResourceMember::Attr(a) if a.name.name == *name => Some(a),
                _ => None,
            })?;
            Some(DefLoc {
                file: Some(module),
                span: a.name.span,
                kind: DefKind::Attr,
                name: name.clone(),
            })
        }
        NameTarget::Builtin(name) => {
            // `facts` is of the stdlib's `Facts` type: go there.
            let at = match *name {
                "facts" => locate(
                    db,
                    project,
                    file,
                    &NameTarget::Item(None, "Facts".into()),
                    kinds,
                ),
                _ => None,
            };
            Some(DefLoc {
                file: at.as_ref().and_then(|d| d.file),
                span: at.map(|d| d.span).unwrap_or_default(),
                kind: DefKind::Builtin,
                name: name.to_string(),
            })
        }
    }
}

/// The stdlib file that declares the prelude name `name` (the first one,
/// as in `prelude_summary`).
fn prelude_file(db: &dyn salsa::Database, project: ProjectInput, name: &str) -> Option<SourceFile> {
    project
        .stdlib(db)
        .iter()
        .copied()
        .find(|f| module_summary(db, project, *f).names.contains_key(name))
}

/// The first top-level item of `file` declaring `name` (the first wins, as
/// in the module summary).
fn top_item<'db>(
    db: &'db dyn salsa::Database,
    file: SourceFile,
    name: &str,
) -> Option<(usize, &'db Item)> {
    syntax::editor_parse(db, file)
        .module
        .items
        .iter()
        .enumerate()
        .find(|(_, i)| item_name(i).is_some_and(|(s, _)| s.text(file.text(db)) == name))
}

/// The name an item declares, and its kind.
fn item_name(item: &Item) -> Option<(Span, DefKind)> {
    Some(match item {
        Item::Let(l) => (l.name.span, DefKind::Let),
        Item::Type(t) => (t.name.span, DefKind::Type),
        Item::Fn(f) => (f.name.span, DefKind::Fn),
        Item::Role(r) => (r.name.span, DefKind::Role),
        Item::Resource(r) => (r.name.span, DefKind::Resource),
        _ => return None,
    })
}

/// Where item number `index` of a whole-file parse of `file` is.
fn origin(file: SourceFile, index: usize, item: &Item) -> Origin {
    Origin {
        file,
        item: index as u32,
        start: item.span().start,
    }
}

/// A type as hovers and hints show it: `None` where the checker cannot
/// know it before evaluation (it holds `Any`); long records end in `…`.
pub fn display_type(ty: &Type) -> Option<String> {
    let text = ty.to_string();
    (!text.contains("Any")).then(|| short(&text))
}

/// Record types can be long (a host's vars): the start and an ellipsis.
fn short(ty: &str) -> String {
    const MAX: usize = 60;
    if ty.chars().count() <= MAX {
        return ty.to_string();
    }
    let cut: String = ty.chars().take(MAX).collect();
    format!("{cut}…")
}
