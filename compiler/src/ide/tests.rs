//! Cursor-marker tests: each source marks the cursor with `<CURSOR>`; the
//! expected answer is written beside it, as `file:line:col text`.

use super::*;
use crate::fs::MemoryFileSystem;

const CURSOR: &str = "<CURSOR>";
const ROOT: &str = "/p";

/// Loads `main.mc` (holding the cursor) and the other files of a project
/// in memory; returns the analysis, the main file and the cursor offset.
fn load(main: &str, others: &[(&str, &str)]) -> (Analysis, SourceFile, u32) {
    let offset = main.find(CURSOR).expect("a <CURSOR> marker") as u32;
    let text = main.replace(CURSOR, "");
    let fs = MemoryFileSystem::new();
    let root = Path::new(ROOT);
    fs.insert(&root.join("main.mc"), text.clone());
    for (p, t) in others {
        fs.insert(&root.join(p), *t);
    }
    let mut host = AnalysisHost::new(Arc::new(fs), Some(PathBuf::from("/std")));
    host.set_text(&root.join("main.mc"), Arc::from(text));
    let a = host.analysis(&root.join("main.mc")).expect("analysis");
    let f = a.file(&root.join("main.mc")).expect("main.mc");
    (a, f, offset)
}

/// `file:line:col text` of a span (lines and columns from 1).
fn render(a: &Analysis, file: SourceFile, span: Span) -> String {
    let text = a.text(file);
    let before = &text[..span.start as usize];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let path = a.path(file);
    let shown = path.strip_prefix(ROOT).unwrap_or(&path);
    format!("{}:{line}:{col} {}", shown.display(), span.text(&text))
}

fn goto(main: &str, others: &[(&str, &str)]) -> String {
    let (a, f, at) = load(main, others);
    match a.goto_definition(f, at) {
        Some(NavTarget {
            file: Some(t),
            span,
            ..
        }) => render(&a, t, span),
        Some(NavTarget { path, .. }) => format!("{}", path.display()),
        None => "nothing".into(),
    }
}

fn refs(main: &str, others: &[(&str, &str)], decl: bool) -> Vec<String> {
    let (a, f, at) = load(main, others);
    a.references(f, at, decl)
        .into_iter()
        .map(|(file, o)| render(&a, file, o.span))
        .collect()
}

fn type_of(main: &str) -> String {
    let (a, f, at) = load(main, &[]);
    a.type_at(f, at).map_or("nothing".into(), |t| t.to_string())
}

fn scope(main: &str) -> Vec<String> {
    let (a, f, at) = load(main, &[]);
    a.scope_at(f, at).into_iter().map(|e| e.name).collect()
}

const WEB: &str = "/// nginx serving one site.\nrole nginx(port: Int = 80, name: String = \"default\") {\n  package \"nginx\" {}\n}\n";

#[test]
fn definition_of_a_parameter_shadowing_a_module_let() {
    let src = "let x = 1\nrole r(x: Int) {\n  let y = x<CURSOR>\n}\n";
    assert_eq!(goto(src, &[]), "main.mc:2:8 x");
}

#[test]
fn definition_of_a_for_variable_and_of_a_module_let() {
    let src = "let x = 1\nrole r() {\n  for x in [1] {\n    let z = x<CURSOR>\n  }\n}\n";
    assert_eq!(goto(src, &[]), "main.mc:3:7 x");
    let src = "let x = 1\nrole r() {\n  for y in [1] {}\n  let z = x<CURSOR>\n}\n";
    assert_eq!(goto(src, &[]), "main.mc:1:5 x");
}

#[test]
fn definition_across_an_import_and_of_a_named_argument() {
    let others = [("roles/web.mc", WEB)];
    let src = "import \"roles/web.mc\"\non all {\n  web.ngi<CURSOR>nx(port = 8080)\n}\n";
    assert_eq!(goto(src, &others), "roles/web.mc:2:6 nginx");
    let src = "import \"roles/web.mc\"\non all {\n  web.nginx(po<CURSOR>rt = 8080)\n}\n";
    assert_eq!(goto(src, &others), "roles/web.mc:2:12 port");
    let src = "import \"roles/w<CURSOR>eb.mc\"\n";
    assert_eq!(goto(src, &others), "roles/web.mc:1:1 ");
    let src = "import \"roles/web.mc\"\non all {\n  w<CURSOR>eb.nginx()\n}\n";
    assert_eq!(goto(src, &others), "main.mc:1:8 \"roles/web.mc\"");
}

