//! file, directory, link and line providers against a real test host.

mod common;

use common::{assert_converges, host, res, Session};
use mc_runner::protocol::{sha256_hex, Action};
use serde_json::json;

#[test]
fn file_create_update_ownership_and_remove() {
    let h = host();
    let mut s = Session::greeted(h);
    let path = "/etc/mc-test/motd";
    h.exec_ok("mkdir -p /etc/mc-test").unwrap();

    let v1 = res("file", path, json!({"content": "hello\n", "mode": 0o640}));
    let plan = assert_converges(&mut s, &v1, Action::Create);
    assert!(plan.content_diff.unwrap().contains("+hello"));
    assert_eq!(h.read_file(path).unwrap(), b"hello\n");
    assert_eq!(
        h.exec_ok(&format!("stat -c %a {path}")).unwrap().trim(),
        "640"
    );

    // Content update: a diff, and the old content kept by checksum.
    let v2 = res(
        "file",
        path,
        json!({"content": "hello\nworld\n", "mode": 0o640}),
    );
    let plan = assert_converges(&mut s, &v2, Action::Update);
    let diff = plan.content_diff.expect("diff");
    assert!(diff.contains("+world") && diff.contains(" hello"), "{diff}");
    assert_eq!(plan.changes[0].attr, "content");
    // Root's backups: under the path's own components, named by time and
    // sha256.
    let backups = h
        .exec_ok("ls /var/lib/mc/backups/files/etc/mc-test/motd")
        .unwrap();
    let name = backups.lines().last().unwrap();
    assert!(
        name.ends_with(&format!("Z-{}", sha256_hex("hello\n"))),
        "{name}"
    );
    assert_eq!(
        h.read_file(&format!(
            "/var/lib/mc/backups/files/etc/mc-test/motd/{name}"
        ))
        .unwrap(),
        b"hello\n"
    );
    // The write was atomic: no temp file left beside it.
    assert_eq!(h.exec_ok("ls -A /etc/mc-test").unwrap(), "motd\n");

    // Ownership and mode only.
    h.exec_ok("groupadd -f mcfiles").unwrap();
    let v3 = res(
        "file",
        path,
        json!({"content": "hello\nworld\n", "mode": 0o600, "group": "mcfiles", "owner": "root"}),
    );
    let plan = assert_converges(&mut s, &v3, Action::Update);
    let attrs: Vec<&str> = plan.changes.iter().map(|c| c.attr.as_str()).collect();
    assert_eq!(attrs, ["group", "mode"]);
    assert!(plan.content_diff.is_none());
    assert_eq!(
        h.exec_ok(&format!("stat -c %a:%G {path}")).unwrap().trim(),
        "600:mcfiles"
    );

    // Drift made outside mc is seen and repaired.
    h.write_file(path, b"tampered\n").unwrap();
    let plan = s.probe_one(&v3);
    assert_eq!(plan.action, Action::Update);
    assert!(plan.content_diff.unwrap().contains("-tampered"));

    let gone = res("file", path, json!({"state": "absent"}));
    assert_converges(&mut s, &gone, Action::Delete);
    assert!(!h.path_exists(path).unwrap());
    s.bye();
}

#[test]
fn file_errors_are_reported_not_fatal() {
    let h = host();
    let mut s = Session::greeted(h);
    h.exec_ok("mkdir -p /srv/mc-dir-in-the-way").unwrap();
    let results = s.probe(&[
        res("file", "/srv/mc-dir-in-the-way", json!({"content": "x"})),
        res("file", "relative/path", json!({"content": "x"})),
        res(
            "file",
            "/srv/ok",
            json!({"content": "x", "mode": "not-octal"}),
        ),
        res("teapot", "x", json!({})),
    ]);
    assert_eq!(results.len(), 4);
    for r in &results {
        assert!(r.error.is_some(), "{r:?}");
        assert_eq!(r.action, Action::None);
    }
    assert!(results[3]
        .error
        .as_ref()
        .unwrap()
        .contains("unknown resource type"));
    // The session still works.
    let ok = s.probe(&[res("file", "/srv/mc-new", json!({"content": "x"}))]);
    assert_eq!(ok[0].action, Action::Create);
    s.bye();
}

