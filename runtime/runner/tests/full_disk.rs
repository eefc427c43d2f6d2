//! A full filesystem on a real test host: a write that does not fit fails
//! the resource cleanly, leaves the old file intact and no temp file behind,
//! and the next run converges once space is freed.

mod common;

use common::{host, item, res, Session};
use mc_ir::Resource;
use mc_runner::protocol::{sha256_hex, Action, Status};
use mc_testfleet::Host;
use serde_json::json;
use std::sync::{Mutex, MutexGuard};

const ENOSPC_TEXT: &str = "No space left on device";
const BACKUPS: &str = "/var/lib/mc/backups";

/// One test at a time: the backup store is shared by every test of this
/// binary, and one test mounts a full filesystem over it.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Mounts a fresh tmpfs of `size` at `dir` inside the host's namespace.
fn mount_small(h: &Host, dir: &str, size: &str) {
    h.exec_ok(&format!(
        "mkdir -p {dir} && (umount {dir} 2>/dev/null; true) && mount -t tmpfs -o size={size} tmpfs {dir}"
    ))
    .unwrap();
}

/// Fills the filesystem of `dir` to the last block with `dir/filler`.
fn fill(h: &Host, dir: &str) {
    // dd stops with ENOSPC once the disk is full; that is the goal.
    h.exec(&format!(
        "dd if=/dev/zero of={dir}/filler bs=4k 2>/dev/null; sync"
    ))
    .unwrap();
    let avail = h
        .exec_ok(&format!("df --output=avail -B1 {dir} | tail -1"))
        .unwrap();
    assert_eq!(avail.trim(), "0", "{dir} is not full");
}

fn listing(h: &Host, dir: &str) -> String {
    h.exec_ok(&format!("ls -A {dir}")).unwrap()
}

/// Files in the backup store that are not a complete backup: a backup is
/// named `<time>-<sha256 of its bytes>`, so a partial one cannot hide.
fn bad_backups(h: &Host) -> Vec<String> {
    let files = h
        .exec_ok(&format!("find {BACKUPS}/files -type f 2>/dev/null; true"))
        .unwrap();
    files
        .lines()
        .filter(|file| {
            let data = h.read_file(file).unwrap_or_default();
            !file.ends_with(&format!("-{}", sha256_hex(&data)))
        })
        .map(str::to_string)
        .collect()
}

/// The backup of `path` holding `content`.
fn backup_of(h: &Host, path: &str, content: &[u8]) -> Vec<u8> {
    h.exec_ok(&format!(
        "cat {BACKUPS}/files{path}/*-{}",
        sha256_hex(content)
    ))
    .unwrap()
    .into_bytes()
}

/// Probes and applies once more: nothing to do, and an apply reports `ok`.
fn assert_nothing_left(s: &mut Session, r: &Resource) {
    let plan = s.probe_one(r);
    assert_eq!(plan.action, Action::None, "{}: {plan:?}", r.id);
    let result = s.apply(vec![item(r.clone(), Action::None)]).1.remove(0);
    assert!(
        matches!(result.status, Status::Ok | Status::Skipped),
        "{}: {:?} {}",
        r.id,
        result.status,
        result.message
    );
}

#[test]
fn file_too_big_for_the_disk_fails_cleanly_and_converges_later() {
    let _serial = serial();
    let h = host();
    let dir = "/srv/mc-small-file";
    mount_small(h, dir, "256k");
    let path = format!("{dir}/app.conf");
    let old: Vec<u8> = b"old setting\n".repeat(700);
    h.write_file(&path, &old).unwrap();
    h.exec_ok(&format!(
        "dd if=/dev/zero of={dir}/filler bs=4k count=50 2>/dev/null"
    ))
    .unwrap();

    let mut s = Session::greeted(h);
    // 144 KB, more than is left; long lines keep the planned diff cheap.
    let new = format!("{}\n", "n".repeat(999)).repeat(144);
    let big = res("file", &path, json!({"content": new}));
    let elsewhere = res(
        "file",
        "/srv/mc-full-disk-other",
        json!({"content": "on another filesystem\n"}),
    );
    let plans = s.probe(&[big.clone(), elsewhere.clone()]);
    assert_eq!(plans[0].action, Action::Update, "{:?}", plans[0]);
    assert_eq!(plans[1].action, Action::Create, "{:?}", plans[1]);
    let (_, results) = s.apply(vec![
        item(big.clone(), plans[0].action),
        item(elsewhere.clone(), plans[1].action),
    ]);

    assert_eq!(results[0].status, Status::Failed, "{}", results[0].message);
    assert!(
        results[0].message.contains(ENOSPC_TEXT) && results[0].message.contains(&path),
        "{}",
        results[0].message
    );
    // The old file is intact, and no temp file is left beside it.
    assert_eq!(h.read_file(&path).unwrap(), old);
    assert_eq!(listing(h, dir), "app.conf\nfiller\n");
    // The backup (on another filesystem) is complete.
    assert_eq!(backup_of(h, &path, &old), old);
    assert_eq!(bad_backups(h), Vec::<String>::new());
    // The rest of the batch applied.
    assert_eq!(results[1].status, Status::Changed, "{}", results[1].message);
    assert_eq!(
        h.read_file("/srv/mc-full-disk-other").unwrap(),
        b"on another filesystem\n"
    );
    // A failed write leaves the file as the probe saw it.
    assert_eq!(s.probe_one(&big).action, Action::Update);

    h.exec_ok(&format!("rm {dir}/filler")).unwrap();
    let results = s.converge(std::slice::from_ref(&big));
    assert_eq!(results[0].status, Status::Changed, "{}", results[0].message);
    assert_eq!(h.read_file(&path).unwrap(), new.as_bytes());
    assert_nothing_left(&mut s, &big);
    assert_eq!(listing(h, dir), "app.conf\n");
    s.bye();
    h.exec_ok(&format!("umount {dir}")).unwrap();
}

