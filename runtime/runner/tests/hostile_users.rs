//! A local user who can write where root's runner writes tries to turn
//! the write against root: links planted at the temp name, at the target,
//! on the way to it, in `~/.ssh`, hard links. Every attack runs as that
//! unprivileged user on a real test host; each must leave root's files as
//! they were, and either be harmless or be refused with a clear message.

mod common;

use common::{host, item, res, Session};
use mc_runner::protocol::{Action, Status};
use serde_json::json;
use std::sync::OnceLock;

const ATTACKER: &str = "mallory";

/// A root file the attacks aim at, its content and `mode:owner:group`.
const PRECIOUS_CONTENT: &str = "root only\n";
const PRECIOUS_STAT: &str = "600:root:root";

/// The attacker's account, made once per test binary.
fn attacker() -> &'static mc_testfleet::Host {
    static MADE: OnceLock<()> = OnceLock::new();
    let h = host();
    MADE.get_or_init(|| {
        h.exec_ok(&format!(
            "id {ATTACKER} >/dev/null 2>&1 || useradd -m -s /bin/sh {ATTACKER}"
        ))
        .unwrap();
    });
    h
}

/// A directory of the attacker's for one test, and a precious root file
/// for it (both fresh).
fn setup(h: &mc_testfleet::Host, test: &str) -> (String, String) {
    setup_in(h, test, "/etc")
}

/// [`setup`] with the precious file in `root_dir`.
fn setup_in(h: &mc_testfleet::Host, test: &str, root_dir: &str) -> (String, String) {
    let dir = format!("/home/{ATTACKER}/{test}");
    let precious = format!("{root_dir}/mc-precious-{test}");
    h.exec_ok(&format!(
        "rm -rf {dir} && runuser -u {ATTACKER} -- mkdir {dir} && \
         printf '{}' > {precious} && chmod 600 {precious} && chown root:root {precious}",
        PRECIOUS_CONTENT.replace('\n', "\\n")
    ))
    .unwrap();
    (dir, precious)
}

fn as_attacker(h: &mc_testfleet::Host, script: &str) {
    h.exec_ok(&format!(
        "runuser -u {ATTACKER} -- sh -c {}",
        mc_testfleet::shell_quote(script)
    ))
    .unwrap();
}

fn assert_untouched(h: &mc_testfleet::Host, precious: &str) {
    assert_eq!(
        String::from_utf8(h.read_file(precious).unwrap()).unwrap(),
        PRECIOUS_CONTENT,
        "{precious} was written"
    );
    assert_eq!(
        h.exec_ok(&format!("stat -c %a:%U:%G {precious}"))
            .unwrap()
            .trim(),
        PRECIOUS_STAT,
        "{precious} was re-moded or chowned"
    );
}

fn stat(h: &mc_testfleet::Host, path: &str) -> String {
    h.exec_ok(&format!("stat -c %F:%a:%U {path}"))
        .unwrap()
        .trim()
        .to_string()
}

/// Applies `r` with the action its probe plans, or, when the probe
/// refuses, as an update anyway (the apply must refuse too); returns the
/// action and the result.
fn apply(
    s: &mut Session,
    attrs: &serde_json::Value,
    kind: &str,
    title: &str,
) -> (Action, Status, String) {
    let r = res(kind, title, attrs.clone());
    let plan = s.probe_one(&r);
    let action = match &plan.error {
        Some(_) => Action::Update,
        None => plan.action,
    };
    let result = s.apply(vec![item(r, action)]).1.remove(0);
    if let Some(probe_error) = plan.error {
        assert_eq!(result.message, probe_error, "probe and apply agree");
    }
    (plan.action, result.status, result.message)
}

