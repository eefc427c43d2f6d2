//! The inventory: `host` and `group` items, evaluated once (they cannot see
//! `host` or `facts`), and the merge of vars.
//!
//! Groups nest: `group "prod" { children = ["web", "db"] }` puts every host
//! of `web` and `db` in `prod` too. A host's vars merge its groups from the
//! outermost parent to the group the host names (parent < child), the
//! host's groups in the order it lists them (a later group wins over an
//! earlier sibling), and the host's own vars last.

use crate::diag::{Diag, Loc};
use crate::eval::{merge, Evaluator};
use crate::fs::FileSystem;
use crate::program::Program;
use crate::value::Value;
use mc_grammar::ast::{Field, InventoryDecl, Item};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct HostEntry {
    pub info: mc_ir::HostInfo,
    /// Merged vars.
    pub vars: Value,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub hosts: Vec<HostEntry>,
    /// Declared groups: vars and where declared.
    pub groups: BTreeMap<String, (Value, Loc)>,
    /// Each group's child groups, as declared.
    pub children: BTreeMap<String, Vec<String>>,
}

impl Inventory {
    pub fn host(&self, name: &str) -> Option<&HostEntry> {
        self.hosts.iter().find(|h| h.info.name == name)
    }

    /// Every group name: declared, or named in a host's `groups`.
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.groups.keys().cloned().collect();
        for h in &self.hosts {
            names.extend(h.info.groups.iter().cloned());
        }
        names.sort();
        names.dedup();
        names
    }
}

pub fn evaluate(prog: &Program, fs: &dyn FileSystem) -> (Inventory, Vec<Diag>) {
    let mut ev = Evaluator::new(prog, fs, None);
    let mut inv = Inventory::default();
    let mut raw_hosts: Vec<(mc_ir::HostInfo, Value, Loc)> = Vec::new();
    let mut diags = Vec::new();
    for (fi, m) in prog.user_modules() {
        for (offset, item) in &m.items {
            match item.as_ref() {
                Item::Group(g) => {
                    let loc = prog.loc(fi, *offset, g.name.span);
                    if let Some((_, first)) = inv.groups.get(&g.name.value) {
                        diags.push(duplicate("group", &g.name.value, loc, first.clone()));
                        continue;
                    }
                    let mut vars = Value::record(BTreeMap::new());
                    for f in &g.fields {
                        if f.name.name == "vars" {
                            if let Some(v) = record_field(&mut ev, fi, *offset, f, "vars") {
                                vars = v;
                            }
                        }
                        if f.name.name == "children" {
                            if let Some(c) = children_field(&mut ev, fi, *offset, f) {
                                inv.children.insert(g.name.value.clone(), c);
                            }
                        }
                    }
                    inv.groups.insert(g.name.value.clone(), (vars, loc));
                }
                Item::Host(h) => {
                    let loc = prog.loc(fi, *offset, h.name.span);
                    if let Some((_, _, first)) =
                        raw_hosts.iter().find(|(i, _, _)| i.name == h.name.value)
                    {
                        diags.push(duplicate("host", &h.name.value, loc, first.clone()));
                        continue;
                    }
                    let (info, vars) = host_fields(&mut ev, fi, *offset, h);
                    raw_hosts.push((info, vars, loc));
                }
                _ => {}
            }
        }
    }
    let parents = parents_of(&inv, &raw_hosts, &mut diags);
    for (mut info, own, loc) in raw_hosts {
        info.groups = with_ancestors(&info.groups, &parents);
        let mut vars = Value::record(BTreeMap::new());
        for g in &info.groups {
            if let Some((gv, _)) = inv.groups.get(g) {
                vars = merge(&vars, gv);
            }
        }
        vars = merge(&vars, &own);
        inv.hosts.push(HostEntry { info, vars, loc });
    }
    diags.extend(var_kinds(&inv.hosts));
    diags.append(&mut ev.diags);
    (inv, diags)
}

/// Every host as `hosts_in` returns it, in declaration order.
pub fn fleet(hosts: &[HostEntry]) -> std::sync::Arc<Vec<Value>> {
    std::sync::Arc::new(
        hosts
            .iter()
            .map(|h| host_record(&h.info, &h.vars))
            .collect(),
    )
}

/// A host as the language sees it (`host` inside `on`, an item of
/// `hosts_in`): `name`, `address`, `groups` (with parent groups) and
/// merged `vars`.
pub fn host_record(info: &mc_ir::HostInfo, vars: &Value) -> Value {
    let groups = info.groups.iter().map(|g| Value::str(g.as_str())).collect();
    Value::record(BTreeMap::from([
        ("name".to_string(), Value::str(info.name.as_str())),
        ("address".to_string(), Value::str(info.address.as_str())),
        ("groups".to_string(), Value::list(groups)),
        ("vars".to_string(), vars.clone()),
    ]))
}

