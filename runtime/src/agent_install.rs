//! `mc agent install`: puts `mc-agent` on a host over SSH and runs it as a
//! service. The executable is uploaded only when its hash differs; the
//! trust key, credentials and service definition are resources the runner
//! applies (so a second install changes nothing), and the service is
//! restarted when any of them changed.

use crate::transport::{shell_quote, RunnerSession};
use mc_ir::{Resource, Value};
pub use mc_runner::protocol::Status;
use mc_runner::protocol::{Action, ApplyItem, Request, Response};

/// Where the agent lives on a host.
pub const BINARY: &str = "/usr/local/bin/mc-agent";
pub const CONFIG_DIR: &str = "/etc/mc-agent";

/// What to install.
pub struct Install {
    /// The NATS server as the host reaches it.
    pub server: String,
    /// The agent's name (the inventory name).
    pub name: String,
    /// The controller key(s) the agent trusts: OpenSSH public key lines.
    pub trust: String,
    pub binary: Vec<u8>,
    /// A NATS `.creds` file's content, copied to the host (mode 0600).
    pub creds: Option<String>,
}

/// What changed on the host.
#[derive(Debug, Default)]
pub struct Installed {
    /// The agent's encryption key, read over SSH: what the controller pins.
    pub recipient: String,
    pub binary_changed: bool,
    /// Resource id and what the runner said, per resource.
    pub results: Vec<(String, Status, String)>,
}

/// Installs (or updates) the agent through a root runner session.
pub async fn install(session: &mut RunnerSession, inst: &Install) -> Result<Installed, String> {
    let facts = match session.request(&Request::Facts, |_| {}).await {
        Ok(Response::Facts { facts }) => facts,
        Ok(other) => return Err(format!("unexpected answer to facts: {}", other.to_line())),
        Err(e) => return Err(e.to_string()),
    };
    let host_arch = facts["os"]["arch"].as_str().unwrap_or("unknown");
    let arch = crate::runners::elf_arch(&inst.binary).unwrap_or("unknown");
    if host_arch != arch {
        return Err(format!(
            "the host is {host_arch} and this mc-agent is built for {arch}"
        ));
    }
    let systemd = facts["init"].as_str() == Some("systemd");
    let binary_changed = upload(session, &inst.binary).await?;
    let dir = ApplyItem::new(
        Resource::with_attrs(
            "directory",
            CONFIG_DIR,
            [
                ("mode", Value::Int(0o755)),
                ("owner", Value::String("root".into())),
                ("group", Value::String("root".into())),
            ],
        ),
        Action::Update,
    );
    let mut items = vec![file(
        &format!("{CONFIG_DIR}/trust.pub"),
        &inst.trust,
        0o644,
        false,
    )];
    if let Some(creds) = &inst.creds {
        items.push(file(
            &format!("{CONFIG_DIR}/nats.creds"),
            creds,
            0o600,
            true,
        ));
    }
    let command = command_line(inst);
    items.push(if systemd {
        file(
            "/etc/systemd/system/mc-agent.service",
            &systemd_unit(&command),
            0o644,
            false,
        )
    } else {
        file("/etc/init.d/mc-agent", &init_script(&command), 0o755, false)
    });
    let mut service = ApplyItem::new(
        Resource::with_attrs(
            "service",
            "mc-agent",
            [
                ("name", Value::String("mc-agent".into())),
                ("state", Value::String("running".into())),
                ("enabled", Value::Bool(true)),
                ("on_notify", Value::String("restart".into())),
            ],
        ),
        Action::Update,
    );
    // In steps, each probed after the one before is applied: files in a
    // missing folder, or a service without its script, cannot be probed.
    let mut results = converge(session, vec![dir]).await?;
    results.extend(converge(session, items).await?);
    // Restarted when anything it runs with changed.
    service.refresh = binary_changed || results.iter().any(|r| r.status == Status::Changed);
    results.extend(converge(session, vec![service]).await?);
    let recipient = agent_key(session).await?;
    Ok(Installed {
        recipient,
        binary_changed,
        results: results
            .into_iter()
            .map(|r| (r.id.to_string(), r.status, r.message))
            .collect(),
    })
}

