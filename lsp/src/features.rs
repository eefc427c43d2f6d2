//! The answers to read-only requests, computed on a [`World`] snapshot.

use crate::compile::BindingType;
use crate::infer;
use crate::resolve::{self, occurrence_at, occurrences, Resolver};
use crate::world::{Def, DefKind, FileData, World};
use mc_diagnostics::LineCol;
use mc_grammar::ast::*;
use mc_grammar::lexer::{lex, Tok};
use mc_grammar::{Span, TriviaKind};
use std::collections::HashMap;
use std::path::Path;
use tower_lsp::lsp_types::*;

/// Attributes every resource accepts, with their meaning.
pub const META_ATTRIBUTES: &[(&str, &str, &str)] = &[
    ("requires", "[Resource]", "Apply after these resources."),
    ("before", "[Resource]", "Apply before these resources."),
    (
        "notify",
        "[Resource]",
        "Apply before these resources and refresh them when this one changes.",
    ),
    (
        "subscribe",
        "[Resource]",
        "Apply after these resources and refresh this one when they change.",
    ),
    ("tags", "[String]", "Tags for `--tags` / `--skip-tags`."),
    ("become", "Bool", "Apply with elevated privileges."),
    ("become_user", "String", "The user to become."),
    ("timeout", "Duration", "Give up applying after this long."),
    ("retries", "Int", "Retry a failed apply this many times."),
    (
        "retry_delay",
        "Duration",
        "Wait this long after the first failed attempt (default 1s).",
    ),
    (
        "retry_backoff",
        "Int",
        "Multiply the wait by this factor after each further failed attempt.",
    ),
    ("risk", "Risk", "Override the resource type's risk level."),
];

pub const KEYWORDS: &[&str] = &[
    "import", "let", "type", "fn", "role", "host", "group", "on", "policy", "when", "resource",
    "check", "assert", "project", "if", "else", "for", "in", "is", "true", "false", "null", "all",
];

// ----------------------------------------------------------------------
// Positions
// ----------------------------------------------------------------------

pub fn position(file: &FileData, offset: u32) -> Position {
    let lc = file.lines.line_col_utf16(&file.text, offset as usize);
    Position::new(lc.line, lc.col)
}

pub fn offset(file: &FileData, pos: Position) -> u32 {
    let o = file.lines.offset_utf16(
        &file.text,
        LineCol {
            line: pos.line,
            col: pos.character,
        },
    );
    u32::try_from(o).unwrap_or(u32::MAX)
}

pub fn range(file: &FileData, span: Span) -> Range {
    Range::new(position(file, span.start), position(file, span.end))
}

pub fn url(path: &Path) -> Option<Url> {
    Url::from_file_path(path).ok()
}

fn location(world: &World, def: &Def) -> Option<Location> {
    let f = world.file(&def.file)?;
    Some(Location::new(url(&def.file)?, range(f, def.span)))
}

fn markdown(value: String) -> MarkupContent {
    MarkupContent {
        kind: MarkupKind::Markdown,
        value,
    }
}

fn def_markdown(def: &Def) -> String {
    let mut s = format!("```mc\n{}\n```", def.detail);
    if let Some(docs) = &def.docs {
        s.push_str("\n\n");
        s.push_str(docs);
    }
    s
}

// ----------------------------------------------------------------------
// Hover, definition, references, rename
// ----------------------------------------------------------------------

/// The checker's type of the name declared at `span` in `file`, when the
/// checker knows it (not `Any`), shortened for display.
fn checked_type(types: &[BindingType], file: &FileData, def: &Def) -> Option<String> {
    if def.file != file.path {
        return None;
    }
    let (_, _, ty) = types
        .iter()
        .find(|(start, end, _)| *start == def.span.start && *end == def.span.end)?;
    (!ty.contains("Any")).then(|| shorten_type(ty))
}

/// Record types can be long (a host's vars): hints and hovers show the
/// start and an ellipsis.
fn shorten_type(ty: &str) -> String {
    const MAX: usize = 60;
    if ty.chars().count() <= MAX {
        return ty.to_string();
    }
    let cut: String = ty.chars().take(MAX).collect();
    format!("{cut}…")
}

pub fn hover(world: &World, file: &FileData, at: u32, types: &[BindingType]) -> Option<Hover> {
    let occ = occurrence_at(world, file, at)?;
    let mut text = def_markdown(&occ.def);
    let binding = matches!(occ.def.kind, DefKind::Let | DefKind::Local | DefKind::Param);
    if let Some(ty) = checked_type(types, file, &occ.def).filter(|_| binding) {
        let keyword = if occ.def.kind == DefKind::Param {
            ""
        } else {
            "let "
        };
        text = format!("```mc\n{keyword}{}: {ty}\n```", occ.def.name);
        if let Some(docs) = &occ.def.docs {
            text.push_str(&format!("\n\n{docs}"));
        }
    }
    if occ.def.kind == DefKind::Resource {
        if let Some(info) = world.resource(file, &occ.def.name) {
            if !info.attrs.is_empty() {
                text.push_str("\n\nAttributes:\n");
                for a in &info.attrs {
                    text.push_str(&format!("\n- `{}`", a.detail));
                }
            }
        }
    }
    Some(Hover {
        contents: HoverContents::Markup(markdown(text)),
        range: Some(range(file, occ.span)),
    })
}

