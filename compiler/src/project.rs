//! [`Project`]: the public face of the compiler. Owns the salsa database and
//! the file system it reads through.

use crate::db::{self, Database, ProjectInput, SourceFile};
use crate::diag::{Diag, Level, Loc};
use crate::eval::{merge, Evaluator, HostCtx};
use crate::fs::{normalize, FileSystem, OsFileSystem, ReadError, ReadScope};
use crate::inventory::{self, Inventory};
use crate::program::{item_name, ItemRef, Module, Program};
use crate::value::Value;
use mc_diagnostics::{Diagnostic, Edit, Label, Severity, Suggestion};
use mc_grammar::ast::{Expr, Item, Target};
use mc_grammar::span::Span;
use salsa::{Durability, Setter};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub struct Project {
    /// Behind a lock so that a `Project` can be shared between threads
    /// (salsa's database is `Send` but not `Sync`).
    db: Mutex<Database>,
    fs: Arc<dyn FileSystem>,
    root: PathBuf,
    entry: PathBuf,
    input: ProjectInput,
    /// Absolute path → input, for every user file ever loaded.
    files: BTreeMap<PathBuf, SourceFile>,
    /// Problems found while loading (unreadable entry file).
    load_errors: Vec<Diag>,
    /// Files that are not UTF-8, as lossy text for rendering their diagnostic.
    unreadable: BTreeMap<String, String>,
    /// Derived snapshots, dropped on every change of the inputs.
    cache: Mutex<Cache>,
    /// `--var NAME=VALUE` values for `param` items.
    params: BTreeMap<String, String>,
    /// Where compile-time reads may go (the root and `read_paths`).
    read_scope: ReadScope,
    /// Facts last gathered from each host (the state store's cache), which
    /// `check` evaluates a host with when it has no facts file.
    gathered_facts: BTreeMap<String, serde_json::Value>,
}

/// What `check` reports of one file: past this, the rest are counted, not
/// shown (rustc and tsc stop early the same way).
pub const MAX_DIAGNOSTICS_PER_FILE: usize = 100;

/// The first `max` diagnostics of each file, in order, and for a file with
/// more a W0002 warning (at its last shown one) saying how many were left out.
pub fn cap_per_file(diags: Vec<Diagnostic>, max: usize) -> Vec<Diagnostic> {
    let mut shown: HashMap<String, (usize, Label)> = HashMap::new();
    let mut left_out: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(diags.len().min(max * 4));
    for d in diags {
        let (count, last) = shown
            .entry(d.primary.file.clone())
            .or_insert_with(|| (0, d.primary.clone()));
        if *count < max {
            *count += 1;
            *last = d.primary.clone();
            out.push(d);
        } else {
            *left_out.entry(d.primary.file.clone()).or_default() += 1;
        }
    }
    for (file, n) in left_out {
        let at = shown.get(&file).map(|(_, l)| l.clone());
        if let Some(at) = at {
            out.push(Diagnostic::new(
                Severity::Warning,
                "W0002",
                format!("{n} more diagnostics in {file} not shown (the first {max} are)"),
                Label::new(at.file, at.range).with_message("the last one shown"),
            ));
        }
    }
    out
}

/// Which facts `check` evaluated a host with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactsSource {
    /// `facts/HOST.json` in the project.
    File,
    /// The facts last gathered from the host.
    Gathered,
    /// The defaults of [`Project::default_facts`].
    Default,
}

#[derive(Default)]
struct Cache {
    program: Option<Arc<Program>>,
    front: Option<Arc<Vec<Diagnostic>>>,
    inventory: Option<Arc<(Inventory, Vec<Diag>)>>,
}

impl Project {
    /// Loads a project: `entry` is a directory (its `main.mc` is the entry
    /// file) or a `.mc` file. Imports are followed through `fs`.
    pub fn load(fs: Arc<dyn FileSystem>, entry: &Path) -> Project {
        let entry = normalize(entry);
        let (root, entry_file) = if fs.is_dir(&entry) {
            (entry.clone(), entry.join("main.mc"))
        } else {
            (
                entry.parent().map(Path::to_path_buf).unwrap_or_default(),
                entry.clone(),
            )
        };
        let db = Database::default();
        let stdlib: Vec<SourceFile> = mc_stdlib::FILES
            .iter()
            .map(|f| {
                SourceFile::builder(
                    Arc::from(f.path),
                    PathBuf::from(f.path),
                    Arc::from(f.source),
                )
                .durability(Durability::HIGH)
                .new(&db)
            })
            .collect();
        let input = ProjectInput::new(&db, Vec::new(), stdlib);
        let mut project = Project {
            db: Mutex::new(db),
            fs,
            root,
            entry: entry_file,
            input,
            files: BTreeMap::new(),
            load_errors: Vec::new(),
            unreadable: BTreeMap::new(),
            cache: Mutex::default(),
            params: BTreeMap::new(),
            read_scope: ReadScope::default(),
            gathered_facts: BTreeMap::new(),
        };
        project.discover();
        project
    }

    /// Loads a project from the real file system.
    pub fn load_dir(path: &Path) -> Project {
        // Relative paths such as `.` would normalise to nothing; file names
        // in diagnostics stay relative to the project root either way.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Project::load(Arc::new(OsFileSystem), &path)
    }

    /// The full front end: parse, resolution, types, inventory, and every
    /// host evaluated with its default facts (duplicates, cycles, checks,
    /// vars missing on some host). Ordered by file and position; at most
    /// [`MAX_DIAGNOSTICS_PER_FILE`] per file, then a W0002 saying how many
    /// more there are.
    pub fn check(&self) -> Vec<Diagnostic> {
        cap_per_file(self.check_uncapped(), MAX_DIAGNOSTICS_PER_FILE)
    }

