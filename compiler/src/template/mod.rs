//! Jinja2 templates rendered at compile time with minijinja, in the
//! environment Ansible's `template` module uses, so that templates copied
//! from Ansible roles render the same bytes: `trim_blocks` on, the
//! `#jinja2:` header's overrides, `None` printed as an empty string,
//! Python's `%` formatting and string/dict/list methods, and Ansible's
//! filters and tests.

mod filters;
mod header;
mod python;
mod rewrite;
mod strict;
mod yaml;

use crate::value::{from_placeholder_text, secret_placeholders, Value};
/// Reads a template that another template includes, imports or extends,
/// by the name written in the template. Resolving the name and keeping the
/// read inside the project is the caller's part.
pub type Reader<'a> = dyn FnMut(&str) -> Result<String, String> + 'a;

/// How many templates one render may pull in, so that a cycle of
/// includes is an error rather than a hang.
const MAX_TEMPLATES: usize = 256;

/// Renders `source` (named `name` in messages) with `vars`. Secrets in
/// `vars` survive as markers and make the result a secret. Templates that
/// this one includes, imports or extends are read through `read`.
pub fn render(
    name: &str,
    source: &str,
    vars: &Value,
    read: &mut Reader<'_>,
) -> Result<Value, String> {
    let (body, overrides) = header::split(source)?;
    let syntax = overrides.syntax()?;
    let mut env = environment(&overrides)?;
    add_referenced(&mut env, &body, &syntax, read)?;
    env.add_template_owned(name.to_string(), rewrite::python_percent(&body, &syntax))
        .map_err(|e| describe(&e))?;
    let tmpl = env.get_template(name).map_err(|e| describe(&e))?;
    let ctx = with_ansible_defaults(to_jinja(vars));
    let text = tmpl.render(ctx).map_err(|e| describe(&e))?;
    let text = keep_trailing_newlines(&body, text, &overrides.newline_sequence);
    Ok(from_placeholder_text(&text))
}

/// Loads every template `body` names, and the ones they name, into `env`.
fn add_referenced(
    env: &mut minijinja::Environment<'static>,
    body: &str,
    syntax: &minijinja::syntax::SyntaxConfig,
    read: &mut Reader<'_>,
) -> Result<(), String> {
    let mut pending = rewrite::referenced_templates(body, syntax)?;
    let mut loaded = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !loaded.insert(name.clone()) {
            continue;
        }
        if loaded.len() > MAX_TEMPLATES {
            return Err(format!("more than {MAX_TEMPLATES} templates are included"));
        }
        let text = read(&name)?;
        pending.extend(
            rewrite::referenced_templates(&text, syntax).map_err(|e| format!("{name}: {e}"))?,
        );
        env.add_template_owned(name.clone(), rewrite::python_percent(&text, syntax))
            .map_err(|e| describe(&e))?;
    }
    Ok(())
}

/// The environment of Ansible's template module, with `overrides` from the
/// template's `#jinja2:` header.
fn environment(overrides: &header::Overrides) -> Result<minijinja::Environment<'static>, String> {
    let mut env = minijinja::Environment::new();
    env.set_syntax(overrides.syntax()?);
    // Ansible lets a lookup on an undefined value stay undefined (so that
    // `a.b | default(x)` works) but refuses to print one: the formatter
    // does the refusing.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_formatter(python::format_output);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // A template that never ends would be a compile that never ends.
    env.set_fuel(Some(50_000_000));
    filters::register(&mut env);
    Ok(env)
}

/// Ansible's own variables that templates print, with Ansible's values,
/// unless the caller passes them.
fn with_ansible_defaults(ctx: minijinja::Value) -> minijinja::Value {
    if ctx.kind() != minijinja::value::ValueKind::Map {
        return with_ansible_defaults(minijinja::Value::from(std::collections::BTreeMap::<
            String,
            minijinja::Value,
        >::new()));
    }
    let mut map: std::collections::BTreeMap<String, minijinja::Value> = ctx
        .try_iter()
        .into_iter()
        .flatten()
        .filter_map(|k| {
            let v = ctx.get_item(&k).ok()?;
            Some((k.as_str()?.to_string(), v))
        })
        .collect();
    map.entry("ansible_managed".into())
        .or_insert_with(|| minijinja::Value::from("Ansible managed"));
    minijinja::Value::from(map)
}

/// Jinja drops the template's last newline; Ansible then appends newlines
/// until the result ends in as many as the template does.
fn keep_trailing_newlines(template: &str, mut text: String, newline: &str) -> String {
    let wanted = trailing_newlines(template);
    let have = trailing_newlines(&text);
    for _ in have..wanted {
        text.push_str(newline);
    }
    text
}

fn trailing_newlines(s: &str) -> usize {
    s.bytes().rev().take_while(|b| *b == b'\n').count()
}

