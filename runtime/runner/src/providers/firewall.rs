//! `firewall_rule`: one rule of the nftables table mc owns, `inet mc`.
//!
//! Every write replaces the whole table in one `nft -f` transaction, so the
//! kernel only ever holds a complete rule set. Each rule carries its
//! declaration in its comment (`mc:NAME|ORDER|PROTO|PORT|FROM|ACTION`): the
//! probe reads the rules back from `nft list table inet mc`, and an apply
//! rebuilds the table from them plus the rule being applied.
//!
//! The input chain always starts by accepting established connections and
//! the loopback interface, then the rules by `order`, then by name; its
//! policy is accept, so only `drop`/`reject` rules block anything.
//!
//! Safety net: the rule set this batch would leave (the live rules with
//! every `firewall_rule` of the request applied) is checked against a new
//! connection from the SSH client mc runs over to its SSH port. If a rule
//! would drop or reject it, the probe fails, so the plan is refused, and so
//! does the apply, unless a rule of the batch sets `allow_lockout`.

use super::{Plan, Spec};
use crate::protocol::{Action, AttrChange};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::Mutex;

const TABLE: &str = "inet mc";

#[derive(Clone, Debug, PartialEq)]
struct Rule {
    name: String,
    order: i64,
    proto: String,
    port: Option<u16>,
    from: Option<String>,
    action: String,
}

struct Desired {
    rule: Rule,
    present: bool,
    allow_lockout: bool,
}

fn desired(res: &mc_ir::Resource) -> Result<Desired, String> {
    let spec = Spec {
        res,
        digests: None,
        sensitive: &[],
    };
    let name = spec.str_or_title("name")?.to_string();
    if name.is_empty()
        || name.len() > 48
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "a firewall rule name has 1 to 48 letters, digits, '-', '_' or '.', got {name:?}"
        ));
    }
    let proto = spec.choice("proto", &["tcp", "udp", "any"], "tcp")?;
    let port = match spec.int("port")? {
        None => None,
        Some(p) => Some(
            u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`port` must be between 1 and 65535, got {p}"))?,
        ),
    };
    if port.is_some() && proto == "any" {
        return Err("a `port` needs `proto = \"tcp\"` or `\"udp\"`".into());
    }
    let from = spec.str("from")?.map(str::to_string);
    if let Some(f) = &from {
        parse_net(f)?;
    }
    Ok(Desired {
        rule: Rule {
            name,
            order: spec.int("order")?.unwrap_or(100),
            proto,
            port,
            from,
            action: spec.choice("action", &["accept", "drop", "reject"], "accept")?,
        },
        present: spec.choice("state", &["present", "absent"], "present")? == "present",
        allow_lockout: spec.bool("allow_lockout", false)?,
    })
}

/// An address or CIDR network: (address, prefix length).
fn parse_net(s: &str) -> Result<(IpAddr, u8), String> {
    let bad = || format!("`from` must be an IP address or network like 10.0.0.0/8, got {s:?}");
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().map_err(|_| bad())?)),
        None => (s, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    if len > max {
        return Err(bad());
    }
    Ok((addr, len))
}

