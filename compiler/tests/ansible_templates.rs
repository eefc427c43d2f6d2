//! Templates in the style of public Ansible roles (nginx, sshd hardening,
//! postgres, sysctl, logrotate, and a tour of the filters) render the same
//! bytes under `mc` as under Ansible's `template` module.
//!
//! Each case in `tests/ansible/CASE/` has `template.j2`, `vars.json` and
//! `expected`: what ansible-core wrote from them. One test compares `mc`
//! with `expected`; the other runs Ansible itself (installed by
//! `scripts/install-test-deps`) and compares it with `expected`, so the
//! expectations cannot drift from Ansible. `UPDATE_EXPECT=1` rewrites
//! them from Ansible's output.

use mc_compiler::value::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ansible")
}

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("template.j2").is_file())
        .collect();
    out.sort();
    assert!(out.len() >= 8, "template cases are missing: {out:?}");
    out
}

fn render_with_mc(case: &Path) -> String {
    let source = std::fs::read_to_string(case.join("template.j2")).unwrap();
    let vars: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("vars.json")).unwrap()).unwrap();
    let mut read =
        |name: &str| std::fs::read_to_string(case.join(name)).map_err(|e| format!("{name}: {e}"));
    let out =
        mc_compiler::template::render("template.j2", &source, &Value::from_json(&vars), &mut read)
            .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
    out.as_str().unwrap().to_string()
}

/// The first differing line, for a readable failure.
fn first_difference(want: &str, got: &str) -> String {
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            return format!("line {}:\n  ansible: {w:?}\n  mc:      {g:?}", i + 1);
        }
    }
    format!(
        "same lines up to the shorter; ansible has {} bytes ({} lines), mc {} bytes ({} lines); ends: {:?} vs {:?}",
        want.len(),
        want.lines().count(),
        got.len(),
        got.lines().count(),
        &want[want.len().saturating_sub(20)..],
        &got[got.len().saturating_sub(20)..]
    )
}

#[test]
fn role_templates_render_the_bytes_ansible_writes() {
    let mut failures = Vec::new();
    for case in cases() {
        let want = std::fs::read_to_string(case.join("expected")).unwrap();
        let got = render_with_mc(&case);
        if want != got {
            failures.push(format!(
                "{}: {}",
                case.file_name().unwrap().to_string_lossy(),
                first_difference(&want, &got)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn expectations_are_what_ansible_core_renders() {
    let out = tempfile::tempdir().unwrap();
    let cases = cases();
    let run = Command::new("python3")
        .arg(cases_dir().join("render.py"))
        .arg(out.path())
        .args(&cases)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed to run Ansible ({e}); run scripts/install-test-deps")
        });
    assert!(
        run.status.success(),
        "ansible-playbook failed (is ansible-core installed? scripts/install-test-deps installs it):\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let name = case.file_name().unwrap();
        let ansible = std::fs::read_to_string(out.path().join(name)).unwrap();
        if update {
            std::fs::write(case.join("expected"), &ansible).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(case.join("expected")).unwrap_or_default();
        if want != ansible {
            failures.push(format!(
                "{}: {}",
                name.to_string_lossy(),
                first_difference(&ansible, &want)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "expected files differ from Ansible's output (UPDATE_EXPECT=1 rewrites them):\n{}",
        failures.join("\n\n")
    );
}

/// The standard workload's template is checked as a case above; its copy
/// there must stay the workload's own file.
#[test]
fn standard_workload_case_is_the_workload_template() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workload =
        std::fs::read_to_string(root.join("tests/workloads/standard/templates/app.conf.j2"))
            .unwrap();
    let case = std::fs::read_to_string(cases_dir().join("standard-workload/template.j2")).unwrap();
    assert_eq!(workload, case);
}
