//! Valid programs compile to catalogs with the expected resources,
//! attributes, meta-attributes and edges.

mod common;

use common::{attr, catalog, project};
use mc_ir::{EdgeKind, Risk, Value};

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn has_edge(c: &mc_ir::Catalog, from: &str, to: &str, kind: EdgeKind) -> bool {
    c.edges
        .iter()
        .any(|e| e.from.0 == from && e.to.0 == to && e.kind == kind)
}

const WEB: &str = r#"
/// Port nginx listens on.
let http_port: Int = 8080

type Tier = "dev" | "staging" | "prod"
type WebVars = { port: Int = 80, tier: Tier, admins: [String] = [] }

fn motd(name: String, tier: Tier) -> String = "Welcome to ${name} (${tier})\n"

host "web1" { address = "10.0.0.11", user = "deploy", groups = ["web"], vars = { tier = "prod" } }
host "web2" { address = "10.0.0.12", groups = ["web", "canary"], vars = { port = 9090 } }
host "db1" { address = "10.0.0.21", groups = ["db"] }
group "web" { vars = { port = 8080, tier = "staging" } }
group "canary" { vars = { tier = "dev" } }

role base(admins: [String]) {
  for name in admins {
    user name { shell = "/bin/bash", groups = ["sudo"] }
  }
  group "sudo" {}
}

on group("web") {
  base(admins = ["alice", "bob"])
  web.nginx(port = host.vars.port)
  file "/etc/motd" { content = motd(host.name, host.vars.tier ?? "dev") }
}

on group("web") && !group("canary") {
  file "/etc/stable" { content = "stable\n", tags = ["release"] }
}

import "roles/web.mc"
"#;

const ROLE: &str = r#"
role nginx(port: Int = 80) {
  package "nginx" {}
  directory "/etc/nginx" {}
  let conf = file "/etc/nginx/nginx.conf" {
    content = template("../templates/nginx.conf.j2", { port = port, workers = 4 })
    mode = 0o644
    notify = [service("nginx")]
  }
  service "nginx" {}
  http_check "nginx up" { url = "http://localhost:${port}/", requires = [conf] }
}
"#;

const TEMPLATE: &str = "worker_processes {{ workers }};\nlisten {{ port }};\n";

fn web_project() -> mc_compiler::Project {
    project(
        WEB,
        &[
            ("roles/web.mc", ROLE),
            ("templates/nginx.conf.j2", TEMPLATE),
        ],
    )
}

#[test]
fn roles_imports_templates_and_vars_make_the_expected_catalog() {
    let p = web_project();
    let d = p.check();
    assert!(d.is_empty(), "{}", p.render(&d, false));

    let c = catalog(&p, "web1");
    let ids: Vec<&str> = c.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "user[alice]",
            "user[bob]",
            "group[sudo]",
            "package[nginx]",
            "directory[/etc/nginx]",
            "file[/etc/nginx/nginx.conf]",
            "service[nginx]",
            "http_check[nginx up]",
            "file[/etc/motd]",
            "file[/etc/stable]",
        ],
        "source order, roles expanded in place"
    );
    // Host vars win over group vars.
    assert_eq!(
        attr(&c, "file[/etc/motd]", "content"),
        Some(&s("Welcome to web1 (prod)\n"))
    );
    // Group var, rendered through the template at compile time.
    assert_eq!(
        attr(&c, "file[/etc/nginx/nginx.conf]", "content"),
        Some(&s("worker_processes 4;\nlisten 8080;\n"))
    );
    assert_eq!(
        attr(&c, "file[/etc/nginx/nginx.conf]", "mode"),
        Some(&Value::Int(0o644))
    );
    // Defaults filled in, nulls omitted.
    assert_eq!(attr(&c, "package[nginx]", "state"), Some(&s("present")));
    assert_eq!(attr(&c, "package[nginx]", "version"), None);
    assert_eq!(
        attr(&c, "http_check[nginx up]", "within"),
        Some(&Value::Int(30))
    );
    assert_eq!(
        attr(&c, "http_check[nginx up]", "url"),
        Some(&s("http://localhost:8080/"))
    );

    assert!(has_edge(
        &c,
        "file[/etc/nginx/nginx.conf]",
        "service[nginx]",
        EdgeKind::Notify
    ));
    assert!(has_edge(
        &c,
        "file[/etc/nginx/nginx.conf]",
        "http_check[nginx up]",
        EdgeKind::Requires
    ));
    assert!(has_edge(
        &c,
        "package[nginx]",
        "service[nginx]",
        EdgeKind::Auto
    ));
    assert!(has_edge(
        &c,
        "directory[/etc/nginx]",
        "file[/etc/nginx/nginx.conf]",
        EdgeKind::Auto
    ));
    assert!(has_edge(&c, "group[sudo]", "user[alice]", EdgeKind::Auto));
    let stable = c
        .resources
        .iter()
        .find(|r| r.id.0 == "file[/etc/stable]")
        .unwrap();
    assert_eq!(stable.meta.tags, vec!["release".to_string()]);
    assert_eq!(c.host.user.as_deref(), Some("deploy"));
}

