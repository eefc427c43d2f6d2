//! Static type checking: type errors in code that no host evaluates (a role
//! never called, a branch not taken with the default facts, a function never
//! called, a loop over an empty list) are reported by the front end alone,
//! with the same codes and suggestions evaluation would give.

mod common;

use common::{codes, project};

const HOST: &str = "host \"web1\" { groups = [\"web\"] }\n";

/// Checks `main`, expects exactly one diagnostic with `code` covering
/// `covers`, found by the front end (which evaluates no host), and
/// snapshots the source with the rendering.
fn case(name: &str, main: &str, code: &str, covers: &str) -> mc_diagnostics::Diagnostic {
    let p = project(main, &[]);
    let front = p.check_front_end();
    assert_eq!(
        codes(&front),
        vec![code],
        "{name}: {}",
        p.render(&front, false)
    );
    let d = front.into_iter().next().expect("one diagnostic");
    assert_eq!(
        main.get(d.primary.range.clone()),
        Some(covers),
        "{name}: wrong span"
    );
    // `mc check` reports the same, once.
    let all = p.check();
    assert_eq!(codes(&all), vec![code], "{name}");
    let text = format!(
        "--- main.mc ---\n{}\n--- diagnostics ---\n{}",
        main.trim_end(),
        p.render(std::slice::from_ref(&d), false)
    );
    insta::assert_snapshot!(name, text);
    d
}

fn replacement(d: &mc_diagnostics::Diagnostic) -> Option<&str> {
    d.suggestion
        .as_ref()
        .and_then(|s| s.edits.first())
        .map(|e| e.replacement.as_str())
}

#[test]
fn role_never_called() {
    let src = format!(
        "{HOST}role web(port: Int) {{\n  file \"/etc/port\" {{ content = port }}\n}}\non all {{}}\n"
    );
    let d = case("role_never_called", &src, "E0202", "port");
    assert!(d.message.contains("attribute `content`"), "{}", d.message);
}

#[test]
fn branch_not_taken_with_default_facts() {
    // The default facts say debian, so evaluation never enters the branch.
    let src = format!(
        "{HOST}on all {{\n  if facts.os.family == \"redhat\" {{\n    file \"/etc/release\" {{ mode = facts.os.version }}\n  }}\n}}\n"
    );
    case("branch_not_taken", &src, "E0202", "facts.os.version");
}

#[test]
fn function_never_called() {
    let src = format!("{HOST}fn greeting(name: String) -> Int = \"hello ${{name}}\"\n");
    let d = case("function_never_called", &src, "E0202", "\"hello ${name}\"");
    assert!(d.message.contains("the result of `greeting`"));
}

#[test]
fn loop_over_empty_list() {
    let src = format!(
        "{HOST}let admins: [String] = []\non all {{\n  for name in admins {{\n    user name {{ uid = name }}\n  }}\n}}\n"
    );
    case("loop_over_empty_list", &src, "E0202", "name");
}

#[test]
fn unknown_field_of_a_declared_record_type() {
    let src = format!(
        "{HOST}type Web = {{ port: Int, tier: String = \"dev\" }}\nrole web(w: Web) {{\n  file \"/etc/tier\" {{ content = w.teir }}\n}}\n"
    );
    let d = case("record_unknown_field", &src, "E0207", "teir");
    assert_eq!(replacement(&d), Some("tier"));
}

#[test]
fn wrong_typed_field_of_a_declared_record_type() {
    let src = format!(
        "{HOST}type Web = {{ port: Int, tier: String = \"dev\" }}\nrole web(w: Web) {{\n  file \"/etc/port\" {{ content = w.port }}\n}}\n"
    );
    case("record_field_type", &src, "E0202", "w.port");
}

#[test]
fn argument_computed_from_a_let() {
    let src = format!(
        "{HOST}fn motd(name: String) -> String = \"Welcome to ${{name}}\\n\"\nrole banner(admins: [String]) {{\n  let n = len(admins) * 2\n  file \"/etc/motd\" {{ content = motd(n) }}\n}}\n"
    );
    let d = case("argument_from_let", &src, "E0202", "n");
    assert!(d.message.contains("argument `name`"), "{}", d.message);
}