#[test]
fn definition_into_the_stdlib() {
    let src = "on all {\n  fi<CURSOR>le \"/x\" { mode = 0o644 }\n}\n";
    assert!(
        goto(src, &[]).starts_with("/std/files.mc:"),
        "{}",
        goto(src, &[])
    );
    assert!(goto(src, &[]).ends_with(" file"));
    let src = "on all {\n  file \"/x\" { mo<CURSOR>de = 0o644 }\n}\n";
    assert!(goto(src, &[]).ends_with(" mode"), "{}", goto(src, &[]));
    let src = "on all {\n  file \"/x\" { content = fac<CURSOR>ts.os }\n}\n";
    assert!(goto(src, &[]).ends_with(" Facts"), "{}", goto(src, &[]));
    let src = "let s = upp<CURSOR>er(\"x\")\n";
    assert!(goto(src, &[]).ends_with(" upper"), "{}", goto(src, &[]));
}

#[test]
fn definition_in_a_file_with_syntax_errors() {
    // The brackets left open at the end still leave the item resolvable.
    let src = "let port = 80\non all {\n  let oops = \n  file \"/x\" { content = \"${po<CURSOR>rt}\" }\n  if port > {\n";
    assert_eq!(goto(src, &[]), "main.mc:1:5 port");
    // Nothing under the cursor, and an unknown name: nothing.
    assert_eq!(goto("let a = 1\n<CURSOR>\n", &[]), "nothing");
    assert_eq!(goto("let a = nope<CURSOR>\n", &[]), "nothing");
}

#[test]
fn references_across_modules() {
    let others = [("roles/web.mc", WEB)];
    let src = "import \"roles/web.mc\"\nlet p<CURSOR>ort = 8080\non all {\n  web.nginx(port = port)\n  file \"/x\" { content = \"${port}\" }\n}\n";
    assert_eq!(
        refs(src, &others, true),
        ["main.mc:2:5 port", "main.mc:4:20 port", "main.mc:5:28 port"]
    );
    assert_eq!(refs(src, &others, false).len(), 2);
    // The role: its declaration in one module, its call in another.
    let src = "import \"roles/web.mc\"\non all {\n  web.ngi<CURSOR>nx(port = 1)\n}\n";
    assert_eq!(
        refs(src, &others, true),
        ["main.mc:3:7 nginx", "roles/web.mc:2:6 nginx"]
    );
    // A parameter: its declaration and the named argument.
    let src = "import \"roles/web.mc\"\non all {\n  web.nginx(p<CURSOR>ort = 1)\n}\n";
    assert_eq!(
        refs(src, &others, true),
        ["main.mc:3:13 port", "roles/web.mc:2:12 port"]
    );
}

#[test]
fn types_at_the_cursor_are_the_checkers() {
    assert_eq!(
        type_of("let ports = [80, 443]\nlet n<CURSOR>ames = [\"p-${p}\" for p in ports]\n"),
        "[String]"
    );
    assert_eq!(type_of("let lo<CURSOR>ud = upper(\"x\")\n"), "String");
    assert_eq!(type_of("role r(p: Int) {\n  let q = p<CURSOR>\n}\n"), "Int");
    assert_eq!(
        type_of("let s = { a = 1, b = \"x\" }\nlet t = s<CURSOR>\n"),
        "{ a: Int, b: String }"
    );
    assert_eq!(
        type_of("role r() {\n  for x in [true] {\n    let y = x<CURSOR>\n  }\n}\n"),
        "Bool"
    );
    assert_eq!(type_of("let a = 1 <CURSOR>\n"), "nothing");
}

#[test]
fn names_in_scope_follow_the_languages_scopes() {
    let names =
        scope("let top = 1\nrole r(p: Int) {\n  let a = 1\n  <CURSOR>\n  let later = 2\n}\n");
    assert_eq!(names[..2], ["a".to_string(), "p".to_string()]);
    assert!(!names.contains(&"later".to_string()), "{names:?}");
    assert!(names.contains(&"top".to_string()) && names.contains(&"file".to_string()));
    // `host` is in scope inside `on`, not at the top level.
    assert!(scope("on all {\n  let a = <CURSOR>\n}\n").contains(&"host".to_string()));
    assert!(!scope("let a = <CURSOR>\n").contains(&"host".to_string()));
    // A comprehension's variable inside it.
    assert_eq!(scope("let a = [x<CURSOR> for x in [1]]\n")[0], "x");
}

#[test]
fn signatures_of_roles_and_functions() {
    let others = [("roles/web.mc", WEB)];
    let (a, f, at) = load(
        "import \"roles/web.mc\"\non all {\n  web.nginx(port = 1, <CURSOR>\n",
        &others,
    );
    let s = a.signature(f, at).expect("signature");
    assert_eq!(
        s.label,
        "role nginx(port: Int = 80, name: String = \"default\")"
    );
    assert_eq!(s.params, ["port: Int = 80", "name: String = \"default\""]);
    assert_eq!(s.active, Some(1));
    assert_eq!(s.docs.as_deref(), Some("nginx serving one site."));
    let (a, f, at) = load("let s = upper(<CURSOR>", &[]);
    let s = a.signature(f, at).expect("signature");
    assert_eq!(
        (s.label.as_str(), s.active),
        ("fn upper(s: String) -> String", Some(0))
    );
    let (a, f, at) = load("let s = [1, <CURSOR>", &[]);
    assert_eq!(a.signature(f, at), None);
}

