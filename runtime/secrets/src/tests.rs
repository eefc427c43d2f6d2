use super::*;

fn store(dir: &Path) -> SecretStore {
    SecretStore::with_identity(&dir.join("project"), dir.join("config/mc/identity.txt"))
}

fn secret(s: &str) -> SecretString {
    SecretString::new(s.to_string())
}

#[test]
fn set_then_resolve_round_trips_and_file_holds_no_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let plain = "correct horse battery staple 8f3a";
    let outcome = s.set("db_password", &secret(plain)).unwrap();
    assert_eq!(outcome.created_identity.as_deref(), Some(s.identity_path()));
    assert!(outcome.created_recipients);
    assert!(!outcome.self_excluded);
    assert_eq!(outcome.recipients, 1);

    let on_disk = std::fs::read(tmp.path().join("project/secrets/db_password.age")).unwrap();
    assert!(on_disk.starts_with(b"age-encryption.org/v1"));
    assert!(
        !on_disk.windows(plain.len()).any(|w| w == plain.as_bytes()),
        "the encrypted file contains the plaintext"
    );
    assert_eq!(s.resolve("db_password").unwrap().expose(), plain);
    // A second set reuses the identity.
    let again = s.set("db_password", &secret("new value")).unwrap();
    assert_eq!(again.created_identity, None);
    assert!(!again.created_recipients);
    assert_eq!(s.resolve("db_password").unwrap().expose(), "new value");
}

