//! From the syntax tree and its trivia to a [`Doc`].
//!
//! Comments come from the trivia side table and are emitted in source order:
//! as *leading* comments before the element of a sequence they precede, as
//! *trailing* comments after an element they share a line with, as
//! *dangling* comments before a closing bracket, and, anywhere else, just
//! before the next token printed after them. Literals, strings and quoted
//! field names are printed verbatim from the source, so escapes, number
//! bases and multi-line strings keep their exact meaning.

use crate::doc::Doc;
use mc_grammar::ast::*;
use mc_grammar::{Span, Trivia, TriviaKind};
use std::rc::Rc;

pub(crate) struct Formatter<'a> {
    src: &'a str,
    /// Comments only, in source order.
    comments: Vec<Trivia>,
    /// The first comment not yet emitted.
    next: usize,
}

/// How a comma-separated list is delimited and separated.
#[derive(Clone, Copy)]
struct ListStyle {
    open: &'static str,
    close: &'static str,
    /// A space inside the brackets when flat: `{ a = 1 }` vs `[1]`.
    padded: bool,
    /// Separated by commas when broken too (lists, arguments); records drop
    /// them and put one field per line.
    commas_when_broken: bool,
}

const PARENS: ListStyle = ListStyle {
    open: "(",
    close: ")",
    padded: false,
    commas_when_broken: true,
};
const BRACKETS: ListStyle = ListStyle {
    open: "[",
    close: "]",
    padded: false,
    commas_when_broken: true,
};
const BRACES: ListStyle = ListStyle {
    open: "{",
    close: "}",
    padded: true,
    commas_when_broken: false,
};

impl<'a> Formatter<'a> {
    pub(crate) fn new(src: &'a str, trivia: &[Trivia]) -> Formatter<'a> {
        let comments = trivia
            .iter()
            .filter(|t| t.kind != TriviaKind::BlankLine)
            .copied()
            .collect();
        Formatter {
            src,
            comments,
            next: 0,
        }
    }

    fn slice(&self, span: Span) -> &'a str {
        self.src.get(span.range()).unwrap_or("")
    }

