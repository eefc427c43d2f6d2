//! Inlay hints: `: Type` after the names of `let`s that declare no type,
//! the type the checker inferred (the one that reports E02xx errors); none
//! where it cannot know it before evaluation. Before each positional
//! argument of a call (role, function, stdlib function), the parameter the
//! checker bound it to (`port:`).

use super::Doc;
use mc_compiler::ide::{display_type, walk_stmts, Analysis};
use mc_grammar::ast::{Item, Stmt};
use mc_grammar::Span;
use tower_lsp::lsp_types::*;

pub fn inlay_hints(a: &Analysis, doc: &Doc, within: Range) -> Vec<InlayHint> {
    let mut names: Vec<Span> = Vec::new();
    for item in &a.parsed(doc.file).module.items {
        if let Item::Let(l) = item {
            if l.ty.is_none() {
                names.push(l.name.span);
            }
        }
        walk_stmts(item, &mut |s| {
            if let Stmt::Let(l) = s {
                if l.ty.is_none() {
                    names.push(l.name.span);
                }
            }
        });
    }
    let mut out = Vec::new();
    for (arg, param) in a.argument_params(doc.file) {
        let pos = doc.position(arg.start);
        if pos < within.start || pos > within.end {
            continue;
        }
        out.push(InlayHint {
            position: pos,
            label: InlayHintLabel::String(format!("{param}:")),
            kind: Some(InlayHintKind::PARAMETER),
            text_edits: None,
            tooltip: None,
            padding_left: None,
            padding_right: Some(true),
            data: None,
        });
    }
    for name in names {
        let pos = doc.position(name.end);
        if pos < within.start || pos > within.end {
            continue;
        }
        let Some(ty) = a
            .binding_type(doc.file, name)
            .as_ref()
            .and_then(display_type)
        else {
            continue;
        };
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
    out.sort_by_key(|h| h.position);
    out
}
