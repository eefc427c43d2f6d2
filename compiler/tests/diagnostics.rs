//! One test per diagnostic code: the code, its span, its suggestion, and a
//! snapshot of the source with the rendered diagnostic.

mod common;

use common::project;

/// Checks `main` (plus extra files), expects `code` first, and snapshots
/// the source and the rendering.
fn case(name: &str, main: &str, extra: &[(&str, &str)], code: &str) -> mc_diagnostics::Diagnostic {
    let p = project(main, extra);
    let diags = p.check();
    assert!(
        !diags.is_empty(),
        "{name}: expected {code}, got no diagnostics"
    );
    assert_eq!(diags[0].code, code, "{name}: {}", p.render(&diags, false));
    let mut text = format!("--- main.mc ---\n{}\n", main.trim_end());
    for (path, src) in extra {
        text.push_str(&format!("--- {path} ---\n{}\n", src.trim_end()));
    }
    text.push_str("--- diagnostics ---\n");
    text.push_str(&p.render(&diags[..1], false));
    insta::assert_snapshot!(name, text);
    diags.into_iter().next().expect("one diagnostic")
}

/// The text a diagnostic's primary label covers.
fn primary_text(main: &str, d: &mc_diagnostics::Diagnostic) -> String {
    main.get(d.primary.range.clone()).unwrap_or("").to_string()
}

fn replacement(d: &mc_diagnostics::Diagnostic) -> Option<&str> {
    d.suggestion
        .as_ref()
        .and_then(|s| s.edits.first())
        .map(|e| e.replacement.as_str())
}

const HOST: &str = "host \"web1\" { groups = [\"web\"] }\n";

#[test]
fn e0101_missing_import() {
    let src = "import \"roles/nope.mc\"\n";
    let d = case("e0101_missing_import", src, &[], "E0101");
    assert_eq!(primary_text(src, &d), "\"roles/nope.mc\"");
}

#[test]
fn e0102_import_cycle() {
    let src = "import \"a.mc\"\n";
    let d = case(
        "e0102_import_cycle",
        src,
        &[("a.mc", "import \"main.mc\"\n")],
        "E0102",
    );
    assert!(
        d.message.contains("main.mc → a.mc → main.mc"),
        "{}",
        d.message
    );
}

#[test]
fn e0103_unknown_name_with_suggestion() {
    let src = format!("{HOST}let http_port = 80\non all {{\n  file \"/etc/port\" {{ content = \"${{http_prot}}\" }}\n}}\n");
    let d = case("e0103_unknown_name", &src, &[], "E0103");
    assert_eq!(primary_text(&src, &d), "http_prot");
    assert_eq!(replacement(&d), Some("http_port"));
}

#[test]
fn e0104_unknown_resource_type() {
    let src = format!("{HOST}on all {{\n  pakage \"nginx\" {{}}\n}}\n");
    let d = case("e0104_unknown_resource_type", &src, &[], "E0104");
    assert_eq!(primary_text(&src, &d), "pakage");
    assert_eq!(replacement(&d), Some("package"));
}

#[test]
fn e0105_unknown_role() {
    let src = format!("{HOST}role base() {{}}\non all {{\n  bsae()\n}}\n");
    let d = case("e0105_unknown_role", &src, &[], "E0105");
    assert_eq!(replacement(&d), Some("base"));
}

#[test]
fn e0106_defined_twice() {
    let src = "let port = 80\nlet port = 81\n";
    let d = case("e0106_defined_twice", src, &[], "E0106");
    assert_eq!(d.secondary.len(), 1);
}

#[test]
fn e0107_unknown_module_member() {
    let src = format!("import \"roles/web.mc\"\n{HOST}on all {{\n  web.ngnix()\n}}\n");
    let d = case(
        "e0107_unknown_module_member",
        &src,
        &[(
            "roles/web.mc",
            "role nginx() {\n  package \"nginx\" {}\n}\n",
        )],
        "E0107",
    );
    assert_eq!(replacement(&d), Some("nginx"));
}

#[test]
fn e0108_unknown_type() {
    let src = "let name: Strng = \"x\"\n";
    let d = case("e0108_unknown_type", src, &[], "E0108");
    assert_eq!(replacement(&d), Some("String"));
}