    fn check_uncapped(&self) -> Vec<Diagnostic> {
        let unknown = self.param_errors();
        if !unknown.is_empty() {
            return unknown;
        }
        let guard = self.lock();
        let db: &Database = &guard;
        let front = self.front_end(db);
        if front.iter().any(Diagnostic::is_error) {
            return front.as_ref().clone();
        }
        let mut out = front.as_ref().clone();
        let inv = self.inventory(db);
        if !inv.1.is_empty() {
            out.extend(inv.1.iter().map(to_diagnostic));
            return out;
        }
        let prog = self.program(db);
        let mut seen: HashSet<DedupKey> = HashSet::new();
        let (typed_vars, blamed_uses) = self.check_host_vars(db, &inv.0);
        // A use whose error was moved to the inventory is not reported
        // again by evaluation.
        for loc in blamed_uses {
            let (start, end) = (loc.span.start as usize, loc.span.end as usize);
            seen.insert((
                "E0202".into(),
                loc.file.to_string(),
                start,
                end,
                String::new(),
            ));
        }
        for d in typed_vars {
            if seen.insert(dedup_key(&d)) {
                out.push(to_diagnostic(&d));
            }
        }
        // The same error on many hosts is reported once, naming them.
        let per_host = self.evaluate_all(&prog, &inv.0.hosts);
        let mut found: Vec<(Diag, Vec<&str>)> = Vec::new();
        let mut index: HashMap<DedupKey, usize> = HashMap::new();
        for (diags, h) in per_host.into_iter().zip(&inv.0.hosts) {
            for d in diags {
                let key = dedup_key(&d);
                if let Some(&i) = index.get(&key) {
                    found[i].1.push(&h.info.name);
                } else if seen.insert(key.clone()) {
                    index.insert(key, found.len());
                    found.push((d, vec![&h.info.name]));
                }
            }
        }
        for (d, hosts) in found {
            out.push(to_diagnostic(&naming_hosts(d, &hosts)));
        }
        out
    }

    /// Sets the values of `param` items (`--var NAME=VALUE`), as text that
    /// each param's type reads. Names that are no `param` of the project
    /// are reported by [`Project::param_errors`].
    pub fn set_params(&mut self, params: BTreeMap<String, String>) {
        self.params = params;
        if let Ok(mut c) = self.cache.lock() {
            *c = Cache::default();
        }
    }

    /// The values given with `--var`, for recording in a plan.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// `--var` names that no `param` item declares (E0315).
    pub fn param_errors(&self) -> Vec<Diagnostic> {
        if self.params.is_empty() {
            return Vec::new();
        }
        let guard = self.lock();
        let prog = self.program(&guard);
        let declared: Vec<&str> = prog
            .modules
            .iter()
            .filter(|m| !m.stdlib)
            .flat_map(|m| m.items.iter())
            .filter_map(|(_, item)| match item.as_ref() {
                mc_grammar::ast::Item::Let(l) if l.param => Some(l.name.name.as_str()),
                _ => None,
            })
            .collect();
        let entry_loc = Loc {
            file: Arc::from(self.display_path(&self.entry).as_str()),
            span: Span::empty(0),
        };
        self.params
            .keys()
            .filter(|k| !declared.contains(&k.as_str()))
            .map(|k| {
                let mut d = Diag::error(
                    "E0315",
                    entry_loc.clone(),
                    format!("`--var {k}=…` sets no `param` of this project"),
                )
                .label("unknown parameter");
                d = match crate::suggest::closest(k, declared.iter().copied()) {
                    Some(s) => d.note(format!("did you mean `{s}`?")),
                    None if declared.is_empty() => {
                        d.note("declare it: `param NAME: Type = default`")
                    }
                    None => d.note(format!("params: {}", declared.join(", "))),
                };
                to_diagnostic(&d)
            })
            .collect()
    }

    /// The front end without evaluating hosts: parse errors, resolution,
    /// duplicate definitions, import cycles, unknown target names. Fast and
    /// incremental; what an editor runs on every change.
    pub fn check_front_end(&self) -> Vec<Diagnostic> {
        let guard = self.lock();
        cap_per_file(
            self.front_end(&guard).as_ref().clone(),
            MAX_DIAGNOSTICS_PER_FILE,
        )
    }

    /// The inventory's hosts, in declaration order.
    pub fn hosts(&self) -> Result<Vec<mc_ir::HostInfo>, Vec<Diagnostic>> {
        let guard = self.lock();
        let db: &Database = &guard;
        let front = self.front_end(db);
        if front.iter().any(Diagnostic::is_error) {
            return Err(front.as_ref().clone());
        }
        let inv = self.inventory(db);
        if !inv.1.is_empty() {
            return Err(inv.1.iter().map(to_diagnostic).collect());
        }
        Ok(inv.0.hosts.iter().map(|h| h.info.clone()).collect())
    }

    /// The catalog of one host. `facts` is a JSON object; keys it lacks are
    /// taken from [`Project::default_facts`].
    pub fn compile(
        &self,
        host: &str,
        facts: &serde_json::Value,
    ) -> Result<mc_ir::Catalog, Vec<Diagnostic>> {
        let unknown = self.param_errors();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let guard = self.lock();
        let db: &Database = &guard;
        let front = self.front_end(db);
        if front.iter().any(Diagnostic::is_error) {
            return Err(front.as_ref().clone());
        }
        let inv = self.inventory(db);
        if !inv.1.is_empty() {
            return Err(inv.1.iter().map(to_diagnostic).collect());
        }
        let entry_loc = Loc {
            file: Arc::from(self.display_path(&self.entry).as_str()),
            span: Span::empty(0),
        };
        let Some(h) = inv.0.host(host) else {
            let names: Vec<&str> = inv.0.hosts.iter().map(|h| h.info.name.as_str()).collect();
            // Point at the inventory when there is one.
            let at = inv
                .0
                .hosts
                .first()
                .map(|h| h.loc.clone())
                .unwrap_or_else(|| entry_loc.clone());
            let mut d = Diag::error("E0406", at, format!("no host `{host}` in the inventory"))
                .label("hosts are declared here")
                .note(if names.is_empty() {
                    "the project declares no hosts: add `host \"NAME\" { address = \"…\" }`"
                        .to_string()
                } else {
                    format!("hosts: {}", names.join(", "))
                });
            if let Some(s) = crate::suggest::closest(host, names.iter().copied()) {
                d = d.note(format!("did you mean `{s}`?"));
            }
            return Err(vec![to_diagnostic(&d)]);
        };
        if !facts.is_object() && !facts.is_null() {
            return Err(vec![to_diagnostic(
                &Diag::error("E0407", entry_loc, "facts must be a JSON object")
                    .label("facts given to this project"),
            )]);
        }
        let prog = self.program(db);
        let fleet = inventory::fleet(&inv.0.hosts);
        self.evaluate(&prog, h, facts, &fleet)
            .map_err(|ds| ds.iter().map(to_diagnostic).collect())
    }

