//! firewall_rule against a real test host with its own network namespace:
//! ports are reachable, or not, from the test process as the rules say.

mod common;

use common::{assert_converges, host, item, res, Session};
use mc_runner::protocol::{Action, Status};
use serde_json::json;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Listens on `ports` inside the host, accepting and closing connections.
fn listen(ports: &[u16]) {
    for port in ports {
        host()
            .exec_ok(&format!(
                "python3 -c 'import socket,os\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind((\"0.0.0.0\",{port}))\ns.listen()\nif os.fork()==0:\n  [s.accept()[0].close() for _ in iter(int,1)]' </dev/null >/dev/null 2>&1"
            ))
            .unwrap();
    }
}

fn reachable(port: u16) -> bool {
    let addr = SocketAddr::from((host().address(), port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

fn rule(name: &str, attrs: serde_json::Value) -> mc_ir::Resource {
    res("firewall_rule", name, attrs)
}

#[test]
fn firewall_rules_allow_and_block_ports_from_the_controller() {
    let h = host();
    listen(&[8080, 8081]);
    assert!(reachable(8080) && reachable(8081));
    let mut s = Session::greeted(h);
    let controller = format!("{}/32", mc_testfleet::CONTROLLER_ADDRESS);
    let allow_ssh = rule(
        "allow-ssh",
        json!({"port": 22, "from": controller, "order": 10}),
    );
    let allow_web = |port: u16| rule("allow-web", json!({"port": port}));
    let deny_rest = rule(
        "deny-rest",
        json!({"proto": "any", "action": "reject", "order": 1000}),
    );
    let set = [allow_ssh.clone(), allow_web(8080), deny_rest.clone()];

    let plans = s.probe(&set);
    assert!(
        plans.iter().all(|p| p.action == Action::Create),
        "{plans:?}"
    );
    let results = s.converge(&set);
    assert!(
        results.iter().all(|r| r.status == Status::Changed),
        "{results:?}"
    );
    assert!(reachable(8080));
    assert!(!reachable(8081));
    assert!(h.ssh("true").unwrap().status.success(), "ssh still allowed");
    let table = h.exec_ok("nft list table inet mc").unwrap();
    let ssh_at = table.find("mc:allow-ssh").unwrap();
    let deny_at = table.find("mc:deny-rest").unwrap();
    assert!(ssh_at < deny_at, "rules by order:\n{table}");

    // Nothing left to do.
    assert!(s.probe(&set).iter().all(|p| p.action == Action::None));
    let again: Vec<_> = set
        .iter()
        .map(|r| item(r.clone(), Action::Create))
        .collect();
    let results = s.apply(again).1;
    assert!(
        results.iter().all(|r| r.status == Status::Ok),
        "{results:?}"
    );

    // Moving the web port.
    let plan = assert_converges(&mut s, &allow_web(8081), Action::Update);
    assert_eq!(plan.changes[0].attr, "rule");
    assert!(reachable(8081));
    assert!(!reachable(8080));

    // A rule that would cut the SSH connection mc runs over is refused at
    // plan time and at apply time.
    let cut = rule("no-ssh", json!({"port": 22, "action": "drop", "order": 1}));
    let err = s.probe_one(&cut).error.unwrap();
    assert!(
        err.contains("refused") && err.contains("SSH") && err.contains("allow_lockout"),
        "{err}"
    );
    let r = s.apply(vec![item(cut, Action::Create)]).1.remove(0);
    assert_eq!(r.status, Status::Failed);
    assert!(!h
        .exec_ok("nft list table inet mc")
        .unwrap()
        .contains("no-ssh"));
    assert!(h.ssh("true").unwrap().status.success());

    // Removing the SSH rule while the catch-all still rejects is refused;
    // removing the catch-all first, then the rest, opens the ports again.
    let mut no_allow_ssh = allow_ssh.clone();
    no_allow_ssh
        .attrs
        .insert("state".into(), mc_ir::Value::String("absent".into()));
    let err = s.probe_one(&no_allow_ssh).error.unwrap();
    assert!(err.contains("`deny-rest` would reject"), "{err}");
    for r in [deny_rest, allow_web(8081), allow_ssh] {
        let mut gone = r.clone();
        gone.attrs
            .insert("state".into(), mc_ir::Value::String("absent".into()));
        assert_converges(&mut s, &gone, Action::Delete);
    }
    assert!(reachable(8080) && reachable(8081));
    assert!(!h.exec_ok("nft list table inet mc").unwrap().contains("mc:"));

    let bad = rule("bad", json!({"from": "10.0.0.0/99"}));
    assert!(s.probe_one(&bad).error.unwrap().contains("`from`"));
    s.bye();
}
