//! Find references: every use in every file of the project, with or
//! without the declaration.

use super::{url, Doc};
use mc_compiler::ide::Analysis;
use std::collections::HashMap;
use tower_lsp::lsp_types::*;

pub fn references(a: &Analysis, doc: &Doc, at: u32, include_decl: bool) -> Vec<Location> {
    let mut docs: HashMap<_, Doc> = HashMap::new();
    let mut out = Vec::new();
    for (file, occ) in a.references(doc.file, at, include_decl) {
        let Some(u) = url(&a.path(file)) else {
            continue;
        };
        let d = docs.entry(file).or_insert_with(|| Doc::new(a, file));
        out.push(Location::new(u, d.range(occ.span)));
    }
    out.dedup();
    out
}
