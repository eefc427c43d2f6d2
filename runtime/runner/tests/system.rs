//! package, service, user, group, cron, sysctl, command and http_check
//! providers against a real test host.

mod common;

use common::{assert_converges, host, item, res, Session};
use mc_runner::protocol::{Action, EventKind, Status, Stream};
use serde_json::json;
use std::io::{Read, Write};

/// Builds a tiny .deb on the host and adds it to the flat repository in
/// /srv/repo, then refreshes apt's lists from that repository only.
fn publish_deb(h: &mc_testfleet::Host, name: &str, version: &str) {
    h.exec_ok(&format!(
        "set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/share/{name}; \
         printf 'Package: {name}\\nVersion: {version}\\nArchitecture: all\\nMaintainer: mc <mc@example.org>\\nDescription: mc test package\\n' > $d/DEBIAN/control; \
         echo {version} > $d/usr/share/{name}/version; \
         mkdir -p /srv/repo; dpkg-deb -Zgzip --build $d /srv/repo/{name}_{version}_all.deb >/dev/null; rm -rf $d; \
         cd /srv/repo; : > Packages; \
         for f in *.deb; do dpkg-deb -f $f; echo \"Filename: ./$f\"; echo \"Size: $(stat -c %s $f)\"; \
           echo \"SHA256: $(sha256sum $f | cut -d' ' -f1)\"; echo; done >> Packages; \
         rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*; \
         echo 'deb [trusted=yes] file:/srv/repo ./' > /etc/apt/sources.list.d/mc-test.list; \
         apt-get update -q >/dev/null 2>&1"
    ))
    .unwrap();
}

#[test]
fn packages_install_in_one_call_upgrade_pin_and_remove() {
    let h = host();
    publish_deb(h, "mc-hello", "1.0");
    publish_deb(h, "mc-tool", "1.0");
    let mut s = Session::greeted(h);
    let hello = res("package", "mc-hello", json!({}));
    let tool = res("package", "mc-tool", json!({"state": "present"}));
    let history_before = h
        .exec_ok("cat /var/log/apt/history.log 2>/dev/null || true")
        .unwrap();

    let results = s.converge(&[hello.clone(), tool.clone()]);
    for r in &results {
        assert_eq!(r.status, Status::Changed, "{}", r.message);
    }
    let history = h.exec_ok("cat /var/log/apt/history.log").unwrap();
    let new_calls: Vec<&str> = history[history_before.len()..]
        .lines()
        .filter(|l| l.starts_with("Commandline:"))
        .collect();
    assert_eq!(new_calls.len(), 1, "{new_calls:?}");
    assert!(new_calls[0].contains("mc-hello") && new_calls[0].contains("mc-tool"));
    assert_eq!(
        h.read_file("/usr/share/mc-hello/version").unwrap(),
        b"1.0\n"
    );
    for p in s.probe(&[hello.clone(), tool.clone()]) {
        assert_eq!(p.action, Action::None, "{p:?}");
        assert_eq!(p.observed["version"], "1.0");
    }
    let again = s.apply(vec![item(hello.clone(), Action::Create)]).1;
    assert_eq!(again[0].status, Status::Ok);

    // A newer version in the repository: `latest` upgrades, a pin downgrades.
    publish_deb(h, "mc-hello", "1.1");
    assert_eq!(s.probe_one(&hello).action, Action::None);
    let latest = res("package", "mc-hello", json!({"state": "latest"}));
    let plan = assert_converges(&mut s, &latest, Action::Update);
    assert_eq!(plan.changes[0].from, json!("1.0"));
    assert_eq!(plan.changes[0].to, json!("1.1"));
    assert_eq!(
        h.read_file("/usr/share/mc-hello/version").unwrap(),
        b"1.1\n"
    );
    let pinned = res("package", "mc-hello", json!({"version": "1.0"}));
    assert_converges(&mut s, &pinned, Action::Update);
    assert_eq!(
        h.read_file("/usr/share/mc-hello/version").unwrap(),
        b"1.0\n"
    );

    let missing = res("package", "mc-no-such-package", json!({}));
    let r = s.converge(&[missing]);
    assert_eq!(r[0].status, Status::Failed);

    for name in ["mc-hello", "mc-tool"] {
        let gone = res("package", name, json!({"state": "absent"}));
        assert_converges(&mut s, &gone, Action::Delete);
    }
    assert!(!h.path_exists("/usr/share/mc-hello/version").unwrap());
    s.bye();
}

