//! The editor's view of the sources: every open document, every file they
//! import (read from disk), and the stdlib. Immutable snapshots (`Arc`s)
//! that requests read off the protocol thread.

use mc_diagnostics::LineIndex;
use mc_grammar::ast::{Item, ResourceMember, TypeExpr};
use mc_grammar::{Parsed, Span};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefKind {
    Import,
    Let,
    Type,
    Fn,
    Role,
    Resource,
    /// An attribute declared in a `resource`.
    Attr,
    /// A parameter of a role, function or resource title.
    Param,
    /// A `let` or a `for` variable inside a block.
    Local,
}

/// A definition: where a name is declared, with what hover shows for it.
#[derive(Debug)]
pub struct Def {
    pub file: PathBuf,
    /// The declaring name's span (for an import without alias: the path).
    pub span: Span,
    pub name: String,
    pub kind: DefKind,
    /// The signature shown on hover, e.g. `role nginx(port: Int = 80)`.
    pub detail: String,
    pub docs: Option<String>,
    /// For attributes and parameters: the declared type's source text.
    pub ty: Option<String>,
}

impl Def {
    pub fn same(&self, other: &Def) -> bool {
        self.file == other.file && self.span == other.span && self.name == other.name
    }
}

/// A resource type's attributes, in declaration order.
#[derive(Debug)]
pub struct ResourceInfo {
    pub def: Arc<Def>,
    pub attrs: Vec<Arc<Def>>,
    /// Literal union values per attribute (`state: "present" | "absent"`).
    pub literals: HashMap<String, Vec<String>>,
}

/// The top-level names of one module.
#[derive(Debug, Default)]
pub struct ModuleTable {
    pub names: HashMap<String, Arc<Def>>,
    /// Alias → the imported file (absolute path), when it resolves.
    pub imports: HashMap<String, PathBuf>,
    pub resources: HashMap<String, Arc<ResourceInfo>>,
    /// Parameters of roles and functions by name.
    pub params: HashMap<String, Vec<Arc<Def>>>,
}

/// One parsed source file.
#[derive(Debug)]
pub struct FileData {
    pub path: PathBuf,
    pub text: Arc<str>,
    pub parsed: Parsed,
    pub lines: LineIndex,
    pub table: ModuleTable,
    pub stdlib: bool,
}

impl FileData {
    pub fn new(path: PathBuf, text: Arc<str>, stdlib: bool) -> FileData {
        let parsed = parse_tolerant(&text);
        let lines = LineIndex::new(&text);
        let table = build_table(&path, &text, &parsed);
        FileData {
            path,
            text,
            parsed,
            lines,
            table,
            stdlib,
        }
    }

    pub fn slice(&self, span: Span) -> &str {
        span.text(&self.text)
    }
}

/// Parses for the editor. Text being typed at the end of a file often
/// leaves brackets open, which costs the parser the whole enclosing item;
/// closing them at the very end (offsets of the real text are unchanged)
/// keeps that item's tree. The errors are those of the real text.
fn parse_tolerant(text: &str) -> Parsed {
    let parsed = mc_grammar::parse(text);
    if parsed.errors.is_empty() {
        return parsed;
    }
    use mc_grammar::lexer::{lex, Tok};
    let mut open: Vec<&str> = Vec::new();
    for (_, tok, _) in lex(text).tokens {
        match tok {
            Tok::LBrace => open.push("}"),
            Tok::LParen => open.push(")"),
            Tok::LBracket => open.push("]"),
            Tok::RBrace | Tok::RParen | Tok::RBracket => {
                open.pop();
            }
            _ => {}
        }
    }
    if open.is_empty() {
        return parsed;
    }
    let mut patched = String::with_capacity(text.len() + open.len() + 1);
    patched.push_str(text);
    patched.push('\n');
    while let Some(close) = open.pop() {
        patched.push_str(close);
    }
    let mut better = mc_grammar::parse(&patched);
    let broken = |p: &Parsed| {
        p.module
            .items
            .iter()
            .filter(|i| matches!(i, Item::Error(_)))
            .count()
    };
    if broken(&better) < broken(&parsed) {
        better.errors = parsed.errors;
        better.module.span = parsed.module.span;
        better
    } else {
        parsed
    }
}

/// A snapshot of every known file.
#[derive(Clone, Debug, Default)]
pub struct World {
    pub files: HashMap<PathBuf, Arc<FileData>>,
    pub stdlib: Vec<PathBuf>,
    /// Stdlib names, visible in every module.
    pub prelude: Arc<ModuleTable>,
    /// `host`, `facts` and `change`: in scope where the language puts them.
    pub builtins: HashMap<String, Arc<Def>>,
}

