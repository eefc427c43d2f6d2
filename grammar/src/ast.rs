//! The typed syntax tree of one `.mc` file.
//!
//! Every node carries the byte [`Span`] it was parsed from. Items and resource
//! attribute declarations carry their `///` doc comment. A file with syntax
//! errors still yields a tree: the broken parts become `Error` nodes.

use crate::span::Span;

/// One parsed source file.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub items: Vec<Item>,
    pub span: Span,
}

/// A name as written in the source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A possibly qualified name: `nginx`, `web.nginx`, `mod.Type`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QualName {
    /// Never empty.
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl QualName {
    /// The last segment (the name itself, without its module prefix).
    pub fn last(&self) -> Option<&Ident> {
        self.segments.last()
    }

    /// The dotted text, e.g. `web.nginx`.
    pub fn dotted(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        names.join(".")
    }
}

/// A string literal without interpolation, already unescaped (import paths,
/// host and group names, policy names).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

// ---------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Import(Import),
    Let(LetItem),
    Type(TypeAlias),
    Fn(FnDecl),
    Role(RoleDecl),
    /// `host "NAME" { … }`
    Host(InventoryDecl),
    /// `group "NAME" { … }`
    Group(InventoryDecl),
    On(OnBlock),
    Policy(PolicyDecl),
    Resource(ResourceDecl),
    Project(ProjectDecl),
    /// Something that could not be parsed as an item.
    Error(Span),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Import(x) => x.span,
            Item::Let(x) => x.span,
            Item::Type(x) => x.span,
            Item::Fn(x) => x.span,
            Item::Role(x) => x.span,
            Item::Host(x) | Item::Group(x) => x.span,
            Item::On(x) => x.span,
            Item::Policy(x) => x.span,
            Item::Resource(x) => x.span,
            Item::Project(x) => x.span,
            Item::Error(span) => *span,
        }
    }

    /// The `///` doc comment attached to this item, if any.
    pub fn docs(&self) -> Option<&str> {
        let docs = match self {
            Item::Import(x) => &x.docs,
            Item::Let(x) => &x.docs,
            Item::Type(x) => &x.docs,
            Item::Fn(x) => &x.docs,
            Item::Role(x) => &x.docs,
            Item::Host(x) | Item::Group(x) => &x.docs,
            Item::On(x) => &x.docs,
            Item::Policy(x) => &x.docs,
            Item::Resource(x) => &x.docs,
            Item::Project(x) => &x.docs,
            Item::Error(_) => return None,
        };
        docs.as_deref()
    }

    pub(crate) fn docs_mut(&mut self) -> Option<&mut Option<String>> {
        Some(match self {
            Item::Import(x) => &mut x.docs,
            Item::Let(x) => &mut x.docs,
            Item::Type(x) => &mut x.docs,
            Item::Fn(x) => &mut x.docs,
            Item::Role(x) => &mut x.docs,
            Item::Host(x) | Item::Group(x) => &mut x.docs,
            Item::On(x) => &mut x.docs,
            Item::Policy(x) => &mut x.docs,
            Item::Resource(x) => &mut x.docs,
            Item::Project(x) => &mut x.docs,
            Item::Error(_) => return None,
        })
    }
}

/// `import "roles/web.mc"` or `import "lib/x.mc" as y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    pub docs: Option<String>,
    pub path: StrLit,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// Top-level `let NAME[: T] = expr`, or `param NAME: T = default`: a
/// value the command line may set (`--var NAME=VALUE`).
#[derive(Clone, Debug, PartialEq)]
pub struct LetItem {
    pub docs: Option<String>,
    pub param: bool,
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub span: Span,
}

/// `type NAME = T`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeAlias {
    pub docs: Option<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

/// `fn NAME(params) [-> T] = expr`, or `builtin fn NAME(params) -> T`
/// (implemented in Rust, no body).
#[derive(Clone, Debug, PartialEq)]
pub struct FnDecl {
    pub docs: Option<String>,
    pub builtin: bool,
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: Option<TypeExpr>,
    /// `None` exactly when `builtin`.
    pub body: Option<Expr>,
    pub span: Span,
}

/// `name: T` or `name: T = default`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `role NAME(params) { stmts }`.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleDecl {
    pub docs: Option<String>,
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Block,
    pub span: Span,
}

/// `host "NAME" { field = expr … }` or `group "NAME" { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct InventoryDecl {
    pub docs: Option<String>,
    /// The `host` / `group` keyword.
    pub keyword: Span,
    pub name: StrLit,
    pub fields: Vec<Field>,
    pub span: Span,
}

/// `on TARGET { stmts }`.
#[derive(Clone, Debug, PartialEq)]
pub struct OnBlock {
    pub docs: Option<String>,
    pub target: Target,
    pub body: Block,
    pub span: Span,
}

