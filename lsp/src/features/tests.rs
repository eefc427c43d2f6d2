//! In-process tests of the LSP features, with cursor markers: a source with
//! `<CURSOR>` and the answer expected there beside it.

use super::*;
use mc_compiler::ide::AnalysisHost;
use mc_compiler::MemoryFileSystem;
use std::path::PathBuf;

const CURSOR: &str = "<CURSOR>";
const ROOT: &str = "/p";
const WEB: &str = "/// nginx serving one site.\nrole nginx(port: Int = 80, name: String = \"default\") {\n  let count = 3\n  package \"nginx\" {}\n}\n";

fn load(main: &str) -> (Analysis, Doc, u32) {
    let at = main.find(CURSOR).unwrap_or(0) as u32;
    let text = main.replace(CURSOR, "");
    let fs = MemoryFileSystem::new();
    let root = Path::new(ROOT);
    fs.insert(&root.join("main.mc"), text.clone());
    fs.insert(&root.join("roles/web.mc"), WEB);
    let mut host = AnalysisHost::new(Arc::new(fs), Some(PathBuf::from("/std")));
    host.set_text(&root.join("main.mc"), Arc::from(text));
    let a = host.analysis(&root.join("main.mc")).expect("analysis");
    let f = a.file(&root.join("main.mc")).expect("file");
    let doc = Doc::new(&a, f);
    (a, doc, at)
}

fn hover_text(main: &str) -> String {
    let (a, doc, at) = load(main);
    match hover::hover(&a, &doc, at).map(|h| h.contents) {
        Some(HoverContents::Markup(m)) => m.value,
        _ => "nothing".into(),
    }
}

fn completion_labels(main: &str) -> Vec<String> {
    let (a, doc, at) = load(main);
    completion::completion(&a, &doc, at)
        .into_iter()
        .map(|c| c.label)
        .collect()
}

#[test]
fn hover_shows_the_checked_type_and_the_docs() {
    assert_eq!(
        hover_text("/// The port.\nlet port = 80\nlet q = po<CURSOR>rt\n"),
        "```mc\nlet port: Int\n```\n\nThe port."
    );
    assert_eq!(
        hover_text("role r(p: [String] = []) {\n  let n = p<CURSOR>\n}\n"),
        "```mc\np: [String] = []\n```"
    );
    assert_eq!(
        hover_text("role r() {\n  for x in [1] {\n    let y = x<CURSOR>\n  }\n}\n"),
        "```mc\nfor x: Int\n```"
    );
    let text = hover_text("on all {\n  pack<CURSOR>age \"nginx\" {}\n}\n");
    assert!(
        text.starts_with("```mc\nresource package(name: String)\n```"),
        "{text}"
    );
    assert!(text.contains("Attributes:"), "{text}");
    assert_eq!(hover_text("let a = 1\n<CURSOR>\n"), "nothing");
}

#[test]
fn hover_on_a_field_read_shows_the_fields_checked_type() {
    let site = "type Site = { name: String, port: Int = 80 }\nfn f(s: Site) -> String = ";
    assert_eq!(
        hover_text(&format!("{site}\"${{s.po<CURSOR>rt}}\"\n")),
        "```mc\nport: Int\n```"
    );
    assert_eq!(
        hover_text("on all {\n  file \"/x\" { content = host.na<CURSOR>me }\n}\n"),
        "```mc\nname: String\n```"
    );
    assert_eq!(
        hover_text(
            "role r() {\n  let c = file \"/x\" { mode = 0o600 }\n  let m = c.mo<CURSOR>de\n}\n"
        ),
        "```mc\nmode: Mode?\n```"
    );
}

