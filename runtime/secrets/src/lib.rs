//! mc-secrets: the project's encrypted secret store.
//!
//! Each secret is one age file, `secrets/NAME.age`, encrypted to every x25519
//! recipient listed in `secrets/recipients.txt`. One file per secret keeps
//! version-control merges trivial: two people setting different secrets never
//! touch the same file. The private key (identity) never lives in the
//! project: it is `$MC_IDENTITY`, else `$XDG_CONFIG_HOME/mc/identity.txt`,
//! else `~/.config/mc/identity.txt`, created with mode 0600 on first use.
//!
//! Values come back as [`SecretString`], which never shows its value through
//! `Debug` or `Display` and is wiped from memory when dropped.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

#[cfg(feature = "prompt")]
pub mod prompt;

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroize;

/// The folder under the project root that holds the secrets.
pub const SECRETS_DIR: &str = "secrets";
/// The list of public keys every secret is encrypted to.
pub const RECIPIENTS_FILE: &str = "recipients.txt";
/// The extension of one encrypted secret.
pub const SECRET_EXT: &str = "age";
/// Environment variable that overrides where the identity lives.
pub const IDENTITY_ENV: &str = "MC_IDENTITY";
const MAX_NAME_LEN: usize = 128;

/// A secret value. `Debug` and `Display` print `(secret)`; the value is
/// reachable only through [`SecretString::expose`], and is zeroed on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> SecretString {
        SecretString(value)
    }

    /// The plain text. Call it only where the value is actually used.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString(value)
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString((secret))")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(secret)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("invalid secret name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("secret {name:?} is not set{}", did_you_mean(.known, .name))]
    NotFound { name: String, known: Vec<String> },
    #[error("no identity at {}; run `mc secret set` once to create one, or set {IDENTITY_ENV}", .path.display())]
    NoIdentity { path: PathBuf },
    #[error("{}: not an age x25519 identity ({reason})", .path.display())]
    BadIdentity { path: PathBuf, reason: String },
    #[error(
        "cannot decrypt secret {name:?} with the identity at {}: your public key {public_key} is not among its recipients; \
         ask someone who can read it to add your key to secrets/{RECIPIENTS_FILE} and run `mc secret rekey`",
        .identity.display()
    )]
    NotARecipient {
        name: String,
        identity: PathBuf,
        public_key: String,
    },
    #[error("{}:{line}: not an age x25519 public key ({reason})", .path.display())]
    BadRecipient {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{} lists no recipients", .path.display())]
    NoRecipients { path: PathBuf },
    #[error("secret {name:?} is damaged: {reason}")]
    Corrupt { name: String, reason: String },
    #[error("cannot find a config directory: set XDG_CONFIG_HOME, HOME or {IDENTITY_ENV}")]
    NoConfigDir,
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn did_you_mean(known: &[String], name: &str) -> String {
    let close = known
        .iter()
        .filter(|k| strsim::osa_distance(k, name) <= 2)
        .min_by_key(|k| strsim::osa_distance(k, name));
    match close {
        Some(k) => format!(" (did you mean {k:?}?)"),
        None => String::new(),
    }
}

pub type Result<T> = std::result::Result<T, SecretError>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SecretError + '_ {
    move |source| SecretError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Secret names are file names: ASCII letters, digits, `_`, `-` and `.`,
/// not starting with `.`, at most 128 bytes.
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(SecretError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return invalid("it is longer than 128 bytes");
    }
    if name.starts_with('.') {
        return invalid("it starts with '.'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return invalid("use only letters, digits, '_', '-' and '.'");
    }
    Ok(())
}

/// Where the identity lives when nothing overrides it: `$MC_IDENTITY`, else
/// `$XDG_CONFIG_HOME/mc/identity.txt`, else `$HOME/.config/mc/identity.txt`.
pub fn default_identity_path() -> Result<PathBuf> {
    identity_path_from(|var| std::env::var_os(var))
}

fn identity_path_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf> {
    let nonempty = |var: &str| env(var).filter(|v| !v.is_empty());
    if let Some(p) = nonempty(IDENTITY_ENV) {
        return Ok(PathBuf::from(p));
    }
    let config = match nonempty("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(nonempty("HOME").ok_or(SecretError::NoConfigDir)?).join(".config"),
    };
    Ok(config.join("mc").join("identity.txt"))
}

/// What [`SecretStore::set`] did beyond writing the secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetOutcome {
    /// A new identity was generated at this path.
    pub created_identity: Option<PathBuf>,
    /// `secrets/recipients.txt` was created with the user's public key.
    pub created_recipients: bool,
    /// The user's own key is not among the recipients: they cannot read
    /// back what they just wrote.
    pub self_excluded: bool,
    /// How many recipients the secret was encrypted to.
    pub recipients: usize,
}

