//! Shared set-up for the runtime's tests against real test hosts: catalogs
//! built in Rust, the real `mc-runner` binary, fleet ssh configs.

#![allow(dead_code)]

use mc_ir::{Catalog, Edge, EdgeKind, HostInfo, Meta, Resource, ResourceId, Transport, Value};
use mc_runtime::{
    ApplyOptions, ApplyReport, CatalogSource, ConnectOptions, Progress, ProgressEvent, Quiet,
    Runners, Runtime, StateStore,
};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The runners `mc` ships: the static ones the build embeds, unless
/// `MC_RUNNER` names another.
pub fn runner() -> Runners {
    Runners::locate().expect("mc-runner binary")
}

pub fn ssh_host(name: &str) -> HostInfo {
    HostInfo {
        name: name.into(),
        address: name.into(),
        user: None,
        port: None,
        transport: Transport::Ssh,
        r#become: false,
        groups: vec![],
        ssh_key: None,
    }
}

pub fn resource(type_name: &str, title: &str, attrs: &[(&str, Value)]) -> Resource {
    Resource {
        id: ResourceId::new(type_name, title),
        type_name: type_name.into(),
        title: title.into(),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        meta: Meta::default(),
        source: None,
    }
}

pub fn s(v: &str) -> Value {
    Value::String(v.into())
}

pub fn edge(from: &Resource, to: &Resource, kind: EdgeKind) -> Edge {
    Edge {
        from: from.id.clone(),
        to: to.id.clone(),
        kind,
        action: None,
    }
}

/// Builds one host's resources and edges.
pub type BuildFn = Box<dyn Fn(&HostInfo) -> (Vec<Resource>, Vec<Edge>) + Send + Sync>;

/// A catalog source whose per-host resources tests can change between runs.
pub struct TestSource {
    pub hosts: Vec<HostInfo>,
    pub build: Mutex<BuildFn>,
    pub digest: String,
}

impl TestSource {
    pub fn new(
        hosts: Vec<HostInfo>,
        build: impl Fn(&HostInfo) -> (Vec<Resource>, Vec<Edge>) + Send + Sync + 'static,
    ) -> Arc<TestSource> {
        Arc::new(TestSource {
            hosts,
            build: Mutex::new(Box::new(build)),
            digest: "test-source".into(),
        })
    }
}

impl CatalogSource for TestSource {
    fn hosts(&self) -> Result<Vec<HostInfo>, mc_runtime::SourceError> {
        Ok(self.hosts.clone())
    }
    fn compile(
        &self,
        host: &HostInfo,
        facts: &serde_json::Value,
    ) -> Result<Catalog, mc_runtime::SourceError> {
        if !facts.is_object() {
            return Err(mc_runtime::SourceError("facts are not an object".into()));
        }
        let (resources, edges) = (self.build.lock().unwrap())(host);
        Ok(Catalog {
            schema: mc_ir::CATALOG_SCHEMA,
            host: host.clone(),
            resources,
            edges,
        })
    }
    fn source_digest(&self) -> String {
        self.digest.clone()
    }
}

pub fn runtime(dir: &Path, ssh_config: Option<&Path>) -> Runtime {
    let store = StateStore::open(&dir.join("state.db")).unwrap();
    let mut opts = ConnectOptions::new(runner());
    opts.ssh_config = ssh_config.map(Path::to_path_buf);
    Runtime::new(Arc::new(store), opts)
}

/// Collects progress events as text, for assertions.
#[derive(Default)]
pub struct Recorder {
    pub lines: Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn event(&self, host: &str, event: ProgressEvent<'_>) {
        let line = match event {
            ProgressEvent::Connected { uploaded } => {
                format!("{host} connected uploaded={uploaded}")
            }
            ProgressEvent::Applying { total } => format!("{host} applying {total}"),
            ProgressEvent::ResourceStarted(id) => format!("{host} started {id}"),
            ProgressEvent::Output(id, l) => format!("{host} output {id} {l}"),
            ProgressEvent::ResourceDone {
                id,
                status,
                message,
            } => {
                format!("{host} {status} {id} {message}")
            }
            ProgressEvent::HostDone(r) => format!("{host} done {}", r.status),
            ProgressEvent::Phase(what) => format!("{host} phase {what}"),
            ProgressEvent::Checked { error } => format!("{host} checked {error:?}"),
        };
        self.lines.lock().unwrap().push(line);
    }
}

impl Recorder {
    pub fn has(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }
}

/// Applies a plan right after it was made, over the sessions planning
/// opened, with default options (no stale check: nothing changed between).
pub async fn apply_now(
    rt: &Runtime,
    plan: &mc_ir::plan::Plan,
    sessions: HashMap<String, mc_runtime::transport::RunnerSession>,
) -> ApplyReport {
    let opts = ApplyOptions {
        check_stale: false,
        ..Default::default()
    };
    rt.apply(plan, sessions, &opts, Arc::new(Quiet))
        .await
        .expect("apply")
}

/// Adds a login user (the fleet's key) to a test host, with passwordless
/// sudo when `sudoer`. The password is `*`, not locked: sshd without PAM
/// refuses keys of a locked account.
pub fn add_login_user(host: &mc_testfleet::Host, user: &str, sudoer: bool) {
    let mut script = format!(
        "id {user} >/dev/null 2>&1 || useradd -m -s /bin/sh {user}; \
         usermod -p '*' {user} && \
         mkdir -p /home/{user}/.ssh && cp /root/.ssh/authorized_keys /home/{user}/.ssh/ && \
         chown -R {user}: /home/{user}/.ssh && chmod 700 /home/{user}/.ssh"
    );
    if sudoer {
        script.push_str(&format!(
            " && echo '{user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{user} && chmod 440 /etc/sudoers.d/{user}"
        ));
    }
    host.exec_ok(&script).unwrap();
}
