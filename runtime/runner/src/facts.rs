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

/// The fully qualified name from `/etc/hosts` (the canonical name of the
/// entry that lists the hostname), else the hostname itself. Never DNS: a
/// lookup per host per run costs a round trip at best, and the resolver's
/// 5 s retry when a server drops queries from a burst of hosts.
fn fqdn(hostname: &str) -> String {
    if hostname.contains('.') {
        return hostname.to_string();
    }
    let hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
    fqdn_from_hosts(&hosts, hostname).unwrap_or_else(|| hostname.to_string())
}

fn fqdn_from_hosts(hosts: &str, hostname: &str) -> Option<String> {
    hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let _address = words.next()?;
            let names: Vec<&str> = words.collect();
            names.contains(&hostname).then(|| names[0].to_string())
        })
        .find(|canonical| canonical.contains('.'))
}

/// Interfaces: name, MAC (from `/sys`) and addresses in CIDR form (from
/// `getifaddrs`, no `ip` process).
fn interfaces() -> Json {
    let mut out: BTreeMap<String, (Option<String>, Vec<String>)> = BTreeMap::new();
    if let Ok(entries) = fs::read_dir("/sys/class/net") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let mac = read_trimmed(&format!("/sys/class/net/{name}/address"));
            out.insert(name, (mac, Vec::new()));
        }
    }
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            if let Some(cidr) = cidr(a.address.as_ref(), a.netmask.as_ref()) {
                out.entry(a.interface_name).or_default().1.push(cidr);
            }
        }
    }
    json!(out
        .into_iter()
        .map(|(name, (mac, addresses))| (name, json!({"mac": mac, "addresses": addresses})))
        .collect::<BTreeMap<_, _>>())
}

/// `10.0.0.2/24` or `fe80::1/64`; `None` for non-IP entries (link layer).
fn cidr(
    address: Option<&nix::sys::socket::SockaddrStorage>,
    netmask: Option<&nix::sys::socket::SockaddrStorage>,
) -> Option<String> {
    let address = address?;
    let prefix = |bits: u32| format!("/{bits}");
    if let Some(v4) = address.as_sockaddr_in() {
        let len = netmask
            .and_then(|m| m.as_sockaddr_in())
            .map(|m| m.ip().to_bits().count_ones())
            .unwrap_or(32);
        return Some(format!("{}{}", v4.ip(), prefix(len)));
    }
    let v6 = address.as_sockaddr_in6()?;
    let len = netmask
        .and_then(|m| m.as_sockaddr_in6())
        .map(|m| m.ip().to_bits().count_ones())
        .unwrap_or(128);
    Some(format!("{}{}", v6.ip(), prefix(len)))
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
        "pkg_managers": Manager::all_present().into_iter().map(Manager::name).collect::<Vec<_>>(),
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
    fn fqdn_is_the_canonical_name_of_the_hosts_entry() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.9 web1.old web1\n10.0.0.5 web1.example.com web1 # ours\n";
        assert_eq!(
            fqdn_from_hosts(hosts, "web1").as_deref(),
            Some("web1.example.com")
        );
        assert_eq!(fqdn_from_hosts(hosts, "db1"), None);
        assert_eq!(fqdn_from_hosts("127.0.1.1 web1\n", "web1"), None);
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
        let lo = &f["interfaces"]["lo"]["addresses"];
        assert!(
            lo.as_array().unwrap().iter().any(|a| a == "127.0.0.1/8"),
            "{lo}"
        );
    }
}
