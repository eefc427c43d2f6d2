//! Ansible's filters and tests, written to give the same results as
//! `ansible-core` (`plugins/filter/core.py`, `mathstuff.py`,
//! `plugins/test/core.py`), and the Jinja2 filters whose output differs
//! from minijinja's (`string`, `indent`, `tojson`).

use super::python::{json_dumps, percent, py_str};
use super::strict::add_filter;
use super::yaml::{dump, Flow};
use indexmap::IndexMap;
use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use std::collections::BTreeMap;

pub fn register(env: &mut Environment<'static>) {
    super::strict::wrap_builtins(env);
    env.add_function(super::rewrite::PERCENT_FN, percent);
    env.add_function(super::rewrite::PERCENT_ONE_FN, |a: Value, b: Value| {
        if a.kind() == ValueKind::String {
            percent(a, Value::from(vec![b]))
        } else {
            percent(a, b)
        }
    });
    add_filter(env, "bool", to_bool);
    add_filter(env, "int", to_int);
    add_filter(env, "string", |v: Value| py_str(&v));
    add_filter(env, "indent", indent);
    add_filter(env, "to_json", to_json);
    add_filter(env, "tojson", tojson);
    add_filter(env, "to_nice_json", to_nice_json);
    add_filter(env, "to_yaml", to_yaml);
    add_filter(env, "to_nice_yaml", to_nice_yaml);
    add_filter(env, "from_json", from_json);
    add_filter(env, "from_yaml", from_yaml);
    env.add_filter("mandatory", mandatory);
    add_filter(env, "ternary", ternary);
    add_filter(env, "regex_replace", regex_replace);
    add_filter(env, "regex_search", regex_search);
    add_filter(env, "regex_findall", regex_findall);
    add_filter(env, "regex_escape", |s: String| regex::escape(&s));
    add_filter(env, "b64encode", b64encode);
    add_filter(env, "b64decode", b64decode);
    add_filter(env, "basename", |p: String| basename(&p));
    add_filter(env, "dirname", |p: String| dirname(&p));
    add_filter(env, "splitext", splitext);
    add_filter(env, "path_join", path_join);
    add_filter(env, "hash", hash);
    add_filter(env, "checksum", |s: String| digest("sha1", &s));
    add_filter(env, "sha1", |s: String| digest("sha1", &s));
    add_filter(env, "md5", |s: String| digest("md5", &s));
    add_filter(env, "quote", |v: Value| shell_quote(&py_str(&v)));
    add_filter(env, "comment", comment);
    add_filter(env, "combine", combine);
    add_filter(env, "dict2items", dict2items);
    add_filter(env, "items2dict", items2dict);
    add_filter(env, "union", union);
    add_filter(env, "intersect", intersect);
    add_filter(env, "difference", difference);
    add_filter(env, "symmetric_difference", symmetric_difference);
    add_filter(env, "flatten", flatten);
    add_filter(env, "version_compare", version_filter);
    env.add_filter("type_debug", type_debug);
    env.add_test("version", version_filter);
    env.add_test("version_compare", version_filter);
    env.add_test("match", |v: String, pattern: String, kwargs: Kwargs| {
        regex_test(&v, &pattern, kwargs, true)
    });
    env.add_test("search", |v: String, pattern: String, kwargs: Kwargs| {
        regex_test(&v, &pattern, kwargs, false)
    });
    env.add_test("regex", |v: String, pattern: String, kwargs: Kwargs| {
        regex_test(&v, &pattern, kwargs, false)
    });
    env.add_test("undefined", |v: Value| v.is_undefined());
    env.add_test("truthy", |v: Value| v.is_true());
    env.add_test("falsy", |v: Value| !v.is_true());
    env.add_test("contains", |v: Value, x: Value| list(&v).contains(&x));
    env.add_test("subset", |a: Value, b: Value| {
        let b = list(&b);
        list(&a).iter().all(|x| b.contains(x))
    });
    env.add_test("superset", |a: Value, b: Value| {
        let a = list(&a);
        list(&b).iter().all(|x| a.contains(x))
    });
}