    /// The facts `mc check` evaluates with, and that fill in keys missing
    /// from a facts file: a Debian-family x86_64 systemd host.
    pub fn default_facts(host: &mc_ir::HostInfo) -> serde_json::Value {
        let short = host
            .name
            .split('.')
            .next()
            .unwrap_or(&host.name)
            .to_string();
        // Same shape as the facts the runner gathers.
        let mut interfaces = serde_json::Map::new();
        interfaces.insert(
            "lo".into(),
            serde_json::json!({ "mac": "00:00:00:00:00:00", "addresses": ["127.0.0.1/8"] }),
        );
        if host.address.parse::<std::net::Ipv4Addr>().is_ok() {
            interfaces.insert(
                "eth0".into(),
                serde_json::json!({
                    "mac": "02:00:00:00:00:01",
                    "addresses": [format!("{}/24", host.address)]
                }),
            );
        }
        serde_json::json!({
            "os": {
                "family": "debian",
                "distro": "ubuntu",
                "version": "24.04",
                "pretty_name": "Ubuntu 24.04 LTS",
                "arch": "x86_64"
            },
            "kernel": "6.8.0",
            "hostname": short,
            "fqdn": host.name,
            "cpus": 2,
            "memory_mb": 2048,
            "init": "systemd",
            "pkg_manager": "apt",
            "interfaces": interfaces,
        })
    }

