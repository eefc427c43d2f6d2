//! "Did you mean" by edit distance.

/// The candidate closest to `wrong`, if it is close enough to be a typo:
/// at most a third of the longer name's length in edits (at least one).
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
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
}
