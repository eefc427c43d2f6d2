//! A notification can ask a service for `reload` or `restart`, as an
//! Ansible role's two handlers do: the configuration reloads, the binary
//! restarts, and both in one apply make one restart. Replayed with the real
//! `mc` on a test host whose init script logs what it was asked.

mod common;

use mc_testfleet::Fleet;
use std::path::Path;

const INIT: &str = r#"#!/bin/sh
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

fn write(project: &Path, host: &str, conf: &str, bin: &str) {
    let src = format!(
        r#"host "{host}" {{}}
on all {{
  service "mcapp" {{
    state = "running"
    enabled = null
  }}
  file "/etc/mcapp.conf" {{
    content = "{conf}\n"
    notify = [reload(service("mcapp"))]
  }}
  file "/usr/local/bin/mcapp" {{
    content = "{bin}\n"
    notify = [restart(service("mcapp"))]
  }}
}}
"#
    );
    std::fs::write(project.join("main.mc"), src).unwrap();
}

fn mc(fleet: &Fleet, args: &[&str], project: &Path) -> (i32, String) {
    let (code, out, err) = common::run(
        common::mc("notify-actions")
            .args(args)
            .arg(project)
            .arg("--ssh-config")
            .arg(fleet.ssh_config()),
    );
    (code, format!("{out}{err}"))
}

#[test]
fn config_reloads_binary_restarts_both_restart_once() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    h.write_file("/etc/init.d/mcapp", INIT.as_bytes()).unwrap();
    h.exec_ok("chmod 755 /etc/init.d/mcapp").unwrap();
    let log = || String::from_utf8(h.read_file("/var/log/mcapp.log").unwrap_or_default()).unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();

    write(p, h.name(), "c1", "b1");
    let (code, out) = mc(&fleet, &["apply", "--yes"], p);
    assert_eq!(code, 0, "{out}");
    assert_eq!(log(), "start\n", "a service just started is not refreshed");

    write(p, h.name(), "c2", "b1");
    let (code, out) = mc(&fleet, &["plan"], p);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("service[mcapp] reload, notified by file[/etc/mcapp.conf]"),
        "{out}"
    );
    let (code, out) = mc(&fleet, &["apply", "--yes"], p);
    assert_eq!(code, 0, "{out}");
    assert_eq!(log(), "start\nreload\n");

    write(p, h.name(), "c2", "b2");
    let (code, out) = mc(&fleet, &["apply", "--yes"], p);
    assert_eq!(code, 0, "{out}");
    assert_eq!(log(), "start\nreload\nrestart\n");

    write(p, h.name(), "c3", "b3");
    let (code, out) = mc(&fleet, &["plan"], p);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("service[mcapp] reload, notified by file[/etc/mcapp.conf]"),
        "{out}"
    );
    assert!(
        out.contains("service[mcapp] restart, notified by file[/usr/local/bin/mcapp]"),
        "{out}"
    );
    let (code, out) = mc(&fleet, &["apply", "--yes"], p);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        log(),
        "start\nreload\nrestart\nrestart\n",
        "one restart, no reload"
    );

    let (code, out) = mc(&fleet, &["apply", "--yes"], p);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(log(), "start\nreload\nrestart\nrestart\n");
}