#[test]
fn links_planted_at_every_predictable_temp_name_are_never_written_through() {
    let h = attacker();
    let (dir, precious) = setup(h, "tempnames");
    let mut s = Session::greeted(h);
    // The runner writing for this session already has its pid: a link at
    // `.app.conf.mc-tmp-PID` for every pid up to the newest one covers it.
    as_attacker(
        h,
        &format!(
            "cd {dir} && last=$(cat /proc/sys/kernel/ns_last_pid) && \
             perl -e 'symlink(\"{precious}\", \".app.conf.mc-tmp-$_\") or die for 1..'$last"
        ),
    );
    let path = format!("{dir}/app.conf");
    let (_, status, message) = apply(
        &mut s,
        &json!({"content": "managed\n", "owner": ATTACKER, "mode": 0o644}),
        "file",
        &path,
    );
    assert_eq!(status, Status::Changed, "{message}");
    assert_untouched(h, &precious);
    assert_eq!(h.read_file(&path).unwrap(), b"managed\n");
    assert_eq!(stat(h, &path), format!("regular file:644:{ATTACKER}"));
}

#[test]
fn a_link_at_the_target_is_replaced_never_followed_for_content_owner_or_mode() {
    let h = attacker();
    let (dir, precious) = setup(h, "target");
    let mut s = Session::greeted(h);
    let path = format!("{dir}/app.conf");
    as_attacker(h, &format!("ln -s {precious} {path}"));
    // No owner or mode given: the new file must not take the link
    // target's (root, 0600) nor its content.
    let (action, status, message) = apply(&mut s, &json!({"content": "managed\n"}), "file", &path);
    assert_eq!(action, Action::Update);
    assert_eq!(status, Status::Changed, "{message}");
    assert_untouched(h, &precious);
    assert_eq!(stat(h, &path), "regular file:644:root");
    assert_eq!(h.read_file(&path).unwrap(), b"managed\n");
}

#[test]
fn an_owner_and_mode_change_never_reaches_through_a_swapped_in_link() {
    let h = attacker();
    let (dir, precious) = setup(h, "swap");
    let mut s = Session::greeted(h);
    let path = format!("{dir}/app.conf");
    as_attacker(h, &format!("echo mine > {path}"));
    let wanted = res(
        "file",
        &path,
        json!({"owner": ATTACKER, "group": "root", "mode": 0o644}),
    );
    let plan = s.probe_one(&wanted);
    assert_eq!(plan.action, Action::Update);
    // Between plan and apply the file becomes a link to root's file.
    as_attacker(h, &format!("rm {path} && ln -s {precious} {path}"));
    let result = s.apply(vec![item(wanted, plan.action)]).1.remove(0);
    assert_untouched(h, &precious);
    assert_ne!(
        h.exec_ok(&format!("stat -c %F {path}")).unwrap().trim(),
        "symbolic link",
        "{}",
        result.message
    );
}

#[test]
fn a_users_link_on_the_way_to_the_target_is_refused() {
    let h = attacker();
    let (dir, _) = setup(h, "parent");
    let mut s = Session::greeted(h);
    let victim = "/etc/mc-parent-victim";
    h.exec_ok(&format!("rm -rf {victim}; mkdir -m 755 {victim}"))
        .unwrap();
    as_attacker(h, &format!("ln -s {victim} {dir}/conf.d"));
    for (kind, attrs) in [
        ("file", json!({"content": "x\n", "owner": ATTACKER})),
        ("directory", json!({"owner": ATTACKER, "mode": 0o777})),
    ] {
        let path = format!("{dir}/conf.d/item");
        let (_, status, message) = apply(&mut s, &attrs, kind, &path);
        assert_eq!(status, Status::Failed, "{kind}: {message}");
        assert!(
            message.contains("symbolic link owned by mallory"),
            "{kind}: {message}"
        );
    }
    assert_eq!(h.exec_ok(&format!("ls -A {victim}")).unwrap(), "");
    assert_eq!(stat(h, victim), "directory:755:root");
}

