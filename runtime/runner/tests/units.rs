//! systemd_unit against a real test host, where systemd is not PID 1: the
//! unit file is managed and the daemon-reload is reported as skipped.

mod common;

use common::{assert_converges, host, item, res, Session};
use mc_runner::protocol::{Action, Status};
use serde_json::json;

const UNIT_V1: &str = "[Unit]\nDescription=mc test app\n\n[Service]\nExecStart=/bin/sleep 1000\n";
const UNIT_V2: &str =
    "[Unit]\nDescription=mc test app v2\n\n[Service]\nExecStart=/bin/sleep 2000\n";

fn unit(content: Option<&str>, state: &str) -> mc_ir::Resource {
    res(
        "systemd_unit",
        "mc-app.service",
        json!({"content": content, "state": state}),
    )
}

#[test]
fn unit_files_are_created_updated_and_removed_with_the_reload_reported() {
    let h = host();
    let mut s = Session::greeted(h);
    let path = "/etc/systemd/system/mc-app.service";

    let plan = assert_converges(&mut s, &unit(Some(UNIT_V1), "present"), Action::Create);
    assert!(plan
        .content_diff
        .unwrap()
        .contains("+Description=mc test app"));
    assert_eq!(h.read_file(path).unwrap(), UNIT_V1.as_bytes());
    assert_eq!(h.exec_ok(&format!("stat -c %a {path}")).unwrap(), "644\n");

    let v2 = unit(Some(UNIT_V2), "present");
    let plan = s.probe_one(&v2);
    assert_eq!(plan.action, Action::Update);
    assert!(plan
        .content_diff
        .unwrap()
        .contains("+ExecStart=/bin/sleep 2000"));
    let r = s.apply(vec![item(v2.clone(), Action::Update)]).1.remove(0);
    assert_eq!(r.status, Status::Changed, "{}", r.message);
    assert!(
        r.message
            .contains("daemon-reload skipped: systemd is not running as PID 1"),
        "{}",
        r.message
    );
    assert_eq!(h.read_file(path).unwrap(), UNIT_V2.as_bytes());
    assert_eq!(s.probe_one(&v2).action, Action::None);

    let bad = res("systemd_unit", "../evil", json!({"content": "x"}));
    assert!(s
        .probe_one(&bad)
        .error
        .unwrap()
        .contains("invalid unit name"));

    assert_converges(&mut s, &unit(None, "absent"), Action::Delete);
    assert!(!h.path_exists(path).unwrap());
    s.bye();
}
