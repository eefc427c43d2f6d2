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
