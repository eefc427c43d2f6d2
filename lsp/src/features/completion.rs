//! Completion: names in scope and keywords; in a resource body its
//! attributes, then the meta-attributes; after `attr =` the values of a
//! literal-union attribute; after `.` the members of an imported module,
//! `host` fields, `host.vars` keys, `facts` fields, a record's fields and a
//! bound resource's attributes; in `host`/`group` bodies the inventory
//! fields. Where the cursor is comes from the tokens before it; what is
//! there comes from the IDE layer.

use super::{completion_kind, markdown, Doc};
use mc_compiler::eval::META_ATTRIBUTES;
use mc_compiler::ide::{display_type, walk_stmts, Analysis, DefKind, BUILTINS};
use mc_compiler::types::Type;
use mc_grammar::ast::Stmt;
use mc_grammar::lexer::{lex, Tok};
use tower_lsp::lsp_types::*;

/// Words the grammar reads in one place only, offered beside the
/// language's keywords (`mc_grammar::lexer::KEYWORDS`): `host`/`group` start
/// inventory items, `all` is a target. `builtin` is the stdlib's alone.
const CONTEXTUAL_WORDS: &[&str] = &["host", "group", "all"];

fn keywords() -> impl Iterator<Item = &'static str> {
    mc_grammar::lexer::KEYWORDS
        .iter()
        .copied()
        .filter(|k| *k != "builtin")
        .chain(CONTEXTUAL_WORDS.iter().copied())
}

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

