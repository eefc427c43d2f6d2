//! `package` with every manager the stdlib names, each against the real
//! tool on a test host with a local repository: apt (`dpkg-deb` and a flat
//! `Packages` index), dnf and zypper (`rpmbuild` and `createrepo_c`),
//! pacman (`bsdtar` and `repo-add`).

mod common;

use common::{assert_converges, host, res, Session};
use mc_runner::protocol::{Action, Request, Response, Status};
use mc_testfleet::Host;
use serde_json::json;
use std::sync::{Mutex, MutexGuard};

/// One package test at a time: they share the host and its package tools.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds `name`-`version` as an rpm (a file /usr/share/NAME/version) into
/// the repository /srv/rpmrepo, indexed by createrepo_c, which dnf and
/// zypper both read (no signature check: a local test repository).
fn publish_rpm(h: &Host, name: &str, version: &str) {
    h.exec_ok(&format!(
        "set -e; d=$(mktemp -d); mkdir -p $d/SPECS; \
         printf 'Name: {name}\\nVersion: {version}\\nRelease: 1\\nSummary: mc test\\nLicense: MIT\\nBuildArch: noarch\\n%%description\\nmc test package\\n%%install\\nmkdir -p %%{{buildroot}}/usr/share/{name}\\necho {version} > %%{{buildroot}}/usr/share/{name}/version\\n%%files\\n/usr/share/{name}/version\\n' > $d/SPECS/p.spec; \
         rpmbuild -bb --quiet --define \"_topdir $d\" $d/SPECS/p.spec >/dev/null 2>&1; \
         mkdir -p /srv/rpmrepo; cp $d/RPMS/noarch/*.rpm /srv/rpmrepo/; rm -rf $d; createrepo_c -q /srv/rpmrepo; \
         repo='[mc-test]\\nname=mc test\\nbaseurl=file:///srv/rpmrepo\\ngpgcheck=0\\nenabled=1\\nautorefresh=1\\nmetadata_expire=0\\n'; \
         mkdir -p /etc/yum.repos.d /etc/zypp/repos.d; printf \"$repo\" > /etc/yum.repos.d/mc-test.repo; printf \"$repo\" > /etc/zypp/repos.d/mc-test.repo"
    ))
    .unwrap();
}

/// Builds `name`-`version` as a pacman package into /srv/pacrepo and adds
/// the repository to pacman.conf (unsigned: a local test repository).
fn publish_pacman(h: &Host, name: &str, version: &str) {
    h.exec_ok(&format!(
        "set -e; d=$(mktemp -d); mkdir -p $d/usr/share/{name}; echo {version} > $d/usr/share/{name}/version; \
         printf 'pkgname = {name}\\npkgbase = {name}\\npkgver = {version}-1\\npkgdesc = mc test\\nbuilddate = 1700000000\\npackager = mc\\nsize = 4\\narch = any\\n' > $d/.PKGINFO; \
         mkdir -p /srv/pacrepo /var/lib/pacman; f=/srv/pacrepo/{name}-{version}-1-any.pkg.tar.zst; \
         (cd $d && bsdtar --zstd -cf $f .PKGINFO usr); rm -rf $d; repo-add -q /srv/pacrepo/mc-test.db.tar.gz $f >/dev/null 2>&1; \
         grep -q '^\\[mc-test\\]' /etc/pacman.conf || printf '\\n[mc-test]\\nSigLevel = Never\\nServer = file:///srv/pacrepo\\n' >> /etc/pacman.conf"
    ))
    .unwrap();
}

fn version_file(h: &Host, name: &str) -> String {
    String::from_utf8(h.read_file(&format!("/usr/share/{name}/version")).unwrap()).unwrap()
}

