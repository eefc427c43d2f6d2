//! Code actions: each published diagnostic's suggestion as a quick fix.

use tower_lsp::lsp_types::*;

/// A diagnostic, the edit its suggestion makes, and the suggestion's title.
pub type Fix = (Diagnostic, WorkspaceEdit, String);

pub fn quick_fixes(fixes: &[Fix], want: Range) -> Vec<CodeActionOrCommand> {
    let overlaps = |r: &Range| !(r.end < want.start || r.start > want.end);
    fixes
        .iter()
        .filter(|(d, _, _)| overlaps(&d.range))
        .map(|(d, edit, title)| {
            CodeActionOrCommand::CodeAction(CodeAction {
                title: title.clone(),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                edit: Some(edit.clone()),
                is_preferred: Some(true),
                ..CodeAction::default()
            })
        })
        .collect()
}
