//! The standard workload (`tests/workloads/standard/`): 77 resources per
//! host — 2 groups, 2 users, 4 directories, 50 files, 10 templates, 5 line
//! edits, 3 guarded commands and one handler — and an independent checker
//! that reads each resource's result on a host directly, without `mc`.
//!
//! Tests and benchmarks write the project for any set of test hosts with
//! [`write_standard`] and point `mc` at it with the fleet's ssh config.

use crate::{shell_quote, Host};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

const ROLE: &str = include_str!("../../workloads/standard/roles/standard.mc");
const TEMPLATE: &str = include_str!("../../workloads/standard/templates/app.conf.j2");

/// Resources per host in the standard workload.
pub const STANDARD_RESOURCES: usize = 77;

/// Writes the standard workload project into `dir` (which must exist) for
/// these hosts (names that the fleet's ssh config resolves, e.g.
/// [`Host::name`]).
pub fn write_standard(dir: &Path, hosts: &[&str]) -> Result<()> {
    std::fs::create_dir_all(dir.join("roles"))?;
    std::fs::create_dir_all(dir.join("templates"))?;
    std::fs::write(dir.join("roles/standard.mc"), ROLE)?;
    std::fs::write(dir.join("templates/app.conf.j2"), TEMPLATE)?;
    let mut main = String::from("import \"roles/standard.mc\"\n\n");
    for h in hosts {
        main.push_str(&format!("host {h:?} {{}}\n"));
    }
    main.push_str("\non all {\n  standard.standard(name = host.name)\n}\n");
    std::fs::write(dir.join("main.mc"), main).context("writing main.mc")
}

/// What one path on the host should be.
struct Expected {
    kind: &'static str,
    mode: &'static str,
    owner: &'static str,
    group: &'static str,
    /// sha256 of the content, for regular files whose content is known.
    sha256: Option<String>,
}

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The rendered `app-N.conf` of a host.
pub fn expected_template(host: &str, index: usize) -> String {
    let role = if index == 0 { "primary" } else { "replica" };
    format!(
        "# {host}: application instance {index}, managed by mc\n[server]\nworkers = 4\n\
         log_level = INFO\nrole = {role}\n[features]\ncache = on\nmetrics = on\ntracing = on\n"
    )
}

fn expected_paths(host: &str) -> BTreeMap<String, Expected> {
    let dir = |mode, owner, group| Expected {
        kind: "directory",
        mode,
        owner,
        group,
        sha256: None,
    };
    let file = |mode, owner, group, content: Option<String>| Expected {
        kind: "regular file",
        mode,
        owner,
        group,
        sha256: content.map(|c| sha256(&c)),
    };
    let mut m = BTreeMap::new();
    m.insert("/srv/bench".into(), dir("755", "root", "root"));
    m.insert("/srv/bench/home".into(), dir("755", "benchapp", "benchapp"));
    m.insert(
        "/srv/bench/files".into(),
        dir("755", "benchapp", "benchapp"),
    );
    m.insert("/srv/bench/conf".into(), dir("755", "root", "root"));
    m.insert("/srv/bench/state".into(), dir("750", "benchapp", "root"));
    let mut checksums = String::new();
    for i in 0..50 {
        let content = format!("file {i} of {host}\n");
        checksums.push_str(&format!("{}  f{i:02}\n", sha256(&content)));
        m.insert(
            format!("/srv/bench/files/f{i:02}"),
            file("644", "benchapp", "benchapp", Some(content)),
        );
    }
    m.insert(
        "/srv/bench/state/checksums".into(),
        file("644", "root", "root", Some(checksums)),
    );
    for i in 0..10 {
        m.insert(
            format!("/srv/bench/conf/app-{i}.conf"),
            file("644", "root", "root", Some(expected_template(host, i))),
        );
    }
    m.insert(
        "/srv/bench/conf/limits.conf".into(),
        file(
            "644",
            "root",
            "root",
            Some("benchapp soft nofile 4096\nbenchapp soft nproc 512\n".into()),
        ),
    );
    m.insert(
        "/srv/bench/conf/env".into(),
        file(
            "644",
            "root",
            "root",
            Some(format!(
                "APP_MODE=production\nAPP_HOST={host}\nAPP_WORKERS=4\n"
            )),
        ),
    );
    m.insert(
        "/srv/bench/state/built".into(),
        file("644", "root", "root", Some("built\n".into())),
    );
    m.insert(
        "/srv/bench/state/conf.tar".into(),
        file("644", "root", "root", None),
    );
    m
}

/// Checks every resource of the standard workload on `host` by reading the
/// host directly; `reloads` is how many times the handler should have run.
/// Returns one line per mismatch (empty: the host converged).
pub fn check_standard(host: &Host, reloads: usize) -> Result<Vec<String>> {
    let expected = expected_paths(host.name());
    let mut script = String::new();
    for p in expected.keys() {
        let q = shell_quote(p);
        script.push_str(&format!(
            "printf '%s\\t' {q}; if [ -e {q} ]; then stat --printf '%F\\t%a\\t%U\\t%G\\t' {q}; \
             if [ -f {q} ]; then sha256sum < {q} | cut -d' ' -f1; else echo -; fi; else echo missing; fi\n"
        ));
    }
    let listing = host.exec_ok(&script)?;
    let mut problems = Vec::new();
    let mut seen = 0;
    for line in listing.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let Some(want) = expected.get(f[0]) else {
            continue;
        };
        seen += 1;
        if f.get(1) == Some(&"missing") {
            problems.push(format!("{}: missing", f[0]));
            continue;
        }
        let got = (f.get(1), f.get(2), f.get(3), f.get(4));
        let wanted = (
            Some(&want.kind),
            Some(&want.mode),
            Some(&want.owner),
            Some(&want.group),
        );
        if got != wanted {
            problems.push(format!("{}: is {:?}, want {:?}", f[0], &f[1..], wanted));
        }
        if let Some(sum) = &want.sha256 {
            if f.get(5) != Some(&sum.as_str()) {
                problems.push(format!("{}: content differs", f[0]));
            }
        }
    }
    if seen != expected.len() {
        problems.push(format!("checked {seen} of {} paths", expected.len()));
    }
    problems.extend(check_accounts(host)?);
    let got_reloads = host
        .exec_ok("cat /srv/bench/state/reloads 2>/dev/null || true")?
        .lines()
        .count();
    if got_reloads != reloads {
        problems.push(format!("handler ran {got_reloads} times, want {reloads}"));
    }
    Ok(problems)
}

fn check_accounts(host: &Host) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let want = [
        ("getent group benchapp | cut -d: -f1", "benchapp"),
        ("getent group benchops | cut -d: -f1", "benchops"),
        (
            "getent passwd benchapp | cut -d: -f6,7",
            "/srv/bench/home:/bin/sh",
        ),
        ("id -gn benchapp", "benchapp"),
        (
            "id -nG benchapp | tr ' ' '\\n' | sort | tr '\\n' ' '",
            "benchapp benchops ",
        ),
        ("getent passwd benchops | cut -d: -f7", "/bin/sh"),
        ("id -gn benchops", "benchops"),
    ];
    for (cmd, expected) in want {
        let got = host.exec(cmd)?;
        let got = String::from_utf8_lossy(&got.stdout)
            .trim_end_matches('\n')
            .to_string();
        if got != expected {
            problems.push(format!("`{cmd}` gave {got:?}, want {expected:?}"));
        }
    }
    Ok(problems)
}
