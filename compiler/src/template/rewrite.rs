//! Python's `%` on strings (`'%02d' % n`, `'%s:%s' % (a, b)`), which Jinja2
//! inherits from Python and minijinja does not have. Every `A % B` in the
//! template's expressions becomes `__mc_percent(A, B)`, a function that
//! formats when `A` is a string and takes the remainder otherwise. The
//! rewrite works on minijinja's own syntax tree, so precedence and
//! parentheses are exactly the parser's.

use minijinja::machinery::ast::{CallArg, Expr, Stmt};
use minijinja::syntax::SyntaxConfig;

/// The function the rewritten templates call when the right side is a
/// tuple literal, whose items are the format's arguments.
pub const PERCENT_FN: &str = "__mc_percent";
/// The one they call otherwise: the right side is a single argument, even
/// a list (as in Python, where only a tuple spreads).
pub const PERCENT_ONE_FN: &str = "__mc_percent1";

/// `source` with each `%` operator replaced by a call, and each `a if c`
/// completed with `else none`. A template that does not parse is returned
/// unchanged, so the error is minijinja's own.
pub fn python_percent(source: &str, syntax: &SyntaxConfig) -> String {
    let Ok(tree) = minijinja::machinery::parse(source, "<template>", syntax.clone()) else {
        return source.to_string();
    };
    let mut found = Found::default();
    walk_stmt(&tree, source, &mut found);
    apply(source, found.edits)
}

/// The templates that `source` includes, imports or extends by a literal
/// name. A name computed at render time is reported as an error, since
/// compile-time rendering reads only files it knows beforehand.
pub fn referenced_templates(source: &str, syntax: &SyntaxConfig) -> Result<Vec<String>, String> {
    let Ok(tree) = minijinja::machinery::parse(source, "<template>", syntax.clone()) else {
        return Ok(Vec::new());
    };
    let mut found = Found::default();
    walk_stmt(&tree, source, &mut found);
    match found.dynamic {
        Some(line) => Err(format!(
            "line {line}: include, import and extends need a quoted template name (the file is read when the project compiles)"
        )),
        None => Ok(found.names),
    }
}

#[derive(Default)]
struct Found {
    edits: Vec<Edit>,
    names: Vec<String>,
    /// Line of an include whose name is not a literal.
    dynamic: Option<u16>,
}

impl Found {
    fn template_name(&mut self, e: &Expr<'_>) {
        match e {
            Expr::Const(c) => match c.value.as_str() {
                Some(name) => self.names.push(name.to_string()),
                None => self.dynamic = Some(e.span().start_line),
            },
            Expr::List(l) => {
                for item in &l.items {
                    self.template_name(item);
                }
            }
            _ => self.dynamic = Some(e.span().start_line),
        }
    }
}

/// An insertion (`remove == 0`) or replacement at a byte offset.
struct Edit {
    at: usize,
    remove: usize,
    text: &'static str,
}

fn apply(source: &str, mut edits: Vec<Edit>) -> String {
    // Equal insertions at one offset are interchangeable, so a stable sort
    // by offset is enough even for nested `a % b % c`.
    edits.sort_by_key(|e| e.at);
    let mut out = String::with_capacity(source.len() + edits.len() * 16);
    let mut pos = 0;
    for e in edits {
        if e.at < pos || e.at > source.len() {
            return source.to_string();
        }
        out.push_str(&source[pos..e.at]);
        out.push_str(e.text);
        pos = e.at + e.remove;
    }
    out.push_str(&source[pos.min(source.len())..]);
    out
}

