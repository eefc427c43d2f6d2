//! Go to definition: locals, parameters, items, `alias.name` across
//! imports, an import's path (the module), named arguments, resource types
//! and attributes — into the stdlib's sources too.

use super::{url, Doc};
use mc_compiler::ide::Analysis;
use tower_lsp::lsp_types::*;

pub fn definition(a: &Analysis, doc: &Doc, at: u32) -> Option<Location> {
    let nav = a.goto_definition(doc.file, at)?;
    let range = match nav.file {
        Some(f) if !nav.span.is_empty() => Doc::new(a, f).range(nav.span),
        _ => Range::default(),
    };
    Some(Location::new(url(&nav.path)?, range))
}
