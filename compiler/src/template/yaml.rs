//! YAML as PyYAML's `yaml.dump` writes it, for Ansible's `to_yaml`
//! (`default_flow_style=None`: collections of scalars inline) and
//! `to_nice_yaml` (block style, indent 4). Keys are sorted, as PyYAML
//! sorts them; strings that YAML 1.1 would read as something else
//! (`yes`, `1.0`, `~`, `2024-01-01`) are quoted.

use super::python::float_repr;
use minijinja::value::{Value, ValueKind};
use std::sync::OnceLock;

const WIDTH: usize = 80;

/// How collections are written.
#[derive(Clone, Copy, PartialEq)]
pub enum Flow {
    /// `to_nice_yaml`: always block style.
    Never,
    /// `to_yaml`: a collection holding only scalars is written inline.
    Leaves,
}

pub fn dump(v: &Value, indent: usize, flow: Flow) -> String {
    let mut e = Emitter {
        out: String::new(),
        indent: indent.clamp(2, 9),
        flow,
    };
    if is_scalar(v) {
        let text = e.scalar(v, false, 0);
        e.out.push_str(&text);
        e.out.push('\n');
        // PyYAML closes a document that is one plain scalar.
        if !text.starts_with('\'') && !text.starts_with('"') {
            e.out.push_str("...\n");
        }
        return e.out;
    }
    if e.inline(v) {
        let text = e.flow(v, 0);
        e.out.push_str(&text);
        e.out.push('\n');
        return e.out;
    }
    e.block(v, 0, false);
    e.out
}

struct Emitter {
    out: String,
    indent: usize,
    flow: Flow,
}

fn is_scalar(v: &Value) -> bool {
    !matches!(
        v.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    )
}

fn items(v: &Value) -> Vec<Value> {
    v.try_iter().into_iter().flatten().collect()
}

fn sorted_keys(v: &Value) -> Vec<Value> {
    let mut keys = items(v);
    keys.sort();
    keys
}

impl Emitter {
    fn inline(&self, v: &Value) -> bool {
        items(v).is_empty()
            || (self.flow == Flow::Leaves
                && match v.kind() {
                    ValueKind::Map => sorted_keys(v)
                        .iter()
                        .all(|k| is_scalar(&v.get_item(k).unwrap_or_default())),
                    _ => items(v).iter().all(is_scalar),
                })
    }

    fn column(&self) -> usize {
        self.out.len() - self.out.rfind('\n').map_or(0, |i| i + 1)
    }

    fn newline_to(&mut self, col: usize) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        self.out.push_str(&" ".repeat(col));
    }

    /// A block collection at indentation `col`. `in_seq_item` is true
    /// right after a `- `, where the first line continues that line.
    fn block(&mut self, v: &Value, col: usize, in_seq_item: bool) {
        match v.kind() {
            ValueKind::Map => {
                for (i, k) in sorted_keys(v).iter().enumerate() {
                    if i > 0 || !in_seq_item {
                        self.newline_to(col);
                    } else {
                        let pad = col.saturating_sub(self.column());
                        self.out.push_str(&" ".repeat(pad));
                    }
                    let key = self.scalar(k, true, col);
                    self.out.push_str(&key);
                    self.out.push(':');
                    let item = v.get_item(k).unwrap_or_default();
                    self.value_after_indicator(&item, col, true);
                }
            }
            _ => {
                for (i, item) in items(v).iter().enumerate() {
                    if i > 0 || !in_seq_item {
                        self.newline_to(col);
                    } else {
                        let pad = col.saturating_sub(self.column());
                        self.out.push_str(&" ".repeat(pad));
                    }
                    self.out.push('-');
                    self.value_after_indicator(item, col, false);
                }
            }
        }
        if !self.out.ends_with('\n') && col == 0 {
            self.out.push('\n');
        }
    }

    /// What follows `key:` or `-` at indentation `col`.
    fn value_after_indicator(&mut self, item: &Value, col: usize, after_key: bool) {
        if is_scalar(item) || self.inline(item) {
            self.out.push(' ');
            let text = if is_scalar(item) {
                self.scalar(item, false, col + self.indent)
            } else {
                self.flow(item, col + self.indent)
            };
            self.out.push_str(&text);
            return;
        }
        let nested_seq = !matches!(item.kind(), ValueKind::Map);
        if after_key {
            // PyYAML does not indent a sequence that is a mapping's value.
            let inner = if nested_seq { col } else { col + self.indent };
            self.block(item, inner, false);
        } else {
            self.block(item, col + self.indent, true);
        }
        if col == 0 && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn flow(&self, v: &Value, col: usize) -> String {
        let mut s = String::new();
        let is_map = matches!(v.kind(), ValueKind::Map);
        s.push(if is_map { '{' } else { '[' });
        let start_col = self.column();
        let entries: Vec<String> = if is_map {
            sorted_keys(v)
                .iter()
                .map(|k| {
                    format!(
                        "{}: {}",
                        self.scalar(k, true, col),
                        self.scalar(&v.get_item(k).unwrap_or_default(), false, col)
                    )
                })
                .collect()
        } else {
            items(v)
                .iter()
                .map(|i| self.scalar(i, false, col))
                .collect()
        };
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
                let line_col = match s.rfind('\n') {
                    Some(p) => s.len() - p - 1,
                    None => start_col + s.len(),
                };
                if line_col > WIDTH {
                    s.push('\n');
                    s.push_str(&" ".repeat(col));
                    s = s.replace(", \n", ",\n");
                }
            }
            s.push_str(e);
        }
        s.push(if is_map { '}' } else { ']' });
        s
    }

    fn scalar(&self, v: &Value, _key: bool, _col: usize) -> String {
        match v.kind() {
            ValueKind::None | ValueKind::Undefined => "null".into(),
            ValueKind::Bool => if v.is_true() { "true" } else { "false" }.into(),
            ValueKind::Number if v.is_integer() => v.to_string(),
            ValueKind::Number => {
                let f = f64::try_from(v.clone()).unwrap_or(0.0);
                if f.is_nan() {
                    ".nan".into()
                } else if f.is_infinite() {
                    if f > 0.0 { ".inf" } else { "-.inf" }.into()
                } else {
                    float_repr(f)
                }
            }
            _ => {
                let s = match v.as_str() {
                    Some(s) => s.to_string(),
                    None => super::python::py_str(v),
                };
                string_scalar(&s)
            }
        }
    }
}