fn net_contains(net: &str, ip: IpAddr) -> bool {
    let Ok((base, len)) = parse_net(net) else {
        return false;
    };
    match (base, ip) {
        (IpAddr::V4(b), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(b) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(b), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(b) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

impl Rule {
    fn comment(&self) -> String {
        format!(
            "mc:{}|{}|{}|{}|{}|{}",
            self.name,
            self.order,
            self.proto,
            self.port.map(|p| p.to_string()).unwrap_or_default(),
            self.from.clone().unwrap_or_default(),
            self.action
        )
    }

    fn from_comment(c: &str) -> Option<Rule> {
        let parts: Vec<&str> = c.strip_prefix("mc:")?.split('|').collect();
        let [name, order, proto, port, from, action] = parts.as_slice() else {
            return None;
        };
        Some(Rule {
            name: name.to_string(),
            order: order.parse().ok()?,
            proto: proto.to_string(),
            port: if port.is_empty() {
                None
            } else {
                Some(port.parse().ok()?)
            },
            from: (!from.is_empty()).then(|| from.to_string()),
            action: action.to_string(),
        })
    }

    /// The nft statement.
    fn nft(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = &self.from {
            let family = if f.contains(':') { "ip6" } else { "ip" };
            parts.push(format!("{family} saddr {f}"));
        }
        match (self.proto.as_str(), self.port) {
            ("any", _) => {}
            (p, Some(port)) => parts.push(format!("{p} dport {port}")),
            (p, None) => parts.push(format!("meta l4proto {p}")),
        }
        parts.push(self.action.clone());
        parts.push(format!("comment \"{}\"", self.comment()));
        parts.join(" ")
    }

    fn matches(&self, proto: &str, src: IpAddr, port: u16) -> bool {
        (self.proto == "any" || self.proto == proto)
            && self.port.is_none_or(|p| p == port)
            && self.from.as_deref().is_none_or(|f| net_contains(f, src))
    }

    fn json(&self) -> Json {
        json!({"order": self.order, "proto": self.proto, "port": self.port,
               "from": self.from, "action": self.action})
    }
}

fn nft(args: &[&str], input: Option<&str>) -> Result<String, String> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "nft is not installed on the host (declare `package \"nftables\"`)".to_string()
            } else {
                format!("running nft: {e}")
            }
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("writing to nft: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running nft: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "nft {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The rules in the live `inet mc` table, by name; empty when the table
/// does not exist.
fn live_rules() -> Result<BTreeMap<String, Rule>, String> {
    let text = match nft(&["list", "table", "inet", "mc"], None) {
        Ok(t) => t,
        Err(e) if e.contains("No such file") || e.contains("does not exist") => String::new(),
        Err(e) => return Err(e),
    };
    let mut rules = BTreeMap::new();
    for line in text.lines() {
        let Some(start) = line.find("comment \"mc:") else {
            continue;
        };
        let comment = line[start + 9..].trim_end().trim_end_matches('"');
        if let Some(r) = Rule::from_comment(comment) {
            rules.insert(r.name.clone(), r);
        }
    }
    Ok(rules)
}

/// The table's full text for `nft -f`: created if missing, deleted and
/// recreated in the same transaction.
fn render(rules: &BTreeMap<String, Rule>) -> String {
    let mut sorted: Vec<&Rule> = rules.values().collect();
    sorted.sort_by(|a, b| a.order.cmp(&b.order).then(a.name.cmp(&b.name)));
    let mut t = format!(
        "table {TABLE}\ndelete table {TABLE}\ntable {TABLE} {{\n  chain input {{\n    \
         type filter hook input priority filter; policy accept;\n    \
         ct state established,related accept\n    iif \"lo\" accept\n"
    );
    for r in sorted {
        t.push_str(&format!("    {}\n", r.nft()));
    }
    t.push_str("  }\n}\n");
    t
}

/// The firewall rules of the current request, set by the server before it
/// probes or applies a batch.
static BATCH: Mutex<Vec<mc_ir::Resource>> = Mutex::new(Vec::new());

pub fn set_batch<'a>(resources: impl Iterator<Item = &'a mc_ir::Resource>) {
    let mut batch = BATCH.lock().unwrap_or_else(|p| p.into_inner());
    *batch = resources
        .filter(|r| r.type_name == "firewall_rule")
        .cloned()
        .collect();
}

/// The SSH connection this runner serves: (client address, server port),
/// from `SSH_CONNECTION` of this process or, under sudo (which drops it),
/// of the nearest ancestor that has it.
fn ssh_connection() -> Option<(IpAddr, u16)> {
    let parse = |v: &str| {
        let f: Vec<&str> = v.split_whitespace().collect();
        Some((f.first()?.parse().ok()?, f.get(3)?.parse().ok()?))
    };
    if let Ok(v) = std::env::var("SSH_CONNECTION") {
        return parse(&v);
    }
    let mut pid = std::os::unix::process::parent_id();
    for _ in 0..16 {
        if pid <= 1 {
            return None;
        }
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            for var in env.split(|b| *b == 0) {
                if let Some(v) = var.strip_prefix(b"SSH_CONNECTION=") {
                    return parse(&String::from_utf8_lossy(v));
                }
            }
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        pid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|p| p.trim().parse().ok())?;
    }
    None
}

/// Refuses a rule set that would block new SSH connections from where mc
/// connects, unless a rule of the batch allows that.
fn check_ssh_kept(rules: &BTreeMap<String, Rule>, batch: &[Desired]) -> Result<(), String> {
    if batch.iter().any(|d| d.allow_lockout) {
        return Ok(());
    }
    let Some((client, port)) = ssh_connection() else {
        return Ok(());
    };
    let mut sorted: Vec<&Rule> = rules.values().collect();
    sorted.sort_by(|a, b| a.order.cmp(&b.order).then(a.name.cmp(&b.name)));
    match sorted.iter().find(|r| r.matches("tcp", client, port)) {
        Some(r) if r.action != "accept" => Err(format!(
            "refused: firewall rule `{}` would {} new SSH connections from {client} to port {port}, \
             the connection mc uses; accept them with a rule of lower `order`, or set \
             `allow_lockout = true` to apply anyway",
            r.name, r.action
        )),
        _ => Ok(()),
    }
}

/// The live rules with every rule of the batch applied.
fn after_batch(
    live: &BTreeMap<String, Rule>,
) -> Result<(BTreeMap<String, Rule>, Vec<Desired>), String> {
    let batch = BATCH.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut rules = live.clone();
    let mut wanted = Vec::new();
    for res in &batch {
        let Ok(d) = desired(res) else { continue };
        if d.present {
            rules.insert(d.rule.name.clone(), d.rule.clone());
        } else {
            rules.remove(&d.rule.name);
        }
        wanted.push(d);
    }
    Ok((rules, wanted))
}

fn change(attr: &str, from: impl Into<Json>, to: impl Into<Json>) -> AttrChange {
    AttrChange {
        attr: attr.into(),
        from: from.into(),
        to: to.into(),
    }
}

pub fn probe(spec: &Spec) -> Result<Plan, String> {
    let d = desired(spec.res)?;
    let live = live_rules()?;
    let current = live.get(&d.rule.name);
    let mut plan = Plan::new(current.map(Rule::json).unwrap_or(Json::Null));
    match (d.present, current) {
        (false, None) => return Ok(plan),
        (false, Some(_)) => {
            plan.action = Action::Delete;
            plan.changes.push(change("state", "present", "absent"));
        }
        (true, None) => {
            plan.action = Action::Create;
            plan.changes.push(change("rule", Json::Null, d.rule.nft()));
        }
        (true, Some(c)) if *c != d.rule => {
            plan.change("rule", c.nft(), d.rule.nft());
        }
        (true, Some(_)) => return Ok(plan),
    }
    // Only a change can cut the connection: a plan with none stays valid.
    let (rules, batch) = after_batch(&live)?;
    check_ssh_kept(&rules, &batch)?;
    Ok(plan)
}

pub fn fix(spec: &Spec, plan: &Plan) -> Result<(), String> {
    let d = desired(spec.res)?;
    let mut rules = live_rules()?;
    let (after, batch) = after_batch(&rules)?;
    check_ssh_kept(&after, &batch)?;
    if plan.action == Action::Delete {
        rules.remove(&d.rule.name);
    } else {
        rules.insert(d.rule.name.clone(), d.rule);
    }
    nft(&["-f", "-"], Some(&render(&rules)))?;
    Ok(())
}
