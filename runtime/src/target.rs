//! `--target TYPE[TITLE]`: plan, apply or drift one resource and what it
//! depends on, as Terraform's `-target` does.

use mc_ir::{Catalog, Resource, ResourceId};
use std::collections::BTreeSet;

/// The ids of the targets and, transitively, of every resource they depend
/// on (the `from` side of each edge into the set). Targets absent from this
/// catalog select nothing on this host.
pub fn with_dependencies(catalog: &Catalog, targets: &[String]) -> BTreeSet<ResourceId> {
    let mut selected: BTreeSet<ResourceId> = catalog
        .resources
        .iter()
        .filter(|r| targets.iter().any(|t| t == r.id.as_str()))
        .map(|r| r.id.clone())
        .collect();
    let mut frontier: Vec<ResourceId> = selected.iter().cloned().collect();
    while let Some(id) = frontier.pop() {
        for edge in catalog.edges.iter().filter(|e| e.to == id) {
            if selected.insert(edge.from.clone()) {
                frontier.push(edge.from.clone());
            }
        }
    }
    selected
}

/// Checks the spelling of a target: `TYPE[TITLE]`.
pub fn parse(target: &str) -> Result<String, String> {
    let t = target.trim();
    let well_formed = t
        .split_once('[')
        .is_some_and(|(ty, rest)| !ty.is_empty() && rest.ends_with(']') && rest.len() > 1);
    if well_formed {
        Ok(t.to_string())
    } else {
        Err(format!(
            "`{target}` is not a resource address; write TYPE[TITLE], e.g. file[/etc/motd]"
        ))
    }
}

/// The catalog's resources that `targets` select (all when empty).
pub fn select<'a>(catalog: &'a Catalog, targets: &[String]) -> Vec<&'a Resource> {
    if targets.is_empty() {
        return catalog.resources.iter().collect();
    }
    let ids = with_dependencies(catalog, targets);
    catalog
        .resources
        .iter()
        .filter(|r| ids.contains(&r.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mc_ir::{Edge, EdgeKind, HostInfo, Meta, Transport, CATALOG_SCHEMA};
    use std::collections::BTreeMap;

    fn res(ty: &str, title: &str) -> Resource {
        Resource {
            id: ResourceId::new(ty, title),
            type_name: ty.into(),
            title: title.into(),
            attrs: BTreeMap::new(),
            meta: Meta::default(),
            source: None,
        }
    }

    fn edge(from: &Resource, to: &Resource) -> Edge {
        Edge {
            from: from.id.clone(),
            to: to.id.clone(),
            kind: EdgeKind::Requires,
            action: None,
        }
    }

    #[test]
    fn a_target_brings_what_it_depends_on_and_nothing_else() {
        let (pkg, conf, svc, other) = (
            res("package", "nginx"),
            res("file", "/etc/nginx.conf"),
            res("service", "nginx"),
            res("file", "/etc/motd"),
        );
        let catalog = Catalog {
            schema: CATALOG_SCHEMA,
            host: HostInfo {
                name: "h".into(),
                address: "h".into(),
                user: None,
                port: None,
                transport: Transport::Local,
                r#become: false,
                groups: vec![],
                ssh_key: None,
            },
            edges: vec![edge(&pkg, &conf), edge(&conf, &svc)],
            resources: vec![pkg, conf, svc, other],
        };
        let ids = |t: &[&str]| -> Vec<String> {
            let t: Vec<String> = t.iter().map(|s| s.to_string()).collect();
            select(&catalog, &t)
                .iter()
                .map(|r| r.id.to_string())
                .collect()
        };
        assert_eq!(
            ids(&["service[nginx]"]),
            ["package[nginx]", "file[/etc/nginx.conf]", "service[nginx]"]
        );
        assert_eq!(
            ids(&["file[/etc/nginx.conf]"]),
            ["package[nginx]", "file[/etc/nginx.conf]"]
        );
        assert_eq!(ids(&["file[/etc/motd]"]), ["file[/etc/motd]"]);
        assert_eq!(ids(&[]).len(), 4);
        assert!(ids(&["file[/nope]"]).is_empty());
    }

    #[test]
    fn a_target_must_be_an_address() {
        assert!(parse("file[/etc/motd]").is_ok());
        for bad in ["/etc/motd", "file", "file[]", "[x]"] {
            assert!(parse(bad).unwrap_err().contains("TYPE[TITLE]"), "{bad}");
        }
    }
}
