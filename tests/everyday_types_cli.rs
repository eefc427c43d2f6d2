//! download, archive, git and firewall_rule written in mc and applied with
//! the real `mc` binary to a fresh test host: the first apply converges, the
//! second changes nothing, and the firewall really filters ports.

use mc_testfleet::Fleet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// `mc` finds the runner next to itself; cargo does not build other
/// packages' binaries for this test, so build it once here.
fn mc() -> Command {
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
    cmd.stdin(Stdio::null());
    cmd.env(
        "XDG_RUNTIME_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("everyday-types-cli"),
    );
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running mc");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// Serves `body` over HTTP at the controller's address as the hosts see it.
fn serve(body: Vec<u8>) -> u16 {
    let listener = std::net::TcpListener::bind((mc_testfleet::CONTROLLER_ADDRESS, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    port
}

fn reachable(addr: std::net::Ipv4Addr, port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((addr, port)), Duration::from_secs(2)).is_ok()
}

#[test]
fn new_types_converge_in_one_apply_then_change_nothing() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    // An archive to download, a repository to clone, two ports to filter.
    h.exec_ok(
        "set -e; d=$(mktemp -d); mkdir -p $d/app; echo 'v=1' > $d/app/app.ini; \
         tar -C $d -czf /tmp/app.tar.gz app; rm -rf $d",
    )
    .unwrap();
    let tarball = h.read_file("/tmp/app.tar.gz").unwrap();
    let sum = h
        .exec_ok("sha256sum /tmp/app.tar.gz | cut -d' ' -f1")
        .unwrap();
    let port = serve(tarball.clone());
    h.exec_ok(
        "set -e; export HOME=/root GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@e GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@e; \
         git init -q --bare -b main /srv/app.git; w=$(mktemp -d); cd $w; git init -q -b main; \
         echo one > README; git add README; git commit -qm one; git tag v1; git push -q /srv/app.git main v1",
    )
    .unwrap();
    h.exec_ok(
        "for p in 8080 8081; do python3 -c 'import socket,os,sys\ns=socket.socket()\ns.bind((\"0.0.0.0\",int(sys.argv[1])))\ns.listen()\nif os.fork()==0:\n  [s.accept()[0].close() for _ in iter(int,1)]' $p </dev/null >/dev/null 2>&1; done",
    )
    .unwrap();

    h.write_file("/etc/init.d/mcapp", MCAPP_INIT.as_bytes())
        .unwrap();
    h.exec_ok("chmod 755 /etc/init.d/mcapp").unwrap();

    let project = tempfile::tempdir().unwrap();
    let src = format!(
        r#"host "{name}" {{}}

on all {{
  directory "/opt/app" {{}}
  download "/opt/app/app.tar.gz" {{
    url = "http://{controller}:{port}/app.tar.gz"
    sha256 = "{sum}"
    mode = 0o640
  }}
  archive "/opt/app/current" {{
    source = "/opt/app/app.tar.gz"
  }}
  git "/opt/app/src" {{
    repo = "file:///srv/app.git"
    ref = "v1"
  }}
  firewall_rule "allow-ssh" {{
    port = 22
    from = "{controller}"
    order = 10
  }}
  firewall_rule "allow-web" {{
    port = 8080
  }}
  firewall_rule "deny-rest" {{
    proto = "any"
    action = "reject"
    order = 1000
  }}
  service "mcapp" {{
    state = "running"
  }}
  systemd_unit "mcapp.service" {{
    content = "[Service]\nExecStart=/bin/sleep 1000 # UNIT_VERSION\n"
  }}
}}
"#,
        name = h.name(),
        controller = mc_testfleet::CONTROLLER_ADDRESS,
        sum = sum.trim(),
    );
    std::fs::write(project.path().join("main.mc"), &src).unwrap();
    let p = project.path();
    let ssh = [
        "--ssh-config".into(),
        fleet.ssh_config().display().to_string(),
    ];

    let (code, out, err) = run(mc().args(["plan"]).arg(p).args(&ssh));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("+ git[/opt/app/src]"), "{out}");
    assert!(out.contains("+ firewall_rule[deny-rest]"), "{out}");

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(&ssh));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(h.read_file("/opt/app/app.tar.gz").unwrap(), tarball);
    assert_eq!(
        h.read_file("/opt/app/current/app/app.ini").unwrap(),
        b"v=1\n"
    );
    assert_eq!(h.read_file("/opt/app/src/README").unwrap(), b"one\n");
    assert!(reachable(h.address(), 8080));
    assert!(!reachable(h.address(), 8081));

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(&ssh));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
    let (code, out, err) = run(mc().args(["plan", "--detailed-exitcode"]).arg(p).args(&ssh));
    assert_eq!(code, 0, "{out}{err}");

    // A changed unit file refreshes its service.
    assert_eq!(h.read_file("/var/log/mcapp.log").unwrap(), b"start\n");
    std::fs::write(
        project.path().join("main.mc"),
        src.replace("UNIT_VERSION", "v2"),
    )
    .unwrap();
    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(&ssh));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 changed"), "{out}");
    assert_eq!(
        h.read_file("/var/log/mcapp.log").unwrap(),
        b"start\nrestart\n"
    );
}

const MCAPP_INIT: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          mcapp
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: mc test app
### END INIT INFO
PIDFILE=/run/mcapp.pid
case "$1" in
  start) start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --exec /bin/sleep -- 100000; echo start >> /var/log/mcapp.log ;;
  stop) start-stop-daemon --stop --quiet --pidfile $PIDFILE --remove-pidfile --retry 5 ;;
  restart) "$0" stop; start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --exec /bin/sleep -- 100000; echo restart >> /var/log/mcapp.log ;;
  reload) echo reload >> /var/log/mcapp.log ;;
  status) [ -f $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null ;;
  *) exit 3 ;;
esac
"#;
