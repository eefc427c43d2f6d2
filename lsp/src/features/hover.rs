//! Hover: the declaration of the name under the cursor with its docs; for
//! a binding, the type the checker gave it; for a resource type, its
//! attributes; for a field read (`s.port`), the field's checked type.

use super::{def_markdown, markdown, Doc};
use mc_compiler::ide::{display_type, Analysis, DefKind};
use tower_lsp::lsp_types::*;

pub fn hover(a: &Analysis, doc: &Doc, at: u32) -> Option<Hover> {
    let Some(occ) = a.occurrence_at(doc.file, at) else {
        return field_hover(a, doc, at);
    };
    // A binding without a written type reads with the checker's type
    // (`let names: [String]`); a written type and a parameter read as
    // declared (`tier: Tier = "dev"`).
    let def = a.describe(&occ.def);
    let mut text = def_markdown(&def);
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

/// A field read (`s.port`): its name and the checker's type of it.
fn field_hover(a: &Analysis, doc: &Doc, at: u32) -> Option<Hover> {
    let (span, ty) = a.field_at(doc.file, at)?;
    let name = span.text(&doc.text);
    let ty = display_type(&ty)?;
    Some(Hover {
        contents: HoverContents::Markup(markdown(format!("```mc\n{name}: {ty}\n```"))),
        range: Some(doc.range(span)),
    })
}
