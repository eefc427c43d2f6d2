//! `mount`: a filesystem's line in fstab and whether it is mounted, as
//! Ansible's `mount` module and Puppet's `mount` type manage them.
//!
//! - `mounted`: the line is in fstab and the filesystem is mounted there
//!   (the mount point is created). A mounted filesystem whose device or type
//!   differs is unmounted and mounted again; one whose options changed is
//!   remounted (`mount -o remount,OPTIONS`).
//! - `present`: the line only; what is mounted is left alone.
//! - `unmounted`: the line, and nothing mounted there.
//! - `absent`: nothing mounted there and no line for the mount point.
//!
//! Other lines of fstab, comments included, are kept byte for byte; the
//! file is replaced atomically. The live state comes from
//! `/proc/self/mountinfo`; `mount` and `umount` run with argv, never a shell.

use super::{Plan, Spec};
use crate::sys;
use serde_json::{json, Value as Json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

struct Desired {
    path: String,
    /// `None` only for `absent`.
    entry: Option<Entry>,
    state: State,
    fstab: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Mounted,
    Present,
    Unmounted,
    Absent,
}

/// One fstab line's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    device: String,
    fstype: String,
    options: String,
    dump: i64,
    pass: i64,
}

/// What is mounted at the mount point (the topmost mount).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Live {
    source: String,
    fstype: String,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let path = spec.str_or_title("path")?.to_string();
    if !path.starts_with('/') || path.chars().any(|c| c.is_control()) {
        return Err(format!(
            "the mount point must be an absolute path, got {path:?}"
        ));
    }
    let state = match spec
        .choice(
            "state",
            &["mounted", "present", "unmounted", "absent"],
            "mounted",
        )?
        .as_str()
    {
        "present" => State::Present,
        "unmounted" => State::Unmounted,
        "absent" => State::Absent,
        _ => State::Mounted,
    };
    let fstab = spec.str_or("fstab", "/etc/fstab")?.to_string();
    let entry = if state == State::Absent {
        None
    } else {
        let field = |name: &str| -> Result<String, String> {
            let v = spec
                .str(name)?
                .ok_or_else(|| format!("`{name}` is required unless `state = \"absent\"`"))?;
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("`{name}` must be one word, got {v:?}"));
            }
            Ok(v.to_string())
        };
        Some(Entry {
            device: field("device")?,
            fstype: field("fstype")?,
            options: spec
                .str("options")?
                .filter(|o| !o.is_empty())
                .unwrap_or("defaults")
                .to_string(),
            dump: spec.int("dump")?.unwrap_or(0),
            pass: spec.int("pass")?.unwrap_or(0),
        })
    };
    Ok(Desired {
        path,
        entry,
        state,
        fstab,
    })
}

/// fstab and mountinfo escape space, tab, newline and backslash as `\ooo`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Entry {
    fn line(&self, path: &str) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            escape(&self.device),
            escape(path),
            self.fstype,
            escape(&self.options),
            self.dump,
            self.pass
        )
    }

    fn parse(line: &str) -> Option<(String, Entry)> {
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            return None;
        }
        let f: Vec<&str> = text.split_whitespace().collect();
        let (device, path, fstype) = (f.first()?, f.get(1)?, f.get(2)?);
        Some((
            unescape(path),
            Entry {
                device: unescape(device),
                fstype: fstype.to_string(),
                options: unescape(f.get(3).unwrap_or(&"defaults")),
                dump: f.get(4).and_then(|d| d.parse().ok()).unwrap_or(0),
                pass: f.get(5).and_then(|d| d.parse().ok()).unwrap_or(0),
            },
        ))
    }
}

/// The fstab text and the entry for `path` (the last one, as `mount` reads).
fn read_fstab(fstab: &str, path: &str) -> Result<(String, Option<Entry>), String> {
    let text = match fs::read_to_string(fstab) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("reading {fstab}: {e}")),
    };
    let entry = text
        .lines()
        .filter_map(Entry::parse)
        .filter(|(p, _)| p == path)
        .map(|(_, e)| e)
        .next_back();
    Ok((text, entry))
}

/// The topmost mount at `path`, from `/proc/self/mountinfo`.
fn live(path: &str) -> Result<Option<Live>, String> {
    let info = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
    Ok(info
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let point = unescape(left.split(' ').nth(4)?);
            let mut r = right.split(' ');
            let fstype = r.next()?.to_string();
            let source = unescape(r.next()?);
            (point == path).then_some(Live { source, fstype })
        })
        .next_back())
}

