//! `user`: a local account, with useradd/usermod/userdel.
//!
//! `groups` is the exact list of supplementary groups (others are removed).
//! `password` is a crypt hash, set with `chpasswd -e` over stdin so it never
//! shows in a process list; only its sha256 is ever reported.
//! `authorized_keys`, when set, is the exact content of
//! `~/.ssh/authorized_keys`.

use super::{Plan, Spec};
use crate::protocol::{sha256_hex, Action, AttrChange};
use crate::safe_fs::{self, Ownership, PathAt};
use crate::sys;
use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

struct Observed {
    uid: u32,
    gid: u32,
    group: String,
    groups: Vec<String>,
    home: String,
    shell: String,
    comment: String,
    password: String,
}

fn observe(name: &str) -> Option<Observed> {
    let e = sys::find_user(name)?;
    let gid: u32 = e.field(3).parse().ok()?;
    let mut groups: Vec<String> = sys::read_db("/etc/group")
        .into_iter()
        .filter(|g| g.field(3).split(',').any(|m| m == name))
        .map(|g| g.field(0).to_string())
        .collect();
    groups.sort();
    let password = sys::read_db("/etc/shadow")
        .into_iter()
        .find(|s| s.field(0) == name)
        .map(|s| s.field(1).to_string())
        .unwrap_or_default();
    Some(Observed {
        uid: e.id()?,
        gid,
        group: sys::group_name(gid),
        groups,
        home: e.field(5).to_string(),
        shell: e.field(6).to_string(),
        comment: e.field(4).to_string(),
        password,
    })
}

fn keys_path(home: &str) -> String {
    format!("{}/.ssh/authorized_keys", home.trim_end_matches('/'))
}