/// Install, nothing left to do, `latest` upgrades, `absent` removes: the
/// life cycle every manager passes. `refresh` makes the new version known
/// to the manager's lists (`update_cache` on the `latest` resource).
fn life_cycle(h: &Host, manager: &str, name: &str, publish: fn(&Host, &str, &str)) {
    publish(h, name, "1.0");
    let mut s = Session::greeted(h);
    let present = res(
        "package",
        name,
        json!({"manager": manager, "update_cache": true}),
    );
    let plan = assert_converges(&mut s, &present, Action::Create);
    assert_eq!(plan.changes[0].to, json!("present"));
    assert_eq!(version_file(h, name), "1.0\n");
    let probed = s.probe_one(&present);
    assert_eq!(probed.observed["manager"], manager);
    assert!(
        probed.observed["version"]
            .as_str()
            .unwrap()
            .starts_with("1.0"),
        "{probed:?}"
    );
    s.bye();

    // A new version: `latest` with `update_cache` sees it and upgrades.
    publish(h, name, "1.1");
    let mut s = Session::greeted(h);
    let latest = res(
        "package",
        name,
        json!({"manager": manager, "state": "latest", "update_cache": true}),
    );
    let plan = assert_converges(&mut s, &latest, Action::Update);
    assert!(
        plan.changes[0].to.as_str().unwrap().starts_with("1.1"),
        "{plan:?}"
    );
    assert_eq!(version_file(h, name), "1.1\n");

    let absent = res(
        "package",
        name,
        json!({"manager": manager, "state": "absent"}),
    );
    assert_converges(&mut s, &absent, Action::Delete);
    assert!(!h
        .path_exists(&format!("/usr/share/{name}/version"))
        .unwrap());
    s.bye();
}

#[test]
fn dnf_installs_upgrades_pins_and_removes() {
    let _serial = serial();
    let h = host();
    life_cycle(h, "dnf", "mc-dnf-hello", publish_rpm);
    // A pinned older version goes down.
    let mut s = Session::greeted(h);
    let pinned = res(
        "package",
        "mc-dnf-hello",
        json!({"manager": "dnf", "version": "1.0"}),
    );
    assert_converges(&mut s, &pinned, Action::Create);
    assert_eq!(version_file(h, "mc-dnf-hello"), "1.0\n");
    s.bye();
}

#[test]
fn zypper_installs_upgrades_pins_and_removes() {
    let _serial = serial();
    let h = host();
    life_cycle(h, "zypper", "mc-zypper-hello", publish_rpm);
    let mut s = Session::greeted(h);
    let pinned = res(
        "package",
        "mc-zypper-hello",
        json!({"manager": "zypper", "version": "1.0"}),
    );
    assert_converges(&mut s, &pinned, Action::Create);
    assert_eq!(version_file(h, "mc-zypper-hello"), "1.0\n");
    s.bye();
}

#[test]
fn pacman_installs_upgrades_and_removes_and_refuses_a_pin() {
    let _serial = serial();
    let h = host();
    life_cycle(h, "pacman", "mc-pacman-hello", publish_pacman);
    let mut s = Session::greeted(h);
    let pinned = res(
        "package",
        "mc-pacman-hello",
        json!({"manager": "pacman", "version": "1.0"}),
    );
    let err = s.probe_one(&pinned).error.unwrap();
    assert!(err.contains("cannot be used with pacman"), "{err}");
    s.bye();
}

/// Adds a .deb of `name`-`version` to the flat repository /srv/debrepo
/// without refreshing apt's lists.
fn publish_deb_quietly(h: &Host, name: &str, version: &str) {
    h.exec_ok(&format!(
        "set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/share/{name}; \
         printf 'Package: {name}\\nVersion: {version}\\nArchitecture: all\\nMaintainer: mc <mc@example.org>\\nDescription: mc test package\\n' > $d/DEBIAN/control; \
         echo {version} > $d/usr/share/{name}/version; \
         mkdir -p /srv/debrepo; dpkg-deb -Zgzip --build $d /srv/debrepo/{name}_{version}_all.deb >/dev/null; rm -rf $d; \
         cd /srv/debrepo; : > Packages; \
         for f in *.deb; do dpkg-deb -f $f; echo \"Filename: ./$f\"; echo \"Size: $(stat -c %s $f)\"; \
           echo \"SHA256: $(sha256sum $f | cut -d' ' -f1)\"; echo; done >> Packages; \
         rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*; \
         echo 'deb [trusted=yes] file:/srv/debrepo ./' > /etc/apt/sources.list.d/mc-debrepo.list"
    ))
    .unwrap();
}

