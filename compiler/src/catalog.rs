//! Turns the evaluated resources of one host into its catalog: duplicate
//! detection, explicit, reference and automatic edges, cycle detection.

use crate::diag::{Diag, Loc};
use crate::value::{Handle, Value};
use mc_ir::{Catalog, Edge, EdgeKind, ResourceId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// An edge named by a meta-attribute (`requires`, `before`, `notify`, `subscribe`).
#[derive(Clone, Debug)]
pub struct MetaEdge {
    pub kind: String,
    pub target: Handle,
    pub loc: Loc,
    /// `notify = [reload(svc)]`: what the refresh asks.
    pub action: Option<mc_ir::RefreshAction>,
}

/// A resource as evaluation produced it.
#[derive(Clone, Debug)]
pub struct EvalResource {
    pub type_name: String,
    pub title: String,
    pub attrs: BTreeMap<String, Value>,
    pub meta: mc_ir::Meta,
    pub loc: Loc,
    pub source: Option<mc_ir::SourceLoc>,
    pub edges: Vec<MetaEdge>,
    /// Handles used inside attribute values.
    pub refs: Vec<Handle>,
}

impl EvalResource {
    pub fn id(&self) -> ResourceId {
        ResourceId::new(&self.type_name, &self.title)
    }

    fn same_declaration(&self, other: &EvalResource) -> bool {
        self.attrs == other.attrs && self.meta == other.meta
    }
}

/// Builds the catalog; errors are returned as diagnostics.
pub fn build(host: mc_ir::HostInfo, resources: Vec<EvalResource>) -> Result<Catalog, Vec<Diag>> {
    let mut diags = Vec::new();
    let mut index: HashMap<ResourceId, usize> = HashMap::new();
    let mut kept: Vec<EvalResource> = Vec::new();
    for r in resources {
        let id = r.id();
        match index.get(&id) {
            Some(&i) => {
                let first = &kept[i];
                if first.same_declaration(&r) {
                    // Identical redeclarations are harmless (Puppet would
                    // reject them; sharing roles is easier if we do not).
                    continue;
                }
                let diff: Vec<&str> = first
                    .attrs
                    .keys()
                    .chain(r.attrs.keys())
                    .filter(|k| first.attrs.get(*k) != r.attrs.get(*k))
                    .map(String::as_str)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let mut d = Diag::error(
                    "E0301",
                    r.loc.clone(),
                    format!("{id} is declared twice for host `{}`", host.name),
                )
                .label("declared again here")
                .secondary(first.loc.clone(), "first declared here");
                if !diff.is_empty() {
                    d = d.note(format!("the declarations differ in: {}", diff.join(", ")));
                } else {
                    d = d.note("the declarations differ in their meta-attributes");
                }
                diags.push(d);
            }
            None => {
                index.insert(id, kept.len());
                kept.push(r);
            }
        }
    }

    let mut edges: BTreeSet<(usize, usize, EdgeKind)> = BTreeSet::new();
    let mut explicit: BTreeSet<(usize, usize)> = BTreeSet::new();
    // Per notify edge, the strongest action its notifications asked.
    let mut actions: BTreeMap<(usize, usize), mc_ir::RefreshAction> = BTreeMap::new();
    for (i, r) in kept.iter().enumerate() {
        for e in &r.edges {
            let Some(&j) = index.get(&e.target.id()) else {
                diags.push(
                    Diag::error(
                        "E0307",
                        e.loc.clone(),
                        format!("{} is not declared for host `{}`", e.target.id(), host.name),
                    )
                    .label(format!("`{}` names it", e.kind))
                    .note("a resource can only depend on resources declared for the same host"),
                );
                continue;
            };
            let (from, to, kind) = match e.kind.as_str() {
                "requires" => (j, i, EdgeKind::Requires),
                "before" => (i, j, EdgeKind::Requires),
                "notify" => (i, j, EdgeKind::Notify),
                _ => (j, i, EdgeKind::Notify),
            };
            if from == to {
                diags.push(
                    Diag::error(
                        "E0302",
                        e.loc.clone(),
                        format!("{} depends on itself", r.id()),
                    )
                    .label("this edge points back at the same resource"),
                );
                continue;
            }
            if let Some(action) = e.action {
                if let Some(d) = refresh_action_problem(e, &kept[j].type_name) {
                    diags.push(d);
                    continue;
                }
                let slot = actions.entry((from, to)).or_insert(action);
                *slot = (*slot).max(action);
            }
            explicit.insert((from, to));
            edges.insert((from, to, kind));
        }
        for h in &r.refs {
            let Some(&j) = index.get(&h.id()) else {
                diags.push(
                    Diag::error(
                        "E0307",
                        r.loc.clone(),
                        format!("{} is not declared for host `{}`", h.id(), host.name),
                    )
                    .label("an attribute of this resource refers to it"),
                );
                continue;
            };
            if j != i {
                explicit.insert((j, i));
                edges.insert((j, i, EdgeKind::Requires));
            }
        }
    }

    // Automatic edges, skipped when the user ordered the pair the other way.
    let auto = |from: usize, to: usize, edges: &mut BTreeSet<(usize, usize, EdgeKind)>| {
        if from != to && !explicit.contains(&(to, from)) && !explicit.contains(&(from, to)) {
            edges.insert((from, to, EdgeKind::Auto));
        }
    };
    for (i, r) in kept.iter().enumerate() {
        let path_like = matches!(
            r.type_name.as_str(),
            "file" | "directory" | "link" | "download" | "archive" | "git"
        );
        if path_like {
            let mut p = r.title.as_str();
            while let Some(pos) = p.rfind('/') {
                p = if pos == 0 { "/" } else { &p[..pos] };
                if let Some(&j) = index.get(&ResourceId::new("directory", p)) {
                    auto(j, i, &mut edges);
                    break;
                }
                if p == "/" {
                    break;
                }
            }
        }
        if path_like || r.type_name == "cron" || r.type_name == "command" {
            for (attr, ty) in [("owner", "user"), ("user", "user"), ("group", "group")] {
                if let Some(Value::Str(name)) = r.attrs.get(attr) {
                    if let Some(&j) = index.get(&ResourceId::new(ty, name)) {
                        auto(j, i, &mut edges);
                    }
                }
            }
        }
        if r.type_name == "user" {
            if let Some(Value::Str(g)) = r.attrs.get("group") {
                if let Some(&j) = index.get(&ResourceId::new("group", g)) {
                    auto(j, i, &mut edges);
                }
            }
            if let Some(Value::List(gs)) = r.attrs.get("groups") {
                for g in gs.iter() {
                    if let Some(g) = g.as_str() {
                        if let Some(&j) = index.get(&ResourceId::new("group", g)) {
                            auto(j, i, &mut edges);
                        }
                    }
                }
            }
        }
        if r.type_name == "line" {
            if let Some(Value::Str(p)) = r.attrs.get("path") {
                if let Some(&j) = index.get(&ResourceId::new("file", p)) {
                    auto(j, i, &mut edges);
                }
            }
        }
        if r.type_name == "archive" {
            if let Some(Value::Str(src)) = r.attrs.get("source") {
                for ty in ["download", "file"] {
                    if let Some(&j) = index.get(&ResourceId::new(ty, src)) {
                        auto(j, i, &mut edges);
                    }
                }
            }
        }
        if r.type_name == "service" {
            if let Some(&j) = index.get(&ResourceId::new("package", &r.title)) {
                auto(j, i, &mut edges);
            }
        }
        // A changed unit file refreshes its service (after daemon-reload).
        if r.type_name == "systemd_unit" {
            let service = r.title.strip_suffix(".service").unwrap_or(&r.title);
            if let Some(&j) = index.get(&ResourceId::new("service", service)) {
                if i != j && !explicit.contains(&(j, i)) {
                    edges.insert((i, j, EdgeKind::Notify));
                }
            }
        }
        if r.type_name == "git" {
            if let Some(&j) = index.get(&ResourceId::new("package", "git")) {
                auto(j, i, &mut edges);
            }
        }
    }

    // A notify edge subsumes a plain ordering edge between the same pair.
    let notify_pairs: BTreeSet<(usize, usize)> = edges
        .iter()
        .filter(|e| e.2 == EdgeKind::Notify)
        .map(|e| (e.0, e.1))
        .collect();
    let edges: Vec<(usize, usize, EdgeKind)> = edges
        .into_iter()
        .filter(|e| e.2 == EdgeKind::Notify || !notify_pairs.contains(&(e.0, e.1)))
        .collect();

    if let Some(cycle) = find_cycle(kept.len(), &edges) {
        let names: Vec<String> = cycle.iter().map(|&i| kept[i].id().0).collect();
        let first = cycle[0];
        let mut d = Diag::error(
            "E0302",
            kept[first].loc.clone(),
            format!("dependency cycle: {} → {}", names.join(" → "), names[0]),
        )
        .label(format!("{} is part of the cycle", names[0]));
        for w in cycle.windows(2) {
            d = d.secondary(
                kept[w[1]].loc.clone(),
                format!(
                    "{} must come after {}",
                    names_of(&kept, w[1]),
                    names_of(&kept, w[0])
                ),
            );
        }
        d = d.note("remove one of the `requires`/`before`/`notify`/`subscribe` edges, or the reference that creates it");
        diags.push(d);
    }

    if !diags.is_empty() {
        return Err(diags);
    }
    let ids: Vec<ResourceId> = kept.iter().map(EvalResource::id).collect();
    let mut out_edges: Vec<Edge> = edges
        .into_iter()
        .map(|(f, t, kind)| Edge {
            from: ids[f].clone(),
            to: ids[t].clone(),
            kind,
            action: (kind == EdgeKind::Notify)
                .then(|| actions.get(&(f, t)).copied())
                .flatten(),
        })
        .collect();
    out_edges.sort();
    let resources = kept
        .into_iter()
        .map(|r| mc_ir::Resource {
            id: r.id(),
            type_name: r.type_name,
            title: r.title,
            attrs: r
                .attrs
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, v.to_ir()))
                .collect(),
            meta: r.meta,
            source: r.source,
        })
        .collect();
    Ok(Catalog {
        schema: mc_ir::CATALOG_SCHEMA,
        host,
        resources,
        edges: out_edges,
    })
}

