//! Hover: the declaration of the name under the cursor with its docs; for
//! a binding, the type the checker gave it; for a resource type, its
//! attributes.

use super::{def_markdown, markdown, Doc};
use mc_compiler::ide::{display_type, Analysis, DefKind};
use tower_lsp::lsp_types::*;

pub fn hover(a: &Analysis, doc: &Doc, at: u32) -> Option<Hover> {
    let occ = a.occurrence_at(doc.file, at)?;
    let def = a.describe(&occ.def);
    let mut text = def_markdown(&def);
    let binding = matches!(def.kind, DefKind::Let | DefKind::Local | DefKind::Param);
    let checked = occ.ty.as_ref().and_then(display_type).or_else(|| {
        let file = occ.def.file?;
        display_type(&a.binding_type(file, occ.def.span)?)
    });
    if let Some(ty) = checked.filter(|_| binding) {
        let keyword = if def.kind == DefKind::Param {
            ""
        } else {
            "let "
        };
        text = format!("```mc\n{keyword}{}: {ty}\n```", def.name);
        if let Some(docs) = &def.docs {
            text.push_str(&format!("\n\n{docs}"));
        }
    }
    if def.kind == DefKind::Resource {
        if let Some(info) = a.resource(doc.file, &def.name) {
            if !info.attrs.is_empty() {
                text.push_str("\n\nAttributes:\n");
                for attr in &info.attrs {
                    text.push_str(&format!("\n- `{}`", a.describe(attr).detail));
                }
            }
        }
    }
    Some(Hover {
        contents: HoverContents::Markup(markdown(text)),
        range: Some(doc.range(occ.span)),
    })
}
