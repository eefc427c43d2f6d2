//! Who runs `mc`, proven by a signing key.
//!
//! Every audit entry (so every plan, approval and apply) is signed with
//! the operator's ed25519 key, in the SSH signature format (`ssh-keygen
//! -Y sign`), so a name in the store proves nothing by itself: what counts
//! is the key that signed. The key is, in order: the file named by
//! `mc --identity` or `MC_IDENTITY`; `~/.config/mc/id_ed25519`;
//! `~/.ssh/id_ed25519` (unencrypted, or encrypted and held by ssh-agent);
//! else a new `~/.config/mc/id_ed25519`, made on first use.

use ssh_key::{rand_core::OsRng, Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Signature namespace of audit entries (`ssh-keygen -Y verify -n`).
pub const AUDIT_NAMESPACE: &str = "mc-audit";

/// The operator's signing key.
pub struct Identity {
    signer: Signer,
    path: PathBuf,
}

enum Signer {
    /// An unencrypted private key read from its file.
    Key(PrivateKey),
    /// A key that ssh-agent holds, used through `ssh-keygen -Y sign` with
    /// its public half (the private half never leaves the agent).
    Agent(PublicKey),
}

impl Identity {
    /// Reads an OpenSSH ed25519 key: an unencrypted private key, or (a
    /// `.pub` file, or an encrypted private key next to its `.pub`) a key
    /// that ssh-agent holds.
    pub fn load(path: &Path) -> Result<Identity, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the signing key {}: {e}", path.display()))?;
        if text.trim_start().starts_with("ssh-") {
            return Identity::in_agent(path);
        }
        let key = PrivateKey::from_openssh(&text)
            .map_err(|e| format!("cannot read the signing key {}: {e}", path.display()))?;
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(format!(
                "the signing key {} is {}, not ed25519",
                path.display(),
                key.algorithm()
            ));
        }
        if key.is_encrypted() {
            return Identity::in_agent(&path.with_extension("pub")).map_err(|e| {
                format!(
                    "the signing key {} is encrypted and mc cannot use it through ssh-agent: {e}",
                    path.display()
                )
            });
        }
        Ok(Identity {
            signer: Signer::Key(key),
            path: path.to_path_buf(),
        })
    }

    /// The key whose public half is at `public_path`, if ssh-agent holds it.
    fn in_agent(public_path: &Path) -> Result<Identity, String> {
        let text = std::fs::read_to_string(public_path)
            .map_err(|e| format!("cannot read {}: {e}", public_path.display()))?;
        let public = parse_public(&text)?;
        if std::env::var_os("SSH_AUTH_SOCK").is_none_or(|s| s.is_empty()) {
            return Err("no ssh-agent (SSH_AUTH_SOCK is not set)".into());
        }
        let listed = std::process::Command::new("ssh-add")
            .arg("-L")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("running ssh-add -L: {e}"))?;
        let want = key_text(&public);
        let held = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| PublicKey::from_openssh(l.trim()).ok())
            .any(|k| key_text(&k) == want);
        if !held {
            return Err(format!(
                "ssh-agent does not hold {}; add it with `ssh-add`",
                public_path.display()
            ));
        }
        Ok(Identity {
            signer: Signer::Agent(public),
            path: public_path.to_path_buf(),
        })
    }

    fn public(&self) -> &PublicKey {
        match &self.signer {
            Signer::Key(k) => k.public_key(),
            Signer::Agent(p) => p,
        }
    }

    /// Makes a new key at `path` (mode 0600, its folder 0700). Two `mc`
    /// processes starting at once for the first time agree on one key: the
    /// file appears whole or not at all, and whoever comes second loads it.
    pub fn create(path: &Path, comment: &str) -> Result<Identity, String> {
        use std::io::Write;
        let fail = |e: &dyn std::fmt::Display| {
            format!("cannot create the signing key {}: {e}", path.display())
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        crate::private_dir(dir).map_err(|e| fail(&e))?;
        let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(|e| fail(&e))?;
        key.set_comment(comment);
        let text = key.to_openssh(LineEnding::LF).map_err(|e| fail(&e))?;
        let public = key.public_key().to_openssh().map_err(|e| fail(&e))?;
        let key = Signer::Key(key);
        // NamedTempFile is created 0600.
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
        tmp.write_all(text.as_bytes()).map_err(|e| fail(&e))?;
        match tmp.persist_noclobber(path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Identity::load(path)
            }
            Err(e) => return Err(fail(&e.error)),
        }
        std::fs::write(path.with_extension("pub"), format!("{public}\n")).map_err(|e| fail(&e))?;
        Ok(Identity {
            signer: key,
            path: path.to_path_buf(),
        })
    }

    /// The public key as `ssh-ed25519 AAAA…` (no comment): what a project
    /// lists in `approvers`.
    pub fn public_key(&self) -> String {
        key_text(self.public())
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.public().fingerprint(HashAlg::Sha256).to_string()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An SSH signature (armored `SSHSIG`) of `msg` in `namespace`.
    pub fn sign(&self, namespace: &str, msg: &[u8]) -> Result<String, String> {
        let fail = |e: &dyn std::fmt::Display| format!("signing with {}: {e}", self.path.display());
        match &self.signer {
            Signer::Key(key) => key
                .sign(namespace, HashAlg::Sha512, msg)
                .and_then(|s| s.to_pem(LineEnding::LF))
                .map_err(|e| fail(&e)),
            Signer::Agent(_) => sign_in_agent(&self.path, namespace, msg).map_err(|e| fail(&e)),
        }
    }
}

