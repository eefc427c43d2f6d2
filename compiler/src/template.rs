//! Jinja2 templates rendered at compile time with minijinja.

use crate::value::{from_placeholder_text, secret_placeholders, Value};

/// Renders `source` (named `name` in messages) with `vars`. Secrets in
/// `vars` survive as markers and make the result a secret.
pub fn render(name: &str, source: &str, vars: &Value) -> Result<Value, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Config files keep their trailing newline.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.add_template_owned(name.to_string(), source.to_string())
        .map_err(|e| describe(&e))?;
    let tmpl = env.get_template(name).map_err(|e| describe(&e))?;
    let ctx = to_jinja(vars);
    let text = tmpl.render(ctx).map_err(|e| describe(&e))?;
    Ok(from_placeholder_text(&text))
}

fn to_jinja(v: &Value) -> minijinja::Value {
    match v {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Int(i) => minijinja::Value::from(*i),
        Value::List(l) => l.iter().map(to_jinja).collect(),
        Value::Record(m) => {
            let map: std::collections::BTreeMap<String, minijinja::Value> =
                m.iter().map(|(k, v)| (k.clone(), to_jinja(v))).collect();
            minijinja::Value::from(map)
        }
        Value::Secret(parts) => minijinja::Value::from(secret_placeholders(parts)),
        other => minijinja::Value::from(other.display().unwrap_or_default()),
    }
}

fn describe(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!(
            "line {line}: {}",
            e.detail().unwrap_or(&e.kind().to_string())
        ),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn renders_jinja_with_loops_and_keeps_newline() {
        let mut m = BTreeMap::new();
        m.insert("port".to_string(), Value::Int(8080));
        m.insert(
            "names".to_string(),
            Value::list(vec![Value::str("a"), Value::str("b")]),
        );
        let out = render(
            "t",
            "listen {{ port }};\n{% for n in names %}{{ n }},{% endfor %}\n",
            &Value::record(m),
        )
        .unwrap();
        assert_eq!(out, Value::str("listen 8080;\na,b,\n"));
    }

    #[test]
    fn undefined_variables_are_errors() {
        let err = render("t", "{{ nope }}", &Value::record(BTreeMap::new())).unwrap_err();
        assert!(err.contains("undefined"), "{err}");
    }

    #[test]
    fn secrets_in_vars_make_a_secret_result() {
        let mut m = BTreeMap::new();
        m.insert(
            "pw".to_string(),
            Value::Secret(Arc::new(vec![mc_ir::SecretPart::Secret("db".into())])),
        );
        let out = render("t", "password={{ pw }}\n", &Value::record(m)).unwrap();
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