#[test]
fn inlay_hints_are_the_checkers_types_of_untyped_lets() {
    let (a, doc, _) = load("let a = [1, 2]\nlet b: Int = 2\nrole r(p: Int) {\n  let c = \"x${p}\"\n  let d = host.vars\n}\n");
    let all = Range::new(Position::new(0, 0), Position::new(99, 0));
    let hints: Vec<(u32, u32, String)> = inlay_hints::inlay_hints(&a, &doc, all)
        .into_iter()
        .map(|h| match h.label {
            InlayHintLabel::String(s) => (h.position.line, h.position.character, s),
            InlayHintLabel::LabelParts(_) => (0, 0, String::new()),
        })
        .collect();
    // `b` declares its type; `host.vars` is not known before evaluation.
    assert_eq!(
        hints,
        [
            (0, 5, ": [Int]".to_string()),
            (3, 7, ": String".to_string())
        ]
    );
}

fn hint_labels(main: &str) -> Vec<(u32, u32, String)> {
    let (a, doc, _) = load(main);
    let all = Range::new(Position::new(0, 0), Position::new(99, 0));
    inlay_hints::inlay_hints(&a, &doc, all)
        .into_iter()
        .filter(|h| h.kind == Some(InlayHintKind::PARAMETER))
        .map(|h| match h.label {
            InlayHintLabel::String(s) => (h.position.line, h.position.character, s),
            InlayHintLabel::LabelParts(_) => (0, 0, String::new()),
        })
        .collect()
}

#[test]
fn inlay_hints_name_the_parameter_of_each_positional_argument() {
    // A user function, a role, a stdlib function; named arguments,
    // arguments beyond the parameters and an argument named as its
    // parameter get none.
    let hints = hint_labels(
        "import \"roles/web.mc\"\nfn area(width: Int, height: Int) -> Int = width * height\nlet a = area(2, height = 3)\nlet b = area(1, 2, 3)\nlet height = 2\nlet d = area(1, height)\nlet c: String = join([\"a\"], \",\")\non all {\n  web.nginx(8080, \"site\")\n}\n",
    );
    assert_eq!(
        hints,
        [
            (2, 13, "width:".to_string()),
            (3, 13, "width:".to_string()),
            (3, 16, "height:".to_string()),
            (5, 13, "width:".to_string()),
            (6, 21, "parts:".to_string()),
            (6, 28, "sep:".to_string()),
            (8, 12, "port:".to_string()),
            (8, 18, "name:".to_string()),
        ]
    );
}

#[test]
fn completion_at_the_cursor() {
    let labels =
        completion_labels("on all {\n  file \"/x\" {\n    mode = 0o644\n    ow<CURSOR>\n  }\n}\n");
    assert!(labels.contains(&"owner".to_string()) && labels.contains(&"notify".to_string()));
    assert!(!labels.contains(&"mode".to_string()), "{labels:?}");
    let labels = completion_labels("on all {\n  file \"/x\" {\n    state = <CURSOR>\n  }\n}\n");
    assert!(labels.contains(&"\"absent\"".to_string()), "{labels:?}");
    let labels = completion_labels("import \"roles/web.mc\"\non all {\n  web.<CURSOR>\n}\n");
    assert_eq!(labels, ["nginx"]);
    let labels = completion_labels(
        "role r() {\n  let s = { workers = 4, user = \"w\" }\n  let n = s.<CURSOR>\n}\n",
    );
    assert_eq!(labels, ["workers", "user"]);
    let labels = completion_labels("role r(port: Int) {\n  let n = po<CURSOR>\n}\n");
    assert_eq!(labels[0], "port");
    assert!(labels.contains(&"role".to_string()) && labels.contains(&"file".to_string()));
}

#[test]
fn completion_inside_interpolations_and_bodies_with_computed_titles() {
    // A field inside `${…}` in a string (also one still being typed, its
    // brace and quote closed by the editor).
    let role = "role r() {\n  let s = { port = 80, tls = false }\n";
    let labels = completion_labels(&format!(
        "{role}  file \"/x\" {{ content = \"listen ${{s.<CURSOR>}};\" }}\n}}\n"
    ));
    assert_eq!(labels, ["port", "tls"]);
    let labels = completion_labels(&format!("{role}  let t = \"${{s.<CURSOR>}}\"\n"));
    assert_eq!(labels, ["port", "tls"]);
    // The body of a resource whose title is a call.
    let labels = completion_labels(
        "fn p(n: String) -> Path = \"/etc/${n}\"\non all {\n  file p(\"a\") {\n    mo<CURSOR>\n  }\n}\n",
    );
    assert!(labels.contains(&"mode".to_string()), "{labels:?}");
    assert!(!labels.contains(&"p".to_string()), "{labels:?}");
}

