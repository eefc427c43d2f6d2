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
    let mut out = Vec::new();
    for item in &a.parsed(doc.file).module.items {
        let sym = match item {
            Item::Import(i) => symbol(
                doc.slice(i.path.span).to_string(),
                None,
                SymbolKind::MODULE,
                doc,
                i.span,
                i.path.span,
                Vec::new(),
            ),
            Item::Let(l) => symbol(
                l.name.name.clone(),
                None,
                SymbolKind::VARIABLE,
                doc,
                l.span,
                l.name.span,
                Vec::new(),
            ),
            Item::Type(t) => symbol(
                t.name.name.clone(),
                None,
                SymbolKind::STRUCT,
                doc,
                t.span,
                t.name.span,
                Vec::new(),
            ),
            Item::Fn(f) => symbol(
                f.name.name.clone(),
                None,
                SymbolKind::FUNCTION,
                doc,
                f.span,
                f.name.span,
                Vec::new(),
            ),
            Item::Role(r) => symbol(
                r.name.name.clone(),
                Some("role".into()),
                SymbolKind::FUNCTION,
                doc,
                r.span,
                r.name.span,
                block_symbols(doc, &r.body),
            ),
            Item::Host(d) => symbol(
                d.name.value.clone(),
                Some("host".into()),
                SymbolKind::OBJECT,
                doc,
                d.span,
                d.name.span,
                Vec::new(),
            ),
            Item::Group(d) => symbol(
                d.name.value.clone(),
                Some("group".into()),
                SymbolKind::NAMESPACE,
                doc,
                d.span,
                d.name.span,
                Vec::new(),
            ),
            Item::On(o) => symbol(
                format!("on {}", doc.slice(o.target.span())),
                None,
                SymbolKind::EVENT,
                doc,
                o.span,
                o.target.span(),
                block_symbols(doc, &o.body),
            ),
            Item::Policy(p) => symbol(
                p.name.value.clone(),
                Some("policy".into()),
                SymbolKind::INTERFACE,
                doc,
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
                            Some(doc.slice(a.ty.span()).to_string()),
                            SymbolKind::FIELD,
                            doc,
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
                    doc,
                    r.span,
                    r.name.span,
                    children,
                )
            }
            Item::Project(p) => symbol(
                "project".into(),
                None,
                SymbolKind::PACKAGE,
                doc,
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