/// The secrets of one project.
#[derive(Clone, Debug)]
pub struct SecretStore {
    dir: PathBuf,
    identity_path: PathBuf,
}

impl SecretStore {
    /// The store of the project at `project_dir`, with the user's identity
    /// at [`default_identity_path`].
    pub fn open(project_dir: &Path) -> Result<SecretStore> {
        Ok(SecretStore::with_identity(
            project_dir,
            default_identity_path()?,
        ))
    }

    /// The store of the project at `project_dir` with an explicit identity.
    pub fn with_identity(project_dir: &Path, identity_path: PathBuf) -> SecretStore {
        SecretStore {
            dir: project_dir.join(SECRETS_DIR),
            identity_path,
        }
    }

    /// The `secrets/` folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn identity_path(&self) -> &Path {
        &self.identity_path
    }

    pub fn recipients_path(&self) -> PathBuf {
        self.dir.join(RECIPIENTS_FILE)
    }

    fn secret_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{SECRET_EXT}"))
    }

    /// The names of all secrets, sorted. A project without `secrets/` has none.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&self.dir))?;
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                continue;
            };
            if let Some(name) = file_name.strip_suffix(".age") {
                if validate_name(name).is_ok() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn contains(&self, name: &str) -> bool {
        validate_name(name).is_ok() && self.secret_path(name).is_file()
    }

    /// Decrypts one secret with the user's identity.
    pub fn resolve(&self, name: &str) -> Result<SecretString> {
        validate_name(name)?;
        let path = self.secret_path(name);
        let ciphertext = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SecretError::NotFound {
                    name: name.to_string(),
                    known: self.list().unwrap_or_default(),
                })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let identity = self.load_identity()?;
        let decryptor =
            age::Decryptor::new_buffered(&ciphertext[..]).map_err(|e| SecretError::Corrupt {
                name: name.to_string(),
                reason: e.to_string(),
            })?;
        let mut reader = match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
            Ok(reader) => reader,
            Err(age::DecryptError::NoMatchingKeys) => {
                return Err(SecretError::NotARecipient {
                    name: name.to_string(),
                    identity: self.identity_path.clone(),
                    public_key: identity.to_public().to_string(),
                })
            }
            Err(e) => {
                return Err(SecretError::Corrupt {
                    name: name.to_string(),
                    reason: e.to_string(),
                })
            }
        };
        let mut plain = Vec::new();
        if let Err(e) = reader.read_to_end(&mut plain) {
            plain.zeroize();
            return Err(SecretError::Corrupt {
                name: name.to_string(),
                reason: e.to_string(),
            });
        }
        match String::from_utf8(plain) {
            Ok(text) => Ok(SecretString(text)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(SecretError::Corrupt {
                    name: name.to_string(),
                    reason: "the value is not UTF-8".into(),
                })
            }
        }
    }

    /// Encrypts `value` to every recipient and writes `secrets/NAME.age`
    /// atomically. Creates the identity and the recipients list on first use.
    pub fn set(&self, name: &str, value: &SecretString) -> Result<SetOutcome> {
        validate_name(name)?;
        let mut outcome = SetOutcome::default();
        let (identity, created) = self.ensure_identity()?;
        if created {
            outcome.created_identity = Some(self.identity_path.clone());
        }
        let own_key = identity.to_public().to_string();
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let recipients_path = self.recipients_path();
        if !recipients_path.exists() {
            let text = format!(
                "# Public keys (age x25519) that can read this project's secrets, one a line.\n\
                 # After adding one, run `mc secret rekey`.\n{own_key}\n"
            );
            write_atomic(&recipients_path, text.as_bytes())?;
            outcome.created_recipients = true;
        }
        let recipients = self.recipients()?;
        outcome.self_excluded = !recipients.iter().any(|r| r.to_string() == own_key);
        outcome.recipients = recipients.len();
        let ciphertext = encrypt(&recipients, value.expose().as_bytes(), name)?;
        write_atomic(&self.secret_path(name), &ciphertext)?;
        Ok(outcome)
    }

    /// Deletes a secret.
    pub fn remove(&self, name: &str) -> Result<()> {
        validate_name(name)?;
        let path = self.secret_path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SecretError::NotFound {
                name: name.to_string(),
                known: self.list().unwrap_or_default(),
            }),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Re-encrypts every secret to the current recipients list (after a
    /// teammate's key was added or removed). Returns how many were rewritten.
    pub fn rekey(&self) -> Result<usize> {
        let recipients = self.recipients()?;
        let names = self.list()?;
        // Decrypt everything first, so a secret this user cannot read stops
        // the rekey before any file was rewritten.
        let mut values = Vec::with_capacity(names.len());
        for name in &names {
            values.push(self.resolve(name)?);
        }
        for (name, value) in names.iter().zip(&values) {
            let ciphertext = encrypt(&recipients, value.expose().as_bytes(), name)?;
            write_atomic(&self.secret_path(name), &ciphertext)?;
        }
        Ok(names.len())
    }

    /// The public keys in `secrets/recipients.txt` (blank lines and `#`
    /// comments skipped; text after a key on the same line is ignored).
    pub fn recipients(&self) -> Result<Vec<age::x25519::Recipient>> {
        let path = self.recipients_path();
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line.split_whitespace().next().unwrap_or_default();
            let recipient =
                age::x25519::Recipient::from_str(key).map_err(|e| SecretError::BadRecipient {
                    path: path.clone(),
                    line: i + 1,
                    reason: e.to_string(),
                })?;
            out.push(recipient);
        }
        if out.is_empty() {
            return Err(SecretError::NoRecipients { path });
        }
        Ok(out)
    }

    /// The user's public key, creating the identity if it does not exist.
    pub fn public_key(&self) -> Result<String> {
        Ok(self.ensure_identity()?.0.to_public().to_string())
    }

    fn load_identity(&self) -> Result<age::x25519::Identity> {
        let path = &self.identity_path;
        let mut text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SecretError::NoIdentity { path: path.clone() })
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        let parsed = parse_identity(&text);
        text.zeroize();
        parsed.map_err(|reason| SecretError::BadIdentity {
            path: path.clone(),
            reason,
        })
    }

    /// Loads the identity, or generates one and writes it with mode 0600.
    fn ensure_identity(&self) -> Result<(age::x25519::Identity, bool)> {
        match self.load_identity() {
            Ok(identity) => return Ok((identity, false)),
            Err(SecretError::NoIdentity { .. }) => {}
            Err(e) => return Err(e),
        }
        let path = &self.identity_path;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let identity = age::x25519::Identity::generate();
        let mut text = format!(
            "# mc identity: the private key that decrypts mc project secrets. Keep it private.\n\
             # public key: {}\n{}\n",
            identity.to_public(),
            age::secrecy::ExposeSecret::expose_secret(&identity.to_string())
        );
        // tempfile creates files with mode 0600, and persist_noclobber never
        // replaces an identity another process created meanwhile.
        let written = (|| -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(text.as_bytes())?;
            tmp.as_file().sync_all()?;
            tmp.persist_noclobber(path).map_err(|e| e.error)?;
            Ok(())
        })();
        text.zeroize();
        match written {
            Ok(()) => Ok((identity, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((self.load_identity()?, false))
            }
            Err(e) => Err(io_err(path)(e)),
        }
    }
}

fn parse_identity(text: &str) -> std::result::Result<age::x25519::Identity, String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| "it holds no key".to_string())?;
    age::x25519::Identity::from_str(line).map_err(|e| e.to_string())
}

fn encrypt(recipients: &[age::x25519::Recipient], plain: &[u8], name: &str) -> Result<Vec<u8>> {
    let fail = |reason: String| SecretError::Corrupt {
        name: name.to_string(),
        reason,
    };
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::with_capacity(plain.len() + 256);
    let mut writer = encryptor
        .wrap_output(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    writer.write_all(plain).map_err(|e| fail(e.to_string()))?;
    writer.finish().map_err(|e| fail(e.to_string()))?;
    Ok(out)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err(dir))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))
}

/// Temp file in the same folder, fsync, rename: readers see the old file or
/// the new one, never half of one.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let result = (|| -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    result.map_err(io_err(path))
}

#[cfg(test)]
mod tests;