    fn comment_text(&self, c: Trivia) -> Doc<'a> {
        let text = self.slice(c.span);
        if c.kind == TriviaKind::BlockComment {
            Doc::text(text)
        } else {
            Doc::text(text.trim_end())
        }
    }

    /// Whether the source between `a` and `b` holds an empty line.
    fn blank_between(&self, a: u32, b: u32) -> bool {
        let gap = self.src.get(a as usize..b as usize).unwrap_or("");
        gap.bytes().filter(|&c| c == b'\n').count() >= 2
    }

    fn newline_between(&self, a: u32, b: u32) -> bool {
        let gap = self.src.get(a as usize..b as usize).unwrap_or("");
        gap.contains('\n')
    }

    /// The next unemitted comment if it starts before `pos`.
    fn comment_before(&self, pos: u32) -> Option<Trivia> {
        self.comments
            .get(self.next)
            .copied()
            .filter(|c| c.span.start < pos)
    }

    /// Comments before `pos` not attached anywhere else, each followed by a
    /// line break (line comments) or a space (block comments).
    fn flush(&mut self, pos: u32) -> Doc<'a> {
        let mut out = Vec::new();
        while let Some(c) = self.comment_before(pos) {
            self.next += 1;
            out.push(self.comment_text(c));
            if c.kind == TriviaKind::BlockComment {
                out.push(Doc::text(" "));
            } else {
                out.push(Doc::HardLine);
            }
        }
        Doc::concat(out)
    }

    /// Marks the comments inside a span printed verbatim as emitted.
    fn skip_inside(&mut self, span: Span) {
        while let Some(c) = self.comment_before(span.end) {
            if c.span.start < span.start {
                break;
            }
            self.next += 1;
        }
    }

    /// Source text printed as is, after the comments before it.
    fn verbatim(&mut self, span: Span) -> Doc<'a> {
        let lead = self.flush(span.start);
        self.skip_inside(span);
        after(lead, Doc::text(self.slice(span)))
    }

    /// A token of the tree (a name), after the comments before it.
    fn token(&mut self, pos: u32, text: &'a str) -> Doc<'a> {
        let lead = self.flush(pos);
        after(lead, Doc::text(text))
    }

    /// The comments on the same line right after `end` (past separating
    /// commas), each preceded by a space. Returns the docs and the new end.
    fn trailing(&mut self, mut end: u32) -> (Doc<'a>, u32) {
        let mut out = Vec::new();
        while let Some(c) = self.comments.get(self.next).copied() {
            let gap = self
                .src
                .get(end as usize..c.span.start as usize)
                .unwrap_or("\n");
            if c.span.start < end || !gap.bytes().all(|b| matches!(b, b' ' | b'\t' | b',' | b';')) {
                break;
            }
            self.next += 1;
            out.push(Doc::text(" "));
            out.push(self.comment_text(c));
            if c.kind != TriviaKind::BlockComment {
                out.push(Doc::BreakParent);
            }
            end = c.span.end;
        }
        (Doc::concat(out), end)
    }

    /// Comments before `pos`, each after a space, at the end of a line.
    fn before_break(&mut self, pos: u32) -> Doc<'a> {
        let mut out = Vec::new();
        while let Some(c) = self.comment_before(pos) {
            self.next += 1;
            out.push(Doc::text(" "));
            out.push(self.comment_text(c));
            if c.kind != TriviaKind::BlockComment {
                // The line ends here; later comments go on their own lines.
                out.push(Doc::BreakParent);
                break;
            }
        }
        Doc::concat(out)
    }

    /// Comments before `pos`, each on its own line (or followed by a space
    /// when the next token shares its line), keeping one blank line where
    /// the source had any. `prev` is the end of what was printed before;
    /// `None` at the start of a sequence. Returns the docs and the new end.
    fn leading_lines(&mut self, pos: u32, mut prev: Option<u32>) -> (Vec<Doc<'a>>, Option<u32>) {
        let mut out = Vec::new();
        while let Some(c) = self.comment_before(pos) {
            self.next += 1;
            if let Some(p) = prev {
                if self.blank_between(p, c.span.start) {
                    out.push(Doc::HardLine);
                }
            }
            out.push(self.comment_text(c));
            let next_start = self.comment_before(pos).map_or(pos, |n| n.span.start);
            if c.kind == TriviaKind::BlockComment && !self.newline_between(c.span.end, next_start) {
                out.push(Doc::text(" "));
            } else {
                out.push(Doc::HardLine);
            }
            prev = Some(c.span.end);
        }
        (out, prev)
    }

    /// Elements one per line, with their comments and blank lines, then the
    /// comments left before `close`. The result starts with the first
    /// element and has no line break at either end; `None` when there is
    /// nothing at all.
    fn lines<T>(
        &mut self,
        elems: &[T],
        span_of: impl Fn(&T) -> Span,
        mut print: impl FnMut(&mut Self, &T) -> Doc<'a>,
        close: u32,
    ) -> Option<Doc<'a>> {
        let mut out: Vec<Doc<'a>> = Vec::new();
        let mut prev: Option<u32> = None;
        for elem in elems {
            let span = span_of(elem);
            if prev.is_some() {
                out.push(Doc::HardLine);
            }
            let (lead, p) = self.leading_lines(span.start, prev);
            out.extend(lead);
            if p.is_some_and(|p| self.blank_between(p, span.start)) {
                out.push(Doc::HardLine);
            }
            out.push(print(self, elem));
            let (trail, end) = self.trailing(span.end);
            out.push(trail);
            prev = Some(end);
        }
        if self.comment_before(close).is_some() {
            if prev.is_some() {
                out.push(Doc::HardLine);
            }
            let (mut lead, _) = self.leading_lines(close, prev);
            // The last comment's line break is the caller's.
            if lead.last() == Some(&Doc::HardLine) || lead.last() == Some(&Doc::text(" ")) {
                lead.pop();
            }
            out.extend(lead);
        }
        if out.is_empty() {
            None
        } else {
            Some(Doc::concat(out))
        }
    }

    /// `{ … }` with one element per line, or `{}` when empty.
    fn braced_lines<T>(
        &mut self,
        elems: &[T],
        span_of: impl Fn(&T) -> Span,
        print: impl FnMut(&mut Self, &T) -> Doc<'a>,
        close: u32,
    ) -> Doc<'a> {
        match self.lines(elems, span_of, print, close) {
            None => Doc::text("{}"),
            Some(body) => Doc::concat(vec![
                Doc::text("{"),
                Doc::indent(Doc::concat(vec![Doc::HardLine, body])),
                Doc::HardLine,
                Doc::text("}"),
            ]),
        }
    }

    /// A comma-separated list that stays on one line when it fits and puts
    /// one element per line otherwise. Trailing commas are dropped.
    fn list<T>(
        &mut self,
        style: ListStyle,
        elems: &[T],
        span_of: impl Fn(&T) -> Span,
        mut print: impl FnMut(&mut Self, &T) -> Doc<'a>,
        close: u32,
    ) -> Doc<'a> {
        let edge = if style.padded {
            Doc::Line
        } else {
            Doc::SoftLine
        };
        // Shared: one separator node for the whole list, not one per element.
        let sep = Rc::new(if style.commas_when_broken {
            Doc::text(",")
        } else {
            Doc::if_break(Doc::Nil, Doc::text(","))
        });
        let mut inner: Vec<Doc<'a>> = Vec::new();
        let mut prev: Option<u32> = None;
        let count = elems.len();
        for (i, elem) in elems.iter().enumerate() {
            let span = span_of(elem);
            if prev.is_some() {
                inner.push(Doc::Line);
            }
            let (lead, p) = self.leading_lines(span.start, prev);
            if !lead.is_empty() {
                inner.extend(lead);
                inner.push(Doc::BreakParent);
            }
            if p.is_some_and(|p| self.blank_between(p, span.start)) {
                inner.push(Doc::if_break(Doc::HardLine, Doc::Nil));
            }
            inner.push(print(self, elem));
            if i + 1 < count {
                inner.push(Doc::Shared(sep.clone()));
            }
            let (trail, end) = self.trailing(span.end);
            inner.push(trail);
            prev = Some(end);
        }
        if self.comment_before(close).is_some() {
            if prev.is_some() {
                inner.push(Doc::Line);
            }
            let (mut lead, _) = self.leading_lines(close, prev);
            if lead.last() == Some(&Doc::HardLine) || lead.last() == Some(&Doc::text(" ")) {
                lead.pop();
            }
            inner.extend(lead);
            inner.push(Doc::BreakParent);
        }
        if inner.is_empty() {
            return Doc::text(format!("{}{}", style.open, style.close));
        }
        Doc::group(Doc::concat(vec![
            Doc::text(style.open),
            Doc::indent(Doc::concat(vec![edge.clone(), Doc::concat(inner)])),
            edge,
            Doc::text(style.close),
        ]))
    }

    /// The offset of the first `ch` at or after `from` outside comments (the
    /// closing bracket of a parameter list, whose span the tree lacks).
    fn find_byte(&self, from: u32, ch: u8) -> u32 {
        let bytes = self.src.as_bytes();
        let mut i = from as usize;
        let mut ci = self.comments.partition_point(|c| c.span.end <= from);
        while i < bytes.len() {
            if let Some(c) = self.comments.get(ci) {
                if c.span.start as usize <= i {
                    i = i.max(c.span.end as usize);
                    ci += 1;
                    continue;
                }
            }
            if bytes[i] == ch {
                return u32::try_from(i).unwrap_or(u32::MAX);
            }
            i += 1;
        }
        u32::try_from(bytes.len()).unwrap_or(u32::MAX)
    }

    // ------------------------------------------------------------------
    // Module and items
    // ------------------------------------------------------------------

    pub(crate) fn module(&mut self, module: &Module) -> Doc<'a> {
        let end = u32::try_from(self.src.len()).unwrap_or(u32::MAX);
        match self.lines(&module.items, Item::span, |f, item| f.item(item), end) {
            None => Doc::Nil,
            Some(body) => Doc::concat(vec![body, Doc::HardLine]),
        }
    }

    fn item(&mut self, item: &Item) -> Doc<'a> {
        match item {
            Item::Import(imp) => {
                let mut out = vec![Doc::text("import "), self.verbatim(imp.path.span)];
                if let Some(alias) = &imp.alias {
                    out.push(Doc::text(" as "));
                    out.push(self.ident(alias));
                }
                Doc::concat(out)
            }
            Item::Let(l) if l.param => self.param_binding(&l.name, l.ty.as_ref(), &l.value),
            Item::Let(l) => self.let_binding(&l.name, l.ty.as_ref(), &l.value),
            Item::Type(t) => Doc::concat(vec![
                Doc::text("type "),
                self.ident(&t.name),
                Doc::text(" = "),
                self.ty(&t.ty),
            ]),
            Item::Fn(f) => self.fn_decl(f),
            Item::Role(r) => {
                let mut out = vec![Doc::text("role "), self.ident(&r.name)];
                if !r.params.is_empty() {
                    out.push(self.params(&r.params, r.name.span.end));
                }
                out.push(Doc::text(" "));
                out.push(self.block(&r.body));
                Doc::concat(out)
            }
            Item::Host(decl) | Item::Group(decl) => {
                let keyword = self.slice(decl.keyword);
                let close = decl.span.end.saturating_sub(1);
                Doc::concat(vec![
                    self.token(decl.keyword.start, keyword),
                    Doc::text(" "),
                    self.verbatim(decl.name.span),
                    Doc::text(" "),
                    self.braced_lines(&decl.fields, |f| f.span, |f, x| f.field(x), close),
                ])
            }
            Item::On(on) => Doc::concat(vec![
                Doc::text("on "),
                self.target(&on.target),
                Doc::text(" "),
                self.block(&on.body),
            ]),
            Item::Policy(p) => {
                let close = p.span.end.saturating_sub(1);
                Doc::concat(vec![
                    Doc::text("policy "),
                    self.verbatim(p.name.span),
                    Doc::text(" "),
                    self.braced_lines(&p.rules, |w| w.span, |f, w| f.when(w), close),
                ])
            }
            Item::Resource(r) => {
                let close_paren = self.find_byte(r.title.span.end, b')');
                let close = r.span.end.saturating_sub(1);
                Doc::concat(vec![
                    Doc::text("resource "),
                    self.ident(&r.name),
                    self.list(
                        PARENS,
                        std::slice::from_ref(&r.title),
                        |p| p.span,
                        |f, p| f.param(p),
                        close_paren,
                    ),
                    Doc::text(" "),
                    self.braced_lines(&r.members, ResourceMember::span, |f, m| f.member(m), close),
                ])
            }
            Item::Project(p) => {
                let close = p.span.end.saturating_sub(1);
                Doc::concat(vec![
                    Doc::text("project "),
                    self.braced_lines(&p.fields, |f| f.span, |f, x| f.field(x), close),
                ])
            }
            Item::Error(span) => self.verbatim(*span),
        }
    }

    fn fn_decl(&mut self, f: &FnDecl) -> Doc<'a> {
        let mut out = Vec::new();
        if f.builtin {
            out.push(Doc::text("builtin "));
        }
        out.push(Doc::text("fn "));
        out.push(self.ident(&f.name));
        out.push(self.params(&f.params, f.name.span.end));
        if let Some(ret) = &f.ret {
            out.push(Doc::text(" -> "));
            out.push(self.ty(ret));
        }
        if let Some(body) = &f.body {
            out.push(Doc::text(" = "));
            out.push(self.expr(body));
        }
        Doc::concat(out)
    }

    /// `(a: T, b: U = d)` after a name ending at `after`.
    fn params(&mut self, params: &[Param], after: u32) -> Doc<'a> {
        let open = self.find_byte(after, b'(');
        let from = params.last().map_or(open + 1, |p| p.span.end);
        let close = self.find_byte(from, b')');
        self.list(PARENS, params, |p| p.span, |f, p| f.param(p), close)
    }

    fn param(&mut self, p: &Param) -> Doc<'a> {
        let mut out = vec![self.ident(&p.name), Doc::text(": "), self.ty(&p.ty)];
        if let Some(d) = &p.default {
            out.push(Doc::text(" = "));
            out.push(self.expr(d));
        }
        Doc::concat(out)
    }

    fn member(&mut self, m: &ResourceMember) -> Doc<'a> {
        match m {
            ResourceMember::Attr(a) => {
                let mut out = vec![self.ident(&a.name), Doc::text(": "), self.ty(&a.ty)];
                if let Some(d) = &a.default {
                    out.push(Doc::text(" = "));
                    out.push(self.expr(d));
                }
                Doc::concat(out)
            }
            ResourceMember::Check(c) => Doc::concat(vec![
                Doc::text("check "),
                self.expr(&c.cond),
                Doc::text(" : "),
                self.expr(&c.message),
            ]),
            ResourceMember::Error(span) => self.verbatim(*span),
        }
    }

    fn when(&mut self, w: &WhenClause) -> Doc<'a> {
        Doc::concat(vec![
            Doc::text("when "),
            self.expr(&w.cond),
            Doc::text(" "),
            self.block(&w.body),
        ])
    }

    fn target(&mut self, t: &Target) -> Doc<'a> {
        match t {
            Target::All(span) => self.token(span.start, "all"),
            Target::Host { name, span } | Target::Group { name, span } => {
                let keyword = if matches!(t, Target::Host { .. }) {
                    "host("
                } else {
                    "group("
                };
                Doc::concat(vec![
                    self.token(span.start, keyword),
                    self.expr(name),
                    Doc::text(")"),
                ])
            }
            Target::And(a, b, _) | Target::Or(a, b, _) => {
                let op = if matches!(t, Target::And(..)) {
                    " && "
                } else {
                    " || "
                };
                Doc::concat(vec![self.target(a), Doc::text(op), self.target(b)])
            }
            Target::Not(inner, span) => {
                Doc::concat(vec![self.token(span.start, "!"), self.target(inner)])
            }
            Target::Paren(inner, span) => Doc::concat(vec![
                self.token(span.start, "("),
                self.target(inner),
                Doc::text(")"),
            ]),
            Target::Error(span) => self.verbatim(*span),
        }
    }

    // ------------------------------------------------------------------
    // Statements
    // ------------------------------------------------------------------

    fn block(&mut self, b: &Block) -> Doc<'a> {
        let close = b.span.end.saturating_sub(1);
        self.braced_lines(&b.stmts, Stmt::span, |f, s| f.stmt(s), close)
    }

    fn stmt(&mut self, s: &Stmt) -> Doc<'a> {
        match s {
            Stmt::Resource(r) => {
                let mut out = Vec::new();
                if let Some(b) = &r.binding {
                    out.push(Doc::text("let "));
                    out.push(self.ident(b));
                    out.push(Doc::text(" = "));
                }
                out.push(self.ident(&r.ty));
                out.push(Doc::text(" "));
                out.push(self.expr(&r.title));
                out.push(Doc::text(" "));
                let close = r.span.end.saturating_sub(1);
                out.push(self.braced_lines(&r.fields, |f| f.span, |f, x| f.field(x), close));
                Doc::concat(out)
            }
            Stmt::Let(l) => self.let_binding(&l.name, l.ty.as_ref(), &l.value),
            Stmt::If(i) => self.if_stmt(i),
            Stmt::For(f) => Doc::concat(vec![
                Doc::text("for "),
                self.pattern(&f.pattern),
                Doc::text(" in "),
                self.expr(&f.iter),
                Doc::text(" "),
                self.block(&f.body),
            ]),
            Stmt::Call(c) => {
                let callee = self.qual(&c.callee);
                let close = c.span.end.saturating_sub(1);
                Doc::concat(vec![callee, self.args(&c.args, close)])
            }
            Stmt::Assert(a) => Doc::concat(vec![
                Doc::text("assert "),
                self.expr(&a.cond),
                Doc::text(" : "),
                self.expr(&a.message),
            ]),
            Stmt::Error(span) => self.verbatim(*span),
        }
    }

    fn if_stmt(&mut self, i: &IfStmt) -> Doc<'a> {
        let mut out = vec![
            Doc::text("if "),
            self.expr(&i.cond),
            Doc::text(" "),
            self.block(&i.then_block),
        ];
        match &i.else_branch {
            None => {}
            Some(ElseBranch::If(next)) => {
                out.push(Doc::text(" else "));
                out.push(self.if_stmt(next));
            }
            Some(ElseBranch::Block(b)) => {
                out.push(Doc::text(" else "));
                out.push(self.block(b));
            }
        }
        Doc::concat(out)
    }

    fn let_binding(&mut self, name: &Ident, ty: Option<&TypeExpr>, value: &Expr) -> Doc<'a> {
        let mut out = vec![Doc::text("let "), self.ident(name)];
        self.binding_rest(&mut out, ty, value);
        Doc::concat(out)
    }

    /// `NAME: T = value` of a `param` item.
    fn param_binding(&mut self, name: &Ident, ty: Option<&TypeExpr>, value: &Expr) -> Doc<'a> {
        let mut out = vec![Doc::text("param "), self.ident(name)];
        self.binding_rest(&mut out, ty, value);
        Doc::concat(out)
    }

    fn binding_rest(&mut self, out: &mut Vec<Doc<'a>>, ty: Option<&TypeExpr>, value: &Expr) {
        if let Some(ty) = ty {
            out.push(Doc::text(": "));
            out.push(self.ty(ty));
        }
        out.push(Doc::text(" = "));
        out.push(self.expr(value));
    }

    fn pattern(&mut self, p: &ForPattern) -> Doc<'a> {
        match p {
            ForPattern::Single(x) => self.ident(x),
            ForPattern::Pair(k, v) => {
                Doc::concat(vec![self.ident(k), Doc::text(", "), self.ident(v)])
            }
        }
    }

    fn field(&mut self, f: &Field) -> Doc<'a> {
        let name = if f.quoted {
            self.verbatim(f.name.span)
        } else {
            self.ident(&f.name)
        };
        Doc::concat(vec![name, Doc::text(" = "), self.expr(&f.value)])
    }

    fn args(&mut self, args: &[Arg], close: u32) -> Doc<'a> {
        let huggable = args.last().is_some_and(|a| {
            matches!(&a.value, Expr::Record { fields, .. } if !fields.is_empty())
                || matches!(&a.value, Expr::List { items, .. } if !items.is_empty())
        });
        let start = args.first().map_or(close, |a| a.span.start);
        let commented = self
            .comment_before(close)
            .is_some_and(|c| c.span.start >= start);
        if !huggable || commented || self.comment_before(start).is_some() {
            return self.list(PARENS, args, |a| a.span, |f, a| f.arg(a), close);
        }
        // `f(x, { … })`: the last record or list may open on the call's line
        // and close with it, instead of every argument on its own line.
        let docs: Vec<Rc<Doc<'a>>> = args.iter().map(|a| Rc::new(self.arg(a))).collect();
        let shared = |d: &Rc<Doc<'a>>| Doc::Shared(d.clone());
        let mut flat = vec![Doc::SoftLine];
        let mut hug = vec![Doc::text("(")];
        for (i, d) in docs.iter().enumerate() {
            if i > 0 {
                flat.push(Doc::text(","));
                flat.push(Doc::Line);
                hug.push(Doc::text(", "));
            }
            flat.push(shared(d));
            hug.push(shared(d));
        }
        hug.push(Doc::text(")"));
        let expanded = |inner: Vec<Doc<'a>>| {
            Doc::concat(vec![
                Doc::text("("),
                Doc::indent(Doc::concat(inner)),
                Doc::SoftLine,
                Doc::text(")"),
            ])
        };
        Doc::Choice(vec![
            expanded(flat.clone()),
            Doc::concat(hug),
            expanded(flat),
        ])
    }

    fn arg(&mut self, a: &Arg) -> Doc<'a> {
        match &a.name {
            Some(name) => Doc::concat(vec![
                self.ident(name),
                Doc::text(" = "),
                self.expr(&a.value),
            ]),
            None => self.expr(&a.value),
        }
    }

    fn ident(&mut self, i: &Ident) -> Doc<'a> {
        let lead = self.flush(i.span.start);
        // Borrow the source text when it is the name, as it nearly always is.
        let text = self.slice(i.span);
        let name = if text == i.name {
            Doc::text(text)
        } else {
            Doc::text(i.name.clone())
        };
        after(lead, name)
    }

    fn qual(&mut self, q: &QualName) -> Doc<'a> {
        let mut out = Vec::new();
        for (i, seg) in q.segments.iter().enumerate() {
            if i > 0 {
                out.push(Doc::text("."));
            }
            out.push(self.ident(seg));
        }
        Doc::concat(out)
    }

    // ------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------

    fn ty(&mut self, t: &TypeExpr) -> Doc<'a> {
        match t {
            TypeExpr::Named(q) => self.qual(q),
            TypeExpr::Literal(s) => self.verbatim(s.span),
            TypeExpr::List(inner, span) => Doc::concat(vec![
                self.token(span.start, "["),
                self.ty(inner),
                Doc::text("]"),
            ]),
            TypeExpr::Map(inner, span) => Doc::concat(vec![
                self.token(span.start, "{String: "),
                self.ty(inner),
                Doc::text("}"),
            ]),
            TypeExpr::Record(fields, span) => {
                let lead = self.flush(span.start);
                let close = span.end.saturating_sub(1);
                let list = self.list(
                    BRACES,
                    fields,
                    |f| f.span,
                    |f, x| f.record_type_field(x),
                    close,
                );
                Doc::concat(vec![lead, list])
            }
            TypeExpr::Optional(inner, _) => Doc::concat(vec![self.ty(inner), Doc::text("?")]),
            TypeExpr::Union(members, _) => {
                let mut rest = Vec::new();
                let mut first = Doc::Nil;
                for (i, m) in members.iter().enumerate() {
                    if i == 0 {
                        first = self.ty(m);
                    } else {
                        rest.push(Doc::Line);
                        rest.push(Doc::text("| "));
                        rest.push(self.ty(m));
                    }
                }
                Doc::group(Doc::concat(vec![first, Doc::indent(Doc::concat(rest))]))
            }
            TypeExpr::Paren(inner, span) => Doc::concat(vec![
                self.token(span.start, "("),
                self.ty(inner),
                Doc::text(")"),
            ]),
            TypeExpr::Error(span) => self.verbatim(*span),
        }
    }

    fn record_type_field(&mut self, f: &RecordTypeField) -> Doc<'a> {
        let mut out = vec![self.ident(&f.name), Doc::text(": "), self.ty(&f.ty)];
        if let Some(d) = &f.default {
            out.push(Doc::text(" = "));
            out.push(self.expr(d));
        }
        Doc::concat(out)
    }

    // ------------------------------------------------------------------
    // Expressions
    // ------------------------------------------------------------------

    fn expr(&mut self, e: &Expr) -> Doc<'a> {
        match e {
            Expr::Int { span, .. }
            | Expr::Duration { span, .. }
            | Expr::Bool { span, .. }
            | Expr::Null(span)
            | Expr::Error(span) => self.verbatim(*span),
            Expr::Str(s) => self.verbatim(s.span),
            Expr::Ident(i) => self.ident(i),
            Expr::List { items, span } => {
                let lead = self.flush(span.start);
                let close = span.end.saturating_sub(1);
                let list = self.list(BRACKETS, items, Expr::span, |f, x| f.expr(x), close);
                Doc::concat(vec![lead, list])
            }
            Expr::Record { fields, span } => {
                let lead = self.flush(span.start);
                let close = span.end.saturating_sub(1);
                let list = self.list(BRACES, fields, |f| f.span, |f, x| f.field(x), close);
                Doc::concat(vec![lead, list])
            }
            Expr::Field { base, name, .. } => {
                Doc::concat(vec![self.expr(base), Doc::text("."), self.ident(name)])
            }
            Expr::Index { base, index, .. } => Doc::concat(vec![
                self.expr(base),
                Doc::text("["),
                self.expr(index),
                Doc::text("]"),
            ]),
            Expr::Call { callee, args, span } => {
                let callee = self.expr(callee);
                let close = span.end.saturating_sub(1);
                Doc::concat(vec![callee, self.args(args, close)])
            }
            Expr::Unary {
                op,
                op_span,
                operand,
                ..
            } => Doc::concat(vec![
                self.token(op_span.start, op.symbol()),
                self.expr(operand),
            ]),
            Expr::Binary { .. } => self.binary(e),
            Expr::Is { value, ty, .. } => {
                Doc::concat(vec![self.expr(value), Doc::text(" is "), self.ty(ty)])
            }
            Expr::If { span, .. } => {
                let lead = self.flush(span.start);
                let mut out = vec![lead];
                self.if_expr(e, &mut out);
                Doc::concat(vec![Doc::group(Doc::concat(out))])
            }
            Expr::Comprehension {
                element,
                pattern,
                iter,
                filter,
                span,
            } => {
                let lead = self.flush(span.start);
                let mut inner = vec![
                    Doc::SoftLine,
                    self.expr(element),
                    Doc::Line,
                    Doc::text("for "),
                    self.pattern(pattern),
                    Doc::text(" in "),
                    self.expr(iter),
                ];
                if let Some(filter) = filter {
                    inner.push(Doc::Line);
                    inner.push(Doc::text("if "));
                    inner.push(self.expr(filter));
                }
                let close = span.end.saturating_sub(1);
                let dangling = self.flush(close);
                Doc::concat(vec![
                    lead,
                    Doc::group(Doc::concat(vec![
                        Doc::text("["),
                        Doc::indent(Doc::concat(inner)),
                        dangling,
                        Doc::SoftLine,
                        Doc::text("]"),
                    ])),
                ])
            }
            Expr::Paren { inner, span } => {
                let open = self.token(span.start, "(");
                let inner = self.expr(inner);
                let close = span.end.saturating_sub(1);
                let dangling = self.flush(close);
                Doc::concat(vec![open, inner, dangling, Doc::text(")")])
            }
        }
    }

    /// `if c { a } else if d { b } else { c }`: one group, so the whole
    /// chain is either on one line or has every branch on its own lines.
    fn if_expr(&mut self, e: &Expr, out: &mut Vec<Doc<'a>>) {
        let Expr::If {
            cond,
            then_branch,
            else_branch,
            ..
        } = e
        else {
            out.push(self.expr(e));
            return;
        };
        out.push(Doc::text("if "));
        out.push(self.expr(cond));
        out.push(Doc::text(" {"));
        out.push(Doc::indent(Doc::concat(vec![
            Doc::Line,
            self.expr(then_branch),
        ])));
        out.push(Doc::Line);
        out.push(Doc::text("} else "));
        if matches!(else_branch.as_ref(), Expr::If { .. }) {
            let lead = self.flush(else_branch.span().start);
            out.push(lead);
            self.if_expr(else_branch, out);
        } else {
            out.push(Doc::text("{"));
            out.push(Doc::indent(Doc::concat(vec![
                Doc::Line,
                self.expr(else_branch),
            ])));
            out.push(Doc::Line);
            out.push(Doc::text("}"));
        }
    }

    /// A chain of operators of one precedence on one line, or broken before
    /// each operator with the operands indented.
    fn binary(&mut self, e: &Expr) -> Doc<'a> {
        let mut operands: Vec<&Expr> = Vec::new();
        let mut ops: Vec<BinaryOp> = Vec::new();
        flatten(e, &mut operands, &mut ops);
        let mut rest = Vec::new();
        let first = operands.first().map(|x| self.expr(x)).unwrap_or(Doc::Nil);
        for (op, operand) in ops.iter().zip(operands.iter().skip(1)) {
            // Comments before the operand stay at the end of the previous
            // line rather than land between the operator and the operand.
            rest.push(self.before_break(operand.span().start));
            rest.push(Doc::Line);
            rest.push(Doc::text(op.symbol()));
            rest.push(Doc::text(" "));
            rest.push(self.expr(operand));
        }
        Doc::group(Doc::concat(vec![first, Doc::indent(Doc::concat(rest))]))
    }
}