#[test]
fn line_edit_on_a_full_disk_fails_cleanly_and_converges_later() {
    let _serial = serial();
    let h = host();
    let dir = "/srv/mc-small-line";
    mount_small(h, dir, "64k");
    let path = format!("{dir}/sshd_config");
    let old = b"Port 22\n#PermitRootLogin yes\nX11Forwarding no\n".to_vec();
    h.write_file(&path, &old).unwrap();
    fill(h, dir);

    let mut s = Session::greeted(h);
    let edit = res(
        "line",
        "root login",
        json!({"path": path, "line": "PermitRootLogin no", "match": "^#?PermitRootLogin"}),
    );
    let plan = s.probe_one(&edit);
    assert_eq!(plan.action, Action::Update, "{plan:?}");
    let result = s.apply(vec![item(edit.clone(), plan.action)]).1.remove(0);
    assert_eq!(result.status, Status::Failed, "{}", result.message);
    assert!(result.message.contains(ENOSPC_TEXT), "{}", result.message);
    assert_eq!(h.read_file(&path).unwrap(), old);
    assert_eq!(listing(h, dir), "filler\nsshd_config\n");
    assert_eq!(bad_backups(h), Vec::<String>::new());

    h.exec_ok(&format!("rm {dir}/filler")).unwrap();
    let results = s.converge(std::slice::from_ref(&edit));
    assert_eq!(results[0].status, Status::Changed, "{}", results[0].message);
    assert_eq!(
        h.read_file(&path).unwrap(),
        b"Port 22\nPermitRootLogin no\nX11Forwarding no\n"
    );
    assert_nothing_left(&mut s, &edit);
    assert_eq!(listing(h, dir), "sshd_config\n");
    s.bye();
    h.exec_ok(&format!("umount {dir}")).unwrap();
}

#[test]
fn full_backup_store_fails_the_resource_and_leaves_the_file_alone() {
    let _serial = serial();
    let h = host();
    let path = "/srv/mc-backed-up.conf";
    // Content no other test backs up, so the backup must be written now.
    let old = b"unique old content of the backed up file\n".to_vec();
    h.write_file(path, &old).unwrap();
    mount_small(h, BACKUPS, "16k");
    fill(h, BACKUPS);

    let mut s = Session::greeted(h);
    let r = res("file", path, json!({"content": "replacement\n"}));
    let plan = s.probe_one(&r);
    assert_eq!(plan.action, Action::Update);
    let result = s.apply(vec![item(r.clone(), plan.action)]).1.remove(0);
    // No partial backup and no temp file in the full store.
    let in_store = h
        .exec_ok(&format!("cd {BACKUPS} && find . -type f"))
        .unwrap();
    let umount = h.exec(&format!("umount {BACKUPS}"));
    assert_eq!(result.status, Status::Failed, "{}", result.message);
    assert!(
        result.message.contains("backing up") && result.message.contains(ENOSPC_TEXT),
        "{}",
        result.message
    );
    assert_eq!(h.read_file(path).unwrap(), old);
    assert_eq!(in_store, "./filler\n");
    assert!(umount.unwrap().status.success());

    // With room for the backup, the next run converges and keeps the old bytes.
    let results = s.converge(std::slice::from_ref(&r));
    assert_eq!(results[0].status, Status::Changed, "{}", results[0].message);
    assert_eq!(h.read_file(path).unwrap(), b"replacement\n");
    assert_eq!(backup_of(h, path, &old), old);
    assert_eq!(bad_backups(h), Vec::<String>::new());
    assert_nothing_left(&mut s, &r);
    s.bye();
}
