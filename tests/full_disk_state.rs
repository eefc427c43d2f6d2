//! The state store on a full disk: `mc apply` runs with the project's `.mc/`
//! on a small tmpfs, mounted in a private mount namespace so the real
//! machine never sees it. When the disk fills, `mc` fails with a clear
//! error, the database stays intact and the audit chain verifies; once space
//! is freed, the next run converges.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

/// Applies tried before the disk must have filled.
const MAX_APPLIES: usize = 40;

/// `mc` finds the runner next to itself; cargo does not build other
/// packages' binaries for this test, so build it once here.
fn build_runner() {
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
}

/// A tmpfs mounted over one directory inside a private mount namespace. The
/// namespace lives as long as its holder process, which waits on a pipe
/// only this struct holds.
struct SmallDisk {
    holder: Child,
    dir: String,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let dir = dir.display().to_string();
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=\"$1\" tmpfs \"$0\" && echo ready && exec cat >/dev/null")
            .args([&dir, size])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare runs");
        let mut line = String::new();
        // `echo ready` comes after the mount; EOF instead means it failed.
        BufReader::new(holder.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n", "mounting the small tmpfs failed");
        SmallDisk { holder, dir }
    }

    /// A command run inside the namespace (unshare exec'd in place, so the
    /// holder's pid is the namespace's).
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.holder.id().to_string())
            .args(["--mount", "--"])
            .arg(program)
            .stdin(Stdio::null());
        cmd
    }

    fn sh(&self, script: &str) -> Output {
        self.command("sh").args(["-c", script]).output().unwrap()
    }

    fn mc(&self, args: &[&str]) -> (i32, String) {
        build_runner();
        let out = self
            .command(env!("CARGO_BIN_EXE_mc"))
            .args(args)
            .output()
            .expect("running mc");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// SQLite's own full check of the state database (the sqlite3 CLI, so
    /// the check does not go through mc's code).
    fn assert_intact(&self) {
        let check = self
            .command("sqlite3")
            .arg(format!("{}/state.db", self.dir))
            .arg("PRAGMA integrity_check;")
            .output()
            .expect("sqlite3 runs");
        assert_eq!(
            String::from_utf8_lossy(&check.stdout),
            "ok\n",
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    fn available_bytes(&self) -> u64 {
        let out = self.sh(&format!("df --output=avail -B1 {} | tail -1", self.dir));
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("df prints a number")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Closing the pipe ends the holder and with it the namespace.
        drop(self.holder.stdin.take());
        let _ = self.holder.wait();
    }
}

fn write_project(project: &Path, demo: &Path, version: usize) {
    std::fs::write(
        project.join("main.mc"),
        format!(
            r#"host "localhost" {{
  transport = "local"
}}

on host("localhost") {{
  file "{demo}" {{
    content = "version {version}\n"
  }}
}}
"#,
            demo = demo.display()
        ),
    )
    .unwrap();
}

#[test]
fn a_full_state_disk_fails_cleanly_and_the_next_run_converges() {
    full_disk_then_rerun(0);
}

#[test]
fn a_state_disk_that_fills_during_runs_fails_cleanly_and_the_next_run_converges() {
    // Room to open the store, not for many runs: the disk fills mid-run.
    full_disk_then_rerun(48 * 1024);
}