/// `ssh-keygen -Y sign` with a public key: the agent signs.
fn sign_in_agent(public_path: &Path, namespace: &str, msg: &[u8]) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-q", "-n", namespace, "-f"])
        .arg(public_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running ssh-keygen: {e}"))?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(msg).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let pem = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || SshSig::from_pem(&pem).is_err() {
        return Err(format!(
            "ssh-keygen -Y sign failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(pem)
}

/// The identity of this process (loaded, or made, once).
pub fn current() -> Result<&'static Identity, String> {
    static CURRENT: OnceLock<Result<Identity, String>> = OnceLock::new();
    CURRENT.get_or_init(find).as_ref().map_err(Clone::clone)
}

/// The key `--identity` names, which wins over `MC_IDENTITY`.
static CHOSEN: OnceLock<PathBuf> = OnceLock::new();

/// Signs with the key at `path` (`mc --identity KEY`); call before the
/// first [`current`].
pub fn use_key(path: PathBuf) {
    let _ = CHOSEN.set(path);
}

fn find() -> Result<Identity, String> {
    if let Some(path) = CHOSEN.get() {
        return Identity::load(path).map_err(|e| format!("--identity: {e}"));
    }
    if let Some(path) = std::env::var_os("MC_IDENTITY").filter(|p| !p.is_empty()) {
        return Identity::load(Path::new(&path)).map_err(|e| format!("MC_IDENTITY: {e}"));
    }
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        return one_time("HOME is not set".into());
    };
    let home = PathBuf::from(home);
    let own = default_path(&home);
    if own.exists() {
        return Identity::load(&own);
    }
    let ssh = home.join(".ssh").join("id_ed25519");
    if let Ok(id) = Identity::load(&ssh) {
        return Ok(id);
    }
    Identity::create(&own, &crate::actor()).or_else(one_time)
}

/// A key for this process only, when no lasting one can be had (no home,
/// a read-only home): its entries still verify, but it can never be one of
/// a project's approvers. Said once, on stderr.
fn one_time(why: String) -> Result<Identity, String> {
    eprintln!("warning: no signing key ({why}); this run signs with a one-time key; set MC_IDENTITY to an ed25519 key");
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519).map_err(|e| e.to_string())?;
    key.set_comment("one-time");
    Ok(Identity {
        signer: Signer::Key(key),
        path: PathBuf::from("(one-time key)"),
    })
}

/// The key that signs what the controller sends to agents: the file
/// `MC_CONTROLLER_KEY` names, else `~/.config/mc/controller_ed25519`, made
/// on first use. A file key (never one held by ssh-agent): it signs every
/// request of every agent session, too often for a signing subprocess.
pub fn controller_key() -> Result<PrivateKey, String> {
    static KEY: OnceLock<Result<PrivateKey, String>> = OnceLock::new();
    KEY.get_or_init(|| {
        let path = controller_key_path()?;
        let id = if path.exists() {
            Identity::load(&path)?
        } else {
            Identity::create(&path, &format!("mc controller {}", crate::actor()))?
        };
        match id.signer {
            Signer::Key(k) => Ok(k),
            Signer::Agent(_) => Err(format!(
                "the controller key {} must be an unencrypted key file, not one held by ssh-agent",
                path.display()
            )),
        }
    })
    .clone()
}

