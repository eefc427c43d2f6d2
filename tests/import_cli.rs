//! `mc import ansible-inventory`: an INI inventory with children, ranges,
//! group_vars/ and host_vars/ becomes a project that `mc check` accepts and
//! that targets the same hosts, with what cannot be translated listed.

use std::path::Path;
use std::process::{Command, Output};

fn mc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mc"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn inventory() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import/ansible/inventory.ini")
}

#[test]
fn an_ini_inventory_imports_into_a_project_that_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hosts.mc");
    let run = mc(
        &[
            "import",
            "ansible-inventory",
            inventory().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("imported 9 hosts and 5 groups"), "{stderr}");
    // Untranslatable settings are listed with file and line.
    assert!(
        stderr.contains("inventory.ini:10: ansible_ssh_private_key_file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("inventory.ini:25: ansible_python_interpreter"),
        "{stderr}"
    );
    assert!(
        stderr.contains("web01.example.com.yml:2: var `bad-key`"),
        "{stderr}"
    );
    assert!(dir.path().join("main.mc").is_file());

    let check = mc(&["check"], dir.path());
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // The same hosts, with connection settings as host fields and vars in
    // Ansible's precedence.
    let project = mc_compiler::Project::load_dir(dir.path());
    let hosts = project.hosts().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bastion.example.com",
            "web01.example.com",
            "web02.example.com",
            "web03.example.com",
            "web04.example.com",
            "db-a.example.com",
            "db-b.example.com",
            "db-c.example.com",
            "lb1"
        ]
    );
    let web04 = hosts
        .iter()
        .find(|h| h.name == "web04.example.com")
        .unwrap();
    assert_eq!(web04.address, "10.0.1.14");
    assert_eq!(web04.port, Some(2222));
    assert_eq!(web04.user.as_deref(), Some("webops"));
    assert!(web04.r#become);
    assert!(
        web04.groups.contains(&"prod".to_string()),
        "{:?}",
        web04.groups
    );
    let web01 = hosts
        .iter()
        .find(|h| h.name == "web01.example.com")
        .unwrap();
    assert_eq!(web01.user.as_deref(), Some("deploy"));

    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("children = [\"web\", \"db\"]"), "{text}");
    assert!(text.contains("vars = { http_port = 9090 }"), "{text}");
    assert!(text.contains("max_conn = 200"), "{text}");
    // The output is already formatted.
    let fmt = mc(&["fmt", "--check", "hosts.mc"], dir.path());
    assert!(
        fmt.status.success(),
        "{}",
        String::from_utf8_lossy(&fmt.stdout)
    );
}

#[test]
fn import_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let missing = mc(&["import", "ansible-inventory", "nope.ini"], dir.path());
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read `nope.ini`"));
    std::fs::write(dir.path().join("bad.ini"), "[web]\nweb[3:1]\n").unwrap();
    let bad = mc(&["import", "ansible-inventory", "bad.ini"], dir.path());
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr)
        .contains("bad.ini:2: `web[3:1]`: the range runs backwards"));
}
