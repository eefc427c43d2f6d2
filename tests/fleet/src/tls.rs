//! A throwaway certificate authority for tests of TLS (servers and
//! clients), made with the `openssl` command.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestCa {
    dir: PathBuf,
}

/// A certificate and its key (PEM files).
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA in `dir` (`ca.pem`, `ca.key`).
    pub fn new(dir: &Path) -> Result<TestCa> {
        std::fs::create_dir_all(dir)?;
        let ca = TestCa {
            dir: dir.to_path_buf(),
        };
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=mc test CA",
        ])?;
        Ok(ca)
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A certificate for `name` signed by the CA, with `extensions` (an
    /// openssl extension file's lines: `subjectAltName=IP:127.0.0.1`,
    /// `extendedKeyUsage=clientAuth`).
    pub fn issue(&self, name: &str, extensions: &str) -> Result<Issued> {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ])?;
        std::fs::write(self.dir.join(&ext), format!("{extensions}\n"))?;
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ])?;
        Ok(Issued {
            cert: self.dir.join(pem),
            key: self.dir.join(key),
        })
    }

    fn openssl(&self, args: &[&str]) -> Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .context("running openssl")?;
        if !out.status.success() {
            bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }
}