/// The host selector of an `on` block.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// `all`
    All(Span),
    /// `host("web1")`
    Host {
        name: Box<Expr>,
        span: Span,
    },
    /// `group("web")`
    Group {
        name: Box<Expr>,
        span: Span,
    },
    And(Box<Target>, Box<Target>, Span),
    Or(Box<Target>, Box<Target>, Span),
    Not(Box<Target>, Span),
    /// `( TARGET )`, kept so the formatter can reproduce it.
    Paren(Box<Target>, Span),
    Error(Span),
}

impl Target {
    pub fn span(&self) -> Span {
        match self {
            Target::All(s) | Target::Error(s) => *s,
            Target::Host { span, .. } | Target::Group { span, .. } => *span,
            Target::And(_, _, s) | Target::Or(_, _, s) => *s,
            Target::Not(_, s) | Target::Paren(_, s) => *s,
        }
    }
}

/// `policy "NAME" { when COND { stmts } … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDecl {
    pub docs: Option<String>,
    pub name: StrLit,
    pub rules: Vec<WhenClause>,
    pub span: Span,
}

/// `when COND { stmts }` inside a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct WhenClause {
    pub cond: Expr,
    pub body: Block,
    pub span: Span,
}

/// `resource NAME(title: T) { attr: T = default … check COND : "msg" … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDecl {
    pub docs: Option<String>,
    pub name: Ident,
    /// The title parameter, e.g. `path: Path`.
    pub title: Param,
    pub members: Vec<ResourceMember>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResourceMember {
    Attr(AttrDecl),
    Check(CheckClause),
    Error(Span),
}

impl ResourceMember {
    pub fn span(&self) -> Span {
        match self {
            ResourceMember::Attr(a) => a.span,
            ResourceMember::Check(c) => c.span,
            ResourceMember::Error(s) => *s,
        }
    }
}

/// An attribute declaration `name: T [= default]` in a `resource`.
#[derive(Clone, Debug, PartialEq)]
pub struct AttrDecl {
    pub docs: Option<String>,
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `check COND : "message"` in a `resource`.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckClause {
    pub cond: Expr,
    pub message: Expr,
    pub span: Span,
}

/// `project { key = expr … }`: project-wide settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectDecl {
    pub docs: Option<String>,
    pub fields: Vec<Field>,
    pub span: Span,
}

/// `name = expr` in a resource body, a record literal, an inventory entry or
/// project settings. The name may be quoted (`"net.ipv4.ip_forward" = 1`).
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: Ident,
    /// Written as a string literal in the source.
    pub quoted: bool,
    pub value: Expr,
    pub span: Span,
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