/// `children = ["web", "db"]`: a list of group names.
fn children_field(ev: &mut Evaluator, fi: usize, offset: u32, f: &Field) -> Option<Vec<String>> {
    let v = ev.eval_const(fi, offset, &f.value).ok()?;
    match &v {
        Value::List(l) if l.iter().all(|g| g.as_str().is_some()) => Some(
            l.iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
        ),
        other => {
            let loc = ev.prog.loc(fi, offset, f.value.span());
            ev.diags.push(
                Diag::error(
                    "E0405",
                    loc,
                    format!(
                        "group field `children` must be a list of group names, found {}",
                        crate::types::describe_value(other)
                    ),
                )
                .label("expected `[\"web\", \"db\"]`"),
            );
            None
        }
    }
}

/// Each group's parents, in declaration order. A child that is no group
/// (declared, or named by a host) is E0409; a group that contains itself
/// through its children is E0410.
fn parents_of(
    inv: &Inventory,
    hosts: &[(mc_ir::HostInfo, Value, Loc)],
    diags: &mut Vec<Diag>,
) -> BTreeMap<String, Vec<String>> {
    let known: std::collections::BTreeSet<&str> = inv
        .groups
        .keys()
        .map(String::as_str)
        .chain(
            hosts
                .iter()
                .flat_map(|(i, _, _)| i.groups.iter().map(String::as_str)),
        )
        .collect();
    let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (parent, children) in &inv.children {
        let loc = inv.groups.get(parent).map(|(_, l)| l.clone());
        for child in children {
            if !known.contains(child.as_str()) {
                if let Some(loc) = &loc {
                    let mut d = Diag::error(
                        "E0409",
                        loc.clone(),
                        format!("group `{parent}` lists child `{child}`, which is not a group"),
                    )
                    .label("unknown child group");
                    if let Some(s) = crate::suggest::closest(child, known.iter().copied()) {
                        d = d.note(format!("did you mean `{s}`?"));
                    }
                    diags.push(
                        d.note("declare it with `group \"NAME\" { … }`, or put a host in it"),
                    );
                }
                continue;
            }
            parents
                .entry(child.clone())
                .or_default()
                .push(parent.clone());
        }
    }
    for (group, (_, loc)) in &inv.groups {
        if ancestors(group, &parents).contains(group) {
            diags.push(
                Diag::error(
                    "E0410",
                    loc.clone(),
                    format!("group `{group}` contains itself through `children`"),
                )
                .label("part of a cycle of groups")
                .note("a group's children cannot lead back to it; remove one `children` entry"),
            );
        }
    }
    parents
}

/// Every group above `group`, outermost first; stops at cycles.
fn ancestors(group: &str, parents: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    // Depth-first over parents, so that a grandparent comes before a parent.
    fn visit(
        g: &str,
        parents: &BTreeMap<String, Vec<String>>,
        seen: &mut std::collections::BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        for p in parents.get(g).into_iter().flatten() {
            if seen.insert(p.clone()) {
                visit(p, parents, seen, out);
                out.push(p.clone());
            }
        }
    }
    visit(group, parents, &mut seen, &mut out);
    out
}

