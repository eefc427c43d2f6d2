//! Signature help: roles and functions (also `alias.role(`), with the
//! active parameter by position or by `name =`.

use super::{markdown, Doc};
use mc_compiler::ide::Analysis;
use tower_lsp::lsp_types::*;

pub fn signature_help(a: &Analysis, doc: &Doc, at: u32) -> Option<SignatureHelp> {
    let s = a.signature(doc.file, at)?;
    Some(SignatureHelp {
        signatures: vec![SignatureInformation {
            label: s.label,
            documentation: s.docs.map(|d| Documentation::MarkupContent(markdown(d))),
            parameters: Some(
                s.params
                    .into_iter()
                    .map(|p| ParameterInformation {
                        label: ParameterLabel::Simple(p),
                        documentation: None,
                    })
                    .collect(),
            ),
            active_parameter: s.active,
        }],
        active_signature: Some(0),
        active_parameter: s.active,
    })
}