fn err(msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

fn list(v: &Value) -> Vec<Value> {
    v.try_iter().into_iter().flatten().collect()
}

fn kw_bool(kwargs: &Kwargs, name: &str) -> Result<bool, Error> {
    Ok(kwargs.get::<Option<bool>>(name)?.unwrap_or(false))
}

/// Ansible's `bool`: `yes`, `on`, `true`, `1` (any case) are true;
/// everything else, including `no`, `off`, `false` and `0`, is false.
fn to_bool(v: Value) -> bool {
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::String => matches!(
            v.as_str().unwrap_or_default().to_lowercase().as_str(),
            "yes" | "on" | "true" | "1"
        ),
        ValueKind::Number => i64::try_from(v).ok() == Some(1),
        _ => false,
    }
}

/// Jinja2's `int`: text that is not a number becomes `default` (0)
/// rather than an error; `"3.7"` becomes 3.
fn to_int(
    v: Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = match default {
        Some(d) => d,
        None => kwargs
            .get::<Option<Value>>("default")?
            .unwrap_or(Value::from(0)),
    };
    let base = match base {
        Some(b) => b,
        None => kwargs.get::<Option<u32>>("base")?.unwrap_or(10),
    };
    kwargs.assert_all_used()?;
    Ok(match v.kind() {
        ValueKind::Bool => Value::from(i64::from(v.is_true())),
        ValueKind::Number if v.is_integer() => v,
        ValueKind::Number => f64::try_from(v).map_or(default, |f| Value::from(f.trunc() as i64)),
        ValueKind::String => {
            let text = v.as_str().unwrap_or_default().trim().replace('_', "");
            let digits = match base {
                16 => text.trim_start_matches("0x").trim_start_matches("0X"),
                8 => text.trim_start_matches("0o").trim_start_matches("0O"),
                2 => text.trim_start_matches("0b").trim_start_matches("0B"),
                _ => text.as_str(),
            };
            match i64::from_str_radix(digits, base.clamp(2, 36)) {
                Ok(i) => Value::from(i),
                Err(_) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && base == 10)
                    .map_or(default, |f| Value::from(f.trunc() as i64)),
            }
        }
        _ => default,
    })
}

/// Jinja2's `indent`: keeps the text's last newline.
fn indent(
    s: String,
    width: Option<Value>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let width = match width {
        Some(w) => Some(w),
        None => kwargs.get::<Option<Value>>("width")?,
    };
    let first = first.unwrap_or(kw_bool(&kwargs, "first")?);
    let blank = blank.unwrap_or(kw_bool(&kwargs, "blank")?);
    kwargs.assert_all_used()?;
    let prefix = match width {
        Some(w) if w.kind() == ValueKind::String => w.as_str().unwrap_or_default().to_string(),
        Some(w) => " ".repeat(usize::try_from(w).unwrap_or(4)),
        None => " ".repeat(4),
    };
    let text = format!("{s}\n");
    let lines = python_splitlines(&text);
    let mut out = if blank {
        lines.join(&format!("\n{prefix}"))
    } else {
        let mut it = lines.iter();
        let mut out = it.next().cloned().unwrap_or_default();
        for line in it {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&prefix);
            }
            out.push_str(line);
        }
        out
    };
    if first {
        out.insert_str(0, &prefix);
    }
    Ok(out)
}

fn python_splitlines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut cur));
            }
            '\n' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn to_json(v: Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?;
    let ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
    let _ = kwargs.get::<Option<bool>>("sort_keys")?;
    kwargs.assert_all_used()?;
    json_dumps(&v, indent, ascii)
}

fn to_nice_json(v: Value, indent: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let indent = indent
        .or(kwargs.get::<Option<usize>>("indent")?)
        .unwrap_or(4);
    let ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
    let _ = kwargs.get::<Option<bool>>("sort_keys")?;
    kwargs.assert_all_used()?;
    json_dumps(&v, Some(indent), ascii)
}

