//! Salsa reuse: editing the body of one item re-checks that item only.

mod common;

use std::path::Path;

const MAIN: &str = r#"
host "web1" { groups = ["web"] }

role base(admins: [String]) {
  for name in admins {
    user name { shell = "/bin/bash" }
  }
}

role web(port: Int = 80) {
  package "nginx" {}
  file "/etc/nginx/port" { content = "${port}\n" }
}

on group("web") {
  base(admins = ["alice"])
  web(port = 8080)
  file "/etc/motd" { content = "hello\n" }
}
"#;

fn check_item_events(p: &mc_compiler::Project, events: &[salsa::Event]) -> (usize, usize) {
    let mut executed = 0;
    let mut reused = 0;
    for e in events {
        if p.event_query_name(e).as_deref() != Some("check_item") {
            continue;
        }
        match e.kind {
            salsa::EventKind::WillExecute { .. } => executed += 1,
            salsa::EventKind::DidValidateMemoizedValue { .. } => reused += 1,
            _ => {}
        }
    }
    (executed, reused)
}

#[test]
fn body_edit_rechecks_only_the_edited_item() {
    let mut p = common::project(MAIN, &[]);
    assert!(p.check().is_empty());
    p.enable_event_log();

    // Longer text: every later item moves, yet none of them is re-checked.
    let edited = MAIN.replace(
        "content = \"hello\\n\"",
        "content = \"hello, world of many bytes\\n\"",
    );
    p.set_file_text(Path::new("/p/main.mc"), edited.clone());
    assert!(p.check().is_empty());
    let events = p.take_events();
    let (executed, reused) = check_item_events(&p, &events);
    assert_eq!(executed, 1, "only the edited `on` block is re-checked");
    // host, two roles: validated from memo, not executed.
    assert!(reused >= 3, "other items reused, got {reused}");

    // An edit inside a role body (not its signature) is just as local.
    let edited = edited.replace("shell = \"/bin/bash\"", "shell = \"/bin/zsh\"");
    p.set_file_text(Path::new("/p/main.mc"), edited);
    assert!(p.check().is_empty());
    let (executed, _) = check_item_events(&p, &p.take_events());
    assert_eq!(executed, 1);

    let catalog = common::catalog(&p, "web1");
    assert_eq!(
        common::attr(&catalog, "user[alice]", "shell"),
        Some(&mc_ir::Value::String("/bin/zsh".into()))
    );
}

#[test]
fn signature_edit_rechecks_callers() {
    let mut p = common::project(MAIN, &[]);
    assert!(p.check().is_empty());
    p.enable_event_log();
    // Renaming a parameter changes the module summary: callers re-check and
    // now report the old argument name.
    let edited = MAIN
        .replace("role web(port: Int = 80)", "role web(listen: Int = 80)")
        .replace("content = \"${port}\\n\"", "content = \"${listen}\\n\"");
    p.set_file_text(Path::new("/p/main.mc"), edited);
    let diags = p.check();
    assert_eq!(common::codes(&diags), vec!["E0204"]);
    let (executed, _) = check_item_events(&p, &p.take_events());
    assert!(executed >= 2);
}

#[test]
fn files_come_and_go_with_their_imports() {
    use mc_compiler::{MemoryFileSystem, Project};
    use std::sync::Arc;
    let fs = Arc::new(MemoryFileSystem::new());
    fs.insert(Path::new("/p/main.mc"), "host \"a\" {}\n");
    let mut p = Project::load(fs.clone(), Path::new("/p"));
    assert!(p.check().is_empty());

    // A new import of a file that does not exist yet.
    p.set_file_text(
        Path::new("/p/main.mc"),
        "import \"lib.mc\"\nhost \"a\" {}\non all { lib.base() }\n".to_string(),
    );
    assert_eq!(common::codes(&p.check())[0], "E0101");

    // The file appears on disk: it is loaded and used.
    fs.insert(
        Path::new("/p/lib.mc"),
        "role base() { package \"git\" {} }\n",
    );
    p.reload_file(Path::new("/p/lib.mc"));
    assert!(p.check().is_empty());
    assert_eq!(common::catalog(&p, "a").resources.len(), 1);
    assert_eq!(p.files().len(), 2);

    // And disappears again.
    fs.remove(Path::new("/p/lib.mc"));
    p.reload_file(Path::new("/p/lib.mc"));
    assert_eq!(common::codes(&p.check())[0], "E0101");
}

#[test]
fn record_defaults_keep_the_summary_equal_across_other_edits() {
    use mc_compiler::db::{module_summary, Database, NameKind, ProjectInput, SourceFile};
    use mc_compiler::types::Type;
    use salsa::Setter;
    use std::sync::Arc;

    const TEXT: &str = r#"
role motd(text: String) {
  file "/etc/motd" { content = text }
}

type Server = { host: String, port: Int = 80 }
"#;
    let mut db = Database::default();
    let file = SourceFile::new(
        &db,
        Arc::from("main.mc"),
        "/p/main.mc".into(),
        Arc::from(TEXT),
    );
    let project = ProjectInput::new(&db, vec![file], Vec::new());
    let before = module_summary(&db, project, file).clone();

    // The default is named by its item and its span in that item.
    let Some((NameKind::Type(Type::Record(fields)), item)) = before.names.get("Server") else {
        panic!("no record type `Server` in {before:?}");
    };
    let port = fields.iter().find(|f| f.name == "port").unwrap();
    let default = port.default.expect("`port` has a default");
    assert_eq!((default.file, default.item), (file, *item));
    assert!(!port.required);

    // A longer body in the item before moves `Server` in the file, not in
    // its item: the summary is equal, so nothing that reads it re-runs.
    let edited = TEXT.replace("content = text", "content = \"${text} and then some\\n\"");
    file.set_text(&mut db).to(Arc::from(edited.as_str()));
    assert_eq!(module_summary(&db, project, file), &before);

    // The same through the project: only the edited role is re-checked,
    // and the default still evaluates.
    let main = format!("{TEXT}\nhost \"web1\" {{}}\non all {{\n  let s: Server = {{ host = \"a\" }}\n  motd(text = \"${{s.port}}\")\n}}\n");
    let mut p = common::project(&main, &[]);
    assert!(p.check().is_empty());
    p.enable_event_log();
    let edited = main.replace("content = text", "content = \"${text} and then some\\n\"");
    p.set_file_text(Path::new("/p/main.mc"), edited);
    assert!(p.check().is_empty());
    let (executed, reused) = check_item_events(&p, &p.take_events());
    assert_eq!(executed, 1, "only the edited role is re-checked");
    assert!(reused >= 3, "other items reused, got {reused}");
    let catalog = common::catalog(&p, "web1");
    assert_eq!(
        common::attr(&catalog, "file[/etc/motd]", "content"),
        Some(&mc_ir::Value::String("80 and then some\n".into()))
    );
}