#[test]
fn definition_rename_and_signature_help() {
    let (a, doc, at) =
        load("import \"roles/web.mc\"\non all {\n  web.ngi<CURSOR>nx(port = 1)\n}\n");
    let loc = definition::definition(&a, &doc, at).expect("definition");
    assert_eq!(loc.uri.path(), "/p/roles/web.mc");
    assert_eq!(loc.range.start, Position::new(1, 5));
    let edit = rename::rename(&a, &doc, at, "site")
        .expect("valid")
        .expect("edit");
    let changes = edit.changes.expect("changes");
    let files: Vec<&str> = {
        let mut v: Vec<&str> = changes.keys().map(|u| u.path()).collect();
        v.sort();
        v
    };
    assert_eq!(files, ["/p/main.mc", "/p/roles/web.mc"]);
    assert!(rename::rename(&a, &doc, at, "role").is_err());
    let (a, doc, at) = load("on all {\n  fi<CURSOR>le \"/x\" {}\n}\n");
    assert!(rename::rename(&a, &doc, at, "document").is_err());
    assert_eq!(rename::prepare_rename(&a, &doc, at), None);
    let (a, doc, at) =
        load("import \"roles/web.mc\"\non all {\n  web.nginx(name = \"a\", <CURSOR>\n");
    let s = signature_help::signature_help(&a, &doc, at).expect("signature");
    assert_eq!(
        s.signatures[0].label,
        "role nginx(port: Int = 80, name: String = \"default\")"
    );
    assert_eq!(s.active_parameter, Some(1));
}

#[test]
fn semantic_tokens_classify_names_by_what_they_resolve_to() {
    let (a, doc, _) = load("fn twice(n: Int) -> Int = n * 2\nlet x = twice(2)\n");
    let tokens = semantic_tokens::semantic_tokens(&a, &doc);
    // Absolute (line, column, type) of each token.
    let (mut line, mut col) = (0, 0);
    let mut absolute = Vec::new();
    for t in &tokens {
        if t.delta_line > 0 {
            col = 0;
        }
        line += t.delta_line;
        col += t.delta_start;
        absolute.push((
            line,
            col,
            TOKEN_TYPES[t.token_type as usize].as_str().to_string(),
        ));
    }
    let at = |l: u32, c: u32| {
        absolute
            .iter()
            .find(|(x, y, _)| *x == l && *y == c)
            .map(|t| t.2.clone())
            .unwrap_or_default()
    };
    assert_eq!(at(0, 0), "keyword");
    assert_eq!(at(0, 3), "function");
    assert_eq!(at(0, 9), "parameter");
    assert_eq!(at(0, 26), "parameter");
    assert_eq!(at(1, 8), "function");
    assert_eq!(at(1, 4), "variable");
}

#[test]
fn document_symbols_list_items_with_their_children() {
    let (a, doc, _) = load("host \"web1\" {}\nrole r() {\n  let n = 1\n  package \"nginx\" {}\n}\nresource site(name: String) {\n  port: Int\n}\npolicy \"careful\" {}\n");
    let syms = symbols::document_symbols(&a, &doc);
    let shown: Vec<(String, Option<String>, usize)> = syms
        .iter()
        .map(|s| {
            let children = s.children.as_ref().map_or(0, Vec::len);
            (s.name.clone(), s.detail.clone(), children)
        })
        .collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        shown,
        [
            ("web1".to_string(), some("host"), 0),
            ("r".to_string(), some("role"), 2),
            ("site".to_string(), some("resource"), 1),
            ("careful".to_string(), some("policy"), 0),
        ]
    );
    assert_eq!(syms[1].selection_range.start, Position::new(1, 5));
}
