//! Inlay hints: `: Type` after the names of `let`s that declare no type,
//! the type the checker inferred (the one that reports E02xx errors); none
//! where it cannot know it before evaluation. Before each positional
//! argument of a role call, the parameter it binds (`port:`).

use super::Doc;
use mc_compiler::ide::{display_type, walk_stmts, Analysis, DefKind};
use mc_grammar::ast::{Item, Stmt};
use mc_grammar::Span;
use tower_lsp::lsp_types::*;

pub fn inlay_hints(a: &Analysis, doc: &Doc, within: Range) -> Vec<InlayHint> {
    let mut names: Vec<Span> = Vec::new();
    // (where the callee's name is, the positional arguments' starts)
    let mut calls: Vec<(Span, Vec<Span>)> = Vec::new();
    for item in &a.parsed(doc.file).module.items {
        if let Item::Let(l) = item {
            if l.ty.is_none() {
                names.push(l.name.span);
            }
        }
        walk_stmts(item, &mut |s| match s {
            Stmt::Let(l) if l.ty.is_none() => names.push(l.name.span),
            Stmt::Call(c) => {
                let positional: Vec<Span> = c
                    .args
                    .iter()
                    .filter(|x| x.name.is_none())
                    .map(|x| x.value.span())
                    .collect();
                if let (Some(last), false) = (c.callee.segments.last(), positional.is_empty()) {
                    calls.push((last.span, positional));
                }
            }
            _ => {}
        });
    }
    let mut out = Vec::new();
    for (callee, args) in calls {
        let Some(occ) = a.occurrence_at(doc.file, callee.start) else {
            continue;
        };
        if occ.def.kind != DefKind::Role {
            continue;
        }
        for (arg, (param, _)) in args.iter().zip(a.parameters(&occ.def)) {
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
