//! The salsa database and the query pipeline.
//!
//! ```text
//! SourceFile (input) ─► parse_file (no_eq) ─► file_items (item text slices)
//!   ─► item_ast (each item re-parsed on its own: relative spans, so an edit
//!      elsewhere in the file leaves it equal) ─► module_summary (names and
//!      signatures, no bodies) ─► check_item (resolution per item)
//! ```
//! A body edit in one item changes that item's `item_ast` only; the summary
//! of its module compares equal, so every other item's `check_item` is
//! reused (see the reuse test in `tests/incremental.rs`).

use crate::diag::{Diag, Loc};
use crate::types::{Origin, Type};
use mc_grammar::ast::{self, Item};
use mc_grammar::span::Span;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One source file. `path` is how messages name it (relative to the
/// project root, or `<stdlib>/…`); `fs_path` is where it was read from.
#[salsa::input(debug)]
pub struct SourceFile {
    #[returns(ref)]
    pub path: Arc<str>,
    #[returns(ref)]
    pub fs_path: PathBuf,
    #[returns(ref)]
    pub text: Arc<str>,
}

/// The set of files: the user's (entry first, then imports as found) and
/// the stdlib.
#[salsa::input(debug)]
pub struct ProjectInput {
    #[returns(ref)]
    pub files: Vec<SourceFile>,
    #[returns(ref)]
    pub stdlib: Vec<SourceFile>,
}

/// Salsa events, when logging is switched on (tests of incremental reuse).
pub type EventLog = Arc<Mutex<Option<Vec<salsa::Event>>>>;

#[salsa::db]
#[derive(Clone)]
pub struct Database {
    storage: salsa::Storage<Self>,
    events: EventLog,
}

impl Default for Database {
    fn default() -> Self {
        let events: EventLog = Arc::default();
        let sink = events.clone();
        Database {
            storage: salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
                if let Ok(mut log) = sink.lock() {
                    if let Some(log) = log.as_mut() {
                        log.push(event);
                    }
                }
            }))),
            events,
        }
    }
}

impl Database {
    /// Starts recording salsa events (see [`Database::take_events`]).
    pub fn enable_event_log(&self) {
        if let Ok(mut log) = self.events.lock() {
            log.get_or_insert_with(Vec::new);
        }
    }

    pub fn take_events(&self) -> Vec<salsa::Event> {
        self.events
            .lock()
            .ok()
            .and_then(|mut log| log.as_mut().map(std::mem::take))
            .unwrap_or_default()
    }
}

#[salsa::db]
impl salsa::Database for Database {}

/// Parse result of one file.
pub struct ParsedFile {
    pub module: Arc<ast::Module>,
    pub errors: Vec<mc_diagnostics::Diagnostic>,
}

#[salsa::tracked(returns(ref), no_eq)]
pub fn parse_file(db: &dyn salsa::Database, file: SourceFile) -> ParsedFile {
    let parsed = mc_grammar::parse(file.text(db));
    let path = file.path(db).to_string();
    let errors = parsed
        .errors
        .into_iter()
        .map(|mut d| {
            d.set_file(&path);
            d
        })
        .collect();
    ParsedFile {
        module: Arc::new(parsed.module),
        errors,
    }
}

/// The text of one top-level item and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemSlice {
    pub start: u32,
    pub text: Arc<str>,
}

#[salsa::tracked(returns(ref))]
pub fn file_items(db: &dyn salsa::Database, file: SourceFile) -> Vec<ItemSlice> {
    let text = file.text(db);
    parse_file(db, file)
        .module
        .items
        .iter()
        .map(|item| {
            let span = item.span();
            ItemSlice {
                start: span.start,
                text: Arc::from(span.text(text)),
            }
        })
        .collect()
}

#[salsa::interned(debug)]
pub struct ItemKey<'db> {
    #[returns(copy)]
    pub file: SourceFile,
    #[returns(copy)]
    pub index: u32,
}