#[test]
fn e0109_resource_type_without_a_provider() {
    let src = format!("{HOST}resource widget(name: String) {{\n  size: Int = 1\n}}\n");
    let d = case("e0109_resource_without_provider", &src, &[], "E0109");
    assert_eq!(primary_text(&src, &d), "widget");
}

#[test]
fn e0201_unknown_attribute() {
    let src = format!("{HOST}on all {{\n  file \"/etc/motd\" {{ contnet = \"hi\" }}\n}}\n");
    let d = case("e0201_unknown_attribute", &src, &[], "E0201");
    assert_eq!(primary_text(&src, &d), "contnet");
    assert_eq!(replacement(&d), Some("content"));
}

#[test]
fn e0202_wrong_type() {
    let src = format!("{HOST}on all {{\n  file \"/etc/motd\" {{ mode = \"644\" }}\n}}\n");
    let d = case("e0202_wrong_type", &src, &[], "E0202");
    assert_eq!(primary_text(&src, &d), "\"644\"");
}

#[test]
fn e0202_literal_union_value_with_suggestion() {
    let src = format!("{HOST}on all {{\n  package \"git\" {{ state = \"presnt\" }}\n}}\n");
    let d = case("e0202_literal_union", &src, &[], "E0202");
    assert_eq!(replacement(&d), Some("\"present\""));
}

/// What an Ansible user writes gets mc's spelling as the fix, not the
/// nearest word by letters (`"started"` is three edits from `"stopped"`).
#[test]
fn e0202_and_e0103_fixes_for_words_from_ansible() {
    let src = format!(
        "{HOST}on all {{\n  service \"nginx\" {{ state = \"started\" }}\n  package \"git\" {{ state = \"installed\" }}\n  service \"ssh\" {{ enabled = yes }}\n  file \"/etc/motd\" {{ mode = \"0644\" }}\n  user \"deploy\" {{ groups = \"wheel, docker\" }}\n  cron \"backup\" {{ command = \"/usr/bin/backup\", minute = 5 }}\n  service \"cron\" {{ enabled = \"yes\" }}\n}}\n"
    );
    let p = project(&src, &[]);
    let diags = p.check();
    let fixes: Vec<String> = diags
        .iter()
        .map(|d| {
            let fix = replacement(d).unwrap_or("-");
            format!("{} {} → {fix}", d.code, primary_text(&src, d))
        })
        .collect();
    assert_eq!(
        fixes,
        [
            "E0202 \"started\" → \"running\"",
            "E0202 \"installed\" → \"present\"",
            "E0103 yes → true",
            "E0202 \"0644\" → 0o644",
            "E0202 \"wheel, docker\" → [\"wheel\", \"docker\"]",
            "E0202 5 → \"5\"",
            "E0202 \"yes\" → true",
        ],
        "{}",
        p.render(&diags, false)
    );
}

/// An evaluation error names the hosts it happened on (once for all),
/// the loop item it happened in, and the call that led into a function.
#[test]
fn evaluation_errors_name_the_hosts_the_loop_item_and_the_call() {
    let src = "host \"web1\" {}\nhost \"web2\" {}\nfn half(x: Int) -> Int = x / 0\non all {\n  for srv in [{ name = \"a\" }, { nam = \"b\" }] {\n    file \"/etc/${srv.name}\" {}\n  }\n  file \"/etc/h${half(4)}\" {}\n}\n";
    let p = project(src, &[]);
    let diags = p.check();
    assert_eq!(diags.len(), 2, "{}", p.render(&diags, false));
    let by_code = |code: &str| diags.iter().find(|d| d.code == code).expect(code);
    let field = by_code("E0207");
    assert_eq!(primary_text(src, field), "name");
    assert_eq!(
        field.notes[field.notes.len() - 2..],
        [
            "in the loop's item 2 of 2: `srv` = { nam = \"b\" }".to_string(),
            "on hosts `web1`, `web2`".to_string()
        ]
    );
    let zero = by_code("E0304");
    let call = &zero.secondary[0];
    assert_eq!(src.get(call.range.clone()), Some("half(4)"));
    assert_eq!(call.message.as_deref(), Some("in this call to `half`"));
    assert_eq!(zero.notes, ["on hosts `web1`, `web2`"]);
}

