//! The canonical style, construct by construct.

mod common;

use common::check_format;

fn fmt(src: &str) -> String {
    check_format("inline", src, mc_fmt::DEFAULT_WIDTH)
}

fn fmt_width(src: &str, width: usize) -> String {
    check_format("inline", src, width)
}

#[test]
fn spacing_and_trailing_commas() {
    assert_eq!(fmt("let  x:Int=1+2*3"), "let x: Int = 1 + 2 * 3\n");
    assert_eq!(fmt("let xs = [ 1 ,2, 3, ]"), "let xs = [1, 2, 3]\n");
    assert_eq!(
        fmt("let r = {a=1,b=\"x\",}"),
        "let r = { a = 1, b = \"x\" }\n"
    );
    assert_eq!(fmt("let e = [ ]\nlet f = { }"), "let e = []\nlet f = {}\n");
    assert_eq!(
        fmt("fn f( a:Int ,b:Int=2 )->Int=a"),
        "fn f(a: Int, b: Int = 2) -> Int = a\n"
    );
}

#[test]
fn literals_are_kept_as_written() {
    let src = "let a = 0o644\nlet b = 1_000\nlet c = 1h30m\nlet d = \"tab\\t\\u{41}\"\n";
    assert_eq!(fmt(src), src);
}

#[test]
fn resource_bodies_have_one_field_per_line() {
    let src = "role r { file \"/x\" { mode = 0o644, owner = \"root\" } package \"p\" {} }";
    assert_eq!(
        fmt(src),
        "role r {\n  file \"/x\" {\n    mode = 0o644\n    owner = \"root\"\n  }\n  package \"p\" {}\n}\n"
    );
    assert_eq!(
        fmt("host \"a\" { address = \"1\" }"),
        "host \"a\" {\n  address = \"1\"\n}\n"
    );
}

#[test]
fn records_and_lists_break_when_too_wide() {
    let out = fmt_width(
        "let r = { alpha = 1, beta = [1, 2, 3], gamma = \"ccc\" }",
        30,
    );
    assert_eq!(
        out,
        "let r = {\n  alpha = 1\n  beta = [1, 2, 3]\n  gamma = \"ccc\"\n}\n"
    );
    let out = fmt_width("let xs = [\"aaaaaaaa\", \"bbbbbbbb\", \"cccccccc\"]", 30);
    assert_eq!(
        out,
        "let xs = [\n  \"aaaaaaaa\",\n  \"bbbbbbbb\",\n  \"cccccccc\"\n]\n"
    );
}

#[test]
fn long_calls_put_one_argument_per_line() {
    let out = fmt_width(
        "role r { web.nginx(port = 8080, server_name = \"example.com\") }",
        40,
    );
    assert_eq!(
        out,
        "role r {\n  web.nginx(\n    port = 8080,\n    server_name = \"example.com\"\n  )\n}\n"
    );
}

#[test]
fn operators_break_before_the_operator() {
    let out = fmt_width("let ok = aaaaaaaaaa && bbbbbbbbbb && cccccccccc", 30);
    assert_eq!(
        out,
        "let ok = aaaaaaaaaa\n  && bbbbbbbbbb\n  && cccccccccc\n"
    );
    // Parentheses are the author's and stay.
    assert_eq!(fmt("let x = (1 + 2) * 3"), "let x = (1 + 2) * 3\n");
}

#[test]
fn if_expressions_stay_on_one_line_or_break_every_branch() {
    assert_eq!(
        fmt("let x = if a {1} else {2}"),
        "let x = if a { 1 } else { 2 }\n"
    );
    let out = fmt_width(
        "let x = if a { \"first\" } else if b { \"second\" } else { \"third\" }",
        30,
    );
    assert_eq!(
        out,
        "let x = if a {\n  \"first\"\n} else if b {\n  \"second\"\n} else {\n  \"third\"\n}\n"
    );
}

#[test]
fn statements_blocks_and_else_chains() {
    let src = "role r { if a { let x = 1 } else if b { let y = 2 } else { let z = 3 }\nfor k, v in m { let w = k } }";
    assert_eq!(
        fmt(src),
        "role r {\n  if a {\n    let x = 1\n  } else if b {\n    let y = 2\n  } else {\n    let z = 3\n  }\n  for k, v in m {\n    let w = k\n  }\n}\n"
    );
}