#[test]
fn later_groups_win_and_targets_combine() {
    let p = web_project();
    let c = catalog(&p, "web2");
    // web2: groups web then canary, so tier = dev (canary wins), own port.
    assert_eq!(
        attr(&c, "file[/etc/motd]", "content"),
        Some(&s("Welcome to web2 (dev)\n"))
    );
    assert_eq!(
        attr(&c, "http_check[nginx up]", "url"),
        Some(&s("http://localhost:9090/"))
    );
    assert!(c
        .resource(&mc_ir::ResourceId::new("file", "/etc/stable"))
        .is_none());
    let db = catalog(&p, "db1");
    assert!(db.resources.is_empty());
}

#[test]
fn hosts_come_from_the_inventory() {
    let p = web_project();
    let hosts = p.hosts().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, vec!["web1", "web2", "db1"]);
    assert_eq!(
        hosts[1].groups,
        vec!["web".to_string(), "canary".to_string()]
    );
}

#[test]
fn secrets_stay_names_in_the_catalog() {
    let src = r#"
host "a" {}
on all {
  file "/etc/app.env" { content = "DB_PASSWORD=${secret("db_password")}\n" }
  command "migrate" { run = "migrate", env = { TOKEN = secret("api_token") } }
  file "/etc/app.conf" { content = template("app.j2", { pw = secret("db_password") }) }
}
"#;
    let p = project(src, &[("app.j2", "password = {{ pw }}\n")]);
    let c = catalog(&p, "a");
    let json = c.to_json_pretty();
    assert!(json.contains("\"$secret\""), "{json}");
    let Some(Value::Secret(sv)) = attr(&c, "file[/etc/app.env]", "content") else {
        panic!("not a secret")
    };
    assert_eq!(sv.secret_names().collect::<Vec<_>>(), vec!["db_password"]);
    let Some(Value::Map(env)) = attr(&c, "command[migrate]", "env") else {
        panic!()
    };
    assert!(env["TOKEN"].contains_secret());
    assert!(attr(&c, "file[/etc/app.conf]", "content")
        .unwrap()
        .contains_secret());
}

#[test]
fn expressions_comprehensions_merge_and_coalesce() {
    let src = r#"
host "a" { vars = { extra = { b = 2 } } }
let base = { a = 1, nested = { x = 1, y = 2 } }
fn fact(n: Int) -> Int = if n <= 1 { 1 } else { n * fact(n - 1) }
on all {
  let merged = base & { nested = { y = 3 } } & host.vars.extra
  let names = [upper(n) for n in ["a", "b", "c"] if n != "b"]
  file "/etc/x" {
    content = "${merged.a} ${merged.nested.x} ${merged.nested.y} ${merged.b} ${join(names, ",")} ${fact(5)} ${host.vars.missing ?? "dflt"} ${len(keys(merged))}"
  }
  for k, v in { one = 1, two = 2 } {
    sysctl "net.test.${k}" { value = "${v}" }
  }
  if facts.os.family == "debian" {
    package "apt-transport-https" {}
  } else {
    package "dnf-plugins-core" {}
  }
}
"#;
    let p = project(src, &[]);
    let c = catalog(&p, "a");
    assert_eq!(
        attr(&c, "file[/etc/x]", "content"),
        Some(&s("1 1 3 2 A,C 120 dflt 3"))
    );
    assert!(c
        .resource(&mc_ir::ResourceId::new("sysctl", "net.test.one"))
        .is_some());
    assert!(c
        .resource(&mc_ir::ResourceId::new("package", "apt-transport-https"))
        .is_some());

    // Facts from a file replace the defaults they name.
    let facts = serde_json::json!({ "os": { "family": "redhat" } });
    let c = p.compile("a", &facts).unwrap();
    assert!(c
        .resource(&mc_ir::ResourceId::new("package", "dnf-plugins-core"))
        .is_some());
}

