//! `mc check` evaluates each host with its own facts: the facts file, else
//! the facts last gathered from the host (kept in the state store by
//! `mc facts` and `mc plan`), else defaults. Replayed with the real `mc` on
//! the local transport.

mod common;

use std::path::Path;

const HOST: &str = "mc-check-facts-host";

fn check(project: &Path) -> (i32, String) {
    let (code, out, err) = common::run(common::mc("check-facts").arg("check").arg(project));
    (code, format!("{out}{err}"))
}

#[test]
fn check_uses_the_facts_last_gathered_then_the_facts_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // True with the default facts (whose hostname is the inventory name),
    // false on this machine, whose hostname is something else.
    std::fs::write(
        p.join("main.mc"),
        format!(
            "host \"{HOST}\" {{ transport = \"local\" }}\non all {{\n  assert facts.hostname == \"{HOST}\" : \"built for {HOST} only\"\n}}\n"
        ),
    )
    .unwrap();
    let (code, out) = check(p);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("facts:"),
        "defaults only: no facts line: {out}"
    );
    assert!(!p.join(".mc").exists(), "check never creates a store");

    let (code, out, err) = common::run(common::mc("check-facts").arg("facts").arg(p));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out) = check(p);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("E0314") && out.contains(&format!("on host `{HOST}`")),
        "{out}"
    );
    assert!(
        out.contains("facts: 1 host checked with the facts last gathered"),
        "{out}"
    );

    // A facts file wins over what was gathered.
    std::fs::create_dir(p.join("facts")).unwrap();
    std::fs::write(
        p.join("facts").join(format!("{HOST}.json")),
        format!("{{\"hostname\": \"{HOST}\"}}"),
    )
    .unwrap();
    let (code, out) = check(p);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 with facts/HOST.json"), "{out}");
}