#[test]
fn members_resources_and_descriptions() {
    let others = [("roles/web.mc", WEB)];
    let (a, f, _) = load("import \"roles/web.mc\"\n<CURSOR>", &others);
    let members: Vec<String> = a.members(f, "web").into_iter().map(|d| d.name).collect();
    assert_eq!(members, ["nginx"]);
    let file = a.resource(f, "file").expect("file");
    assert!(file.attrs.iter().any(|d| d.name == "owner"));
    let state = &file.literals["state"];
    assert!(state.contains(&"present".to_string()), "{state:?}");
    assert_eq!(a.describe(&file.def).detail, "resource file(path: Path)");
    let (a, f, at) = load(
        "/// The port.\nlet port: Int = 80\nlet q = por<CURSOR>t\n",
        &[],
    );
    let d = a.describe(&a.occurrence_at(f, at).expect("occurrence").def);
    assert_eq!(
        (d.detail.as_str(), d.docs.as_deref()),
        ("let port: Int", Some("The port."))
    );
}

#[test]
fn attributes_are_one_declaration_for_uses_and_checks() {
    // A project's own resource type: the attribute set in a resource and
    // read in the type's check are the same declaration.
    let src = "resource site(name: String) {\n  port: Int\n  check port > 0 : \"a port\"\n}\non all {\n  site \"a\" { po<CURSOR>rt = 1 }\n}\n";
    assert_eq!(goto(src, &[]), "main.mc:2:3 port");
    assert_eq!(
        refs(src, &[], true),
        ["main.mc:2:3 port", "main.mc:3:9 port", "main.mc:6:14 port"]
    );
}

#[test]
fn builtins_resolve_where_the_language_provides_them() {
    let (a, f, at) = load(
        "policy \"p\" {\n  when chan<CURSOR>ge.action == \"delete\" {\n    deny(\"no\")\n  }\n}\n",
        &[],
    );
    let occ = a.occurrence_at(f, at).expect("change");
    assert_eq!((occ.def.kind, occ.def.file), (DefKind::Builtin, None));
    assert!(a.describe(&occ.def).detail.starts_with("change:"));
    let (a, f, at) = load("on all {\n  let n = ho<CURSOR>st.name\n}\n", &[]);
    assert!(a
        .describe(&a.occurrence_at(f, at).expect("host").def)
        .detail
        .starts_with("host: { name: String"));
    // Outside `on`, `host` is not a name: nothing to describe.
    let (a, f, at) = load("let n = ho<CURSOR>st.name\n", &[]);
    assert!(a.occurrence_at(f, at).is_none());
}

#[test]
fn a_let_being_typed_is_not_in_scope_in_its_own_value() {
    let names = scope("role r(port: Int) {\n  let n = po<CURSOR>\n}\n");
    assert_eq!(names[0], "port");
    assert!(!names.contains(&"n".to_string()), "{names:?}");
    let names = scope("role r() {\n  let n = 1\n  <CURSOR>\n}\n");
    assert_eq!(names[0], "n");
}

#[test]
fn the_stdlibs_copies_are_analysed_as_the_stdlib() {
    let fs = MemoryFileSystem::new();
    fs.insert(Path::new("/p/main.mc"), "let a = 1\n");
    let mut host = AnalysisHost::new(Arc::new(fs), Some(PathBuf::from("/std")));
    host.set_text(Path::new("/p/main.mc"), Arc::from("let a = 1\n"));
    // Opening a stdlib copy (after "go to definition") makes no project.
    let copy = Path::new("/std/files.mc");
    host.set_text(copy, Arc::from("// edited"));
    let a = host.analysis(copy).expect("analysed in the open project");
    let f = a.file(copy).expect("the stdlib file");
    assert!(a.is_stdlib(f));
    let text = a.text(f);
    let at = text.find("resource file").expect("file") as u32 + 9;
    let occ = a.occurrence_at(f, at).expect("the declaration");
    assert_eq!((occ.def.name.as_str(), occ.is_def), ("file", true));
}

#[test]
fn host_and_change_are_not_the_same_declaration() {
    let src = "on all {\n  let n = ho<CURSOR>st.name\n}\npolicy \"p\" {\n  when change.action == \"delete\" {\n    deny(\"no\")\n  }\n}\n";
    assert_eq!(refs(src, &[], true), ["main.mc:2:11 host"]);
}
