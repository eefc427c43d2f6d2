//! The parser on valid programs: tree shape, strings, numbers, trivia, docs,
//! precedence, and recovery on broken ones.

use mc_grammar::ast::*;
use mc_grammar::{parse, parse_strict, TriviaKind};

fn strict(src: &str) -> Module {
    match parse_strict(src) {
        Ok(module) => module,
        Err(errors) => panic!("unexpected errors in {src:?}: {errors:#?}"),
    }
}

/// The value of `let x = …` (the last item).
fn value_of(src: &str) -> Expr {
    let module = strict(src);
    match module.items.into_iter().last() {
        Some(Item::Let(l)) => l.value,
        other => panic!("expected a let item, got {other:?}"),
    }
}

/// A compact rendering of an expression, fully parenthesised, to check
/// precedence and associativity.
fn sexp(e: &Expr) -> String {
    match e {
        Expr::Int { value, .. } => value.to_string(),
        Expr::Ident(i) => i.name.clone(),
        Expr::Bool { value, .. } => value.to_string(),
        Expr::Null(_) => "null".into(),
        Expr::Binary { op, lhs, rhs, .. } => {
            format!("({} {} {})", sexp(lhs), op.symbol(), sexp(rhs))
        }
        Expr::Unary { op, operand, .. } => format!("({}{})", op.symbol(), sexp(operand)),
        Expr::Is { value, ty, .. } => match ty {
            TypeExpr::Named(q) => format!("({} is {})", sexp(value), q.dotted()),
            _ => format!("({} is ?)", sexp(value)),
        },
        Expr::Field { base, name, .. } => format!("{}.{}", sexp(base), name.name),
        Expr::Call { callee, args, .. } => {
            let args: Vec<String> = args.iter().map(|a| sexp(&a.value)).collect();
            format!("{}({})", sexp(callee), args.join(", "))
        }
        Expr::Index { base, index, .. } => format!("{}[{}]", sexp(base), sexp(index)),
        Expr::Paren { inner, .. } => sexp(inner),
        other => format!("{other:?}"),
    }
}

#[test]
fn every_construct_of_the_language_parses() {
    let src = include_str!("all_syntax.mc");
    let module = strict(src);
    let kinds: Vec<&str> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Import(_) => "import",
            Item::Let(_) => "let",
            Item::Type(_) => "type",
            Item::Fn(f) if f.builtin => "builtin",
            Item::Fn(_) => "fn",
            Item::Role(_) => "role",
            Item::Host(_) => "host",
            Item::Group(_) => "group",
            Item::On(_) => "on",
            Item::Policy(_) => "policy",
            Item::Resource(_) => "resource",
            Item::Project(_) => "project",
            Item::Error(_) => "error",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "import", "import", "let", "type", "type", "type", "type", "fn", "builtin", "host",
            "host", "group", "project", "role", "on", "policy", "resource", "let", "let", "let",
            "let"
        ]
    );
    // Every span lies inside the file and covers its own text.
    for item in &module.items {
        let span = item.span();
        assert!(span.end as usize <= src.len() && span.start < span.end);
    }
}

#[test]
fn docs_attach_to_items_and_attributes() {
    let src = "/// first line\n/// second line\nlet a = 1\n\n// plain\nlet b = 2\n/// R.\nresource r(t: String) {\n  /// The mode.\n  mode: Int = 1\n  other: Int\n}\n";
    let module = strict(src);
    assert_eq!(module.items[0].docs(), Some("first line\nsecond line"));
    assert_eq!(module.items[1].docs(), None);
    let Item::Resource(r) = &module.items[2] else {
        panic!("expected a resource");
    };
    assert_eq!(r.docs.as_deref(), Some("R."));
    let docs: Vec<Option<&str>> = r
        .members
        .iter()
        .map(|m| match m {
            ResourceMember::Attr(a) => a.docs.as_deref(),
            _ => None,
        })
        .collect();
    assert_eq!(docs, [Some("The mode."), None]);
}

#[test]
fn trivia_records_comments_and_blank_lines() {
    let src = "// head\n\nlet a = 1 /* inline /* nested */ */\n/// doc\nlet b = 2 // tail\n";
    let parsed = parse(src);
    assert!(parsed.errors.is_empty());
    let trivia: Vec<(TriviaKind, &str)> = parsed
        .trivia
        .iter()
        .map(|t| (t.kind, t.span.text(src)))
        .collect();
    assert_eq!(
        trivia,
        [
            (TriviaKind::LineComment, "// head"),
            (TriviaKind::BlankLine, "\n\n"),
            (TriviaKind::BlockComment, "/* inline /* nested */ */"),
            (TriviaKind::DocComment, "/// doc"),
            (TriviaKind::LineComment, "// tail"),
        ]
    );
}

