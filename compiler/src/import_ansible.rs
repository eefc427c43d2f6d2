//! `mc import ansible-inventory`: an Ansible inventory (INI or YAML, with
//! the `group_vars/` and `host_vars/` folders beside it) as mc `host` and
//! `group` items.
//!
//! Groups keep their children and vars; `web[01:10]` ranges expand;
//! `ansible_host`, `ansible_user`, `ansible_port`, `ansible_become` and
//! `ansible_connection=local` become host fields. Vars are typed: numbers
//! and booleans stay numbers and booleans, unless one var has values of
//! different kinds, in which case all its values become strings (mc gives a
//! var one type across the inventory). Whatever cannot be translated is
//! listed with its file and line.

use indexmap::IndexMap;
use serde_json::Value as Json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Something of the inventory that the translation leaves out.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub file: PathBuf,
    pub line: usize,
    pub what: String,
}

/// The translated inventory: mc source (not yet formatted) and what was
/// left out.
#[derive(Debug)]
pub struct Imported {
    pub source: String,
    pub hosts: usize,
    pub groups: usize,
    pub skipped: Vec<Skipped>,
}

#[derive(Default)]
struct Host {
    groups: Vec<String>,
    vars: IndexMap<String, (Json, Origin)>,
}

#[derive(Default)]
struct Group {
    children: Vec<String>,
    vars: IndexMap<String, (Json, Origin)>,
}

#[derive(Clone, Debug)]
struct Origin {
    file: PathBuf,
    line: usize,
}

#[derive(Default)]
struct Inventory {
    hosts: IndexMap<String, Host>,
    groups: IndexMap<String, Group>,
    skipped: Vec<Skipped>,
}

impl Inventory {
    fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    fn add_host(&mut self, name: &str, group: Option<&str>) -> &mut Host {
        if let Some(g) = group {
            self.groups.entry(g.to_string()).or_default();
        }
        let h = self.hosts.entry(name.to_string()).or_default();
        if let Some(g) = group {
            if !h.groups.iter().any(|x| x == g) {
                h.groups.push(g.to_string());
            }
        }
        h
    }

    fn skip(&mut self, origin: &Origin, what: impl Into<String>) {
        self.skipped.push(Skipped {
            file: origin.file.clone(),
            line: origin.line,
            what: what.into(),
        });
    }
}

/// Reads the inventory at `path` and the `group_vars/` and `host_vars/`
/// beside it.
pub fn ansible_inventory(path: &Path) -> Result<Imported, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut inv = Inventory::default();
    if is_yaml(path, &text) {
        read_yaml(&mut inv, path, &text)?;
    } else {
        read_ini(&mut inv, path, &text)?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    read_vars_dirs(&mut inv, dir);
    Ok(emit(inv, path))
}

fn is_yaml(path: &Path, text: &str) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "yml" | "yaml" | "json") {
        return true;
    }
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    first == "---" || (first.ends_with(':') && !first.starts_with('['))
}

// ------------------------------------------------------------------ INI

fn read_ini(inv: &mut Inventory, path: &Path, text: &str) -> Result<(), String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Section {
        Hosts,
        Vars,
        Children,
    }
    let mut group = "ungrouped".to_string();
    let mut section = Section::Hosts;
    for (i, raw) in text.lines().enumerate() {
        let origin = Origin {
            file: path.to_path_buf(),
            line: i + 1,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let (name, kind) = header.split_once(':').unwrap_or((header, ""));
            section = match kind {
                "" => Section::Hosts,
                "vars" => Section::Vars,
                "children" => Section::Children,
                other => {
                    return Err(format!(
                        "{}:{}: unknown section kind `:{other}` (use `[{name}]`, `[{name}:vars]` or `[{name}:children]`)",
                        path.display(),
                        i + 1
                    ))
                }
            };
            group = name.to_string();
            inv.group(&group);
            continue;
        }
        match section {
            Section::Hosts => ini_host_line(inv, &group, line, &origin)?,
            Section::Children => {
                let child = line.split_whitespace().next().unwrap_or(line).to_string();
                inv.group(&child);
                let g = inv.group(&group);
                if !g.children.contains(&child) {
                    g.children.push(child);
                }
            }
            Section::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    inv.skip(
                        &origin,
                        format!("`{line}`: a `[{group}:vars]` line needs `key=value`"),
                    );
                    continue;
                };
                let value = typed_scalar(v.trim());
                inv.group(&group)
                    .vars
                    .insert(k.trim().to_string(), (value, origin.clone()));
            }
        }
    }
    Ok(())
}

