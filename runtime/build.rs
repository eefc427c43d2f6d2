//! Builds the runners `mc` ships to hosts and embeds them in `mc-runtime`.
//!
//! A runner must start on any Linux host of its architecture, whatever its
//! libc, so it is linked statically (`+crt-static`, a static-pie glibc
//! executable). Cargo cannot set that flag for one package of a workspace,
//! and setting it for the whole build breaks proc-macros, so the runner is
//! built here by a second cargo invocation with `--target` (which keeps the
//! flag off build scripts and proc-macros) in its own target directory
//! beside the normal one. It is incremental: an unchanged runner costs a
//! no-op cargo call.
//!
//! Targets: `MC_RUNNER_TARGETS` (comma-separated triples) or, by default,
//! x86_64, plus aarch64 in release builds when its standard library
//! (`rustup target add aarch64-unknown-linux-gnu`) and a cross linker
//! (`aarch64-linux-gnu-gcc`) are installed. Debug builds (tests, daily
//! work) build the native runner only, to keep them fast.

use sha2::{Digest, Sha256};
use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (target triple, `uname -m`, cross linker; `None` when native).
const SUPPORTED: [(&str, &str, Option<&str>); 2] = [
    ("x86_64-unknown-linux-gnu", "x86_64", None),
    (
        "aarch64-unknown-linux-gnu",
        "aarch64",
        Some("aarch64-linux-gnu-gcc"),
    ),
];

fn main() {
    for watched in ["runner", "ir", "../Cargo.lock", "../Cargo.toml"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=MC_RUNNER_TARGETS");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut table = String::from("&[\n");
    let explicit = env::var("MC_RUNNER_TARGETS").is_ok_and(|l| !l.trim().is_empty());
    for (triple, arch, linker) in targets() {
        let built = match build_runner(&out_dir, triple, linker) {
            Ok(path) => path,
            // A cross target found on this machine is a bonus: without it
            // mc still manages hosts of the native architecture.
            Err(e) if linker.is_some() && !explicit => {
                println!("cargo:warning=skipping the {arch} runner: {e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let embedded = out_dir.join(format!("mc-runner-{arch}"));
        std::fs::copy(&built, &embedded).unwrap_or_else(|e| {
            panic!("copying {} to {}: {e}", built.display(), embedded.display())
        });
        // Hashed here, not at every start of `mc`: the hash names the
        // runner on hosts and is needed before the first connection.
        let bytes = std::fs::read(&embedded)
            .unwrap_or_else(|e| panic!("reading {}: {e}", embedded.display()));
        let hash: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(
            table,
            "    ({arch:?}, {hash:?}, include_bytes!({embedded:?})),"
        );
    }
    table.push(']');
    std::fs::write(out_dir.join("runners.rs"), table).expect("writing runners.rs");
}

/// The targets to build: the environment's choice, else every supported
/// target this machine can build.
fn targets() -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    match env::var("MC_RUNNER_TARGETS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(str::trim)
            .map(|t| {
                *SUPPORTED
                    .iter()
                    .find(|s| s.0 == t)
                    .unwrap_or_else(|| panic!("MC_RUNNER_TARGETS: unsupported target {t:?}"))
            })
            .collect(),
        _ => {
            let release = env::var("PROFILE").as_deref() == Ok("release");
            SUPPORTED
                .iter()
                .copied()
                .filter(|(triple, _, linker)| match linker {
                    None => true,
                    Some(linker) => release && std_installed(triple) && on_path(linker),
                })
                .collect()
        }
    }
}

fn std_installed(triple: &str) -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .is_some_and(|root| {
            Path::new(&root)
                .join("lib/rustlib")
                .join(triple)
                .join("lib")
                .is_dir()
        })
}

fn on_path(program: &str) -> bool {
    env::var_os("PATH").is_some_and(|p| env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Runs `cargo build -p mc-runner` for `triple`, statically linked, and
/// returns the executable's path.
fn build_runner(out_dir: &Path, triple: &str, linker: Option<&str>) -> Result<PathBuf, String> {
    let release = env::var("PROFILE").as_deref() == Ok("release");
    // `<target>/<profile>/build/<pkg>/out` → `<target>/<profile>/mc-runner-static`,
    // shared by every build of this profile (check, clippy, test, build).
    let target_dir = out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent)
        .unwrap_or(out_dir)
        .join("mc-runner-static");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--locked", "-p", "mc-runner", "--bin", "mc-runner"])
        .arg("--target")
        .arg(triple)
        .arg("--target-dir")
        .arg(&target_dir)
        // Read at run time: a build script compiled for another checkout
        // of the workspace (same target dir) is reused by cargo.
        .current_dir(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    if release {
        cmd.arg("--release");
    }
    // The outer build's flags and wrappers (clippy's driver) are not the
    // runner's.
    for var in [
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static");
    if let Some(linker) = linker {
        let var = format!(
            "CARGO_TARGET_{}_LINKER",
            triple.to_uppercase().replace('-', "_")
        );
        cmd.env(var, linker);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("running cargo to build the runner for {triple}: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the static runner for {triple} failed ({status})"
        ));
    }
    Ok(target_dir
        .join(triple)
        .join(if release { "release" } else { "debug" })
        .join("mc-runner"))
}