const DUMMY_INIT: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          mcdummy
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: mc test daemon
### END INIT INFO
PIDFILE=/run/mcdummy.pid
LOG=/var/log/mcdummy.log
case "$1" in
  start) start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --exec /bin/sleep -- 100000; echo start >> $LOG ;;
  stop) start-stop-daemon --stop --quiet --pidfile $PIDFILE --remove-pidfile --retry 5; echo stop >> $LOG ;;
  restart) "$0" stop; "$0" start; echo restart >> $LOG ;;
  reload) echo reload >> $LOG ;;
  status) [ -f $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null ;;
  *) echo "usage: $0 start|stop|restart|reload|status" >&2; exit 3 ;;
esac
"#;

#[test]
fn sysvinit_service_start_enable_refresh_and_stop() {
    let h = host();
    h.write_file("/etc/init.d/mcdummy", DUMMY_INIT.as_bytes())
        .unwrap();
    h.exec_ok("chmod 755 /etc/init.d/mcdummy").unwrap();
    let mut s = Session::greeted(h);

    let running = res(
        "service",
        "mcdummy",
        json!({"state": "running", "enabled": true}),
    );
    let plan = assert_converges(&mut s, &running, Action::Update);
    let attrs: Vec<&str> = plan.changes.iter().map(|c| c.attr.as_str()).collect();
    assert_eq!(attrs, ["state", "enabled"]);
    assert_eq!(plan.observed["init"], "sysvinit");
    assert!(h
        .exec("/etc/init.d/mcdummy status")
        .unwrap()
        .status
        .success());
    assert!(h.exec_ok("ls /etc/rc2.d").unwrap().contains("mcdummy"));

    // A notification restarts (or reloads) a running service.
    let mut refresh = item(running.clone(), Action::None);
    refresh.refresh = true;
    let r = s.apply(vec![refresh]).1.remove(0);
    assert_eq!(r.status, Status::Changed);
    assert_eq!(r.message, "restarted");
    let reloading = res("service", "mcdummy", json!({"on_notify": "reload"}));
    let mut refresh = item(reloading, Action::None);
    refresh.refresh = true;
    assert_eq!(s.apply(vec![refresh]).1[0].message, "reloaded");
    let log = String::from_utf8(h.read_file("/var/log/mcdummy.log").unwrap()).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["start", "stop", "start", "restart", "reload"]
    );
    // Without a refresh and with nothing planned, the runner does nothing.
    let r = s
        .apply(vec![item(running.clone(), Action::None)])
        .1
        .remove(0);
    assert_eq!(r.status, Status::Skipped);

    let stopped = res(
        "service",
        "mcdummy",
        json!({"state": "stopped", "enabled": false}),
    );
    assert_converges(&mut s, &stopped, Action::Update);
    assert!(!h
        .exec("/etc/init.d/mcdummy status")
        .unwrap()
        .status
        .success());
    assert!(!h.exec_ok("ls /etc/rc2.d").unwrap().contains("S01mcdummy"));

    // Not installed yet: the plan starts it (its package may come first in
    // the same apply); applying while it is still missing fails clearly.
    let missing = res("service", "mc-no-such-service", json!({}));
    let plan = s.probe_one(&missing);
    assert!(plan.error.is_none(), "{plan:?}");
    assert_eq!(plan.action, Action::Update);
    assert_eq!(plan.changes[0].from, json!("not installed"));
    let r = s.apply(vec![item(missing, Action::Update)]).1.remove(0);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("no such service"), "{}", r.message);
    s.bye();
}

