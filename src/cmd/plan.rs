//! `mc plan`: probe hosts and show what an apply would change.

use mc_runtime::state::StateLocation;
use mc_runtime::{CatalogSource, ConnectOptions, Runners, Runtime, Selection, StateStore};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`), or a file in it.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Write the plan to FILE, for `mc apply FILE`.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the graph of the changes and what depends on them to FILE
    /// (Mermaid for `.mmd`, JSON for `.json`, Graphviz DOT otherwise).
    #[arg(long, value_name = "FILE")]
    pub graph: Option<PathBuf>,
    #[command(flatten)]
    pub output: super::Output,
    /// Exit 0 when there is nothing to change, 2 when there are changes, 1 on errors.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options shared by the commands that reach hosts.
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// Only these hosts: names, groups, `web*`, `!db1`, `web:&prod` (comma-separated or repeated).
    #[arg(
        short = 'l',
        long = "limit",
        value_delimiter = ',',
        value_name = "PATTERN"
    )]
    pub limit: Vec<String>,
    /// Only resources with one of these tags.
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Leave out resources with one of these tags.
    #[arg(long, value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// Only this resource and what it depends on (repeatable).
    #[arg(long = "target", value_name = "TYPE[TITLE]", value_parser = mc_runtime::target::parse)]
    pub targets: Vec<String>,
    /// ssh_config file to use instead of ~/.ssh/config.
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Accept and remember host keys of hosts never seen before (changed keys are still refused).
    #[arg(long)]
    pub trust_new_host_keys: bool,
    /// Keep each host's ssh connection open this long after the run for the next command to reuse (`90s`, `5m`; a bare number is seconds; 0: close at once).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub ssh_persist: std::time::Duration,
    /// Hosts worked on at the same time.
    #[arg(long, default_value_t = 16)]
    pub parallel: usize,
    /// How long `mc apply` waits for another run's lock on its hosts before giving up (`30s`, `5m`; default: refuse at once).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// State store: a SQLite file (`sqlite:PATH` or a path) or a shared PostgreSQL database (`postgres://USER@HOST/DB`; the password from `PGPASSWORD`); default `MC_STATE`, else PROJECT/.mc/state.db.
    #[arg(long, value_name = "FILE|URL")]
    pub state: Option<PathBuf>,
    /// Set a `param` of the project (repeatable); recorded in the plan.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

/// `NAME=VALUE` of `--var`.
pub fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

impl RunArgs {
    pub fn selection(&self) -> Selection {
        Selection {
            limit: self.limit.clone(),
            tags: self.tags.clone(),
            skip_tags: self.skip_tags.clone(),
            targets: self.targets.clone(),
        }
    }

    pub fn runtime(&self, project: &Path) -> Result<Runtime, String> {
        let store = Arc::new(open_store(self.state.as_deref(), project)?);
        let runner = Runners::locate()?;
        let mut connect = ConnectOptions::new(runner);
        connect.ssh_config = self.ssh_config.clone();
        connect.trust_new_host_keys = self.trust_new_host_keys;
        connect.ssh_persist = self.ssh_persist;
        connect.agents = agents(project)?.map(|a| Arc::new(a.pinning_in(store.clone())));
        let mut rt = Runtime::new(store, connect);
        rt.secrets = Arc::new(ProjectSecrets {
            store: mc_secrets::SecretStore::open(project).ok(),
            cache: Default::default(),
        });
        rt.parallel = self.parallel.max(1);
        rt.lock_timeout = self.lock_timeout;
        rt.project = Some(absolute(project));
        Ok(rt)
    }
}