/// `{ stmts }`
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `TYPE TITLE { … }` or `let NAME = TYPE TITLE { … }`.
    Resource(ResourceStmt),
    /// `let NAME[: T] = expr`
    Let(LetStmt),
    If(IfStmt),
    For(ForStmt),
    /// A role call `base(admins = […])`, `web.nginx(port = 80)`, or in a
    /// policy `deny("…")`.
    Call(CallStmt),
    /// `assert COND : MESSAGE`: evaluation of the host fails with MESSAGE
    /// when COND is false.
    Assert(AssertStmt),
    Error(Span),
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Resource(x) => x.span,
            Stmt::Let(x) => x.span,
            Stmt::If(x) => x.span,
            Stmt::For(x) => x.span,
            Stmt::Call(x) => x.span,
            Stmt::Assert(x) => x.span,
            Stmt::Error(s) => *s,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResourceStmt {
    /// `conf` in `let conf = file "/x" { … }`.
    pub binding: Option<Ident>,
    /// The resource type, e.g. `file`.
    pub ty: Ident,
    pub title: Expr,
    pub fields: Vec<Field>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LetStmt {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IfStmt {
    pub cond: Expr,
    pub then_block: Block,
    pub else_branch: Option<ElseBranch>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ElseBranch {
    /// `else if …`
    If(Box<IfStmt>),
    /// `else { … }`
    Block(Block),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ForStmt {
    pub pattern: ForPattern,
    pub iter: Expr,
    pub body: Block,
    pub span: Span,
}

/// `x` (list elements) or `k, v` (map entries).
#[derive(Clone, Debug, PartialEq)]
pub enum ForPattern {
    Single(Ident),
    Pair(Ident, Ident),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AssertStmt {
    pub cond: Expr,
    pub message: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CallStmt {
    pub callee: QualName,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A call argument: positional `x` or named `k = v`.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub enum TypeExpr {
    /// `Int`, `String`, `Tier`, `mod.T`, `file` (a resource handle).
    Named(QualName),
    /// `[T]`
    List(Box<TypeExpr>, Span),
    /// `{String: T}`
    Map(Box<TypeExpr>, Span),
    /// `{ name: T, other: U = default }`
    Record(Vec<RecordTypeField>, Span),
    /// `T?`
    Optional(Box<TypeExpr>, Span),
    /// `"present"` as a type (only meaningful inside a union or alone).
    Literal(StrLit),
    /// `A | B | C`, at least two members.
    Union(Vec<TypeExpr>, Span),
    /// `( T )`
    Paren(Box<TypeExpr>, Span),
    Error(Span),
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(q) => q.span,
            TypeExpr::Literal(s) => s.span,
            TypeExpr::List(_, s)
            | TypeExpr::Map(_, s)
            | TypeExpr::Record(_, s)
            | TypeExpr::Optional(_, s)
            | TypeExpr::Union(_, s)
            | TypeExpr::Paren(_, s)
            | TypeExpr::Error(s) => *s,
        }
    }
}

/// `name: T [= default]` in a record type.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordTypeField {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `42`, `0o644`, `0x1F`, `1_000`. The source text (via the span) keeps
    /// the written form.
    Int {
        value: i64,
        span: Span,
    },
    /// `30s`, `5m`, `1h30m`, `1d`, `250ms`, in milliseconds.
    Duration {
        millis: u64,
        span: Span,
    },
    Bool {
        value: bool,
        span: Span,
    },
    Null(Span),
    /// A string, possibly with `${…}` interpolations.
    Str(StringExpr),
    /// A bare name: a variable, function, or `host` / `facts`.
    Ident(Ident),
    List {
        items: Vec<Expr>,
        span: Span,
    },
    Record {
        fields: Vec<Field>,
        span: Span,
    },
    /// `a.b`
    Field {
        base: Box<Expr>,
        name: Ident,
        span: Span,
    },
    /// `xs[0]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
        span: Span,
    },
    /// `f(x, k = v)`
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
        span: Span,
    },
    Unary {
        op: UnaryOp,
        op_span: Span,
        operand: Box<Expr>,
        span: Span,
    },
    Binary {
        op: BinaryOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        span: Span,
    },
    /// `x is file`
    Is {
        value: Box<Expr>,
        ty: TypeExpr,
        span: Span,
    },
    /// `if c { a } else { b }` (the else branch is required).
    If {
        cond: Box<Expr>,
        then_branch: Box<Expr>,
        else_branch: Box<Expr>,
        span: Span,
    },
    /// `[f(x) for x in xs if p(x)]`
    Comprehension {
        element: Box<Expr>,
        pattern: ForPattern,
        iter: Box<Expr>,
        filter: Option<Box<Expr>>,
        span: Span,
    },
    /// `( e )`, kept so the formatter can reproduce it.
    Paren {
        inner: Box<Expr>,
        span: Span,
    },
    Error(Span),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Int { span, .. }
            | Expr::Duration { span, .. }
            | Expr::Bool { span, .. }
            | Expr::List { span, .. }
            | Expr::Record { span, .. }
            | Expr::Field { span, .. }
            | Expr::Index { span, .. }
            | Expr::Call { span, .. }
            | Expr::Unary { span, .. }
            | Expr::Binary { span, .. }
            | Expr::Is { span, .. }
            | Expr::If { span, .. }
            | Expr::Comprehension { span, .. }
            | Expr::Paren { span, .. } => *span,
            Expr::Null(s) | Expr::Error(s) => *s,
            Expr::Str(s) => s.span,
            Expr::Ident(i) => i.span,
        }
    }
}

/// A string literal: `"…"` or `"""…"""`.
#[derive(Clone, Debug, PartialEq)]
pub struct StringExpr {
    /// Literal text (escapes decoded, multi-line indentation stripped) and
    /// interpolations, in order. Adjacent text parts are merged.
    pub parts: Vec<StrPart>,
    /// Written with `"""`.
    pub multiline: bool,
    pub span: Span,
}

impl StringExpr {
    /// The value when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                StrPart::Text { value, .. } => out.push_str(value),
                StrPart::Interp(_) => return None,
            }
        }
        Some(out)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum StrPart {
    Text {
        value: String,
        span: Span,
    },
    /// `${expr}`; the span of the expression is inside the braces.
    Interp(Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `!`
    Not,
    /// `-`
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    /// `??`
    Coalesce,
    /// `&` (record merge, right wins, deep)
    Merge,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
            BinaryOp::Coalesce => "??",
            BinaryOp::Merge => "&",
        }
    }

    /// Binding strength, higher binds tighter (used by the formatter to
    /// decide where parentheses are needed).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => 3,
            BinaryOp::Coalesce => 5,
            BinaryOp::Merge => 6,
            BinaryOp::Add | BinaryOp::Sub => 7,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 8,
        }
    }
}

/// Binding strength of `x is T`: tighter than comparisons, looser than `??`.
pub const IS_PRECEDENCE: u8 = 4;

impl BinaryOp {
    /// `??` groups to the right; every other operator to the left.
    pub fn is_right_assoc(self) -> bool {
        self == BinaryOp::Coalesce
    }

    /// Comparisons do not chain: `a < b < c` is a syntax error.
    pub fn is_comparison(self) -> bool {
        self.precedence() == BinaryOp::Eq.precedence()
    }
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Not => "!",
            UnaryOp::Neg => "-",
        }
    }
}
