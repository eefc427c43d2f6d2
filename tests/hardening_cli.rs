//! `examples/hardening` applied with the real `mc` binary to real test hosts
//! that have their own network namespace, logging in as a sudo user the way
//! the example's inventory does: the first apply converges, the second has
//! nothing to do, and network sysctls change inside the hosts only.

use mc_testfleet::{Fleet, Host};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

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
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("hardening-cli"),
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

fn ssh_args(fleet: &Fleet) -> Vec<PathBuf> {
    vec![
        PathBuf::from("--ssh-config"),
        fleet.ssh_config().to_path_buf(),
    ]
}

/// The example's security packages, as tiny local .debs (the test hosts
/// have no internet); `auditd` ships an init script so it can run.
const PACKAGES: [&str; 4] = ["fail2ban", "unattended-upgrades", "auditd", "apparmor"];

const AUDITD_INIT: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          auditd
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: stand-in audit daemon
### END INIT INFO
PIDFILE=/run/auditd.pid
case "$1" in
  start) start-stop-daemon --start --quiet --background --make-pidfile --pidfile $PIDFILE --exec /bin/sleep -- 100000 ;;
  stop) start-stop-daemon --stop --quiet --pidfile $PIDFILE --remove-pidfile --retry 5 ;;
  restart|reload|force-reload) "$0" stop; "$0" start ;;
  status) [ -f $PIDFILE ] && kill -0 "$(cat $PIDFILE)" 2>/dev/null ;;
  *) exit 3 ;;
esac
"#;

/// Kernel parameters of the example that Linux does not namespace: the
/// test hosts get a private file over each, so applying the example never
/// changes the machine running the tests. `net.*` needs no such thing.
const GLOBAL_SYSCTLS: [&str; 4] = [
    "kernel/kptr_restrict",
    "kernel/dmesg_restrict",
    "fs/protected_symlinks",
    "kernel/printk",
];

/// Prepares a host like a fresh server of the example's inventory: an `ops`
/// login with passwordless sudo and the fleet's key (password `*`, not `!`:
/// sshd without PAM refuses a locked account), and an apt
/// repository that has the security packages.
fn prepare(h: &Host) {
    h.exec_ok(
        "set -e; useradd -m -s /bin/bash -p '*' ops; install -d -m 700 -o ops -g ops /home/ops/.ssh; \
         install -m 600 -o ops -g ops /root/.ssh/authorized_keys /home/ops/.ssh/authorized_keys; \
         echo 'ops ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/ops; chmod 440 /etc/sudoers.d/ops",
    )
    .unwrap();
    h.write_file("/srv/auditd.init", AUDITD_INIT.as_bytes())
        .unwrap();
    let mut script = String::from("set -e; mkdir -p /srv/repo; ");
    for name in PACKAGES {
        script.push_str(&format!(
            "d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/share/doc/{name}; \
             printf 'Package: {name}\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: mc <mc@example.org>\\nDescription: stand-in\\n' > $d/DEBIAN/control; \
             if [ {name} = auditd ]; then mkdir -p $d/etc/init.d; install -m 755 /srv/auditd.init $d/etc/init.d/auditd; fi; \
             dpkg-deb -Zgzip --build $d /srv/repo/{name}_1.0_all.deb >/dev/null; rm -rf $d; "
        ));
    }
    script.push_str(
        "cd /srv/repo; : > Packages; \
         for f in *.deb; do dpkg-deb -f $f; echo \"Filename: ./$f\"; echo \"Size: $(stat -c %s $f)\"; \
           echo \"SHA256: $(sha256sum $f | cut -d' ' -f1)\"; echo; done >> Packages; \
         rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*; \
         echo 'deb [trusted=yes] file:/srv/repo ./' > /etc/apt/sources.list.d/local.list; \
         apt-get update -q >/dev/null 2>&1; mkdir -p /run/mc-sysctl; ",
    );
    for key in GLOBAL_SYSCTLS {
        let copy = format!("/run/mc-sysctl/{}", key.replace('/', "_"));
        script.push_str(&format!(
            "cat /proc/sys/{key} > {copy}; mount --bind {copy} /proc/sys/{key}; "
        ));
    }
    h.exec_ok(&script).unwrap();
}

