//! Starts real test hosts and checks their isolation and life cycle.

use mc_testfleet::Fleet;
use std::path::Path;
use std::process::Stdio;

#[test]
fn two_hosts_are_isolated_reachable_over_strict_ssh_and_gone_after_stop() {
    let fleet = Fleet::start(2).expect("fleet starts");
    let (a, b) = (fleet.host(0), fleet.host(1));
    assert_ne!(a.address(), b.address());

    // Own hostnames (UTS namespace).
    assert_eq!(a.exec_ok("hostname").unwrap().trim(), "host1");
    assert_eq!(b.exec_ok("hostname").unwrap().trim(), "host2");

    // A file written on one host is visible neither on the other nor on the
    // real machine, in an overlaid directory and in the private /tmp.
    for path in [
        "/etc/mc-fleet-probe",
        "/tmp/mc-fleet-probe",
        "/root/mc-fleet-probe",
    ] {
        a.write_file(path, b"only on host1\n").unwrap();
        assert_eq!(a.read_file(path).unwrap(), b"only on host1\n");
        assert!(!b.path_exists(path).unwrap(), "{path} leaked to host2");
        assert!(
            !Path::new(path).exists(),
            "{path} leaked to the real machine"
        );
    }

    // ssh with strict host-key checking, through each host's own config and
    // the fleet-wide one.
    let out = a.ssh("hostname; echo $USER-$(id -u)").unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "host1\nroot-0\n");
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(fleet.ssh_config())
        .args(["host2", "cat /etc/hostname"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "host2\n");

    // Without the known_hosts entry a strict client refuses.
    let out = std::process::Command::new("ssh")
        .arg("-F")
        .arg(a.ssh_config_without_known_host())
        .args(["host1", "true"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Host key verification failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The sshd log counts authenticated connections.
    assert_eq!(a.count_sessions(), 1, "{}", a.sshd_log());
    assert_eq!(b.count_sessions(), 1, "{}", b.sshd_log());

    let pids = [a.init_pid(), b.init_pid()];
    let addrs = [a.address(), b.address()];
    let dir = fleet.dir().to_path_buf();
    assert!(dir.exists());
    fleet.stop().expect("fleet stops cleanly");

    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "init {pid} still running"
        );
    }
    for addr in addrs {
        let sock = std::net::SocketAddr::from((addr, 22));
        assert!(
            std::net::TcpStream::connect_timeout(&sock, std::time::Duration::from_millis(200))
                .is_err()
        );
    }
    assert!(!dir.exists(), "fleet dir {} not removed", dir.display());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&dir.display().to_string()));
}

#[test]
fn sshd_can_be_killed_restarted_and_connections_cut() {
    let fleet = Fleet::start(1).expect("fleet starts");
    let h = fleet.host(0);

    // A long-running session is dropped by cut_connections, the listener stays.
    let mut long = h
        .ssh_command()
        .args(["--", "echo started; read _"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(long.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "started\n");
    h.cut_connections().unwrap();
    let status = long.wait().unwrap();
    assert!(!status.success());
    assert!(h.ssh("true").unwrap().status.success());

    h.kill_sshd().unwrap();
    assert!(!h.accepts_connections());
    assert!(!h.ssh("true").unwrap().status.success());
    h.start_sshd().unwrap();
    assert!(h.ssh("true").unwrap().status.success());
    fleet.stop().unwrap();
}

#[test]
fn fleets_started_at_once_get_distinct_addresses() {
    let handles: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(|| Fleet::start(2).expect("fleet starts")))
        .collect();
    let fleets: Vec<Fleet> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut addrs: Vec<_> = fleets
        .iter()
        .flat_map(|f| f.hosts().iter().map(|h| h.address()))
        .collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 6, "{addrs:?}");
    for f in &fleets {
        for h in f.hosts() {
            let out = h.ssh("cat /etc/hostname").unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), h.name());
        }
    }
    for f in fleets {
        f.stop().unwrap();
    }
}

#[test]
fn each_host_has_its_own_network() {
    let fleet = Fleet::start(2).expect("fleet starts");
    let (a, b) = (fleet.host(0), fleet.host(1));

    // Network sysctls are per host.
    a.exec_ok("echo 1 > /proc/sys/net/ipv4/ip_forward").unwrap();
    b.exec_ok("echo 0 > /proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(
        a.exec_ok("cat /proc/sys/net/ipv4/ip_forward").unwrap(),
        "1\n"
    );
    assert_eq!(
        b.exec_ok("cat /proc/sys/net/ipv4/ip_forward").unwrap(),
        "0\n"
    );

    // A port opened on one host is reachable from the controller at that
    // host's address only, and the host's own loopback is its own.
    a.exec_ok(
        "python3 -c 'import socket,os\ns=socket.socket()\ns.bind((\"0.0.0.0\",8077))\ns.listen()\nif os.fork()==0:\n  [s.accept()[0].close() for _ in iter(int,1)]' </dev/null >/dev/null 2>&1",
    )
    .unwrap();
    let reachable = |addr: std::net::Ipv4Addr| {
        std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from((addr, 8077)),
            std::time::Duration::from_secs(2),
        )
        .is_ok()
    };
    assert!(reachable(a.address()));
    assert!(!reachable(b.address()));
    assert!(!reachable(std::net::Ipv4Addr::LOCALHOST));
    let probe = "python3 -c 'import socket\nsocket.create_connection((\"127.0.0.1\",8077),2)' && echo open || echo closed";
    assert_eq!(a.exec_ok(probe).unwrap(), "open\n");
    assert_eq!(b.exec_ok(probe).unwrap(), "closed\n");

    // Each host reaches the controller at CONTROLLER_ADDRESS.
    let listener = std::net::TcpListener::bind((mc_testfleet::CONTROLLER_ADDRESS, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    for h in [a, b] {
        assert_eq!(h.controller_address(), mc_testfleet::CONTROLLER_ADDRESS);
        let out = h
            .exec_ok(&format!(
                "python3 -c 'import socket\nsocket.create_connection((\"{}\",{port}),5)' && echo ok",
                h.controller_address()
            ))
            .unwrap();
        assert_eq!(out, "ok\n");
        listener.accept().unwrap();
    }
    fleet.stop().unwrap();
}