pub fn definition(world: &World, file: &FileData, at: u32) -> Option<Location> {
    // An import path jumps to the imported file.
    for item in &file.parsed.module.items {
        if let Item::Import(imp) = item {
            if imp.path.span.contains(at) {
                let target = crate::world::import_path(&file.path, &imp.path.value);
                return Some(Location::new(url(&target)?, Range::default()));
            }
        }
    }
    let occ = occurrence_at(world, file, at)?;
    location(world, &occ.def)
}

/// Every occurrence of the definition at `at`, in all user files (and the
/// definition itself when asked).
pub fn references(world: &World, file: &FileData, at: u32, include_decl: bool) -> Vec<Location> {
    let Some(occ) = occurrence_at(world, file, at) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut files: Vec<&std::sync::Arc<FileData>> = world.user_files().collect();
    if world.file(&occ.def.file).is_some_and(|f| f.stdlib) {
        files.extend(world.files.values().filter(|f| f.stdlib));
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for f in files {
        let Some(u) = url(&f.path) else { continue };
        for o in occurrences(world, f) {
            if o.def.same(&occ.def) && (include_decl || !o.is_def) {
                out.push(Location::new(u.clone(), range(f, o.span)));
            }
        }
    }
    out.dedup();
    out
}

pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && mc_grammar::lexer::keyword(name).is_none()
}

pub fn prepare_rename(world: &World, file: &FileData, at: u32) -> Option<Range> {
    let occ = occurrence_at(world, file, at)?;
    if world.file(&occ.def.file).is_none_or(|f| f.stdlib) {
        return None;
    }
    // An import without `as` is named by its path; there is nothing to rename.
    if occ.def.kind == DefKind::Import && file.slice(occ.span).starts_with('"') {
        return None;
    }
    Some(range(file, occ.span))
}

pub fn rename(
    world: &World,
    file: &FileData,
    at: u32,
    new_name: &str,
) -> Result<Option<WorkspaceEdit>, String> {
    if !is_valid_name(new_name) {
        return Err(format!("`{new_name}` is not a valid name"));
    }
    let Some(occ) = occurrence_at(world, file, at) else {
        return Ok(None);
    };
    if world.file(&occ.def.file).is_none_or(|f| f.stdlib) {
        return Err(format!(
            "`{}` is defined in the standard library",
            occ.def.name
        ));
    }
    if occ.def.kind == DefKind::Import && file.slice(occ.def.span).starts_with('"') {
        return Err("this import has no alias to rename; add `as NAME`".into());
    }
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    for f in world.user_files() {
        let Some(u) = url(&f.path) else { continue };
        for o in occurrences(world, f) {
            if o.def.same(&occ.def) {
                changes
                    .entry(u.clone())
                    .or_default()
                    .push(TextEdit::new(range(f, o.span), new_name.to_string()));
            }
        }
    }
    for edits in changes.values_mut() {
        edits.sort_by_key(|e| (e.range.start.line, e.range.start.character));
        edits.dedup();
    }
    Ok(Some(WorkspaceEdit {
        changes: Some(changes),
        ..WorkspaceEdit::default()
    }))
}

// ----------------------------------------------------------------------
// Completion
// ----------------------------------------------------------------------

/// What the tokens before the cursor say about where it is.
enum Context {
    /// After `a.b.` (the segments before the dot).
    Member(Vec<String>),
    /// In the body of `TYPE TITLE { … }`, where an attribute name goes.
    ResourceField(String),
    /// After `attr =` in the body of a resource of type `TYPE`.
    ResourceValue(String, String),
    /// In a `host`/`group` body.
    InventoryField(&'static [&'static str]),
    Other,
}

