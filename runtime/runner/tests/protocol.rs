//! The runner protocol over a real ssh session: ordering, bad input, facts,
//! version, and secrets never echoed.

mod common;

use common::{host, item, res, Session};
use mc_runner::protocol::{
    sha256_hex, Action, ErrorKind, EventKind, Request, Response, Status, SECRET_PLACEHOLDER,
};
use serde_json::json;
use std::collections::BTreeMap;

fn expect_error(r: Response, kind: ErrorKind) -> String {
    match r {
        Response::Error {
            kind: k, message, ..
        } => {
            assert_eq!(k, kind, "{message}");
            message
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn bad_and_out_of_order_requests_get_errors_and_the_runner_keeps_going() {
    let h = host();
    let mut s = Session::open(h);
    let apply = Request::Apply {
        items: vec![item(
            res("file", "/srv/x", json!({"content": "x"})),
            Action::Create,
        )],
    };
    let msg = expect_error(s.request(&apply).1, ErrorKind::Protocol);
    assert!(msg.contains("hello"), "{msg}");
    assert!(
        !h.path_exists("/srv/x").unwrap(),
        "apply before hello must not run"
    );
    expect_error(s.request(&Request::Facts).1, ErrorKind::Protocol);

    s.send_raw("{not json");
    expect_error(s.recv(), ErrorKind::Protocol);
    s.send_raw(r#"{"type":"reboot"}"#);
    let msg = expect_error(s.recv(), ErrorKind::Protocol);
    assert!(msg.contains("reboot"), "{msg}");
    s.send_raw(r#"{"type":"probe","resources":"nope"}"#);
    expect_error(s.recv(), ErrorKind::Protocol);
    s.send_raw("[1,2,3]");
    expect_error(s.recv(), ErrorKind::Protocol);

    s.send_raw(r#"{"type":"hello","protocol":999,"runtime_version":"x"}"#);
    expect_error(s.recv(), ErrorKind::Version);

    // Still alive: a proper session works.
    match s
        .request(&Request::Hello {
            protocol: mc_runner::protocol::PROTOCOL_VERSION,
            runtime_version: "t".into(),
        })
        .1
    {
        Response::Hello {
            runner_version,
            build_id,
            ..
        } => {
            assert_eq!(runner_version, env!("CARGO_PKG_VERSION"));
            assert_eq!(build_id.len(), 16);
            let local = std::process::Command::new(env!("CARGO_BIN_EXE_mc-runner"))
                .arg("--version")
                .output()
                .unwrap();
            assert!(String::from_utf8_lossy(&local.stdout).contains(&build_id));
        }
        other => panic!("{other:?}"),
    }
    s.send_raw("");
    s.send_raw("   ");
    let (_, r) = s.request(&Request::Probe {
        resources: vec![],
        sensitive: BTreeMap::new(),
    });
    assert_eq!(r, Response::Probed { results: vec![] });
    s.bye();
}

#[test]
fn facts_describe_the_test_host() {
    let h = host();
    let mut s = Session::greeted(h);
    let Response::Facts { facts } = s.request(&Request::Facts).1 else {
        panic!("expected facts")
    };
    assert_eq!(facts["hostname"], "host1");
    assert_eq!(facts["os"]["family"], "debian");
    assert_eq!(facts["os"]["distro"], "debian");
    assert_eq!(facts["os"]["arch"], std::env::consts::ARCH);
    assert_eq!(facts["pkg_manager"], "apt");
    assert_eq!(facts["init"], "sysvinit");
    assert!(facts["memory_mb"].as_u64().unwrap() > 0);
    assert!(facts["cpus"].as_u64().unwrap() >= 1);
    assert!(!facts["kernel"].as_str().unwrap().is_empty());
    let lo = &facts["interfaces"]["lo"];
    assert!(lo.is_object(), "{facts}");
    s.bye();
}

#[test]
fn end_of_input_ends_the_session_cleanly() {
    let h = host();
    let out = h
        .ssh_with_input(
            "mc-runner; echo exit=$?",
            b"{\"type\":\"hello\",\"protocol\":1,\"runtime_version\":\"t\"}\n",
        )
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(r#""type":"hello""#), "{text}");
    assert!(text.ends_with("exit=0\n"), "{text}");
}

#[test]
fn sensitive_values_never_appear_in_any_response() {
    let h = host();
    let secret = "hunter2-Sup3r-S3cret";
    let path = "/etc/mc-secret.conf";
    let mut s = Session::greeted(h);

    // In a probe the runtime sends only the digest of the secret.
    let mut probe_res = res("file", path, json!({"mode": 0o600}));
    probe_res.attrs.insert(
        "content".into(),
        serde_json::from_value(json!({"$secret": [{"text": "password="}, {"secret": "db"}]}))
            .unwrap(),
    );
    let content = format!("password={secret}\n");
    let digests = BTreeMap::from([(
        probe_res.id.clone(),
        BTreeMap::from([("content".to_string(), sha256_hex(&content))]),
    )]);
    let plan = s
        .probe_with(&[probe_res.clone()], digests.clone())
        .remove(0);
    assert_eq!(plan.action, Action::Create);
    assert!(plan.content_diff.is_none());
    assert!(plan
        .changes
        .iter()
        .any(|c| c.attr == "content" && c.to == json!(SECRET_PLACEHOLDER)));

    // In an apply it sends the value and marks it sensitive; a command that
    // prints its secret is scrubbed too.
    let file = res("file", path, json!({"content": content, "mode": 0o600}));
    let mut cmd = res(
        "command",
        "leaky",
        json!({"run": format!("echo token {secret}; echo {secret} >&2; exit 3")}),
    );
    cmd.attrs.insert(
        "env".into(),
        serde_json::from_value(json!({"TOKEN": secret})).unwrap(),
    );
    let mut fi = item(file, Action::Create);
    fi.sensitive = vec!["content".into()];
    let mut ci = item(cmd, Action::Create);
    ci.sensitive = vec!["run".into(), "env".into()];
    let (events, results) = s.apply(vec![fi, ci]);
    assert_eq!(results[0].status, Status::Changed, "{}", results[0].message);
    assert_eq!(results[1].status, Status::Failed);
    let outputs: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::Output)
        .filter_map(|e| e.line.as_deref())
        .collect();
    assert_eq!(outputs.len(), 2, "{events:?}");
    assert!(outputs.contains(&"token (secret)"), "{outputs:?}");
    assert_eq!(h.read_file(path).unwrap(), content.as_bytes());

    // Update with a new secret: the change shows placeholders, no diff.
    let plan = s
        .probe_with(
            &[probe_res.clone()],
            BTreeMap::from([(
                probe_res.id.clone(),
                BTreeMap::from([("content".to_string(), sha256_hex("password=other\n"))]),
            )]),
        )
        .remove(0);
    assert_eq!(plan.action, Action::Update);
    assert!(plan.content_diff.is_none());
    assert_eq!(plan.changes[0].from, json!(SECRET_PLACEHOLDER));
    // With the current digest: nothing to do.
    assert_eq!(
        s.probe_with(&[probe_res], digests).remove(0).action,
        Action::None
    );

    // A command whose env holds a secret can still be probed: its guards run
    // without the secret values.
    let mut guarded = res(
        "command",
        "guarded",
        json!({"run": "true", "unless": "test -n \"$TOKEN\""}),
    );
    guarded.attrs.insert(
        "env".into(),
        serde_json::from_value(json!({"TOKEN": {"$secret": [{"secret": "token"}]}})).unwrap(),
    );
    let plan = s.probe_one(&guarded);
    assert!(plan.error.is_none(), "{plan:?}");
    assert_eq!(plan.action, Action::Create);

    let transcript = s.transcript.join("\n");
    assert!(!transcript.contains(secret), "secret leaked: {transcript}");
    assert!(
        !transcript.contains("password="),
        "content leaked: {transcript}"
    );
    s.bye();
}