/// A host's groups with every ancestor group, each parent before its
/// child, and otherwise in the host's order.
fn with_ancestors(groups: &[String], parents: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        for a in ancestors(g, parents)
            .into_iter()
            .chain(std::iter::once(g.clone()))
        {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

fn duplicate(what: &str, name: &str, loc: Loc, first: Loc) -> Diag {
    Diag::error("E0404", loc, format!("{what} `{name}` is declared twice"))
        .label("declared again here")
        .secondary(first, "first declared here")
        .note(format!(
            "merge the two `{what} \"{name}\"` entries into one"
        ))
}

fn record_field(
    ev: &mut Evaluator,
    fi: usize,
    offset: u32,
    f: &Field,
    what: &str,
) -> Option<Value> {
    let v = ev.eval_const(fi, offset, &f.value).ok()?;
    match v {
        Value::Record(_) => Some(v),
        other => {
            let loc = ev.prog.loc(fi, offset, f.value.span());
            ev.diags.push(
                Diag::error(
                    "E0405",
                    loc,
                    format!("`{what}` must be a record, found {}", other.kind()),
                )
                .label("expected `{ name = value, … }`"),
            );
            None
        }
    }
}

fn host_fields(
    ev: &mut Evaluator,
    fi: usize,
    offset: u32,
    h: &InventoryDecl,
) -> (mc_ir::HostInfo, Value) {
    let mut info = mc_ir::HostInfo {
        name: h.name.value.clone(),
        address: h.name.value.clone(),
        user: None,
        port: None,
        transport: mc_ir::Transport::Ssh,
        r#become: false,
        groups: Vec::new(),
        ssh_key: None,
    };
    let mut vars = Value::record(BTreeMap::new());
    for f in &h.fields {
        let name = f.name.name.as_str();
        if name == "vars" {
            if let Some(v) = record_field(ev, fi, offset, f, "vars") {
                vars = v;
            }
            continue;
        }
        let Ok(v) = ev.eval_const(fi, offset, &f.value) else {
            continue;
        };
        let loc = ev.prog.loc(fi, offset, f.value.span());
        let mut bad = |expected: &str, v: &Value| {
            ev.diags.push(
                Diag::error(
                    "E0405",
                    loc.clone(),
                    format!(
                        "host field `{name}` must be {expected}, found {}",
                        crate::types::describe_value(v)
                    ),
                )
                .label(format!("expected {expected}")),
            );
        };
        match (name, &v) {
            ("address", Value::Str(s)) => info.address = s.to_string(),
            ("user", Value::Str(s)) => info.user = Some(s.to_string()),
            ("port", Value::Int(p)) => match u16::try_from(*p) {
                Ok(p) if p > 0 => info.port = Some(p),
                _ => bad("a port number (1–65535)", &v),
            },
            ("groups", Value::List(l)) if l.iter().all(|g| g.as_str().is_some()) => {
                info.groups = l
                    .iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect();
            }
            ("transport", Value::Str(s)) if &**s == "ssh" => info.transport = mc_ir::Transport::Ssh,
            ("transport", Value::Str(s)) if &**s == "local" => {
                info.transport = mc_ir::Transport::Local
            }
            ("transport", Value::Str(s)) if &**s == "agent" => {
                info.transport = mc_ir::Transport::Agent
            }
            ("become", Value::Bool(b)) => info.r#become = *b,
            ("ssh_key", Value::Str(s)) if !s.is_empty() => {
                // Relative to the file that declares the host, like every
                // path the language reads.
                let dir = ev.prog.modules.get(fi).and_then(|m| m.fs_path.parent());
                let key = match dir {
                    Some(d) if !s.starts_with('/') => d.join(&**s),
                    _ => std::path::PathBuf::from(&**s),
                };
                info.ssh_key = Some(key.to_string_lossy().into_owned());
            }
            ("address" | "user", _) => bad("a String", &v),
            ("ssh_key", _) => bad("a path to a private key", &v),
            ("port", _) => bad("an Int", &v),
            ("groups", _) => bad("a list of group names", &v),
            ("transport", _) => bad("\"ssh\", \"local\" or \"agent\"", &v),
            ("become", _) => bad("a Bool", &v),
            // Unknown fields are reported by resolution.
            _ => {}
        }
    }
    (info, vars)
}

/// Host vars are typed across the inventory: a var has one kind of value on
/// every host that sets it, so code reading it means the same thing
/// everywhere.
fn var_kinds(hosts: &[HostEntry]) -> Vec<Diag> {
    let mut first: BTreeMap<&str, (&'static str, &HostEntry)> = BTreeMap::new();
    let mut out = Vec::new();
    for h in hosts {
        let Value::Record(vars) = &h.vars else {
            continue;
        };
        for (name, v) in vars.iter() {
            let kind = match v {
                Value::Null => continue,
                Value::Secret(_) => "String",
                other => other.kind(),
            };
            match first.get(name.as_str()) {
                None => {
                    first.insert(name, (kind, h));
                }
                Some((k, other)) if *k != kind => {
                    out.push(
                        Diag::error(
                            "E0408",
                            h.loc.clone(),
                            format!(
                                "var `{name}` is {} on host `{}` but {} on host `{}`",
                                article(kind),
                                h.info.name,
                                article(k),
                                other.info.name
                            ),
                        )
                        .label(format!("`{name}` is {} here", article(kind)))
                        .secondary(other.loc.clone(), format!("`{name}` is {} here", article(k)))
                        .note("a var has one type across the inventory; set it from the host itself or from one of its groups"),
                    );
                }
                Some(_) => {}
            }
        }
    }
    out
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U' | 'a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}
