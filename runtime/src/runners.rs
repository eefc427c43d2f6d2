//! The runner executables `mc` ships to hosts, one per CPU architecture.
//!
//! The build embeds a statically linked runner for each supported target
//! (see `build.rs`), so `mc` alone can manage any Linux host of those
//! architectures. `MC_RUNNER=/path/to/mc-runner` replaces them with one
//! build of your own (its architecture is read from its ELF header).

use crate::hash::sha256_hex;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The runners embedded at build time: (`uname -m` name, executable).
/// (`uname -m`, sha256 computed by the build script, executable).
const EMBEDDED: &[(&str, &str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/runners.rs"));

/// One runner executable, identified by content hash.
#[derive(Clone, Debug)]
pub struct RunnerBinary {
    /// Where it was read from; `None` for an embedded runner.
    pub path: Option<PathBuf>,
    /// sha256 of the file: the runner reports the same value as `build_id`.
    pub hash: String,
    /// Borrowed from the `mc` executable when embedded: never copied.
    pub bytes: Arc<Cow<'static, [u8]>>,
    /// The CPU architecture as `uname -m` names it (`x86_64`, `aarch64`).
    pub arch: String,
}

impl RunnerBinary {
    pub fn load(path: &Path) -> Result<RunnerBinary, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the runner {}: {e}", path.display()))?;
        let arch = elf_arch(&bytes)
            .ok_or_else(|| {
                format!(
                    "{} is not a Linux executable for a supported architecture",
                    path.display()
                )
            })?
            .to_string();
        Ok(RunnerBinary {
            path: Some(path.to_path_buf()),
            hash: sha256_hex(&bytes),
            bytes: Arc::new(Cow::Owned(bytes)),
            arch,
        })
    }

    /// A runner that only ever runs on this machine, from `path`: its
    /// bytes are not read (they are never uploaded anywhere).
    pub fn local(path: &Path, hash: &str) -> RunnerBinary {
        RunnerBinary {
            path: Some(path.to_path_buf()),
            hash: hash.to_string(),
            bytes: Arc::new(Cow::Borrowed(&[])),
            arch: std::env::consts::ARCH.to_string(),
        }
    }

    /// `hash` is the build script's: hashing megabytes at every start
    /// would delay every command's first connection.
    fn embedded(arch: &str, hash: &str, bytes: &'static [u8]) -> RunnerBinary {
        RunnerBinary {
            path: None,
            hash: hash.to_string(),
            bytes: Arc::new(Cow::Borrowed(bytes)),
            arch: arch.to_string(),
        }
    }

    /// Finds a runner file: `$MC_RUNNER`, else `mc-runner` next to the
    /// current executable, else one directory up (cargo puts test
    /// executables in `target/<profile>/deps/`).
    pub fn locate() -> Result<RunnerBinary, String> {
        if let Some(p) = std::env::var_os("MC_RUNNER") {
            return RunnerBinary::load(Path::new(&p));
        }
        let exe = std::env::current_exe().map_err(|e| format!("cannot locate mc: {e}"))?;
        let mut tried = Vec::new();
        let mut dir = exe.parent();
        for _ in 0..2 {
            let Some(d) = dir else { break };
            let candidate = d.join("mc-runner");
            if candidate.is_file() {
                return RunnerBinary::load(&candidate);
            }
            tried.push(candidate.display().to_string());
            dir = d.parent();
        }
        Err(format!(
            "cannot find mc-runner (tried {}); set MC_RUNNER to its path",
            tried.join(", ")
        ))
    }
}

/// Whether a 64-bit ELF executable asks for a dynamic loader (a
/// `PT_INTERP` program header): it then runs only where that loader and
/// recent enough libraries exist.
pub fn elf_is_dynamic(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return false;
    };
    (0..count as usize).any(|i| {
        let at = phoff as usize + i * size as usize;
        bytes.get(at..at + 4) == Some(&3u32.to_le_bytes()[..])
    })
}

/// The `uname -m` name of the architecture an ELF executable is for.
pub fn elf_arch(bytes: &[u8]) -> Option<&'static str> {
    if bytes.get(..4) != Some(b"\x7fELF") {
        return None;
    }
    // e_machine, little-endian (both supported targets are).
    match bytes.get(18..20)? {
        [0x3e, 0x00] => Some("x86_64"),
        [0xb7, 0x00] => Some("aarch64"),
        _ => None,
    }
}

/// The runners `mc` can ship, at most one per architecture.
#[derive(Clone, Debug)]
pub struct Runners {
    all: Vec<RunnerBinary>,
}

impl From<RunnerBinary> for Runners {
    fn from(runner: RunnerBinary) -> Runners {
        Runners { all: vec![runner] }
    }
}

impl Runners {
    /// `$MC_RUNNER` when set, else the runners embedded in this build.
    pub fn locate() -> Result<Runners, String> {
        if let Some(p) = std::env::var_os("MC_RUNNER") {
            return RunnerBinary::load(Path::new(&p)).map(Runners::from);
        }
        Ok(Runners::embedded())
    }

