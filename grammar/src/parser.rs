//! The tolerant and strict parsers, and the helpers the grammar's actions
//! call.

use crate::ast::*;
use crate::errors;
use crate::lexer::{self, Tok, Trivia, TriviaKind};
use crate::span::Span;
use lalrpop_util::ErrorRecovery;
use mc_diagnostics::{did_you_mean, Diagnostic, Label};

pub use crate::strings::{build_string, Piece};

/// An error raised by a grammar action (bad target, unknown item kind…).
/// Boxed: it is the parser's error type, and every symbol on the parser's
/// stack is as large as the largest one.
#[derive(Clone, Debug, PartialEq)]
pub struct Custom(pub Box<Diagnostic>);

pub type Recovery<'a> = ErrorRecovery<usize, Tok<'a>, Custom>;

/// The result of a tolerant parse: always a tree.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub module: Module,
    /// Comments and blank lines, in source order.
    pub trivia: Vec<Trivia>,
    /// Lexing and parsing errors, in source order. Labels have an empty file
    /// name unless the file was given to [`parse_file`].
    pub errors: Vec<Diagnostic>,
}

impl Parsed {
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// Parses a source file; never fails. Diagnostics name no file.
pub fn parse(source: &str) -> Parsed {
    parse_file("", source)
}

/// Parses a source file whose diagnostics should name `file`.
pub fn parse_file(file: &str, source: &str) -> Parsed {
    let mut parsed = parse_inner(source);
    for diag in &mut parsed.errors {
        diag.set_file(file);
    }
    parsed
}

/// Parses a source file, returning the tree only if it has no errors.
pub fn parse_strict(source: &str) -> Result<Module, Vec<Diagnostic>> {
    let parsed = parse(source);
    if parsed.errors.is_empty() {
        Ok(parsed.module)
    } else {
        Err(parsed.errors)
    }
}

fn parse_inner(source: &str) -> Parsed {
    let whole = Span::from_usize(0, source.len());
    if u32::try_from(source.len()).is_err() {
        return Parsed {
            module: Module {
                items: vec![Item::Error(whole)],
                span: whole,
            },
            trivia: Vec::new(),
            errors: vec![errors::file_too_large(source.len())],
        };
    }
    let lexed = lexer::lex(source);
    if let Some(span) = too_deep(&lexed.tokens) {
        let mut errors = errors::lex_errors(&lexed.errors);
        errors.push(errors::too_deep(span, MAX_NESTING));
        return Parsed {
            module: Module {
                items: vec![Item::Error(whole)],
                span: whole,
            },
            trivia: lexed.trivia,
            errors: errors::tidy(source, errors),
        };
    }
    let mut recovered: Vec<Recovery<'_>> = Vec::new();
    let mut custom: Vec<Custom> = Vec::new();
    let result = crate::grammar::ModuleParser::new().parse(
        &mut recovered,
        &mut custom,
        lexed.tokens.iter().copied().map(Ok::<_, Custom>),
    );
    let mut diags = errors::lex_errors(&lexed.errors);
    let ctx = errors::Context {
        source,
        tokens: &lexed.tokens,
    };
    let mut parse_diags: Vec<Diagnostic> = recovered
        .into_iter()
        .map(|r| ctx.parse_error(r.error))
        .collect();
    parse_diags.extend(custom.into_iter().map(|c| *c.0));
    let mut module = match result {
        Ok(module) => module,
        Err(err) => {
            parse_diags.push(ctx.parse_error(err));
            Module {
                items: vec![Item::Error(whole)],
                span: whole,
            }
        }
    };
    // The module span is the whole file, including leading trivia.
    module.span = whole;
    diags.extend(parse_diags);
    let errors = errors::tidy(source, diags);
    attach_docs(&mut module, &lexed.trivia, source);
    Parsed {
        module,
        trivia: lexed.trivia,
        errors,
    }
}

/// More operators than this in one expression (`a + b + …`) is E0028, as
/// deep nesting is.
pub const MAX_CHAIN: usize = 10_000;

/// Deeper nesting than this is rejected before parsing, so that no later
/// stage (drop, evaluation, formatting) can overflow the stack.
pub const MAX_NESTING: usize = 256;

/// The first token that nests deeper than [`MAX_NESTING`], counting
/// delimiters, interpolations and runs of prefix operators.
fn too_deep(tokens: &[lexer::Spanned<'_>]) -> Option<Span> {
    let mut depth = 0usize;
    let mut prefix_run = 0usize;
    for (l, tok, r) in tokens {
        match tok {
            Tok::LBrace | Tok::LParen | Tok::LBracket | Tok::InterpStart => depth += 1,
            Tok::RBrace | Tok::RParen | Tok::RBracket | Tok::InterpEnd => {
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        prefix_run = if matches!(tok, Tok::Bang | Tok::Minus) {
            prefix_run + 1
        } else {
            0
        };
        if depth + prefix_run > MAX_NESTING {
            return Some(Span::from_usize(*l, *r));
        }
    }
    None
}

/// Fills `docs` of items and resource attributes from the `///` comments
/// directly above them.
fn attach_docs(module: &mut Module, trivia: &[Trivia], source: &str) {
    let mut prev_end = 0u32;
    for item in &mut module.items {
        let span = item.span();
        let docs = docs_between(trivia, source, prev_end, span.start);
        if let Some(slot) = item.docs_mut() {
            *slot = docs;
        }
        if let Item::Resource(decl) = item {
            let mut member_prev = decl.title.span.end;
            for member in &mut decl.members {
                let member_span = member.span();
                if let ResourceMember::Attr(attr) = member {
                    attr.docs = docs_between(trivia, source, member_prev, member_span.start);
                }
                member_prev = member_span.end;
            }
        }
        prev_end = span.end;
    }
}

/// The doc comments in `start..end` not separated from `end` by another
/// comment, joined into one text.
fn docs_between(trivia: &[Trivia], source: &str, start: u32, end: u32) -> Option<String> {
    let first = trivia.partition_point(|t| t.span.start < start);
    let mut lines: Vec<&str> = Vec::new();
    for t in trivia[first..].iter().take_while(|t| t.span.end <= end) {
        match t.kind {
            TriviaKind::DocComment => {
                let text = t.span.text(source);
                let text = text.strip_prefix("///").unwrap_or(text);
                lines.push(text.strip_prefix(' ').unwrap_or(text).trim_end());
            }
            TriviaKind::LineComment | TriviaKind::BlockComment => lines.clear(),
            TriviaKind::BlankLine => {}
        }
    }
    if lines.is_empty() {
        None
    } else {
        Some(lines.join("\n"))
    }
}

// --------------------------------------------------------------------------
// Grammar action helpers
// --------------------------------------------------------------------------

/// One step of a binary-operator chain: `OP operand` or `is TYPE`.
pub enum Tail {
    Op(BinaryOp, Span, Expr),
    /// The span runs from `is` to the end of the type.
    Is(TypeExpr, Span),
}

/// Groups a flat operator chain by precedence (shunting-yard). All
/// operators are left-associative except `??` (right); comparisons do not
/// chain, which is reported here.
pub fn climb(first: Expr, rest: Vec<Tail>, custom: &mut Vec<Custom>) -> Expr {
    if rest.is_empty() {
        return first;
    }
    // A chain of operators is a tree as deep as it is long: past the
    // nesting limit, no later stage could walk it without a deep stack.
    if rest.len() > MAX_CHAIN {
        let start = first.span();
        let end = match rest.last() {
            Some(Tail::Op(_, _, rhs)) => rhs.span(),
            Some(Tail::Is(_, span)) => *span,
            None => start,
        };
        let whole = start.to(end);
        custom.push(Custom(Box::new(errors::too_long_chain(whole, MAX_CHAIN))));
        return Expr::Error(whole);
    }
    let mut operands: Vec<Expr> = vec![first];
    let mut ops: Vec<(BinaryOp, Span)> = Vec::new();
    for tail in rest {
        match tail {
            Tail::Op(op, op_span, rhs) => {
                while let Some(&(top, top_span)) = ops.last() {
                    let tighter = if op.is_right_assoc() {
                        top.precedence() > op.precedence()
                    } else {
                        top.precedence() >= op.precedence()
                    };
                    if !tighter {
                        break;
                    }
                    if top.is_comparison() && op.is_comparison() {
                        custom.push(Custom(Box::new(errors::chained_comparison(
                            top_span, op_span,
                        ))));
                    }
                    reduce_top(&mut operands, &mut ops);
                }
                ops.push((op, op_span));
                operands.push(rhs);
            }
            Tail::Is(ty, is_span) => {
                while ops
                    .last()
                    .is_some_and(|(top, _)| top.precedence() > IS_PRECEDENCE)
                {
                    reduce_top(&mut operands, &mut ops);
                }
                if let Some(value) = operands.pop() {
                    let span = value.span().to(is_span);
                    operands.push(Expr::Is {
                        value: Box::new(value),
                        ty,
                        span,
                    });
                }
            }
        }
    }
    while !ops.is_empty() {
        reduce_top(&mut operands, &mut ops);
    }
    operands
        .pop()
        .unwrap_or_else(|| Expr::Error(Span::default()))
}

fn reduce_top(operands: &mut Vec<Expr>, ops: &mut Vec<(BinaryOp, Span)>) {
    let (Some((op, op_span)), Some(rhs), Some(lhs)) = (ops.pop(), operands.pop(), operands.pop())
    else {
        return;
    };
    let span = lhs.span().to(rhs.span());
    operands.push(Expr::Binary {
        op,
        op_span,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        span,
    });
}

/// Unboxes what the grammar boxed to keep its symbol stack small.
pub fn unbox<T>(items: Vec<Box<T>>) -> Vec<T> {
    items.into_iter().map(|b| *b).collect()
}

pub fn sp(l: usize, r: usize) -> Span {
    Span::from_usize(l, r)
}

/// A string literal where interpolation makes no sense (import paths, host
/// names, literal types).
pub fn plain_string(s: StringExpr, custom: &mut Vec<Custom>) -> StrLit {
    let mut value = String::new();
    for part in &s.parts {
        match part {
            StrPart::Text { value: text, .. } => value.push_str(text),
            StrPart::Interp(expr) => {
                custom.push(Custom(Box::new(errors::interpolation_not_allowed(
                    expr.span(),
                ))));
            }
        }
    }
    StrLit {
        value,
        span: s.span,
    }
}

/// `{String: T}` is a map type; any other brace type is a record type.
pub fn brace_type(fields: Vec<RecordTypeField>, span: Span) -> TypeExpr {
    if let [field] = fields.as_slice() {
        if field.name.name == "String" && field.default.is_none() {
            let ty = field.ty.clone();
            return TypeExpr::Map(Box::new(ty), span);
        }
    }
    TypeExpr::Record(fields, span)
}

pub fn target_atom(name: Ident, custom: &mut Vec<Custom>) -> Target {
    if name.name == "all" {
        return Target::All(name.span);
    }
    custom.push(Custom(Box::new(errors::bad_target(&name))));
    Target::Error(name.span)
}

pub fn target_call(name: Ident, arg: Expr, span: Span, custom: &mut Vec<Custom>) -> Target {
    match name.name.as_str() {
        "host" => Target::Host {
            name: Box::new(arg),
            span,
        },
        "group" => Target::Group {
            name: Box::new(arg),
            span,
        },
        _ => {
            custom.push(Custom(Box::new(errors::bad_target(&name))));
            Target::Error(span)
        }
    }
}

/// `host "…" { … }` / `group "…" { … }`; any other word in that position
/// is reported.
/// `param NAME: T = default`; `param` is not a keyword, so any other word
/// in its place is reported here.
pub fn param_item(
    keyword: Ident,
    name: Ident,
    ty: TypeExpr,
    value: Expr,
    span: Span,
    custom: &mut Vec<Custom>,
) -> Item {
    if keyword.name == "param" {
        return Item::Let(LetItem {
            docs: None,
            param: true,
            name,
            ty: Some(ty),
            value,
            span,
        });
    }
    let mut diag = Diagnostic::error(
        errors::codes::NOT_AN_ITEM,
        format!("`{}` cannot start a top-level item", keyword.name),
        Label::new("", keyword.span.range()).with_message("not an item"),
    );
    if let Some(close) = did_you_mean(&keyword.name, ["param"]) {
        diag = diag.with_replacement(
            format!("did you mean `{close}`?"),
            keyword.span.range(),
            close,
        );
    }
    custom.push(Custom(Box::new(diag)));
    Item::Error(span)
}

pub fn inventory(
    keyword: Ident,
    name: StrLit,
    fields: Vec<Field>,
    span: Span,
    custom: &mut Vec<Custom>,
) -> Item {
    let decl = InventoryDecl {
        docs: None,
        keyword: keyword.span,
        name,
        fields,
        span,
    };
    match keyword.name.as_str() {
        "host" => Item::Host(decl),
        "group" => Item::Group(decl),
        other => {
            let mut diag = Diagnostic::error(
                errors::codes::NOT_AN_ITEM,
                format!("`{other}` cannot start a top-level item"),
                Label::new("", keyword.span.range()).with_message("not an item"),
            );
            if let Some(close) = did_you_mean(other, ["host", "group"]) {
                diag = diag.with_replacement(
                    format!("did you mean `{close}`?"),
                    keyword.span.range(),
                    close,
                );
            } else {
                diag = diag.with_note(
                    "resources such as `file \"/etc/motd\" { … }` are declared inside a `role` or an `on` block",
                );
            }
            custom.push(Custom(Box::new(diag)));
            Item::Error(span)
        }
    }
}