    /// SHA-256 (hex) over every loaded source file, stdlib included, in
    /// path order: equal for equal sources.
    pub fn source_digest(&self) -> String {
        let guard = self.lock();
        let db: &Database = &guard;
        let mut files: Vec<(String, Arc<str>)> = self
            .all_files(db)
            .into_iter()
            .map(|f| (f.path(db).to_string(), f.text(db).clone()))
            .collect();
        files.sort();
        let mut h = Sha256::new();
        for (path, text) in files {
            h.update(path.as_bytes());
            h.update([0]);
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        // Command-line values change what the sources compile to.
        for (name, value) in &self.params {
            h.update(b"--var\0");
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((value.len() as u64).to_le_bytes());
            h.update(value.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Renders diagnostics for a terminal, with the sources of this project.
    pub fn render(&self, diags: &[Diagnostic], color: bool) -> String {
        let sources = self.sources();
        mc_diagnostics::render_all(diags, &sources, color)
    }

    // ------------------------------------------------------------------
    // For the language server and tools
    // ------------------------------------------------------------------

    /// The salsa database (read-only queries, snapshots via `clone`).
    /// A handle on the salsa database for read-only queries. Each clone
    /// is a snapshot that blocks writers until dropped.
    pub fn database(&self) -> Database {
        self.lock().clone()
    }

    /// Starts recording salsa events (tests of incremental reuse).
    pub fn enable_event_log(&self) {
        self.lock().enable_event_log();
    }

    /// The salsa events recorded since the last call.
    pub fn take_events(&self) -> Vec<salsa::Event> {
        self.lock().take_events()
    }

    /// The name of the query an event is about (`check_item`, …), if any.
    pub fn event_query_name(&self, event: &salsa::Event) -> Option<String> {
        use salsa::Database as _;
        let key = match event.kind {
            salsa::EventKind::WillExecute { database_key }
            | salsa::EventKind::DidValidateMemoizedValue { database_key } => database_key,
            _ => return None,
        };
        Some(
            self.lock()
                .ingredient_debug_name(key.ingredient_index())
                .into_owned(),
        )
    }

    /// Whether the file at `path` is in the entry's import graph.
    pub fn in_graph(&self, path: &Path) -> bool {
        let Some(f) = self.files.get(&normalize(path)) else {
            return false;
        };
        let db = self.lock();
        self.input.files(&*db).contains(f)
    }

    pub(crate) fn input(&self) -> ProjectInput {
        self.input
    }

    /// Every user file loaded, by absolute path (also files outside the
    /// entry's import graph that an editor set).
    pub(crate) fn file_map(&self) -> BTreeMap<PathBuf, SourceFile> {
        self.files.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Database> {
        // A panic while holding the lock leaves the database consistent
        // (salsa unwinds cleanly), so a poisoned lock is still usable.
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The syntax trees of the project's own files (not the stdlib), by
    /// display name, as the database already parsed them.
    pub fn modules(&self) -> Vec<(String, Arc<mc_grammar::ast::Module>)> {
        let guard = self.lock();
        let db: &Database = &guard;
        self.input
            .files(db)
            .iter()
            .map(|f| {
                (
                    f.path(db).to_string(),
                    db::parse_file(db, *f).module.clone(),
                )
            })
            .collect()
    }

    /// Every loaded file: (path as shown in messages, absolute path).
    pub fn files(&self) -> Vec<(String, PathBuf)> {
        let guard = self.lock();
        let db: &Database = &guard;
        self.input
            .files(db)
            .iter()
            .map(|f| (f.path(db).to_string(), f.fs_path(db).clone()))
            .collect()
    }

    /// Sources by the path messages use (user files and stdlib).
    pub fn sources(&self) -> BTreeMap<String, String> {
        let guard = self.lock();
        let db: &Database = &guard;
        let mut sources: BTreeMap<String, String> = self
            .all_files(db)
            .into_iter()
            .map(|f| (f.path(db).to_string(), f.text(db).to_string()))
            .collect();
        sources.extend(self.unreadable.clone());
        sources
    }

    /// The checked type of every name the file at `path` binds (`let`s and
    /// parameters), by the name's byte span, as mc writes types: what an
    /// editor shows on hover and as inlay hints. Empty for a file outside
    /// the project.
    pub fn binding_types(&self, path: &Path) -> Vec<(Span, String)> {
        let Some(file) = self.files.get(&normalize(path)).copied() else {
            return Vec::new();
        };
        let db = self.lock();
        db::binding_types(&*db, self.input, file)
    }

    /// Replaces the text of a file (an editor buffer), loading it if new,
    /// and follows imports again.
    pub fn set_file_text(&mut self, path: &Path, text: String) {
        let path = normalize(path);
        let shown = self.display_path(&path);
        let db = self.db.get_mut().unwrap_or_else(|e| e.into_inner());
        match self.files.get(&path) {
            Some(f) => {
                let f = *f;
                if f.text(db).as_ref() != text {
                    f.set_text(db).to(Arc::from(text));
                }
            }
            None => {
                let f =
                    SourceFile::new(db, Arc::from(shown.as_str()), path.clone(), Arc::from(text));
                self.files.insert(path, f);
            }
        }
        self.discover();
    }

    /// Reads a file again from the file system (after a change on disk).
    pub fn reload_file(&mut self, path: &Path) {
        let read = self.fs.read_in(path, &self.read_scope).ok();
        if let Some(text) = read.and_then(|b| String::from_utf8(b).ok()) {
            self.set_file_text(path, text);
        } else {
            // Gone from disk: forget it, so importing it is an error again.
            self.files.remove(&normalize(path));
            self.discover();
        }
    }

    // ------------------------------------------------------------------

    fn display_path(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    }

    fn all_files(&self, db: &Database) -> Vec<SourceFile> {
        let mut v = self.input.files(db).clone();
        v.extend(self.input.stdlib(db).iter().copied());
        v
    }

    /// Finds the files reachable from the entry through imports, reading
    /// the ones not loaded yet, and stores the set in the database. The
    /// entry file's `project { read_paths }` sets where reads may go.
    fn discover(&mut self) {
        self.load_errors.clear();
        self.unreadable.clear();
        self.read_scope = ReadScope::new(&self.root, []);
        let mut order: Vec<SourceFile> = Vec::new();
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut queue: VecDeque<(PathBuf, Option<Loc>)> =
            VecDeque::from([(self.entry.clone(), None)]);
        while let Some((p, site)) = queue.pop_front() {
            if !seen.insert(p.clone()) {
                continue;
            }
            let Some(file) = self.load_source(&p, site) else {
                continue;
            };
            order.push(file);
            let db = self.db.get_mut().unwrap_or_else(|e| e.into_inner());
            let module = &db::parse_file(db, file).module;
            let shown = file.path(db).clone();
            if p == self.entry {
                let (extra, errors) = read_paths(&module.items, &shown, true);
                self.read_scope = ReadScope::new(&self.root, extra);
                self.load_errors.extend(errors);
            } else {
                let (_, errors) = read_paths(&module.items, &shown, false);
                self.load_errors.extend(errors);
            }
            for item in &module.items {
                if let Item::Import(imp) = item {
                    let site = Loc {
                        file: shown.clone(),
                        span: imp.path.span,
                    };
                    queue.push_back((db::import_fs_path(&p, &imp.path.value), Some(site)));
                }
            }
        }
        let db = self.db.get_mut().unwrap_or_else(|e| e.into_inner());
        if self.input.files(db) != &order {
            self.input.set_files(db).to(order);
        }
        if let Ok(mut c) = self.cache.lock() {
            *c = Cache::default();
        }
    }

    /// The source file at `p`, read through the read scope when not loaded
    /// yet. `site` is the import naming it (`None` for the entry file).
    fn load_source(&mut self, p: &Path, site: Option<Loc>) -> Option<SourceFile> {
        if let Some(f) = self.files.get(p) {
            return Some(*f);
        }
        let shown = self.display_path(p);
        let read = match site {
            Some(_) => crate::fs::read_import(self.fs.as_ref(), p, &self.read_scope),
            None => self.fs.read_in(p, &self.read_scope),
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            // A missing import is reported where it is imported (E0101).
            Err(ReadError::Io(e)) if site.is_some() && e.kind() == std::io::ErrorKind::NotFound => {
                return None
            }
            Err(e) => {
                self.load_errors
                    .push(self.unreadable_source(&shown, site, &e));
                return None;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                self.load_errors
                    .push(not_utf8(&shown, e.utf8_error().valid_up_to()));
                // Its text is never shown: it is not mc.
                self.unreadable.insert(shown, String::new());
                return None;
            }
        };
        let db = self.db.get_mut().unwrap_or_else(|e| e.into_inner());
        let f = SourceFile::new(
            db,
            Arc::from(shown.as_str()),
            p.to_path_buf(),
            Arc::from(text),
        );
        self.files.insert(p.to_path_buf(), f);
        Some(f)
    }

    /// E0308 at the import that names an unreadable file, or E0101 for an
    /// entry file that cannot be read.
    fn unreadable_source(&self, shown: &str, site: Option<Loc>, e: &ReadError) -> Diag {
        match site {
            Some(loc) => crate::eval::read_refused(loc, shown, e),
            None => Diag::error(
                "E0101",
                Loc {
                    file: Arc::from(shown),
                    span: Span::empty(0),
                },
                format!("cannot read `{shown}`: {e}"),
            )
            .label("entry file")
            .note("a project is a directory with a `main.mc`, or a single `.mc` file"),
        }
    }

    /// Adds a "did you mean" to a missing import from the `.mc` files that
    /// sit in the directory the import points into. Done here rather than in
    /// the resolver because only the loader may look at the file system.
    fn suggest_import(&self, db: &Database, files: &[SourceFile], d: Diag) -> Diag {
        let Some(importer) = files.iter().find(|f| **f.path(db) == *d.loc.file) else {
            return d;
        };
        let text = importer.text(db);
        let Some(literal) = text.get(d.loc.span.start as usize..d.loc.span.end as usize) else {
            return d;
        };
        let written = literal.trim_matches('"');
        let target = db::import_fs_path(importer.fs_path(db), written);
        let (Some(dir), Some(wanted)) = (target.parent(), target.file_name()) else {
            return d;
        };
        let candidates: Vec<String> = self
            .fs
            .list_mc_files(dir)
            .iter()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let Some(close) = mc_diagnostics::did_you_mean(
            &wanted.to_string_lossy(),
            candidates.iter().map(String::as_str),
        ) else {
            return d;
        };
        let fixed = match written.rfind('/') {
            Some(slash) => format!("{}/{close}", &written[..slash]),
            None => close.to_string(),
        };
        let loc = d.loc.clone();
        d.fix(
            loc,
            format!("\"{fixed}\""),
            format!("did you mean `{fixed}`?"),
        )
    }

    /// Parse errors, resolution and project-wide checks (no evaluation).
    fn front_end(&self, db: &Database) -> Arc<Vec<Diagnostic>> {
        if let Some(f) = self.cache.lock().ok().and_then(|c| c.front.clone()) {
            return f;
        }
        let mut out: Vec<Diagnostic> = self.load_errors.iter().map(to_diagnostic).collect();
        let files = self.input.files(db).clone();
        let mut diags: Vec<Diag> = Vec::new();
        for f in &files {
            out.extend(db::parse_file(db, *f).errors.iter().cloned());
            diags.extend(db::check_file(db, self.input, *f));
        }
        // An import refused by the read scope is E0308, not also "not found".
        let refused: HashSet<(Arc<str>, u32)> = self
            .load_errors
            .iter()
            .filter(|d| d.code == "E0308")
            .map(|d| (d.loc.file.clone(), d.loc.span.start))
            .collect();
        diags.retain(|d| {
            d.code != "E0101" || !refused.contains(&(d.loc.file.clone(), d.loc.span.start))
        });
        for d in diags
            .iter_mut()
            .filter(|d| d.code == "E0101" && d.fix.is_none())
        {
            *d = self.suggest_import(db, &files, d.clone());
        }
        diags.extend(self.duplicate_definitions(db, &files));
        diags.extend(self.import_cycles(db, &files));
        if !diags.iter().any(|d| d.level == Level::Error) && !out.iter().any(Diagnostic::is_error) {
            diags.extend(self.target_names(db));
        }
        diags.sort_by(|a, b| (&a.loc.file, a.loc.span.start).cmp(&(&b.loc.file, b.loc.span.start)));
        out.extend(diags.iter().map(to_diagnostic));
        let out = Arc::new(out);
        if let Ok(mut c) = self.cache.lock() {
            c.front = Some(out.clone());
        }
        out
    }

    fn duplicate_definitions(&self, db: &Database, files: &[SourceFile]) -> Vec<Diag> {
        let mut out = Vec::new();
        for f in files {
            let path = f.path(db).clone();
            let mut seen: HashMap<String, Span> = HashMap::new();
            for (offset, item) in db::items_of(db, *f) {
                let Some(name) = item_name(&item) else {
                    continue;
                };
                let span = Span::new(name.span.start + offset, name.span.end + offset);
                if let Some(first) = seen.get(&name.name) {
                    out.push(
                        Diag::error(
                            "E0106",
                            Loc::new(&path, span),
                            format!("`{}` is defined twice in this module", name.name),
                        )
                        .label("defined again here")
                        .secondary(Loc::new(&path, *first), "first defined here"),
                    );
                } else {
                    seen.insert(name.name.clone(), span);
                }
            }
        }
        out
    }

    fn import_cycles(&self, db: &Database, files: &[SourceFile]) -> Vec<Diag> {
        // Edges with the import statement that makes them.
        let mut edges: HashMap<SourceFile, Vec<(SourceFile, Loc)>> = HashMap::new();
        for f in files {
            let path = f.path(db).clone();
            for (offset, item) in db::items_of(db, *f) {
                if let Item::Import(imp) = item.as_ref() {
                    if let Some(t) = db::resolve_import(db, self.input, *f, &imp.path.value) {
                        let span =
                            Span::new(imp.path.span.start + offset, imp.path.span.end + offset);
                        edges
                            .entry(*f)
                            .or_default()
                            .push((t, Loc::new(&path, span)));
                    }
                }
            }
        }
        let mut out = Vec::new();
        let mut reported: HashSet<Vec<SourceFile>> = HashSet::new();
        for start in files {
            // DFS from each file looking for a path back to it.
            let mut stack: Vec<(SourceFile, usize, ImportPath)> = vec![(*start, 0, Vec::new())];
            let mut visited: HashSet<SourceFile> = HashSet::new();
            while let Some((node, i, path)) = stack.pop() {
                let next = edges.get(&node).and_then(|e| e.get(i)).cloned();
                let Some((to, loc)) = next else { continue };
                stack.push((node, i + 1, path.clone()));
                let mut p = path.clone();
                p.push((node, loc));
                if to == *start {
                    let mut members: Vec<SourceFile> = p.iter().map(|(f, _)| *f).collect();
                    members.sort_by_key(|f| f.path(db).clone());
                    if reported.insert(members) {
                        let names: Vec<String> =
                            p.iter().map(|(f, _)| f.path(db).to_string()).collect();
                        let mut d = Diag::error(
                            "E0102",
                            p[0].1.clone(),
                            format!("import cycle: {} → {}", names.join(" → "), names[0]),
                        )
                        .label("this import starts the cycle");
                        for (_, l) in p.iter().skip(1) {
                            d = d.secondary(l.clone(), "which imports");
                        }
                        out.push(d.note("move what both modules need into a third module that neither imports back"));
                    }
                    continue;
                }
                if visited.insert(to) {
                    stack.push((to, 0, p));
                }
            }
        }
        out
    }

    /// Checks each `on` block whose hosts are known before evaluation with
    /// `host.vars` typed as the merge of those hosts' vars, so a wrong use
    /// of a var is found even in a branch no host takes.
    /// The `on` blocks checked with `host.vars` typed from the hosts they
    /// target; also the uses whose errors were moved to the inventory.
    fn check_host_vars(&self, db: &Database, inv: &Inventory) -> (Vec<Diag>, Vec<Loc>) {
        let mut out = Vec::new();
        let mut blamed_uses = Vec::new();
        for f in self.input.files(db).iter().copied() {
            for (index, (start, item)) in db::items_of(db, f).into_iter().enumerate() {
                let Item::On(on) = item.as_ref() else {
                    continue;
                };
                let mut targeted = Vec::new();
                let mut known = true;
                for h in &inv.hosts {
                    match selects(&on.target, &h.info) {
                        Some(true) => targeted.push(h),
                        Some(false) => {}
                        None => known = false,
                    }
                }
                if !known || targeted.is_empty() {
                    continue;
                }
                let vars = crate::resolve::vars_type(targeted.iter().map(|h| &h.vars));
                let path = f.path(db).clone();
                let at = crate::types::Origin {
                    file: f,
                    item: index as u32,
                    start: 0,
                };
                for d in crate::resolve::check_on_block(db, self.input, at, &path, &item, vars) {
                    let d = db::shift(d, start);
                    match self.blame_inventory(db, (at, start, &item), &targeted, inv, &d) {
                        Some(blamed) => {
                            if blamed.loc != d.loc {
                                blamed_uses.push(d.loc);
                            }
                            out.push(blamed);
                        }
                        None => out.push(d),
                    }
                }
            }
        }
        (out, blamed_uses)
    }

    /// A type error at `host.vars.NAME` is a mistake in the inventory: the
    /// diagnostic goes to the hosts whose `NAME` has the wrong type (each
    /// host checked alone finds it), and the use becomes a secondary label.
    /// `on` is the block's origin, start and item; `d` is in file positions.
    fn blame_inventory(
        &self,
        db: &Database,
        on: (crate::types::Origin, u32, &Item),
        targeted: &[&inventory::HostEntry],
        inv: &Inventory,
        d: &Diag,
    ) -> Option<Diag> {
        let (at, start, item) = on;
        let f = at.file;
        if d.code != "E0202" {
            return None;
        }
        let span = d.loc.span.start as usize..d.loc.span.end as usize;
        let text: String = f.text(db).get(span)?.split_whitespace().collect();
        let name = text.strip_prefix("host.vars.")?;
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        let path = f.path(db).clone();
        let culprits: Vec<&inventory::HostEntry> = targeted
            .iter()
            .copied()
            .filter(|h| {
                let alone = crate::resolve::vars_type([&h.vars]);
                crate::resolve::check_on_block(db, self.input, at, &path, item, alone)
                    .into_iter()
                    .any(|x| x.code == d.code && db::shift(x, start).loc.span == d.loc.span)
            })
            .collect();
        let first = culprits.first()?;
        let hosts: Vec<String> = culprits
            .iter()
            .map(|h| format!("`{}`", h.info.name))
            .collect();
        let value = match &first.vars {
            Value::Record(m) => m.get(name),
            _ => None,
        };
        // The group the value comes from, when a group sets this very value
        // (later groups win, so the last such group).
        let group = first.info.groups.iter().rev().find_map(|g| {
            let (vars, loc) = inv.groups.get(g.as_str())?;
            match vars {
                Value::Record(m) if m.get(name) == value => Some((g, loc)),
                _ => None,
            }
        });
        let (loc, whose) = match group {
            Some((g, loc)) => (loc.clone(), format!("group `{g}`")),
            None => (first.loc.clone(), "this host".to_string()),
        };
        // A role's parameter is a contract the inventory must meet (as an
        // Ansible role's argument spec): the var is wrong. An attribute
        // may just need the var converted: the use stays the error there.
        if !d.message.starts_with("mismatched types in argument") {
            let mut d = d.clone();
            let hosts = hosts.join(", ");
            d.secondary
                .push((loc, format!("{whose} sets `{name}` for {hosts}")));
            return Some(d);
        }
        let blamed = Diag::error(
            "E0202",
            loc,
            format!(
                "var `{name}` of host {} does not fit where it is used",
                hosts.join(", ")
            ),
        )
        .label(format!(
            "{whose} sets `{name}`, which does not fit: {}",
            d.label
        ))
        .secondary(d.loc.clone(), format!("`host.vars.{name}` used here"));
        Some(blamed.note(format!("the use: {}", d.message)))
    }

    /// `host("x")` / `group("y")` in targets must name inventory entries.
    fn target_names(&self, db: &Database) -> Vec<Diag> {
        let inv = self.inventory(db);
        let hosts: Vec<&str> = inv.0.hosts.iter().map(|h| h.info.name.as_str()).collect();
        let groups = inv.0.group_names();
        let prog = self.program(db);
        let mut out = Vec::new();
        for (fi, m) in prog.user_modules() {
            for (offset, item) in &m.items {
                if let Item::On(on) = item.as_ref() {
                    let before = out.len();
                    check_target(&prog, fi, *offset, &on.target, &hosts, &groups, &mut out);
                    let selects_none = !inv.0.hosts.is_empty()
                        && inv
                            .0
                            .hosts
                            .iter()
                            .all(|h| selects(&on.target, &h.info) == Some(false));
                    if out.len() == before && selects_none {
                        let loc = prog.loc(fi, *offset, on.target.span());
                        out.push(
                            Diag::error("W0001", loc, "this `on` block selects no host")
                                .label("no host of the inventory matches")
                                .note("its resources are in no catalog; check the target's host and group names"),
                        );
                    }
                }
            }
        }
        out
    }

    fn inventory(&self, db: &Database) -> Arc<(Inventory, Vec<Diag>)> {
        if let Some(i) = self.cache.lock().ok().and_then(|c| c.inventory.clone()) {
            return i;
        }
        let prog = self.program(db);
        let inv = Arc::new(inventory::evaluate(&prog, self.fs.as_ref()));
        if let Ok(mut c) = self.cache.lock() {
            c.inventory = Some(inv.clone());
        }
        inv
    }

    /// What policies evaluate with: the evaluation snapshot of the current
    /// inputs and the file system compile-time reads go through.
    pub(crate) fn evaluation_inputs(&self) -> (Arc<Program>, Arc<dyn FileSystem>) {
        let guard = self.lock();
        (self.program(&guard), self.fs.clone())
    }

    /// The evaluation snapshot of the current inputs.
    pub(crate) fn program(&self, db: &Database) -> Arc<Program> {
        if let Some(p) = self.cache.lock().ok().and_then(|c| c.program.clone()) {
            return p;
        }
        let files = self.all_files(db);
        let index: HashMap<SourceFile, usize> =
            files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
        let stdlib: HashSet<SourceFile> = self.input.stdlib(db).iter().copied().collect();
        let mut prog = Program {
            params: self.params.clone(),
            read_scope: self.read_scope.clone(),
            ..Program::default()
        };
        for f in &files {
            prog.modules.push(Module {
                path: f.path(db).clone(),
                fs_path: f.fs_path(db).clone(),
                text: f.text(db).clone(),
                items: db::items_of(db, *f),
                stdlib: stdlib.contains(f),
                line_starts: db::line_starts(db, *f).clone(),
                globals: (0..db::file_items(db, *f).len())
                    .map(|i| {
                        db::item_globals(db, self.input, db::ItemKey::new(db, *f, i as u32)).clone()
                    })
                    .collect(),
                source: *f,
            });
        }
        for (fi, f) in files.iter().enumerate() {
            if stdlib.contains(f) {
                for (n, (_, i)) in &db::module_summary(db, self.input, *f).names {
                    prog.prelude.entry(n.clone()).or_insert(ItemRef {
                        file: fi,
                        item: *i as usize,
                    });
                }
            }
        }
        prog.module_of = index;
        let prog = Arc::new(prog);
        if let Ok(mut c) = self.cache.lock() {
            c.program = Some(prog.clone());
        }
        prog
    }

    /// The project's `project { … }` settings, and what is wrong with them
    /// (also reported by `mc check`, E0504).
    pub fn settings(&self) -> (crate::settings::Settings, Vec<Diagnostic>) {
        let mut settings = crate::settings::Settings::default();
        let mut errors = Vec::new();
        for (shown, module) in self.modules() {
            for item in module.items.iter() {
                if let Item::Project(p) = item {
                    let file: Arc<str> = Arc::from(shown.as_str());
                    let diags = settings.read(&p.fields, |span| Loc::new(&file, span));
                    errors.extend(diags.iter().map(to_diagnostic));
                }
            }
        }
        (settings, errors)
    }

    /// Evaluates every host with its default facts, on as many threads as
    /// the machine has (hosts are independent), results in host order.
    /// The host's facts file, `facts/HOST.json` in the project, which
    /// `mc check` evaluates the host with (keys it lacks keep their
    /// defaults), so an error only a RedHat host reaches is caught.
    fn facts_file(&self, host: &mc_ir::HostInfo) -> Result<Option<serde_json::Value>, Box<Diag>> {
        let path = self.root.join("facts").join(format!("{}.json", host.name));
        let read = self.fs.read_in(&path, &self.read_scope).ok();
        let Some(text) = read.and_then(|b| String::from_utf8(b).ok()) else {
            return Ok(None);
        };
        let loc = Loc {
            file: Arc::from(self.display_path(&path).as_str()),
            span: Span::empty(0),
        };
        let problem = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.is_object() => return Ok(Some(v)),
            Ok(_) => "facts must be a JSON object".to_string(),
            Err(e) => format!("facts file does not parse: {e}"),
        };
        Err(Box::new(
            Diag::error("E0407", loc, problem).label("this facts file"),
        ))
    }

    /// Sets the facts last gathered from each host, by host name.
    pub fn set_gathered_facts(&mut self, facts: BTreeMap<String, serde_json::Value>) {
        self.gathered_facts = facts;
    }

    /// The facts `check` evaluates `host` with: its facts file, else the
    /// facts last gathered from it, else the defaults.
    fn facts_for(
        &self,
        host: &mc_ir::HostInfo,
    ) -> Result<(serde_json::Value, FactsSource), Box<Diag>> {
        if let Some(f) = self.facts_file(host)? {
            return Ok((f, FactsSource::File));
        }
        Ok(match self.gathered_facts.get(&host.name) {
            Some(f) if f.is_object() => (f.clone(), FactsSource::Gathered),
            _ => (Project::default_facts(host), FactsSource::Default),
        })
    }

    /// Which facts `check` evaluates each host with, in inventory order.
    pub fn facts_sources(&self) -> Vec<(String, FactsSource)> {
        let Ok(hosts) = self.hosts() else {
            return Vec::new();
        };
        hosts
            .iter()
            .map(|h| {
                let source = self.facts_for(h).map_or(FactsSource::File, |(_, s)| s);
                (h.name.clone(), source)
            })
            .collect()
    }

    fn evaluate_all(&self, prog: &Program, hosts: &[inventory::HostEntry]) -> Vec<Vec<Diag>> {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, hosts.len().max(1));
        let fleet = inventory::fleet(hosts);
        let run = |h: &inventory::HostEntry| {
            let facts = match self.facts_for(&h.info) {
                Ok((f, _)) => f,
                Err(d) => return vec![*d],
            };
            self.evaluate(prog, h, &facts, &fleet)
                .err()
                .unwrap_or_default()
        };
        if workers == 1 {
            return hosts.iter().map(run).collect();
        }
        let chunk = hosts.len().div_ceil(workers);
        std::thread::scope(|scope| {
            let handles: Vec<_> = hosts
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(run).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    }

    fn evaluate(
        &self,
        prog: &Program,
        h: &inventory::HostEntry,
        facts: &serde_json::Value,
        fleet: &Arc<Vec<Value>>,
    ) -> Result<mc_ir::Catalog, Vec<Diag>> {
        let defaults = Value::from_json(&Project::default_facts(&h.info));
        let facts = if facts.is_null() {
            defaults
        } else {
            merge(&defaults, &Value::from_json(facts))
        };
        let ctx = HostCtx {
            info: h.info.clone(),
            vars: h.vars.clone(),
            facts,
            fleet: fleet.clone(),
        };
        let mut ev = Evaluator::new(prog, self.fs.as_ref(), Some(ctx));
        ev.run_host();
        if !ev.diags.is_empty() {
            return Err(ev.diags);
        }
        crate::catalog::build(h.info.clone(), ev.resources)
    }
}

/// Whether a target selects a host, when that is known before evaluation
/// (names written as plain strings).
fn selects(t: &Target, h: &mc_ir::HostInfo) -> Option<bool> {
    crate::stack::guard(|| match t {
        Target::All(_) => Some(true),
        Target::Host { name, .. } | Target::Group { name, .. } => {
            let Expr::Str(s) = name.as_ref() else {
                return None;
            };
            let v = s.as_plain()?;
            Some(if matches!(t, Target::Host { .. }) {
                h.name == v
            } else {
                h.groups.contains(&v)
            })
        }
        Target::And(a, b, _) => match (selects(a, h), selects(b, h)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Target::Or(a, b, _) => match (selects(a, h), selects(b, h)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Target::Not(a, _) => selects(a, h).map(|x| !x),
        Target::Paren(a, _) => selects(a, h),
        Target::Error(_) => None,
    })
}

/// Files along an import chain, each with the import that leaves it.
type ImportPath = Vec<(SourceFile, Loc)>;

fn check_target(
    prog: &Program,
    fi: usize,
    offset: u32,
    t: &Target,
    hosts: &[&str],
    groups: &[String],
    out: &mut Vec<Diag>,
) {
    crate::stack::guard(|| check_target_inner(prog, fi, offset, t, hosts, groups, out))
}

fn check_target_inner(
    prog: &Program,
    fi: usize,
    offset: u32,
    t: &Target,
    hosts: &[&str],
    groups: &[String],
    out: &mut Vec<Diag>,
) {
    match t {
        Target::Host { name, .. } | Target::Group { name, .. } => {
            let Expr::Str(s) = name.as_ref() else { return };
            let Some(value) = s.as_plain() else { return };
            let is_host = matches!(t, Target::Host { .. });
            let known: Vec<&str> = if is_host {
                hosts.to_vec()
            } else {
                groups.iter().map(String::as_str).collect()
            };
            if !known.contains(&value.as_str()) {
                let loc = prog.loc(fi, offset, s.span);
                let (code, what) = if is_host {
                    ("E0402", "host")
                } else {
                    ("E0403", "group")
                };
                let quoted: Vec<String> = known.iter().map(|k| format!("{k:?}")).collect();
                out.push(
                    Diag::error(
                        code,
                        loc.clone(),
                        format!("no {what} `{value}` in the inventory"),
                    )
                    .label(format!("this {what} is not declared"))
                    .did_you_mean(
                        loc,
                        &format!("{value:?}"),
                        quoted.iter().map(String::as_str),
                    ),
                );
            }
        }
        Target::And(a, b, _) | Target::Or(a, b, _) => {
            check_target(prog, fi, offset, a, hosts, groups, out);
            check_target(prog, fi, offset, b, hosts, groups, out);
        }
        Target::Not(a, _) | Target::Paren(a, _) => {
            check_target(prog, fi, offset, a, hosts, groups, out)
        }
        Target::All(_) | Target::Error(_) => {}
    }
}

/// The neutral diagnostic for a compiler diagnostic.
pub fn to_diagnostic(d: &Diag) -> Diagnostic {
    let mut primary = Label::new(d.loc.file.to_string(), d.loc.span.range());
    if !d.label.is_empty() {
        primary = primary.with_message(&d.label);
    }
    let severity = match d.level {
        Level::Error => Severity::Error,
        Level::Warning => Severity::Warning,
    };
    let mut out = Diagnostic::new(severity, d.code, &d.message, primary);
    for (loc, msg) in &d.secondary {
        out = out
            .with_secondary(Label::new(loc.file.to_string(), loc.span.range()).with_message(msg));
    }
    for n in &d.notes {
        out = out.with_note(n);
    }
    if let Some(f) = &d.fix {
        out = out.with_suggestion(Suggestion {
            message: f.message.clone(),
            edits: vec![Edit {
                file: f.loc.file.to_string(),
                range: f.loc.span.range(),
                replacement: f.replacement.clone(),
            }],
        });
    }
    out
}

/// The read scope of the project in `root` whose entry file is `entry`:
/// the one [`Project::load`] uses, without loading the project.
pub fn entry_read_scope(fs: &dyn FileSystem, root: &Path, entry: &Path) -> ReadScope {
    let base = ReadScope::new(root, []);
    let Some(text) = fs
        .read_in(entry, &base)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return base;
    };
    let items = mc_grammar::parse(&text).module.items;
    let (extra, _) = read_paths(&items, &Arc::from(""), true);
    ReadScope::new(root, extra)
}

/// The folders a `project { read_paths = ["…", …] }` item of the entry file
/// adds to the read scope (relative to the project root, or absolute), and
/// E0316 for a malformed setting or one outside the entry file.
fn read_paths(items: &[Item], shown: &Arc<str>, is_entry: bool) -> (Vec<PathBuf>, Vec<Diag>) {
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    let fields = items
        .iter()
        .filter_map(|i| match i {
            Item::Project(p) => Some(p.fields.iter()),
            _ => None,
        })
        .flatten()
        .filter(|f| f.name.name == "read_paths");
    for f in fields {
        let loc = Loc {
            file: shown.clone(),
            span: f.value.span(),
        };
        if !is_entry {
            errors.push(
                Diag::error("E0316", loc, "`read_paths` is set in the entry file only")
                    .label("not the entry file")
                    .note("only the project's `main.mc` may widen what the compiler reads"),
            );
            continue;
        }
        match literal_strings(&f.value) {
            Some(list) => paths.extend(list.into_iter().map(PathBuf::from)),
            None => errors.push(
                Diag::error("E0316", loc, "`read_paths` must be a list of quoted paths")
                    .label("not a list of plain strings")
                    .note("write `read_paths = [\"../shared\"]`; paths are relative to the project folder"),
            ),
        }
    }
    (paths, errors)
}

/// The strings of a list literal of plain strings (no interpolation).
fn literal_strings(e: &Expr) -> Option<Vec<String>> {
    let Expr::List { items, .. } = e else {
        return None;
    };
    items
        .iter()
        .map(|i| match i {
            Expr::Str(s) => s.as_plain().filter(|p| !p.is_empty() && !p.contains('\0')),
            _ => None,
        })
        .collect()
}

/// E0026 for a source that is not UTF-8: where, never what.
fn not_utf8(shown: &str, offset: usize) -> Diag {
    Diag::error(
        mc_grammar::errors::codes::INVALID_UTF8,
        Loc {
            file: Arc::from(shown),
            span: Span::empty(0),
        },
        format!("file is not valid UTF-8 (byte {offset})"),
    )
    .label("this file")
    .note("mc sources are UTF-8 text; re-encode the file (e.g. with `iconv -t UTF-8`)")
}

/// What makes two diagnostics the same report: code, place, and for a
/// failed assertion (which names its host) the message.
type DedupKey = (String, String, usize, usize, String);

fn dedup_key(d: &Diag) -> DedupKey {
    let host_specific = d.code == "E0314";
    (
        d.code.to_string(),
        d.loc.file.to_string(),
        d.loc.span.start as usize,
        d.loc.span.end as usize,
        if host_specific {
            d.message.clone()
        } else {
            String::new()
        },
    )
}

/// Adds which hosts an evaluation error happened on (the first few).
fn naming_hosts(d: Diag, hosts: &[&str]) -> Diag {
    const SHOWN: usize = 5;
    if d.code == "E0314" || hosts.is_empty() {
        return d;
    }
    let names: Vec<String> = hosts.iter().take(SHOWN).map(|h| format!("`{h}`")).collect();
    let more = match hosts.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let noun = if hosts.len() == 1 { "host" } else { "hosts" };
    d.note(format!("on {noun} {}{more}", names.join(", ")))
}