fn to_jinja(v: &Value) -> minijinja::Value {
    match v {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Int(i) => minijinja::Value::from(*i),
        Value::List(l) => l.iter().map(to_jinja).collect(),
        // An unset optional field is undefined in the template, as a var
        // Ansible never set: `x is defined` is false and `default()` applies.
        Value::Record(m) => {
            let map: std::collections::BTreeMap<String, minijinja::Value> = m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), to_jinja(v)))
                .collect();
            minijinja::Value::from(map)
        }
        Value::Secret(parts) => minijinja::Value::from(secret_placeholders(parts)),
        other => minijinja::Value::from(other.display().unwrap_or_default()),
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut detail = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(code) = failing_expression(e) {
        detail = format!(
            "`{code}` is undefined (pass it in the template's vars, or use `| default(…)`)"
        );
    }
    let mut msg = match (e.name(), e.line()) {
        (Some(name), Some(line)) => format!("{name}:{line}: {detail}"),
        (None, Some(line)) => format!("line {line}: {detail}"),
        _ => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        msg.push_str(&format!(" ({inner})"));
        source = inner.source();
    }
    msg
}

/// The template text of the expression an undefined-value error comes
/// from, so the message names the variable.
fn failing_expression(e: &minijinja::Error) -> Option<String> {
    if e.kind() != minijinja::ErrorKind::UndefinedError {
        return None;
    }
    let code = e.template_source()?.get(e.range()?)?.trim();
    let code = code
        .strip_prefix("{{")
        .and_then(|c| c.strip_suffix("}}"))
        .unwrap_or(code)
        .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
    (!code.is_empty() && !code.contains("__mc_")).then(|| code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn render_str(src: &str, vars: BTreeMap<String, Value>) -> Result<Value, String> {
        render("t", src, &Value::record(vars), &mut |n: &str| {
            Err(format!("no {n}"))
        })
    }

    #[test]
    fn renders_jinja_with_loops_and_keeps_newline() {
        let mut m = BTreeMap::new();
        m.insert("port".to_string(), Value::Int(8080));
        m.insert(
            "names".to_string(),
            Value::list(vec![Value::str("a"), Value::str("b")]),
        );
        let out = render_str(
            "listen {{ port }};\n{% for n in names %}{{ n }},{% endfor %}\n",
            m,
        )
        .unwrap();
        assert_eq!(out, Value::str("listen 8080;\na,b,\n"));
    }

    #[test]
    fn unset_optionals_are_undefined() {
        let mut m = BTreeMap::new();
        m.insert("x".to_string(), Value::Null);
        let out = render_str(
            "{% if x is defined %}set{% else %}unset{% endif %} {{ x | default('d') }}\n",
            m,
        )
        .unwrap();
        assert_eq!(out, Value::str("unset d\n"));
    }

    #[test]
    fn undefined_variables_are_errors() {
        let err = render_str("{{ nope }}", BTreeMap::new()).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
    }

    /// As Ansible: a filter given an undefined value fails (minijinja's
    /// builtins and mc's own alike); `default` and `is defined` do not.
    #[test]
    fn filters_refuse_undefined_values() {
        let mut m = BTreeMap::new();
        m.insert(
            "srv".to_string(),
            Value::record(BTreeMap::from([("name".to_string(), Value::str("b"))])),
        );
        for (src, filter) in [
            ("{{ srv.extra | upper }}", "upper"),
            ("{{ srv.extra | length }}", "length"),
            ("{{ srv.extra | join(',') }}", "join"),
            ("{{ srv.extra | to_json }}", "to_json"),
            ("{{ nope | int }}", "int"),
        ] {
            let err = render_str(src, m.clone()).unwrap_err();
            assert!(
                err.contains(&format!("the value given to `{filter}` is undefined")),
                "{src}: {err}"
            );
        }
        let out = render_str(
            "{{ srv.extra | default('d') | upper }} {{ nope.a.b | default('z') }} {{ srv.extra is defined }} {{ srv.name | upper }}\n",
            m,
        )
        .unwrap();
        assert_eq!(out, Value::str("D z False B\n"));
    }

    #[test]
    fn percent_formatting_works_like_python() {
        let mut m = BTreeMap::new();
        m.insert("n".to_string(), Value::str("7"));
        m.insert("bench_name".to_string(), Value::str("b"));
        let out = render_str(
            "id = {{ bench_name }}-{{ '%02d' % (n | int) }} {{ 7 % 3 }} {{ ('%s' % 'a') % () }}\n",
            m,
        )
        .unwrap();
        assert_eq!(out, Value::str("id = b-07 1 a\n"));
    }

    #[test]
    fn secrets_in_vars_make_a_secret_result() {
        let mut m = BTreeMap::new();
        m.insert(
            "pw".to_string(),
            Value::Secret(Arc::new(vec![mc_ir::SecretPart::Secret("db".into())])),
        );
        let out = render_str("password={{ pw }}\n", m).unwrap();
        let Value::Secret(parts) = out else {
            panic!("not a secret")
        };
        assert_eq!(
            parts.as_ref(),
            &vec![
                mc_ir::SecretPart::Text("password=".into()),
                mc_ir::SecretPart::Secret("db".into()),
                mc_ir::SecretPart::Text("\n".into())
            ]
        );
    }
}