#[test]
fn risk_comes_from_the_type_and_can_be_overridden() {
    let src = r#"
host "a" {}
on all {
  user "old" { state = "absent" }
  file "/etc/ssh/sshd_config" { content = "PermitRootLogin no\n" }
  service "sshd" {}
  package "git" { risk = "high" }
  file "/etc/motd" {}
}
"#;
    let c = catalog(&project(src, &[]), "a");
    let risk = |id: &str| c.resources.iter().find(|r| r.id.0 == id).unwrap().meta.risk;
    assert_eq!(risk("user[old]"), Risk::High);
    assert_eq!(risk("file[/etc/ssh/sshd_config]"), Risk::High);
    assert_eq!(risk("service[sshd]"), Risk::High);
    assert_eq!(risk("package[git]"), Risk::High);
    assert_eq!(risk("file[/etc/motd]"), Risk::Low);
}

#[test]
fn identical_duplicates_from_two_roles_merge() {
    let src = r#"
host "a" {}
role r1() { package "git" {} }
role r2() { package "git" {} }
on all { r1() r2() }
"#;
    let c = catalog(&project(src, &[]), "a");
    assert_eq!(c.resources.len(), 1);
}

#[test]
fn file_contents_reads_relative_to_the_calling_file() {
    let p = project(
        "import \"roles/x.mc\"\nhost \"a\" {}\non all { x.conf() }\n",
        &[("roles/x.mc", "role conf() {\n  file \"/etc/x.conf\" { content = file_contents(\"../files/x.conf\") }\n}\n"), ("files/x.conf", "k = v\n")],
    );
    let c = catalog(&p, "a");
    assert_eq!(
        attr(&c, "file[/etc/x.conf]", "content"),
        Some(&s("k = v\n"))
    );
}

#[test]
fn compilation_is_deterministic() {
    let a = web_project();
    let b = web_project();
    assert_eq!(a.source_digest(), b.source_digest());
    for host in ["web1", "web2"] {
        let x = catalog(&a, host).to_json_pretty();
        let y = catalog(&b, host).to_json_pretty();
        assert_eq!(x, y);
        assert_eq!(x, catalog(&a, host).to_json_pretty());
    }
    let other = project(
        &WEB.replace("8080", "8081"),
        &[
            ("roles/web.mc", ROLE),
            ("templates/nginx.conf.j2", TEMPLATE),
        ],
    );
    assert_ne!(a.source_digest(), other.source_digest());
}

#[test]
fn policies_are_ignored_for_now() {
    let src = r#"
host "a" {}
policy "no user deletes" {
  when change.resource is user && change.action == "delete" {
    deny("users are never deleted by mc")
  }
}
on all { package "git" {} }
"#;
    let p = project(src, &[]);
    assert!(p.check().is_empty());
    assert_eq!(catalog(&p, "a").resources.len(), 1);
}

#[test]
fn every_example_checks_clean_and_compiles_for_every_host() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if !path.join("main.mc").exists() {
            continue;
        }
        seen += 1;
        let p = mc_compiler::Project::load_dir(&path);
        let d = p.check();
        assert!(d.is_empty(), "{}:\n{}", path.display(), p.render(&d, false));
        for h in p.hosts().unwrap() {
            let c = p.compile(&h.name, &serde_json::Value::Null);
            assert!(c.is_ok(), "{} {}", path.display(), h.name);
        }
    }
    assert!(seen >= 1, "examples/ has projects");
    let quickstart = mc_compiler::Project::load_dir(&dir.join("quickstart"));
    let c = quickstart
        .compile("localhost", &serde_json::Value::Null)
        .unwrap();
    assert!(has_edge(
        &c,
        "directory[/tmp/mc-quickstart]",
        "directory[/tmp/mc-quickstart/conf.d]",
        EdgeKind::Auto
    ));
    assert!(has_edge(
        &c,
        "file[/tmp/mc-quickstart/settings.ini]",
        "line[log level]",
        EdgeKind::Auto
    ));
}