/// Where [`controller_key`] is kept.
pub fn controller_key_path() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("MC_CONTROLLER_KEY").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or("HOME is not set: set MC_CONTROLLER_KEY to the controller's ed25519 key file")?;
    Ok(default_path(Path::new(&home)).with_file_name("controller_ed25519"))
}

/// `~/.config/mc/id_ed25519` (under `$XDG_CONFIG_HOME` when set).
pub fn default_path(home: &Path) -> PathBuf {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    config.join("mc").join("id_ed25519")
}

/// A public key's `type base64` part, without its comment: two spellings
/// of one key compare equal.
pub fn key_text(key: &PublicKey) -> String {
    let mut key = key.clone();
    key.set_comment("");
    key.to_openssh().unwrap_or_default().trim().to_string()
}

/// Parses `ssh-ed25519 AAAA… [comment]`.
pub fn parse_public(text: &str) -> Result<PublicKey, String> {
    let key =
        PublicKey::from_openssh(text.trim()).map_err(|e| format!("not an SSH public key ({e})"))?;
    if key.algorithm() != Algorithm::Ed25519 {
        return Err(format!("a {} key; approvers use ed25519", key.algorithm()));
    }
    Ok(key)
}

/// Checks that `signature` is `signer`'s signature of `msg`.
pub fn verify(signer: &str, namespace: &str, msg: &[u8], signature: &str) -> Result<(), String> {
    let key = parse_public(signer)?;
    let sig = SshSig::from_pem(signature).map_err(|e| format!("unreadable signature ({e})"))?;
    key.verify(namespace, msg, &sig)
        .map_err(|_| "the signature does not match".to_string())
}

/// `SHA256:…` of a public key in text, or the text when it does not parse.
pub fn fingerprint_of(public: &str) -> String {
    parse_public(public)
        .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
        .unwrap_or_else(|_| public.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_refuses_other_keys_and_messages() {
        let dir = tempfile::tempdir().unwrap();
        let alice = Identity::create(&dir.path().join("a/id_ed25519"), "alice").unwrap();
        let mallory = Identity::create(&dir.path().join("m/id_ed25519"), "mallory").unwrap();
        let sig = alice.sign(AUDIT_NAMESPACE, b"entry").unwrap();
        assert!(verify(&alice.public_key(), AUDIT_NAMESPACE, b"entry", &sig).is_ok());
        assert!(verify(&alice.public_key(), AUDIT_NAMESPACE, b"other", &sig).is_err());
        assert!(verify(&alice.public_key(), "elsewhere", b"entry", &sig).is_err());
        assert!(verify(&mallory.public_key(), AUDIT_NAMESPACE, b"entry", &sig).is_err());
        let again = Identity::load(&dir.path().join("a/id_ed25519")).unwrap();
        assert_eq!(again.public_key(), alice.public_key());
        assert!(!alice.public_key().contains("alice"));
        let with_comment = format!("{} alice@laptop", alice.public_key());
        assert_eq!(
            key_text(&parse_public(&with_comment).unwrap()),
            alice.public_key()
        );
        assert!(fingerprint_of(&alice.public_key()).starts_with("SHA256:"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(alice.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn processes_created_at_once_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mc/id_ed25519");
        let keys: Vec<String> = std::thread::scope(|s| {
            let makers: Vec<_> = (0..8)
                .map(|_| s.spawn(|| Identity::create(&path, "x").unwrap().public_key()))
                .collect();
            makers.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let on_disk = Identity::load(&path).unwrap().public_key();
        assert!(keys.iter().all(|k| *k == on_disk), "{keys:?} vs {on_disk}");
    }

    #[test]
    fn refuses_keys_it_cannot_use() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk");
        std::fs::write(&junk, "not a key").unwrap();
        assert!(Identity::load(&junk).is_err());
        assert!(parse_public("ssh-ed25519 AAAA").is_err());
        assert!(parse_public("hello").is_err());
    }
}
