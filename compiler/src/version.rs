//! Version comparison as Ansible's `version` test does it by default
//! (Python's `LooseVersion`): a version is a list of numbers and words
//! (`9.6p1` is 9, 6, p, 1; `1:2.3-4` is 1, 2, 3, 4), compared in order.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq)]
enum Part {
    Num(u64),
    Word(String),
}

impl Ord for Part {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Part::Num(a), Part::Num(b)) => a.cmp(b),
            (Part::Word(a), Part::Word(b)) => a.cmp(b),
            // Python refuses to compare the two; a release number sorts
            // after a pre-release word (`1.0` > `1.rc`).
            (Part::Num(_), Part::Word(_)) => Ordering::Greater,
            (Part::Word(_), Part::Num(_)) => Ordering::Less,
        }
    }
}

impl PartialOrd for Part {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn parts(v: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut chars = v.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_ascii_digit() {
            let mut n = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(d);
                chars.next();
            }
            out.push(Part::Num(n.parse().unwrap_or(u64::MAX)));
        } else if c.is_ascii_alphabetic() {
            let mut w = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_alphabetic()) {
                w.push(d);
                chars.next();
            }
            out.push(Part::Word(w));
        } else {
            chars.next();
        }
    }
    out
}

/// How version `a` compares with version `b`.
pub fn compare(a: &str, b: &str) -> Ordering {
    parts(a).cmp(&parts(b))
}

/// `a OP b` with Ansible's operator names: `<`, `lt`, `<=`, `le`, `>`,
/// `gt`, `>=`, `ge`, `==`, `=`, `eq`, `!=`, `<>`, `ne`.
pub fn compare_with(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let ord = compare(a, b);
    Ok(match op {
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        other => {
            return Err(format!(
                "unknown comparison `{other}` (use <, <=, >, >=, ==, != or lt, le, gt, ge, eq, ne)"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_version_strings() {
        assert!(compare_with("9.6p1", ">=", "9.6").unwrap());
        assert!(compare_with("8.0.1", "<", "8.0.10").unwrap());
        assert!(compare_with("1:2.3-4", ">", "1:2.3-3").unwrap());
        assert!(compare_with("1.10", "gt", "1.9").unwrap());
        assert!(compare_with("2.0", "==", "2.0").unwrap());
        assert!(compare_with("1.0", "~", "1.0").is_err());
    }
}