/// Jinja2's `tojson`: sorted keys, and `<`, `>`, `&`, `'` escaped so the
/// result is safe inside HTML.
fn tojson(v: Value, indent: Option<usize>) -> Result<String, Error> {
    Ok(json_dumps(&v, indent, true)?
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027"))
}

fn to_yaml(v: Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(2);
    let block = kwargs.get::<Option<bool>>("default_flow_style")? == Some(false);
    kwargs.assert_all_used()?;
    Ok(dump(
        &v,
        indent,
        if block { Flow::Never } else { Flow::Leaves },
    ))
}

fn to_nice_yaml(v: Value, indent: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let indent = indent
        .or(kwargs.get::<Option<usize>>("indent")?)
        .unwrap_or(4);
    kwargs.assert_all_used()?;
    Ok(dump(&v, indent, Flow::Never))
}

fn from_json(s: String) -> Result<Value, Error> {
    serde_json::from_str::<Value>(&s).map_err(|e| err(format!("from_json: {e}")))
}

fn from_yaml(s: String) -> Result<Value, Error> {
    serde_norway::from_str::<Value>(&s).map_err(|e| err(format!("from_yaml: {e}")))
}

fn mandatory(v: Value, msg: Option<String>) -> Result<Value, Error> {
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            msg.unwrap_or_else(|| "a mandatory variable is not defined".into()),
        ));
    }
    Ok(v)
}

fn ternary(v: Value, yes: Value, no: Value, none: Option<Value>) -> Value {
    match none {
        Some(n) if v.is_none() && !n.is_none() => n,
        _ if v.is_true() => yes,
        _ => no,
    }
}

fn build_regex(pattern: &str, ignorecase: bool, multiline: bool) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| err(format!("bad regular expression `{pattern}`: {e}")))
}

/// Python's replacement syntax (`\1`, `\g<name>`) in Rust's (`${1}`).
fn python_replacement(r: &str) -> String {
    static GROUP: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let r = r.replace('$', "$$");
    match GROUP.get_or_init(|| regex::Regex::new(r"\\(?:g<(\w+)>|(\d+))").ok()) {
        Some(re) => re
            .replace_all(&r, |c: &regex::Captures| {
                let g = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                format!("${{{g}}}")
            })
            .replace("\\n", "\n")
            .replace("\\t", "\t")
            .replace("\\\\", "\\"),
        None => r,
    }
}

fn regex_replace(
    v: Value,
    pattern: Option<String>,
    replacement: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let re = build_regex(
        &pattern.unwrap_or_default(),
        kw_bool(&kwargs, "ignorecase")?,
        kw_bool(&kwargs, "multiline")?,
    )?;
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let _ = kwargs.get::<Option<usize>>("mandatory_count")?;
    kwargs.assert_all_used()?;
    let text = py_str(&v);
    let rep = python_replacement(&replacement.unwrap_or_default());
    Ok(re.replacen(&text, count, rep.as_str()).into_owned())
}