fn walk_stmts(stmts: &[Stmt<'_>], src: &str, edits: &mut Found) {
    for s in stmts {
        walk_stmt(s, src, edits);
    }
}

fn walk_stmt(stmt: &Stmt<'_>, src: &str, edits: &mut Found) {
    match stmt {
        Stmt::Template(t) => walk_stmts(&t.children, src, edits),
        Stmt::EmitExpr(e) => walk_expr(&e.expr, src, edits),
        Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => {}
        Stmt::ForLoop(f) => {
            walk_expr(&f.iter, src, edits);
            if let Some(filter) = &f.filter_expr {
                walk_expr(filter, src, edits);
            }
            walk_stmts(&f.body, src, edits);
            walk_stmts(&f.else_body, src, edits);
        }
        Stmt::IfCond(i) => {
            walk_expr(&i.expr, src, edits);
            walk_stmts(&i.true_body, src, edits);
            walk_stmts(&i.false_body, src, edits);
        }
        Stmt::WithBlock(w) => {
            for (_, value) in &w.assignments {
                walk_expr(value, src, edits);
            }
            walk_stmts(&w.body, src, edits);
        }
        Stmt::Set(s) => walk_expr(&s.expr, src, edits),
        Stmt::SetBlock(s) => {
            if let Some(filter) = &s.filter {
                walk_expr(filter, src, edits);
            }
            walk_stmts(&s.body, src, edits);
        }
        Stmt::AutoEscape(a) => walk_stmts(&a.body, src, edits),
        Stmt::FilterBlock(f) => {
            walk_expr(&f.filter, src, edits);
            walk_stmts(&f.body, src, edits);
        }
        Stmt::Block(b) => walk_stmts(&b.body, src, edits),
        Stmt::Import(i) => edits.template_name(&i.expr),
        Stmt::FromImport(i) => edits.template_name(&i.expr),
        Stmt::Extends(e) => edits.template_name(&e.name),
        Stmt::Include(i) => edits.template_name(&i.name),
        Stmt::Macro(m) => {
            walk_exprs(&m.defaults, src, edits);
            walk_stmts(&m.body, src, edits);
        }
        Stmt::CallBlock(c) => {
            walk_expr(&c.call.expr, src, edits);
            walk_args(&c.call.args, src, edits);
            walk_exprs(&c.macro_decl.defaults, src, edits);
            walk_stmts(&c.macro_decl.body, src, edits);
        }
        Stmt::Do(d) => {
            walk_expr(&d.call.expr, src, edits);
            walk_args(&d.call.args, src, edits);
        }
    }
}

fn walk_exprs(exprs: &[Expr<'_>], src: &str, edits: &mut Found) {
    for e in exprs {
        walk_expr(e, src, edits);
    }
}

fn walk_args(args: &[CallArg<'_>], src: &str, edits: &mut Found) {
    for a in args {
        match a {
            CallArg::Pos(e)
            | CallArg::Kwarg(_, e)
            | CallArg::PosSplat(e)
            | CallArg::KwargSplat(e) => walk_expr(e, src, edits),
        }
    }
}

fn walk_expr(expr: &Expr<'_>, src: &str, edits: &mut Found) {
    match expr {
        Expr::Var(_) | Expr::Const(_) => {}
        Expr::Slice(s) => {
            walk_expr(&s.expr, src, edits);
            for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                walk_expr(part, src, edits);
            }
        }
        Expr::UnaryOp(u) => walk_expr(&u.expr, src, edits),
        Expr::BinOp(b) => {
            if matches!(b.op, minijinja::machinery::ast::BinOpKind::Rem) {
                percent_call(expr, &b.left, &b.right, src, edits);
            }
            walk_expr(&b.left, src, edits);
            walk_expr(&b.right, src, edits);
        }
        Expr::Compare(c) => {
            walk_expr(&c.expr, src, edits);
            for op in &c.ops {
                walk_expr(&op.expr, src, edits);
            }
        }
        Expr::IfExpr(i) => {
            if i.false_expr.is_none() {
                // Jinja2's `a if c` without `else` prints nothing when `c`
                // is false; minijinja's is undefined, which the formatter
                // refuses to print.
                let end = expr.span().end_offset as usize;
                if end <= src.len() {
                    edits.edits.push(Edit {
                        at: end,
                        remove: 0,
                        text: " else none",
                    });
                }
            }
            walk_expr(&i.test_expr, src, edits);
            walk_expr(&i.true_expr, src, edits);
            if let Some(f) = &i.false_expr {
                walk_expr(f, src, edits);
            }
        }
        Expr::Filter(f) => {
            if let Some(e) = &f.expr {
                walk_expr(e, src, edits);
            }
            walk_args(&f.args, src, edits);
        }
        Expr::Test(t) => {
            walk_expr(&t.expr, src, edits);
            walk_args(&t.args, src, edits);
        }
        Expr::GetAttr(g) => walk_expr(&g.expr, src, edits),
        Expr::GetItem(g) => {
            walk_expr(&g.expr, src, edits);
            walk_expr(&g.subscript_expr, src, edits);
        }
        Expr::Call(c) => {
            walk_expr(&c.expr, src, edits);
            walk_args(&c.args, src, edits);
        }
        Expr::List(l) => walk_exprs(&l.items, src, edits),
        Expr::Tuple(t) => walk_exprs(&t.items, src, edits),
        Expr::Map(m) => {
            walk_exprs(&m.keys, src, edits);
            walk_exprs(&m.values, src, edits);
        }
    }
}

/// `A % B` → `__mc_percent(A , B)`. The whole node's span covers any
/// parentheses around `A` and `B`; the operator is the one `%` between
/// them. When the spans do not show exactly one, the node is left alone.
fn percent_call(whole: &Expr<'_>, left: &Expr<'_>, right: &Expr<'_>, src: &str, edits: &mut Found) {
    let (start, end) = (
        whole.span().start_offset as usize,
        whole.span().end_offset as usize,
    );
    let gap_start = left.span().end_offset as usize;
    let gap_end = right.span().start_offset as usize;
    let Some(gap) = src.get(gap_start..gap_end) else {
        return;
    };
    if gap.matches('%').count() != 1 || end > src.len() || start > gap_start {
        return;
    }
    let Some(op) = gap.find('%') else {
        return;
    };
    let call = if matches!(right, Expr::Tuple(_)) {
        "__mc_percent("
    } else {
        "__mc_percent1("
    };
    edits.edits.push(Edit {
        at: start,
        remove: 0,
        text: call,
    });
    edits.edits.push(Edit {
        at: gap_start + op,
        remove: 1,
        text: ",",
    });
    edits.edits.push(Edit {
        at: end,
        remove: 0,
        text: ")",
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(s: &str) -> String {
        python_percent(s, &SyntaxConfig::default())
    }

    #[test]
    fn rewrites_percent_operators_keeping_parentheses() {
        assert_eq!(
            rw("{{ '%02d' % (n | int) }}"),
            "{{ __mc_percent1('%02d' , (n | int)) }}"
        );
        assert_eq!(
            rw("{{ (a) % b % (c, d) }}"),
            "{{ __mc_percent(__mc_percent1((a) , b) , (c, d)) }}"
        );
        assert_eq!(
            rw("{% if x % 2 %}odd{% endif %}"),
            "{% if __mc_percent1(x , 2) %}odd{% endif %}"
        );
    }

    #[test]
    fn leaves_text_and_broken_templates_alone() {
        assert_eq!(rw("100% done {{ x }}"), "100% done {{ x }}");
        assert_eq!(rw("{{ 'a' % }}"), "{{ 'a' % }}");
    }
}
