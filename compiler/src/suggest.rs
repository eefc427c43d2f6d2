//! "Did you mean": the word another tool uses for the same thing, else the
//! closest candidate by edit distance.

/// Words users bring from Ansible and YAML, and mc's word for the same
/// thing. Checked before edit distance, which would offer `"stopped"` for
/// Ansible's `"started"`.
const SYNONYMS: &[(&str, &str)] = &[
    ("installed", "present"),
    ("removed", "absent"),
    ("started", "running"),
    ("restarted", "running"),
    ("reloaded", "running"),
    ("mounted", "present"),
    ("unmounted", "absent"),
    ("yes", "true"),
    ("no", "false"),
    ("True", "true"),
    ("False", "false"),
    ("None", "null"),
];

/// The candidate `wrong` stands for: its synonym when that is a candidate,
/// else the closest one if it is close enough to be a typo (at most a
/// third of the longer word's length in edits, at least one).
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let synonym = SYNONYMS.iter().find(|(w, _)| *w == wrong).map(|(_, s)| *s);
    if let Some(s) = synonym.filter(|s| candidates.contains(s)) {
        return Some(s.to_string());
    }
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == wrong || c.is_empty() {
            continue;
        }
        let d = if c.eq_ignore_ascii_case(wrong) {
            0
        } else {
            strsim::damerau_levenshtein(wrong, c)
        };
        let limit = (wrong.chars().count().max(c.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, bc)| d < bd || (d == bd && c < bc)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_and_ignores_distant_names() {
        let names = ["content", "source", "owner", "mode"];
        assert_eq!(closest("contnet", names), Some("content".to_string()));
        assert_eq!(closest("ownr", names), Some("owner".to_string()));
        assert_eq!(closest("zzzzzz", names), None);
        assert_eq!(closest("mdoe", names), Some("mode".to_string()));
    }

    #[test]
    fn words_from_ansible_map_to_mcs_own() {
        let states = ["running", "stopped", "unmanaged"];
        assert_eq!(closest("started", states), Some("running".to_string()));
        assert_eq!(closest("stoped", states), Some("stopped".to_string()));
        let states = ["present", "latest", "absent"];
        assert_eq!(closest("installed", states), Some("present".to_string()));
        // A synonym that is not among the candidates is no answer.
        assert_eq!(closest("installed", ["running"]), None);
        assert_eq!(closest("yes", ["true", "false"]), Some("true".to_string()));
    }
}