fn regex_search(
    v: Value,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let re = build_regex(
        &pattern,
        kw_bool(&kwargs, "ignorecase")?,
        kw_bool(&kwargs, "multiline")?,
    )?;
    kwargs.assert_all_used()?;
    let text = py_str(&v);
    let Some(caps) = re.captures(&text) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        let m = if let Some(name) = g.strip_prefix("\\g<").and_then(|n| n.strip_suffix('>')) {
            caps.name(name)
        } else if let Some(n) = g.strip_prefix('\\').and_then(|n| n.parse::<usize>().ok()) {
            caps.get(n)
        } else {
            return Err(err(format!(
                "regex_search: unknown argument `{g}` (use \\1 or \\g<name>)"
            )));
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

/// Python's `re.findall`: whole matches, the one group, or tuples of groups.
fn regex_findall(v: Value, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    let re = build_regex(
        &pattern,
        kw_bool(&kwargs, "ignorecase")?,
        kw_bool(&kwargs, "multiline")?,
    )?;
    kwargs.assert_all_used()?;
    let text = py_str(&v);
    let groups = re.captures_len() - 1;
    let found: Vec<Value> = re
        .captures_iter(&text)
        .map(|c| {
            let group = |i: usize| Value::from(c.get(i).map_or("", |m| m.as_str()));
            match groups {
                0 => group(0),
                1 => group(1),
                n => Value::from((1..=n).map(group).collect::<Vec<_>>()),
            }
        })
        .collect();
    Ok(Value::from(found))
}

fn regex_test(v: &str, pattern: &str, kwargs: Kwargs, anchored: bool) -> Result<bool, Error> {
    let re = build_regex(
        pattern,
        kw_bool(&kwargs, "ignorecase")?,
        kw_bool(&kwargs, "multiline")?,
    )?;
    kwargs.assert_all_used()?;
    Ok(if anchored {
        regex_anchored(&re, v)
    } else {
        re.is_match(v)
    })
}

/// Python's `re.match`: a match that starts at the beginning.
fn regex_anchored(re: &regex::Regex, v: &str) -> bool {
    regex::Regex::new(&format!("^(?:{})", re.as_str()))
        .ok()
        .is_some_and(|a| a.is_match(v))
}

fn b64encode(v: Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(py_str(&v))
}

fn b64decode(s: String) -> Result<String, Error> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| err(format!("b64decode: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err("b64decode: the decoded bytes are not UTF-8 text"))
}

fn basename(p: &str) -> String {
    p.rsplit('/').next().unwrap_or("").to_string()
}

/// Python's `os.path.dirname`: everything before the last `/`, trailing
/// slashes removed unless that leaves nothing.
fn dirname(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => {
            let head = &p[..=i];
            let trimmed = head.trim_end_matches('/');
            if trimmed.is_empty() {
                head.to_string()
            } else {
                trimmed.to_string()
            }
        }
        None => String::new(),
    }
}

fn splitext(p: String) -> Value {
    let base_start = p.rfind('/').map_or(0, |i| i + 1);
    let base = &p[base_start..];
    let dots = base.len() - base.trim_start_matches('.').len();
    match base[dots..].rfind('.') {
        Some(i) => {
            let at = base_start + dots + i;
            Value::from(vec![Value::from(&p[..at]), Value::from(&p[at..])])
        }
        None => Value::from(vec![Value::from(p.as_str()), Value::from("")]),
    }
}

fn path_join(parts: Value) -> String {
    let mut out = String::new();
    for part in list(&parts) {
        let s = py_str(&part);
        if s.starts_with('/') {
            out = s;
        } else if out.is_empty() || out.ends_with('/') {
            out.push_str(&s);
        } else {
            out.push('/');
            out.push_str(&s);
        }
    }
    out
}

fn hash(v: Value, kind: Option<String>) -> Result<String, Error> {
    let kind = kind.unwrap_or_else(|| "sha1".into());
    match kind.as_str() {
        "sha1" | "md5" | "sha256" | "sha512" | "sha224" | "sha384" => {
            Ok(digest(&kind, &py_str(&v)))
        }
        other => Err(err(format!(
            "hash: unknown hash type `{other}` (sha1, sha224, sha256, sha384, sha512, md5)"
        ))),
    }
}

fn digest(kind: &str, s: &str) -> String {
    use sha2::Digest as _;
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    match kind {
        "md5" => hex(&md5::Md5::digest(s.as_bytes())),
        "sha224" => hex(&sha2::Sha224::digest(s.as_bytes())),
        "sha256" => hex(&sha2::Sha256::digest(s.as_bytes())),
        "sha384" => hex(&sha2::Sha384::digest(s.as_bytes())),
        "sha512" => hex(&sha2::Sha512::digest(s.as_bytes())),
        _ => hex(&sha1::Sha1::digest(s.as_bytes())),
    }
}

/// Python's `shlex.quote`.
fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// Ansible's `comment` filter, with its styles and keyword overrides.
fn comment(text: String, style: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let style = style.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(err(format!(
                "comment: unknown style `{other}` (plain, erlang, c, cblock, xml)"
            )))
        }
    };
    let get = |name: &str, default: &str| -> Result<String, Error> {
        Ok(kwargs
            .get::<Option<String>>(name)?
            .unwrap_or_else(|| default.to_string()))
    };
    let prepostfix = get("decoration", decoration)?;
    let newline = get("newline", "\n")?;
    let beginning = get("beginning", beginning)?;
    let prefix = get("prefix", prepostfix.trim_end())?;
    let prefix_count = kwargs.get::<Option<usize>>("prefix_count")?.unwrap_or(1);
    let decoration = get("decoration", decoration)?;
    let postfix = get("postfix", prepostfix.trim_end())?;
    let postfix_count = kwargs.get::<Option<usize>>("postfix_count")?.unwrap_or(1);
    let end = get("end", end)?;
    kwargs.assert_all_used()?;

    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        let line = if prefix != newline {
            format!("{prefix}{newline}")
        } else {
            newline.clone()
        };
        out.push_str(&line.repeat(prefix_count));
    }
    let body = format!(
        "{decoration}{}",
        text.replace(&newline, &format!("{newline}{decoration}"))
    )
    .replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    out.push_str(&body);
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}