#[test]
fn users_and_groups_create_update_and_delete() {
    let h = host();
    let mut s = Session::greeted(h);
    let group = res("group", "mcgroup", json!({"gid": 4242}));
    assert_converges(&mut s, &group, Action::Create);
    assert_converges(
        &mut s,
        &res("group", "mcextra", json!({"system": true})),
        Action::Create,
    );
    assert!(h
        .exec_ok("getent group mcgroup")
        .unwrap()
        .starts_with("mcgroup:x:4242:"));
    let regid = res("group", "mcgroup", json!({"gid": 4243}));
    assert_converges(&mut s, &regid, Action::Update);

    let hash = "$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.";
    let user = res(
        "user",
        "mcuser",
        json!({
            "uid": 4300, "group": "mcgroup", "groups": ["mcextra"], "shell": "/bin/sh",
            "home": "/home/mcuser", "comment": "mc test", "password": hash,
            "authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 test@mc"],
        }),
    );
    assert_converges(&mut s, &user, Action::Create);
    assert_eq!(
        h.exec_ok("getent passwd mcuser").unwrap().trim(),
        "mcuser:x:4300:4243:mc test:/home/mcuser:/bin/sh"
    );
    assert!(h.exec_ok("id -nG mcuser").unwrap().contains("mcextra"));
    assert!(h.exec_ok("getent shadow mcuser").unwrap().contains(hash));
    assert_eq!(
        h.exec_ok("stat -c %U:%a /home/mcuser/.ssh/authorized_keys")
            .unwrap()
            .trim(),
        "mcuser:600"
    );

    let changed = res(
        "user",
        "mcuser",
        json!({"shell": "/bin/bash", "groups": []}),
    );
    let plan = assert_converges(&mut s, &changed, Action::Update);
    let attrs: Vec<&str> = plan.changes.iter().map(|c| c.attr.as_str()).collect();
    assert_eq!(attrs, ["groups", "shell"]);
    assert!(!h.exec_ok("id -nG mcuser").unwrap().contains("mcextra"));

    let gone = res("user", "mcuser", json!({"state": "absent"}));
    assert_converges(&mut s, &gone, Action::Delete);
    assert!(!h.path_exists("/home/mcuser").unwrap());
    for g in ["mcgroup", "mcextra"] {
        assert_converges(
            &mut s,
            &res("group", g, json!({"state": "absent"})),
            Action::Delete,
        );
    }
    assert!(!h.exec("getent group mcgroup").unwrap().status.success());
    s.bye();
}

#[test]
fn cron_jobs_live_in_cron_d() {
    let h = host();
    let mut s = Session::greeted(h);
    let job = res(
        "cron",
        "nightly backup",
        json!({"command": "/usr/local/bin/backup --all", "hour": "3", "minute": "15"}),
    );
    assert_converges(&mut s, &job, Action::Create);
    let text = String::from_utf8(h.read_file("/etc/cron.d/mc-nightly_backup").unwrap()).unwrap();
    assert!(
        text.ends_with("15 3 * * * root /usr/local/bin/backup --all\n"),
        "{text}"
    );
    assert_eq!(
        h.exec_ok("stat -c %a /etc/cron.d/mc-nightly_backup")
            .unwrap()
            .trim(),
        "644"
    );

    let moved = res(
        "cron",
        "nightly backup",
        json!({"command": "/usr/local/bin/backup --all", "hour": "4", "minute": "15", "user": "daemon"}),
    );
    let plan = assert_converges(&mut s, &moved, Action::Update);
    let attrs: Vec<&str> = plan.changes.iter().map(|c| c.attr.as_str()).collect();
    assert_eq!(attrs, ["schedule", "user"]);
    assert_eq!(plan.changes[0].from, json!("15 3 * * *"));

    let gone = res("cron", "nightly backup", json!({"state": "absent"}));
    assert_converges(&mut s, &gone, Action::Delete);
    assert!(!h.path_exists("/etc/cron.d/mc-nightly_backup").unwrap());
    s.bye();
}

#[test]
fn sysctl_sets_live_and_persisted_values_inside_the_host_only() {
    let h = host();
    let real = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let mut s = Session::greeted(h);
    let key = res("sysctl", "kernel.domainname", json!({"value": "mc.test"}));
    let plan = assert_converges(&mut s, &key, Action::Update);
    let attrs: Vec<&str> = plan.changes.iter().map(|c| c.attr.as_str()).collect();
    assert_eq!(attrs, ["value", "persist"]);
    assert_eq!(
        h.exec_ok("cat /proc/sys/kernel/domainname").unwrap(),
        "mc.test\n"
    );
    assert_eq!(
        h.read_file("/etc/sysctl.d/60-mc-kernel.domainname.conf")
            .unwrap(),
        b"# Managed by mc\nkernel.domainname = mc.test\n"
    );
    // The UTS namespace kept the real machine's value untouched.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        real
    );

    let gone = res("sysctl", "kernel.domainname", json!({"state": "absent"}));
    assert_converges(&mut s, &gone, Action::Delete);
    assert!(!h
        .path_exists("/etc/sysctl.d/60-mc-kernel.domainname.conf")
        .unwrap());
    let bad = res("sysctl", "../../etc/passwd", json!({"value": "x"}));
    assert!(s.probe(&[bad])[0].error.is_some());
    s.bye();
}