#[test]
fn file_source_is_read_at_compile_time() {
    let p = project(
        "host \"a\" {}\non all {\n  file \"/etc/x.conf\" { source = \"files/x.conf\" }\n}\n",
        &[("files/x.conf", "from source\n")],
    );
    let c = catalog(&p, "a");
    assert_eq!(
        attr(&c, "file[/etc/x.conf]", "content"),
        Some(&s("from source\n"))
    );
    assert_eq!(attr(&c, "file[/etc/x.conf]", "source"), None);
}

#[test]
fn import_aliases_and_target_combinations() {
    let src = r#"
import "lib/common.mc" as base
host "a" { groups = ["x", "y"] }
host "b" { groups = ["x"] }
host "c" {}
on host("a") || (group("x") && !group("y")) {
  base.pkgs(names = base.default_pkgs)
}
on !group("x") {
  file "/etc/${base.greeting}" {}
}
"#;
    let lib = "let default_pkgs = [\"git\", \"curl\"]\nlet greeting = \"hi\"\nrole pkgs(names: [String]) {\n  for n in names { package n {} }\n}\n";
    let p = project(src, &[("lib/common.mc", lib)]);
    let d = p.check();
    assert!(d.is_empty(), "{}", p.render(&d, false));
    let ids = |h: &str| -> Vec<String> {
        catalog(&p, h)
            .resources
            .iter()
            .map(|r| r.id.0.clone())
            .collect()
    };
    assert_eq!(ids("a"), vec!["package[git]", "package[curl]"]);
    assert_eq!(ids("b"), vec!["package[git]", "package[curl]"]);
    assert_eq!(ids("c"), vec!["file[/etc/hi]"]);
}

#[test]
fn facts_files_override_defaults_per_key() {
    let src = "host \"a\" { address = \"10.1.2.3\" }\non all {\n  file \"/etc/facts\" { content = \"${facts.os.distro} ${facts.cpus} ${facts.interfaces.eth0.addresses[0]} ${facts.hostname}\" }\n}\n";
    let p = project(src, &[]);
    let c = catalog(&p, "a");
    assert_eq!(
        attr(&c, "file[/etc/facts]", "content"),
        Some(&s("ubuntu 2 10.1.2.3/24 a"))
    );
    let c = p
        .compile(
            "a",
            &serde_json::json!({ "cpus": 16, "os": { "distro": "debian" } }),
        )
        .unwrap();
    assert_eq!(
        attr(&c, "file[/etc/facts]", "content"),
        Some(&s("debian 16 10.1.2.3/24 a"))
    );
    let err = p.compile("a", &serde_json::json!([1])).unwrap_err();
    assert_eq!(err[0].code, "E0407");
}

#[test]
fn templates_include_project_templates_and_stay_inside_the_project() {
    let src = r#"
host "a" {}
on all {
  file "/etc/site.conf" { content = template("templates/site.j2", { sites = ["a", "b"], n = "7" }) }
}
"#;
    let p = project(
        src,
        &[
            ("templates/site.j2", "#jinja2: lstrip_blocks: True\n{% import \"macros.j2\" as m %}\n{% for s in sites %}\n  {{ m.line(s) }}\n{% endfor %}\n{% include \"footer.j2\" %}\n"),
            ("templates/macros.j2", "{% macro line(s) %}server {{ s }}{% endmacro %}"),
            ("templates/footer.j2", "# id {{ '%02d' % (n | int) }}\n"),
        ],
    );
    let c = catalog(&p, "a");
    assert_eq!(
        attr(&c, "file[/etc/site.conf]", "content"),
        Some(&s("  server a\n  server b\n# id 07\n"))
    );

    let escape = project(
        r#"
host "a" {}
on all { file "/etc/x" { content = template("t/x.j2") } }
"#,
        &[("t/x.j2", "{% include \"../../etc/passwd\" %}")],
    );
    let err = escape.compile("a", &serde_json::Value::Null).unwrap_err();
    let text = escape.render(&err, false);
    assert!(
        text.contains("E0309") && text.contains("outside the project"),
        "{text}"
    );
}

