//! The checker and the evaluator never panic, whatever the input: valid
//! programs are mutated (bytes cut, tokens inserted, slices repeated) and
//! run through `check`, `hosts` and `compile`.

mod common;

use proptest::prelude::*;

const SEEDS: &[&str] = &[
    r#"
host "web1" { address = "10.0.0.11", groups = ["web"], vars = { tier = "prod", port = 80 } }
group "web" { vars = { port = 8080 } }
type Tier = "dev" | "prod"
fn motd(name: String, tier: Tier) -> String = "Welcome to ${name} (${tier})\n"
role base(admins: [String] = []) {
  for name in admins { user name { shell = "/bin/bash", groups = ["sudo"] } }
}
on group("web") {
  base(admins = ["alice"])
  let conf = file "/etc/motd" { content = motd(host.name, host.vars.tier ?? "dev"), mode = 0o644 }
  service "nginx" { subscribe = [conf] }
  package "nginx" {}
}
"#,
    r#"
host "a" {}
let xs = [1, 2, 3]
fn f(n: Int) -> Int = if n <= 0 { 0 } else { n + f(n - 1) }
on all {
  let m = { a = 1 } & { b = { c = xs[1] } }
  file "/etc/x" { content = "${m.b.c} ${f(10)} ${len(xs)} ${join([to_string(x) for x in xs if x > 1], ",")}" }
  command "c" { run = "echo ${secret("tok")}", unless = "true" }
  if facts.cpus > 1 { sysctl "vm.swappiness" { value = "10" } }
}
"#,
];

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\"",
    "${",
    "=",
    ",",
    ".",
    "??",
    "&",
    "!",
    "-",
    "/",
    "0",
    "on",
    "all",
    "let",
    "fn",
    "role",
    "host",
    "for",
    "in",
    "if",
    "else",
    "file",
    "null",
    "x",
    "host.vars",
    "facts",
    "secret(\"s\")",
    "0o777",
    "30s",
    "\n",
    "requires = [conf]",
];

fn mutate(src: &str, ops: &[(u8, usize, usize)]) -> String {
    let mut bytes = src.as_bytes().to_vec();
    for &(op, a, b) in ops {
        if bytes.is_empty() {
            break;
        }
        let i = a % bytes.len();
        match op % 3 {
            0 => {
                let end = (i + b % 12).min(bytes.len());
                bytes.drain(i..end);
            }
            1 => {
                let t = TOKENS[b % TOKENS.len()].as_bytes();
                bytes.splice(i..i, t.iter().copied());
            }
            _ => {
                let end = (i + b % 40).min(bytes.len());
                let slice = bytes[i..end].to_vec();
                bytes.splice(end..end, slice);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_programs_never_panic(
        seed in 0..SEEDS.len(),
        ops in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let src = mutate(SEEDS[seed], &ops);
        let p = common::project(&src, &[]);
        let diags = p.check();
        for d in &diags {
            prop_assert!(!d.code.is_empty());
            prop_assert!(d.primary.range.start <= d.primary.range.end);
        }
        let _ = p.render(&diags, false);
        if let Ok(hosts) = p.hosts() {
            for h in hosts {
                let _ = p.compile(&h.name, &serde_json::Value::Null);
            }
        }
    }
}

#[test]
fn the_seeds_are_valid() {
    for s in SEEDS {
        let p = common::project(s, &[]);
        let d = p.check();
        assert!(d.is_empty(), "{}", p.render(&d, false));
    }
}

#[test]
fn long_chains_do_not_overflow_the_stack() {
    let sum = format!("1{}", " + 1".repeat(5000));
    let mut ladder = String::from("if x == 0 { package \"p0\" {} }");
    for i in 1..1500 {
        ladder.push_str(&format!(" else if x == {i} {{ package \"p{i}\" {{}} }}"));
    }
    let src = format!(
        "host \"a\" {{}}\nlet n = {sum}\non all {{\n  let x = 1499\n  {ladder}\n  file \"/etc/n\" {{ content = \"${{n}}\" }}\n}}\n"
    );
    let p = common::project(&src, &[]);
    let d = p.check();
    assert!(d.is_empty(), "{}", p.render(&d, false));
    let c = common::catalog(&p, "a");
    assert_eq!(
        common::attr(&c, "file[/etc/n]", "content"),
        Some(&mc_ir::Value::String("5001".into()))
    );
    assert!(c.resources.iter().any(|r| r.id.0 == "package[p1499]"));
}