/// The example with its inventory replaced by the test hosts: host1 in
/// `app`, host2 in `edge` (the bastion's settings).
fn project(fleet: &Fleet) -> tempfile::TempDir {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hardening");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("roles")).unwrap();
    for role in ["users", "ssh", "kernel"] {
        let file = format!("roles/{role}.mc");
        std::fs::copy(example.join(&file), dir.path().join(&file)).unwrap();
    }
    let main = std::fs::read_to_string(example.join("main.mc")).unwrap();
    let start = main
        .find("host \"app1\"")
        .expect("the example's first host");
    let end = main
        .find("group \"edge\"")
        .expect("the example's edge group");
    let mut hosts = String::new();
    for (h, group) in fleet.hosts().iter().zip(["app", "edge"]) {
        hosts.push_str(&format!(
            "host \"{}\" {{\n  user = \"ops\"\n  become = true\n  groups = [\"{group}\"]\n}}\n",
            h.name()
        ));
    }
    let main = format!("{}{hosts}\n{}", &main[..start], &main[end..]);
    std::fs::write(dir.path().join("main.mc"), main).unwrap();
    dir
}

fn sysctl(h: &Host, key: &str) -> String {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    h.exec_ok(&format!("cat {path}"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn hardening_example_converges_on_test_hosts_in_one_apply() {
    let fleet = Fleet::start(2).unwrap();
    for h in fleet.hosts() {
        prepare(h);
    }
    let machine_rp_filter =
        std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/rp_filter").unwrap();
    let project = project(&fleet);
    let p = project.path();
    let plan_file = p.join("plan.json");

    // The example's policy wants a second person for sshd changes.
    let (code, out, err) = run(mc()
        .args(["plan", "-o"])
        .arg(&plan_file)
        .arg(p)
        .args(ssh_args(&fleet)));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("needs an approval"), "{out}");
    let (code, out, err) = run(mc()
        .arg("approve")
        .arg(&plan_file)
        .args(["--reason", "hardening test"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(mc()
        .args(["apply", "--yes"])
        .arg(&plan_file)
        .args(ssh_args(&fleet)));
    assert_eq!(code, 0, "{out}{err}");

    for (h, edge) in fleet.hosts().iter().zip([false, true]) {
        assert_eq!(sysctl(h, "net.ipv4.conf.all.rp_filter"), "1");
        assert_eq!(sysctl(h, "net.ipv4.tcp_syncookies"), "1");
        assert_eq!(sysctl(h, "kernel.kptr_restrict"), "2");
        assert!(h
            .read_file("/etc/sysctl.d/60-mc-net.ipv4.conf.all.rp_filter.conf")
            .is_ok());
        if edge {
            assert_eq!(sysctl(h, "net.ipv4.ip_forward"), "0");
            assert_eq!(sysctl(h, "kernel.printk"), "3 4 1 3");
        }
        let passwd = h.exec_ok("getent passwd alice bob carol").unwrap();
        assert!(passwd.contains("alice:"), "{passwd}");
        assert!(passwd.contains(":/usr/sbin/nologin"), "{passwd}");
        let bob = h.exec_ok("id -nG bob").unwrap();
        assert!(bob.contains("sudo") && bob.contains("adm"), "{bob}");
        assert!(h
            .read_file("/home/alice/.ssh/authorized_keys")
            .map(|k| String::from_utf8_lossy(&k).contains("alice@laptop"))
            .unwrap());
        for name in PACKAGES {
            h.exec_ok(&format!("dpkg -s {name} | grep -q 'install ok installed'"))
                .unwrap();
        }
        h.exec_ok("/etc/init.d/auditd status").unwrap();
        let sshd = String::from_utf8(h.read_file("/etc/ssh/sshd_config").unwrap()).unwrap();
        assert!(sshd.contains("\nPermitRootLogin no\n"), "{sshd}");
        // The reload took effect: root is locked out, ops still gets in.
        assert!(!h.ssh("true").unwrap().status.success());
        let ops = h
            .ssh_command()
            .args(["-l", "ops", "--", "sudo -n id -u"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&ops.stdout), "0\n");
    }
    // Network sysctls changed inside the hosts only.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/rp_filter").unwrap(),
        machine_rp_filter
    );

    let (code, out, err) = run(mc().args(["apply", "--yes"]).arg(p).args(ssh_args(&fleet)));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
    let (code, out, err) = run(mc()
        .args(["plan", "--detailed-exitcode"])
        .arg(p)
        .args(ssh_args(&fleet)));
    assert_eq!(code, 0, "{out}{err}");
}