#[test]
fn nested_groups_merge_parent_then_child_then_host_and_hosts_in_lists_backends() {
    let src = r#"
group "prod" {
  children = ["web", "db"]
  vars = { tier = "prod", port = 80, dc = "eu" }
}
group "web" { vars = { port = 8080 } }
group "eu" { children = ["prod"] vars = { dc = "eu-1", region = "eu" } }
host "web2" { address = "10.0.0.12", groups = ["web"], vars = { weight = 1 } }
host "web1" { address = "10.0.0.11", groups = ["web"], vars = { port = 9090, weight = 3 } }
host "db1" { address = "10.0.0.21", groups = ["db"] }
host "lb" { address = "10.0.0.1", groups = ["lb"] }

on group("prod") {
  file "/etc/tier" { content = "${host.vars.tier} ${host.vars.port} ${host.vars.dc} ${host.vars.region}\n" }
}
on group("lb") {
  file "/etc/haproxy.cfg" {
    content = join(["server ${b.name} ${b.address}:${b.vars.port} weight ${b.vars.weight} ${join(b.groups, ",")}\n" for b in hosts_in("web")], "")
  }
}
"#;
    let p = project(src, &[]);
    let web1 = catalog(&p, "web1");
    assert_eq!(
        attr(&web1, "file[/etc/tier]", "content"),
        Some(&s("prod 9090 eu eu\n"))
    );
    let web2 = catalog(&p, "web2");
    assert_eq!(
        attr(&web2, "file[/etc/tier]", "content"),
        Some(&s("prod 8080 eu eu\n"))
    );
    let db1 = catalog(&p, "db1");
    assert_eq!(
        attr(&db1, "file[/etc/tier]", "content"),
        Some(&s("prod 80 eu eu\n"))
    );
    let lb = catalog(&p, "lb");
    assert_eq!(
        attr(&lb, "file[/etc/haproxy.cfg]", "content"),
        Some(&s("server web2 10.0.0.12:8080 weight 1 eu,prod,web\nserver web1 10.0.0.11:9090 weight 3 eu,prod,web\n"))
    );
}

#[test]
fn nested_group_mistakes_are_errors() {
    let cycle = project(
        r#"
group "a" { children = ["b"] }
group "b" { children = ["a"] }
host "h" { groups = ["a"] }
"#,
        &[],
    );
    let text = cycle.render(&cycle.check(), false);
    assert!(text.contains("E0410"), "{text}");
    let typo = project(
        r#"
group "prod" { children = ["wbe"] }
host "h" { groups = ["web"] }
"#,
        &[],
    );
    let text = typo.render(&typo.check(), false);
    assert!(
        text.contains("E0409") && text.contains("did you mean `web`"),
        "{text}"
    );
}

#[test]
fn to_mode_reads_octal_text_and_version_compare_handles_real_versions() {
    let src = r#"
host "a" {}
on all {
  file "/etc/a" { content = "x\n", mode = to_mode("0600") }
  file "/etc/b" { content = "${version_compare("9.6p1", ">=", "9.6")} ${version_compare("8.0.1", "<", "8.0.10")} ${version_compare("1:2.3-4", "gt", "1:2.3-3")}\n" }
}
"#;
    let c = catalog(&project(src, &[]), "a");
    assert_eq!(attr(&c, "file[/etc/a]", "mode"), Some(&Value::Int(0o600)));
    assert_eq!(
        attr(&c, "file[/etc/b]", "content"),
        Some(&s("true true true\n"))
    );

    let bad = project(
        r#"
host "a" {}
on all { file "/etc/a" { content = "x", mode = to_mode("0968") } }
"#,
        &[],
    );
    let text = bad.render(
        &bad.compile("a", &serde_json::Value::Null).unwrap_err(),
        false,
    );
    assert!(
        text.contains("E0202") && text.contains("not an octal file mode"),
        "{text}"
    );
}