/// Probes `items` for the actions the host needs, as a plan would, then
/// applies them in one batch.
async fn converge(
    session: &mut RunnerSession,
    mut items: Vec<ApplyItem>,
) -> Result<Vec<mc_runner::protocol::ApplyResult>, String> {
    // The actions the host needs, as a plan would find them.
    let probe = Request::Probe {
        resources: items.iter().map(|i| i.resource.clone()).collect(),
        sensitive: Default::default(),
    };
    let probed = match session.request(&probe, |_| {}).await {
        Ok(Response::Probed { results }) => results,
        Ok(Response::Error { message, .. }) => return Err(message),
        Ok(other) => return Err(format!("unexpected answer to probe: {}", other.to_line())),
        Err(e) => return Err(e.to_string()),
    };
    for (item, p) in items.iter_mut().zip(probed) {
        if let Some(e) = p.error {
            return Err(format!("{}: {e}", item.resource.id));
        }
        item.action = p.action;
    }
    match session.request(&Request::Apply { items }, |_| {}).await {
        Ok(Response::Applied { results }) => Ok(results),
        Ok(Response::Error { message, .. }) => Err(message),
        Ok(other) => Err(format!("unexpected answer to apply: {}", other.to_line())),
        Err(e) => Err(e.to_string()),
    }
}

/// The public half of the agent's encryption key, which the agent writes
/// at its first start (waited for, a few seconds at most).
async fn agent_key(session: &mut RunnerSession) -> Result<String, String> {
    let path = "/var/lib/mc-agent/agent.pub";
    for _ in 0..50 {
        let (code, out, _) = session.shell(&format!("cat {path}"), b"").await?;
        let key = out.trim();
        if code == 0 && key.starts_with("age1") {
            return Ok(key.to_string());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(format!(
        "the agent did not start: no {path} (see /var/log/mc-agent.log or its journal)"
    ))
}

/// Uploads the executable unless the host has the same one; true if it did.
async fn upload(session: &mut RunnerSession, binary: &[u8]) -> Result<bool, String> {
    let hash = crate::hash::sha256_hex(binary);
    let (code, out, _) = session
        .shell(&format!("sha256sum {BINARY} 2>/dev/null || true"), b"")
        .await?;
    if code == 0 && out.split_whitespace().next() == Some(hash.as_str()) {
        return Ok(false);
    }
    // A new file beside the old one, then renamed over it: a running agent
    // keeps its executable, and no one can slip a link in (noclobber).
    let script = format!(
        "set -e; umask 022; mkdir -p /usr/local/bin; t={BINARY}.new.$$; rm -f \"$t\"; set -C; head -c {n} > \"$t\"; set +C; \
         [ \"$(sha256sum < \"$t\" | cut -d' ' -f1)\" = {hash} ] || {{ rm -f \"$t\"; echo 'upload damaged' >&2; exit 1; }}; \
         chmod 0755 \"$t\"; mv -f \"$t\" {BINARY}",
        n = binary.len()
    );
    let (code, _, err) = session.shell(&script, binary).await?;
    if code != 0 {
        return Err(format!("uploading mc-agent failed: {}", err.trim()));
    }
    Ok(true)
}

fn file(path: &str, content: &str, mode: u32, sensitive: bool) -> ApplyItem {
    let mut item = ApplyItem::new(
        Resource::with_attrs(
            "file",
            path,
            [
                ("content", Value::String(content.into())),
                ("mode", Value::Int(mode as i64)),
                ("owner", Value::String("root".into())),
                ("group", Value::String("root".into())),
            ],
        ),
        Action::Update,
    );
    if sensitive {
        item.sensitive = vec!["content".into()];
    }
    item
}

/// The agent's command line as the service runs it.
fn command_line(inst: &Install) -> String {
    let mut c = format!(
        "{BINARY} --server {} --name {} --trust {CONFIG_DIR}/trust.pub",
        shell_quote(&inst.server),
        shell_quote(&inst.name)
    );
    if inst.creds.is_some() {
        c.push_str(&format!(" --creds {CONFIG_DIR}/nats.creds"));
    }
    c
}

fn systemd_unit(command: &str) -> String {
    format!(
        "# Installed by mc agent install.\n[Unit]\nDescription=mc agent\nAfter=network-online.target\nWants=network-online.target\n\n\
         [Service]\nExecStart={command}\nRestart=always\nRestartSec=5\n\n[Install]\nWantedBy=multi-user.target\n"
    )
}

/// A portable init script: no `start-stop-daemon`, so it runs on any
/// sysvinit host.
fn init_script(command: &str) -> String {
    format!(
        r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          mc-agent
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: mc agent
### END INIT INFO
# Installed by mc agent install.
PIDFILE=/run/mc-agent.pid
running() {{ [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
case "$1" in
  start)
    running && exit 0
    setsid {command} >>/var/log/mc-agent.log 2>&1 </dev/null &
    echo $! > "$PIDFILE"
    ;;
  stop)
    running && kill "$(cat "$PIDFILE")"
    rm -f "$PIDFILE"
    ;;
  restart|reload|force-reload)
    "$0" stop
    sleep 1
    "$0" start
    ;;
  status)
    running
    ;;
  *)
    echo "usage: $0 start|stop|restart|status" >&2
    exit 2
    ;;
esac
"#
    )
}