/// One item, parsed from its own text: its spans are relative to its start.
#[salsa::tracked(returns(ref))]
pub fn item_ast<'db>(db: &'db dyn salsa::Database, key: ItemKey<'db>) -> Option<Arc<Item>> {
    let slices = file_items(db, key.file(db));
    let slice = slices.get(key.index(db) as usize)?;
    let parsed = mc_grammar::parse(&slice.text);
    parsed
        .module
        .items
        .into_iter()
        .find(|i| !matches!(i, Item::Error(_)))
        .or_else(|| Some(Item::Error(Span::new(0, slice.text.len() as u32))))
        .map(Arc::new)
}

/// Every item of a file with its offset.
pub fn items_of(db: &dyn salsa::Database, file: SourceFile) -> Vec<(u32, Arc<Item>)> {
    let n = file_items(db, file).len();
    let starts: Vec<u32> = file_items(db, file).iter().map(|s| s.start).collect();
    (0..n)
        .filter_map(|i| {
            let key = ItemKey::new(db, file, i as u32);
            item_ast(db, key).clone().map(|a| (starts[i], a))
        })
        .collect()
}

/// What a top-level name is, without bodies or spans, so that it stays
/// equal across body edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// The declared type, or the type of a literal value; `Any` otherwise.
    Let(Type),
    /// A type alias and what it stands for.
    Type(Type),
    /// Parameters and result type.
    Fn(Vec<ParamSig>, Type),
    Role(Vec<ParamSig>),
    /// Title parameter name, attributes.
    Resource(String, Vec<AttrSig>),
}

/// A function or role parameter as resolution sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSig {
    pub name: String,
    pub has_default: bool,
    pub ty: Type,
}

/// A resource attribute as resolution sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrSig {
    pub name: String,
    pub required: bool,
    pub ty: Type,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ModuleSummary {
    pub names: BTreeMap<String, (NameKind, u32)>,
    /// Names that items which failed to parse were declaring (`role web( {`):
    /// their uses are not reported as unknown, the parse error is.
    pub broken: std::collections::BTreeSet<String>,
    /// Import alias → target file (`None`: not found).
    pub imports: BTreeMap<String, Option<SourceFile>>,
}

#[salsa::tracked(returns(ref))]
pub fn module_summary(
    db: &dyn salsa::Database,
    project: ProjectInput,
    file: SourceFile,
) -> ModuleSummary {
    let mut out = ModuleSummary::default();
    let slices = file_items(db, file);
    for (i, (_, item)) in items_of(db, file).iter().enumerate() {
        if let (Item::Error(_), Some(slice)) = (item.as_ref(), slices.get(i)) {
            out.broken.extend(broken_item_name(&slice.text));
        }
        let at = Origin {
            file,
            item: i as u32,
            start: 0,
        };
        let params = |ps: &[ast::Param]| -> Vec<ParamSig> {
            ps.iter()
                .map(|p| ParamSig {
                    name: p.name.name.clone(),
                    has_default: p.default.is_some(),
                    ty: Type::of(&p.ty, at),
                })
                .collect()
        };
        let entry = match item.as_ref() {
            Item::Let(l) => {
                let ty = match &l.ty {
                    Some(t) => Type::of(t, at),
                    None => crate::resolve::literal_type(&l.value),
                };
                Some((l.name.name.clone(), NameKind::Let(ty)))
            }
            Item::Type(t) => Some((t.name.name.clone(), NameKind::Type(Type::of(&t.ty, at)))),
            Item::Fn(f) => {
                let ret = match (&f.ret, &f.body) {
                    (Some(t), _) => Type::of(t, at),
                    (None, Some(b)) => {
                        let ps: Vec<(String, Type)> = f
                            .params
                            .iter()
                            .map(|p| (p.name.name.clone(), Type::of(&p.ty, at)))
                            .collect();
                        crate::resolve::body_type(b, &ps)
                    }
                    (None, None) => Type::Any,
                };
                Some((f.name.name.clone(), NameKind::Fn(params(&f.params), ret)))
            }
            Item::Role(r) => Some((r.name.name.clone(), NameKind::Role(params(&r.params)))),
            Item::Resource(r) => {
                let attrs = r
                    .members
                    .iter()
                    .filter_map(|m| match m {
                        ast::ResourceMember::Attr(a) => Some(AttrSig {
                            name: a.name.name.clone(),
                            required: crate::bind::attr_required(a),
                            ty: Type::of(&a.ty, at),
                        }),
                        _ => None,
                    })
                    .collect();
                Some((
                    r.name.name.clone(),
                    NameKind::Resource(r.title.name.name.clone(), attrs),
                ))
            }
            Item::Import(imp) => {
                let alias = import_alias(imp);
                let target = resolve_import(db, project, file, &imp.path.value);
                out.imports.insert(alias, target);
                None
            }
            _ => None,
        };
        if let Some((name, kind)) = entry {
            // The first definition wins; duplicates are reported separately.
            out.names.entry(name).or_insert((kind, i as u32));
        }
    }
    out
}

