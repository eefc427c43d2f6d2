//! The real `mc` binary for CLI tests, with the runner built next to it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// `mc` finds the runner next to itself; cargo does not build other
/// packages' binaries for this test, so build it once here. Kept SSH
/// masters go to the build's scratch space (`scratch` names the test file).
pub fn mc(scratch: &str) -> Command {
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
    cmd.stdin(Stdio::null()).env(
        "XDG_RUNTIME_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(scratch),
    );
    cmd
}

/// Exit code, stdout and stderr.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("running mc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `mc-agent` executable, built once (cargo does not build other
/// packages' binaries for this test); it sits next to `mc`.
pub fn agent_binary() -> std::path::PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", "mc-agent", "--bin", "mc-agent"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build for mc-agent");
        assert!(status.success(), "building mc-agent failed");
    });
    Path::new(env!("CARGO_BIN_EXE_mc")).with_file_name("mc-agent")
}