/// Whether the mounted `source` is the `device` fstab names: the same
/// text, the same node after links (`UUID=`, `LABEL=`, `/dev/disk/…`), or
/// for a loop device the image file behind it.
fn same_device(device: &str, source: &str) -> bool {
    if device == source {
        return true;
    }
    let named = match device.split_once('=') {
        Some(("UUID", id)) => format!("/dev/disk/by-uuid/{id}"),
        Some(("LABEL", id)) => format!("/dev/disk/by-label/{id}"),
        Some(("PARTUUID", id)) => format!("/dev/disk/by-partuuid/{id}"),
        _ => device.to_string(),
    };
    let Ok(want) = fs::canonicalize(&named) else {
        return false;
    };
    if let Some(loop_name) = source
        .strip_prefix("/dev/")
        .filter(|n| n.starts_with("loop"))
    {
        let backing = fs::read_to_string(format!("/sys/block/{loop_name}/loop/backing_file"));
        if let Ok(file) = backing {
            return fs::canonicalize(file.trim()).is_ok_and(|f| f == want);
        }
    }
    fs::canonicalize(source).is_ok_and(|s| s == want)
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let (_, current) = read_fstab(&d.fstab, &d.path)?;
    let now = live(&d.path)?;
    let mut plan = Plan::new(json!({
        "fstab": current.as_ref().map(|e| e.line(&d.path)),
        "mounted": now.as_ref().map(|l| json!({"source": l.source, "fstype": l.fstype})),
    }));
    let line = |e: &Option<Entry>| e.as_ref().map_or(Json::Null, |e| json!(e.line(&d.path)));
    let Some(want) = &d.entry else {
        if now.is_some() || current.is_some() {
            plan.action = crate::protocol::Action::Delete;
            if let Some(l) = &now {
                plan.changes
                    .push(change("mounted", json!(l.source), Json::Null));
            }
            if current.is_some() {
                plan.changes
                    .push(change("fstab", line(&current), Json::Null));
            }
        }
        return Ok(plan);
    };
    if current.as_ref() != Some(want) {
        plan.change("fstab", line(&current), json!(want.line(&d.path)));
    }
    match (d.state, &now) {
        (State::Mounted, None) => plan.change("mounted", false, json!(want.device)),
        (State::Mounted, Some(l))
            if l.fstype != want.fstype || !same_device(&want.device, &l.source) =>
        {
            plan.change("mounted", json!(l.source), json!(want.device));
        }
        (State::Mounted, Some(_)) => {
            let old = current.as_ref().map(|e| e.options.as_str());
            if old.is_some_and(|o| o != want.options) {
                plan.change("options", json!(old), json!(want.options));
            }
        }
        (State::Unmounted, Some(l)) => plan.change("mounted", json!(l.source), false),
        _ => {}
    }
    Ok(plan)
}

fn change(attr: &str, from: Json, to: Json) -> crate::protocol::AttrChange {
    crate::protocol::AttrChange {
        attr: attr.into(),
        from,
        to,
    }
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    let wants = |attr: &str| plan.changes.iter().any(|c| c.attr == attr);
    let mounted = live(&d.path)?.is_some();
    // Unmount first: for `absent`, `unmounted`, or a different device.
    if mounted && (d.state == State::Absent || d.state == State::Unmounted || wants("mounted")) {
        sys::run_ok("umount", &[&d.path])?;
    }
    if wants("fstab") {
        write_fstab(&d)?;
    }
    let Some(want) = &d.entry else {
        return Ok(());
    };
    if d.state != State::Mounted {
        return Ok(());
    }
    if wants("mounted") {
        fs::create_dir_all(&d.path).map_err(|e| format!("creating {}: {e}", d.path))?;
        let mut args = vec!["-t", want.fstype.as_str(), "-o", want.options.as_str()];
        args.extend([want.device.as_str(), d.path.as_str()]);
        sys::run_ok("mount", &args)?;
    } else if wants("options") {
        let options = format!("remount,{}", want.options);
        sys::run_ok("mount", &["-o", &options, &d.path])?;
    }
    Ok(())
}

/// fstab with the mount point's lines replaced by the desired one (or
/// removed), every other line as it was.
fn write_fstab(d: &Desired) -> Result<(), String> {
    let (text, _) = read_fstab(&d.fstab, &d.path)?;
    let mut lines: Vec<String> = Vec::new();
    let mut placed = false;
    for line in text.lines() {
        match Entry::parse(line) {
            Some((p, _)) if p == d.path => {
                if let (Some(e), false) = (&d.entry, placed) {
                    lines.push(e.line(&d.path));
                    placed = true;
                }
            }
            _ => lines.push(line.to_string()),
        }
    }
    if let (Some(e), false) = (&d.entry, placed) {
        lines.push(e.line(&d.path));
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    let mode = fs::metadata(&d.fstab)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    sys::atomic_write(Path::new(&d.fstab), out.as_bytes(), Some(mode), None, None)
        .map_err(|e| format!("writing {}: {e}", d.fstab))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_fields_round_trip_with_escapes() {
        let e = Entry {
            device: "/srv/my disk.img".into(),
            fstype: "ext4".into(),
            options: "loop,noatime".into(),
            dump: 0,
            pass: 2,
        };
        let line = e.line("/mnt/a b");
        assert_eq!(
            line,
            "/srv/my\\040disk.img\t/mnt/a\\040b\text4\tloop,noatime\t0\t2"
        );
        assert_eq!(Entry::parse(&line), Some(("/mnt/a b".into(), e)));
        assert_eq!(Entry::parse("  # a comment"), None);
        let short = Entry::parse("tmpfs /tmp tmpfs").map(|(_, e)| e);
        assert_eq!(
            short.map(|e| (e.options, e.pass)),
            Some(("defaults".into(), 0))
        );
    }
}