impl World {
    /// A world holding the stdlib, whose files live (read-only copies) in
    /// `stdlib_dir` so that "go to definition" can open them.
    pub fn with_stdlib(stdlib_dir: &Path) -> World {
        let mut world = World::default();
        let _ = std::fs::create_dir_all(stdlib_dir);
        let mut prelude = ModuleTable::default();
        for f in mc_stdlib::FILES {
            let name = f.path.rsplit('/').next().unwrap_or(f.path);
            let path = stdlib_dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(f.source) {
                let _ = std::fs::write(&path, f.source);
            }
            let data = FileData::new(path.clone(), Arc::from(f.source), true);
            for (k, v) in &data.table.names {
                prelude.names.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in &data.table.resources {
                prelude
                    .resources
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            for (k, v) in &data.table.params {
                prelude.params.entry(k.clone()).or_insert_with(|| v.clone());
            }
            world.stdlib.push(path.clone());
            world.files.insert(path, Arc::new(data));
        }
        // `facts` points at the stdlib's `Facts` type.
        let facts_type = prelude.names.get("Facts").cloned();
        let builtin = |name: &str, detail: &str, docs: &str, at: Option<&Arc<Def>>| {
            Arc::new(Def {
                file: at.map(|d| d.file.clone()).unwrap_or_default(),
                span: at.map(|d| d.span).unwrap_or_default(),
                name: name.to_string(),
                kind: DefKind::Local,
                detail: detail.to_string(),
                docs: Some(docs.to_string()),
                ty: None,
            })
        };
        world.builtins.insert(
            "host".into(),
            builtin(
                "host",
                "host: { name: String, address: String, groups: [String], vars: { … } }",
                "The host being configured (inside `on`): its inventory name, address, groups, and its vars (its groups' vars overlaid by its own).",
                None,
            ),
        );
        world.builtins.insert(
            "facts".into(),
            builtin(
                "facts",
                "facts: Facts",
                "Facts gathered from the host by `mc plan` (or read from `--facts FILE.json`).",
                facts_type.as_ref(),
            ),
        );
        world.builtins.insert(
            "change".into(),
            builtin(
                "change",
                "change: { resource: …, action: String }",
                "The planned change a policy rule is looking at.",
                None,
            ),
        );
        world.prelude = Arc::new(prelude);
        world
    }

    pub fn file(&self, path: &Path) -> Option<&Arc<FileData>> {
        self.files.get(path)
    }

    /// Sets a file's text and reads, from disk, the files it imports that
    /// are not known yet (transitively).
    pub fn set_text(&mut self, path: PathBuf, text: Arc<str>) {
        let data = Arc::new(FileData::new(path.clone(), text, false));
        self.files.insert(path, data.clone());
        self.load_imports(&data);
    }

    /// Reads imports as the compiler does: `.mc` regular files inside the
    /// project's read scope only (`import "/dev/stdin"` reads nothing).
    fn load_imports(&mut self, data: &FileData) {
        let mut queue: Vec<PathBuf> = data.table.imports.values().cloned().collect();
        let mut scope = None;
        while let Some(p) = queue.pop() {
            if self.files.contains_key(&p) {
                continue;
            }
            let scope = scope.get_or_insert_with(|| read_scope_of(&data.path));
            let read = mc_compiler::fs::read_import(&mc_compiler::OsFileSystem, &p, scope);
            let Some(text) = read.ok().and_then(|b| String::from_utf8(b).ok()) else {
                continue;
            };
            let d = FileData::new(p.clone(), Arc::from(text), false);
            queue.extend(d.table.imports.values().cloned());
            self.files.insert(p, Arc::new(d));
        }
    }

    /// User files (not the stdlib).
    pub fn user_files(&self) -> impl Iterator<Item = &Arc<FileData>> {
        self.files.values().filter(|f| !f.stdlib)
    }

    /// The resource type `name` as seen from `file`.
    pub fn resource(&self, file: &FileData, name: &str) -> Option<Arc<ResourceInfo>> {
        file.table
            .resources
            .get(name)
            .or_else(|| self.prelude.resources.get(name))
            .cloned()
    }
}

/// The read scope of the project `file` belongs to.
fn read_scope_of(file: &Path) -> mc_compiler::fs::ReadScope {
    let entry = crate::compile::entry_for(file);
    let (root, main) = if entry.is_dir() {
        (entry.clone(), entry.join("main.mc"))
    } else {
        let root = entry.parent().map(Path::to_path_buf).unwrap_or_default();
        (root, entry)
    };
    mc_compiler::entry_read_scope(&mc_compiler::OsFileSystem, &root, &main)
}

/// `import "a/b.mc"` relative to the importing file, normalised.
pub fn import_path(from: &Path, rel: &str) -> PathBuf {
    let base = from.parent().unwrap_or(Path::new("/"));
    normalize(&base.join(rel))
}

/// Removes `.` and `..` without touching the file system.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The alias an import binds: its `as` name or the file stem.
pub fn import_alias(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn params_text(text: &str, params: &[mc_grammar::ast::Param]) -> String {
    let parts: Vec<&str> = params.iter().map(|p| p.span.text(text)).collect();
    parts.join(", ")
}

fn literal_values(ty: &TypeExpr) -> Vec<String> {
    match ty {
        TypeExpr::Literal(s) => vec![s.value.clone()],
        TypeExpr::Union(members, _) => members.iter().flat_map(literal_values).collect(),
        TypeExpr::Optional(inner, _) | TypeExpr::Paren(inner, _) => literal_values(inner),
        _ => Vec::new(),
    }
}

fn build_table(path: &Path, text: &str, parsed: &Parsed) -> ModuleTable {
    let mut t = ModuleTable::default();
    let def = |span: Span, name: &str, kind: DefKind, detail: String, docs: Option<&str>| {
        Arc::new(Def {
            file: path.to_path_buf(),
            span,
            name: name.to_string(),
            kind,
            detail,
            docs: docs.map(str::to_string),
            ty: None,
        })
    };
    for item in &parsed.module.items {
        match item {
            Item::Import(imp) => {
                let alias = imp
                    .alias
                    .as_ref()
                    .map_or_else(|| import_alias(&imp.path.value), |a| a.name.clone());
                let span = imp.alias.as_ref().map_or(imp.path.span, |a| a.span);
                let target = import_path(path, &imp.path.value);
                let d = def(
                    span,
                    &alias,
                    DefKind::Import,
                    format!("import \"{}\"", imp.path.value),
                    imp.docs.as_deref(),
                );
                t.names.insert(alias.clone(), d);
                t.imports.insert(alias, target);
            }
            Item::Let(l) => {
                let detail = match &l.ty {
                    Some(ty) => format!("let {}: {}", l.name.name, ty.span().text(text)),
                    None => match crate::infer::literal_type(&l.value) {
                        Some(ty) => format!("let {}: {}", l.name.name, ty),
                        None => format!("let {}", l.name.name),
                    },
                };
                let d = def(
                    l.name.span,
                    &l.name.name,
                    DefKind::Let,
                    detail,
                    l.docs.as_deref(),
                );
                t.names.insert(l.name.name.clone(), d);
            }
            Item::Type(ty) => {
                let detail = format!("type {} = {}", ty.name.name, ty.ty.span().text(text));
                let d = def(
                    ty.name.span,
                    &ty.name.name,
                    DefKind::Type,
                    detail,
                    ty.docs.as_deref(),
                );
                t.names.insert(ty.name.name.clone(), d);
            }
            Item::Fn(f) => {
                let mut detail = format!("fn {}({})", f.name.name, params_text(text, &f.params));
                if let Some(ret) = &f.ret {
                    detail.push_str(" -> ");
                    detail.push_str(ret.span().text(text));
                }
                let d = def(
                    f.name.span,
                    &f.name.name,
                    DefKind::Fn,
                    detail,
                    f.docs.as_deref(),
                );
                t.names.insert(f.name.name.clone(), d);
                t.params
                    .insert(f.name.name.clone(), param_defs(path, text, &f.params));
            }
            Item::Role(r) => {
                let detail = format!("role {}({})", r.name.name, params_text(text, &r.params));
                let d = def(
                    r.name.span,
                    &r.name.name,
                    DefKind::Role,
                    detail,
                    r.docs.as_deref(),
                );
                t.names.insert(r.name.name.clone(), d);
                t.params
                    .insert(r.name.name.clone(), param_defs(path, text, &r.params));
            }
            Item::Resource(r) => {
                let detail = format!("resource {}({})", r.name.name, r.title.span.text(text));
                let d = def(
                    r.name.span,
                    &r.name.name,
                    DefKind::Resource,
                    detail,
                    r.docs.as_deref(),
                );
                t.names.insert(r.name.name.clone(), d.clone());
                let mut attrs = Vec::new();
                let mut literals = HashMap::new();
                for m in &r.members {
                    if let ResourceMember::Attr(a) = m {
                        let ty = a.ty.span().text(text).to_string();
                        let detail = match &a.default {
                            Some(dflt) => {
                                format!("{}: {} = {}", a.name.name, ty, dflt.span().text(text))
                            }
                            None => format!("{}: {}", a.name.name, ty),
                        };
                        let values = literal_values(&a.ty);
                        if !values.is_empty() {
                            literals.insert(a.name.name.clone(), values);
                        }
                        attrs.push(Arc::new(Def {
                            file: path.to_path_buf(),
                            span: a.name.span,
                            name: a.name.name.clone(),
                            kind: DefKind::Attr,
                            detail,
                            docs: a.docs.clone(),
                            ty: Some(ty),
                        }));
                    }
                }
                t.resources.insert(
                    r.name.name.clone(),
                    Arc::new(ResourceInfo {
                        def: d,
                        attrs,
                        literals,
                    }),
                );
            }
            _ => {}
        }
    }
    t
}

fn param_defs(path: &Path, text: &str, params: &[mc_grammar::ast::Param]) -> Vec<Arc<Def>> {
    params
        .iter()
        .map(|p| {
            Arc::new(Def {
                file: path.to_path_buf(),
                span: p.name.span,
                name: p.name.name.clone(),
                kind: DefKind::Param,
                detail: p.span.text(text).to_string(),
                docs: None,
                ty: Some(p.ty.span().text(text).to_string()),
            })
        })
        .collect()
}