fn string_scalar(s: &str) -> String {
    if plain_allowed(s) && !resolves_to_other_type(s) {
        return s.to_string();
    }
    // Multi-line text is double-quoted with escapes, where PyYAML folds a
    // single-quoted scalar over several lines; both read back the same.
    if !has_special_chars(s) && !s.contains('\n') {
        return format!("'{}'", s.replace('\'', "''"));
    }
    double_quoted(s)
}

fn has_special_chars(s: &str) -> bool {
    s.chars().any(|c| {
        let u = c as u32;
        !(c == '\n' || c == '\t' || (0x20..=0x7e).contains(&u) || (u >= 0xa0 && u != 0xfeff))
    })
}

/// PyYAML's `analyze_scalar`, reduced to the question whether the text
/// can be written bare in block context.
fn plain_allowed(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.starts_with(' ') || s.ends_with(' ') || s.contains('\n') || has_special_chars(s) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let followed_by_space = |i: usize| chars.get(i + 1).is_none_or(|c| *c == ' ' || *c == '\n');
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if "?:-".contains(first) && followed_by_space(0) {
        return false;
    }
    for (i, c) in chars.iter().enumerate() {
        if *c == ':' && followed_by_space(i) {
            return false;
        }
        if *c == '#' && i > 0 && chars[i - 1] == ' ' {
            return false;
        }
        if *c == '\t' {
            return false;
        }
    }
    true
}

/// Whether YAML 1.1 (PyYAML's resolver) would read `s` as something other
/// than a string.
fn resolves_to_other_type(s: &str) -> bool {
    static OTHER: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let re = OTHER.get_or_init(|| {
        regex::Regex::new(concat!(
            r"^(?:",
            r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
            r"|~|null|Null|NULL|<<|=",
            r"|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
            r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
            r"|[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?",
            r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
            r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]",
            r"|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?",
            r")$"
        ))
        .ok()
    });
    re.as_ref().is_some_and(|r| r.is_match(s))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(j: serde_json::Value) -> Value {
        serde_json::from_value(j).unwrap()
    }

    fn v(j: serde_json::Value) -> Value {
        json(j)
    }

    #[test]
    fn nice_yaml_is_block_style_with_indent_four() {
        let doc = v(
            serde_json::json!({"b": [1, {"a": "b", "c": "d"}, "c"], "a": {"x": "yes", "y": null}}),
        );
        assert_eq!(
            dump(&doc, 4, Flow::Never),
            "a:\n    x: 'yes'\n    y: null\nb:\n- 1\n-   a: b\n    c: d\n- c\n"
        );
    }

    #[test]
    fn yaml_puts_leaf_collections_inline() {
        let doc = v(serde_json::json!([1, {"a": "b"}, "c"]));
        assert_eq!(dump(&doc, 2, Flow::Leaves), "- 1\n- {a: b}\n- c\n");
        assert_eq!(
            dump(&v(serde_json::json!("x")), 2, Flow::Leaves),
            "x\n...\n"
        );
    }
}
