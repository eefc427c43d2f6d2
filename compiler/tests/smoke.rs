mod common;
use common::*;

#[test]
fn stdlib_has_no_errors() {
    let p = project("", &[]);
    let d = p.check();
    assert!(d.is_empty(), "{}", p.render(&d, false));
    for f in mc_stdlib::FILES {
        let parsed = mc_grammar::parse(f.source);
        assert!(parsed.errors.is_empty(), "{}: {:?}", f.path, parsed.errors);
    }
}

#[test]
fn simple_program_compiles() {
    let p = project(
        r#"
host "web1" { address = "10.0.0.11", groups = ["web"], vars = { tier = "prod" } }
group "web" { vars = { port = 8080 } }

on group("web") {
  package "nginx" {}
  service "nginx" {}
  file "/etc/motd" { content = "hello ${host.name} on ${host.vars.port}\n", mode = 0o644 }
}
"#,
        &[],
    );
    let d = p.check();
    assert!(d.is_empty(), "{}", p.render(&d, false));
    let c = catalog(&p, "web1");
    assert_eq!(c.resources.len(), 3);
}
