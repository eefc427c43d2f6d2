//! Signature help: the role or function whose call the cursor is in, its
//! parameters, and which one the cursor is at (by position, or by
//! `name =`).

use super::{Analysis, DefKind, DefLoc};
use crate::db::SourceFile;
use mc_grammar::ast::{Item, Param};
use mc_grammar::lexer::{lex, Tok};

/// A callee's signature at a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// `role nginx(port: Int = 80, name: String = "default")`.
    pub label: String,
    pub docs: Option<String>,
    /// Each parameter as written.
    pub params: Vec<String>,
    /// The parameter the cursor is at, when there is one.
    pub active: Option<u32>,
}

impl Analysis {
    pub fn signature(&self, file: SourceFile, offset: u32) -> Option<Signature> {
        let text = self.text(file);
        let prefix = &text[..mc_diagnostics::floor_char_boundary(&text, offset as usize)];
        let toks = lex(prefix).tokens;
        // The innermost unclosed `(` and the arguments before the cursor.
        let mut depth = 0i32;
        let mut commas = 0u32;
        let mut open = None;
        let mut named: Option<&str> = None;
        for (i, (_, t, _)) in toks.iter().enumerate().rev() {
            match t {
                Tok::RParen | Tok::RBracket | Tok::RBrace => depth += 1,
                Tok::LParen | Tok::LBracket | Tok::LBrace if depth > 0 => depth -= 1,
                Tok::LParen => {
                    open = Some(i);
                    break;
                }
                Tok::LBracket | Tok::LBrace => return None,
                Tok::Comma if depth == 0 => commas += 1,
                Tok::Eq if depth == 0 && commas == 0 && named.is_none() => {
                    if let Some((_, Tok::Ident(n), _)) = i.checked_sub(1).map(|k| toks[k]) {
                        named = Some(n);
                    }
                }
                _ => {}
            }
        }
        let open = open?;
        let mut segs = Vec::new();
        let mut k = open;
        while k >= 1 {
            let Tok::Ident(n) = toks[k - 1].1 else { break };
            segs.push(n);
            if k >= 2 && toks[k - 2].1 == Tok::Dot {
                k -= 2;
            } else {
                break;
            }
        }
        segs.reverse();
        let def = self.resolve_path(file, offset, &segs)?;
        if !matches!(def.kind, DefKind::Fn | DefKind::Role) {
            return None;
        }
        let described = self.describe(&def);
        let params = self.parameters(&def);
        let active = match named {
            Some(n) => params.iter().position(|p| p.0 == n).map(|x| x as u32),
            None => Some(commas),
        };
        Some(Signature {
            label: described.detail,
            docs: described.docs,
            params: params.into_iter().map(|p| p.1).collect(),
            active,
        })
    }

    /// The parameters of a role or function: name and text as written.
    pub fn parameters(&self, def: &DefLoc) -> Vec<(String, String)> {
        let Some(file) = def.file else {
            return Vec::new();
        };
        let text = self.text(file);
        let params: &[Param] = match self.item_at(file, def.span.start) {
            Some(Item::Fn(f)) => &f.params,
            Some(Item::Role(r)) => &r.params,
            _ => &[],
        };
        params
            .iter()
            .map(|p| (p.name.name.clone(), p.span.text(&text).to_string()))
            .collect()
    }
}