#[test]
fn apt_update_cache_refreshes_the_lists_unless_they_are_fresh() {
    let _serial = serial();
    let h = host();
    publish_deb_quietly(h, "mc-apt-cached", "1.0");
    let mut s = Session::greeted(h);
    // Unknown to the lists until they are refreshed.
    let plain = res("package", "mc-apt-cached", json!({"manager": "apt"}));
    let probed = s.probe_one(&plain);
    assert_eq!(probed.action, Action::Create);
    let r = s.converge(std::slice::from_ref(&plain)).remove(0);
    assert_eq!(r.status, Status::Failed, "{}", r.message);
    let refreshed = res(
        "package",
        "mc-apt-cached",
        json!({"manager": "apt", "update_cache": true}),
    );
    assert_converges(&mut s, &refreshed, Action::Create);
    assert_eq!(version_file(h, "mc-apt-cached"), "1.0\n");
    s.bye();

    // Lists younger than cache_valid_time are not refreshed: 1.1 stays unseen.
    publish_deb_quietly(h, "mc-apt-cached", "1.1");
    let mut s = Session::greeted(h);
    let fresh_enough = res(
        "package",
        "mc-apt-cached",
        json!({"manager": "apt", "state": "latest", "cache_valid_time": 3600}),
    );
    assert_eq!(s.probe_one(&fresh_enough).action, Action::None);
    s.bye();
    // Lists older than it are.
    let mut s = Session::greeted(h);
    let stale = res(
        "package",
        "mc-apt-cached",
        json!({"manager": "apt", "state": "latest", "cache_valid_time": 0}),
    );
    assert_converges(&mut s, &stale, Action::Update);
    assert_eq!(version_file(h, "mc-apt-cached"), "1.1\n");
    s.bye();
}

#[test]
fn facts_name_every_installed_manager_and_unknown_ones_are_refused() {
    let _serial = serial();
    let h = host();
    let mut s = Session::greeted(h);
    let facts = match s.request(&Request::Facts) {
        (_, Response::Facts { facts }) => facts,
        (_, other) => panic!("{other:?}"),
    };
    // The test hosts are Debian with the other managers installed too.
    assert_eq!(facts["pkg_manager"], "apt");
    assert_eq!(
        facts["pkg_managers"],
        json!(["apt", "dnf", "zypper", "pacman"])
    );
    for manager in ["apk", "yum"] {
        let r = res("package", "x", json!({"manager": manager}));
        let err = s.probe_one(&r).error.unwrap();
        assert!(err.contains("not supported"), "{err}");
    }
    s.bye();
}

/// A flat apt repository in /srv/signedrepo holding `name` 1.0, its
/// `InRelease` signed with a new key; returns the armored public key.
fn signed_repo(h: &Host, name: &str) -> String {
    h.exec_ok(&format!(
        "set -e; g=$(mktemp -d); export GNUPGHOME=$g; \
         gpg --batch --passphrase '' --quick-gen-key 'mc test repo <repo@example.org>' ed25519 sign never 2>/dev/null; \
         d=$(mktemp -d); mkdir -p $d/DEBIAN $d/usr/share/{name}; \
         printf 'Package: {name}\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: mc <mc@example.org>\\nDescription: mc test\\n' > $d/DEBIAN/control; \
         echo 1.0 > $d/usr/share/{name}/version; rm -rf /srv/signedrepo; mkdir -p /srv/signedrepo; \
         dpkg-deb -Zgzip --build $d /srv/signedrepo/{name}_1.0_all.deb >/dev/null; cd /srv/signedrepo; \
         f={name}_1.0_all.deb; (dpkg-deb -f $f; echo \"Filename: ./$f\"; echo \"Size: $(stat -c %s $f)\"; \
           echo \"SHA256: $(sha256sum $f | cut -d' ' -f1)\"; echo) > Packages; \
         (echo 'Origin: mc'; echo 'Label: mc'; echo \"Date: $(date -Ru)\"; echo 'SHA256:'; \
           echo \" $(sha256sum Packages | cut -d' ' -f1) $(stat -c %s Packages) Packages\") > Release; \
         gpg --batch --yes --clearsign -o InRelease Release 2>/dev/null; gpg --armor --export > /srv/repo-key.asc; rm -rf $g $d"
    ))
    .unwrap();
    String::from_utf8(h.read_file("/srv/repo-key.asc").unwrap()).unwrap()
}