/// Fills the state disk but for `headroom` bytes, applies until `mc` fails,
/// checks the store, frees space and converges.
fn full_disk_then_rerun(headroom: u64) {
    let project_dir = tempfile::tempdir().unwrap();
    let project = project_dir.path();
    let p = project.to_str().unwrap();
    let demo = project.join("demo.txt");
    let disk = SmallDisk::mount(&project.join(".mc"), "512k");

    write_project(project, &demo, 0);
    let (code, out) = disk.mc(&["apply", "--yes", p]);
    assert_eq!(code, 0, "{out}");

    // Fill the disk, then apply new content until the state store runs out
    // of room.
    let blocks = disk.available_bytes().saturating_sub(headroom) / 4096;
    let _ = disk.sh(&format!(
        "dd if=/dev/zero of={}/filler bs=4k count={blocks}",
        disk.dir
    ));
    assert!(disk.available_bytes() <= headroom);
    let mut failed = None;
    for version in 1..=MAX_APPLIES {
        write_project(project, &demo, version);
        let (code, out) = disk.mc(&["apply", "--yes", p]);
        if code != 0 {
            failed = Some((version, out));
            break;
        }
    }
    let (version, out) = failed.expect("the state disk never filled");
    assert!(
        out.contains("state store") && out.contains("disk is full") && out.contains("free space"),
        "not a clear error: {out}"
    );
    assert!(!out.contains("panicked"), "{out}");
    // The host is in a known state: the old content or the new one.
    let content = std::fs::read_to_string(&demo).unwrap();
    assert!(
        content == format!("version {}\n", version - 1)
            || content == format!("version {version}\n"),
        "{content:?}"
    );

    let (code, out) = disk.mc(&["audit", "verify", "--project", p]);
    if headroom == 0 {
        // SQLite cannot even open the store on a disk with no block left:
        // it must create its shared-memory file first. Readers fail just as
        // clearly.
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("disk is full"), "{out}");
    } else {
        assert_eq!(code, 0, "{out}");
    }

    // Room again: what the failed run left is intact and the chain verifies.
    let rm = disk.sh(&format!("rm {}/filler", disk.dir));
    assert!(rm.status.success());
    disk.assert_intact();
    let (code, out) = disk.mc(&["audit", "verify", "--project", p]);
    assert_eq!(code, 0, "{out}");

    // The rerun converges, and the one after has nothing to do.
    let (code, out) = disk.mc(&["apply", "--yes", p]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(&demo).unwrap(),
        format!("version {version}\n")
    );
    let (code, out) = disk.mc(&["apply", "--yes", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes"), "{out}");
    let (code, out) = disk.mc(&["audit", "verify", "--project", p]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_state_disk_that_fills_mid_apply_fails_cleanly_and_the_next_run_converges() {
    let project_dir = tempfile::tempdir().unwrap();
    let project = project_dir.path();
    let p = project.to_str().unwrap();
    let demo = project.join("demo.txt");
    let disk = SmallDisk::mount(&project.join(".mc"), "512k");
    // The apply itself fills the disk: after the run has started, before
    // its results are recorded.
    let main = format!(
        r#"host "localhost" {{
  transport = "local"
}}

on host("localhost") {{
  file "{demo}" {{
    content = "applied\n"
  }}
  command "fill the state disk" {{
    run = "dd if=/dev/zero of={dir}/filler bs=4k 2>/dev/null; touch {marker}"
    creates = "{marker}"
  }}
}}
"#,
        demo = demo.display(),
        dir = disk.dir,
        marker = project.join("filled").display()
    );
    std::fs::write(project.join("main.mc"), main).unwrap();
    let (code, out) = disk.mc(&["apply", "--yes", p]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("state store") && out.contains("disk is full") && out.contains("free space"),
        "not a clear error: {out}"
    );
    assert!(!out.contains("panicked"), "{out}");
    // Both resources were applied before the store ran out of room.
    assert_eq!(std::fs::read_to_string(&demo).unwrap(), "applied\n");

    let rm = disk.sh(&format!("rm {}/filler", disk.dir));
    assert!(rm.status.success());
    disk.assert_intact();
    let (code, out) = disk.mc(&["audit", "verify", "--project", p]);
    assert_eq!(code, 0, "{out}");
    // The run could not record its end: it shows as crashed, and its lock
    // as stale, exactly as after a kill -9.
    let (code, out) = disk.mc(&["runs", "--project", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("crashed"), "{out}");

    let (code, out) = disk.mc(&["state", "locks", "--project", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("stale"), "{out}");

    // The host is already converged: the rerun has nothing to do.
    let (code, out) = disk.mc(&["apply", "--yes", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes"), "{out}");
    // The next change takes the dead run's lock over.
    let main = std::fs::read_to_string(project.join("main.mc")).unwrap();
    std::fs::write(
        project.join("main.mc"),
        main.replace("applied\\n", "applied again\\n"),
    )
    .unwrap();
    let (code, out) = disk.mc(&["apply", "--yes", p]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read_to_string(&demo).unwrap(), "applied again\n");
    let (_, out) = disk.mc(&["audit", "--project", p]);
    assert!(out.contains("lock.takeover"), "{out}");
    let (code, out) = disk.mc(&["audit", "verify", "--project", p]);
    assert_eq!(code, 0, "{out}");
    disk.assert_intact();
}