#[test]
fn commands_run_with_guards_stream_output_and_time_out() {
    let h = host();
    let mut s = Session::greeted(h);
    h.exec_ok("mkdir -p /srv/mc-cmd").unwrap();
    let once = res(
        "command",
        "make marker",
        json!({"run": "echo out-line; echo err-line >&2; pwd > marker; echo \"$GREETING\" >> marker; id -un >> marker",
               "creates": "/srv/mc-cmd/marker", "cwd": "/srv/mc-cmd", "env": {"GREETING": "hi"}}),
    );
    let plan = s.probe_one(&once);
    assert_eq!(plan.action, Action::Create);
    let (events, results) = s.apply(vec![item(once.clone(), Action::Create)]);
    assert_eq!(results[0].status, Status::Changed, "{}", results[0].message);
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.first(), Some(&EventKind::Started));
    assert_eq!(kinds.last(), Some(&EventKind::Done));
    let out: Vec<(Stream, &str)> = events
        .iter()
        .filter(|e| e.kind == EventKind::Output)
        .map(|e| (e.stream.unwrap(), e.line.as_deref().unwrap()))
        .collect();
    assert!(out.contains(&(Stream::Stdout, "out-line")), "{out:?}");
    assert!(out.contains(&(Stream::Stderr, "err-line")), "{out:?}");
    assert_eq!(
        h.read_file("/srv/mc-cmd/marker").unwrap(),
        b"/srv/mc-cmd\nhi\nroot\n"
    );
    // `creates` now exists: nothing planned, and a forced apply does not run.
    assert_eq!(s.probe_one(&once).action, Action::None);
    let r = s.apply(vec![item(once, Action::Create)]).1.remove(0);
    assert_eq!(r.status, Status::Ok);

    let unless = res(
        "command",
        "unless",
        json!({"run": "touch /srv/mc-cmd/u", "unless": "test -e /srv/mc-cmd/marker"}),
    );
    let only_if = res(
        "command",
        "only_if",
        json!({"run": "touch /srv/mc-cmd/o", "only_if": "test -e /srv/mc-cmd/marker"}),
    );
    let plans = s.probe(&[unless, only_if]);
    assert_eq!(plans[0].action, Action::None);
    assert_eq!(plans[1].action, Action::Create);

    // refresh_only: nothing planned; runs only when refreshed.
    let on_refresh = res(
        "command",
        "reindex",
        json!({"run": "echo x >> /srv/mc-cmd/refreshed", "refresh_only": true}),
    );
    assert_eq!(s.probe_one(&on_refresh).action, Action::None);
    let mut it = item(on_refresh, Action::None);
    it.refresh = true;
    assert_eq!(s.apply(vec![it]).1[0].status, Status::Changed);
    assert_eq!(h.read_file("/srv/mc-cmd/refreshed").unwrap(), b"x\n");

    // Exit codes, users and timeouts.
    let fails = res("command", "fails", json!({"run": "echo nope >&2; exit 4"}));
    let r = s.apply(vec![item(fails, Action::Create)]).1.remove(0);
    assert_eq!(r.status, Status::Failed);
    assert!(
        r.message.contains("exit status 4") && r.message.contains("nope"),
        "{}",
        r.message
    );
    let allowed = res(
        "command",
        "allowed",
        json!({"run": "exit 4", "returns": [0, 4]}),
    );
    assert_eq!(
        s.apply(vec![item(allowed, Action::Create)]).1[0].status,
        Status::Changed
    );
    let as_daemon = res(
        "command",
        "as daemon",
        json!({"run": "id -un > /tmp/mc-whoami", "user": "daemon"}),
    );
    assert_eq!(
        s.apply(vec![item(as_daemon, Action::Create)]).1[0].status,
        Status::Changed
    );
    assert_eq!(h.read_file("/tmp/mc-whoami").unwrap(), b"daemon\n");
    // Output without newlines arrives in bounded pieces.
    let long = res(
        "command",
        "long line",
        json!({"run": "head -c 100000 /dev/zero | tr '\\0' a"}),
    );
    let (events, results) = s.apply(vec![item(long, Action::Create)]);
    assert_eq!(results[0].status, Status::Changed, "{}", results[0].message);
    let sizes: Vec<usize> = events
        .iter()
        .filter(|e| e.kind == EventKind::Output)
        .filter_map(|e| e.line.as_ref().map(String::len))
        .collect();
    assert_eq!(sizes, [65536, 100000 - 65536]);

    let slow = res("command", "slow", json!({"run": "sleep 600", "timeout": 1}));
    let r = s.apply(vec![item(slow, Action::Create)]).1.remove(0);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("timed out"), "{}", r.message);
    assert!(!h.exec_ok("ps -eo args").unwrap().contains("sleep 600"));
    s.bye();
}