#[test]
fn numeric_literal_forms() {
    let ints = [
        ("42", 42),
        ("1_000", 1000),
        ("0o644", 0o644),
        ("0x1F", 31),
        ("0b1010", 10),
        ("0", 0),
    ];
    for (text, want) in ints {
        match value_of(&format!("let x = {text}")) {
            Expr::Int { value, .. } => assert_eq!(value, want, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    let durations = [
        ("30s", 30_000),
        ("5m", 300_000),
        ("1h", 3_600_000),
        ("1d", 86_400_000),
        ("1h30m", 5_400_000),
        ("250ms", 250),
    ];
    for (text, want) in durations {
        match value_of(&format!("let x = {text}")) {
            Expr::Duration { millis, .. } => assert_eq!(millis, want, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    match value_of("let x = -5") {
        Expr::Unary {
            op: UnaryOp::Neg,
            operand,
            ..
        } => {
            assert!(matches!(*operand, Expr::Int { value: 5, .. }));
        }
        other => panic!("{other:?}"),
    }
}

fn string_parts(src: &str) -> Vec<StrPart> {
    match value_of(src) {
        Expr::Str(s) => s.parts,
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn escapes_are_decoded() {
    let parts = string_parts(r#"let x = "tab\tnl\nq\"d\$b\\u\u{e9}""#);
    assert!(
        matches!(parts.as_slice(), [StrPart::Text { value, .. }] if value == "tab\tnl\nq\"d$b\\u\u{e9}"),
        "{parts:?}"
    );
}

#[test]
fn interpolation_nests_records_strings_and_braces() {
    let src = r#"let x = "a ${ f({ k = "in ${ g("}") } side" }).k } b ${ if c { 1 } else { 2 } }""#;
    let parts = string_parts(src);
    assert_eq!(parts.len(), 4, "{parts:#?}");
    assert!(matches!(&parts[0], StrPart::Text { value, .. } if value == "a "));
    let StrPart::Interp(first) = &parts[1] else {
        panic!("expected an interpolation");
    };
    // f({...}).k
    let Expr::Field { base, name, .. } = first.as_ref() else {
        panic!("{first:?}");
    };
    assert_eq!(name.name, "k");
    let Expr::Call { args, .. } = base.as_ref() else {
        panic!("{base:?}");
    };
    let Expr::Record { fields, .. } = &args[0].value else {
        panic!("{:?}", args[0]);
    };
    let Expr::Str(inner) = &fields[0].value else {
        panic!("{:?}", fields[0]);
    };
    assert_eq!(inner.parts.len(), 3);
    let StrPart::Interp(g) = &inner.parts[1] else {
        panic!("expected inner interpolation");
    };
    let Expr::Call { args, .. } = g.as_ref() else {
        panic!("{g:?}");
    };
    assert!(matches!(&args[0].value, Expr::Str(s) if s.as_plain().as_deref() == Some("}")));
    assert!(matches!(&parts[2], StrPart::Text { value, .. } if value == " b "));
    assert!(matches!(&parts[3], StrPart::Interp(e) if matches!(e.as_ref(), Expr::If { .. })));
    // The interpolation's expression span points at the source text.
    assert_eq!(
        first.span().text(src),
        "f({ k = \"in ${ g(\"}\") } side\" }).k"
    );
}

#[test]
fn multiline_strings_strip_common_indentation() {
    let src = "let x = \"\"\"\n    server {\n      listen ${port};\n    }\n\n    # end\n    \"\"\"";
    let parts = string_parts(src);
    let text: String = parts
        .iter()
        .map(|p| match p {
            StrPart::Text { value, .. } => value.clone(),
            StrPart::Interp(_) => "<port>".into(),
        })
        .collect();
    assert_eq!(text, "server {\n  listen <port>;\n}\n\n# end\n");
    // Quotes inside a multi-line string need no escaping.
    let parts = string_parts("let x = \"\"\"say \"hi\" now\"\"\"");
    assert!(matches!(&parts[0], StrPart::Text { value, .. } if value == "say \"hi\" now"));
}

#[test]
fn operator_precedence_and_associativity() {
    let cases = [
        ("a + b * c", "(a + (b * c))"),
        ("a - b - c", "((a - b) - c)"),
        ("a || b && c", "(a || (b && c))"),
        ("a == b && c != d", "((a == b) && (c != d))"),
        ("a ?? b ?? c", "(a ?? (b ?? c))"),
        ("a ?? 1 + 2", "(a ?? (1 + 2))"),
        ("x.y ?? 0 == 1", "((x.y ?? 0) == 1)"),
        ("a & b & c", "((a & b) & c)"),
        ("!a && b", "((!a) && b)"),
        ("-a * b", "((-a) * b)"),
        ("x is file && y", "((x is file) && y)"),
        ("f(x)[0].y", "f(x)[0].y"),
        ("a % b + c / d", "((a % b) + (c / d))"),
        ("(a + b) * c", "((a + b) * c)"),
        ("a < b || c >= d", "((a < b) || (c >= d))"),
        ("a ?? b is file", "((a ?? b) is file)"),
        ("x is file == y", "((x is file) == y)"),
        ("a + b is c && d", "(((a + b) is c) && d)"),
        ("a * b - c * d % e", "((a * b) - ((c * d) % e))"),
        ("a || b || c && d", "((a || b) || (c && d))"),
    ];
    for (src, want) in cases {
        assert_eq!(sexp(&value_of(&format!("let x = {src}"))), want, "{src}");
    }
}

#[test]
fn comprehensions_merges_and_if_expressions() {
    match value_of("let x = [f(x) for x in xs if p(x)]") {
        Expr::Comprehension {
            pattern, filter, ..
        } => {
            assert!(matches!(pattern, ForPattern::Single(i) if i.name == "x"));
            assert!(filter.is_some());
        }
        other => panic!("{other:?}"),
    }
    match value_of("let x = [k for k, v in m]") {
        Expr::Comprehension {
            pattern, filter, ..
        } => {
            assert!(matches!(pattern, ForPattern::Pair(k, v) if k.name == "k" && v.name == "v"));
            assert!(filter.is_none());
        }
        other => panic!("{other:?}"),
    }
    match value_of("let x = if a { 1 } else if b { 2 } else { 3 }") {
        Expr::If { else_branch, .. } => assert!(matches!(*else_branch, Expr::If { .. })),
        other => panic!("{other:?}"),
    }
}

#[test]
fn types_cover_lists_maps_records_optionals_and_unions() {
    let src = "type A = [String]\ntype B = {String: Int}\ntype C = { a: Int, b: String? = null }\ntype D = \"x\" | \"y\"\ntype E = mod.T?\ntype F = {}";
    let module = strict(src);
    let tys: Vec<&TypeExpr> = module
        .items
        .iter()
        .map(|i| match i {
            Item::Type(t) => &t.ty,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(matches!(tys[0], TypeExpr::List(..)));
    assert!(matches!(tys[1], TypeExpr::Map(..)));
    assert!(matches!(tys[2], TypeExpr::Record(f, _) if f.len() == 2 && f[1].default.is_some()));
    assert!(matches!(tys[3], TypeExpr::Union(m, _) if m.len() == 2));
    assert!(
        matches!(tys[4], TypeExpr::Optional(inner, _) if matches!(inner.as_ref(), TypeExpr::Named(q) if q.dotted() == "mod.T"))
    );
    assert!(matches!(tys[5], TypeExpr::Record(f, _) if f.is_empty()));
}

#[test]
fn statements_in_roles() {
    let src = r#"
role r(xs: [String], n: Int = 3) {
  user name { shell = "/bin/bash", groups = ["sudo"] }
  let conf = file "/etc/x" { content = "a" }
  let y: Int = n + 1
  web.nginx(port = 80)
  base(xs)
  for k, v in m { sysctl k { value = v } }
  if a { } else if b { } else { }
  package names[0] {}
  assert n > 0 : "n must be positive"
  "#;
    // The closing brace is missing on purpose: the tree is still complete.
    let parsed = parse(src);
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].code, "E0012");
    let module = strict(&format!("{src}}}"));
    let Item::Role(role) = &module.items[0] else {
        panic!("expected a role");
    };
    assert_eq!(role.params.len(), 2);
    assert!(role.params[1].default.is_some());
    let kinds: Vec<String> = role
        .body
        .stmts
        .iter()
        .map(|s| match s {
            Stmt::Resource(r) => format!(
                "resource {}{}",
                r.ty.name,
                if r.binding.is_some() { " bound" } else { "" }
            ),
            Stmt::Let(_) => "let".into(),
            Stmt::If(i) => format!("if else={}", i.else_branch.is_some()),
            Stmt::For(f) => format!("for pair={}", matches!(f.pattern, ForPattern::Pair(..))),
            Stmt::Call(c) => format!("call {} args={}", c.callee.dotted(), c.args.len()),
            Stmt::Assert(_) => "assert".into(),
            Stmt::Error(_) => "error".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "resource user",
            "resource file bound",
            "let",
            "call web.nginx args=1",
            "call base args=1",
            "for pair=true",
            "if else=true",
            "resource package",
            "assert",
        ]
    );
}

#[test]
fn targets() {
    let module =
        strict("on (group(\"web\") || host(\"db1\")) && !group(\"canary\") { }\non all { }");
    let Item::On(on) = &module.items[0] else {
        panic!();
    };
    let Target::And(lhs, rhs, _) = &on.target else {
        panic!("{:?}", on.target);
    };
    assert!(
        matches!(lhs.as_ref(), Target::Paren(inner, _) if matches!(inner.as_ref(), Target::Or(..)))
    );
    assert!(
        matches!(rhs.as_ref(), Target::Not(inner, _) if matches!(inner.as_ref(), Target::Group { .. }))
    );
    let Item::On(all) = &module.items[1] else {
        panic!();
    };
    assert!(matches!(all.target, Target::All(_)));
}

#[test]
fn recovery_reports_every_error_and_keeps_good_items() {
    let src = "let a = = 1\nlet ok1 = 2\nrole r {\n  file \"/x\" { mode 0o644 }\n  package \"vim\" {}\n}\nlet b = [1 2]\nfn ok2() = 3\n";
    let parsed = parse(src);
    let codes: Vec<&str> = parsed.errors.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0010", "E0013", "E0010"]);
    let names: Vec<String> = parsed
        .module
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Let(l) => Some(l.name.name.clone()),
            Item::Fn(f) => Some(f.name.name.clone()),
            Item::Role(r) => Some(format!(
                "role {} with {} stmts",
                r.name.name,
                r.body.stmts.len()
            )),
            _ => None,
        })
        .collect();
    assert!(names.contains(&"ok1".to_string()), "{names:?}");
    assert!(names.contains(&"ok2".to_string()), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("role r")), "{names:?}");
    assert!(parse_strict(src).is_err());
}

#[test]
fn one_error_per_line_each_at_its_own_line() {
    // Three independent mistakes on three lines: three errors, each on the
    // line that holds it (a value missing at the end of a line is reported
    // there, not at the next line's first token).
    let src = "let a =\nlet b = 2 +\non all { file \"/x\" { mode = } }\n";
    let parsed = parse(src);
    let at: Vec<(&str, &str)> = parsed
        .errors
        .iter()
        .map(|d| (d.code.as_str(), &src[d.primary.range.clone()]))
        .collect();
    assert_eq!(at, [("E0010", "="), ("E0021", "+"), ("E0010", "}")]);
    assert!(
        parsed.errors[0].message.contains("after `=`"),
        "{}",
        parsed.errors[0].message
    );
}

#[test]
fn empty_and_comment_only_files() {
    assert!(strict("").items.is_empty());
    let parsed = parse("// nothing here\n/* at all */\n");
    assert!(parsed.errors.is_empty());
    assert_eq!(parsed.trivia.len(), 2);
}

#[test]
fn explanations_exist_for_every_parse_code() {
    for n in 1..=99 {
        let code = format!("E{n:04}");
        let used = mc_grammar::errors::codes::ALL.contains(&code.as_str());
        assert_eq!(mc_grammar::explain(&code).is_some(), used, "{code}");
    }
}

#[test]
fn broken_expressions_become_error_nodes_in_place() {
    let parsed = parse("let a = = 1\nlet b = 1 +\nfn f() = [1, 2 3]\n");
    assert_eq!(parsed.errors.len(), 3, "{:#?}", parsed.errors);
    let items = &parsed.module.items;
    assert!(
        matches!(&items[0], Item::Let(l) if l.name.name == "a" && matches!(l.value, Expr::Error(_)))
    );
    assert!(
        matches!(&items[1], Item::Let(l) if matches!(&l.value, Expr::Binary { rhs, .. } if matches!(rhs.as_ref(), Expr::Error(_))))
    );
    assert!(
        matches!(&items[2], Item::Fn(f) if f.name.name == "f" && matches!(&f.body, Some(Expr::List { .. })))
    );
}

#[test]
fn an_item_after_an_unclosed_bracket_still_reports_its_own_mistake() {
    // Recovery from the unclosed `[` (or `(`, or a role's `{`) skips the
    // next item whole; its own mistake is still reported, once.
    for (src, second) in [
        ("let x = [1, 2\nlet y = 3 +\n", "+"),
        ("let x = (1\nfn f(a: Int) -> Int = a +\n", "+"),
        ("role r() {\n  package \"a\" {}\nfn f() -> Int = = 1\n", "="),
    ] {
        let parsed = parse(src);
        let at: Vec<&str> = parsed
            .errors
            .iter()
            .map(|d| &src[d.primary.range.clone()])
            .collect();
        assert_eq!(at.len(), 2, "{src:?}: {:#?}", parsed.errors);
        assert_eq!(at[1], second, "{src:?}: {:#?}", parsed.errors);
    }
    // A closer with nothing to close after an earlier mistake is reported.
    let src = "host \"h\" { address = }\nlet q = )\n";
    let parsed = parse(src);
    let codes: Vec<&str> = parsed.errors.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["E0010", "E0023"]);
    // A statement at the start of a line inside a block is not an item.
    let parsed = parse("role r() {\nlet x = 1\nlet y = 2 +\n}\n");
    assert_eq!(parsed.errors.len(), 1, "{:#?}", parsed.errors);
}
