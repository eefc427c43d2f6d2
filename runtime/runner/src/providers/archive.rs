//! `archive`: a `.tar`, `.tar.gz`, `.tar.xz` or `.zip` file on the host,
//! unpacked into a directory.
//!
//! The format comes from the file's first bytes, not its name. Idempotence
//! rests on a record per destination in [`RECORD_DIR`]: the archive's
//! sha256, owner, group and the members unpacked. The probe re-unpacks when
//! the archive's checksum differs from the record, when the ownership asked
//! for changed, or when a recorded member is missing.
//!
//! Safety: every member is checked before anything is written. Absolute
//! names, `..` components, links whose target leaves the destination, and
//! device or fifo members make the whole archive refused. While unpacking, a
//! member is never written through a symbolic link that already exists in
//! the destination.

use super::{Plan, Spec};
use crate::protocol::{sha256_hex, Action, AttrChange};
use crate::sys;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// What mc unpacked where: one JSON file per destination.
pub const RECORD_DIR: &str = "/var/lib/mc/archives";

struct Desired {
    path: String,
    source: String,
    present: bool,
    owner: Option<String>,
    group: Option<String>,
}

fn desired(spec: &Spec) -> Result<Desired, String> {
    let path = spec.str_or_title("path")?.to_string();
    let source = spec
        .str("source")?
        .ok_or("`source` is required")?
        .to_string();
    for (attr, p) in [("path", &path), ("source", &source)] {
        if !p.starts_with('/') {
            return Err(format!("`{attr}` must be absolute, got {p:?}"));
        }
    }
    if path == "/" {
        return Err("mc never unpacks into the root directory".into());
    }
    Ok(Desired {
        present: spec.choice("state", &["present", "absent"], "present")? == "present",
        owner: spec.str("owner")?.map(str::to_string),
        group: spec.str("group")?.map(str::to_string),
        path,
        source,
    })
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Record {
    source: String,
    sha256: String,
    owner: Option<String>,
    group: Option<String>,
    /// Relative paths, in archive order.
    members: Vec<String>,
}

fn record_path(dest: &str) -> PathBuf {
    Path::new(RECORD_DIR).join(format!("{}.json", sha256_hex(dest)))
}

fn read_record(dest: &str) -> Option<Record> {
    let data = fs::read(record_path(dest)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// The archive's sha256, read in chunks (archives can be large).
fn file_sha256(path: &str) -> Result<Option<String>, String> {
    match super::download::file_sha256(Path::new(path)) {
        Ok(sum) => Ok(Some(sum)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {path}: {e}")),
    }
}

fn change(attr: &str, from: impl Into<Json>, to: impl Into<Json>) -> AttrChange {
    AttrChange {
        attr: attr.into(),
        from: from.into(),
        to: to.into(),
    }
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec)?;
    let record = read_record(&d.path);
    let mut plan = Plan::new(match &record {
        Some(r) => json!({"sha256": r.sha256, "members": r.members.len()}),
        None => Json::Null,
    });
    if !d.present {
        if record.is_some() {
            plan.action = Action::Delete;
            plan.changes.push(change("state", "present", "absent"));
        }
        return Ok(plan);
    }
    // The source may be planned by a `download` applied just before.
    let want = file_sha256(&d.source)?
        .map(Json::String)
        .unwrap_or_else(|| json!(format!("(sha256 of {} once it exists)", d.source)));
    let Some(r) = record else {
        plan.action = Action::Create;
        plan.changes.push(change("sha256", Json::Null, want));
        return Ok(plan);
    };
    if json!(r.sha256) != want {
        plan.change("sha256", r.sha256.as_str(), want);
    }
    if d.owner.is_some() && d.owner != r.owner {
        plan.change("owner", r.owner.clone(), d.owner.clone());
    }
    if d.group.is_some() && d.group != r.group {
        plan.change("group", r.group.clone(), d.group.clone());
    }
    let dest = Path::new(&d.path);
    if let Some(m) = r
        .members
        .iter()
        .find(|m| fs::symlink_metadata(dest.join(m)).is_err())
    {
        plan.change("members", format!("{m} missing"), "unpacked");
    }
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec)?;
    if plan.action == Action::Delete {
        return remove_unpacked(&d.path);
    }
    let source = Path::new(&d.source);
    let sha256 = file_sha256(&d.source)?.ok_or_else(|| format!("{} does not exist", d.source))?;
    let format = Format::sniff(source)?;
    let members = list_checked(source, format).map_err(|e| format!("{}: {e}", d.source))?;
    let dest = Path::new(&d.path);
    fs::create_dir_all(dest).map_err(|e| format!("creating {}: {e}", d.path))?;
    unpack(source, format, dest).map_err(|e| format!("unpacking {}: {e}", d.source))?;
    let uid = d.owner.as_deref().map(sys::uid_of).transpose()?;
    let gid = d.group.as_deref().map(sys::gid_of).transpose()?;
    if uid.is_some() || gid.is_some() {
        for m in &members {
            let p = dest.join(m);
            std::os::unix::fs::lchown(&p, uid, gid)
                .map_err(|e| format!("chown {}: {e}", p.display()))?;
        }
    }
    let record = Record {
        source: d.source.clone(),
        sha256,
        owner: d.owner.clone(),
        group: d.group.clone(),
        members,
    };
    write_record(&d.path, &record)
}

fn write_record(dest: &str, record: &Record) -> Result<(), String> {
    fs::create_dir_all(RECORD_DIR).map_err(|e| format!("creating {RECORD_DIR}: {e}"))?;
    let _ = fs::set_permissions(RECORD_DIR, fs::Permissions::from_mode(0o700));
    let json = serde_json::to_vec_pretty(record).map_err(|e| e.to_string())?;
    sys::atomic_write(&record_path(dest), &json, Some(0o600), None, None)
        .map_err(|e| format!("writing the archive record: {e}"))
}

/// Removes the recorded members (deepest first; directories only when
/// empty, so files added by others stay), then the record.
fn remove_unpacked(dest: &str) -> Result<(), String> {
    let Some(record) = read_record(dest) else {
        return Ok(());
    };
    let mut members: Vec<&String> = record.members.iter().collect();
    members.sort_by_key(|m| std::cmp::Reverse(Path::new(m).components().count()));
    for m in members {
        let p = Path::new(dest).join(m);
        match fs::symlink_metadata(&p) {
            Ok(meta) if meta.is_dir() => {
                let _ = fs::remove_dir(&p);
            }
            Ok(_) => fs::remove_file(&p).map_err(|e| format!("removing {}: {e}", p.display()))?,
            Err(_) => {}
        }
    }
    fs::remove_file(record_path(dest)).map_err(|e| format!("removing the archive record: {e}"))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Tar,
    TarGz,
    TarXz,
    Zip,
}

impl Format {
    /// From the file's first bytes.
    fn sniff(source: &Path) -> Result<Format, String> {
        let mut head = Vec::with_capacity(512);
        open(source)?
            .take(512)
            .read_to_end(&mut head)
            .map_err(|e| format!("reading {}: {e}", source.display()))?;
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Ok(Format::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Ok(Format::TarGz)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Ok(Format::TarXz)
        } else if head.get(257..262) == Some(b"ustar") {
            Ok(Format::Tar)
        } else {
            Err(format!(
                "{} is not a tar, tar.gz, tar.xz or zip archive",
                source.display()
            ))
        }
    }
}

fn open(source: &Path) -> Result<File, String> {
    File::open(source).map_err(|e| format!("opening {}: {e}", source.display()))
}

/// A tar stream over the (decompressed) archive.
fn tar_reader(source: &Path, format: Format) -> Result<tar::Archive<Box<dyn Read>>, String> {
    let file = io::BufReader::new(open(source)?);
    let reader: Box<dyn Read> = match format {
        Format::TarGz => Box::new(flate2::read::GzDecoder::new(file)),
        Format::TarXz => Box::new(lzma_rust2::XzReader::new(file, true)),
        _ => Box::new(file),
    };
    Ok(tar::Archive::new(reader))
}

fn zip_reader(source: &Path) -> Result<zip::ZipArchive<File>, String> {
    zip::ZipArchive::new(open(source)?).map_err(|e| e.to_string())
}

/// One member as found in the archive, before anything is written.
struct Member {
    name: PathBuf,
    kind: Kind,
}

enum Kind {
    Dir,
    File,
    Link(PathBuf),
    HardLink(PathBuf),
    Other,
}

/// Every member's relative path, or the reason the archive is refused.
fn list_checked(source: &Path, format: Format) -> Result<Vec<String>, String> {
    let members = match format {
        Format::Zip => zip_members(source)?,
        _ => tar_members(source, format)?,
    };
    let mut names = Vec::with_capacity(members.len());
    for m in &members {
        let shown = m.name.display();
        let name = contained(&m.name).ok_or_else(|| {
            format!("refused: member {shown:?} would land outside the destination")
        })?;
        match &m.kind {
            Kind::Link(target) => {
                let from = name.parent().unwrap_or(Path::new(""));
                if target.is_absolute() || contained(&from.join(target)).is_none() {
                    return Err(format!(
                        "refused: link {shown:?} points outside the destination ({})",
                        target.display()
                    ));
                }
            }
            Kind::HardLink(target) if contained(target).is_none() => {
                return Err(format!(
                    "refused: hard link {shown:?} points outside the destination ({})",
                    target.display()
                ));
            }
            Kind::Other => {
                return Err(format!(
                    "refused: member {shown:?} is a device, fifo or other special file"
                ))
            }
            _ => {}
        }
        if !name.as_os_str().is_empty() {
            names.push(name.display().to_string());
        }
    }
    Ok(names)
}

/// `path` without `.` components, if it stays inside its root (no
/// absolute start, no `..` that climbs above the start).
fn contained(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn tar_members(source: &Path, format: Format) -> Result<Vec<Member>, String> {
    let mut archive = tar_reader(source, format)?;
    let entries = archive.entries().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading the archive: {e}"))?;
        // The raw name: `path()` would already drop a leading `/`.
        let name = PathBuf::from(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        let link = || {
            entry
                .link_name_bytes()
                .map(|l| PathBuf::from(String::from_utf8_lossy(&l).into_owned()))
                .unwrap_or_default()
        };
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Symlink => Kind::Link(link()),
            tar::EntryType::Link => Kind::HardLink(link()),
            t if t.is_pax_global_extensions()
                || t.is_pax_local_extensions()
                || t.is_gnu_longname()
                || t.is_gnu_longlink() =>
            {
                continue
            }
            _ => Kind::Other,
        };
        out.push(Member { name, kind });
    }
    Ok(out)
}

fn zip_members(source: &Path) -> Result<Vec<Member>, String> {
    let mut zip = zip_reader(source)?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| e.to_string())?;
        let name = PathBuf::from(zip_name(&f)?);
        let kind = if f.is_dir() {
            Kind::Dir
        } else if f.is_symlink() {
            let mut target = String::new();
            f.read_to_string(&mut target).map_err(|e| e.to_string())?;
            Kind::Link(PathBuf::from(target))
        } else {
            Kind::File
        };
        out.push(Member { name, kind });
    }
    Ok(out)
}