/// The name a declaration that failed to parse was giving (`role web( {`
/// declares `web`), read from its first two tokens.
fn broken_item_name(text: &str) -> Option<String> {
    use mc_grammar::lexer::{lex, Tok};
    let tokens = lex(text).tokens;
    match (tokens.first().map(|t| t.1), tokens.get(1).map(|t| t.1)) {
        (
            Some(Tok::Let | Tok::Fn | Tok::Role | Tok::Type | Tok::Resource),
            Some(Tok::Ident(name)),
        ) => Some(name.to_string()),
        _ => None,
    }
}

pub fn import_alias(imp: &ast::Import) -> String {
    match &imp.alias {
        Some(a) => a.name.clone(),
        None => std::path::Path::new(&imp.path.value)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The file an import names, relative to the importing file.
pub fn resolve_import(
    db: &dyn salsa::Database,
    project: ProjectInput,
    from: SourceFile,
    rel: &str,
) -> Option<SourceFile> {
    let target = import_fs_path(from.fs_path(db), rel);
    project
        .files(db)
        .iter()
        .copied()
        .find(|f| f.fs_path(db) == &target)
}

pub fn import_fs_path(from: &std::path::Path, rel: &str) -> PathBuf {
    let base = from.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    crate::fs::normalize(&base.join(rel))
}

/// The merged summary of every stdlib module: the prelude.
#[salsa::tracked(returns(ref))]
pub fn prelude_summary(
    db: &dyn salsa::Database,
    project: ProjectInput,
) -> BTreeMap<String, NameKind> {
    let mut out = BTreeMap::new();
    for f in project.stdlib(db) {
        for (name, (kind, _)) in &module_summary(db, project, *f).names {
            out.entry(name.clone()).or_insert_with(|| kind.clone());
        }
    }
    out
}

/// Resolution diagnostics of one item and the types of the names it
/// binds, with spans relative to the item.
#[salsa::tracked(returns(ref))]
pub fn check_item<'db>(
    db: &'db dyn salsa::Database,
    project: ProjectInput,
    key: ItemKey<'db>,
) -> crate::resolve::ItemCheck {
    let file = key.file(db);
    let Some(item) = item_ast(db, key) else {
        return Default::default();
    };
    let path = file.path(db).clone();
    let at = Origin {
        file,
        item: key.index(db),
        start: 0,
    };
    let mut checked = crate::resolve::check_item(db, project, at, &path, item);
    checked.diags.extend(decimal_modes(db, key).iter().cloned());
    checked
}

/// The byte offset of the start of each line of a file, once per text.
#[salsa::tracked(returns(ref))]
pub fn line_starts(db: &dyn salsa::Database, file: SourceFile) -> Arc<[u32]> {
    crate::program::Module::line_starts_of(file.text(db)).into()
}

/// A top-level definition or module a name resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Global {
    /// Item number `item` of `file`.
    Item {
        file: SourceFile,
        item: u32,
    },
    Module(SourceFile),
}