/// The NATS server of the project's agents: `MC_AGENTS`, else `project {
/// agents }`; credentials from `MC_AGENTS_CREDS` (a `.creds` file),
/// `MC_AGENTS_NKEY` (an nkey seed file), `MC_AGENTS_TLS_CERT` and
/// `MC_AGENTS_TLS_KEY` (a client certificate), `MC_AGENTS_TLS_CA`.
pub fn agents(project: &Path) -> Result<Option<mc_runtime::agents::Agents>, String> {
    let server = match std::env::var("MC_AGENTS")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        Some(s) => s,
        None => match &super::settings_of(project).0.agents {
            Some(s) => s.clone(),
            None => return Ok(None),
        },
    };
    let file = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let credentials = mc_runtime::agents::nats::Credentials {
        creds: file("MC_AGENTS_CREDS"),
        nkey: file("MC_AGENTS_NKEY"),
        tls_cert: file("MC_AGENTS_TLS_CERT"),
        tls_key: file("MC_AGENTS_TLS_KEY"),
        tls_ca: file("MC_AGENTS_TLS_CA"),
    };
    Ok(Some(mc_runtime::agents::Agents::new(server, credentials)))
}

/// `5m`, `90s`, `1h 30m` (humantime), or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration such as 90s or 5m ({e})"))
}

/// The error for a `--target` that names no resource of any planned host
/// (a typo would otherwise plan nothing, silently).
pub fn check_targets(targets: &[String], plan: &mc_ir::plan::Plan) -> Result<(), String> {
    let known = |t: &String| {
        plan.hosts.iter().any(|h| {
            h.catalog.is_none()
                || h.catalog
                    .as_ref()
                    .is_some_and(|c| c.resources.iter().any(|r| r.id.as_str() == t))
        })
    };
    match targets.iter().find(|t| !known(t)) {
        Some(t) => Err(format!(
            "--target {t} matches no resource of the selected hosts"
        )),
        None => Ok(()),
    }
}

/// The state store of a run: `--state` (a path, `sqlite:PATH` or
/// `postgres://…`), else `MC_STATE`, else the project's `.mc/state.db`.
pub fn open_store(state: Option<&Path>, project: &Path) -> Result<StateStore, String> {
    let location = match (state, std::env::var("MC_STATE")) {
        (Some(p), _) => StateLocation::parse(&p.to_string_lossy()),
        (None, Ok(env)) if !env.is_empty() => StateLocation::parse(&env),
        _ => match project_state(project)? {
            Some(StateLocation::Sqlite(p)) => StateLocation::Sqlite(project.join(p)),
            Some(url) => url,
            None => StateLocation::Sqlite(StateStore::default_path(project)),
        },
    };
    StateStore::open_at(&location).map_err(|e| e.to_string())
}

/// The project's `project { state = "…" }`, if it sets one (a relative
/// file is relative to the project).
fn project_state(project: &Path) -> Result<Option<StateLocation>, String> {
    if !project.join("main.mc").is_file() {
        return Ok(None);
    }
    let read = super::settings_of(project);
    let (settings, errors) = (&read.0, &read.1);
    if let Some(e) = errors.iter().find(|e| e.message.contains("`state`")) {
        return Err(format!("{}: project: {}", e.primary.file, e.message));
    }
    Ok(settings.state.as_deref().map(StateLocation::parse))
}

/// Secrets for the runtime: the project's encrypted store (`mc secret`),
/// else `MC_SECRET_<NAME>` from the environment. Each secret is decrypted
/// once per run.
struct ProjectSecrets {
    store: Option<mc_secrets::SecretStore>,
    cache: std::sync::Mutex<std::collections::HashMap<String, mc_secrets::SecretString>>,
}

impl mc_runtime::SecretSource for ProjectSecrets {
    fn resolve(&self, name: &str) -> Result<String, mc_runtime::SecretError> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = cache.get(name) {
            return Ok(v.expose().to_string());
        }
        let value = match &self.store {
            Some(store) if store.contains(name) => store
                .resolve(name)
                .map_err(|e| mc_runtime::SecretError::Unreadable(e.to_string()))?,
            _ => mc_secrets::SecretString::new(mc_runtime::EnvSecrets.resolve(name)?),
        };
        let out = value.expose().to_string();
        cache.insert(name.to_string(), value);
        Ok(out)
    }
}

