//! Types of expressions the editor can tell from their shape alone
//! (literals, lists and records of them), for inlay hints and hovers.

use mc_grammar::ast::{Expr, StrPart};

/// The type of a literal-shaped expression, as mc writes it.
pub fn literal_type(e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Int { .. } => "Int".into(),
        Expr::Duration { .. } => "Duration".into(),
        Expr::Bool { .. } => "Bool".into(),
        Expr::Str(s) => {
            let secret = s
                .parts
                .iter()
                .any(|p| matches!(p, StrPart::Interp(x) if is_secret_call(x)));
            if secret {
                "Secret".into()
            } else {
                "String".into()
            }
        }
        Expr::List { items, .. } => {
            let first = items.first()?;
            let t = literal_type(first)?;
            if items
                .iter()
                .skip(1)
                .all(|x| literal_type(x).as_deref() == Some(t.as_str()))
            {
                format!("[{t}]")
            } else {
                return None;
            }
        }
        Expr::Record { fields, .. } => {
            let mut parts = Vec::new();
            for f in fields {
                parts.push(format!("{}: {}", f.name.name, literal_type(&f.value)?));
            }
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
        Expr::Binary { op, lhs, rhs, .. } => {
            use mc_grammar::ast::BinaryOp::*;
            match op {
                Eq | Ne | Lt | Le | Gt | Ge | And | Or => "Bool".into(),
                Add | Sub | Mul | Div | Rem => {
                    let l = literal_type(lhs)?;
                    if literal_type(rhs).as_deref() == Some(l.as_str()) {
                        l
                    } else {
                        return None;
                    }
                }
                Coalesce | Merge => return None,
            }
        }
        Expr::Unary { op, operand, .. } => match op {
            mc_grammar::ast::UnaryOp::Not => "Bool".into(),
            mc_grammar::ast::UnaryOp::Neg => literal_type(operand)?,
        },
        Expr::Is { .. } => "Bool".into(),
        Expr::Paren { inner, .. } => literal_type(inner)?,
        Expr::Comprehension { element, .. } => format!("[{}]", literal_type(element)?),
        Expr::Call { callee, .. } => match callee.as_ref() {
            Expr::Ident(i) if i.name == "secret" => "Secret".into(),
            _ => return None,
        },
        _ => return None,
    })
}

fn is_secret_call(e: &Expr) -> bool {
    matches!(e, Expr::Call { callee, .. } if matches!(callee.as_ref(), Expr::Ident(i) if i.name == "secret"))
}