fn as_map(v: &Value) -> Result<IndexMap<Value, Value>, Error> {
    if v.kind() != ValueKind::Map {
        return Err(err(format!("expected a dictionary, found {}", v.kind())));
    }
    Ok(list(v)
        .into_iter()
        .map(|k| {
            let item = v.get_item(&k).unwrap_or_default();
            (k, item)
        })
        .collect())
}

fn combine(first: Value, rest: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive = kw_bool(&kwargs, "recursive")?;
    let list_merge = kwargs
        .get::<Option<String>>("list_merge")?
        .unwrap_or_else(|| "replace".into());
    kwargs.assert_all_used()?;
    let mut dicts = Vec::new();
    for v in std::iter::once(first).chain(rest.iter().cloned()) {
        if v.kind() == ValueKind::Seq {
            dicts.extend(list(&v));
        } else {
            dicts.push(v);
        }
    }
    let mut result = IndexMap::new();
    for d in dicts {
        result = merge(result, as_map(&d)?, recursive, &list_merge)?;
    }
    Ok(Value::from(result))
}

fn merge(
    mut x: IndexMap<Value, Value>,
    y: IndexMap<Value, Value>,
    recursive: bool,
    list_merge: &str,
) -> Result<IndexMap<Value, Value>, Error> {
    for (k, yv) in y {
        let merged = match x.get(&k).cloned() {
            Some(xv) if recursive && xv.kind() == ValueKind::Map && yv.kind() == ValueKind::Map => {
                Value::from(merge(as_map(&xv)?, as_map(&yv)?, recursive, list_merge)?)
            }
            Some(xv) if xv.kind() == ValueKind::Seq && yv.kind() == ValueKind::Seq => {
                let (xs, ys) = (list(&xv), list(&yv));
                let without = |a: &[Value], b: &[Value]| {
                    a.iter()
                        .filter(|i| !b.contains(i))
                        .cloned()
                        .collect::<Vec<_>>()
                };
                Value::from(match list_merge {
                    "keep" => xs,
                    "append" => [xs, ys].concat(),
                    "prepend" => [ys, xs].concat(),
                    "append_rp" => [without(&xs, &ys), ys].concat(),
                    "prepend_rp" => [ys.clone(), without(&xs, &ys)].concat(),
                    _ => ys,
                })
            }
            _ => yv,
        };
        x.insert(k, merged);
    }
    Ok(x)
}

fn dict2items(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    Ok(Value::from(
        as_map(&v)?
            .into_iter()
            .map(|(k, item)| Value::from(BTreeMap::from([(key.clone(), k), (value.clone(), item)])))
            .collect::<Vec<_>>(),
    ))
}

