//! Every example project under `examples/` parses without a single
//! diagnostic (strict mode).

use std::path::{Path, PathBuf};

fn mc_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            mc_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "mc") {
            out.push(path);
        }
    }
}

#[test]
fn examples_parse_strictly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut files = Vec::new();
    mc_files(&root, &mut files);
    files.sort();
    for project in ["webserver", "hardening"] {
        assert!(
            files
                .iter()
                .any(|f| f.ends_with(format!("{project}/main.mc"))),
            "missing example {project}"
        );
    }
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        if let Err(errors) = mc_grammar::parse_strict(&text) {
            let name = file.display().to_string();
            let sources = mc_diagnostics::SingleSource {
                file: "",
                text: &text,
            };
            panic!(
                "{name} has errors:\n{}",
                mc_diagnostics::render_all(&errors, &sources, false)
            );
        }
    }
}
