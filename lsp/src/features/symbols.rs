//! Document symbols (items, with the resources and `let`s of roles and
//! `on` blocks and the attributes of resource types as children) and
//! workspace symbols (items of every file of the project, by substring).

use super::{url, Doc};
use mc_compiler::ide::Analysis;
use mc_grammar::ast::*;
use mc_grammar::Span;
use tower_lsp::lsp_types::*;

#[allow(deprecated)]
fn symbol(
    name: String,
    detail: Option<String>,
    kind: SymbolKind,
    doc: &Doc,
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
        range: doc.range(span),
        selection_range: doc.range(sel),
        children: if children.is_empty() {
            None
        } else {
            Some(children)
        },
    }
}

fn block_symbols(doc: &Doc, b: &Block) -> Vec<DocumentSymbol> {
    let mut out = Vec::new();
    for s in &b.stmts {
        match s {
            Stmt::Resource(r) => {
                let name = format!("{} {}", r.ty.name, doc.slice(r.title.span()));
                out.push(symbol(
                    name,
                    None,
                    SymbolKind::OBJECT,
                    doc,
                    r.span,
                    r.ty.span,
                    Vec::new(),
                ));
            }
            Stmt::Let(l) => out.push(symbol(
                l.name.name.clone(),
                None,
                SymbolKind::VARIABLE,
                doc,
                l.span,
                l.name.span,
                Vec::new(),
            )),
            Stmt::If(i) => {
                out.extend(block_symbols(doc, &i.then_block));
                let mut e = &i.else_branch;
                while let Some(branch) = e {
                    match branch {
                        ElseBranch::If(n) => {
                            out.extend(block_symbols(doc, &n.then_block));
                            e = &n.else_branch;
                        }
                        ElseBranch::Block(b) => {
                            out.extend(block_symbols(doc, b));
                            e = &None;
                        }
                    }
                }
            }
            Stmt::For(f) => out.extend(block_symbols(doc, &f.body)),
            Stmt::Call(_) | Stmt::Assert(_) | Stmt::Error(_) => {}
        }
    }
    out
}

pub fn document_symbols(a: &Analysis, doc: &Doc) -> Vec<DocumentSymbol> {
    use SymbolKind as K;
    let mut out = Vec::new();
    for item in &a.parsed(doc.file).module.items {
        let named = |name: &Ident, kind| (name.name.clone(), None, kind, name.span);
        let titled = |name: &StrLit, what: &str, kind| {
            (name.value.clone(), Some(what.to_string()), kind, name.span)
        };
        let (name, detail, kind, sel) = match item {
            Item::Import(i) => (
                doc.slice(i.path.span).to_string(),
                None,
                K::MODULE,
                i.path.span,
            ),
            Item::Let(l) => named(&l.name, K::VARIABLE),
            Item::Type(t) => named(&t.name, K::STRUCT),
            Item::Fn(f) => named(&f.name, K::FUNCTION),
            Item::Role(r) => (
                r.name.name.clone(),
                Some("role".into()),
                K::FUNCTION,
                r.name.span,
            ),
            Item::Host(d) => titled(&d.name, "host", K::OBJECT),
            Item::Group(d) => titled(&d.name, "group", K::NAMESPACE),
            Item::On(o) => {
                let target = o.target.span();
                (format!("on {}", doc.slice(target)), None, K::EVENT, target)
            }
            Item::Policy(p) => titled(&p.name, "policy", K::INTERFACE),
            Item::Resource(r) => (
                r.name.name.clone(),
                Some("resource".into()),
                K::CLASS,
                r.name.span,
            ),
            Item::Project(p) => ("project".into(), None, K::PACKAGE, p.span),
            Item::Error(_) => continue,
        };
        let children = match item {
            Item::Role(r) => block_symbols(doc, &r.body),
            Item::On(o) => block_symbols(doc, &o.body),
            Item::Resource(r) => r
                .members
                .iter()
                .filter_map(|m| match m {
                    ResourceMember::Attr(a) => Some(symbol(
                        a.name.name.clone(),
                        Some(doc.slice(a.ty.span()).to_string()),
                        K::FIELD,
                        doc,
                        a.span,
                        a.name.span,
                        Vec::new(),
                    )),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        out.push(symbol(name, detail, kind, doc, item.span(), sel, children));
    }
    out
}

#[allow(deprecated)]
pub fn workspace_symbols(analyses: &[Analysis], query: &str) -> Vec<SymbolInformation> {
    let q = query.to_lowercase();
    let mut files = Vec::new();
    for a in analyses {
        for f in a.project_files() {
            files.push((a.path(f), a, f));
        }
    }
    files.sort_by(|x, y| x.0.cmp(&y.0));
    files.dedup_by(|x, y| x.0 == y.0);
    let mut out = Vec::new();
    for (path, a, f) in files {
        let Some(u) = url(&path) else { continue };
        let doc = Doc::new(a, f);
        for s in document_symbols(a, &doc) {
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