#[test]
fn directory_create_mode_and_remove_with_recurse() {
    let h = host();
    let mut s = Session::greeted(h);
    let d = res("directory", "/opt/mc-app", json!({"mode": 0o750}));
    assert_converges(&mut s, &d, Action::Create);
    assert_eq!(h.exec_ok("stat -c %a /opt/mc-app").unwrap().trim(), "750");

    let nested = res("directory", "/opt/mc-app/a/b", json!({"recurse": true}));
    assert_converges(&mut s, &nested, Action::Create);

    let d2 = res("directory", "/opt/mc-app", json!({"mode": 0o755}));
    let plan = assert_converges(&mut s, &d2, Action::Update);
    assert_eq!(plan.changes[0].attr, "mode");
    assert_eq!(plan.changes[0].from, json!("0750"));

    // Without recurse a non-empty directory is not removed.
    let rm = res("directory", "/opt/mc-app", json!({"state": "absent"}));
    let plan = s.probe_one(&rm);
    assert_eq!(plan.action, Action::Delete);
    let r = s.apply(vec![common::item(rm, Action::Delete)]).1.remove(0);
    assert_eq!(r.status, mc_runner::protocol::Status::Failed);
    assert!(r.message.contains("recurse"), "{}", r.message);
    assert!(h.path_exists("/opt/mc-app/a/b").unwrap());

    let rm = res(
        "directory",
        "/opt/mc-app",
        json!({"state": "absent", "recurse": true}),
    );
    assert_converges(&mut s, &rm, Action::Delete);
    assert!(!h.path_exists("/opt/mc-app").unwrap());
    s.bye();
}

#[test]
fn link_create_repoint_force_and_remove() {
    let h = host();
    let mut s = Session::greeted(h);
    let l = res(
        "link",
        "/srv/mc-current",
        json!({"target": "/srv/releases/1"}),
    );
    assert_converges(&mut s, &l, Action::Create);
    assert_eq!(
        h.exec_ok("readlink /srv/mc-current").unwrap().trim(),
        "/srv/releases/1"
    );

    let l2 = res(
        "link",
        "/srv/mc-current",
        json!({"target": "/srv/releases/2"}),
    );
    let plan = assert_converges(&mut s, &l2, Action::Update);
    assert_eq!(plan.changes[0].from, json!("/srv/releases/1"));
    assert_eq!(
        h.exec_ok("readlink /srv/mc-current").unwrap().trim(),
        "/srv/releases/2"
    );

    // A regular file in the way needs `force`.
    h.write_file("/srv/mc-blocked", b"x").unwrap();
    let blocked = res(
        "link",
        "/srv/mc-blocked",
        json!({"target": "/etc/hostname"}),
    );
    let plan = s.probe(&[blocked]).remove(0);
    assert!(plan.error.unwrap().contains("force"));
    let forced = res(
        "link",
        "/srv/mc-blocked",
        json!({"target": "/etc/hostname", "force": true}),
    );
    assert_converges(&mut s, &forced, Action::Update);
    assert_eq!(h.read_file("/srv/mc-blocked").unwrap(), b"host1\n");

    let rm = res("link", "/srv/mc-current", json!({"state": "absent"}));
    assert_converges(&mut s, &rm, Action::Delete);
    assert!(!h.path_exists("/srv/mc-current").unwrap());
    s.bye();
}

#[test]
fn line_replace_append_and_remove() {
    let h = host();
    let mut s = Session::greeted(h);
    let path = "/etc/mc-line.conf";
    h.write_file(path, b"# config\nPort 22\nPermitRootLogin yes\n")
        .unwrap();

    let replace = res(
        "line",
        "root login",
        json!({"path": path, "line": "PermitRootLogin no", "match": "^#?PermitRootLogin"}),
    );
    let plan = assert_converges(&mut s, &replace, Action::Update);
    assert_eq!(plan.changes[0].from, json!("PermitRootLogin yes"));
    assert!(plan.content_diff.unwrap().contains("+PermitRootLogin no"));
    assert_eq!(
        h.read_file(path).unwrap(),
        b"# config\nPort 22\nPermitRootLogin no\n"
    );

    let append = res(
        "line",
        "banner",
        json!({"path": path, "line": "Banner /etc/issue"}),
    );
    assert_converges(&mut s, &append, Action::Update);
    let start = res(
        "line",
        "header",
        json!({"path": path, "line": "# managed", "insert": "start"}),
    );
    assert_converges(&mut s, &start, Action::Update);
    assert_eq!(
        String::from_utf8(h.read_file(path).unwrap()).unwrap(),
        "# managed\n# config\nPort 22\nPermitRootLogin no\nBanner /etc/issue\n"
    );

    let rm = res(
        "line",
        "no port",
        json!({"path": path, "match": "^Port ", "state": "absent"}),
    );
    assert_converges(&mut s, &rm, Action::Update);
    assert!(!String::from_utf8(h.read_file(path).unwrap())
        .unwrap()
        .contains("Port 22"));

    let bad = res(
        "line",
        "bad",
        json!({"path": path, "line": "x", "match": "("}),
    );
    assert!(s
        .probe(&[bad])
        .remove(0)
        .error
        .unwrap()
        .contains("regular expression"));
    s.bye();
}

