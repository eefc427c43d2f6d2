//! Helpers shared by the compiler tests: projects in an in-memory file system.

#![allow(dead_code)]

use mc_compiler::{MemoryFileSystem, Project};
use std::path::Path;
use std::sync::Arc;

/// A project at `/p` whose `main.mc` is `main`, plus extra files.
pub fn project(main: &str, extra: &[(&str, &str)]) -> Project {
    let fs = MemoryFileSystem::new();
    fs.insert(Path::new("/p/main.mc"), main);
    for (p, t) in extra {
        fs.insert(&Path::new("/p").join(p), *t);
    }
    Project::load(Arc::new(fs), Path::new("/p"))
}

/// Compiles `host` with default facts, panicking with rendered diagnostics.
pub fn catalog(p: &Project, host: &str) -> mc_ir::Catalog {
    match p.compile(host, &serde_json::Value::Null) {
        Ok(c) => c,
        Err(d) => panic!("compile failed:\n{}", p.render(&d, false)),
    }
}

pub fn codes(diags: &[mc_diagnostics::Diagnostic]) -> Vec<&str> {
    diags.iter().map(|d| d.code.as_str()).collect()
}

pub fn attr<'a>(c: &'a mc_ir::Catalog, id: &str, attr: &str) -> Option<&'a mc_ir::Value> {
    c.resources.iter().find(|r| r.id.0 == id)?.attrs.get(attr)
}
