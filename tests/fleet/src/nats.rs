//! A real NATS server with JetStream for tests: Debian's `nats-server`,
//! its store in a temporary directory, listening on a free port on every
//! address (so test hosts reach it at [`crate::CONTROLLER_ADDRESS`]).
//! Killed when the value is dropped.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestNats {
    dir: tempfile::TempDir,
    pub port: u16,
    server: Option<Child>,
    /// A configuration file (`-c`), e.g. with `authorization`.
    config: Option<std::path::PathBuf>,
}

impl TestNats {
    pub fn start() -> Result<TestNats> {
        TestNats::start_with_config("")
    }

    /// A server with `config` (nats-server's configuration syntax) added:
    /// users, permissions, TLS.
    pub fn start_with_config(config: &str) -> Result<TestNats> {
        let dir = tempfile::Builder::new().prefix("mc-nats-").tempdir()?;
        let port = free_port()?;
        let file = (!config.is_empty()).then(|| dir.path().join("server.conf"));
        if let Some(f) = &file {
            std::fs::write(f, config)?;
        }
        let mut n = TestNats {
            dir,
            port,
            server: None,
            config: file,
        };
        n.run_server()?;
        Ok(n)
    }

    fn run_server(&mut self) -> Result<()> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))?;
        let mut cmd = Command::new(binary()?);
        if let Some(c) = &self.config {
            cmd.arg("-c").arg(c);
        }
        let child = cmd
            .args(["-a", "0.0.0.0", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path().join("js"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting nats-server")?;
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(s) = self
                .server
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("nats-server exited ({s}): {}", self.log());
            }
            if Instant::now() > deadline {
                bail!("nats-server did not listen within 30 s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The URL for the machine's own processes.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The URL for processes inside the test hosts.
    pub fn url_for_hosts(&self) -> String {
        format!("nats://{}:{}", crate::CONTROLLER_ADDRESS, self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server (SIGKILL, as a crash would), leaves it down for
    /// `down`, and starts it again on the same port with the same store.
    pub fn restart(&mut self, down: Duration) -> Result<()> {
        self.kill();
        std::thread::sleep(down);
        self.run_server()
    }

    /// Kills the server; [`TestNats::restart`] brings it back.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A plain NATS client on the text protocol, for tests that publish
/// what no `mc` would (forged messages) and watch subjects.
pub struct RawClient {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl RawClient {
    pub fn connect(url_port: u16) -> Result<RawClient> {
        let stream = TcpStream::connect(("127.0.0.1", url_port))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut info = String::new();
        reader.read_line(&mut info)?;
        let mut c = RawClient { stream, reader };
        c.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":false}\r\n")?;
        c.ping()?;
        Ok(c)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// Round trip: everything sent before has reached the server.
    pub fn ping(&mut self) -> Result<()> {
        self.send(b"PING\r\n")?;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                bail!("the NATS server closed the connection");
            }
            if line.starts_with("PONG") {
                return Ok(());
            }
        }
    }

    pub fn publish(&mut self, subject: &str, reply: Option<&str>, data: &[u8]) -> Result<()> {
        let head = match reply {
            Some(r) => format!("PUB {subject} {r} {}\r\n", data.len()),
            None => format!("PUB {subject} {}\r\n", data.len()),
        };
        self.send(head.as_bytes())?;
        self.send(data)?;
        self.send(b"\r\n")?;
        self.ping()
    }

    pub fn subscribe(&mut self, subject: &str, sid: u32) -> Result<()> {
        self.send(format!("SUB {subject} {sid}\r\n").as_bytes())?;
        self.ping()
    }

    /// The next message's (subject, payload), or `None` after `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<(String, Vec<u8>)>> {
        self.stream.set_read_timeout(Some(timeout))?;
        let deadline = Instant::now() + timeout;
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => bail!("the NATS server closed the connection"),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e.into()),
            }
            if line.starts_with("PING") {
                self.send(b"PONG\r\n")?;
            } else if let Some(rest) = line.strip_prefix("MSG ") {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let len: usize = parts.last().context("MSG line")?.parse()?;
                let mut data = vec![0u8; len + 2];
                self.reader.read_exact(&mut data)?;
                data.truncate(len);
                return Ok(Some((parts[0].to_string(), data)));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
        }
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn binary() -> Result<&'static str> {
    for p in [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ] {
        if Path::new(p).exists() {
            return Ok(p);
        }
    }
    bail!("nats-server is not installed (scripts/install-test-deps installs it)")
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("0.0.0.0:0")?;
    Ok(l.local_addr()?.port())
}