#[test]
fn record_literal_against_a_declared_record_type() {
    let src = format!(
        "{HOST}type Web = {{ port: Int, tier: String = \"dev\" }}\nrole web(w: Web) {{}}\nrole site() {{\n  web(w = {{ port = 80, tire = \"prod\" }})\n}}\n"
    );
    let d = case(
        "record_literal_field",
        &src,
        "E0207",
        "{ port = 80, tire = \"prod\" }",
    );
    assert!(d.message.contains("unknown field `tire`"), "{}", d.message);
    assert!(
        d.notes.iter().any(|n| n.contains("did you mean `tier`?")),
        "{:?}",
        d.notes
    );
}

#[test]
fn resource_handle_attribute() {
    let src = format!(
        "{HOST}role web() {{\n  let conf = file \"/etc/nginx.conf\" {{ content = \"x\" }}\n  file \"/etc/copy\" {{ content = conf.contnet }}\n}}\n"
    );
    let d = case("handle_attribute", &src, "E0207", "contnet");
    assert_eq!(replacement(&d), Some("content"));
}

#[test]
fn operators_see_inferred_types() {
    let src =
        format!("{HOST}type Web = {{ port: Int }}\nfn next(w: Web) -> Int = w.port + \"1\"\n");
    case("operator_field_type", &src, "E0208", "+");
}

#[test]
fn interpolating_a_list() {
    let src = format!("{HOST}fn show(xs: [String]) -> String = \"${{xs}}\"\n");
    case("interpolate_list", &src, "E0202", "xs");
}

#[test]
fn secret_taint_flows_through_lets_and_ifs() {
    let src = format!(
        "{HOST}role app(debug: Bool) {{\n  let pw = if debug {{ \"dev\" }} else {{ secret(\"db\") }}\n  user \"app\" {{ comment = \"pw ${{pw}}\" }}\n}}\n"
    );
    case("secret_through_if", &src, "E0210", "\"pw ${pw}\"");
}

