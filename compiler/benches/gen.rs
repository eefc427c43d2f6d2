//! A generated project for benchmarks: `files` modules (one `main.mc`, the
//! rest roles), `resources` resources in total, `hosts` hosts in 4 groups.

use mc_compiler::MemoryFileSystem;
use std::fmt::Write as _;
use std::path::Path;

pub const ROOT: &str = "/bench";

pub struct Generated {
    pub fs: MemoryFileSystem,
    /// Path and text of the role file the incremental benchmark edits.
    pub edit_path: String,
    pub edit_text: String,
}

pub fn generate(files: usize, resources: usize, hosts: usize) -> Generated {
    let roles = files.saturating_sub(1).max(1);
    let per_role = resources / roles;
    let fs = MemoryFileSystem::new();
    let mut main = String::new();
    for i in 0..roles {
        let _ = writeln!(main, "import \"roles/r{i}.mc\"");
    }
    for h in 0..hosts {
        let _ = writeln!(
            main,
            "host \"h{h}\" {{ address = \"10.0.{}.{}\", groups = [\"g{}\"], vars = {{ port = {} }} }}",
            h / 250,
            h % 250 + 1,
            h % 4,
            8000 + h
        );
    }
    for g in 0..4 {
        let _ = writeln!(main, "group \"g{g}\" {{ vars = {{ tier = \"t{g}\" }} }}");
    }
    for g in 0..4 {
        let _ = writeln!(main, "on group(\"g{g}\") {{");
        for i in (0..roles).filter(|i| i % 4 == g) {
            let _ = writeln!(main, "  r{i}.setup(port = host.vars.port)");
        }
        main.push_str("}\n");
    }
    fs.insert(&Path::new(ROOT).join("main.mc"), main);
    let mut edit = (String::new(), String::new());
    for i in 0..roles {
        let mut src =
            format!("/// Role {i}.\nrole setup(port: Int, owner: String = \"app{i}\") {{\n");
        let _ = writeln!(
            src,
            "  directory \"/srv/r{i}\" {{ owner = owner, mode = 0o755 }}"
        );
        for j in 1..per_role {
            match j % 4 {
                0 => {
                    let _ = writeln!(src, "  package \"pkg-{i}-{j}\" {{ state = \"present\" }}");
                }
                1 => {
                    let _ = writeln!(
                        src,
                        "  file \"/srv/r{i}/f{j}.conf\" {{\n    content = \"port = ${{port}}\\nname = {j}\\n\"\n    mode = 0o644\n    owner = owner\n  }}"
                    );
                }
                2 => {
                    let _ = writeln!(src, "  command \"init-{i}-{j}\" {{ run = \"/usr/bin/true {j}\", creates = \"/srv/r{i}/done{j}\" }}");
                }
                _ => {
                    let _ = writeln!(
                        src,
                        "  sysctl \"net.r{i}.k{j}\" {{ value = \"{}\" }}",
                        j * 3
                    );
                }
            }
        }
        src.push_str("}\n");
        let path = format!("{ROOT}/roles/r{i}.mc");
        if i == roles / 2 {
            edit = (path.clone(), src.clone());
        }
        fs.insert(Path::new(&path), src);
    }
    Generated {
        fs,
        edit_path: edit.0,
        edit_text: edit.1,
    }
}
