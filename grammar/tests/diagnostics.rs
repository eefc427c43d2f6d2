//! One snapshot per parse error class: the source and the rendered
//! diagnostic (no colour), as a user sees it.

use mc_diagnostics::{render_all, SingleSource};

/// (snapshot name, expected code, source)
const CASES: &[(&str, &str, &str)] = &[
    ("unexpected_char", "E0001", "let a = 1 @ 2\n"),
    (
        "unterminated_string",
        "E0002",
        "let motd = \"hello\nlet x = 1\n",
    ),
    (
        "unterminated_comment",
        "E0003",
        "let a = 1\n/* never closed\nlet b = 2\n",
    ),
    ("invalid_escape", "E0004", "let path = \"C:\\windows\"\n"),
    ("invalid_number", "E0005", "let timeout = 5min\n"),
    (
        "number_too_large",
        "E0006",
        "let n = 99999999999999999999999\n",
    ),
    ("unterminated_interpolation", "E0007", "let a = \"x ${ y\n"),
    ("unexpected_token", "E0010", "let c = [1 2]\n"),
    (
        "word_not",
        "E0010",
        "let ok = if not ready { 1 } else { 0 }\n",
    ),
    (
        "word_operator",
        "E0010",
        "let ok = if ready and healthy { 1 } else { 0 }\n",
    ),
    ("unexpected_eof", "E0011", "let a =\n"),
    (
        "unclosed_brace",
        "E0012",
        "role web {\n  package \"nginx\" {\n    state = \"present\"\n  }\n",
    ),
    (
        "unclosed_brace_before_item",
        "E0012",
        "role web {\n  package \"nginx\" {}\n\nrole db {}\n",
    ),
    ("unclosed_paren", "E0012", "let a = f(1, 2\n"),
    (
        "missing_equals",
        "E0013",
        "role web {\n  file \"/etc/motd\" {\n    mode 0o644\n  }\n}\n",
    ),
    (
        "colon_for_equals",
        "E0014",
        "let vars = { port: 80, tier = \"prod\" }\n",
    ),
    ("stray_comma", "E0015", "let xs = [1, , 2]\n"),
    ("keyword_as_name", "E0016", "let type = 3\n"),
    (
        "interpolation_not_allowed",
        "E0017",
        "import \"roles/${v}.mc\"\n",
    ),
    (
        "not_an_item",
        "E0018",
        "file \"/etc/motd\" {\n  content = \"hi\"\n}\n",
    ),
    (
        "not_an_item_typo",
        "E0018",
        "hots \"web1\" { address = \"10.0.0.1\" }\n",
    ),
    (
        "bad_target",
        "E0019",
        "on everyone {\n  package \"vim\" {}\n}\n",
    ),
    ("semicolon", "E0020", "let a = 1;\nlet b = 2\n"),
    ("missing_operand", "E0021", "let a = 1 +\nrole r {}\n"),
    ("chained_comparison", "E0022", "let ok = 1 < 2 < 3\n"),
    ("unmatched_close", "E0023", "let a = 1\n}\n"),
    (
        "missing_else",
        "E0024",
        "let a = if true { 1 }\nlet b = 2\n",
    ),
    (
        "missing_title",
        "E0027",
        "role r {\n  file { content = \"x\" }\n}\n",
    ),
    (
        "assign_in_condition",
        "E0030",
        "role r {\n  if a = 1 {\n    package \"vim\" {}\n  }\n}\n",
    ),
    (
        "typo_for",
        "E0031",
        "role r(admins: [String]) {\n  fro name in admins {\n    user name {}\n  }\n}\n",
    ),
    (
        "broken_role_header",
        "E0029",
        "role web(port Int) {\n  package \"nginx\" {}\n}\n\nrole db {}\n",
    ),
];

fn render(name: &str, src: &str) -> (Vec<String>, String) {
    let file = format!("{name}.mc");
    let parsed = mc_grammar::parse_file(&file, src);
    let sources = SingleSource {
        file: &file,
        text: src,
    };
    let rendered = render_all(&parsed.errors, &sources, false);
    let codes = parsed.errors.iter().map(|d| d.code.clone()).collect();
    (codes, format!("{src}---\n{rendered}"))
}

#[test]
fn every_error_class_renders_clearly() {
    let mut seen = std::collections::BTreeSet::new();
    for (name, code, src) in CASES {
        let (codes, text) = render(name, src);
        assert_eq!(
            codes.first().map(String::as_str),
            Some(*code),
            "{name}: {text}"
        );
        assert!(!text.contains('\u{1b}'), "{name}: colour codes in {text}");
        seen.insert(*code);
        insta::assert_snapshot!(*name, text);
    }
    let deep = format!("let x = {}1\n", "-".repeat(300));
    let (codes, text) = render("too_deep", &deep);
    assert_eq!(codes, ["E0028"]);
    seen.insert("E0028");
    insta::assert_snapshot!("too_deep", text);
    // Every code the parser can emit on its own is shown at least once.
    for code in mc_grammar::errors::codes::ALL {
        if !["E0025", "E0026"].contains(code) {
            assert!(seen.contains(code), "no snapshot for {code}");
        }
    }
}

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let src = "let a = = 1\nlet b = 2\nfn f( = 3\nrole r {\n  file \"/x\" { mode 0o644 }\n}\nlet c = [1 2]\n";
    let (codes, text) = render("several", src);
    assert_eq!(codes, ["E0010", "E0010", "E0013", "E0010"]);
    insta::assert_snapshot!("several_errors", text);
}

#[test]
fn invalid_utf8_diagnostic_for_loaders() {
    let mut diag = mc_grammar::errors::invalid_utf8(4);
    diag.set_file("latin1.mc");
    let text = "let \u{fffd} = 1\n";
    let rendered = diag.render(
        &SingleSource {
            file: "latin1.mc",
            text,
        },
        false,
    );
    assert_eq!(diag.code, "E0026");
    assert!(rendered.contains("latin1.mc:1:5"), "{rendered}");
}