fn context(file: &FileData, at: u32) -> Context {
    let text = &file.text;
    let at_usize = (at as usize).min(text.len());
    let prefix = &text[..mc_diagnostics::floor_char_boundary(text, at_usize)];
    let tokens: Vec<(usize, Tok<'_>, usize)> = lex(prefix).tokens;
    // Drop a partly typed word under the cursor.
    let mut end = tokens.len();
    if let Some((_, Tok::Ident(_), e)) = tokens.last() {
        if *e == prefix.len() {
            end -= 1;
        }
    }
    let toks = &tokens[..end];
    // `a.b.|`
    if let Some((_, Tok::Dot, _)) = toks.last() {
        let mut segs = Vec::new();
        let mut i = toks.len() - 1;
        while i >= 1 {
            match toks[i - 1].1 {
                Tok::Ident(name) => segs.push(name.to_string()),
                _ => break,
            }
            if i >= 2 && toks[i - 2].1 == Tok::Dot {
                i -= 2;
            } else {
                break;
            }
        }
        segs.reverse();
        return Context::Member(segs);
    }
    // The innermost unclosed `{`.
    let mut depth = 0i32;
    let mut open = None;
    for (i, (_, t, _)) in toks.iter().enumerate().rev() {
        match t {
            Tok::RBrace => depth += 1,
            Tok::LBrace => {
                if depth == 0 {
                    open = Some(i);
                    break;
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    let Some(open) = open else {
        return Context::Other;
    };
    // The word before the title: `file "/x" {` or `user name {`.
    let mut j = open;
    if j >= 1 && toks[j - 1].1 == Tok::StrEnd {
        while j >= 1 && !matches!(toks[j - 1].1, Tok::StrStart(_)) {
            j -= 1;
        }
        j = j.saturating_sub(1);
    } else if j >= 1 && matches!(toks[j - 1].1, Tok::Ident(_) | Tok::Int(_)) {
        j -= 1;
    } else {
        return Context::Other;
    }
    let kind = match j.checked_sub(1).map(|k| toks[k].1) {
        Some(Tok::Ident(ty)) => ty,
        _ => return Context::Other,
    };
    match kind {
        "host" => return Context::InventoryField(mc_compiler::resolve::HOST_FIELDS),
        "group" => return Context::InventoryField(mc_compiler::resolve::GROUP_FIELDS),
        _ => {}
    }
    // Inside the body: after `name =` (value) or at a field name.
    let body = &toks[open + 1..];
    let mut k = body.len();
    let mut nesting = 0i32;
    while k > 0 {
        k -= 1;
        match body[k].1 {
            Tok::RBrace | Tok::RBracket | Tok::RParen | Tok::StrEnd => nesting += 1,
            Tok::LBrace | Tok::LBracket | Tok::LParen | Tok::StrStart(_) => nesting -= 1,
            Tok::Eq if nesting == 0 => {
                let line_of_eq = &prefix[body[k].2..];
                if let (true, Some((_, Tok::Ident(attr), _))) = (
                    !line_of_eq.contains('\n'),
                    k.checked_sub(1).map(|x| body[x]),
                ) {
                    return Context::ResourceValue(kind.to_string(), attr.to_string());
                }
                break;
            }
            _ => {}
        }
        if nesting < 0 {
            break;
        }
        if nesting == 0 && prefix[body[k].2..].contains('\n') {
            break;
        }
    }
    Context::ResourceField(kind.to_string())
}

fn item(
    label: &str,
    kind: CompletionItemKind,
    detail: Option<String>,
    docs: Option<&str>,
) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail,
        documentation: docs.map(|d| Documentation::MarkupContent(markdown(d.to_string()))),
        ..CompletionItem::default()
    }
}

fn def_kind(kind: DefKind) -> CompletionItemKind {
    match kind {
        DefKind::Import => CompletionItemKind::MODULE,
        DefKind::Let | DefKind::Local | DefKind::Param => CompletionItemKind::VARIABLE,
        DefKind::Type => CompletionItemKind::STRUCT,
        DefKind::Fn | DefKind::Role => CompletionItemKind::FUNCTION,
        DefKind::Resource => CompletionItemKind::CLASS,
        DefKind::Attr => CompletionItemKind::FIELD,
    }
}

pub fn completion(world: &World, file: &FileData, at: u32) -> Vec<CompletionItem> {
    match context(file, at) {
        Context::Member(segs) => member_completion(world, file, at, &segs),
        Context::ResourceField(ty) => {
            let Some(info) = world.resource(file, &ty) else {
                return names_completion(world, file, at);
            };
            let set = fields_already_set(file, at);
            let mut out: Vec<CompletionItem> = info
                .attrs
                .iter()
                .filter(|a| !set.contains(&a.name))
                .map(|a| {
                    let mut c = item(
                        &a.name,
                        CompletionItemKind::FIELD,
                        a.ty.clone(),
                        a.docs.as_deref(),
                    );
                    c.insert_text = Some(format!("{} = ", a.name));
                    c
                })
                .collect();
            for (name, ty, doc) in META_ATTRIBUTES {
                if !out.iter().any(|c| c.label == *name) && !set.iter().any(|s| s == name) {
                    let mut c = item(
                        name,
                        CompletionItemKind::PROPERTY,
                        Some(ty.to_string()),
                        Some(doc),
                    );
                    c.insert_text = Some(format!("{name} = "));
                    c.sort_text = Some(format!("z{name}"));
                    out.push(c);
                }
            }
            out
        }
        Context::ResourceValue(ty, attr) => {
            let mut out = Vec::new();
            if let Some(values) = world
                .resource(file, &ty)
                .and_then(|i| i.literals.get(&attr).cloned())
            {
                for v in values {
                    let mut c = item(
                        &format!("\"{v}\""),
                        CompletionItemKind::ENUM_MEMBER,
                        Some(attr.clone()),
                        None,
                    );
                    c.filter_text = Some(v.clone());
                    c.sort_text = Some(format!("0{v}"));
                    out.push(c);
                }
            }
            out.extend(names_completion(world, file, at));
            out
        }
        Context::InventoryField(fields) => fields
            .iter()
            .map(|f| {
                let mut c = item(f, CompletionItemKind::FIELD, None, None);
                c.insert_text = Some(format!("{f} = "));
                c
            })
            .collect(),
        Context::Other => names_completion(world, file, at),
    }
}

/// The fields written in the resource body around `at`, except the one
/// being typed there.
fn fields_already_set(file: &FileData, at: u32) -> Vec<String> {
    let mut set = Vec::new();
    for item in &file.parsed.module.items {
        walk_stmts(item, &mut |s| {
            if let Stmt::Resource(r) = s {
                if r.span.start < at && at < r.span.end {
                    set = r
                        .fields
                        .iter()
                        .filter(|f| !(f.name.span.start <= at && at <= f.name.span.end))
                        .map(|f| f.name.name.clone())
                        .collect();
                }
            }
        });
    }
    set
}

fn names_completion(world: &World, file: &FileData, at: u32) -> Vec<CompletionItem> {
    let mut out: Vec<CompletionItem> = resolve::visible_at(world, file, at)
        .into_iter()
        .map(|v| {
            item(
                &v.name,
                def_kind(v.def.kind),
                Some(v.def.detail.clone()),
                v.def.docs.as_deref(),
            )
        })
        .collect();
    for (name, d) in &world.builtins {
        if !out.iter().any(|c| c.label == *name) {
            out.push(item(
                name,
                CompletionItemKind::VARIABLE,
                Some(d.detail.clone()),
                d.docs.as_deref(),
            ));
        }
    }
    for k in KEYWORDS {
        out.push(item(k, CompletionItemKind::KEYWORD, None, None));
    }
    out
}

/// Field names of `host.vars` across the inventory: every `vars` record of
/// every host and group.
fn host_vars(world: &World) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for f in world.user_files() {
        for item in &f.parsed.module.items {
            if let Item::Host(decl) | Item::Group(decl) = item {
                for field in &decl.fields {
                    if field.name.name == "vars" {
                        if let Expr::Record { fields, .. } = &field.value {
                            for v in fields {
                                if !out.iter().any(|(n, _)| *n == v.name.name) {
                                    out.push((v.name.name.clone(), infer::literal_type(&v.value)));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// The fields of the stdlib `Facts` record type at `path` (`[]`, `["os"]`).
fn facts_fields(world: &World, path: &[String]) -> Vec<(String, String)> {
    for p in &world.stdlib {
        let Some(f) = world.file(p) else { continue };
        for item in &f.parsed.module.items {
            if let Item::Type(t) = item {
                if t.name.name == "Facts" {
                    let mut ty = &t.ty;
                    for seg in path {
                        let TypeExpr::Record(fields, _) = ty else {
                            return Vec::new();
                        };
                        match fields.iter().find(|x| x.name.name == *seg) {
                            Some(x) => ty = &x.ty,
                            None => return Vec::new(),
                        }
                    }
                    if let TypeExpr::Record(fields, _) = ty {
                        return fields
                            .iter()
                            .map(|x| (x.name.name.clone(), f.slice(x.ty.span()).to_string()))
                            .collect();
                    }
                }
            }
        }
    }
    Vec::new()
}

fn member_completion(
    world: &World,
    file: &FileData,
    at: u32,
    segs: &[String],
) -> Vec<CompletionItem> {
    let Some(first) = segs.first() else {
        return Vec::new();
    };
    let field =
        |name: &str, detail: Option<String>| item(name, CompletionItemKind::FIELD, detail, None);
    match first.as_str() {
        "host" if segs.len() == 1 => {
            return [
                ("name", "String"),
                ("address", "String"),
                ("groups", "[String]"),
                ("vars", "{ … }"),
            ]
            .iter()
            .map(|(n, t)| field(n, Some(t.to_string())))
            .collect();
        }
        "host" if segs.len() == 2 && segs[1] == "vars" => {
            return host_vars(world)
                .into_iter()
                .map(|(n, t)| field(&n, t))
                .collect();
        }
        "facts" => {
            return facts_fields(world, &segs[1..])
                .into_iter()
                .map(|(n, t)| field(&n, Some(t)))
                .collect();
        }
        _ => {}
    }
    let r = Resolver::new(world, file, Some(at)).run();
    let Some(def) = r.lookup_at_cursor(first) else {
        return Vec::new();
    };
    match def.kind {
        DefKind::Import if segs.len() == 1 => {
            let Some(target) = file.table.imports.get(first).and_then(|p| world.file(p)) else {
                return Vec::new();
            };
            target
                .table
                .names
                .values()
                .filter(|d| d.kind != DefKind::Import)
                .map(|d| {
                    item(
                        &d.name,
                        def_kind(d.kind),
                        Some(d.detail.clone()),
                        d.docs.as_deref(),
                    )
                })
                .collect()
        }
        DefKind::Local | DefKind::Let if segs.len() == 1 => {
            // A record literal bound to the name, or a resource handle.
            if let Some(ty) = &def.ty {
                if let Some(info) = world.resource(file, ty) {
                    return info
                        .attrs
                        .iter()
                        .map(|a| {
                            item(
                                &a.name,
                                CompletionItemKind::FIELD,
                                a.ty.clone(),
                                a.docs.as_deref(),
                            )
                        })
                        .collect();
                }
            }
            record_fields_of(world, &def)
        }
        _ => Vec::new(),
    }
}

/// The fields of the record literal a `let` binds.
fn record_fields_of(world: &World, def: &Def) -> Vec<CompletionItem> {
    let Some(f) = world.file(&def.file) else {
        return Vec::new();
    };
    let mut found: Vec<CompletionItem> = Vec::new();
    let mut visit = |value: &Expr| {
        if let Expr::Record { fields, .. } = value {
            for x in fields {
                let ty = infer::literal_type(&x.value);
                found.push(item(&x.name.name, CompletionItemKind::FIELD, ty, None));
            }
        }
    };
    for it in &f.parsed.module.items {
        if let Item::Let(l) = it {
            if l.name.span == def.span {
                visit(&l.value);
            }
        }
        walk_stmts(it, &mut |s| {
            if let Stmt::Let(l) = s {
                if l.name.span == def.span {
                    visit(&l.value);
                }
            }
        });
    }
    found
}

fn walk_stmts(item: &Item, f: &mut dyn FnMut(&Stmt)) {
    fn block(b: &Block, f: &mut dyn FnMut(&Stmt)) {
        for s in &b.stmts {
            f(s);
            match s {
                Stmt::If(i) => if_stmt(i, f),
                Stmt::For(x) => block(&x.body, f),
                _ => {}
            }
        }
    }
    fn if_stmt(i: &IfStmt, f: &mut dyn FnMut(&Stmt)) {
        block(&i.then_block, f);
        match &i.else_branch {
            Some(ElseBranch::If(n)) => if_stmt(n, f),
            Some(ElseBranch::Block(b)) => block(b, f),
            None => {}
        }
    }
    match item {
        Item::Role(r) => block(&r.body, f),
        Item::On(o) => block(&o.body, f),
        Item::Policy(p) => {
            for w in &p.rules {
                block(&w.body, f);
            }
        }
        _ => {}
    }
}

// ----------------------------------------------------------------------
// Signature help
// ----------------------------------------------------------------------

pub fn signature_help(world: &World, file: &FileData, at: u32) -> Option<SignatureHelp> {
    let text = &file.text;
    let prefix = &text[..mc_diagnostics::floor_char_boundary(text, at as usize)];
    let toks = lex(prefix).tokens;
    // The innermost unclosed `(` and the arguments before the cursor.
    let mut depth = 0i32;
    let mut commas = 0u32;
    let mut open = None;
    let mut named: Option<&str> = None;
    for (i, (_, t, _)) in toks.iter().enumerate().rev() {
        match t {
            Tok::RParen | Tok::RBracket | Tok::RBrace => depth += 1,
            Tok::LParen | Tok::LBracket | Tok::LBrace if depth > 0 => depth -= 1,
            Tok::LParen => {
                open = Some(i);
                break;
            }
            Tok::LBracket | Tok::LBrace => return None,
            Tok::Comma if depth == 0 => commas += 1,
            Tok::Eq if depth == 0 && commas == 0 && named.is_none() => {
                if let Some((_, Tok::Ident(n), _)) = i.checked_sub(1).map(|k| toks[k]) {
                    named = Some(n);
                }
            }
            _ => {}
        }
    }
    let open = open?;
    let mut segs = Vec::new();
    let mut k = open;
    while k >= 1 {
        let Tok::Ident(n) = toks[k - 1].1 else { break };
        segs.push(n.to_string());
        if k >= 2 && toks[k - 2].1 == Tok::Dot {
            k -= 2;
        } else {
            break;
        }
    }
    segs.reverse();
    let r = Resolver::new(world, file, Some(at)).run();
    let mut def = r.lookup_at_cursor(segs.first()?)?;
    if def.kind == DefKind::Import {
        let target = world.file(file.table.imports.get(segs.first()?)?)?;
        def = target.table.names.get(segs.get(1)?)?.clone();
    }
    if !matches!(def.kind, DefKind::Fn | DefKind::Role) {
        return None;
    }
    let params = world
        .file(&def.file)?
        .table
        .params
        .get(&def.name)
        .cloned()
        .unwrap_or_default();
    let active = match named {
        Some(n) => params.iter().position(|p| p.name == n).map(|x| x as u32),
        None => Some(commas),
    };
    Some(SignatureHelp {
        signatures: vec![SignatureInformation {
            label: def.detail.clone(),
            documentation: def
                .docs
                .clone()
                .map(|d| Documentation::MarkupContent(markdown(d))),
            parameters: Some(
                params
                    .iter()
                    .map(|p| ParameterInformation {
                        label: ParameterLabel::Simple(p.detail.clone()),
                        documentation: None,
                    })
                    .collect(),
            ),
            active_parameter: active,
        }],
        active_signature: Some(0),
        active_parameter: active,
    })
}

// ----------------------------------------------------------------------
// Symbols
// ----------------------------------------------------------------------

#[allow(deprecated)]
fn symbol(
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    file: &FileData,
    span: Span,
    sel: Span,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: range(file, span),
        selection_range: range(file, sel),
        children: if children.is_empty() {
            None
        } else {
            Some(children)
        },
    }
}

fn block_symbols(file: &FileData, b: &Block) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for s in &b.stmts {
        match s {
            Stmt::Resource(r) => {
                let name = format!("{} {}", r.ty.name, file.slice(r.title.span()));
                out.push(symbol(
                    name,
                    None,
                    SymbolKind::OBJECT,
                    file,
                    r.span,
                    r.ty.span,
                    Vec::new(),
                ));
            }
            Stmt::Let(l) => out.push(symbol(
                l.name.name.clone(),
                None,
                SymbolKind::VARIABLE,
                file,
                l.span,
                l.name.span,
                Vec::new(),
            )),
            Stmt::If(i) => {
                out.extend(block_symbols(file, &i.then_block));
                let mut e = &i.else_branch;
                while let Some(branch) = e {
                    match branch {
                        ElseBranch::If(n) => {
                            out.extend(block_symbols(file, &n.then_block));
                            e = &n.else_branch;
                        }
                        ElseBranch::Block(b) => {
                            out.extend(block_symbols(file, b));
                            e = &None;
                        }
                    }
                }
            }
            Stmt::For(f) => out.extend(block_symbols(file, &f.body)),
            Stmt::Call(_) | Stmt::Assert(_) | Stmt::Error(_) => {}
        }
    }
    out
}

pub fn document_symbols(file: &FileData) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for item in &file.parsed.module.items {
        let sym = match item {
            Item::Import(i) => symbol(
                file.slice(i.path.span).to_string(),
                None,
                SymbolKind::MODULE,
                file,
                i.span,
                i.path.span,
                Vec::new(),
            ),
            Item::Let(l) => symbol(
                l.name.name.clone(),
                None,
                SymbolKind::VARIABLE,
                file,
                l.span,
                l.name.span,
                Vec::new(),
            ),
            Item::Type(t) => symbol(
                t.name.name.clone(),
                None,
                SymbolKind::STRUCT,
                file,
                t.span,
                t.name.span,
                Vec::new(),
            ),
            Item::Fn(f) => symbol(
                f.name.name.clone(),
                None,
                SymbolKind::FUNCTION,
                file,
                f.span,
                f.name.span,
                Vec::new(),
            ),
            Item::Role(r) => symbol(
                r.name.name.clone(),
                Some("role".into()),
                SymbolKind::FUNCTION,
                file,
                r.span,
                r.name.span,
                block_symbols(file, &r.body),
            ),
            Item::Host(d) => symbol(
                d.name.value.clone(),
                Some("host".into()),
                SymbolKind::OBJECT,
                file,
                d.span,
                d.name.span,
                Vec::new(),
            ),
            Item::Group(d) => symbol(
                d.name.value.clone(),
                Some("group".into()),
                SymbolKind::NAMESPACE,
                file,
                d.span,
                d.name.span,
                Vec::new(),
            ),
            Item::On(o) => symbol(
                format!("on {}", file.slice(o.target.span())),
                None,
                SymbolKind::EVENT,
                file,
                o.span,
                o.target.span(),
                block_symbols(file, &o.body),
            ),
            Item::Policy(p) => symbol(
                p.name.value.clone(),
                Some("policy".into()),
                SymbolKind::INTERFACE,
                file,
                p.span,
                p.name.span,
                Vec::new(),
            ),
            Item::Resource(r) => {
                let children = r
                    .members
                    .iter()
                    .filter_map(|m| match m {
                        ResourceMember::Attr(a) => Some(symbol(
                            a.name.name.clone(),
                            Some(file.slice(a.ty.span()).to_string()),
                            SymbolKind::FIELD,
                            file,
                            a.span,
                            a.name.span,
                            Vec::new(),
                        )),
                        _ => None,
                    })
                    .collect();
                symbol(
                    r.name.name.clone(),
                    Some("resource".into()),
                    SymbolKind::CLASS,
                    file,
                    r.span,
                    r.name.span,
                    children,
                )
            }
            Item::Project(p) => symbol(
                "project".into(),
                None,
                SymbolKind::PACKAGE,
                file,
                p.span,
                p.span,
                Vec::new(),
            ),
            Item::Error(_) => continue,
        };
        out.push(sym);
    }
    out
}

#[allow(deprecated)]
pub fn workspace_symbols(world: &World, query: &str) -> Vec<SymbolInformation> {
    let q = query.to_lowercase();
    let mut out = Vec::new();
    let mut files: Vec<_> = world.user_files().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for f in files {
        let Some(u) = url(&f.path) else { continue };
        for s in document_symbols(f) {
            if s.kind == SymbolKind::MODULE || !s.name.to_lowercase().contains(&q) {
                continue;
            }
            out.push(SymbolInformation {
                name: s.name,
                kind: s.kind,
                tags: None,
                deprecated: None,
                location: Location::new(u.clone(), s.selection_range),
                container_name: None,
            });
        }
    }
    out
}

// ----------------------------------------------------------------------
// Semantic tokens and inlay hints
// ----------------------------------------------------------------------

pub const TOKEN_TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::COMMENT,
    SemanticTokenType::OPERATOR,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::TYPE,
    SemanticTokenType::CLASS,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::NAMESPACE,
];

fn token_index(t: &SemanticTokenType) -> u32 {
    TOKEN_TYPES.iter().position(|x| x == t).unwrap_or(0) as u32
}

pub fn semantic_tokens(world: &World, file: &FileData) -> Vec<SemanticToken> {
    let text = &file.text;
    let occs: HashMap<u32, DefKind> = occurrences(world, file)
        .into_iter()
        .map(|o| (o.span.start, o.def.kind))
        .collect();
    let mut spans: Vec<(Span, u32)> = Vec::new();
    for (s, tok, e) in lex(text).tokens {
        let span = Span::from_usize(s, e);
        let ty = match tok {
            Tok::Ident(_) => match occs.get(&span.start) {
                Some(DefKind::Fn | DefKind::Role) => SemanticTokenType::FUNCTION,
                Some(DefKind::Type) => SemanticTokenType::TYPE,
                Some(DefKind::Resource) => SemanticTokenType::CLASS,
                Some(DefKind::Param) => SemanticTokenType::PARAMETER,
                Some(DefKind::Attr) => SemanticTokenType::PROPERTY,
                Some(DefKind::Import) => SemanticTokenType::NAMESPACE,
                _ => SemanticTokenType::VARIABLE,
            },
            Tok::Int(_) | Tok::Duration(_) => SemanticTokenType::NUMBER,
            Tok::StrStart(_) | Tok::StrText(_) | Tok::StrEnd => SemanticTokenType::STRING,
            Tok::True | Tok::False | Tok::Null => SemanticTokenType::KEYWORD,
            t if t.is_keyword() => SemanticTokenType::KEYWORD,
            Tok::EqEq
            | Tok::NotEq
            | Tok::Lt
            | Tok::Le
            | Tok::Gt
            | Tok::Ge
            | Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::Slash
            | Tok::Percent
            | Tok::Bang
            | Tok::AndAnd
            | Tok::OrOr
            | Tok::QuestionQuestion
            | Tok::Amp
            | Tok::Pipe
            | Tok::Arrow => SemanticTokenType::OPERATOR,
            _ => continue,
        };
        spans.push((span, token_index(&ty)));
    }
    for t in &file.parsed.trivia {
        if t.kind != TriviaKind::BlankLine {
            spans.push((t.span, token_index(&SemanticTokenType::COMMENT)));
        }
    }
    spans.sort_by_key(|(s, _)| s.start);
    // Multi-line tokens are split per line, as most clients require.
    let mut out = Vec::new();
    let (mut prev_line, mut prev_col) = (0u32, 0u32);
    for (span, ty) in spans {
        let mut start = span.start as usize;
        let end = span.end as usize;
        while start < end {
            let line_end = text[start..end].find('\n').map_or(end, |i| start + i);
            if line_end > start {
                let p = file.lines.line_col_utf16(text, start);
                let len: usize = text[start..line_end].chars().map(char::len_utf16).sum();
                let delta_line = p.line - prev_line;
                let delta_start = if delta_line == 0 {
                    p.col - prev_col
                } else {
                    p.col
                };
                out.push(SemanticToken {
                    delta_line,
                    delta_start,
                    length: len as u32,
                    token_type: ty,
                    token_modifiers_bitset: 0,
                });
                prev_line = p.line;
                prev_col = p.col;
            }
            start = line_end + 1;
        }
    }
    out
}

/// `: Type` after each `let` name without a written type whose type the
/// editor can tell.
/// Types after the names of `let`s that declare none: the checker's, else
/// (while a check of the latest edit is pending) what a literal shows.
pub fn inlay_hints(
    world: &World,
    file: &FileData,
    within: Range,
    types: &[BindingType],
) -> Vec<InlayHint> {
    let _ = world;
    let mut out = Vec::new();
    let checked = |name: &Ident| {
        let (_, _, ty) = types
            .iter()
            .find(|(start, end, _)| *start == name.span.start && *end == name.span.end)?;
        (!ty.contains("Any")).then(|| shorten_type(ty))
    };
    let mut hint = |name: &Ident, value: &Expr| {
        let ty = match types.is_empty() {
            true => infer::literal_type(value),
            false => checked(name),
        };
        if let Some(ty) = ty {
            let pos = position(file, name.span.end);
            if pos >= within.start && pos <= within.end {
                out.push(InlayHint {
                    position: pos,
                    label: InlayHintLabel::String(format!(": {ty}")),
                    kind: Some(InlayHintKind::TYPE),
                    text_edits: None,
                    tooltip: None,
                    padding_left: None,
                    padding_right: None,
                    data: None,
                });
            }
        }
    };
    for item in &file.parsed.module.items {
        if let Item::Let(l) = item {
            if l.ty.is_none() {
                hint(&l.name, &l.value);
            }
        }
        walk_stmts(item, &mut |s| {
            if let Stmt::Let(l) = s {
                if l.ty.is_none() {
                    hint(&l.name, &l.value);
                }
            }
        });
    }
    out
}

// ----------------------------------------------------------------------
// Formatting
// ----------------------------------------------------------------------

/// One edit that turns the document into its formatted form, or none when
/// it is formatted (or has syntax errors). With `within`, only when the
/// changed lines touch that range.
pub fn formatting(file: &FileData, within: Option<Range>) -> Vec<TextEdit> {
    if !file.parsed.errors.is_empty() {
        return Vec::new();
    }
    let formatted = mc_fmt::format_parsed(&file.text, &file.parsed, mc_fmt::DEFAULT_WIDTH);
    if formatted == *file.text {
        return Vec::new();
    }
    // The changed region, in whole lines: common prefix and suffix lines.
    let old: Vec<&str> = file.text.split_inclusive('\n').collect();
    let new: Vec<&str> = formatted.split_inclusive('\n').collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();
    let start_line = prefix as u32;
    let end_line = (old.len() - suffix) as u32;
    if let Some(r) = within {
        if r.end.line < start_line || r.start.line > end_line {
            return Vec::new();
        }
    }
    let start_off: usize = old[..prefix].iter().map(|l| l.len()).sum();
    let end_off: usize = file.text.len()
        - old[old.len() - suffix..]
            .iter()
            .map(|l| l.len())
            .sum::<usize>();
    let replacement: String = new[prefix..new.len() - suffix].concat();
    let span = Span::from_usize(start_off, end_off);
    vec![TextEdit::new(range(file, span), replacement)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;
    use std::sync::Arc;

    fn world_with(text: &str) -> (World, Arc<FileData>) {
        let dir = std::env::temp_dir().join(format!("mc-lsp-unit-{}", std::process::id()));
        let mut world = World::with_stdlib(&dir.join("stdlib"));
        let path = dir.join("main.mc");
        world.set_text(path.clone(), Arc::from(text));
        let file = world.file(&path).cloned().expect("file");
        (world, file)
    }

    #[test]
    fn names_resolve_through_scopes() {
        let text = "let x = 1\nrole r(x: Int) {\n  let y = x\n  for x in [y] {\n    let z = x\n  }\n}\nlet w = x\n";
        let (world, file) = world_with(text);
        let def_of = |needle: &str, delta: usize| {
            let at = (text.find(needle).expect("needle") + delta) as u32;
            occurrence_at(&world, &file, at).map(|o| o.def.span.start)
        };
        let param = text.find("x: Int").map(|i| i as u32);
        let for_var = text.find("for x").map(|i| i as u32 + 4);
        assert_eq!(def_of("= x\n  for", 2), param);
        assert_eq!(def_of("z = x", 4), for_var);
        assert_eq!(def_of("w = x", 4), Some(4));
    }

    #[test]
    fn host_and_facts_have_hovers() {
        let text =
            "on all {\n  file \"/x\" {\n    content = \"${host.name} ${facts.kernel}\"\n  }\n}\n";
        let (world, file) = world_with(text);
        let hover_text = |needle: &str| {
            let at = text.find(needle).expect("needle") as u32;
            match hover(&world, &file, at, &[]).map(|h| h.contents) {
                Some(HoverContents::Markup(m)) => m.value,
                _ => String::new(),
            }
        };
        assert!(hover_text("host.name").contains("address: String"));
        assert!(hover_text("facts.kernel").contains("facts: Facts"));
        let def = definition(&world, &file, text.find("facts").expect("facts") as u32)
            .expect("definition");
        assert!(def.uri.path().ends_with("prelude.mc"), "{def:?}");
    }

    #[test]
    fn names_are_validated_for_rename() {
        assert!(is_valid_name("web_2"));
        assert!(is_valid_name("_x"));
        for bad in ["", "2x", "a-b", "role", "let", "a b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