/// Serves `count` HTTP requests at the controller's address as the hosts see
/// it, with the given status line and body.
fn http_server(status: &'static str, body: &'static str, count: usize) -> u16 {
    let listener = std::net::TcpListener::bind((mc_testfleet::CONTROLLER_ADDRESS, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            // Read the whole request: closing with unread data sends a reset.
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
                "HTTP/1.0 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn http_checks_always_run_and_never_change() {
    let h = host();
    let mut s = Session::greeted(h);
    let port = http_server("200 OK", "service is healthy", 2);
    let check = res(
        "http_check",
        "health",
        json!({"url": format!("http://{}:{port}/health", mc_testfleet::CONTROLLER_ADDRESS), "contains": "healthy"}),
    );
    let plan = s.probe_one(&check);
    assert_eq!(plan.action, Action::Check);
    for _ in 0..2 {
        let r = s
            .apply(vec![item(check.clone(), Action::Check)])
            .1
            .remove(0);
        assert_eq!(r.status, Status::Ok, "{}", r.message);
        assert_eq!(s.probe_one(&check).action, Action::Check);
    }

    let port = http_server("404 Not Found", "", 5);
    let wrong = res(
        "http_check",
        "wrong",
        json!({"url": format!("http://{}:{port}/", mc_testfleet::CONTROLLER_ADDRESS), "within": 1}),
    );
    let r = s.apply(vec![item(wrong, Action::Check)]).1.remove(0);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("404"), "{}", r.message);

    let ftp = res("http_check", "ftp", json!({"url": "ftp://example.org/"}));
    assert!(s.probe(&[ftp])[0]
        .error
        .as_ref()
        .unwrap()
        .contains("http://"));
    s.bye();
}

#[test]
fn a_mixed_batch_converges_in_one_apply_and_then_has_nothing_to_do() {
    let h = host();
    let mut s = Session::greeted(h);
    let batch = vec![
        res("group", "mcbatch", json!({})),
        res(
            "user",
            "mcbatch",
            json!({"group": "mcbatch", "shell": "/bin/sh"}),
        ),
        res(
            "directory",
            "/srv/mc-batch",
            json!({"owner": "mcbatch", "mode": 0o750}),
        ),
        res(
            "file",
            "/srv/mc-batch/app.conf",
            json!({"content": "port = 8080\n", "owner": "mcbatch"}),
        ),
        res(
            "line",
            "log level",
            json!({"path": "/srv/mc-batch/extra.conf", "line": "log = info"}),
        ),
        res(
            "link",
            "/srv/mc-batch/current",
            json!({"target": "/srv/mc-batch/app.conf"}),
        ),
        res(
            "cron",
            "mc batch",
            json!({"command": "/bin/true", "minute": "*/5"}),
        ),
    ];
    let plans = s.probe(&batch);
    let actions: Vec<Action> = plans.iter().map(|p| p.action).collect();
    // Nothing exists yet (the line's file included): everything is created.
    assert!(actions.iter().all(|a| *a == Action::Create), "{plans:?}");
    // The batch applies in order, so the user exists for the directory's
    // owner and the directory for the files.
    let results = s.converge(&batch);
    let statuses: Vec<Status> = results.iter().map(|r| r.status).collect();
    assert!(
        statuses.iter().all(|st| *st == Status::Changed),
        "{results:?}"
    );
    assert_eq!(
        h.read_file("/srv/mc-batch/current").unwrap(),
        b"port = 8080\n"
    );
    assert_eq!(
        h.read_file("/srv/mc-batch/extra.conf").unwrap(),
        b"log = info\n"
    );

    let again = s.probe(&batch);
    assert!(again.iter().all(|p| p.action == Action::None), "{again:?}");
    let (events, results) = s.apply(
        batch
            .iter()
            .map(|r| item(r.clone(), Action::None))
            .collect(),
    );
    assert!(events.is_empty());
    assert!(results.iter().all(|r| r.status == Status::Skipped));
    s.bye();
}

/// A TLS server on the host with its own CA: `openssl s_server -www` with
/// a certificate for `localhost` signed by /srv/tls/ca.pem, and a second,
/// unrelated CA in /srv/tls/other.pem. Returns the port.
fn tls_server(h: &mc_testfleet::Host) -> u16 {
    // The host has its own network namespace: any port is free there.
    let port = 8443;
    h.exec_ok(&format!(
        "set -e; mkdir -p /srv/tls; cd /srv/tls; k='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'; \
         openssl req -x509 $k -keyout ca.key -out ca.pem -days 2 -subj /CN=mc-test-ca 2>/dev/null; \
         openssl req -x509 $k -keyout other.key -out other.pem -days 2 -subj /CN=mc-other-ca 2>/dev/null; \
         openssl req $k -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null; \
         printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext; \
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext 2>/dev/null; \
         setsid openssl s_server -quiet -www -accept 127.0.0.1:{port} -cert server.pem -key server.key </dev/null >/dev/null 2>&1 & \
         echo $! > /srv/tls/pid"
    ))
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // The server listens on the host's own loopback: probe it from inside.
    let listening = || {
        h.exec(&format!("bash -c 'echo > /dev/tcp/127.0.0.1/{port}'"))
            .is_ok_and(|o| o.status.success())
    };
    while !listening() {
        assert!(
            std::time::Instant::now() < deadline,
            "TLS server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    port
}

#[test]
fn https_checks_verify_the_certificate_and_the_host_name() {
    let h = host();
    let port = tls_server(h);
    let mut s = Session::greeted(h);
    let check = |name: &str, url: String, ca: Option<&str>| {
        let mut attrs = json!({"url": url, "within": 1});
        if let Some(ca) = ca {
            attrs["ca_file"] = json!(ca);
        }
        res("http_check", name, attrs)
    };
    let mut run = |r| s.apply(vec![item(r, Action::Check)]).1.remove(0);
    let local = format!("https://localhost:{port}/");

    let trusted = run(check("own ca", local.clone(), Some("/srv/tls/ca.pem")));
    assert_eq!(trusted.status, Status::Ok, "{}", trusted.message);
    assert!(
        trusted.message.contains("answered 200"),
        "{}",
        trusted.message
    );

    let wrong_ca = run(check("wrong ca", local.clone(), Some("/srv/tls/other.pem")));
    assert_eq!(wrong_ca.status, Status::Failed);
    assert!(
        wrong_ca.message.contains("certificate"),
        "{}",
        wrong_ca.message
    );

    // Not in the system store (yet).
    let system = run(check("system", local.clone(), None));
    assert_eq!(system.status, Status::Failed);
    assert!(system.message.contains("certificate"), "{}", system.message);

    // The certificate names localhost, not 127.0.0.1.
    let by_ip = format!("https://127.0.0.1:{port}/");
    let wrong_name = run(check("wrong name", by_ip, Some("/srv/tls/ca.pem")));
    assert_eq!(wrong_name.status, Status::Failed);
    assert!(
        wrong_name.message.contains("certificate"),
        "{}",
        wrong_name.message
    );

    let missing = run(check(
        "no ca file",
        local.clone(),
        Some("/srv/tls/nope.pem"),
    ));
    assert_eq!(missing.status, Status::Failed);
    assert!(missing.message.contains("nope.pem"), "{}", missing.message);

    // Once the CA is in the system trust store, no `ca_file` is needed.
    h.exec_ok(
        "cp /srv/tls/ca.pem /usr/local/share/ca-certificates/mc-test-ca.crt \
         && update-ca-certificates >/dev/null 2>&1",
    )
    .unwrap();
    let system = run(check("system", local, None));
    assert_eq!(system.status, Status::Ok, "{}", system.message);
    h.exec_ok(
        "rm /usr/local/share/ca-certificates/mc-test-ca.crt \
         && update-ca-certificates --fresh >/dev/null 2>&1; kill $(cat /srv/tls/pid)",
    )
    .unwrap();
    s.bye();
}