/// A zip member's name as stored (not sanitised: the checks need the raw one).
fn zip_name<R: Read>(f: &zip::read::ZipFile<'_, R>) -> Result<String, String> {
    f.name()
        .map(|n| n.into_owned())
        .map_err(|e| format!("a member name: {e}"))
}

/// Unpacks an archive that [`list_checked`] accepted.
fn unpack(source: &Path, format: Format, dest: &Path) -> Result<(), String> {
    match format {
        Format::Zip => unpack_zip(source, dest),
        _ => {
            let mut archive = tar_reader(source, format)?;
            archive.set_overwrite(true);
            let entries = archive.entries().map_err(|e| e.to_string())?;
            for entry in entries {
                let mut entry = entry.map_err(|e| e.to_string())?;
                let name = entry.path().map_err(|e| e.to_string())?.into_owned();
                refuse_link_in_the_way(dest, &name)?;
                // unpack_in also refuses a path that leaves `dest`, even
                // through a symbolic link already on disk.
                if !entry.unpack_in(dest).map_err(|e| e.to_string())? {
                    return Err(format!("refused: member {name:?} leaves the destination"));
                }
            }
            Ok(())
        }
    }
}

/// A symbolic link where a member's parent directory should be could lead
/// writes anywhere: refuse it.
fn refuse_link_in_the_way(dest: &Path, name: &Path) -> Result<(), String> {
    let mut p = dest.to_path_buf();
    let parts: Vec<Component> = name.components().collect();
    for c in parts.iter().take(parts.len().saturating_sub(1)) {
        p.push(c);
        if fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "refused: {} is a symbolic link, a member would be written through it",
                p.display()
            ));
        }
    }
    Ok(())
}

fn unpack_zip(source: &Path, dest: &Path) -> Result<(), String> {
    let mut zip = zip_reader(source)?;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).map_err(|e| e.to_string())?;
        let name = zip_name(&f)?;
        let rel = contained(Path::new(&name))
            .ok_or_else(|| format!("refused: member {name:?} leaves the destination"))?;
        refuse_link_in_the_way(dest, &rel)?;
        let target = dest.join(&rel);
        if f.is_dir() {
            fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        if fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        }
        if f.is_symlink() {
            let mut link = String::new();
            f.read_to_string(&mut link).map_err(|e| e.to_string())?;
            std::os::unix::fs::symlink(&link, &target)
                .map_err(|e| format!("{}: {e}", target.display()))?;
            continue;
        }
        let mode = f.unix_mode().map(|m| m & 0o777).unwrap_or(0o644);
        let mut out = File::create(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        io::copy(&mut f, &mut out).map_err(|e| format!("{}: {e}", target.display()))?;
        out.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(())
}