fn ini_host_line(
    inv: &mut Inventory,
    group: &str,
    line: &str,
    origin: &Origin,
) -> Result<(), String> {
    let words = shell_words(line);
    let Some((pattern, rest)) = words.split_first() else {
        return Ok(());
    };
    let names = expand_range(pattern)
        .map_err(|e| format!("{}:{}: {e}", origin.file.display(), origin.line))?;
    let mut vars = Vec::new();
    for w in rest {
        match w.split_once('=') {
            Some((k, v)) => vars.push((k.to_string(), python_literal(v))),
            None => inv.skip(
                origin,
                format!("`{w}` on host line `{pattern}` is not `key=value`"),
            ),
        }
    }
    let group = (group != "ungrouped").then_some(group);
    for name in names {
        let h = inv.add_host(&name, group);
        for (k, v) in &vars {
            h.vars.insert(k.clone(), (v.clone(), origin.clone()));
        }
    }
    Ok(())
}

/// Words split on white space, with `'…'` and `"…"` quoting (quotes kept,
/// for the literal parser).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '#') if cur.is_empty() => break,
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// A host-line value as Ansible reads it (Python literal): numbers,
/// `True`/`False`, quoted strings; anything else is a string.
fn python_literal(v: &str) -> Json {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return Json::String(v[1..v.len() - 1].to_string());
        }
    }
    match v {
        "True" => Json::Bool(true),
        "False" => Json::Bool(false),
        _ => typed_scalar(v),
    }
}

/// Text that is clearly a number or a boolean becomes one, so that vars
/// come out typed.
fn typed_scalar(v: &str) -> Json {
    let v = v.trim();
    let unquoted = ['"', '\'']
        .iter()
        .find(|q| v.len() >= 2 && v.starts_with(**q) && v.ends_with(**q))
        .map(|_| &v[1..v.len() - 1]);
    if let Some(s) = unquoted {
        return Json::String(s.to_string());
    }
    if let Ok(i) = v.parse::<i64>() {
        if !(v.len() > 1 && v.starts_with('0')) {
            return Json::from(i);
        }
    }
    match v {
        "true" | "True" => Json::Bool(true),
        "false" | "False" => Json::Bool(false),
        _ => Json::String(v.to_string()),
    }
}

/// `web[01:10].example.com`, `db-[a:c]`, `h[1:9:2]`: the names a host
/// pattern stands for.
pub fn expand_range(pattern: &str) -> Result<Vec<String>, String> {
    let Some(open) = pattern.find('[') else {
        return Ok(vec![pattern.to_string()]);
    };
    let Some(close) = pattern[open..].find(']').map(|c| c + open) else {
        return Err(format!("`{pattern}`: `[` without `]`"));
    };
    let (head, body, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let parts: Vec<&str> = body.split(':').collect();
    let (start, end, step) = match parts.as_slice() {
        [a, b] => (*a, *b, 1usize),
        [a, b, s] => (
            *a,
            *b,
            s.parse::<usize>()
                .map_err(|_| format!("`{pattern}`: step `{s}` is not a number"))?,
        ),
        _ => {
            return Err(format!(
                "`{pattern}`: a range is `[START:END]` or `[START:END:STEP]`"
            ))
        }
    };
    if step == 0 {
        return Err(format!("`{pattern}`: the step cannot be 0"));
    }
    let items: Vec<String> = if let (Ok(a), Ok(b)) = (start.parse::<u64>(), end.parse::<u64>()) {
        if a > b {
            return Err(format!("`{pattern}`: the range runs backwards"));
        }
        let width = if start.starts_with('0') {
            start.len()
        } else {
            0
        };
        (a..=b)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect()
    } else {
        let (a, b) = (single_char(start), single_char(end));
        match (a, b) {
            (Some(a), Some(b)) if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() && a <= b => {
                (a..=b).step_by(step).map(String::from).collect()
            }
            _ => {
                return Err(format!(
                    "`{pattern}`: `[{body}]` is neither a number nor a letter range"
                ))
            }
        }
    };
    let mut out = Vec::new();
    for item in items {
        for rest in expand_range(tail)? {
            out.push(format!("{head}{item}{rest}"));
        }
    }
    Ok(out)
}

fn single_char(s: &str) -> Option<char> {
    let mut it = s.chars();
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

// ----------------------------------------------------------------- YAML

fn parse_yaml(path: &Path, text: &str) -> Result<Json, String> {
    if text.trim_start().starts_with("$ANSIBLE_VAULT") {
        return Err(
            "is encrypted with Ansible Vault: decrypt it and store secrets with `mc secret`".into(),
        );
    }
    serde_norway::from_str::<Json>(text).map_err(|e| match e.location() {
        Some(l) => format!("{}:{}:{}: {e}", path.display(), l.line(), l.column()),
        None => format!("{}: {e}", path.display()),
    })
}

/// The line of the first `key:` in `text`, for messages about YAML files.
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| {
                    t.strip_prefix(k.as_str())
                        .is_some_and(|r| r.starts_with(':'))
                })
        })
        .map_or(1, |i| i + 1)
}

