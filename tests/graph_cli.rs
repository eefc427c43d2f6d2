//! `mc graph` and `mc plan --graph`: the real binary on a local project,
//! its DOT output checked by Graphviz itself.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn mc() -> Command {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "mc-runner", "--bin", "mc-runner"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build for mc-runner");
        assert!(status.success(), "building mc-runner failed");
    });
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mc"));
    cmd.stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("running mc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Graphviz accepts `dot` and renders it to SVG.
fn assert_graphviz_accepts(dot: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.dot");
    std::fs::write(&file, dot).unwrap();
    let out = Command::new("dot")
        .arg("-Tsvg")
        .arg(&file)
        .output()
        .expect("graphviz is installed (scripts/install-test-deps)");
    assert!(
        out.status.success(),
        "{}\n{dot}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

fn project(dir: &Path, content: &str) {
    let o = dir.join("out");
    let o = o.display();
    std::fs::write(
        dir.join("main.mc"),
        format!(
            r#"host "box" {{
  transport = "local"
}}

on all {{
  directory "{o}" {{}}
  file "{o}/app.conf" {{
    content = "{content}\n"
  }}
  command "reload" {{
    run = "touch {o}/reloaded"
    creates = "{o}/reloaded"
    requires = [file("{o}/app.conf")]
  }}
  file "{o}/unrelated" {{
    content = "same\n"
  }}
}}
"#
        ),
    )
    .unwrap();
}

#[test]
fn a_catalog_graph_has_every_resource_and_edge_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "v1");
    let o = dir.path().join("out").display().to_string();

    let (code, dot, err) = run(mc().arg("graph").arg(dir.path()));
    assert_eq!(code, 0, "{err}");
    assert!(dot.starts_with("digraph {"), "{dot}");
    assert!(
        dot.contains(&format!("label = \"file[{o}/app.conf]\"")),
        "{dot}"
    );
    assert!(dot.contains("label = \"requires\""), "{dot}");
    assert!(
        dot.contains("label = \"auto\""),
        "parent directory edge: {dot}"
    );
    assert_graphviz_accepts(&dot);

    let (code, mermaid, _) = run(mc()
        .arg("graph")
        .arg(dir.path())
        .args(["--format", "mermaid"]));
    assert_eq!(code, 0);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(mermaid.contains("-->|requires|"), "{mermaid}");

    let (code, json, _) = run(mc().arg("graph").arg(dir.path()).arg("--json"));
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 4, "{doc}");
    let requires: Vec<&serde_json::Value> = doc["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "requires")
        .collect();
    assert_eq!(requires.len(), 1, "{doc}");
    assert_eq!(requires[0]["from"], format!("file[{o}/app.conf]"));
    assert_eq!(requires[0]["to"], "command[reload]");
}

#[test]
fn several_hosts_need_a_host_and_a_bad_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.mc"),
        "host \"a\" {\n  transport = \"local\"\n}\nhost \"b\" {\n  transport = \"local\"\n}\n\non all {\n  directory \"/tmp/x\" {}\n}\n",
    )
    .unwrap();
    let (code, _, err) = run(mc().arg("graph").arg(dir.path()));
    assert_eq!(code, 1);
    assert!(err.contains("pick one with --host (a, b)"), "{err}");
    let (code, dot, err) = run(mc().arg("graph").arg(dir.path()).args(["--host", "b"]));
    assert_eq!(code, 0, "{err}");
    assert!(dot.contains("directory[/tmp/x]"), "{dot}");
    let (code, _, err) = run(mc()
        .arg("graph")
        .arg(dir.path())
        .args(["--format", "human"]));
    assert_eq!(code, 1);
    assert!(err.contains("dot, mermaid or json"), "{err}");
}

#[test]
fn a_plan_graph_shows_the_changes_and_what_depends_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    project(p, "v1");
    let (code, out, err) = run(mc().arg("apply").arg("--yes").arg(p));
    assert_eq!(code, 0, "{out}{err}");
    project(p, "v2");
    let graph = p.join("changes.dot");
    let (code, out, err) = run(mc().arg("plan").arg(p).arg("--graph").arg(&graph));
    assert_eq!(code, 0, "{out}{err}");
    let dot = std::fs::read_to_string(&graph).unwrap();
    assert!(dot.contains("app.conf] (update)"), "{dot}");
    assert!(dot.contains("command[reload] (none)"), "a dependent: {dot}");
    assert!(
        !dot.contains("unrelated"),
        "unchanged and independent: {dot}"
    );
    assert!(!dot.contains("directory["), "{dot}");
    assert_graphviz_accepts(&dot);

    let json = p.join("changes.json");
    let (code, _, _) = run(mc().arg("plan").arg(p).arg("--graph").arg(&json));
    assert_eq!(code, 0);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["nodes"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(doc["edges"][0]["kind"], "requires", "{doc}");
}
