//! Host patterns for `--limit`, as Ansible users write them: names and
//! groups, globs (`web*`), exclusions (`!db1`) and intersections
//! (`web:&prod`), separated by `,` or `:`.

use mc_ir::HostInfo;

/// One term of a pattern list.
#[derive(Debug)]
enum Term {
    /// Hosts matching it are selected (the union of all such terms).
    Include(glob::Pattern),
    /// Only hosts that also match it stay selected.
    Intersect(glob::Pattern),
    /// Hosts matching it are left out.
    Exclude(glob::Pattern),
}

/// A parsed `--limit`: an empty one selects every host.
#[derive(Debug, Default)]
pub struct HostPattern {
    terms: Vec<(String, Term)>,
}

impl HostPattern {
    /// Parses the `--limit` values (each may hold several `,`/`:` separated
    /// terms).
    pub fn parse(limit: &[String]) -> Result<HostPattern, String> {
        let mut terms = Vec::new();
        for part in limit.iter().flat_map(|l| l.split([',', ':'])) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (make, body): (fn(glob::Pattern) -> Term, &str) =
                if let Some(rest) = part.strip_prefix('!') {
                    (Term::Exclude, rest)
                } else if let Some(rest) = part.strip_prefix('&') {
                    (Term::Intersect, rest)
                } else {
                    (Term::Include, part)
                };
            let pattern = glob::Pattern::new(body)
                .map_err(|e| format!("--limit {part:?} is not a valid pattern: {e}"))?;
            terms.push((part.to_string(), make(pattern)));
        }
        Ok(HostPattern { terms })
    }

    /// Whether the host is selected.
    pub fn selects(&self, host: &HostInfo) -> bool {
        let matches =
            |p: &glob::Pattern| p.matches(&host.name) || host.groups.iter().any(|g| p.matches(g));
        let mut any_include = false;
        let mut included = false;
        for (_, term) in &self.terms {
            match term {
                Term::Include(p) => {
                    any_include = true;
                    included |= matches(p);
                }
                Term::Intersect(p) if !matches(p) => return false,
                Term::Exclude(p) if matches(p) => return false,
                _ => {}
            }
        }
        included || !any_include
    }

    /// Whether a host known only by name (a past run's host) is selected.
    pub fn selects_name(&self, name: &str) -> bool {
        self.selects(&HostInfo {
            name: name.to_string(),
            address: String::new(),
            user: None,
            port: None,
            transport: mc_ir::Transport::Ssh,
            r#become: false,
            groups: Vec::new(),
            ssh_key: None,
        })
    }

    /// The first term that matches no host at all, a likely typo.
    pub fn unmatched<'a>(&'a self, hosts: &[HostInfo]) -> Option<&'a str> {
        self.terms.iter().find_map(|(text, term)| {
            let p = match term {
                Term::Include(p) | Term::Intersect(p) | Term::Exclude(p) => p,
            };
            let hit = hosts
                .iter()
                .any(|h| p.matches(&h.name) || h.groups.iter().any(|g| p.matches(g)));
            (!hit).then_some(text.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mc_ir::Transport;

    fn host(name: &str, groups: &[&str]) -> HostInfo {
        HostInfo {
            name: name.into(),
            address: "127.0.0.1".into(),
            user: None,
            port: None,
            transport: Transport::Ssh,
            r#become: false,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ssh_key: None,
        }
    }

    fn selected(limit: &[&str]) -> Vec<String> {
        let hosts = [
            host("web1", &["web", "prod"]),
            host("web2", &["web", "staging"]),
            host("db1", &["db", "prod"]),
            host("db2", &["db", "prod"]),
        ];
        let limit: Vec<String> = limit.iter().map(|s| s.to_string()).collect();
        let p = HostPattern::parse(&limit).unwrap();
        hosts
            .iter()
            .filter(|h| p.selects(h))
            .map(|h| h.name.clone())
            .collect()
    }

    #[test]
    fn names_groups_globs_exclusions_and_intersections() {
        assert_eq!(selected(&[]), ["web1", "web2", "db1", "db2"]);
        assert_eq!(selected(&["web1"]), ["web1"]);
        assert_eq!(selected(&["db"]), ["db1", "db2"]);
        assert_eq!(selected(&["web*"]), ["web1", "web2"]);
        assert_eq!(selected(&["!db1"]), ["web1", "web2", "db2"]);
        assert_eq!(selected(&["web:&prod"]), ["web1"]);
        assert_eq!(selected(&["prod:!db2"]), ["web1", "db1"]);
        assert_eq!(selected(&["web1", "db2"]), ["web1", "db2"]);
        assert_eq!(selected(&["*1"]), ["web1", "db1"]);
    }

    #[test]
    fn a_term_matching_nothing_is_reported() {
        let hosts = [host("web1", &["web"])];
        let p = HostPattern::parse(&["web1,wbe2".to_string()]).unwrap();
        assert_eq!(p.unmatched(&hosts), Some("wbe2"));
        let p = HostPattern::parse(&["[".to_string()]);
        assert!(p.is_err());
    }
}