fn read_yaml(inv: &mut Inventory, path: &Path, text: &str) -> Result<(), String> {
    let doc = parse_yaml(path, text)?;
    let Json::Object(top) = doc else {
        return Err(format!(
            "{}: an inventory is a mapping of groups (`all:` …)",
            path.display()
        ));
    };
    for (name, body) in &top {
        yaml_group(inv, path, text, name, body)?;
    }
    Ok(())
}

fn yaml_group(
    inv: &mut Inventory,
    path: &Path,
    text: &str,
    name: &str,
    body: &Json,
) -> Result<(), String> {
    inv.group(name);
    let origin = |key: &str| Origin {
        file: path.to_path_buf(),
        line: line_of(text, key),
    };
    let Json::Object(body) = body else {
        return Ok(());
    };
    if let Some(Json::Object(hosts)) = body.get("hosts") {
        for (pattern, vars) in hosts {
            let names = expand_range(pattern)
                .map_err(|e| format!("{}:{}: {e}", path.display(), line_of(text, pattern)))?;
            for host in names {
                let group = (name != "all" && name != "ungrouped").then_some(name);
                let h = inv.add_host(&host, group);
                if let Json::Object(vars) = vars {
                    for (k, v) in vars {
                        h.vars.insert(k.clone(), (v.clone(), origin(k)));
                    }
                }
            }
        }
    }
    if let Some(Json::Object(vars)) = body.get("vars") {
        for (k, v) in vars {
            let o = origin(k);
            inv.group(name).vars.insert(k.clone(), (v.clone(), o));
        }
    }
    if let Some(Json::Object(children)) = body.get("children") {
        for (child, child_body) in children {
            if name != "all" {
                let g = inv.group(name);
                if !g.children.contains(child) {
                    g.children.push(child.clone());
                }
            }
            yaml_group(inv, path, text, child, child_body)?;
        }
    }
    Ok(())
}

/// `group_vars/NAME[.yml|.yaml|.json]`, `group_vars/NAME/*.yml`, and the
/// same under `host_vars/`.
fn read_vars_dirs(inv: &mut Inventory, dir: &Path) {
    for (folder, is_group) in [("group_vars", true), ("host_vars", false)] {
        let base = dir.join(folder);
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let file_name = p
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let name = match p.file_stem() {
                Some(stem) if is_vars_file(&p) => stem.to_string_lossy().to_string(),
                _ => file_name,
            };
            let files: Vec<PathBuf> = if p.is_dir() {
                let mut fs: Vec<PathBuf> = std::fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|f| is_vars_file(f))
                    .collect();
                fs.sort();
                fs
            } else if is_vars_file(&p) || p.extension().is_none() {
                vec![p.clone()]
            } else {
                continue;
            };
            for f in files {
                read_vars_file(inv, &f, &name, is_group);
            }
        }
    }
}