#[test]
fn data_files_are_typed_by_their_let_and_mismatches_point_into_the_file() {
    let main = r#"
type Server = { host: String, port: Int }
type AppCfg = { name: String, servers: [Server], debug: Bool = false }
let cfg: AppCfg = yaml_file("data/app.yaml")
let extra = json_file("data/extra.json")
let db = toml_file("data/db.toml")
host "a" {}
on all {
  file "/etc/app.conf" {
    content = "${cfg.name} ${join(["${s.host}:${s.port}" for s in cfg.servers], ",")} ${cfg.debug} ${extra.level} ${db.database.port}\n"
  }
}
"#;
    let files = [
        (
            "data/app.yaml",
            "name: shop\nservers:\n  - host: a\n    port: 80\n  - host: b\n    port: 81\n",
        ),
        ("data/extra.json", "{\"level\": \"info\"}"),
        ("data/db.toml", "[database]\nport = 5432\n"),
    ];
    let c = catalog(&project(main, &files), "a");
    assert_eq!(
        attr(&c, "file[/etc/app.conf]", "content"),
        Some(&s("shop a:80,b:81 false info 5432\n"))
    );

    let bad = project(
        main,
        &[
            (
                "data/app.yaml",
                "name: shop\nservers:\n  - host: a\n    port: 80\n  - host: b\n    port: eighty\n",
            ),
            files[1],
            files[2],
        ],
    );
    let text = bad.render(&bad.check(), false);
    assert!(text.contains("E0202"), "{text}");
    assert!(text.contains("data/app.yaml:6:5"), "{text}");

    let broken = project(
        main,
        &[("data/app.yaml", "name: [shop\n"), files[1], files[2]],
    );
    let text = broken.render(&broken.check(), false);
    assert!(text.contains("E0313") && text.contains("line"), "{text}");
}

#[test]
fn compile_time_reads_stay_inside_the_project() {
    let p = project(
        r#"
host "a" {}
on all { file "/etc/x" { content = file_contents("../../etc/passwd") } }
"#,
        &[],
    );
    let text = p.render(
        &p.compile("a", &serde_json::Value::Null).unwrap_err(),
        false,
    );
    assert!(
        text.contains("E0308") && text.contains("outside the project"),
        "{text}"
    );
}

