//! Subjects and connection options shared by agents and controllers.

use std::path::PathBuf;
use std::time::Duration;

/// The token that names an agent in subjects. A NATS subject token cannot
/// hold `.`, so a dotted host name (`web1.example.com`) uses `:` instead.
pub fn token(agent: &str) -> String {
    agent.replace('.', ":")
}

/// Where a controller sends an agent's requests.
pub fn rpc_subject(agent: &str) -> String {
    format!("mc.rpc.{}", token(agent))
}

/// Where an agent reports what it refused.
pub fn refused_subject(agent: &str) -> String {
    format!("mc.report.{}.refused", token(agent))
}

/// Whether `name` can be an agent's name: a host name's characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
}

/// How to authenticate to the NATS server.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// A `.creds` file (JWT and nkey seed), as `nsc` writes it.
    pub creds: Option<PathBuf>,
    /// A file holding an nkey seed (`SU…`).
    pub nkey: Option<PathBuf>,
    /// A TLS client certificate and its key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// CA certificates to verify the server with (PEM), beside the system's.
    pub tls_ca: Option<PathBuf>,
}

impl Credentials {
    /// Connection options for `name` (shown in the server's monitoring).
    pub async fn options(
        &self,
        name: &str,
        connect_timeout: Duration,
    ) -> Result<async_nats::ConnectOptions, String> {
        let mut o = match &self.creds {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| format!("cannot read NATS credentials {}: {e}", path.display()))?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(path) = &self.nkey {
            let seed = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the nkey seed {}: {e}", path.display()))?;
            o = o.nkey(seed.trim().to_string());
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                o = o.add_client_certificate(cert.clone(), key.clone());
            }
            (None, None) => {}
            _ => {
                return Err(
                    "a TLS client certificate needs both the certificate and its key".into(),
                )
            }
        }
        if let Some(ca) = &self.tls_ca {
            o = o.add_root_certificates(ca.clone()).require_tls(true);
        }
        Ok(o.name(name)
            .connection_timeout(connect_timeout)
            .ping_interval(Duration::from_secs(20)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_subject_tokens() {
        assert_eq!(rpc_subject("web1.example.com"), "mc.rpc.web1:example:com");
        assert!(valid_name("web-1.example_2"));
        for bad in ["", "a b", "a*", "a>", ".a", "a..b", "a/b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