#[test]
fn a_directory_is_never_removed_through_a_users_link() {
    let h = attacker();
    let (dir, _) = setup(h, "dirs");
    let mut s = Session::greeted(h);
    let victim = "/etc/mc-dir-victim";
    h.exec_ok(&format!(
        "rm -rf {victim}; mkdir -p -m 755 {victim}/keep; touch {victim}/keep/file"
    ))
    .unwrap();
    as_attacker(h, &format!("ln -s {victim} {dir}/tree"));
    let (_, status, message) = apply(
        &mut s,
        &json!({"state": "absent", "recurse": true}),
        "directory",
        &format!("{dir}/tree/keep"),
    );
    assert_eq!(status, Status::Failed, "{message}");
    assert!(
        message.contains("symbolic link owned by mallory"),
        "{message}"
    );
    assert!(h.path_exists(&format!("{victim}/keep/file")).unwrap());
}

#[test]
fn line_refuses_to_edit_through_a_link() {
    let h = attacker();
    let (dir, precious) = setup(h, "line");
    let mut s = Session::greeted(h);
    let path = format!("{dir}/settings");
    as_attacker(h, &format!("ln -s {precious} {path}"));
    let r = res(
        "line",
        "setting",
        json!({"path": path, "line": "key=value"}),
    );
    let plan = s.probe_one(&r);
    let message = plan.error.expect("the probe refuses the link");
    assert!(message.contains("is a symbolic link"), "{message}");
    let result = s.apply(vec![item(r, Action::Update)]).1.remove(0);
    assert_eq!(result.status, Status::Failed);
    assert_untouched(h, &precious);
    assert_eq!(
        h.exec_ok(&format!("readlink {path}")).unwrap().trim(),
        precious
    );
}

#[test]
fn authorized_keys_never_follow_a_planted_ssh_link() {
    let h = attacker();
    let victim = "/etc/mc-ssh-victim";
    h.exec_ok(&format!(
        "rm -rf {victim}; mkdir -m 755 {victim}; rm -rf /home/{ATTACKER}/.ssh"
    ))
    .unwrap();
    as_attacker(h, &format!("ln -s {victim} /home/{ATTACKER}/.ssh"));
    let mut s = Session::greeted(h);
    let (_, status, message) = apply(
        &mut s,
        &json!({"authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMc test"]}),
        "user",
        ATTACKER,
    );
    assert_eq!(status, Status::Failed, "{message}");
    assert!(message.contains(".ssh"), "{message}");
    assert_eq!(stat(h, victim), "directory:755:root");
    assert_eq!(h.exec_ok(&format!("ls -A {victim}")).unwrap(), "");
    h.exec_ok(&format!("rm /home/{ATTACKER}/.ssh")).unwrap();
}

#[test]
fn a_hard_link_to_a_root_file_is_not_re_moded() {
    let h = attacker();
    // On the same file system as the attacker's directory.
    let (dir, precious) = setup_in(h, "hardlink", "/home");
    let mut s = Session::greeted(h);
    // What a user can do where `fs.protected_hardlinks` is off.
    let path = format!("{dir}/app.conf");
    h.exec_ok(&format!("ln {precious} {path}")).unwrap();
    let (_, status, message) = apply(
        &mut s,
        &json!({"owner": ATTACKER, "mode": 0o644}),
        "file",
        &path,
    );
    assert_eq!(status, Status::Failed, "{message}");
    assert!(message.contains("hard links"), "{message}");
    assert_untouched(h, &precious);
}

#[test]
fn a_link_is_never_made_through_a_users_link() {
    let h = attacker();
    let (dir, _) = setup(h, "links");
    let mut s = Session::greeted(h);
    let victim = "/etc/mc-link-victim";
    h.exec_ok(&format!("rm -rf {victim}; mkdir -m 755 {victim}"))
        .unwrap();
    as_attacker(h, &format!("ln -s {victim} {dir}/via"));
    let (_, status, message) = apply(
        &mut s,
        &json!({"target": "/srv/release"}),
        "link",
        &format!("{dir}/via/current"),
    );
    assert_eq!(status, Status::Failed, "{message}");
    assert!(
        message.contains("symbolic link owned by mallory"),
        "{message}"
    );
    assert_eq!(h.exec_ok(&format!("ls -A {victim}")).unwrap(), "");
}