#[test]
fn blank_lines_collapse_to_one_and_vanish_at_edges() {
    let src = "\n\n\nlet a = 1\n\n\n\nlet b = 2\nlet c = 3\n\n\n";
    assert_eq!(fmt(src), "let a = 1\n\nlet b = 2\nlet c = 3\n");
    let src = "role r {\n\n  let a = 1\n\n\n  let b = 2\n\n}";
    assert_eq!(fmt(src), "role r {\n  let a = 1\n\n  let b = 2\n}\n");
}

#[test]
fn unions_comprehensions_and_targets() {
    assert_eq!(
        fmt("type T = \"a\"|\"b\" | \"c\""),
        "type T = \"a\" | \"b\" | \"c\"\n"
    );
    assert_eq!(fmt("type M = {String:[Int]}"), "type M = {String: [Int]}\n");
    assert_eq!(
        fmt("let xs = [ f(x) for x in ys if x>1 ]"),
        "let xs = [f(x) for x in ys if x > 1]\n"
    );
    assert_eq!(
        fmt("on group(\"web\")&&!( host(\"a\")||all ) { }"),
        "on group(\"web\") && !(host(\"a\") || all) {}\n"
    );
}

#[test]
fn multi_line_strings_are_kept_verbatim() {
    let src = "role r {\n  file \"/x\" {\n    content = \"\"\"\n      a ${b}\n        c\n      \"\"\"\n  }\n}\n";
    assert_eq!(fmt(src), src);
    // Re-indenting the statement keeps the string's value.
    let moved =
        "role r {\nfile \"/x\" {\ncontent = \"\"\"\n      a ${b}\n        c\n      \"\"\"\n}\n}\n";
    fmt(moved);
}

#[test]
fn comments_in_awkward_places_are_kept() {
    for src in [
        "let x = // why\n  1\n",
        "let x = [ /* empty */ ]\n",
        "let x = f( // first\n a)\n",
        "role r(a: Int /* why */) {}\n",
        "let y = (1 /* one */)\n",
        "let z = a // a\n  + b // b\n  + c\n",
        "type T = { /* nothing */ }\n",
        "// only a comment",
        "/* only a block */",
        "on all { /* c */ }",
        "let x = [x for x in xs /* all */]\n",
    ] {
        fmt(src);
    }
}

#[test]
fn parse_errors_are_refused() {
    let err = mc_fmt::format("let x = ", 100).expect_err("refused");
    assert!(!err.is_empty());
    assert!(err.iter().all(|d| d.code.starts_with('E')));
}

#[test]
fn empty_file_stays_empty() {
    assert_eq!(mc_fmt::format("", 100).ok().as_deref(), Some(""));
    assert_eq!(mc_fmt::format("\n\n  \n", 100).ok().as_deref(), Some(""));
}

#[test]
fn a_last_record_or_list_argument_hugs_the_call() {
    let src = "let c = template(\"nginx.conf.j2\", { port = 8080, server_name = \"www.example.com\", workers = 4 })";
    assert_eq!(
        fmt_width(src, 60),
        "let c = template(\"nginx.conf.j2\", {\n  port = 8080\n  server_name = \"www.example.com\"\n  workers = 4\n})\n"
    );
    // When even the first line does not fit, every argument gets its own.
    let out = fmt_width(src, 30);
    assert!(
        out.starts_with("let c = template(\n  \"nginx.conf.j2\",\n  {\n"),
        "{out}"
    );
    // Short calls stay on one line.
    assert_eq!(fmt("let c = f(1, [2, 3])"), "let c = f(1, [2, 3])\n");
}

#[test]
fn windows_line_endings_become_unix_ones() {
    let src = "// note \r\nlet a = 1\r\n\r\n\r\nlet b = [1,\r\n  2]\r\n";
    assert_eq!(fmt(src), "// note\nlet a = 1\n\nlet b = [1, 2]\n");
}

#[test]
fn param_items_keep_their_keyword() {
    let out = mc_fmt::format("param  port : Int=8080\n", mc_fmt::DEFAULT_WIDTH).unwrap();
    assert_eq!(out, "param port: Int = 8080\n");
}