/// In a policy, `change.resource is file` makes `change.resource` a
/// `file` where the test holds (an attribute typo is E0207 with the fix),
/// and a comparison with a string no value of a literal union can be is
/// E0202 ("always false"), with the closest member as the fix.
#[test]
fn policies_are_checked_through_is_tests_and_literal_unions() {
    let src = "host \"web1\" {}\npolicy \"p\" {\n  when change.resource is file && change.resource.mdoe == 0o777 {\n    deny(\"x\")\n  }\n  when change.risk == \"hihg\" {\n    warn(\"y\")\n  }\n  when change.resource is package {\n    warn(\"${change.resource.nmae}\")\n  }\n  when change.resource is file && change.resource.mode == 0o777 && change.action != \"delete\" {\n    deny(\"${change.resource.path}\")\n  }\n}\n";
    let p = project(src, &[]);
    let diags = p.check();
    let found: Vec<String> = diags
        .iter()
        .map(|d| {
            let fix = replacement(d).unwrap_or("-");
            format!("{} {} → {fix}", d.code, primary_text(src, d))
        })
        .collect();
    assert_eq!(
        found,
        [
            "E0207 mdoe → mode",
            "E0202 \"hihg\" → \"high\"",
            "E0207 nmae → name",
        ],
        "{}",
        p.render(&diags, false)
    );
}

/// Each mistake once: an argument or field that binds to nothing is still
/// checked (its unknown name reported), but not twice.
#[test]
fn unbound_arguments_and_fields_are_reported_once() {
    let src = "host \"w\" {}\nrole web(port: Int = 80) {}\nfn f(x: Int) -> Int = x\nlet y = f(1, zz)\non all {\n  web(prot = nope)\n  file \"/x\" { contnet = qq, mode = 0o644, mode = ww }\n}\n";
    let p = project(src, &[]);
    let diags = p.check();
    let found: Vec<String> = diags
        .iter()
        .map(|d| format!("{} {}", d.code, primary_text(src, d)))
        .collect();
    assert_eq!(
        found,
        [
            "E0103 zz",
            "E0204 zz",
            "E0204 prot",
            "E0103 nope",
            "E0201 contnet",
            "E0103 qq",
            "E0206 mode",
            "E0103 ww",
        ],
        "{}",
        p.render(&diags, false)
    );
}

#[test]
fn e0203_missing_required_attribute() {
    let src = format!("{HOST}on all {{\n  link \"/usr/local/bin/app\" {{}}\n}}\n");
    let d = case("e0203_missing_attribute", &src, &[], "E0203");
    assert!(d.message.contains("`target`"));
    assert!(replacement(&d).is_some_and(|r| r.contains("target = ")));
}

#[test]
fn e0204_unknown_argument() {
    let src = format!("{HOST}role web(port: Int = 80) {{}}\non all {{\n  web(prot = 8080)\n}}\n");
    let d = case("e0204_unknown_argument", &src, &[], "E0204");
    assert_eq!(replacement(&d), Some("port"));
    // The fix names a parameter no other argument fills, and that
    // parameter is not also reported missing: one mistake, one error.
    let p = common::project(
        "fn add(a: Int, b: Int) -> Int = a + b\nlet z = add(a = 1, c = 2)\nlet y = add(1, c = 2)\n",
        &[],
    );
    let diags = p.check();
    let fixes: Vec<Option<&str>> = diags.iter().map(replacement).collect();
    assert_eq!(fixes, [Some("b"), Some("b")], "{}", p.render(&diags, false));
    assert!(diags.iter().all(|d| d.code == "E0204"));
}

#[test]
fn e0205_missing_argument() {
    let src = format!("{HOST}role base(admins: [String]) {{}}\non all {{\n  base()\n}}\n");
    let d = case("e0205_missing_argument", &src, &[], "E0205");
    assert!(d.message.contains("`admins`"));
}

#[test]
fn e0206_set_twice() {
    let src = format!("{HOST}on all {{\n  package \"git\" {{\n    state = \"present\"\n    state = \"absent\"\n  }}\n}}\n");
    let d = case("e0206_set_twice", &src, &[], "E0206");
    assert_eq!(d.secondary.len(), 1);
}

#[test]
fn e0207_unknown_field() {
    let src = format!("{HOST}let cfg = {{ port = 80 }}\non all {{\n  file \"/etc/port\" {{ content = \"${{cfg.prot}}\" }}\n}}\n");
    let d = case("e0207_unknown_field", &src, &[], "E0207");
    assert_eq!(replacement(&d), Some("port"));
}

