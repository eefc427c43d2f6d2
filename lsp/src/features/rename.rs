//! Rename: every module at once; refuses keywords and invalid names, names
//! from the stdlib, and imports without `as`.

use super::{url, Doc};
use mc_compiler::ide::{Analysis, DefKind};
use std::collections::HashMap;
use tower_lsp::lsp_types::*;

pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && mc_grammar::lexer::keyword(name).is_none()
}

pub fn prepare_rename(a: &Analysis, doc: &Doc, at: u32) -> Option<Range> {
    let occ = a.occurrence_at(doc.file, at)?;
    if occ.def.file.is_none_or(|f| a.is_stdlib(f)) {
        return None;
    }
    // An import without `as` is named by its path; there is nothing to rename.
    if occ.def.kind == DefKind::Import && doc.slice(occ.span).starts_with('"') {
        return None;
    }
    Some(doc.range(occ.span))
}

pub fn rename(
    a: &Analysis,
    doc: &Doc,
    at: u32,
    new_name: &str,
) -> Result<Option<WorkspaceEdit>, String> {
    if !is_valid_name(new_name) {
        return Err(format!("`{new_name}` is not a valid name"));
    }
    let Some(occ) = a.occurrence_at(doc.file, at) else {
        return Ok(None);
    };
    let Some(def_file) = occ.def.file.filter(|f| !a.is_stdlib(*f)) else {
        return Err(format!(
            "`{}` is defined in the standard library",
            occ.def.name
        ));
    };
    if occ.def.kind == DefKind::Import && Doc::new(a, def_file).slice(occ.def.span).starts_with('"')
    {
        return Err("this import has no alias to rename; add `as NAME`".into());
    }
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    let mut docs: HashMap<_, Doc> = HashMap::new();
    for (file, o) in a.references_to(&occ.def.clone(), doc.file, true) {
        let Some(u) = url(&a.path(file)) else {
            continue;
        };
        let d = docs.entry(file).or_insert_with(|| Doc::new(a, file));
        changes
            .entry(u)
            .or_default()
            .push(TextEdit::new(d.range(o.span), new_name.to_string()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_for_rename() {
        assert!(is_valid_name("web_2"));
        assert!(is_valid_name("_x"));
        for bad in ["", "2x", "a-b", "role", "let", "a b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
