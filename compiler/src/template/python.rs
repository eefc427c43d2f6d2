//! How Python prints values, since a Jinja2 template's output is Python's
//! `str()` of each value: `True`, `None`, `['a', 1]`, `{'k': 'v'}`, `2.5`.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind, Output, State};

/// The environment's formatter: Python's `str()`, except that a `None`
/// printed directly is an empty string (Ansible's finalize) and that
/// printing an undefined value is an error.
pub fn format_output(out: &mut Output, _state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "a variable printed here is undefined (pass it in the template's vars, or use `| default(…)`)",
        ));
    }
    if value.is_none() {
        return Ok(());
    }
    out.write_str(&py_str(value))
        .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
}

/// Python's `str(value)`.
pub fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => py_repr(v),
        _ => scalar_repr(v),
    }
}

/// Python's `repr(value)`.
pub fn py_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => str_repr(v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = v
                .try_iter()
                .into_iter()
                .flatten()
                .map(|i| py_repr(&i))
                .collect();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = v
                .try_iter()
                .into_iter()
                .flatten()
                .map(|k| {
                    let item = v.get_item(&k).unwrap_or_default();
                    format!("{}: {}", py_repr(&k), py_repr(&item))
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        _ => scalar_repr(v),
    }
}

fn scalar_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => "None".into(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::Number => match f64::try_from(v.clone()) {
            Ok(f) if !v.is_integer() => float_repr(f),
            _ => v.to_string(),
        },
        _ => v.to_string(),
    }
}

/// Python's shortest float repr: `3.0`, `2.5`, `1e+20`, `1e-05`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if !(-4..16).contains(&exp) {
        // Rust's `{:e}` is the shortest round-trip digits too.
        let s = format!("{f:e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", e.abs());
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// Python's repr of a string: single quotes unless the text has one and
/// no double quote.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `json.dumps` with its default separators, or with `indent`
/// and `(',', ': ')` for `to_nice_json`. Keys come sorted (mc's records
/// are); `ensure_ascii` escapes non-ASCII text as Python does.
pub fn json_dumps(v: &Value, indent: Option<usize>, ensure_ascii: bool) -> Result<String, Error> {
    let mut out = String::new();
    json_write(v, indent, 0, ensure_ascii, &mut out)?;
    Ok(out)
}

fn json_write(
    v: &Value,
    indent: Option<usize>,
    depth: usize,
    ascii: bool,
    out: &mut String,
) -> Result<(), Error> {
    let (item_sep, key_sep) = if indent.is_some() {
        (",", ": ")
    } else {
        (", ", ": ")
    };
    let newline = |out: &mut String, d: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * d));
        }
    };
    match v.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "cannot turn an undefined value into JSON",
            ))
        }
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(
            &scalar_repr(v)
                .replace("inf", "Infinity")
                .replace("nan", "NaN"),
        ),
        ValueKind::String => json_str(v.as_str().unwrap_or_default(), ascii, out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter().into_iter().flatten().collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                json_write(item, indent, depth + 1, ascii, out)?;
            }
            newline(out, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter().into_iter().flatten().collect();
            keys.sort();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                json_str(&py_str(key), ascii, out);
                out.push_str(key_sep);
                json_write(
                    &v.get_item(key).unwrap_or_default(),
                    indent,
                    depth + 1,
                    ascii,
                    out,
                )?;
            }
            newline(out, depth);
            out.push('}');
        }
        _ => json_str(&v.to_string(), ascii, out),
    }
    Ok(())
}

fn json_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ascii && (c as u32) > 0x7e) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `a % b`: Python's string formatting when `a` is a string, the
/// remainder (with the sign of `b`, as in Python) when both are numbers.
pub fn percent(a: Value, b: Value) -> Result<Value, Error> {
    if let Some(fmt) = a.as_str() {
        let args: Vec<Value> = match b.kind() {
            ValueKind::Seq if !b.is_kwargs() => b.try_iter().into_iter().flatten().collect(),
            // A mapping stays one for `%(name)s`.
            _ => {
                return minijinja::formatting::format(
                    minijinja::formatting::FormatStyle::Printf,
                    fmt,
                    &[printable_arg(b)],
                )
                .map(Value::from)
            }
        };
        let args: Vec<Value> = args.into_iter().map(printable_arg).collect();
        return minijinja::formatting::format(
            minijinja::formatting::FormatStyle::Printf,
            fmt,
            &args,
        )
        .map(Value::from);
    }
    match (i64::try_from(a.clone()), i64::try_from(b.clone())) {
        (Ok(x), Ok(y)) if a.is_integer() && b.is_integer() => {
            if y == 0 {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "integer modulo by zero",
                ));
            }
            Ok(Value::from(
                x.rem_euclid(y) + if y < 0 && x.rem_euclid(y) != 0 { y } else { 0 },
            ))
        }
        _ => match (f64::try_from(a.clone()), f64::try_from(b.clone())) {
            (Ok(x), Ok(y)) if y != 0.0 => Ok(Value::from(x - y * (x / y).floor())),
            _ => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot use `%` on {} and {}", a.kind(), b.kind()),
            )),
        },
    }
}

/// Values that `%s` prints the Python way; numbers stay numbers for
/// `%d` and `%f`.
fn printable_arg(v: Value) -> Value {
    match v.kind() {
        ValueKind::Bool | ValueKind::None | ValueKind::Seq => Value::from(py_str(&v)),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(j: serde_json::Value) -> Value {
        serde_json::from_value(j).unwrap()
    }

    #[test]
    fn prints_values_as_python_does() {
        let v = json(serde_json::json!([1, null, "x", true, "it's", {"k": 2.5}]));
        assert_eq!(py_str(&v), "[1, None, 'x', True, \"it's\", {'k': 2.5}]");
        assert_eq!(float_repr(3.0), "3.0");
        assert_eq!(float_repr(1e20), "1e+20");
        assert_eq!(float_repr(0.00001), "1e-05");
    }

    #[test]
    fn python_remainder_and_formatting() {
        assert_eq!(
            percent(Value::from(-7), Value::from(3)).unwrap(),
            Value::from(2)
        );
        assert_eq!(
            percent(Value::from(7), Value::from(-3)).unwrap(),
            Value::from(-2)
        );
        assert_eq!(
            percent(
                Value::from("%s-%02d"),
                Value::from(vec![Value::from(true), Value::from(7)])
            )
            .unwrap(),
            Value::from("True-07")
        );
    }

    #[test]
    fn json_like_python() {
        let v = json(serde_json::json!({"b": [1, "é"], "a": {}}));
        assert_eq!(
            json_dumps(&v, None, true).unwrap(),
            r#"{"a": {}, "b": [1, "\u00e9"]}"#
        );
        assert_eq!(
            json_dumps(&v, Some(2), true).unwrap(),
            "{\n  \"a\": {},\n  \"b\": [\n    1,\n    \"\\u00e9\"\n  ]\n}"
        );
    }
}