/// Another key, that signed nothing.
fn stranger_key(h: &Host) -> String {
    h.exec_ok(
        "set -e; g=$(mktemp -d); export GNUPGHOME=$g; \
         gpg --batch --passphrase '' --quick-gen-key 'stranger <x@example.org>' ed25519 sign never 2>/dev/null; \
         gpg --armor --export; rm -rf $g",
    )
    .unwrap()
}

#[test]
fn apt_source_adds_a_signed_repository_whose_packages_install() {
    let _serial = serial();
    let h = host();
    let key = signed_repo(h, "mc-signed");
    h.exec_ok("rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*")
        .unwrap();
    let mut s = Session::greeted(h);
    let source = |key: &str| {
        res(
            "apt_source",
            "mc-signed",
            json!({"uris": ["file:/srv/signedrepo"], "suites": ["./"], "components": [], "key": key}),
        )
    };
    let plan = assert_converges(&mut s, &source(&key), Action::Create);
    assert!(plan
        .content_diff
        .unwrap()
        .contains("+Signed-By: /etc/apt/keyrings/mc-mc-signed.asc"));
    let written = String::from_utf8(
        h.read_file("/etc/apt/sources.list.d/mc-mc-signed.sources")
            .unwrap(),
    )
    .unwrap();
    assert!(
        written.contains("URIs: file:/srv/signedrepo\nSuites: ./\n"),
        "{written}"
    );
    assert!(!written.contains("Components:"), "{written}");
    assert_eq!(
        h.read_file("/etc/apt/keyrings/mc-mc-signed.asc").unwrap(),
        key.as_bytes()
    );
    // The lists were refreshed: the repository's package installs at once.
    let pkg = res("package", "mc-signed", json!({"manager": "apt"}));
    assert_converges(&mut s, &pkg, Action::Create);
    assert_eq!(version_file(h, "mc-signed"), "1.0\n");

    // A key that did not sign the repository fails the refresh.
    let wrong = source(&stranger_key(h));
    let plan = s.probe_one(&wrong);
    assert_eq!(plan.action, Action::Update);
    assert_eq!(plan.changes[0].attr, "key");
    let r = s.apply(vec![common::item(wrong, plan.action)]).1.remove(0);
    assert_eq!(r.status, Status::Failed, "{}", r.message);
    assert!(r.message.contains("apt-get update"), "{}", r.message);

    let absent = res(
        "apt_source",
        "mc-signed",
        json!({"uris": [], "suites": [], "state": "absent"}),
    );
    assert_converges(&mut s, &absent, Action::Delete);
    assert!(!h
        .path_exists("/etc/apt/sources.list.d/mc-mc-signed.sources")
        .unwrap());
    assert!(!h.path_exists("/etc/apt/keyrings/mc-mc-signed.asc").unwrap());
    let unsigned = res(
        "apt_source",
        "x",
        json!({"uris": ["file:/srv"], "suites": ["./"], "key": "nope"}),
    );
    assert!(s.probe_one(&unsigned).error.unwrap().contains("OpenPGP"));
    s.bye();
}