#[test]
fn typed_code_that_is_right_checks_clean() {
    // Maps iterated by key and value, comprehensions, `??` over a missing
    // field, merges, literal unions into String and host vars (only known
    // per host) are all accepted.
    let src = format!(
        "{HOST}type Tier = \"dev\" | \"prod\"
type Web = {{ port: Int = 80, tier: Tier, extra: {{String: String}} = {{}} }}
fn label(t: Tier) -> String = \"tier ${{t}}\"
role web(w: Web, admins: [String] = []) {{
  let ports = [p + 1 for p in [w.port, 8080] if p > 0]
  let merged = {{ a = 1 }} & {{ b = \"x\" }}
  for k, v in w.extra {{
    file \"/etc/extra/${{k}}\" {{ content = v }}
  }}
  for i, name in admins {{
    user name {{ uid = 1000 + i }}
  }}
  for iface, info in facts.interfaces {{
    file \"/etc/mac-${{iface}}\" {{ content = info.mac ?? \"none\" }}
  }}
  file \"/etc/web\" {{
    content = \"${{label(w.tier)}} ${{ports[0]}} ${{merged.b}} ${{host.vars.port ?? 80}}\"
    mode = if w.tier == \"prod\" {{ 0o600 }} else {{ 0o644 }}
  }}
}}
on all {{
  web(w = {{ tier = \"prod\" }}, admins = [\"alice\"])
}}
"
    );
    let p = project(&src, &[]);
    let diags = p.check();
    assert!(diags.is_empty(), "{}", p.render(&diags, false));
}

#[test]
fn host_var_typed_across_the_targeted_hosts() {
    // Both web hosts have `port` (an Int) and the branch is never taken
    // with the default facts. `db1`, not targeted there, has no `port`:
    // reading it where `db1` is targeted stays E0401, found per host.
    let src = "host \"web1\" { groups = [\"web\"], vars = { port = 8080 } }
host \"web2\" { groups = [\"web\"] }
host \"db1\" { vars = { role = \"db\" } }
group \"web\" { vars = { port = 80 } }
on group(\"web\") {
  if facts.os.family == \"redhat\" {
    file \"/etc/port\" { content = host.vars.port }
  }
  file \"/etc/motd\" { content = \"${host.vars.port}\" }
}
on host(\"db1\") {
  file \"/etc/role\" { content = host.vars.role }
}
";
    let p = project(src, &[]);
    assert!(p.check_front_end().is_empty());
    let diags = p.check();
    assert_eq!(codes(&diags), vec!["E0202"], "{}", p.render(&diags, false));
    let d = &diags[0];
    assert_eq!(
        src.get(d.primary.range.clone()),
        Some("host.vars.port"),
        "{}",
        p.render(&diags, false)
    );
    assert!(d.primary.range.start < src.find("on host").unwrap_or(0));
    let label = d.primary.message.as_deref().unwrap_or("");
    assert!(label.contains("found Int"), "{label}");
}

#[test]
fn host_var_missing_on_a_targeted_host_stays_e0401() {
    let src = "host \"web1\" { vars = { port = 8080 } }
host \"web2\" {}
on all {
  file \"/etc/motd\" { content = \"${host.vars.port}\" }
}
";
    let p = project(src, &[]);
    let diags = p.check();
    assert_eq!(codes(&diags), vec!["E0401"], "{}", p.render(&diags, false));
    assert!(diags[0].message.contains("web2"), "{}", diags[0].message);
}

#[test]
fn function_result_inferred_from_its_body() {
    let src = format!(
        "{HOST}fn greet(name: String) = \"hi ${{name}}\"\nrole app() {{\n  user \"app\" {{ uid = greet(\"a\") }}\n}}\n"
    );
    let d = case("inferred_result", &src, "E0202", "greet(\"a\")");
    let label = d.primary.message.as_deref().unwrap_or("");
    assert!(label.contains("found String"), "{label}");
}

#[test]
fn types_of_an_imported_module_resolve_in_that_module() {
    let lib = "type Port = Int\nfn port_of(p: Port) -> Port = p\n";
    let src = format!(
        "{HOST}import \"lib.mc\"\ntype Port = String\nrole app() {{\n  file \"/etc/port\" {{ content = \"${{lib.port_of(80)}}\" }}\n  user \"app\" {{ uid = lib.port_of(\"80\") }}\n}}\n"
    );
    let p = project(&src, &[("lib.mc", lib)]);
    let diags = p.check_front_end();
    assert_eq!(codes(&diags), vec!["E0202"], "{}", p.render(&diags, false));
    assert_eq!(src.get(diags[0].primary.range.clone()), Some("\"80\""));
    assert!(
        diags[0].message.contains("argument `p`"),
        "{}",
        diags[0].message
    );
}

/// The checker's type of each name a file binds, for the editor: `let`s
/// (inferred or declared) and parameters, by the name's span.
#[test]
fn binding_types_come_from_the_checker() {
    let main = r#"let ports = [80, 443]
let names = ["port-${p}" for p in ports]
let first = label(1)
let shout = upper("x")
let count: Int = 2
fn label(n: Int, prefix: String = "x") -> String = "${prefix}${n}"
role web(admins: [String]) {
  for name in admins {
    let home = "/home/${name}"
    file home { state = "present" }
  }
}
"#;
    let p = project(main, &[]);
    let types: Vec<(String, String)> = p
        .binding_types(std::path::Path::new("/p/main.mc"))
        .into_iter()
        .map(|(span, ty)| (main[span.start as usize..span.end as usize].to_string(), ty))
        .collect();
    let ty_of = |name: &str| {
        types
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("no type for {name}: {types:?}"))
    };
    assert_eq!(ty_of("ports"), "[Int]");
    assert_eq!(ty_of("names"), "[String]");
    assert_eq!(ty_of("first"), "String");
    assert_eq!(ty_of("count"), "Int");
    assert_eq!(ty_of("n"), "Int");
    assert_eq!(ty_of("prefix"), "String");
    assert_eq!(ty_of("shout"), "String");
    assert_eq!(ty_of("admins"), "[String]");
    assert_eq!(ty_of("home"), "String");
    assert!(p
        .binding_types(std::path::Path::new("/p/other.mc"))
        .is_empty());
}
