//! `mc import ansible-inventory FILE [-o hosts.mc]`: an Ansible inventory
//! as mc `host` and `group` items (see docs/migrating-from-ansible.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(clap::Subcommand)]
pub enum What {
    /// An Ansible inventory (INI or YAML, with the group_vars/ and
    /// host_vars/ folders beside it) as mc hosts and groups.
    AnsibleInventory(InventoryArgs),
}

#[derive(clap::Args)]
pub struct InventoryArgs {
    /// The inventory file (`hosts`, `inventory.ini`, `inventory.yml`, …).
    pub file: PathBuf,
    /// Write the mc file here instead of standard output. When its folder
    /// has no `main.mc`, one that imports it is written too, so that the
    /// folder is a project `mc check` accepts.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    match args.what {
        What::AnsibleInventory(a) => ansible_inventory(&a),
    }
}

fn ansible_inventory(args: &InventoryArgs) -> ExitCode {
    let imported = match mc_compiler::import_ansible::ansible_inventory(&args.file) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = match mc_fmt::format(&imported.source, mc_fmt::DEFAULT_WIDTH) {
        Ok(t) => t,
        Err(_) => imported.source.clone(),
    };
    let written = match &args.output {
        None => {
            crate::out!("{text}");
            Ok(())
        }
        Some(out) => write_project(out, &text),
    };
    if let Err(e) = written {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let dest = args
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "standard output".into());
    eprintln!(
        "imported {} host{} and {} group{} into {dest}",
        imported.hosts,
        if imported.hosts == 1 { "" } else { "s" },
        imported.groups,
        if imported.groups == 1 { "" } else { "s" }
    );
    if !imported.skipped.is_empty() {
        eprintln!("not translated:");
        for s in &imported.skipped {
            eprintln!("  {}:{}: {}", s.file.display(), s.line, s.what);
        }
    }
    ExitCode::SUCCESS
}

fn write_project(out: &Path, text: &str) -> Result<(), String> {
    std::fs::write(out, text).map_err(|e| format!("cannot write `{}`: {e}", out.display()))?;
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let main = dir.join("main.mc");
    if !main.exists() {
        let name = out
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        if name != "main.mc" {
            std::fs::write(&main, format!("import \"{name}\"\n"))
                .map_err(|e| format!("cannot write `{}`: {e}", main.display()))?;
            eprintln!("wrote {} (imports {name})", main.display());
        }
    }
    Ok(())
}
