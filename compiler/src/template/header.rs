//! The `#jinja2:` first line with which a template changes its own
//! environment (`#jinja2: trim_blocks: False, lstrip_blocks: True`), read
//! as Ansible reads it: the line is removed and each `key: value` pair
//! overrides one setting.

use minijinja::syntax::SyntaxConfig;

const HEADER: &str = "#jinja2:";

/// The settings a template can override, with Ansible's defaults.
#[derive(Clone, Debug)]
pub struct Overrides {
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
    pub keep_trailing_newline: bool,
    pub newline_sequence: String,
    pub block: (String, String),
    pub variable: (String, String),
    pub comment: (String, String),
    pub line_statement_prefix: Option<String>,
    pub line_comment_prefix: Option<String>,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            trim_blocks: true,
            lstrip_blocks: false,
            keep_trailing_newline: false,
            newline_sequence: "\n".into(),
            block: ("{%".into(), "%}".into()),
            variable: ("{{".into(), "}}".into()),
            comment: ("{#".into(), "#}".into()),
            line_statement_prefix: None,
            line_comment_prefix: None,
        }
    }
}

impl Overrides {
    pub fn syntax(&self) -> Result<SyntaxConfig, String> {
        let mut b = SyntaxConfig::builder();
        b.block_delimiters(self.block.0.clone(), self.block.1.clone())
            .variable_delimiters(self.variable.0.clone(), self.variable.1.clone())
            .comment_delimiters(self.comment.0.clone(), self.comment.1.clone())
            .trim_blocks(self.trim_blocks)
            .lstrip_blocks(self.lstrip_blocks)
            .keep_trailing_newline(self.keep_trailing_newline);
        if let Some(p) = &self.line_statement_prefix {
            b.line_statement_prefix(p.clone());
        }
        if let Some(p) = &self.line_comment_prefix {
            b.line_comment_prefix(p.clone());
        }
        b.build()
            .map_err(|e| format!("the `#jinja2:` header sets invalid delimiters: {e}"))
    }
}

/// The template without its header line, and the settings it asks for.
pub fn split(source: &str) -> Result<(String, Overrides), String> {
    let mut o = Overrides::default();
    let Some(rest) = source.strip_prefix(HEADER) else {
        return Ok((source.to_string(), o));
    };
    let Some(eol) = rest.find('\n') else {
        return Err("line 1: the `#jinja2:` header needs a newline after it".into());
    };
    for pair in rest[..eol].split(',') {
        if pair.trim().is_empty() {
            return Err("line 1: empty setting in the `#jinja2:` header".into());
        }
        let Some((key, value)) = pair.split_once(':') else {
            return Err(format!(
                "line 1: `{}` in the `#jinja2:` header needs the form `key: value`",
                pair.trim()
            ));
        };
        apply(&mut o, key.trim(), value.trim())?;
    }
    Ok((rest[eol + 1..].to_string(), o))
}

fn apply(o: &mut Overrides, key: &str, value: &str) -> Result<(), String> {
    match key {
        "trim_blocks" => o.trim_blocks = boolean(key, value)?,
        "lstrip_blocks" => o.lstrip_blocks = boolean(key, value)?,
        "keep_trailing_newline" => o.keep_trailing_newline = boolean(key, value)?,
        "newline_sequence" => o.newline_sequence = string(key, value)?,
        "block_start_string" => o.block.0 = string(key, value)?,
        "block_end_string" => o.block.1 = string(key, value)?,
        "variable_start_string" => o.variable.0 = string(key, value)?,
        "variable_end_string" => o.variable.1 = string(key, value)?,
        "comment_start_string" => o.comment.0 = string(key, value)?,
        "comment_end_string" => o.comment.1 = string(key, value)?,
        "line_statement_prefix" => o.line_statement_prefix = Some(string(key, value)?),
        "line_comment_prefix" => o.line_comment_prefix = Some(string(key, value)?),
        other => {
            return Err(format!(
                "line 1: `{other}` is not a setting the `#jinja2:` header can change \
                 (trim_blocks, lstrip_blocks, keep_trailing_newline, newline_sequence, \
                 the *_start_string/*_end_string delimiters, line_statement_prefix, line_comment_prefix)"
            ))
        }
    }
    Ok(())
}

/// A Python literal `True`/`False`, as Ansible reads it with `literal_eval`.
fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "True" => Ok(true),
        "False" => Ok(false),
        other => Err(format!(
            "line 1: `{key}` in the `#jinja2:` header takes True or False, not `{other}`"
        )),
    }
}

/// A quoted Python string literal, with the escapes headers use.
fn string(key: &str, value: &str) -> Result<String, String> {
    let quoted = value.len() >= 2
        && ((value.starts_with('"') && value.ends_with('"'))
            || (value.starts_with('\'') && value.ends_with('\'')));
    if !quoted {
        return Err(format!(
            "line 1: `{key}` in the `#jinja2:` header takes a quoted string, not `{value}`"
        ));
    }
    let inner = &value[1..value.len() - 1];
    Ok(inner
        .replace("\\r", "\r")
        .replace("\\n", "\n")
        .replace("\\t", "\t")
        .replace("\\\\", "\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_line_is_removed_and_read() {
        let (body, o) = split("#jinja2: trim_blocks: False, lstrip_blocks: True\nx\n").unwrap();
        assert_eq!(body, "x\n");
        assert!(!o.trim_blocks);
        assert!(o.lstrip_blocks);
    }

    #[test]
    fn bad_headers_are_clear_errors() {
        assert!(split("#jinja2: trim_blocks: maybe\n")
            .unwrap_err()
            .contains("True or False"));
        assert!(split("#jinja2: colour: True\n")
            .unwrap_err()
            .contains("`colour`"));
        assert!(split("#jinja2: trim_blocks: False").is_err());
    }

    #[test]
    fn delimiters_can_change() {
        let (_, o) =
            split("#jinja2: variable_start_string: '[%', variable_end_string: '%]'\n").unwrap();
        assert_eq!(o.variable, ("[%".to_string(), "%]".to_string()));
    }
}