#[cfg(unix)]
#[test]
fn identity_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    s.set("a", &secret("x")).unwrap();
    let mode = std::fs::metadata(s.identity_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(tmp.path().join("config/mc"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let text = std::fs::read_to_string(s.identity_path()).unwrap();
    assert!(text.contains("AGE-SECRET-KEY-1"), "{text}");
    let recipients = std::fs::read_to_string(s.recipients_path()).unwrap();
    assert!(recipients.contains(&s.public_key().unwrap()));
    assert!(
        !recipients.contains("AGE-SECRET-KEY"),
        "private key leaked into the project"
    );
}

#[test]
fn secret_string_never_prints_its_value() {
    let v = secret("hunter2");
    assert_eq!(format!("{v}"), "(secret)");
    assert!(!format!("{v:?}").contains("hunter2"));
    assert!(!format!("{:?}", Some(&v)).contains("hunter2"));
    assert_eq!(v.expose(), "hunter2");
}

#[test]
fn list_is_sorted_names_only_and_remove_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    assert_eq!(s.list().unwrap(), Vec::<String>::new());
    for name in ["zeta", "alpha", "mid.dle-x_1"] {
        s.set(name, &secret("v")).unwrap();
    }
    assert_eq!(s.list().unwrap(), ["alpha", "mid.dle-x_1", "zeta"]);
    assert!(s.contains("zeta"));
    s.remove("zeta").unwrap();
    assert!(!s.contains("zeta"));
    assert_eq!(s.list().unwrap(), ["alpha", "mid.dle-x_1"]);
    let err = s.remove("zeta").unwrap_err();
    assert!(matches!(err, SecretError::NotFound { .. }), "{err}");
    // No temp files are left behind by atomic writes.
    let leftovers: Vec<_> = std::fs::read_dir(s.dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn unknown_secret_suggests_a_close_name() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    s.set("db_password", &secret("v")).unwrap();
    let err = s.resolve("db_pasword").unwrap_err();
    assert_eq!(
        err.to_string(),
        "secret \"db_pasword\" is not set (did you mean \"db_password\"?)"
    );
}

#[test]
fn bad_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    for bad in [
        "",
        "../etc/passwd",
        ".hidden",
        "a/b",
        "with space",
        &"x".repeat(129),
    ] {
        let err = s.set(bad, &secret("v")).unwrap_err();
        assert!(
            matches!(err, SecretError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    assert!(!tmp.path().join("etc").exists());
}

#[test]
fn teammate_added_to_recipients_can_read_after_rekey() {
    let tmp = tempfile::tempdir().unwrap();
    let alice = store(tmp.path());
    let bob = SecretStore::with_identity(&tmp.path().join("project"), tmp.path().join("bob.txt"));
    alice.set("token", &secret("s3cr3t")).unwrap();
    let bob_key = bob.public_key().unwrap();

    let err = bob.resolve("token").unwrap_err();
    assert!(matches!(err, SecretError::NotARecipient { .. }), "{err}");
    assert!(err.to_string().contains(&bob_key), "{err}");

    let mut recipients = std::fs::read_to_string(alice.recipients_path()).unwrap();
    recipients.push_str(&format!("{bob_key} # bob\n"));
    std::fs::write(alice.recipients_path(), recipients).unwrap();
    assert_eq!(alice.rekey().unwrap(), 1);
    assert_eq!(bob.resolve("token").unwrap().expose(), "s3cr3t");
    assert_eq!(alice.resolve("token").unwrap().expose(), "s3cr3t");
    // Bob can now rekey too, since he reads every secret.
    assert_eq!(bob.rekey().unwrap(), 1);
}

#[test]
fn a_user_left_out_of_recipients_is_told() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    let other = SecretStore::with_identity(&tmp.path().join("elsewhere"), tmp.path().join("o.txt"));
    std::fs::create_dir_all(s.dir()).unwrap();
    std::fs::write(
        s.recipients_path(),
        format!("{}\n", other.public_key().unwrap()),
    )
    .unwrap();
    let outcome = s.set("x", &secret("v")).unwrap();
    assert!(outcome.self_excluded);
    assert!(matches!(
        s.resolve("x"),
        Err(SecretError::NotARecipient { .. })
    ));
}

#[test]
fn broken_inputs_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let s = store(tmp.path());
    s.set("x", &secret("v")).unwrap();
    std::fs::write(s.dir().join("x.age"), b"not an age file").unwrap();
    assert!(matches!(s.resolve("x"), Err(SecretError::Corrupt { .. })));

    std::fs::write(s.recipients_path(), "# nobody\n\n").unwrap();
    assert!(matches!(
        s.set("y", &secret("v")),
        Err(SecretError::NoRecipients { .. })
    ));
    std::fs::write(s.recipients_path(), "age1notakey\n").unwrap();
    let err = s.set("y", &secret("v")).unwrap_err();
    assert!(
        matches!(err, SecretError::BadRecipient { line: 1, .. }),
        "{err}"
    );

    std::fs::write(s.identity_path(), "garbage\n").unwrap();
    assert!(matches!(
        s.resolve("x"),
        Err(SecretError::BadIdentity { .. })
    ));

    let fresh = SecretStore::with_identity(tmp.path(), tmp.path().join("none/identity.txt"));
    std::fs::create_dir_all(fresh.dir()).unwrap();
    std::fs::copy(s.dir().join("x.age"), fresh.dir().join("z.age")).unwrap();
    assert!(matches!(
        fresh.resolve("z"),
        Err(SecretError::NoIdentity { .. })
    ));
}

#[test]
fn identity_path_prefers_override_then_xdg_then_home() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |var: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| std::ffi::OsString::from(v))
        }
    };
    const ALL: &[(&str, &str)] = &[
        ("MC_IDENTITY", "/k/id.txt"),
        ("XDG_CONFIG_HOME", "/x"),
        ("HOME", "/h"),
    ];
    assert_eq!(
        identity_path_from(env(ALL)).unwrap(),
        Path::new("/k/id.txt")
    );
    assert_eq!(
        identity_path_from(env(&[
            ("MC_IDENTITY", ""),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h")
        ]))
        .unwrap(),
        Path::new("/x/mc/identity.txt")
    );
    assert_eq!(
        identity_path_from(env(&[("HOME", "/h")])).unwrap(),
        Path::new("/h/.config/mc/identity.txt")
    );
    assert!(matches!(
        identity_path_from(env(&[])),
        Err(SecretError::NoConfigDir)
    ));
}
