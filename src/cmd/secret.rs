//! `mc secret`: set, list, remove and re-encrypt the project's secrets.
//! Values never come from the command line (it ends up in shell history and
//! `ps`): they are read from stdin, or prompted for without echo on a TTY.

use mc_secrets::{SecretError, SecretStore, SecretString};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: SecretCommand,
    /// Project directory (prefer `mc -C DIR`, the same on every command).
    #[arg(
        short = 'p',
        long = "project",
        default_value = ".",
        hide = true,
        global = true
    )]
    pub project: PathBuf,
}

#[derive(clap::Subcommand)]
pub enum SecretCommand {
    /// Set a secret; the value is read from stdin (one trailing newline is
    /// dropped) or prompted for without echo.
    Set { name: String },
    /// List the names of the secrets (never their values).
    List,
    /// Remove a secret.
    Rm { name: String },
    /// Re-encrypt every secret to the keys in secrets/recipients.txt.
    Rekey,
    /// Print your public key, to add to another project's recipients.
    PublicKey,
}

pub fn run(args: Args) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn execute(args: Args) -> Result<(), String> {
    let store = SecretStore::open(&args.project).map_err(|e| e.to_string())?;
    match args.command {
        SecretCommand::Set { name } => {
            mc_secrets::validate_name(&name).map_err(|e| e.to_string())?;
            let value = read_value(&name)?;
            if value.is_empty() {
                return Err("the value is empty; nothing was stored".into());
            }
            let min = mc_runtime::scrub::MIN_SCRUB_CHARS;
            if value.expose().chars().count() < min {
                return Err(format!(
                    "the value is shorter than {min} characters; nothing was stored: mc removes \
                     secrets from output and state by their value, which is not safe for so \
                     short a value (use a longer secret)"
                ));
            }
            let outcome = store.set(&name, &value).map_err(|e| e.to_string())?;
            if let Some(path) = &outcome.created_identity {
                eprintln!("created your identity at {} (mode 0600)", path.display());
            }
            if outcome.created_recipients {
                eprintln!(
                    "created {} with your public key",
                    store.recipients_path().display()
                );
            }
            if outcome.self_excluded {
                eprintln!(
                    "warning: your key is not in {}: you cannot read this secret back",
                    store.recipients_path().display()
                );
            }
            eprintln!(
                "set secret {name:?} (encrypted to {} recipient{})",
                outcome.recipients,
                if outcome.recipients == 1 { "" } else { "s" }
            );
            Ok(())
        }
        SecretCommand::List => {
            for name in store.list().map_err(|e| e.to_string())? {
                crate::outln!("{name}");
            }
            Ok(())
        }
        SecretCommand::Rm { name } => {
            store.remove(&name).map_err(|e| e.to_string())?;
            eprintln!("removed secret {name:?}");
            Ok(())
        }
        SecretCommand::Rekey => {
            let n = store.rekey().map_err(|e| match e {
                SecretError::Io { .. } if !store.recipients_path().exists() => format!(
                    "{} does not exist yet: set a secret first",
                    store.recipients_path().display()
                ),
                other => other.to_string(),
            })?;
            eprintln!("re-encrypted {n} secret{}", if n == 1 { "" } else { "s" });
            Ok(())
        }
        SecretCommand::PublicKey => {
            crate::outln!("{}", store.public_key().map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}

fn read_value(name: &str) -> Result<SecretString, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return mc_secrets::prompt::read_hidden(&format!("value of {name}: ")).map_err(|e| match e
            .kind()
        {
            std::io::ErrorKind::Interrupted => "cancelled; nothing was stored".to_string(),
            _ => format!("cannot read from the terminal: {e}"),
        });
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the value from stdin: {e}"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(SecretString::new(text))
}