/// The compiler behind the runtime's [`CatalogSource`]: the one place the
/// CLI joins the two.
struct CompilerSource {
    project: mc_compiler::Project,
}

impl CatalogSource for CompilerSource {
    fn hosts(&self) -> Result<Vec<mc_ir::HostInfo>, mc_runtime::SourceError> {
        self.project
            .hosts()
            .map_err(|d| mc_runtime::SourceError(self.project.render(&d, false)))
    }
    fn compile(
        &self,
        host: &mc_ir::HostInfo,
        facts: &serde_json::Value,
    ) -> Result<mc_ir::Catalog, mc_runtime::SourceError> {
        self.project
            .compile(&host.name, facts)
            .map_err(|d| mc_runtime::SourceError(self.project.render(&d, false)))
    }
    fn source_digest(&self) -> String {
        self.project.source_digest()
    }
    fn vars(&self) -> std::collections::BTreeMap<String, String> {
        self.project.params().clone()
    }
    fn evaluate_policies(&self, plan: &mc_ir::plan::Plan) -> mc_runtime::PolicyOutcome {
        let policies = self.project.policies();
        let (findings, required_approvals) = policies.evaluate_plan(plan);
        mc_runtime::PolicyOutcome {
            findings,
            required_approvals,
            forbid_self_approval: !policies.self_approval(),
            approvers: policies.approvers().to_vec(),
            approvals_required: policies.approvals_required(),
        }
    }
}

pub fn catalog_source(
    dir: &Path,
    vars: &[(String, String)],
) -> Result<Arc<dyn CatalogSource>, String> {
    if !dir.join("main.mc").is_file() {
        return Err(format!("{}: no main.mc here", dir.display()));
    }
    let mut project = mc_compiler::Project::load_dir(dir);
    project.set_params(vars.iter().cloned().collect());
    let unknown = project.param_errors();
    if !unknown.is_empty() {
        return Err(project.render(&unknown, false));
    }
    Ok(Arc::new(CompilerSource { project }))
}

pub fn run(args: Args) -> ExitCode {
    match plan(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn plan(args: &Args) -> Result<ExitCode, String> {
    let project = super::project_dir(&args.path);
    let source = catalog_source(&project, &args.run.vars)?;
    let rt = args.run.runtime(&project)?;
    let sel = args.run.selection();
    let progress = super::progress();
    let planned = mc_runtime::block_on(async {
        let p = rt.plan(source, &sel, progress.clone()).await;
        progress.finish();
        let p = p?;
        let plan = p.plan.clone();
        p.close().await;
        Ok::<_, mc_runtime::RuntimeError>(plan)
    })
    .and_then(|r| r)
    .map_err(|e| e.to_string())?;
    let plan = planned;
    check_targets(&args.run.targets, &plan)?;
    if args.output.json() {
        crate::outln!("{}", plan.to_json_pretty());
    } else if args.output.format() == Some(super::Format::Sarif) {
        let log = crate::sarif::log(&crate::sarif::from_plan(&plan));
        crate::outln!("{}", serde_json::to_string_pretty(&log).unwrap_or_default());
    } else {
        crate::out!(
            "{}",
            mc_runtime::render::render_plan(&plan, crate::style::stdout_color())
        );
    }
    if let Some(out) = &args.out {
        mc_runtime::state::write_private(out, plan.to_json_pretty().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        if args.output.format().is_none() {
            crate::outln!(
                "Saved the plan to {}; apply it with `mc apply {}`.",
                out.display(),
                out.display()
            );
        }
    }
    if let Some(file) = &args.graph {
        super::graph::write_plan_graph(&plan, file)?;
    }
    let c = plan.counts();
    Ok(if c.errors > 0 || plan.denials().next().is_some() {
        ExitCode::from(1)
    } else if args.detailed_exitcode && c.changes() > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn absolute(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}
