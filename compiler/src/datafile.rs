//! Data files read at compile time: `yaml_file`, `json_file`, `toml_file`.
//! They parse to ordinary values; a `let` annotation types them like any
//! other value, and when the check fails, [`locate`] finds the failing
//! part (`.servers[1].port`) in the file's text, so the message can point
//! at its line and column.

use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    Yaml,
    Json,
    Toml,
}

impl Format {
    pub fn of_builtin(name: &str) -> Option<Format> {
        match name {
            "yaml_file" => Some(Format::Yaml),
            "json_file" => Some(Format::Json),
            "toml_file" => Some(Format::Toml),
            _ => None,
        }
    }
}

/// The value of a data file's text, or the parser's message with its
/// line and column.
pub fn parse(format: Format, text: &str) -> Result<Value, String> {
    let json: serde_json::Value = match format {
        Format::Yaml => serde_norway::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!("line {}, column {}: {e}", l.line(), l.column()),
            None => e.to_string(),
        })?,
        Format::Json => serde_json::from_str(text)
            .map_err(|e| format!("line {}, column {}: {e}", e.line(), e.column()))?,
        Format::Toml => toml::from_str(text).map_err(|e| match e.line_col() {
            Some((l, c)) => format!("line {}, column {}: {e}", l + 1, c + 1),
            None => e.to_string(),
        })?,
    };
    Ok(Value::from_json(&json))
}

/// Line and column (1-based) of the part of a data file that a mismatch
/// path (`.servers[1].port`, `[0].name`) names. Works on the text, for
/// block-style YAML, JSON and TOML as people write them; `None` when the
/// part cannot be found.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0usize;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for seg in segments(path) {
        match seg {
            Segment::Key(k) => {
                let (i, col) = (from..lines.len()).find_map(|i| {
                    let line = lines[i];
                    let body = line.trim_start();
                    let mut indent = line.len() - body.len();
                    let body = match body.strip_prefix("- ") {
                        Some(rest) => {
                            indent += 2;
                            rest
                        }
                        None => body,
                    };
                    if parent_indent.is_some_and(|p| indent <= p && i > from) {
                        return None;
                    }
                    is_key_line(body, &k).then_some((i, indent))
                })?;
                from = i;
                // A TOML table's keys follow its `[name]` line unindented.
                let table = lines[i].trim_start().starts_with('[');
                parent_indent = if table { None } else { Some(col) };
                found = Some((i + 1, col + 1));
            }
            Segment::Index(n) => {
                let mut seen = 0;
                let mut item_indent = None;
                let mut hit = None;
                for (i, line) in lines.iter().enumerate().skip(from + 1) {
                    let body = line.trim_start();
                    let indent = line.len() - body.len();
                    if body.is_empty() || body.starts_with('#') {
                        continue;
                    }
                    if parent_indent.is_some_and(|p| indent < p) {
                        break;
                    }
                    if body.starts_with("- ") || body == "-" {
                        if *item_indent.get_or_insert(indent) != indent {
                            continue;
                        }
                        if seen == n {
                            hit = Some((i, indent));
                            break;
                        }
                        seen += 1;
                    }
                }
                let (i, indent) = hit?;
                from = i;
                parent_indent = Some(indent);
                found = Some((i + 1, indent + 1));
            }
        }
    }
    found
}

enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            out.push(Segment::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').unwrap_or(r.len());
            if let Ok(n) = r[..end].parse() {
                out.push(Segment::Index(n));
            }
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            break;
        }
    }
    out
}

fn is_key_line(body: &str, key: &str) -> bool {
    let quoted = [format!("\"{key}\""), format!("'{key}'"), key.to_string()];
    quoted.iter().any(|k| {
        body.strip_prefix(k.as_str()).is_some_and(|r| {
            let r = r.trim_start();
            r.starts_with(':') || r.starts_with('=')
        })
    }) || body == format!("[{key}]")
        || body == format!("[[{key}]]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_yaml_json_and_toml_parts() {
        let yaml =
            "name: app\nservers:\n  - host: a\n    port: 80\n  - host: b\n    port: eighty\n";
        assert_eq!(locate(yaml, ".servers[1].port"), Some((6, 5)));
        assert_eq!(locate(yaml, ".name"), Some((1, 1)));
        let json = "{\n  \"name\": \"app\",\n  \"port\": \"x\"\n}\n";
        assert_eq!(locate(json, ".port"), Some((3, 3)));
        let toml = "name = \"app\"\n[db]\nport = \"x\"\n";
        assert_eq!(locate(toml, ".db.port"), Some((3, 1)));
        assert_eq!(locate(yaml, ".missing"), None);
    }

    #[test]
    fn parse_errors_have_line_and_column() {
        let e = parse(Format::Yaml, "a: [1\nb: 2\n").unwrap_err();
        assert!(e.contains("line"), "{e}");
        let e = parse(Format::Json, "{\"a\": }").unwrap_err();
        assert!(e.starts_with("line 1, column"), "{e}");
    }
}