#[test]
fn params_take_their_default_or_the_command_line_value() {
    let src = r#"
param port: Int = 8080
param env: "dev" | "prod" = "dev"
param name: String = "app"
host "a" {}
on all { file "/etc/app" { content = "${name} ${env} ${port}\n" } }
"#;
    let mut p = project(src, &[]);
    assert_eq!(
        attr(&catalog(&p, "a"), "file[/etc/app]", "content"),
        Some(&s("app dev 8080\n"))
    );
    p.set_params(
        [("port", "9090"), ("env", "prod"), ("name", "123")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    assert_eq!(
        attr(&catalog(&p, "a"), "file[/etc/app]", "content"),
        Some(&s("123 prod 9090\n"))
    );

    p.set_params([("port".to_string(), "eighty".to_string())].into());
    let text = p.render(&p.check(), false);
    assert!(
        text.contains("E0202") && text.contains("--var port=eighty"),
        "{text}"
    );
    p.set_params([("env".to_string(), "qa".to_string())].into());
    let text = p.render(&p.check(), false);
    assert!(text.contains("\"qa\" is not one of"), "{text}");
    p.set_params([("prot".to_string(), "1".to_string())].into());
    let text = p.render(&p.check(), false);
    assert!(
        text.contains("E0315") && text.contains("did you mean `port`"),
        "{text}"
    );
}

#[test]
fn check_evaluates_each_host_with_its_facts_file() {
    let src = r#"
host "deb" {}
host "rh" {}
on all {
  let pkg = if facts.os.family == "redhat" { to_string(to_int("httpd-x")) } else { "apache2" }
  package pkg { state = "present" }
}
"#;
    let clean = project(src, &[]);
    assert!(!clean.check().iter().any(|d| d.is_error()));
    let with_facts = project(src, &[("facts/rh.json", r#"{"os": {"family": "redhat"}}"#)]);
    let text = with_facts.render(&with_facts.check(), false);
    assert!(text.contains("httpd-x") && text.contains("E0202"), "{text}");
}

#[test]
fn failed_assertions_are_reported_per_host_with_the_message() {
    let src = r#"
host "web1" { vars = { workers = 4 } }
host "web2" { vars = { workers = 0 } }
host "web3" { vars = { workers = -1 } }
role nginx(workers: Int) {
  assert workers > 0 : "workers must be positive, got ${workers}"
  file "/etc/nginx/workers" { content = "${workers}\n" }
}
on all { nginx(workers = host.vars.workers) }
"#;
    let p = project(src, &[]);
    let diags = p.check();
    let failed: Vec<_> = diags.iter().filter(|d| d.code == "E0314").collect();
    assert_eq!(failed.len(), 2, "{}", p.render(&diags, false));
    let text = p.render(&diags, false);
    assert!(
        text.contains("assertion failed on host `web2`: workers must be positive, got 0"),
        "{text}"
    );
    assert!(
        text.contains("host `web3`") && text.contains("got -1"),
        "{text}"
    );
    assert!(!text.contains("web1"), "{text}");
    assert!(text.contains("main.mc:6:10"), "{text}");
    // A host that passes compiles; one that fails gets the same error.
    assert!(p.compile("web1", &serde_json::Value::Null).is_ok());
    let err = p.compile("web2", &serde_json::Value::Null).unwrap_err();
    assert_eq!(err[0].code, "E0314");
}

#[test]
fn an_assertion_condition_must_be_a_bool() {
    let p = project(
        r#"
host "h" {}
on all { assert 1 : "one" }
"#,
        &[],
    );
    let diags = p.check();
    assert!(
        diags.iter().any(|d| d.code == "E0202"),
        "{}",
        p.render(&diags, false)
    );
    let p = project(
        r#"
host "h" {}
on all { assert true : 1 }
"#,
        &[],
    );
    let diags = p.check();
    assert!(
        diags.iter().any(|d| d.code == "E0202"),
        "{}",
        p.render(&diags, false)
    );
}

#[test]
fn an_assertion_only_a_redhat_host_reaches_is_caught_by_check() {
    let src = r#"
host "deb" {}
host "rh" {}
on all {
  if facts.os.family == "redhat" {
    assert facts.os.version != "" : "RedHat hosts need a version"
    assert false : "this role does not support RedHat yet"
  }
}
"#;
    let clean = project(src, &[]);
    assert!(!clean.check().iter().any(|d| d.is_error()));
    let with_facts = project(src, &[("facts/rh.json", r#"{"os": {"family": "redhat"}}"#)]);
    let text = with_facts.render(&with_facts.check(), false);
    assert!(
        text.contains("assertion failed on host `rh`: this role does not support RedHat yet"),
        "{text}"
    );
}

#[test]
fn a_var_of_the_wrong_type_is_reported_at_its_host() {
    let src = r#"group "web" { vars = { port = "80" } }
host "a" { groups = ["web"] }
host "c" { groups = ["web"] }
host "d" {}
role r(port: Int) {
  file "/y" { content = "${port}" }
}
on group("web") {
  r(port = host.vars.port)
}
"#;
    let p = project(src, &[]);
    let diags = p.check();
    let text = p.render(&diags, false);
    assert_eq!(diags.len(), 1, "{text}");
    let d = &diags[0];
    assert_eq!(d.code, "E0202", "{text}");
    assert!(d.message.contains("host `a`, `c`"), "{text}");
    assert_eq!(&src[d.primary.range.clone()], "\"web\"", "{text}");
    assert_eq!(
        &src[d.secondary[0].range.clone()],
        "host.vars.port",
        "{text}"
    );
    assert!(text.contains("group `web` sets `port`"), "{text}");
}

#[test]
fn notifications_can_ask_for_reload_or_restart() {
    let src = r#"host "a" {}
on all {
  service "nginx" {}
  file "/etc/nginx/nginx.conf" {
    content = "x"
    notify = [reload(service("nginx"))]
  }
  package "nginx" {
    notify = [restart(service("nginx")), service("nginx")]
  }
}
"#;
    let p = project(src, &[]);
    let c = catalog(&p, "a");
    let action = |from: &str| {
        c.edges
            .iter()
            .find(|e| e.from.as_str() == from && e.to.as_str() == "service[nginx]")
            .map(|e| (e.kind, e.action))
    };
    use mc_ir::RefreshAction::{Reload, Restart};
    assert_eq!(
        action("file[/etc/nginx/nginx.conf]"),
        Some((EdgeKind::Notify, Some(Reload)))
    );
    // A plain notification of the same pair does not weaken the restart.
    assert_eq!(
        action("package[nginx]"),
        Some((EdgeKind::Notify, Some(Restart)))
    );

    for (bad, wanted) in [
        (
            r#"command "c" { run = "true" }
  file "/x" { content = "x", notify = [reload(command("c"))] }"#,
            "asks a service",
        ),
        (
            r#"service "s" {}
  file "/x" { content = "x", subscribe = [restart(service("s"))] }"#,
            "only be used in `notify`",
        ),
        (
            r#"file "/x" { content = "x", notify = [reload("s")] }"#,
            "takes a service",
        ),
    ] {
        let p = project(&format!("host \"a\" {{}}\non all {{\n  {bad}\n}}\n"), &[]);
        let diags = p.check();
        let text = p.render(&diags, false);
        assert!(diags.iter().any(|d| d.code == "E0202"), "{text}");
        assert!(text.contains(wanted), "{text}");
    }
}

/// Evaluation reads the checker's resolution of every name: a module
/// member, an imported function and type alias (with a field default), and
/// a top-level name that shadows a built-in (`facts`) mean at evaluation
/// what `mc check` resolved them to.
#[test]
fn evaluation_follows_the_checkers_resolution() {
    let main = r#"
import "lib/conf.mc" as conf
let facts = { motd = "from the project" }
host "h1" { address = "10.0.0.1" }
on all {
  file "/etc/motd" { content = facts.motd }
  file "/etc/app.conf" { content = conf.render(conf.defaults) }
  file "/etc/port" { content = "${conf.port}" }
}
"#;
    let lib = r#"
type Conf = { port: Int = 8080, name: String = "app" }
let port: Int = 9090
let defaults: Conf = {}
fn render(c: Conf) -> String = "${c.name}:${c.port}"
"#;
    let p = project(main, &[("lib/conf.mc", lib)]);
    let d = p.check();
    assert!(d.is_empty(), "{}", p.render(&d, false));
    let c = catalog(&p, "h1");
    assert_eq!(
        attr(&c, "file[/etc/motd]", "content"),
        Some(&s("from the project"))
    );
    assert_eq!(
        attr(&c, "file[/etc/app.conf]", "content"),
        Some(&s("app:8080"))
    );
    assert_eq!(attr(&c, "file[/etc/port]", "content"), Some(&s("9090")));
}

/// A union with `Null` is the optional of the rest, for the checker and
/// the evaluator alike (one reading of written types).
#[test]
fn a_union_with_null_is_optional_at_check_and_at_evaluation() {
    let main = r#"
type Name = String | Null
fn greet(n: Name) -> String = "hello ${n ?? "anon"}"
host "h1" { address = "10.0.0.1" }
on all {
  file "/etc/a" { content = greet(null) }
  file "/etc/b" { content = greet("bob") }
}
"#;
    let p = project(main, &[]);
    let d = p.check();
    assert!(d.is_empty(), "{}", p.render(&d, false));
    let c = catalog(&p, "h1");
    assert_eq!(attr(&c, "file[/etc/a]", "content"), Some(&s("hello anon")));
    assert_eq!(attr(&c, "file[/etc/b]", "content"), Some(&s("hello bob")));
    let p = project(&main.replace("greet(\"bob\")", "greet(5)"), &[]);
    let codes: Vec<String> = p.check().into_iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0202"]);
}