fn keys_content(keys: &[String]) -> String {
    keys.iter().map(|k| format!("{}\n", k.trim())).collect()
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let name = spec.str_or_title("name")?;
    let present = spec.choice("state", &["present", "absent"], "present")? == "present";
    let found = observe(name);
    let password = spec.text("password")?;
    let mut plan = Plan::new(match &found {
        None => Json::Null,
        Some(o) => json!({
            "uid": o.uid, "gid": o.gid, "group": o.group, "groups": o.groups,
            "home": o.home, "shell": o.shell, "comment": o.comment,
            "password_sha256": sha256_hex(&o.password),
        }),
    });
    let Some(o) = found else {
        if present {
            plan.action = Action::Create;
            plan.changes.push(AttrChange {
                attr: "state".into(),
                from: Json::Null,
                to: json!("present"),
            });
        }
        return Ok(plan);
    };
    if !present {
        plan.action = Action::Delete;
        plan.changes.push(AttrChange {
            attr: "state".into(),
            from: json!("present"),
            to: json!("absent"),
        });
        return Ok(plan);
    }
    if let Some(uid) = spec.int("uid")? {
        if i64::from(o.uid) != uid {
            plan.change("uid", o.uid, uid);
        }
    }
    if let Some(g) = spec.str("group")? {
        if sys::gid_of(g).ok() != Some(o.gid) {
            plan.change("group", o.group.as_str(), g);
        }
    }
    if let Some(mut groups) = spec.str_list("groups")? {
        groups.sort();
        groups.dedup();
        if groups != o.groups {
            plan.change("groups", json!(o.groups), json!(groups));
        }
    }
    for (attr, cur) in [
        ("shell", &o.shell),
        ("home", &o.home),
        ("comment", &o.comment),
    ] {
        if let Some(want) = spec.str(attr)? {
            if want != cur {
                plan.change(attr, cur.as_str(), want);
            }
        }
    }
    if let Some(p) = &password {
        if !p.matches(o.password.as_bytes()) {
            plan.change(
                "password",
                crate::protocol::SECRET_PLACEHOLDER,
                crate::protocol::SECRET_PLACEHOLDER,
            );
        }
    }
    if let Some(keys) = spec.str_list("authorized_keys")? {
        let want = keys_content(&keys);
        // Read without following links, as written.
        let have = PathAt::of(Path::new(&keys_path(&o.home)))
            .and_then(|at| at.read_regular())
            .ok()
            .flatten()
            .map(|(_, data)| String::from_utf8_lossy(&data).into_owned())
            .unwrap_or_default();
        if want != have {
            plan.change("authorized_keys", sha256_hex(&have), sha256_hex(&want));
        }
    }
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let name = spec.str_or_title("name")?;
    let manage_home = spec.bool("manage_home", true)?;
    if plan.action == Action::Delete {
        let args: Vec<&str> = if manage_home {
            vec!["-r", name]
        } else {
            vec![name]
        };
        // userdel -r exits 12 when the home directory was already gone.
        let out = sys::run("userdel", &args)?;
        if !out.status.success() && sys::find_user(name).is_some() {
            return Err(format!(
                "userdel failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        return Ok(());
    }
    let uid = spec.int("uid")?.map(|u| u.to_string());
    let groups = spec.str_list("groups")?.map(|g| g.join(","));
    let changed =
        |attr: &str| plan.action == Action::Create || plan.changes.iter().any(|c| c.attr == attr);
    let mut args: Vec<String> = Vec::new();
    let mut opt = |flag: &str, v: Option<String>, attr: &str| {
        if let Some(v) = v {
            if changed(attr) {
                args.push(flag.into());
                args.push(v);
            }
        }
    };
    opt("-u", uid, "uid");
    opt("-g", spec.str("group")?.map(str::to_string), "group");
    opt("-G", groups, "groups");
    opt("-s", spec.str("shell")?.map(str::to_string), "shell");
    opt("-d", spec.str("home")?.map(str::to_string), "home");
    opt("-c", spec.str("comment")?.map(str::to_string), "comment");
    if plan.action == Action::Create {
        args.push(if manage_home { "-m" } else { "-M" }.into());
        if spec.bool("system", false)? {
            args.push("-r".into());
        }
        args.push(name.into());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        sys::run_ok("useradd", &refs)?;
    } else if !args.is_empty() {
        if manage_home && changed("home") {
            args.push("-m".into());
        }
        args.push(name.into());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        sys::run_ok("usermod", &refs)?;
    }
    if let Some(p) = spec.text("password")? {
        if changed("password") {
            set_password(name, p.require("password")?)?;
        }
    }
    if let Some(keys) = spec.str_list("authorized_keys")? {
        if changed("authorized_keys") {
            write_keys(name, &keys)?;
        }
    }
    Ok(())
}

fn set_password(name: &str, hash: &str) -> Result<(), String> {
    let mut child = Command::new("chpasswd")
        .arg("-e")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running chpasswd: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{name}:{hash}\n").as_bytes())
            .map_err(|e| format!("chpasswd: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("chpasswd: {e}"))?;
    if !out.status.success() {
        return Err("chpasswd failed to set the password".into());
    }
    Ok(())
}

/// Writes `~/.ssh/authorized_keys`. The home belongs to the user, so
/// `.ssh` is opened without following a link and owner and mode are set on
/// open handles: a link planted there cannot turn root's write elsewhere.
fn write_keys(name: &str, keys: &[String]) -> Result<(), String> {
    let o = observe(name).ok_or_else(|| format!("user {name} vanished"))?;
    let dir = format!("{}/.ssh", o.home.trim_end_matches('/'));
    let own = |mode| Ownership {
        uid: Some(o.uid),
        gid: Some(o.gid),
        mode: Some(mode),
    };
    let ssh = safe_fs::ensure_dir(Path::new(&dir), 0o700, own(0o700))
        .map_err(|e| format!("preparing {dir}: {e}"))?;
    let keys_file = keys_path(&o.home);
    PathAt::in_dir(&ssh, "authorized_keys", Path::new(&keys_file))
        .and_then(|at| at.write(keys_content(keys).as_bytes(), own(0o600)))
        .map_err(|e| format!("writing authorized_keys: {e}"))
}
