//! Pull-mode agents against real parts: a `nats-server` with JetStream
//! started here, `mc-agent` running inside real test hosts (network
//! namespaces reaching the server at the machine's address), and the real
//! `mc` planning and applying through them with `transport = "agent"`.

mod common;

use mc_testfleet::nats::{RawClient, TestNats};
use mc_testfleet::{Fleet, Host};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const AGENT: &str = "/usr/local/bin/mc-agent";

/// Installs the agent in `host`, trusting `trust`, and starts it.
fn install_agent(host: &Host, trust: &str) {
    let bytes = std::fs::read(common::agent_binary()).unwrap();
    host.write_file(AGENT, &bytes).unwrap();
    host.exec_ok(&format!("chmod 0755 {AGENT} && mkdir -p /etc/mc-agent"))
        .unwrap();
    host.write_file("/etc/mc-agent/trust.pub", trust.as_bytes())
        .unwrap();
}

fn start_agent(host: &Host, nats: &TestNats) {
    start_agent_with(host, nats, "");
}

fn start_agent_with(host: &Host, nats: &TestNats, extra: &str) {
    let before = agent_log(host).matches("serving").count();
    host.exec_ok(&format!(
        "( {AGENT} --server {url} --name {name} --trust /etc/mc-agent/trust.pub {extra} \
           >> /var/log/mc-agent.log 2>&1 < /dev/null & echo $! > /run/mc-agent.pid )",
        url = nats.url_for_hosts(),
        name = host.name()
    ))
    .unwrap();
    wait_for(&format!("{} serving", host.name()), || {
        agent_log(host).matches("serving").count() > before
    });
}

fn stop_agent(host: &Host) {
    host.exec_ok("kill $(cat /run/mc-agent.pid); rm -f /run/mc-agent.pid")
        .unwrap();
}

fn agent_log(host: &Host) -> String {
    String::from_utf8_lossy(&host.read_file("/var/log/mc-agent.log").unwrap_or_default())
        .into_owned()
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn project(dir: &Path, nats: &TestNats, hosts: &[&Host], version: &str) {
    let mut src = format!("project {{\n  agents = \"{}\"\n}}\n\n", nats.url());
    for h in hosts {
        src.push_str(&format!(
            "host \"{}\" {{\n  transport = \"agent\"\n}}\n\n",
            h.name()
        ));
    }
    src.push_str(&format!(
        r#"on all {{
  directory "/srv/agent-test" {{
    mode = 0o755
  }}

  file "/srv/agent-test/app.conf" {{
    content = "host = ${{host.name}}\nversion = {version}\n"
    mode = 0o640
  }}
}}
"#
    ));
    std::fs::write(dir.join("main.mc"), src).unwrap();
}

struct Controller {
    dir: tempfile::TempDir,
    key: std::path::PathBuf,
}

impl Controller {
    fn new() -> Controller {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("controller_ed25519");
        Controller { dir, key }
    }

    fn project_dir(&self) -> std::path::PathBuf {
        let p = self.dir.path().join("project");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// `mc ARGS` in the project, as this controller.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = common::mc("agents");
        cmd.env("MC_CONTROLLER_KEY", &self.key)
            .env("HOME", self.dir.path())
            .env_remove("MC_AGENTS")
            .current_dir(self.project_dir())
            .args(args);
        cmd
    }

    fn mc(&self, args: &[&str]) -> (i32, String, String) {
        common::run(&mut self.command(args))
    }
}

/// `mc apply` again until it succeeds (agents reconnecting), for a minute at most.
fn apply_until_it_converges(ctl: &Controller, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, out, err) = ctl.mc(&["apply", "--yes", "."]);
        if code == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {out}{err}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn conf(host: &Host) -> String {
    String::from_utf8_lossy(
        &host
            .read_file("/srv/agent-test/app.conf")
            .unwrap_or_default(),
    )
    .into_owned()
}