#[test]
fn e0208_wrong_operands() {
    let src = format!(
        "{HOST}let n = 1 + \"one\"\non all {{\n  file \"/etc/n\" {{ content = \"${{n}}\" }}\n}}\n"
    );
    case("e0208_wrong_operands", &src, &[], "E0208");
}

#[test]
fn e0209_role_used_as_value() {
    let src = format!("{HOST}role base() {{}}\non all {{\n  let x = base()\n}}\n");
    case("e0209_not_a_value", &src, &[], "E0209");
}

#[test]
fn e0210_secret_leak() {
    let src =
        format!("{HOST}on all {{\n  user \"app\" {{ comment = \"pw ${{secret(\"db\")}}\" }}\n}}\n");
    let d = case("e0210_secret_leak", &src, &[], "E0210");
    assert!(primary_text(&src, &d).starts_with("\"pw"));
}

#[test]
fn e0211_relative_path() {
    let src = format!("{HOST}on all {{\n  file \"etc/motd\" {{}}\n}}\n");
    case("e0211_relative_path", &src, &[], "E0211");
}

#[test]
fn e0211_control_characters_in_a_path() {
    // A literal is refused by the checker, a computed path by evaluation.
    let src = format!("{HOST}on all {{\n  file \"/etc/mo\\ntd\" {{}}\n}}\n");
    let d = case("e0211_control_character", &src, &[], "E0211");
    assert!(d.message.contains("control characters"), "{}", d.message);
    let src = format!(
        "{HOST}let name = \"motd\\u{{0}}\"\non all {{\n  file \"/etc/${{name}}\" {{}}\n}}\n"
    );
    let p = project(&src, &[]);
    let diags = p.check();
    let text = p.render(&diags, false);
    assert_eq!(diags.len(), 1, "{text}");
    assert_eq!(diags[0].code, "E0211", "{text}");
    assert!(text.contains("control character \\u{0}"), "{text}");
}

#[test]
fn e0212_secret_compared() {
    let src = format!("{HOST}fn same(v: Secret) -> Bool = v == \"x\"\n");
    let d = case("e0212_secret_compared", &src, &[], "E0212");
    assert_eq!(primary_text(&src, &d), "==");
    // An untyped binding is caught when it is evaluated.
    let src = format!(
        "{HOST}let pw = secret(\"db\")\non all {{\n  if pw != \"\" {{\n    file \"/etc/motd\" {{}}\n  }}\n}}\n"
    );
    let p = project(&src, &[]);
    let diags = p.check();
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, vec!["E0212"], "{}", p.render(&diags, false));
}

#[test]
fn e0301_duplicate_resource() {
    let src = format!(
        "{HOST}on all {{\n  package \"git\" {{}}\n  package \"git\" {{ state = \"absent\" }}\n}}\n"
    );
    let d = case("e0301_duplicate_resource", &src, &[], "E0301");
    assert_eq!(d.secondary.len(), 1, "both declarations are shown");
}

#[test]
fn e0302_dependency_cycle() {
    let src = format!(
        "{HOST}on all {{\n  let a = command \"a\" {{ requires = [command(\"b\")] }}\n  command \"b\" {{ requires = [a] }}\n}}\n"
    );
    let d = case("e0302_dependency_cycle", &src, &[], "E0302");
    assert!(d.message.contains("command[a]") && d.message.contains("command[b]"));
}

#[test]
fn e0303_failed_check() {
    let src = format!("{HOST}on all {{\n  file \"/etc/x\" {{\n    content = \"a\"\n    source = \"files/x\"\n  }}\n}}\n");
    let d = case("e0303_failed_check", &src, &[], "E0303");
    assert!(d.message.contains("not both"));
    // Reported at the user's resource, never inside the stdlib.
    assert_eq!(d.primary.file, "main.mc");
}

#[test]
fn e0304_division_by_zero() {
    let src = format!(
        "{HOST}on all {{\n  let n = 0\n  file \"/etc/x\" {{ content = \"${{10 / n}}\" }}\n}}\n"
    );
    case("e0304_division_by_zero", &src, &[], "E0304");
}

#[test]
fn e0305_index_out_of_range() {
    let src = format!(
        "{HOST}on all {{\n  let xs = [\"a\"]\n  file \"/etc/x\" {{ content = xs[3] }}\n}}\n"
    );
    case("e0305_index_out_of_range", &src, &[], "E0305");
}