fn context(a: &Analysis, doc: &Doc, at: u32) -> Context {
    let text = &doc.text;
    let at_usize = (at as usize).min(text.len());
    let prefix = &text[..mc_diagnostics::floor_char_boundary(text, at_usize)];
    let mut tokens: Vec<(usize, Tok<'_>, usize)> = lex(prefix).tokens;
    // The lexer closes a string or `${` still open where the prefix ends
    // with empty tokens there; the cursor is before them.
    while tokens
        .last()
        .is_some_and(|&(s, _, e)| s == e && e == prefix.len())
    {
        tokens.pop();
    }
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
    let kind = if j >= 1 && toks[j - 1].1 == Tok::StrEnd {
        while j >= 1 && !matches!(toks[j - 1].1, Tok::StrStart(_)) {
            j -= 1;
        }
        j = j.saturating_sub(1);
        word_before(toks, j)
    } else if j >= 1 && matches!(toks[j - 1].1, Tok::Ident(_) | Tok::Int(_)) {
        word_before(toks, j - 1)
    } else {
        // A title written as an expression (`file conf_path(s) {`): the
        // parse knows which statement the brace opens.
        resource_opened_at(a, doc, toks[open].0 as u32)
    };
    let Some(kind) = kind else {
        return Context::Other;
    };
    let kind = kind.as_str();
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

/// The identifier just before token `j`.
fn word_before(toks: &[(usize, Tok<'_>, usize)], j: usize) -> Option<String> {
    match j.checked_sub(1).map(|k| toks[k].1) {
        Some(Tok::Ident(ty)) => Some(ty.to_string()),
        _ => None,
    }
}

/// The type of the resource statement whose body opens with the `{` at
/// `brace`.
fn resource_opened_at(a: &Analysis, doc: &Doc, brace: u32) -> Option<String> {
    let mut found = None;
    for item in &a.parsed(doc.file).module.items {
        walk_stmts(item, &mut |s| {
            if let Stmt::Resource(r) = s {
                let after_title = doc.text.get(r.title.span().end as usize..brace as usize);
                if after_title.is_some_and(|t| t.trim().is_empty()) {
                    found = Some(r.ty.name.clone());
                }
            }
        });
    }
    found
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

pub fn completion(a: &Analysis, doc: &Doc, at: u32) -> Vec<CompletionItem> {
    match context(a, doc, at) {
        Context::Member(segs) => member_completion(a, doc, at, &segs),
        Context::ResourceField(ty) => {
            let Some(info) = a.resource(doc.file, &ty) else {
                return names_completion(a, doc, at);
            };
            let set = fields_already_set(a, doc, at);
            let mut out: Vec<CompletionItem> = info
                .attrs
                .iter()
                .filter(|attr| !set.contains(&attr.name))
                .map(|attr| {
                    let d = a.describe(attr);
                    let mut c = item(&d.name, CompletionItemKind::FIELD, d.ty, d.docs.as_deref());
                    c.insert_text = Some(format!("{} = ", d.name));
                    c
                })
                .collect();
            for (name, ty, docs) in META_ATTRIBUTES {
                if !out.iter().any(|c| c.label == *name) && !set.iter().any(|s| s == name) {
                    let mut c = item(
                        name,
                        CompletionItemKind::PROPERTY,
                        Some(ty.to_string()),
                        Some(docs),
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
            if let Some(values) = a
                .resource(doc.file, &ty)
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
            out.extend(names_completion(a, doc, at));
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
        Context::Other => names_completion(a, doc, at),
    }
}

/// The fields written in the resource body around `at`, except the one
/// being typed there.
fn fields_already_set(a: &Analysis, doc: &Doc, at: u32) -> Vec<String> {
    let mut set = Vec::new();
    for item in &a.parsed(doc.file).module.items {
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

fn names_completion(a: &Analysis, doc: &Doc, at: u32) -> Vec<CompletionItem> {
    let mut out: Vec<CompletionItem> = a
        .scope_at(doc.file, at)
        .into_iter()
        .map(|e| {
            let d = a.describe(&e.def);
            item(
                &e.name,
                completion_kind(d.kind),
                Some(d.detail),
                d.docs.as_deref(),
            )
        })
        .collect();
    for name in BUILTINS {
        if !out.iter().any(|c| c.label == *name) {
            let d = a.describe_builtin(name);
            out.push(item(
                name,
                CompletionItemKind::VARIABLE,
                Some(d.detail),
                d.docs.as_deref(),
            ));
        }
    }
    for k in keywords() {
        out.push(item(k, CompletionItemKind::KEYWORD, None, None));
    }
    out
}

fn member_completion(a: &Analysis, doc: &Doc, at: u32, segs: &[String]) -> Vec<CompletionItem> {
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
            return a
                .host_var_names()
                .into_iter()
                .map(|(n, t)| field(&n, t))
                .collect();
        }
        "facts" => {
            let path: Vec<&str> = segs[1..].iter().map(String::as_str).collect();
            return a
                .facts_fields(&path)
                .into_iter()
                .map(|(n, t)| field(&n, Some(t)))
                .collect();
        }
        _ => {}
    }
    if segs.len() != 1 {
        return Vec::new();
    }
    let Some(entry) = a
        .scope_at(doc.file, at)
        .into_iter()
        .find(|e| e.name == *first)
    else {
        return Vec::new();
    };
    if entry.def.kind == DefKind::Import {
        return a
            .members(doc.file, first)
            .iter()
            .map(|m| {
                let d = a.describe(m);
                item(
                    &d.name,
                    completion_kind(d.kind),
                    Some(d.detail),
                    d.docs.as_deref(),
                )
            })
            .collect();
    }
    // The checker's type of the name: a record's fields, a resource's
    // attributes.
    let ty = entry.ty.or_else(|| {
        let file = entry.def.file?;
        a.binding_type(file, entry.def.span)
    });
    match ty {
        Some(Type::Record(fields)) => fields
            .iter()
            .filter(|f| f.name != mc_compiler::resolve::OPEN_FIELD)
            .map(|f| field(&f.name, display_type(&f.ty)))
            .collect(),
        Some(Type::Handle(rt)) => match a.resource(doc.file, &rt) {
            Some(info) => info
                .attrs
                .iter()
                .map(|attr| {
                    let d = a.describe(attr);
                    item(&d.name, CompletionItemKind::FIELD, d.ty, d.docs.as_deref())
                })
                .collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}