#[test]
fn binary_content_round_trips_byte_for_byte() {
    use base64::Engine as _;
    let h = host();
    let mut s = Session::greeted(h);
    let path = "/srv/mc-binary.bin";
    // Every byte value, invalid UTF-8 included.
    let v1: Vec<u8> = (0..=255u8).chain([0xff, 0xfe, 0x00, 0xc3]).collect();
    let encode = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let r1 = res("file", path, json!({"content_base64": encode(&v1)}));
    let plan = assert_converges(&mut s, &r1, Action::Create);
    let diff = plan.content_diff.unwrap();
    assert!(diff.starts_with("binary content (sha256 "), "{diff}");
    assert_eq!(h.read_file(path).unwrap(), v1);

    let mut v2 = v1.clone();
    v2[10] = 0x80;
    let r2 = res("file", path, json!({"content_base64": encode(&v2)}));
    let plan = assert_converges(&mut s, &r2, Action::Update);
    let diff = plan.content_diff.unwrap();
    let (old, new) = (sha256_hex(&v1), sha256_hex(&v2));
    assert!(
        diff.starts_with(&format!(
            "binary content changed (sha256 {}… → {}…",
            &old[..12],
            &new[..12]
        )),
        "{diff}"
    );
    assert_eq!(plan.changes[0].from, json!(format!("sha256:{old}")));
    assert_eq!(plan.changes[0].to, json!(format!("sha256:{new}")));
    assert_eq!(h.read_file(path).unwrap(), v2);
    // The old bytes are backed up exactly.
    let kept = h
        .exec_ok(&format!("ls /var/lib/mc/backups/files{path}"))
        .unwrap();
    let name = kept.lines().find(|n| n.ends_with(&old)).unwrap();
    assert_eq!(
        h.read_file(&format!("/var/lib/mc/backups/files{path}/{name}"))
            .unwrap(),
        v1
    );
    let bad = res("file", path, json!({"content_base64": "not base64!"}));
    assert!(s.probe_one(&bad).error.unwrap().contains("not base64"));
    s.bye();
}

#[test]
fn backups_are_pruned_by_count() {
    let h = host();
    let mut s = Session::greeted(h);
    let path = "/srv/mc-pruned.conf";
    for i in 0..5 {
        let r = res(
            "file",
            path,
            json!({"content": format!("version {i}\n"), "backups_kept": 2}),
        );
        s.converge(&[r]);
    }
    let kept = h
        .exec_ok(&format!("cat /var/lib/mc/backups/files{path}/*"))
        .unwrap();
    assert_eq!(kept, "version 2\nversion 3\n");
    let bad = res("file", path, json!({"content": "x", "backups_kept": 0}));
    assert!(s.probe_one(&bad).error.unwrap().contains("at least 1"));
    s.bye();
}

#[test]
fn backups_older_than_max_age_are_pruned() {
    let h = host();
    let mut s = Session::greeted(h);
    let path = "/srv/mc-aged.conf";
    let dir = format!("/var/lib/mc/backups/files{path}");
    let version = |i: u32, max_age: Option<u32>| {
        let mut attrs = json!({"content": format!("version {i}\n")});
        if let Some(days) = max_age {
            attrs["backups_max_age"] = json!(days);
        }
        res("file", path, attrs)
    };
    s.converge(&[version(0, None)]);
    s.converge(&[version(1, None)]);
    // The backup of version 0 is three days old.
    h.exec_ok(&format!("touch -d '-3 days' {dir}/*")).unwrap();
    s.converge(&[version(2, Some(5))]);
    assert_eq!(
        h.exec_ok(&format!("cat {dir}/*")).unwrap(),
        "version 0\nversion 1\n"
    );
    s.converge(&[version(3, Some(2))]);
    assert_eq!(
        h.exec_ok(&format!("cat {dir}/*")).unwrap(),
        "version 1\nversion 2\n"
    );
    s.bye();
}

#[test]
fn validate_keeps_the_old_file_when_the_check_refuses_the_new_content() {
    let h = host();
    let mut s = Session::greeted(h);
    let path = "/etc/sudoers.d/mc-validate-test";
    let rule = |content: &str| {
        res(
            "file",
            path,
            json!({"content": content, "mode": 0o440, "validate": "visudo -cf %s"}),
        )
    };
    assert_converges(
        &mut s,
        &rule("Defaults:nobody !requiretty\n"),
        Action::Create,
    );

    // A broken rule never lands: sudo would stop working for everyone.
    let broken = rule("nobody ALL=(ALL NOPASSWD ALL\n");
    let plan = s.probe_one(&broken);
    let result = s.apply(vec![common::item(broken, plan.action)]).1.remove(0);
    assert_eq!(result.status, mc_runner::protocol::Status::Failed);
    assert!(
        result.message.contains("visudo -cf %s"),
        "{}",
        result.message
    );
    assert_eq!(h.read_file(path).unwrap(), b"Defaults:nobody !requiretty\n");
    // No candidate is left behind for sudo to read.
    assert_eq!(
        h.exec_ok("ls -A /etc/sudoers.d | grep -c validate-test")
            .unwrap()
            .trim(),
        "1"
    );

    // A command without %s is refused at the probe.
    let plan = s.probe_one(&res(
        "file",
        path,
        json!({"content": "x\n", "validate": "visudo -c"}),
    ));
    assert!(plan.error.unwrap().contains("%s"));
    h.exec_ok(&format!("rm -f {path}")).unwrap();
    s.bye();
}