fn is_vars_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml" | "json")
    )
}

fn read_vars_file(inv: &mut Inventory, file: &Path, name: &str, is_group: bool) {
    let origin = Origin {
        file: file.to_path_buf(),
        line: 1,
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return inv.skip(&origin, format!("cannot read: {e}")),
    };
    let doc = match parse_yaml(file, &text) {
        Ok(Json::Object(m)) => m,
        Ok(Json::Null) => return,
        Ok(_) => return inv.skip(&origin, "is not a mapping of variables"),
        Err(e) => return inv.skip(&origin, e),
    };
    let vars: Vec<(String, (Json, Origin))> = doc
        .into_iter()
        .map(|(k, v)| {
            let o = Origin {
                file: file.to_path_buf(),
                line: line_of(&text, &k),
            };
            (k, (v, o))
        })
        .collect();
    if is_group {
        inv.group(name).vars.extend(vars);
    } else if inv.hosts.contains_key(name) {
        inv.hosts[name].vars.extend(vars);
    } else {
        inv.skip(
            &origin,
            format!("host_vars for `{name}`, which is not a host of the inventory"),
        );
    }
}

// ----------------------------------------------------------------- output

/// Connection settings (`ansible_user`, …) set on groups apply to their
/// hosts; mc has them as host fields, so each host gets the value Ansible
/// would use (host, then its groups, child before parent, then `all`).
/// Other `ansible_*` group vars are listed as not translated.
fn push_connection_vars_to_hosts(inv: &mut Inventory) {
    const CONNECTION: &[&str] = &[
        "ansible_host",
        "ansible_ssh_host",
        "ansible_user",
        "ansible_ssh_user",
        "ansible_port",
        "ansible_ssh_port",
        "ansible_become",
        "ansible_connection",
    ];
    let mut parents: IndexMap<String, Vec<String>> = IndexMap::new();
    for (g, body) in &inv.groups {
        for c in &body.children {
            parents.entry(c.clone()).or_default().push(g.clone());
        }
    }
    let host_names: Vec<String> = inv.hosts.keys().cloned().collect();
    for name in host_names {
        // Nearest first: the host's groups in reverse (later wins), then parents.
        let mut order: Vec<String> = Vec::new();
        let mut queue: Vec<String> = inv.hosts[&name].groups.iter().rev().cloned().collect();
        while !queue.is_empty() {
            let g = queue.remove(0);
            if order.contains(&g) {
                continue;
            }
            queue.extend(parents.get(&g).cloned().unwrap_or_default());
            order.push(g);
        }
        order.push("all".into());
        for key in CONNECTION {
            if inv.hosts[&name].vars.contains_key(*key) {
                continue;
            }
            let found = order
                .iter()
                .find_map(|g| inv.groups.get(g).and_then(|b| b.vars.get(*key)).cloned());
            if let Some(v) = found {
                inv.hosts[&name].vars.insert(key.to_string(), v);
            }
        }
    }
    let mut skipped = Vec::new();
    for body in inv.groups.values_mut() {
        let keys: Vec<String> = body
            .vars
            .keys()
            .filter(|k| k.starts_with("ansible_"))
            .cloned()
            .collect();
        for k in keys {
            if let Some((_, o)) = body.vars.shift_remove(&k) {
                if !CONNECTION.contains(&k.as_str()) {
                    skipped.push(Skipped {
                        file: o.file,
                        line: o.line,
                        what: format!("{k}: Ansible setting with no mc equivalent"),
                    });
                }
            }
        }
    }
    inv.skipped.extend(skipped);
}