fn names_of(kept: &[EvalResource], i: usize) -> String {
    kept[i].id().0
}

/// One cycle in the graph (node indexes in edge order), if any. Iterative
/// DFS so deep graphs cannot overflow the stack.
fn find_cycle(n: usize, edges: &[(usize, usize, EdgeKind)]) -> Option<Vec<usize>> {
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(f, t, _) in edges {
        adj[f].push(t);
    }
    // 0 = new, 1 = on the stack, 2 = done
    let mut state = vec![0u8; n];
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if *next < adj[node].len() {
                let to = adj[node][*next];
                *next += 1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let pos = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        return Some(stack[pos..].iter().map(|(n, _)| *n).collect());
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

/// `reload(x)` / `restart(x)` ask a service, in `notify` only.
fn refresh_action_problem(e: &MetaEdge, target_type: &str) -> Option<Diag> {
    let action = e.action?.name();
    if e.kind != "notify" {
        return Some(
            Diag::error(
                "E0202",
                e.loc.clone(),
                format!("`{action}(…)` can only be used in `notify`"),
            )
            .label(format!("in `{}`", e.kind))
            .note("name the action where the change happens: `notify = [reload(svc)]` on the resource that changes; a service's `on_notify` sets what a plain notification does"),
        );
    }
    (target_type != "service").then(|| {
        Diag::error(
            "E0202",
            e.loc.clone(),
            format!("`{action}(…)` asks a service, but {} is a `{target_type}`", e.target.id()),
        )
        .label("not a service")
        .note("notify it without an action: a command runs (`refresh_only`), other types ignore refreshes")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mc_grammar::span::Span;
    use std::sync::Arc;

    fn res(ty: &str, title: &str, at: u32) -> EvalResource {
        EvalResource {
            type_name: ty.into(),
            title: title.into(),
            attrs: BTreeMap::new(),
            meta: Default::default(),
            loc: Loc {
                file: Arc::from("main.mc"),
                span: Span::new(at, at + 1),
            },
            source: None,
            edges: vec![],
            refs: vec![],
        }
    }

    fn host() -> mc_ir::HostInfo {
        mc_ir::HostInfo {
            name: "h".into(),
            address: "h".into(),
            user: None,
            port: None,
            transport: Default::default(),
            r#become: false,
            groups: vec![],
            ssh_key: None,
        }
    }

    #[test]
    fn automatic_edges_link_parent_dirs_owners_and_packages() {
        let mut f = res("file", "/etc/app/conf.d/x.conf", 0);
        f.attrs.insert("owner".into(), Value::str("app"));
        let cat = build(
            host(),
            vec![
                res("directory", "/etc/app", 1),
                f,
                res("user", "app", 2),
                res("service", "nginx", 3),
                res("package", "nginx", 4),
            ],
        )
        .unwrap();
        let edges: Vec<(String, String)> = cat
            .edges
            .iter()
            .map(|e| (e.from.0.clone(), e.to.0.clone()))
            .collect();
        assert!(edges.contains(&(
            "directory[/etc/app]".into(),
            "file[/etc/app/conf.d/x.conf]".into()
        )));
        assert!(edges.contains(&("user[app]".into(), "file[/etc/app/conf.d/x.conf]".into())));
        assert!(edges.contains(&("package[nginx]".into(), "service[nginx]".into())));
        assert!(cat.edges.iter().all(|e| e.kind == EdgeKind::Auto));
    }

    #[test]
    fn new_types_get_their_automatic_edges() {
        let mut a = res("archive", "/opt/app/current", 0);
        a.attrs
            .insert("source".into(), Value::str("/opt/app/app.tar.gz"));
        let cat = build(
            host(),
            vec![
                a,
                res("download", "/opt/app/app.tar.gz", 1),
                res("directory", "/opt/app", 2),
                res("git", "/opt/app/src", 3),
                res("package", "git", 4),
                res("service", "app", 5),
                res("systemd_unit", "app.service", 6),
            ],
        )
        .unwrap();
        let edges: Vec<(String, String)> = cat
            .edges
            .iter()
            .map(|e| (e.from.0.clone(), e.to.0.clone()))
            .collect();
        for (from, to) in [
            ("download[/opt/app/app.tar.gz]", "archive[/opt/app/current]"),
            ("directory[/opt/app]", "archive[/opt/app/current]"),
            ("directory[/opt/app]", "download[/opt/app/app.tar.gz]"),
            ("directory[/opt/app]", "git[/opt/app/src]"),
            ("package[git]", "git[/opt/app/src]"),
        ] {
            assert!(edges.contains(&(from.into(), to.into())), "{edges:?}");
        }
        assert!(cat.edges.iter().any(|e| e.kind == EdgeKind::Notify
            && e.from.0 == "systemd_unit[app.service]"
            && e.to.0 == "service[app]"));
    }

    #[test]
    fn cycles_are_reported_with_every_member() {
        let mut a = res("command", "a", 0);
        let mut b = res("command", "b", 10);
        let loc = a.loc.clone();
        a.edges.push(MetaEdge {
            kind: "requires".into(),
            target: Handle {
                type_name: "command".into(),
                title: "b".into(),
                action: None,
            },
            action: None,
            loc: loc.clone(),
        });
        b.edges.push(MetaEdge {
            kind: "requires".into(),
            target: Handle {
                type_name: "command".into(),
                title: "a".into(),
                action: None,
            },
            action: None,
            loc,
        });
        let err = build(host(), vec![a, b]).unwrap_err();
        assert_eq!(err[0].code, "E0302");
        assert!(err[0].message.contains("command[a]") && err[0].message.contains("command[b]"));
    }

    #[test]
    fn identical_duplicates_merge_and_different_ones_fail() {
        let cat = build(
            host(),
            vec![res("package", "git", 0), res("package", "git", 5)],
        )
        .unwrap();
        assert_eq!(cat.resources.len(), 1);
        let mut other = res("package", "git", 9);
        other.attrs.insert("state".into(), Value::str("absent"));
        let err = build(host(), vec![res("package", "git", 0), other]).unwrap_err();
        assert_eq!(err[0].code, "E0301");
        assert_eq!(err[0].secondary.len(), 1);
    }
}
