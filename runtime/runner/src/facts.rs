//! Host facts, read from `/etc/os-release`, `/proc` and `/sys`.

use crate::providers::{package::Manager, service::systemd_running};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::fs;

/// Parses `KEY=value` / `KEY="value"` lines (os-release format).
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches(['"', '\'']).to_string(),
            )
        })
        .collect()
}

fn read_trimmed(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Debian-like, RedHat-like …: the family from `ID` and `ID_LIKE`.
fn family(os: &BTreeMap<String, String>) -> &'static str {
    let ids: Vec<&str> = os
        .get("ID")
        .into_iter()
        .chain(os.get("ID_LIKE"))
        .flat_map(|s| s.split_whitespace())
        .collect();
    if ids.iter().any(|i| matches!(*i, "debian" | "ubuntu")) {
        "debian"
    } else if ids
        .iter()
        .any(|i| matches!(*i, "rhel" | "fedora" | "centos"))
    {
        "redhat"
    } else if ids.contains(&"alpine") {
        "alpine"
    } else if ids.iter().any(|i| matches!(*i, "arch")) {
        "arch"
    } else if ids.iter().any(|i| i.contains("suse")) {
        "suse"
    } else {
        "unknown"
    }
}

fn memory_mb() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024)
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn fqdn(hostname: &str) -> String {
    crate::sys::run("hostname", &["-f"])
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| hostname.to_string())
}

/// Interfaces: name, MAC, and addresses when `ip` is available.
fn interfaces() -> Json {
    let mut out = BTreeMap::new();
    if let Ok(entries) = fs::read_dir("/sys/class/net") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let mac = read_trimmed(&format!("/sys/class/net/{name}/address"));
            out.insert(name, json!({"mac": mac, "addresses": []}));
        }
    }
    if let Ok(o) = crate::sys::run("ip", &["-o", "addr", "show"]) {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            // "2: eth0    inet 10.0.0.2/24 brd … scope global eth0"
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() > 3 && (parts[2] == "inet" || parts[2] == "inet6") {
                if let Some(Json::Array(a)) =
                    out.get_mut(parts[1]).and_then(|i| i.get_mut("addresses"))
                {
                    a.push(json!(parts[3]));
                }
            }
        }
    }
    json!(out)
}

/// All facts as one JSON object.
pub fn gather() -> Json {
    let os = parse_os_release(&fs::read_to_string("/etc/os-release").unwrap_or_default());
    let hostname = read_trimmed("/proc/sys/kernel/hostname").unwrap_or_default();
    json!({
        "os": {
            "family": family(&os),
            "distro": os.get("ID").cloned().unwrap_or_else(|| "unknown".into()),
            "version": os.get("VERSION_ID").cloned().unwrap_or_default(),
            "pretty_name": os.get("PRETTY_NAME").cloned().unwrap_or_default(),
            "arch": std::env::consts::ARCH,
        },
        "kernel": read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_default(),
        "fqdn": fqdn(&hostname),
        "hostname": hostname,
        "cpus": cpus(),
        "memory_mb": memory_mb(),
        "init": if systemd_running() { "systemd" } else { "sysvinit" },
        "pkg_manager": Manager::detect().map(Manager::name),
        "interfaces": interfaces(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_gives_family_and_version() {
        let os = parse_os_release("ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"24.04\"\n");
        assert_eq!(family(&os), "debian");
        assert_eq!(os["VERSION_ID"], "24.04");
        let os = parse_os_release("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n");
        assert_eq!(family(&os), "redhat");
    }

    #[test]
    fn facts_of_this_machine_have_every_key() {
        let f = gather();
        for key in [
            "os",
            "kernel",
            "hostname",
            "fqdn",
            "cpus",
            "memory_mb",
            "init",
            "pkg_manager",
            "interfaces",
        ] {
            assert!(f.get(key).is_some(), "missing {key}");
        }
        assert!(f["cpus"].as_u64().unwrap() >= 1);
        assert!(f["interfaces"].get("lo").is_some());
    }
}