fn emit(mut inv: Inventory, path: &Path) -> Imported {
    push_connection_vars_to_hosts(&mut inv);
    unify_var_types(&mut inv);
    let all_vars = inv
        .groups
        .get("all")
        .map(|g| !g.vars.is_empty())
        .unwrap_or(false);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Imported from {} by `mc import ansible-inventory`.\n",
        path.file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    let mut skipped = std::mem::take(&mut inv.skipped);
    let group_names: Vec<String> = inv.groups.keys().cloned().collect();
    let mut groups = 0;
    for name in &group_names {
        let g = &inv.groups[name];
        if (name == "all" && !all_vars) || name == "ungrouped" {
            continue;
        }
        groups += 1;
        let _ = writeln!(out, "group {} {{", mc_string(name));
        if !g.children.is_empty() && name != "all" {
            let list: Vec<String> = g.children.iter().map(|c| mc_string(c)).collect();
            let _ = writeln!(out, "  children = [{}]", list.join(", "));
        }
        let vars = record(&g.vars, &mut skipped);
        if vars != "{}" {
            let _ = writeln!(out, "  vars = {vars}");
        }
        out.push_str("}\n\n");
    }
    for (name, h) in &inv.hosts {
        let _ = writeln!(out, "host {} {{", mc_string(name));
        let mut vars = h.vars.clone();
        host_fields(&mut vars, &mut out, &mut skipped);
        let mut host_groups = h.groups.clone();
        if all_vars {
            host_groups.insert(0, "all".to_string());
        }
        if !host_groups.is_empty() {
            let list: Vec<String> = host_groups.iter().map(|c| mc_string(c)).collect();
            let _ = writeln!(out, "  groups = [{}]", list.join(", "));
        }
        let vars = record(&vars, &mut skipped);
        if vars != "{}" {
            let _ = writeln!(out, "  vars = {vars}");
        }
        out.push_str("}\n\n");
    }
    Imported {
        source: out.trim_end().to_string() + "\n",
        hosts: inv.hosts.len(),
        groups,
        skipped,
    }
}

/// `ansible_host` and friends as host fields; other connection settings
/// are listed as not translated.
fn host_fields(
    vars: &mut IndexMap<String, (Json, Origin)>,
    out: &mut String,
    skipped: &mut Vec<Skipped>,
) {
    let mut skip = |o: &Origin, what: String| {
        skipped.push(Skipped {
            file: o.file.clone(),
            line: o.line,
            what,
        })
    };
    if let Some((v, _)) = vars
        .shift_remove("ansible_host")
        .or_else(|| vars.shift_remove("ansible_ssh_host"))
    {
        let _ = writeln!(out, "  address = {}", mc_string(&scalar_text(&v)));
    }
    if let Some((v, _)) = vars
        .shift_remove("ansible_user")
        .or_else(|| vars.shift_remove("ansible_ssh_user"))
    {
        let _ = writeln!(out, "  user = {}", mc_string(&scalar_text(&v)));
    }
    if let Some((v, o)) = vars
        .shift_remove("ansible_port")
        .or_else(|| vars.shift_remove("ansible_ssh_port"))
    {
        match scalar_text(&v).parse::<u16>() {
            Ok(p) if p > 0 => {
                let _ = writeln!(out, "  port = {p}");
            }
            _ => skip(
                &o,
                format!("ansible_port `{}` is not a port number", scalar_text(&v)),
            ),
        }
    }
    if let Some((v, _)) = vars.shift_remove("ansible_become") {
        let on = matches!(
            scalar_text(&v).to_lowercase().as_str(),
            "true" | "yes" | "on" | "1"
        );
        let _ = writeln!(out, "  become = {on}");
    }
    if let Some((v, o)) = vars.shift_remove("ansible_connection") {
        match scalar_text(&v).as_str() {
            "local" => {
                let _ = writeln!(out, "  transport = \"local\"");
            }
            "ssh" | "smart" | "paramiko" => {}
            other => skip(
                &o,
                format!("ansible_connection `{other}`: mc connects over SSH or locally"),
            ),
        }
    }
    let ansible: Vec<String> = vars
        .keys()
        .filter(|k| k.starts_with("ansible_"))
        .cloned()
        .collect();
    for k in ansible {
        if let Some((_, o)) = vars.shift_remove(&k) {
            skip(&o, format!("{k}: Ansible connection setting with no mc equivalent (set it in ~/.ssh/config)"));
        }
    }
}

