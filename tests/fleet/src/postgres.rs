//! A real PostgreSQL server for tests: Debian's `postgresql` binaries,
//! a cluster made by `initdb` in a temporary directory, listening on a free
//! loopback port, run as the `postgres` user when the suite runs as root
//! (PostgreSQL refuses root). Stopped (SIGKILL-safe: `Drop` and the
//! directory's removal) when the value is dropped.
//!
//! [`TestPostgres::database`] gives each test its own database; the role
//! `mc` logs in with a password (SCRAM), as a team server would ask.

use anyhow::{anyhow, bail, Context, Result};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The password of the `mc` role.
pub const PASSWORD: &str = "mc-test-pw";

pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    server: Option<Child>,
    next_db: AtomicU32,
}

impl TestPostgres {
    /// Creates a cluster and starts its server.
    pub fn start() -> Result<TestPostgres> {
        let bin = bindir()?;
        let dir = tempfile::Builder::new().prefix("mc-pg-").tempdir()?;
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD)?;
        as_server_user(dir.path())?;
        let out = server_command(&bin.join("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-U", "mc", "-A", "scram-sha-256", "--no-sync", "-E", "UTF8"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .context("initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let port = free_port()?;
        let mut pg = TestPostgres {
            dir,
            bin,
            port,
            server: None,
            next_db: AtomicU32::new(0),
        };
        pg.run_server()?;
        Ok(pg)
    }

    fn run_server(&mut self) -> Result<()> {
        let data = self.dir.path().join("data");
        let log = std::fs::File::create(self.dir.path().join("server.log"))?;
        let child = server_command(&self.bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(s) = self
                .server
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("postgres exited ({s}): {}", self.log());
            }
            if Instant::now() > deadline {
                bail!("postgres did not listen within 30 s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Listening comes a moment before accepting logins.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.psql("postgres", "SELECT 1")?.status.success() {
            if Instant::now() > deadline {
                bail!("postgres does not accept logins: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A new, empty database; its URL (without the password: give it
    /// through `PGPASSWORD`, or use [`TestPostgres::url_with_password`]).
    pub fn database(&self) -> Result<String> {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        let name = format!("mc_test_{n}");
        let out = self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        if !out.status.success() {
            bail!("CREATE DATABASE: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(format!("postgres://mc@127.0.0.1:{}/{name}", self.port))
    }

    /// `url` with the password in it.
    pub fn url_with_password(url: &str) -> String {
        url.replacen("postgres://mc@", &format!("postgres://mc:{PASSWORD}@"), 1)
    }

    /// Runs SQL with `psql` in database `db`.
    pub fn psql(&self, db: &str, sql: &str) -> Result<std::process::Output> {
        Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "mc",
                "-d",
                db,
            ])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .context("psql")
    }

    /// Stops the server at once (SIGKILL: as a crash), then starts it
    /// again after `down`.
    pub fn restart(&mut self, down: Duration) -> Result<()> {
        self.kill();
        std::thread::sleep(down);
        self.run_server()
    }

    /// Makes the server accept only TLS connections, with a certificate
    /// for `localhost` (not 127.0.0.1) signed by a test CA made here. Returns that CA's
    /// certificate and another CA's (which did not sign the server's).
    pub fn require_tls(&mut self) -> Result<(PathBuf, PathBuf)> {
        let tls = self.dir.path().join("tls");
        std::fs::create_dir_all(&tls)?;
        let openssl = |args: &[&str]| -> Result<()> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&tls)
                .output()
                .context("openssl")?;
            if !out.status.success() {
                bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            }
            Ok(())
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for ca in ["ca", "other-ca"] {
            let (key, pem, subj) = (
                format!("{ca}.key"),
                format!("{ca}.pem"),
                format!("/CN=mc test {ca}"),
            );
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
            openssl(&args)?;
        }
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(&args)?;
        std::fs::write(tls.join("san.ext"), "subjectAltName=DNS:localhost\n")?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ])?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            tls.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )?;
        as_server_user(&tls)?;
        let data = self.dir.path().join("data");
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        use std::io::Write;
        writeln!(
            conf,
            "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'",
            tls.join("server.pem").display(),
            tls.join("server.key").display()
        )?;
        let hba = std::fs::read_to_string(data.join("pg_hba.conf"))?;
        let hba: String = hba
            .lines()
            .map(|l| match l.strip_prefix("host ") {
                Some(rest) => format!("hostssl {rest}\n"),
                None => format!("{l}\n"),
            })
            .collect();
        std::fs::write(data.join("pg_hba.conf"), hba)?;
        self.restart(Duration::ZERO)?;
        Ok((tls.join("ca.pem"), tls.join("other-ca.pem")))
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
            // Children of a killed postmaster end when they notice.
            let pid_file = self.dir.path().join("data/postmaster.pid");
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            // Backends of a killed postmaster exit when they notice; a
            // new postmaster refuses to start while they hold its memory.
            let data = self.dir.path().join("data");
            while !processes_in(&data).is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            for pid in processes_in(&data) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            let _ = std::fs::remove_file(pid_file);
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some(c) = self.server.as_mut() {
            // SIGQUIT: immediate shutdown, children included.
            let _ = Command::new("kill")
                .args(["-QUIT", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }
}

/// Processes whose working directory is `dir` (a cluster's backends).
fn processes_in(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            (std::fs::read_link(e.path().join("cwd")).ok()? == dir).then_some(pid)
        })
        .collect()
}

/// The newest installed PostgreSQL's binaries.
fn bindir() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| anyhow!("PostgreSQL is not installed (apt-get install postgresql)"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| anyhow!("no PostgreSQL server binaries under /usr/lib/postgresql"))
}

fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// PostgreSQL refuses to run as root: as root, the cluster belongs to the
/// `postgres` user.
fn as_server_user(dir: &Path) -> Result<()> {
    if running_as_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status()?;
        if !status.success() {
            bail!("chown postgres {}", dir.display());
        }
    }
    Ok(())
}

fn server_command(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--reset-env",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