/// `doc` after the comments `lead` (usually none: no extra node then).
fn after<'a>(lead: Doc<'a>, doc: Doc<'a>) -> Doc<'a> {
    match &lead {
        Doc::Concat(v) if v.is_empty() => doc,
        _ => Doc::concat(vec![lead, doc]),
    }
}

/// The operands of a chain of operators of one precedence, in source
/// order: `a + b - c` (left-nested) and `a ?? b ?? c` (right-nested).
fn flatten<'e>(e: &'e Expr, operands: &mut Vec<&'e Expr>, ops: &mut Vec<BinaryOp>) {
    let Expr::Binary { op, lhs, rhs, .. } = e else {
        operands.push(e);
        return;
    };
    let same =
        |x: &Expr| matches!(x, Expr::Binary { op: o, .. } if o.precedence() == op.precedence());
    let comparison = op.precedence() == BinaryOp::Eq.precedence();
    if *op == BinaryOp::Coalesce {
        operands.push(lhs);
        ops.push(*op);
        if same(rhs) {
            flatten(rhs, operands, ops);
        } else {
            operands.push(rhs);
        }
        return;
    }
    if same(lhs) && !comparison {
        flatten(lhs, operands, ops);
    } else {
        operands.push(lhs);
    }
    ops.push(*op);
    operands.push(rhs);
}

impl<'a> Formatter<'a> {
    /// The text of comments not emitted yet.
    pub(crate) fn remaining(&self) -> Vec<&'a str> {
        self.comments
            .get(self.next..)
            .unwrap_or_default()
            .iter()
            .map(|c| self.slice(c.span))
            .collect()
    }
}