    /// The statically linked runners built with `mc`.
    pub fn embedded() -> Runners {
        Runners {
            all: EMBEDDED
                .iter()
                .map(|(arch, hash, bytes)| RunnerBinary::embedded(arch, hash, bytes))
                .collect(),
        }
    }

    pub fn all(&self) -> &[RunnerBinary] {
        &self.all
    }

    /// The runner for a host whose `uname -m` says `arch`.
    pub fn for_arch(&self, arch: &str) -> Result<&RunnerBinary, String> {
        let wanted = normalize_arch(arch);
        self.all
            .iter()
            .find(|r| r.arch == wanted)
            .ok_or_else(|| self.unsupported(arch))
    }

    /// "no runner for the host's architecture …": names what there is.
    pub fn unsupported(&self, arch: &str) -> String {
        let have: Vec<&str> = self.all.iter().map(|r| r.arch.as_str()).collect();
        format!(
            "the host's architecture is {arch}, and mc has no runner for it (runners: {})",
            have.join(", ")
        )
    }

    /// The largest runner, for time bounds on an upload.
    pub fn max_size(&self) -> usize {
        self.all.iter().map(|r| r.bytes.len()).max().unwrap_or(0)
    }

    /// An executable file of the runner for this machine, for the `local`
    /// transport. An embedded runner is written once to a private
    /// directory other users may enter (so `sudo -u USER` can run it) but
    /// not list or change.
    pub fn local_executable(&self) -> Result<PathBuf, String> {
        let runner = self.for_arch(std::env::consts::ARCH)?;
        if let Some(path) = &runner.path {
            return Ok(path.clone());
        }
        let uid = crate::state::current_uid().ok_or("cannot tell the current user id")?;
        let dir = std::env::temp_dir().join(format!("mc-runner-{uid}"));
        private_dir(&dir, uid)?;
        let file = dir.join(format!("mc-runner-{}", runner.hash));
        if !file.is_file() {
            write_executable(&file, &runner.bytes[..])
                .map_err(|e| format!("writing the runner to {}: {e}", file.display()))?;
        }
        Ok(file)
    }
}

/// `uname -m` spellings of one architecture.
fn normalize_arch(arch: &str) -> &str {
    match arch {
        "amd64" => "x86_64",
        "arm64" | "aarch64_be" => "aarch64",
        other => other,
    }
}

/// Creates `dir` mode 0711 and checks it is ours and nobody else can write
/// it: a directory in /tmp could have been made by someone else first.
fn private_dir(dir: &Path, uid: u32) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o711).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is not a directory of the current user closed to writes by others",
            dir.display()
        ));
    }
    Ok(())
}

fn write_executable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    // Created new (`O_EXCL` never opens through a link), though the
    // directory is private.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    // Closed before it gets its name: another mc that finds the file runs
    // it at once, and an executable still open for writing is "busy".
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Whether an ELF64 executable names a dynamic loader (a `PT_INTERP`
/// program header): a static one does not.
pub fn has_interpreter(bytes: &[u8]) -> bool {
    let field = |at: usize, len: usize| -> usize {
        bytes.get(at..at + len).map_or(0, |b| {
            b.iter()
                .rev()
                .fold(0usize, |n, byte| n << 8 | usize::from(*byte))
        })
    };
    let (phoff, phentsize, phnum) = (field(32, 8), field(54, 2), field(56, 2));
    (0..phnum).any(|i| field(phoff + i * phentsize, 4) == 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_dynamic_from_static_executables() {
        let this = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        // Test binaries are linked against the system's C library.
        assert!(elf_is_dynamic(&this));
        assert!(!elf_is_dynamic(b"#!/bin/sh\n"));
        let static_runner = EMBEDDED.first().map(|(_, _, b)| *b).unwrap();
        assert!(
            !elf_is_dynamic(static_runner),
            "the embedded runner is static"
        );
    }

    #[test]
    fn the_build_embeds_a_static_runner_for_this_machine() {
        let runners = Runners::embedded();
        let runner = runners.for_arch(std::env::consts::ARCH).unwrap();
        assert_eq!(elf_arch(&runner.bytes[..]), Some(std::env::consts::ARCH));
        assert!(
            !has_interpreter(&runner.bytes[..]),
            "the embedded runner needs a dynamic loader"
        );
    }

    #[test]
    fn embedded_runners_are_named_by_the_hash_of_their_bytes() {
        for r in Runners::embedded().all() {
            assert_eq!(r.hash, sha256_hex(&r.bytes[..]), "{}", r.arch);
        }
    }

    #[test]
    fn an_unknown_architecture_is_named_in_the_error() {
        let err = Runners::embedded().for_arch("riscv64").unwrap_err();
        assert!(err.contains("riscv64"), "{err}");
        assert!(err.contains("x86_64"), "{err}");
        assert!(Runners::embedded().for_arch("amd64").is_ok());
    }
}