/// One type per var name: a var whose values have different kinds becomes
/// a string everywhere.
fn unify_var_types(inv: &mut Inventory) {
    let mut kinds: IndexMap<String, Vec<&'static str>> = IndexMap::new();
    let all = inv
        .groups
        .values()
        .flat_map(|g| g.vars.iter())
        .chain(inv.hosts.values().flat_map(|h| h.vars.iter()));
    for (k, (v, _)) in all {
        let kind = kind_of(v);
        let e = kinds.entry(k.clone()).or_default();
        if !e.contains(&kind) && kind != "null" {
            e.push(kind);
        }
    }
    let mixed: Vec<String> = kinds
        .into_iter()
        .filter(|(_, ks)| ks.len() > 1)
        .map(|(k, _)| k)
        .collect();
    let stringify = |vars: &mut IndexMap<String, (Json, Origin)>| {
        for k in &mixed {
            if let Some((v, _)) = vars.get_mut(k) {
                if !matches!(v, Json::Array(_) | Json::Object(_) | Json::Null) {
                    *v = Json::String(scalar_text(v));
                }
            }
        }
    };
    for g in inv.groups.values_mut() {
        stringify(&mut g.vars);
    }
    for h in inv.hosts.values_mut() {
        stringify(&mut h.vars);
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "bool",
        Json::Number(n) if n.is_i64() => "int",
        Json::Number(_) | Json::String(_) => "string",
        Json::Array(_) => "list",
        Json::Object(_) => "record",
    }
}

fn scalar_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Bool(b) => if *b { "true" } else { "false" }.to_string(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn record(vars: &IndexMap<String, (Json, Origin)>, skipped: &mut Vec<Skipped>) -> String {
    let mut fields = Vec::new();
    for (k, (v, o)) in vars {
        if !is_field_name(k) {
            skipped.push(Skipped {
                file: o.file.clone(),
                line: o.line,
                what: format!("var `{k}`: not a valid mc field name"),
            });
            continue;
        }
        match literal(v) {
            Ok(text) => fields.push(format!("{k} = {text}")),
            Err(why) => skipped.push(Skipped {
                file: o.file.clone(),
                line: o.line,
                what: format!("var `{k}`: {why}"),
            }),
        }
    }
    if fields.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", fields.join(", "))
    }
}

fn is_field_name(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && mc_grammar::lexer::keyword(k).is_none()
}

/// A JSON value as an mc literal.
fn literal(v: &Json) -> Result<String, String> {
    Ok(match v {
        Json::Null => return Err("null has no mc value; leave it out or give a default".into()),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) if n.is_i64() => n.to_string(),
        Json::Number(n) => mc_string(&n.to_string()),
        Json::String(s) => mc_string(s),
        Json::Array(items) => {
            let parts: Result<Vec<String>, String> = items.iter().map(literal).collect();
            format!("[{}]", parts?.join(", "))
        }
        Json::Object(m) => {
            let mut parts = Vec::new();
            for (k, v) in m {
                if !is_field_name(k) {
                    return Err(format!("key `{k}` is not a valid mc field name"));
                }
                parts.push(format!("{k} = {}", literal(v)?));
            }
            if parts.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", parts.join(", "))
            }
        }
    })
}

/// A double-quoted mc string; `${` is escaped so text is never
/// interpolated.
fn mc_string(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_like_ansible() {
        assert_eq!(
            expand_range("web[01:03].x").unwrap(),
            vec!["web01.x", "web02.x", "web03.x"]
        );
        assert_eq!(
            expand_range("db-[a:c]").unwrap(),
            vec!["db-a", "db-b", "db-c"]
        );
        assert_eq!(expand_range("h[1:5:2]").unwrap(), vec!["h1", "h3", "h5"]);
        assert!(expand_range("h[5:1]").is_err());
        assert!(expand_range("h[1:").is_err());
    }

    #[test]
    fn values_are_typed() {
        assert_eq!(python_literal("8080"), Json::from(8080));
        assert_eq!(python_literal("True"), Json::Bool(true));
        assert_eq!(python_literal("'a b'"), Json::String("a b".into()));
        assert_eq!(typed_scalar("0755"), Json::String("0755".into()));
        assert_eq!(mc_string("a\"${b}"), "\"a\\\"\\${b}\"");
    }
}