#[test]
fn agents_plan_apply_refuse_forgeries_and_recover() {
    let fleet = Fleet::start(3).unwrap();
    let mut nats = TestNats::start().unwrap();
    let ctl = Controller::new();
    let (code, trust, err) = ctl.mc(&["agent", "trust-key"]);
    assert_eq!(code, 0, "{err}");
    assert!(trust.starts_with("ssh-ed25519 "), "{trust}");
    assert!(ctl.key.exists(), "the controller key is made on first use");
    let hosts: Vec<&Host> = fleet.hosts().iter().collect();
    for h in &hosts {
        install_agent(h, &trust);
        start_agent(h, &nats);
    }
    let dir = ctl.project_dir();
    project(&dir, &nats, &hosts, "1");

    // Facts come from inside each host.
    let (code, out, err) = ctl.mc(&["facts", "--json", "."]);
    assert_eq!(code, 0, "{out}{err}");
    let facts: serde_json::Value = serde_json::from_str(&out).unwrap();
    for h in &hosts {
        assert_eq!(
            facts["hosts"][h.name()]["hostname"].as_str(),
            Some(h.name()),
            "{out}"
        );
    }

    // Plan, watching what the controller publishes to host1's agent.
    let mut spy = RawClient::connect(nats.port).unwrap();
    spy.subscribe("mc.rpc.host1", 1).unwrap();
    let (code, out, err) = ctl.mc(&["plan", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Plan: 6 to create"), "{out}");
    let (_, captured_hello) = spy
        .next(Duration::from_secs(5))
        .unwrap()
        .expect("the controller's first message to host1");
    let seen_on_the_wire = String::from_utf8_lossy(&captured_hello).into_owned();
    assert!(
        !seen_on_the_wire.contains("PRIVATE KEY"),
        "only the public key travels"
    );
    assert!(
        !seen_on_the_wire.contains("runtime_version"),
        "the request itself is encrypted: {seen_on_the_wire}"
    );

    // Apply: every host converges; a second apply changes nothing.
    let (code, out, err) = ctl.mc(&["apply", "--yes", "."]);
    assert_eq!(code, 0, "{out}{err}");
    for h in &hosts {
        assert_eq!(conf(h), format!("host = {}\nversion = 1\n", h.name()));
        let mode = h.exec_ok("stat -c %a /srv/agent-test/app.conf").unwrap();
        assert_eq!(mode.trim(), "640");
    }
    let (code, out, err) = ctl.mc(&["apply", "--yes", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");

    // Drift through agents, as through SSH.
    hosts[0]
        .write_file("/srv/agent-test/app.conf", b"edited by hand\n")
        .unwrap();
    let (_, out, err) = ctl.mc(&["drift", "."]);
    assert!(
        out.contains("host1") && out.contains("file[/srv/agent-test/app.conf]"),
        "{out}{err}"
    );
    assert!(out.contains("-edited by hand"), "{out}");
    assert!(out.contains("host2 (host2)\n  no drift"), "{out}");

    // Forgeries published straight to NATS are refused and reported.
    let mut watch = RawClient::connect(nats.port).unwrap();
    watch.subscribe("mc.report.host1.refused", 1).unwrap();
    watch.subscribe("_INBOX.forger", 2).unwrap();
    let mut forger = RawClient::connect(nats.port).unwrap();
    let refusals = |watch: &mut RawClient| -> (Vec<String>, Vec<String>) {
        let (mut reports, mut replies) = (Vec::new(), Vec::new());
        while let Some((subject, data)) = watch.next(Duration::from_secs(2)).unwrap() {
            let text = String::from_utf8_lossy(&data).into_owned();
            if subject.starts_with("_INBOX") {
                replies.push(text);
            } else {
                reports.push(text);
            }
            if reports.len() == 1 && replies.len() == 1 {
                break;
            }
        }
        (reports, replies)
    };
    // Unsigned.
    forger
        .publish("mc.rpc.host1", Some("_INBOX.forger"), br#"{"hello":{}}"#)
        .unwrap();
    let (reports, replies) = refusals(&mut watch);
    assert!(reports[0].contains("unreadable"), "{reports:?}");
    assert!(replies[0].contains("refused"), "{replies:?}");
    // Signed by a key the agent does not trust.
    let forged = forged_envelope(ctl.dir.path(), "host1");
    forger
        .publish("mc.rpc.host1", Some("_INBOX.forger"), &forged)
        .unwrap();
    let (reports, _) = refusals(&mut watch);
    assert!(reports[0].contains("does not trust"), "{reports:?}");
    // Signed by the trusted controller key, but not encrypted to the agent.
    let plain = signed_envelope(ctl.dir.path(), &ctl.key, "host1");
    forger
        .publish("mc.rpc.host1", Some("_INBOX.forger"), &plain)
        .unwrap();
    let (reports, _) = refusals(&mut watch);
    assert!(reports[0].contains("not encrypted"), "{reports:?}");
    // A real controller message, replayed.
    forger
        .publish("mc.rpc.host1", Some("_INBOX.forger"), &captured_hello)
        .unwrap();
    let (reports, _) = refusals(&mut watch);
    assert!(reports[0].contains("replayed"), "{reports:?}");
    let log = agent_log(hosts[0]);
    assert_eq!(log.matches("refused a message").count(), 4, "{log}");

    // A registration rewritten in the bucket (by whoever can write it) to
    // another key: refused, the key first seen stays pinned.
    let key_of = |h: &Host| {
        String::from_utf8(h.read_file("/var/lib/mc-agent/agent.pub").unwrap())
            .unwrap()
            .trim()
            .to_string()
    };
    let registration = |name: &str, recipient: &str| {
        serde_json::to_vec(&serde_json::json!({
            "agent": name, "version": "0", "recipient": recipient, "interval_secs": 1800,
            "noop": false, "started": 0, "last_seen": 0,
        }))
        .unwrap()
    };
    forger
        .publish(
            "$KV.mc-agents.host3",
            None,
            &registration("host3", &key_of(hosts[0])),
        )
        .unwrap();
    let (code, out, err) = ctl.mc(&["plan", "."]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(out.contains("not the one pinned"), "{out}{err}");
    forger
        .publish(
            "$KV.mc-agents.host3",
            None,
            &registration("host3", &key_of(hosts[2])),
        )
        .unwrap();
    let (code, out, err) = ctl.mc(&["plan", "."]);
    assert_eq!(code, 0, "{out}{err}");

    // An agent that is down: its host is unreachable, the others converge.
    stop_agent(hosts[1]);
    project(&dir, &nats, &hosts, "2");
    let (code, out, err) = ctl.mc(&["apply", "--yes", "."]);
    assert_ne!(code, 0, "{out}{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("unreachable"), "{all}");
    assert!(all.contains("no agent named host2"), "{all}");
    assert_eq!(conf(hosts[0]), "host = host1\nversion = 2\n");
    assert_eq!(conf(hosts[2]), "host = host3\nversion = 2\n");
    assert_eq!(conf(hosts[1]), "host = host2\nversion = 1\n");
    // Back: the next run converges it.
    start_agent(hosts[1], &nats);
    let (code, out, err) = ctl.mc(&["apply", "--yes", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(conf(hosts[1]), "host = host2\nversion = 2\n");

    // The NATS server goes down: every agent host is unreachable, with the
    // reason; it comes back and the agents reconnect by themselves.
    nats.kill();
    let (code, out, err) = ctl.mc(&["plan", "."]);
    assert_ne!(code, 0);
    assert!(
        format!("{out}{err}").contains("cannot reach the NATS server"),
        "{out}{err}"
    );
    nats.restart(Duration::from_millis(200)).unwrap();
    project(&dir, &nats, &hosts, "3");
    apply_until_it_converges(&ctl, "agents did not come back");
    for h in &hosts {
        assert_eq!(conf(h), format!("host = {}\nversion = 3\n", h.name()));
    }
    drop(fleet);
}

/// A well-formed hello for `agent`, signed with a fresh key no agent
/// trusts, by `ssh-keygen -Y sign` itself.
fn forged_envelope(dir: &Path, agent: &str) -> Vec<u8> {
    let key = dir.join("forger");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "forger", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    signed_envelope(dir, &key, agent)
}

/// A plain (unencrypted) hello for `agent` signed with `key`.
fn signed_envelope(dir: &Path, key: &Path, agent: &str) -> Vec<u8> {
    let public = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(key)
        .output()
        .unwrap();
    assert!(public.status.success());
    let public = String::from_utf8(public.stdout).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let payload = serde_json::json!({
        "v": 1, "agent": agent, "session": "f0f0", "seq": 1,
        "issued": now, "expires": now + 60, "signer": public.trim(),
        "kind": "request", "body": "{\"type\":\"hello\",\"protocol\":1,\"runtime_version\":\"0\"}"
    })
    .to_string();
    let name = key.file_name().unwrap().to_string_lossy();
    let file = dir.join(format!("payload-{name}"));
    std::fs::write(&file, &payload).unwrap();
    let ok = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-q", "-n", "mc-agent", "-f"])
        .arg(key)
        .arg(&file)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let signature = std::fs::read_to_string(dir.join(format!("payload-{name}.sig"))).unwrap();
    serde_json::to_vec(&serde_json::json!({ "payload": payload, "signature": signature })).unwrap()
}

#[test]
fn mc_agent_install_runs_an_agent_as_a_service_over_ssh() {
    let fleet = Fleet::start(1).unwrap();
    let nats = TestNats::start().unwrap();
    let ctl = Controller::new();
    let host = fleet.host(0);
    let dir = ctl.project_dir();
    project(&dir, &nats, &[host], "1");
    let agent = common::agent_binary();
    let install = |ctl: &Controller| {
        ctl.mc(&[
            "agent",
            "install",
            host.name(),
            "--server",
            &nats.url_for_hosts(),
            "--agent-binary",
            agent.to_str().unwrap(),
            "--ssh-config",
            fleet.ssh_config().to_str().unwrap(),
        ])
    };
    let (code, out, err) = install(&ctl);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("host1: agent installed"), "{out}");
    assert!(out.contains("/usr/local/bin/mc-agent"), "{out}");
    let (_, trust, _) = ctl.mc(&["agent", "trust-key"]);
    assert_eq!(
        String::from_utf8_lossy(&host.read_file("/etc/mc-agent/trust.pub").unwrap()),
        trust
    );
    wait_for("the installed agent to serve", || {
        agent_log(host).contains("serving")
    });
    host.exec_ok("/etc/init.d/mc-agent status").unwrap();

    // The agent it installed serves plans and applies.
    let (code, out, err) = ctl.mc(&["apply", "--yes", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(conf(host), "host = host1\nversion = 1\n");

    // Installing again changes nothing and keeps the same agent running.
    let pid = host.exec_ok("cat /run/mc-agent.pid").unwrap();
    let (code, out, err) = install(&ctl);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("host1: agent up to date"), "{out}");
    assert_eq!(host.exec_ok("cat /run/mc-agent.pid").unwrap(), pid);
}

/// The standard project plus a file holding a secret.
fn project_with_secret(dir: &Path, nats: &TestNats, hosts: &[&Host], version: &str) {
    project(dir, nats, hosts, version);
    let mut src = std::fs::read_to_string(dir.join("main.mc")).unwrap();
    src.push_str(
        r#"
on all {
  file "/srv/agent-test/token.conf" {
    content = "token = ${secret("api_token")}\n"
    mode = 0o600
  }
}
"#,
    );
    std::fs::write(dir.join("main.mc"), src).unwrap();
}

const TOKEN: &str = "tok-3f9a1c7e-never-in-nats";

/// Every file of the NATS server's store, as one lossy string.
fn server_store(nats: &TestNats) -> String {
    let mut all = String::new();
    let mut stack = vec![nats.dir().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                all.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    all
}

#[test]
fn agents_converge_continuously_catch_up_after_being_offline_and_report_drift() {
    let fleet = Fleet::start(2).unwrap();
    let nats = TestNats::start().unwrap();
    let ctl = Controller::new();
    let (_, trust, _) = ctl.mc(&["agent", "trust-key"]);
    let hosts: Vec<&Host> = fleet.hosts().iter().collect();
    for h in &hosts {
        install_agent(h, &trust);
        start_agent_with(h, &nats, "--interval 2s");
    }
    let dir = ctl.project_dir();
    project_with_secret(&dir, &nats, &hosts, "1");
    let apply = |ctl: &Controller| {
        common::run(
            ctl.command(&["apply", "--yes", "."])
                .env("MC_SECRET_API_TOKEN", TOKEN),
        )
    };
    let mut spy = RawClient::connect(nats.port).unwrap();
    spy.subscribe("mc.>", 1).unwrap();
    spy.subscribe("$KV.>", 2).unwrap();
    spy.subscribe("_INBOX.>", 3).unwrap();
    let (code, out, err) = apply(&ctl);
    assert_eq!(code, 0, "{out}{err}");
    let mut wire = 0;
    while let Some((subject, data)) = spy.next(Duration::from_millis(500)).unwrap() {
        wire += 1;
        assert!(
            !String::from_utf8_lossy(&data).contains(TOKEN),
            "a secret value crossed NATS in clear on {subject}"
        );
    }
    assert!(wire > 4, "the spy saw the run's messages ({wire})");
    for h in &hosts {
        let token = String::from_utf8_lossy(&h.read_file("/srv/agent-test/token.conf").unwrap())
            .into_owned();
        assert_eq!(token, format!("token = {TOKEN}\n"));
    }
    // The stored catalogs carry the secret encrypted to each agent, never in clear.
    wait_for("each agent to take its catalog", || {
        hosts
            .iter()
            .all(|h| agent_log(h).contains("new catalog from run 1"))
    });
    let store = server_store(&nats);
    assert!(
        store.contains("mc-catalog"),
        "the catalogs are in the server's store"
    );
    assert!(
        !store.contains(TOKEN),
        "a secret value reached the NATS server's store"
    );

    // A hand edit is reverted within the interval and the splay (2 s + < 2 s).
    hosts[0]
        .write_file("/srv/agent-test/app.conf", b"tampered\n")
        .unwrap();
    let edited = Instant::now();
    wait_for("the agent to revert the edit", || {
        conf(hosts[0]) == "host = host1\nversion = 1\n"
    });
    assert!(
        edited.elapsed() < Duration::from_secs(15),
        "{:?}",
        edited.elapsed()
    );
    let (code, out, err) = ctl.mc(&["agent", "status", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("host1") && out.contains("host2"), "{out}");
    assert!(out.contains("run 1"), "{out}");
    // The agent's runs are in `mc runs`, once each however often it is read.
    let agent_runs = |ctl: &Controller| -> Vec<serde_json::Value> {
        let (code, out, err) = ctl.mc(&["runs", "--json", "-n", "500"]);
        assert_eq!(code, 0, "{err}");
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        doc["runs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["kind"] == "agent")
            .cloned()
            .collect()
    };
    wait_for("host1's correcting run in mc runs", || {
        agent_runs(&ctl)
            .iter()
            .any(|r| r["actor"] == "agent host1" && r["summary"]["changed"].as_u64() == Some(1))
    });
    let before = agent_runs(&ctl);
    let (_, again, _) = ctl.mc(&["runs", "--json", "-n", "500"]);
    let keys = |runs: &[serde_json::Value]| -> Vec<String> {
        runs.iter()
            .map(|r| r["source_digest"].to_string())
            .collect()
    };
    let mut unique = keys(&before);
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        before.len(),
        "an agent run was ingested twice: {again}"
    );

    // An agent that was offline converges to the catalog made meanwhile.
    stop_agent(hosts[1]);
    project_with_secret(&dir, &nats, &hosts, "2");
    let (code, out, err) = apply(&ctl);
    assert_ne!(code, 0, "host2 is unreachable: {out}{err}");
    assert!(err.contains("host2: its catalog is stored"), "{out}{err}");
    assert_eq!(conf(hosts[0]), "host = host1\nversion = 2\n");
    assert_eq!(conf(hosts[1]), "host = host2\nversion = 1\n");
    start_agent_with(hosts[1], &nats, "--interval 2s");
    wait_for("the returning agent to catch up", || {
        conf(hosts[1]) == "host = host2\nversion = 2\n"
    });
    let token = String::from_utf8_lossy(&hosts[1].read_file("/srv/agent-test/token.conf").unwrap())
        .into_owned();
    assert_eq!(token, format!("token = {TOKEN}\n"));

    // A noop agent reports drift and leaves it.
    stop_agent(hosts[0]);
    start_agent_with(hosts[0], &nats, "--interval 2s --noop");
    hosts[0]
        .write_file("/srv/agent-test/app.conf", b"tampered\n")
        .unwrap();
    wait_for("the noop agent to report drift", || {
        let (_, out, _) = ctl.mc(&["agent", "status", "."]);
        out.lines()
            .any(|l| l.starts_with("host1 (noop)") && l.contains("drifted (1 changed"))
    });
    assert_eq!(conf(hosts[0]), "tampered\n");
    let (code, out, err) = ctl.mc(&["runs", "--json", "-n", "500"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        doc["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "agent-noop"
                && r["status"] == "drifted"
                && r["summary"]["drifted"].as_u64() == Some(1)),
        "{out}"
    );
}

#[test]
fn agents_and_the_controller_authenticate_with_their_own_nkeys() {
    let agent_key = nkeys::KeyPair::new_user();
    let controller_key = nkeys::KeyPair::new_user();
    let nats = TestNats::start_with_config(&format!(
        "authorization {{\n  users = [\n    {{ nkey: {} }}\n    {{ nkey: {} }}\n  ]\n}}\n",
        agent_key.public_key(),
        controller_key.public_key()
    ))
    .unwrap();
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    let ctl = Controller::new();
    let (_, trust, _) = ctl.mc(&["agent", "trust-key"]);
    install_agent(host, &trust);
    host.write_file(
        "/etc/mc-agent/agent.nk",
        agent_key.seed().unwrap().as_bytes(),
    )
    .unwrap();
    start_agent_with(host, &nats, "--nkey /etc/mc-agent/agent.nk");
    let dir = ctl.project_dir();
    project(&dir, &nats, &[host], "1");

    // Without credentials the controller is turned away, with the reason.
    let (code, out, err) = ctl.mc(&["plan", "."]);
    assert_ne!(code, 0);
    assert!(
        format!("{out}{err}")
            .to_lowercase()
            .contains("authorization"),
        "{out}{err}"
    );
    // With its own nkey it plans and applies through the agent.
    let seed = ctl.dir.path().join("controller.nk");
    std::fs::write(&seed, controller_key.seed().unwrap()).unwrap();
    let (code, out, err) = common::run(
        ctl.command(&["apply", "--yes", "."])
            .env("MC_AGENTS_NKEY", &seed),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(conf(host), "host = host1\nversion = 1\n");
}

#[test]
fn a_nats_server_restarted_mid_run_then_a_rerun_converges() {
    let mut nats = TestNats::start().unwrap();
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    let ctl = Controller::new();
    let (_, trust, _) = ctl.mc(&["agent", "trust-key"]);
    install_agent(host, &trust);
    start_agent(host, &nats);
    let dir = ctl.project_dir();
    project(&dir, &nats, &[host], "1");
    let mut src = std::fs::read_to_string(dir.join("main.mc")).unwrap();
    src.push_str(
        r#"
on all {
  command "slow" {
    run = "touch /srv/agent-test/slow-started; sleep 4; touch /srv/agent-test/slow-done"
    creates = "/srv/agent-test/slow-done"
  }
}
"#,
    );
    std::fs::write(dir.join("main.mc"), src).unwrap();
    let running = ctl
        .command(&["apply", "--yes", "."])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-run: the slow command is running on the host.
    wait_for("the slow command to start", || {
        host.path_exists("/srv/agent-test/slow-started").unwrap()
    });
    nats.restart(Duration::from_millis(500)).unwrap();
    // The interrupted run ends, one way or the other, in bounded time.
    let started = Instant::now();
    let out = running.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A rerun converges (the agent reconnects by itself).
    apply_until_it_converges(&ctl, "no convergence after the restart");
    assert_eq!(conf(host), "host = host1\nversion = 1\n");
    assert!(host.path_exists("/srv/agent-test/slow-done").unwrap());
    let (code, out, err) = ctl.mc(&["apply", "--yes", "."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("No changes"), "{out}");
}

#[test]
fn agents_and_the_controller_use_tls_client_certificates() {
    let certs = tempfile::tempdir().unwrap();
    let ca = mc_testfleet::tls::TestCa::new(certs.path()).unwrap();
    let server = ca
        .issue(
            "nats",
            &format!(
                "subjectAltName=IP:127.0.0.1,IP:{}",
                mc_testfleet::CONTROLLER_ADDRESS
            ),
        )
        .unwrap();
    let agent = ca.issue("host1", "extendedKeyUsage=clientAuth").unwrap();
    let controller = ca
        .issue("controller", "extendedKeyUsage=clientAuth")
        .unwrap();
    let nats = TestNats::start_with_config(&format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}\n",
        server.cert.display(),
        server.key.display(),
        ca.cert().display()
    ))
    .unwrap();
    let fleet = Fleet::start(1).unwrap();
    let host = fleet.host(0);
    let ctl = Controller::new();
    let (_, trust, _) = ctl.mc(&["agent", "trust-key"]);
    install_agent(host, &trust);
    for (from, to) in [
        (&agent.cert, "/etc/mc-agent/agent.pem"),
        (&agent.key, "/etc/mc-agent/agent.key"),
        (&ca.cert(), "/etc/mc-agent/ca.pem"),
    ] {
        host.write_file(to, &std::fs::read(from).unwrap()).unwrap();
    }
    start_agent_with(
        host,
        &nats,
        "--tls-cert /etc/mc-agent/agent.pem --tls-key /etc/mc-agent/agent.key --tls-ca /etc/mc-agent/ca.pem",
    );
    let dir = ctl.project_dir();
    project(&dir, &nats, &[host], "1");
    let with_tls = |client: Option<&mc_testfleet::tls::Issued>| {
        let mut cmd = ctl.command(&["apply", "--yes", "."]);
        cmd.env("MC_AGENTS_TLS_CA", ca.cert());
        if let Some(c) = client {
            cmd.env("MC_AGENTS_TLS_CERT", &c.cert)
                .env("MC_AGENTS_TLS_KEY", &c.key);
        }
        common::run(&mut cmd)
    };
    // Without a client certificate the server turns the controller away.
    let (code, out, err) = with_tls(None);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("cannot reach the NATS server"),
        "{out}{err}"
    );
    let (code, out, err) = with_tls(Some(&controller));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(conf(host), "host = host1\nversion = 1\n");
}
