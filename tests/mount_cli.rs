//! `mount` applied with the real `mc` to a test host (which has its own
//! mount namespace and its own /etc): a tmpfs and an ext4 loop image are put
//! in fstab and mounted, the second apply changes nothing, changed options
//! remount, `unmounted` and `absent` undo it, a bad filesystem type fails
//! clearly and leaves fstab valid, and other fstab lines are kept.

mod common;

use mc_testfleet::Fleet;
use std::path::Path;

const FSTAB_HEAD: &str =
    "# /etc/fstab: static file system information.\nproc\t/proc\tproc\tdefaults\t0\t0\n";

fn apply(fleet: &Fleet, project: &Path, body: &str) -> (i32, String) {
    let h = fleet.host(0);
    let src = format!("host \"{}\" {{}}\non all {{\n{body}\n}}\n", h.name());
    std::fs::write(project.join("main.mc"), src).unwrap();
    let (code, out, err) = common::run(
        common::mc("mount-cli")
            .args(["apply", "--yes"])
            .arg(project)
            .arg("--ssh-config")
            .arg(fleet.ssh_config()),
    );
    (code, format!("{out}{err}"))
}

/// What is mounted at `path` on the host: `SOURCE FSTYPE OPTIONS`.
fn mounted(fleet: &Fleet, path: &str) -> String {
    fleet
        .host(0)
        .exec_ok(&format!(
            "findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint {path} || true"
        ))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn fstab(fleet: &Fleet) -> String {
    String::from_utf8(fleet.host(0).read_file("/etc/fstab").unwrap()).unwrap()
}

#[test]
fn mounts_converge_remount_and_go_away() {
    let fleet = Fleet::start(1).unwrap();
    let h = fleet.host(0);
    h.write_file("/etc/fstab", FSTAB_HEAD.as_bytes()).unwrap();
    h.exec_ok("truncate -s 16M /srv/disk.img && mkfs.ext4 -q -F /srv/disk.img")
        .unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();

    let both = |tmpfs_options: &str| {
        format!(
            r#"  mount "/srv/cache" {{
    device = "tmpfs"
    fstype = "tmpfs"
    options = "{tmpfs_options}"
  }}
  mount "/srv/data" {{
    device = "/srv/disk.img"
    fstype = "ext4"
    options = "loop,noatime"
    pass = 2
  }}"#
        )
    };
    let (code, out) = apply(&fleet, p, &both("size=8m,mode=0755"));
    assert_eq!(code, 0, "{out}");
    assert!(
        mounted(&fleet, "/srv/cache").contains("size=8192k"),
        "{}",
        mounted(&fleet, "/srv/cache")
    );
    assert!(
        mounted(&fleet, "/srv/data").contains("ext4"),
        "{}",
        mounted(&fleet, "/srv/data")
    );
    let tab = fstab(&fleet);
    assert!(tab.starts_with(FSTAB_HEAD), "other lines kept: {tab}");
    assert!(
        tab.contains("tmpfs\t/srv/cache\ttmpfs\tsize=8m,mode=0755\t0\t0\n"),
        "{tab}"
    );
    assert!(
        tab.contains("/srv/disk.img\t/srv/data\text4\tloop,noatime\t0\t2\n"),
        "{tab}"
    );
    h.exec_ok("echo kept > /srv/data/file").unwrap();

    // Nothing to do the second time (the loop device is the image).
    let (code, out) = apply(&fleet, p, &both("size=8m,mode=0755"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No changes"), "{out}");

    // Changed options remount in place: the data stays.
    let (code, out) = apply(&fleet, p, &both("size=12m,mode=0755"));
    assert_eq!(code, 0, "{out}");
    assert!(
        mounted(&fleet, "/srv/cache").contains("size=12288k"),
        "{}",
        mounted(&fleet, "/srv/cache")
    );
    assert_eq!(h.exec_ok("cat /srv/data/file").unwrap(), "kept\n");

    // A filesystem type that does not exist fails clearly; fstab was
    // written (it says what is wanted) but nothing else broke.
    let (code, out) = apply(
        &fleet,
        p,
        "  mount \"/srv/bad\" {\n    device = \"none\"\n    fstype = \"nosuchfs\"\n  }",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("nosuchfs"), "{out}");
    assert!(mounted(&fleet, "/srv/bad").is_empty());
    assert!(fstab(&fleet).starts_with(FSTAB_HEAD));

    // Unmounted keeps the line; absent removes it.
    let (code, out) = apply(
        &fleet,
        p,
        "  mount \"/srv/data\" {\n    device = \"/srv/disk.img\"\n    fstype = \"ext4\"\n    options = \"loop,noatime\"\n    pass = 2\n    state = \"unmounted\"\n  }\n  mount \"/srv/cache\" {\n    state = \"absent\"\n  }\n  mount \"/srv/bad\" {\n    state = \"absent\"\n  }",
    );
    assert_eq!(code, 0, "{out}");
    assert!(mounted(&fleet, "/srv/data").is_empty());
    assert!(mounted(&fleet, "/srv/cache").is_empty());
    let tab = fstab(&fleet);
    assert!(tab.contains("/srv/data\text4"), "{tab}");
    assert!(
        !tab.contains("/srv/cache") && !tab.contains("/srv/bad"),
        "{tab}"
    );
    assert!(tab.starts_with(FSTAB_HEAD), "{tab}");
}