fn items2dict(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key = kwargs
        .get::<Option<String>>("key_name")?
        .unwrap_or_else(|| "key".into());
    let value = kwargs
        .get::<Option<String>>("value_name")?
        .unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    let mut out = IndexMap::new();
    for item in list(&v) {
        let k = item.get_attr(&key)?;
        let val = item.get_attr(&value)?;
        if k.is_undefined() || val.is_undefined() {
            return Err(err(format!(
                "items2dict: each item needs `{key}` and `{value}`"
            )));
        }
        out.insert(k, val);
    }
    Ok(Value::from(out))
}

fn dedup(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn union(a: Value, b: Value) -> Value {
    Value::from(dedup([list(&a), list(&b)].concat()))
}

fn intersect(a: Value, b: Value) -> Value {
    let b = list(&b);
    Value::from(dedup(
        list(&a).into_iter().filter(|i| b.contains(i)).collect(),
    ))
}

fn difference(a: Value, b: Value) -> Value {
    let b = list(&b);
    Value::from(dedup(
        list(&a).into_iter().filter(|i| !b.contains(i)).collect(),
    ))
}

fn symmetric_difference(a: Value, b: Value) -> Value {
    let (la, lb) = (list(&a), list(&b));
    let mut out: Vec<Value> = la.iter().filter(|i| !lb.contains(i)).cloned().collect();
    out.extend(lb.iter().filter(|i| !la.contains(i)).cloned());
    Value::from(dedup(out))
}

/// Ansible's `flatten`: nested lists to `levels` deep, dropping nulls.
fn flatten(v: Value, levels: Option<i64>, kwargs: Kwargs) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get::<Option<i64>>("levels")?,
    };
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    fn go(items: Vec<Value>, levels: Option<i64>, skip_nulls: bool, out: &mut Vec<Value>) {
        for i in items {
            let null = i.is_none() || matches!(i.as_str(), Some("None" | "null"));
            if skip_nulls && null {
                continue;
            }
            if i.kind() == ValueKind::Seq && levels.is_none_or(|l| l >= 1) {
                go(list(&i), levels.map(|l| l - 1), skip_nulls, out);
            } else {
                out.push(i);
            }
        }
    }
    let mut out = Vec::new();
    go(list(&v), levels, skip_nulls, &mut out);
    Ok(Value::from(out))
}

fn type_debug(v: Value) -> &'static str {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Map => "dict",
        _ => "list",
    }
}

/// `version(other, op)` as a test and `version_compare` as a filter, with
/// Ansible's default (loose) comparison.
fn version_filter(
    v: Value,
    other: Value,
    op: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    let op = match op {
        Some(op) => op,
        None => kwargs
            .get::<Option<String>>("operator")?
            .unwrap_or_else(|| "eq".into()),
    };
    let _ = kwargs.get::<Option<bool>>("strict")?;
    let _ = kwargs.get::<Option<String>>("version_type")?;
    kwargs.assert_all_used()?;
    let (a, b) = (py_str(&v), py_str(&other));
    if a.is_empty() {
        return Err(err("version: the version to compare is empty"));
    }
    if b.is_empty() {
        return Err(err("version: the version to compare against is empty"));
    }
    crate::version::compare_with(&a, &op, &b).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansible_bool() {
        for no in ["no", "off", "false", "0", "False", "NO", "whatever"] {
            assert!(!to_bool(Value::from(no)), "{no}");
        }
        for yes in ["yes", "on", "true", "1", "True"] {
            assert!(to_bool(Value::from(yes)), "{yes}");
        }
    }

    #[test]
    fn paths_like_python() {
        assert_eq!(dirname("/a/b.c"), "/a");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("b"), "");
        assert_eq!(basename("/a/b/"), "");
        assert_eq!(shell_quote("a b'c"), "'a b'\"'\"'c'");
    }

    #[test]
    fn indent_keeps_trailing_newline() {
        assert_eq!(
            indent(
                "a\nb\n".into(),
                None,
                None,
                None,
                Kwargs::from_iter(std::iter::empty::<(&str, Value)>())
            )
            .unwrap(),
            "a\n    b\n"
        );
    }
}