/// What each name of one item that refers to a top-level definition or a
/// module resolves to, by its item-relative span, sorted: the checker's
/// resolution ([`check_item`]) as evaluation reads it. A query of its own,
/// so that an edit elsewhere reuses it.
#[salsa::tracked(returns(ref))]
pub fn item_globals<'db>(
    db: &'db dyn salsa::Database,
    project: ProjectInput,
    key: ItemKey<'db>,
) -> Arc<[(Span, Global)]> {
    let file = key.file(db);
    let summary = module_summary(db, project, file);
    let item_in = |f: SourceFile, name: &str| {
        let (_, item) = module_summary(db, project, f).names.get(name)?;
        Some(Global::Item {
            file: f,
            item: *item,
        })
    };
    let global = |target: &crate::resolve::NameTarget| {
        use crate::resolve::NameTarget;
        match target {
            NameTarget::Item(Some(f), name) => item_in(*f, name),
            // The prelude: the first stdlib module that defines it.
            NameTarget::Item(None, name) => {
                project.stdlib(db).iter().find_map(|f| item_in(*f, name))
            }
            NameTarget::Module(alias) => Some(Global::Module((*summary.imports.get(alias)?)?)),
            _ => None,
        }
    };
    let mut out: Vec<(Span, Global)> = check_item(db, project, key)
        .globals
        .iter()
        .filter_map(|(span, t)| Some((*span, global(t)?)))
        .collect();
    out.sort_by_key(|(span, _)| (span.start, span.end));
    out.into()
}

/// `mode = 644` in one item (see `decimal_mode`), from the item's own text:
/// like [`item_ast`], an edit elsewhere in the file leaves it equal.
#[salsa::tracked(returns(ref))]
pub fn decimal_modes<'db>(db: &'db dyn salsa::Database, key: ItemKey<'db>) -> Vec<Diag> {
    let file = key.file(db);
    match file_items(db, file).get(key.index(db) as usize) {
        Some(slice) => crate::decimal_mode::check(&slice.text, file.path(db)),
        None => Vec::new(),
    }
}

/// Resolution diagnostics of a whole file, with absolute spans.
pub fn check_file(db: &dyn salsa::Database, project: ProjectInput, file: SourceFile) -> Vec<Diag> {
    let starts: Vec<u32> = file_items(db, file).iter().map(|s| s.start).collect();
    let mut out = Vec::new();
    for (i, start) in starts.iter().enumerate() {
        let key = ItemKey::new(db, file, i as u32);
        for d in &check_item(db, project, key).diags {
            out.push(shift(d.clone(), *start));
        }
    }
    out
}

/// The checked type of every name a file binds (`let`s, parameters), by
/// the name's span in the file, as mc writes types.
pub fn binding_types(
    db: &dyn salsa::Database,
    project: ProjectInput,
    file: SourceFile,
) -> Vec<(Span, String)> {
    let starts: Vec<u32> = file_items(db, file).iter().map(|s| s.start).collect();
    let mut out = Vec::new();
    for (i, start) in starts.iter().enumerate() {
        let key = ItemKey::new(db, file, i as u32);
        for (span, ty) in &check_item(db, project, key).bindings {
            let at = Span::new(span.start + start, span.end + start);
            out.push((at, ty.to_string()));
        }
    }
    out
}

fn shift_loc(l: &mut Loc, by: u32) {
    l.span = Span::new(l.span.start + by, l.span.end + by);
}

/// Moves a diagnostic with item-relative spans to file positions.
pub fn shift(mut d: Diag, by: u32) -> Diag {
    shift_loc(&mut d.loc, by);
    for (l, _) in &mut d.secondary {
        shift_loc(l, by);
    }
    if let Some(f) = &mut d.fix {
        shift_loc(&mut f.loc, by);
    }
    d
}