#[test]
fn e0306_recursion_limit() {
    let src = format!("{HOST}fn down(n: Int) -> Int = down(n + 1)\non all {{\n  file \"/etc/x\" {{ content = \"${{down(0)}}\" }}\n}}\n");
    case("e0306_recursion_limit", &src, &[], "E0306");
}

#[test]
fn e0307_undeclared_dependency() {
    let src =
        format!("{HOST}on all {{\n  service \"nginx\" {{ requires = [package(\"nginx\")] }}\n}}\n");
    case("e0307_undeclared_dependency", &src, &[], "E0307");
}

#[test]
fn e0308_unreadable_file() {
    let src = format!("{HOST}on all {{\n  file \"/etc/x\" {{ content = file_contents(\"files/none.conf\") }}\n}}\n");
    case("e0308_unreadable_file", &src, &[], "E0308");
}

#[test]
fn e0309_template_error() {
    let src = format!("{HOST}on all {{\n  file \"/etc/x\" {{ content = template(\"t/x.j2\", {{ port = 80 }}) }}\n}}\n");
    case(
        "e0309_template_error",
        &src,
        &[("t/x.j2", "listen {{ prot }};\n")],
        "E0309",
    );
}

#[test]
fn e0401_var_missing_on_one_host() {
    let src = "host \"web1\" { groups = [\"web\"], vars = { port = 8080 } }\nhost \"web2\" { groups = [\"web\"] }\non group(\"web\") {\n  file \"/etc/port\" { content = \"${host.vars.port}\" }\n}\n";
    let d = case("e0401_var_missing", src, &[], "E0401");
    assert!(d.message.contains("web2"), "names the host: {}", d.message);
    assert_eq!(primary_text(src, &d), "port");
}

#[test]
fn e0402_unknown_host_target() {
    let src = format!("{HOST}on host(\"wbe1\") {{}}\n");
    let d = case("e0402_unknown_host", &src, &[], "E0402");
    assert_eq!(replacement(&d), Some("\"web1\""));
}

#[test]
fn e0403_unknown_group_target() {
    let src = format!("{HOST}on group(\"wbe\") {{}}\n");
    let d = case("e0403_unknown_group", &src, &[], "E0403");
    assert_eq!(replacement(&d), Some("\"web\""));
}

#[test]
fn e0404_host_declared_twice() {
    let src = "host \"a\" {}\nhost \"a\" { address = \"10.0.0.1\" }\n";
    case("e0404_host_twice", src, &[], "E0404");
}

#[test]
fn e0405_bad_inventory_field() {
    let src = "host \"a\" { adress = \"10.0.0.1\" }\n";
    let d = case("e0405_inventory_field", src, &[], "E0405");
    assert_eq!(replacement(&d), Some("address"));
}

#[test]
fn e0406_compile_unknown_host() {
    let p = project(HOST, &[]);
    let err = p.compile("web2", &serde_json::Value::Null).unwrap_err();
    assert_eq!(err[0].code, "E0406");
    assert!(err[0].notes.iter().any(|n| n.contains("web1")));
}

#[test]
fn every_code_has_an_explanation() {
    for (code, _, _) in mc_compiler::CODES {
        assert!(
            mc_compiler::explain(code).is_some_and(|t| t.len() > 40),
            "{code}"
        );
    }
    assert!(mc_compiler::explain("E0010").is_some(), "parser codes too");
    assert!(mc_compiler::explain("E9999").is_none());
}

#[test]
fn literal_mistakes_are_found_in_code_no_host_runs() {
    // No host is targeted by `web`, yet its literal mistakes are reported.
    let src = "role web() {\n  package \"nginx\" { state = \"presnet\" }\n  file \"/etc/x\" { mode = \"0644\", owner = 0 }\n  link \"/a\" { target = \"rel/b\" }\n}\n";
    let p = project(src, &[]);
    let d = p.check();
    assert_eq!(
        common::codes(&d),
        vec!["E0202", "E0202", "E0202", "E0211"],
        "{}",
        p.render(&d, false)
    );
    assert_eq!(replacement(&d[0]), Some("\"present\""));
}

