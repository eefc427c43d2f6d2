//! The runner on real hosts, end to end through the `mc` binary: binary
//! files from `source`, a non-root login updating its own files, and
//! `mc backups` listing what was replaced.

use mc_testfleet::{Fleet, Host};
use std::path::Path;
use std::process::{Command, Stdio};

fn mc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mc"));
    cmd.stdin(Stdio::null());
    // Kept SSH masters go to the build's scratch space, not the user's.
    cmd.env(
        "XDG_RUNTIME_DIR",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("runner-cli"),
    );
    cmd
}

/// Runs `mc ARGS PROJECT --ssh-config …`; returns (exit code, stdout, stderr).
fn mc_on(fleet: &Fleet, args: &[&str], project: &Path) -> (i32, String, String) {
    let out = mc()
        .args(args)
        .arg(project)
        .arg("--ssh-config")
        .arg(fleet.ssh_config())
        .output()
        .expect("running mc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn project(main: &str, files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.mc"), main).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    dir
}

/// Every byte value, and sequences that are not UTF-8.
fn binary(seed: u8) -> Vec<u8> {
    (0..=255u8)
        .map(|b| b ^ seed)
        .chain([0xff, 0xfe, 0x00, 0xc3, 0x28])
        .collect()
}

fn add_login_user(h: &Host, user: &str) {
    h.exec_ok(&format!(
        "id {user} >/dev/null 2>&1 || useradd -m -s /bin/sh {user}; usermod -p '*' {user} && \
         mkdir -p /home/{user}/.ssh && cp /root/.ssh/authorized_keys /home/{user}/.ssh/ && \
         chown -R {user}: /home/{user}/.ssh && chmod 700 /home/{user}/.ssh"
    ))
    .unwrap();
}

#[test]
fn a_binary_source_file_round_trips_byte_for_byte() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    let main = format!(
        "host \"{}\" {{}}\non all {{\n  file \"/srv/logo.bin\" {{\n    source = \"logo.bin\"\n  }}\n}}\n",
        h.name()
    );
    let v1 = binary(0);
    let p = project(&main, &[("logo.bin", &v1)]);
    let check = mc().arg("check").arg(p.path()).output().unwrap();
    assert!(check.status.success(), "{check:?}");
    let (code, out, err) = mc_on(&fleet, &["apply", "--yes"], p.path());
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(h.read_file("/srv/logo.bin").unwrap(), v1);

    let v2 = binary(0x5a);
    std::fs::write(p.path().join("logo.bin"), &v2).unwrap();
    let (code, out, err) = mc_on(&fleet, &["plan"], p.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("binary content changed (sha256 "), "{out}");
    let (code, out, err) = mc_on(&fleet, &["apply", "--yes"], p.path());
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(h.read_file("/srv/logo.bin").unwrap(), v2);
    let (code, out, err) = mc_on(&fleet, &["apply", "--yes"], p.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
}

#[test]
fn a_non_root_login_updates_its_own_file() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    add_login_user(h, "mcapp");
    h.exec_ok("printf 'old\\n' > /home/mcapp/app.conf && chown mcapp: /home/mcapp/app.conf")
        .unwrap();
    let main = format!(
        "host \"{}\" {{\n  user = \"mcapp\"\n}}\non all {{\n  file \"/home/mcapp/app.conf\" {{\n    content = \"new\\n\"\n  }}\n}}\n",
        h.name()
    );
    let p = project(&main, &[]);
    for _ in 0..2 {
        let (code, out, err) = mc_on(&fleet, &["apply", "--yes"], p.path());
        assert_eq!(code, 0, "{out}{err}");
    }
    assert_eq!(h.read_file("/home/mcapp/app.conf").unwrap(), b"new\n");
    let kept = h
        .exec_ok("cat /home/mcapp/.local/state/mc/backups/files/home/mcapp/app.conf/*")
        .unwrap();
    assert_eq!(kept, "old\n");

    // `mc backups` lists it from the login user's own store, and the
    // listed file restores the old bytes.
    let (code, out, err) = mc_on(
        &fleet,
        &["backups", h.name(), "/home/mcapp/app.conf", "--json", "-p"],
        p.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dir = listed["dir"].as_str().unwrap();
    assert_eq!(
        dir,
        "/home/mcapp/.local/state/mc/backups/files/home/mcapp/app.conf"
    );
    let backups = listed["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{out}");
    let name = backups[0]["name"].as_str().unwrap();
    assert_eq!(backups[0]["size"], 4);
    h.exec_ok(&format!("cp {dir}/{name} /home/mcapp/app.conf"))
        .unwrap();
    assert_eq!(h.read_file("/home/mcapp/app.conf").unwrap(), b"old\n");

    let (code, out, err) = mc_on(
        &fleet,
        &["backups", h.name(), "/home/mcapp/app.conf", "-p"],
        p.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("newest last") && out.contains(name), "{out}");
    assert!(out.contains("restore one by hand"), "{out}");
    let (code, _, err) = mc_on(&fleet, &["backups", "nohost", "/etc/x", "-p"], p.path());
    assert_eq!(code, 1);
    assert!(err.contains("nohost"), "{err}");
}

#[test]
fn mc_backups_lists_root_backups_newest_last_and_prunes_by_count() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    let p = tempfile::tempdir().unwrap();
    for version in 1..=4 {
        let main = format!(
            "host \"{}\" {{}}\non all {{\n  file \"/srv/app.conf\" {{\n    content = \"v{version}\\n\"\n    backups_kept = 2\n  }}\n}}\n",
            h.name()
        );
        std::fs::write(p.path().join("main.mc"), main).unwrap();
        let (code, out, err) = mc_on(&fleet, &["apply", "--yes"], p.path());
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = mc_on(
        &fleet,
        &["backups", h.name(), "/srv/app.conf", "--json", "-p"],
        p.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dir = listed["dir"].as_str().unwrap();
    assert_eq!(dir, "/var/lib/mc/backups/files/srv/app.conf");
    let names: Vec<&str> = listed["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{out}");
    let contents: Vec<Vec<u8>> = names
        .iter()
        .map(|n| h.read_file(&format!("{dir}/{n}")).unwrap())
        .collect();
    assert_eq!(contents, [b"v2\n".to_vec(), b"v3\n".to_vec()]);
}

#[test]
fn mc_check_refuses_package_managers_the_runner_does_not_support() {
    let check = |manager: &str| {
        let main = format!(
            "host \"web1\" {{}}\non all {{\n  package \"curl\" {{\n    manager = \"{manager}\"\n  }}\n}}\n"
        );
        let p = project(&main, &[]);
        let out = mc().arg("check").arg(p.path()).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        )
    };
    for manager in ["apt", "dnf", "zypper", "pacman"] {
        let (ok, text) = check(manager);
        assert!(ok, "{manager}: {text}");
    }
    for manager in ["apk", "yum"] {
        let (ok, text) = check(manager);
        assert!(!ok, "{manager} accepted");
        assert!(
            text.contains("`manager` must be apt, dnf, zypper or pacman"),
            "{text}"
        );
    }
}
