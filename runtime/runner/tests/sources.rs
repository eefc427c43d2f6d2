//! download and archive providers against a real test host, with a local
//! HTTP server running inside the host.

mod common;

use common::{assert_converges, host, item, res, Session};
use mc_runner::protocol::{Action, Status};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const WWW_PORT: u16 = 8000;

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An HTTP server inside the test host serving /srv/www, started once;
/// returns the base URL as the host sees it.
fn www() -> String {
    static STARTED: OnceLock<()> = OnceLock::new();
    let h = host();
    STARTED.get_or_init(|| {
        h.exec_ok(&format!(
            "mkdir -p /srv/www && cd /srv/www && \
             setsid python3 -m http.server --bind 0.0.0.0 {WWW_PORT} </dev/null >/dev/null 2>&1 &"
        ))
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect((h.address(), WWW_PORT)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the host's HTTP server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    format!("http://127.0.0.1:{WWW_PORT}")
}

/// Files left next to `dir`'s entries by an interrupted or refused download.
fn leftovers(dir: &str) -> String {
    host()
        .exec_ok(&format!("ls -A {dir} | grep mc-download || true"))
        .unwrap()
}

#[test]
fn download_creates_skips_updates_refuses_a_bad_checksum_and_removes() {
    let h = host();
    let base = www();
    let v1 = b"#!/bin/sh\necho tool 1\n".as_slice();
    let v2 = b"#!/bin/sh\necho tool 2\n".as_slice();
    h.write_file("/srv/www/tool-1", v1).unwrap();
    h.write_file("/srv/www/tool-2", v2).unwrap();
    h.exec_ok("mkdir -p /opt/dl").unwrap();
    let mut s = Session::greeted(h);
    let tool = |file: &str, sum: &str| {
        res(
            "download",
            "/opt/dl/tool",
            json!({"url": format!("{base}/{file}"), "sha256": sum, "mode": "0755", "owner": "root"}),
        )
    };

    let plan = assert_converges(&mut s, &tool("tool-1", &sha256(v1)), Action::Create);
    assert!(plan
        .changes
        .iter()
        .any(|c| c.attr == "sha256" && c.to == json!(sha256(v1))));
    assert_eq!(h.read_file("/opt/dl/tool").unwrap(), v1);
    assert_eq!(
        h.exec_ok("stat -c %a:%U /opt/dl/tool").unwrap(),
        "755:root\n"
    );

    // A new version: the plan shows the old and new checksum.
    let plan = assert_converges(&mut s, &tool("tool-2", &sha256(v2)), Action::Update);
    assert_eq!(plan.changes[0].attr, "sha256");
    assert_eq!(plan.changes[0].from, json!(sha256(v1)));
    assert_eq!(h.read_file("/opt/dl/tool").unwrap(), v2);

    // Only the mode differs: no download, just chmod.
    h.exec_ok("chmod 600 /opt/dl/tool").unwrap();
    let plan = assert_converges(&mut s, &tool("tool-2", &sha256(v2)), Action::Update);
    assert_eq!(plan.changes.len(), 1, "{plan:?}");
    assert_eq!(plan.changes[0].attr, "mode");

    // What the server sends does not match: refused, the file stays.
    let wrong = tool("tool-1", &sha256(b"something else"));
    assert_eq!(s.probe_one(&wrong).action, Action::Update);
    let r = s.apply(vec![item(wrong, Action::Update)]).1.remove(0);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("checksum mismatch"), "{}", r.message);
    assert_eq!(h.read_file("/opt/dl/tool").unwrap(), v2);
    assert_eq!(leftovers("/opt/dl"), "");

    let missing = tool("no-such-file", &sha256(b"x"));
    let r = s.apply(vec![item(missing, Action::Update)]).1.remove(0);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("404"), "{}", r.message);
    assert_eq!(h.read_file("/opt/dl/tool").unwrap(), v2);

    let gone = res(
        "download",
        "/opt/dl/tool",
        json!({"url": format!("{base}/tool-2"), "sha256": sha256(v2), "state": "absent"}),
    );
    assert_converges(&mut s, &gone, Action::Delete);
    assert!(!h.path_exists("/opt/dl/tool").unwrap());

    let bad = res(
        "download",
        "/opt/dl/x",
        json!({"url": "ftp://example.org/x", "sha256": sha256(b"x")}),
    );
    let err = s.probe_one(&bad).error.unwrap();
    assert!(err.contains("http://"), "{err}");
    s.bye();
}

/// Builds archives on the host with Python's tarfile and zipfile, so the
/// malicious ones can hold names real tools refuse to write.
const MAKE_ARCHIVES: &str = r#"
import io, os, tarfile, zipfile
os.makedirs("/srv/arc", exist_ok=True)
def tar(path, mode, members):
    with tarfile.open(path, mode) as t:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                t.addfile(info)
            elif data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                t.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o755 if name.endswith(".sh") else 0o644
                t.addfile(info, io.BytesIO(data))
v1 = [("app", None, None), ("app/run.sh", b"echo 1\n", None), ("app/conf/app.ini", b"v=1\n", None), ("app/current", None, "conf")]
v2 = [("app", None, None), ("app/run.sh", b"echo 2\n", None), ("app/conf/app.ini", b"v=2\n", None)]
tar("/srv/arc/app-1.tar.gz", "w:gz", v1)
tar("/srv/arc/app-2.tar.xz", "w:xz", v2)
tar("/srv/arc/app.tar", "w", v1)
with zipfile.ZipFile("/srv/arc/app.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("app/", "")
    z.writestr("app/run.sh", "echo zip\n")
    z.writestr("app/conf/app.ini", "v=zip\n")
tar("/srv/arc/dotdot.tar.gz", "w:gz", [("good.txt", b"fine\n", None), ("../evil.txt", b"evil\n", None)])
tar("/srv/arc/absolute.tar", "w", [("good.txt", b"fine\n", None), ("/tmp/evil.txt", b"evil\n", None)])
tar("/srv/arc/link.tar", "w", [("etc", None, "/etc"), ("etc/evil.conf", b"evil\n", None)])
tar("/srv/arc/uplink.tar", "w", [("up", None, "../../.."), ("up/tmp/evil.txt", b"evil\n", None)])
with zipfile.ZipFile("/srv/arc/dotdot.zip", "w") as z:
    z.writestr("good.txt", "fine\n")
    z.writestr("../evil.txt", "evil\n")
with open("/srv/arc/not-an-archive", "w") as f:
    f.write("just text\n")
"#;

/// Writes the archives once per test binary (the tests share the host).
fn make_archives() {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| {
        let h = host();
        h.write_file("/srv/make_archives.py", MAKE_ARCHIVES.as_bytes())
            .unwrap();
        h.exec_ok("python3 /srv/make_archives.py").unwrap();
    });
}

fn archive(dest: &str, source: &str, extra: serde_json::Value) -> mc_ir::Resource {
    let mut attrs = json!({"source": source});
    attrs
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    res("archive", dest, attrs)
}

#[test]
fn archive_unpacks_tar_gz_xz_and_zip_idempotently_and_removes() {
    let h = host();
    make_archives();
    let mut s = Session::greeted(h);

    let v1 = archive(
        "/opt/app",
        "/srv/arc/app-1.tar.gz",
        json!({"owner": "daemon", "group": "daemon"}),
    );
    let plan = assert_converges(&mut s, &v1, Action::Create);
    assert_eq!(plan.changes[0].attr, "sha256");
    assert_eq!(h.read_file("/opt/app/app/run.sh").unwrap(), b"echo 1\n");
    assert_eq!(
        h.exec_ok("stat -c %a:%U:%G /opt/app/app/run.sh /opt/app/app/conf/app.ini")
            .unwrap(),
        "755:daemon:daemon\n644:daemon:daemon\n"
    );
    assert_eq!(
        h.exec_ok("readlink /opt/app/app/current").unwrap(),
        "conf\n"
    );

    // A missing file is put back.
    h.exec_ok("rm /opt/app/app/conf/app.ini").unwrap();
    let plan = assert_converges(&mut s, &v1, Action::Update);
    assert_eq!(plan.changes[0].attr, "members");
    assert_eq!(h.read_file("/opt/app/app/conf/app.ini").unwrap(), b"v=1\n");

    // A new archive (xz this time) replaces the content.
    let v2 = archive(
        "/opt/app",
        "/srv/arc/app-2.tar.xz",
        json!({"owner": "daemon", "group": "daemon"}),
    );
    assert_converges(&mut s, &v2, Action::Update);
    assert_eq!(h.read_file("/opt/app/app/run.sh").unwrap(), b"echo 2\n");

    // Plain tar and zip.
    assert_converges(
        &mut s,
        &archive("/opt/plain", "/srv/arc/app.tar", json!({})),
        Action::Create,
    );
    assert_eq!(
        h.read_file("/opt/plain/app/conf/app.ini").unwrap(),
        b"v=1\n"
    );
    assert_converges(
        &mut s,
        &archive("/opt/zipped", "/srv/arc/app.zip", json!({})),
        Action::Create,
    );
    assert_eq!(
        h.read_file("/opt/zipped/app/run.sh").unwrap(),
        b"echo zip\n"
    );

    // Removing takes away what was unpacked, and only that.
    h.write_file("/opt/app/app/local.txt", b"mine\n").unwrap();
    let gone = archive(
        "/opt/app",
        "/srv/arc/app-2.tar.xz",
        json!({"state": "absent"}),
    );
    assert_converges(&mut s, &gone, Action::Delete);
    assert!(!h.path_exists("/opt/app/app/run.sh").unwrap());
    assert_eq!(h.read_file("/opt/app/app/local.txt").unwrap(), b"mine\n");
    s.bye();
}

#[test]
fn archives_with_members_outside_the_destination_are_refused_whole() {
    let h = host();
    make_archives();
    let mut s = Session::greeted(h);
    for (name, why) in [
        ("dotdot.tar.gz", "outside the destination"),
        ("absolute.tar", "outside the destination"),
        ("link.tar", "points outside"),
        ("uplink.tar", "points outside"),
        ("dotdot.zip", "outside the destination"),
        ("not-an-archive", "is not a tar"),
    ] {
        let dest = format!("/srv/evil/{}", name.replace('.', "-"));
        let r = archive(&dest, &format!("/srv/arc/{name}"), json!({}));
        assert_eq!(s.probe_one(&r).action, Action::Create);
        let result = s.apply(vec![item(r, Action::Create)]).1.remove(0);
        assert_eq!(result.status, Status::Failed, "{name}: {}", result.message);
        assert!(result.message.contains(why), "{name}: {}", result.message);
        // Nothing at all was written, not even the harmless member.
        assert!(
            !h.path_exists(&format!("{dest}/good.txt")).unwrap(),
            "{name}"
        );
    }
    for evil in [
        "/srv/evil/evil.txt",
        "/srv/evil.txt",
        "/tmp/evil.txt",
        "/etc/evil.conf",
    ] {
        assert!(!h.path_exists(evil).unwrap(), "{evil} was written");
    }
    s.bye();
}

/// A bare repository in the host with tag `v1` (annotated) on the first
/// commit and `main` one commit ahead; returns (v1 commit, main commit).
fn make_repo() -> (String, String) {
    static MADE: OnceLock<(String, String)> = OnceLock::new();
    MADE.get_or_init(|| {
        let out = host()
            .exec_ok(
                "set -e; export HOME=/root GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@e GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@e; \
                 git init -q --bare -b main /srv/git/app.git; w=$(mktemp -d); cd $w; git init -q -b main; \
                 echo v1 > VERSION; git add VERSION; git commit -qm v1; git tag -a v1 -m v1; a=$(git rev-parse HEAD); \
                 echo v2 > VERSION; git commit -qam v2; b=$(git rev-parse HEAD); \
                 git push -q /srv/git/app.git main v1; echo $a $b",
            )
            .unwrap();
        let (a, b) = out.trim().split_once(' ').unwrap();
        (a.to_string(), b.to_string())
    })
    .clone()
}

fn checkout(reference: &str, extra: serde_json::Value) -> mc_ir::Resource {
    let mut attrs = json!({"repo": "file:///srv/git/app.git", "ref": reference});
    attrs
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    res("git", "/opt/src/app", attrs)
}

#[test]
fn git_clones_moves_between_tag_branch_and_commit_and_removes() {
    let h = host();
    let (v1, v2) = make_repo();
    let mut s = Session::greeted(h);
    let head = || h.exec_ok("git -C /opt/src/app rev-parse HEAD").unwrap();

    let plan = assert_converges(&mut s, &checkout("v1", json!({})), Action::Create);
    assert_eq!(plan.changes[0].attr, "commit");
    assert_eq!(plan.changes[0].to, json!(v1));
    assert_eq!(h.read_file("/opt/src/app/VERSION").unwrap(), b"v1\n");

    // The plan names the old and the new commit.
    let plan = assert_converges(&mut s, &checkout("main", json!({})), Action::Update);
    assert_eq!(plan.changes[0].attr, "commit");
    assert_eq!(plan.changes[0].from, json!(v1));
    assert_eq!(plan.changes[0].to, json!(v2));
    assert_eq!(head().trim(), v2);
    assert_converges(&mut s, &checkout(&v1, json!({})), Action::Update);
    assert_eq!(head().trim(), v1);
    assert_eq!(
        s.probe_one(&checkout("HEAD", json!({}))).action,
        Action::Update
    );

    // Local changes are kept unless `force` says otherwise.
    h.write_file("/opt/src/app/VERSION", b"local edit\n")
        .unwrap();
    let r = s
        .apply(vec![item(checkout("main", json!({})), Action::Update)])
        .1
        .remove(0);
    assert_eq!(r.status, Status::Failed);
    assert!(r.message.contains("local changes"), "{}", r.message);
    assert_eq!(
        h.read_file("/opt/src/app/VERSION").unwrap(),
        b"local edit\n"
    );
    assert_converges(
        &mut s,
        &checkout("main", json!({"force": true})),
        Action::Update,
    );
    assert_eq!(h.read_file("/opt/src/app/VERSION").unwrap(), b"v2\n");

    let missing = checkout("no-such-branch", json!({}));
    let err = s.probe_one(&missing).error.unwrap();
    assert!(err.contains("no-such-branch"), "{err}");

    assert_converges(
        &mut s,
        &checkout("main", json!({"state": "absent"})),
        Action::Delete,
    );
    assert!(!h.path_exists("/opt/src/app").unwrap());
    assert_eq!(
        h.exec_ok("ls -A /opt/src | grep mc-clone || true").unwrap(),
        ""
    );
    s.bye();
}