#[test]
fn inferred_types_and_secret_taint_are_checked_before_evaluation() {
    // `setup` is never called: only the static checker sees it.
    let src = r#"
role app(port: Int, name: String) {}
role setup(pw: Secret) {
  let token = "t=${secret("api")}"
  user "app" { comment = token }
  file "/etc/app" { content = token, mode = name_len(1) }
  app(port = "${pw}", name = "x")
}
fn name_len(n: Int) -> Int = n
"#;
    let p = project(src, &[]);
    let d = p.check();
    let codes = common::codes(&d);
    assert_eq!(codes, vec!["E0210", "E0210"], "{}", p.render(&d, false));
    assert!(d[0].message.contains("attribute `comment`"));
    assert!(d[1].message.contains("argument `port`"));
}

#[test]
fn e0401_suggests_a_close_var_name() {
    let src = "host \"web1\" { vars = { port = 8080 } }\non all {\n  file \"/etc/port\" { content = \"${host.vars.prot}\" }\n}\n";
    let p = project(src, &[]);
    let d = p.check();
    assert_eq!(d[0].code, "E0401");
    assert_eq!(replacement(&d[0]), Some("port"));
}

#[test]
fn operators_conditions_and_results_are_checked_before_evaluation() {
    let src = r#"
fn half(n: Int) -> String = n / 2
role r(port: Int, enabled: Bool, m: Mode) {
  if port { package "a" {} }
  let x = enabled + 1
  let ok = m > 0o600 && "${port}" != "80"
}
"#;
    let p = project(src, &[]);
    let d = p.check();
    assert_eq!(
        common::codes(&d),
        vec!["E0202", "E0202", "E0208"],
        "{}",
        p.render(&d, false)
    );
    assert!(d[0].message.contains("result of `half`"));
}

#[test]
fn e0408_var_types_agree_across_hosts() {
    let src = "group \"web\" { vars = { port = 8080 } }\nhost \"web1\" { groups = [\"web\"] }\nhost \"web2\" { groups = [\"web\"], vars = { port = \"8080\" } }\n";
    let d = case("e0408_var_types", src, &[], "E0408");
    assert!(
        d.message.contains("web2") && d.message.contains("web1"),
        "{}",
        d.message
    );
    assert_eq!(d.secondary.len(), 1);
}

#[test]
fn w0001_target_selects_no_host() {
    let src = "host \"web1\" { groups = [\"web\"] }\nhost \"db1\" { groups = [\"db\"] }\non group(\"web\") && group(\"db\") {\n  package \"git\" {}\n}\n";
    let d = case("w0001_no_host", src, &[], "W0001");
    assert_eq!(d.severity, mc_diagnostics::Severity::Warning);
    // A warning does not stop compilation.
    let p = project(src, &[]);
    assert!(p.compile("web1", &serde_json::Value::Null).is_ok());
}

#[test]
fn e0103_a_bare_word_where_text_goes_is_the_string_meant() {
    // YAML writes strings unquoted: `state: present`.
    let src = format!("{HOST}on all {{\n  package \"nginx\" {{ state = present }}\n}}\n");
    let d = case("e0103_bare_word", &src, &[], "E0103");
    assert_eq!(primary_text(&src, &d), "present");
    assert_eq!(replacement(&d), Some("\"present\""));
    // A synonym from Ansible maps to mc's word; a free-text attribute
    // takes the word as it is.
    let p = common::project(
        &format!("{HOST}on all {{\n  service \"nginx\" {{ state = started }}\n  user \"deploy\" {{ shell = bash }}\n}}\n"),
        &[],
    );
    let diags = p.check();
    let fixes: Vec<Option<&str>> = diags.iter().map(replacement).collect();
    assert_eq!(
        fixes,
        [Some("\"running\""), Some("\"bash\"")],
        "{}",
        p.render(&diags, false)
    );
}

#[test]
fn a_declaration_that_failed_to_parse_is_not_also_an_unknown_name() {
    // `role web( {` is a parse error; calling `web` is not "unknown role"
    // on top of it, nor is using a broken `type` or `fn`.
    let src = format!(
        "{HOST}role web( {{\n  package \"nginx\" {{}}\n}}\ntype Port = Int |\nfn twice(n Int) -> Int = n * 2\non all {{\n  web()\n  let p: Port = twice(2)\n}}\n"
    );
    let p = common::project(&src, &[]);
    let diags = p.check();
    let codes: Vec<&str> = diags.iter().map(|d| d.code.as_str()).collect();
    assert!(
        codes.iter().all(|c| *c < "E0100"),
        "only parse errors expected: {}",
        p.render(&diags, false)
    );
    assert_eq!(codes.len(), 3, "{}", p.render(&diags, false));
}
