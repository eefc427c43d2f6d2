//! `mc graph`: a host's catalog as a graph (resources and their edges), and
//! the graph of a plan's changes for `mc plan --graph FILE`, as Graphviz
//! DOT, Mermaid or JSON.

use super::Format;
use mc_compiler::Project;
use mc_ir::plan::{Action, Plan};
use mc_ir::{Catalog, EdgeKind, ResourceId};
use petgraph::dot::{Config, Dot};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`), or a file in it.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The host whose catalog to draw (needed when the project has several).
    #[arg(long)]
    pub host: Option<String>,
    #[command(flatten)]
    pub output: super::Output,
}

const NOT_A_GRAPH_FORMAT: &str = "a graph is printed as dot, mermaid or json";

/// Version of the `mc graph --format json` document (docs/json.md).
const GRAPH_SCHEMA: u32 = 1;

/// Resources and the edges between them.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    /// (from, to, kind): `from` comes first (and notifies `to` for `notify`).
    edges: Vec<(usize, usize, &'static str)>,
}

#[derive(Debug)]
struct Node {
    host: String,
    id: ResourceId,
    /// In a plan graph: what the plan does to it (`none` for a dependent
    /// that does not change itself).
    action: Option<&'static str>,
    /// In a plan graph with several hosts, labels name the host.
    show_host: bool,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.show_host {
            write!(f, "{}: ", self.host)?;
        }
        write!(f, "{}", self.id)?;
        match self.action {
            Some(a) => write!(f, " ({a})"),
            None => Ok(()),
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    match graph(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn graph(args: &Args) -> Result<(), String> {
    let format = match args.output.format() {
        None => Format::Dot,
        Some(Format::Human | Format::Sarif) => return Err(NOT_A_GRAPH_FORMAT.into()),
        Some(f) => f,
    };
    let project = Project::load_dir(&super::project_dir(&args.path));
    let hosts = project
        .hosts()
        .map_err(|diags| project.render(&diags, crate::style::stderr_color()))?;
    let host = match (&args.host, hosts.as_slice()) {
        (Some(h), _) => h.clone(),
        (None, [one]) => one.name.clone(),
        (None, []) => return Err("the project declares no host".into()),
        (None, many) => {
            let names: Vec<&str> = many.iter().map(|h| h.name.as_str()).collect();
            return Err(format!(
                "the project has {} hosts; pick one with --host ({})",
                many.len(),
                names.join(", ")
            ));
        }
    };
    let catalog = project
        .compile(&host, &serde_json::Value::Null)
        .map_err(|diags| project.render(&diags, crate::style::stderr_color()))?;
    let g = Graph::of_catalog(&catalog);
    let text = g.render(format, &host)?;
    crate::out!("{text}");
    Ok(())
}

impl Graph {
    /// Every resource of a catalog, in apply order, with every edge.
    pub fn of_catalog(c: &Catalog) -> Graph {
        let mut g = Graph::default();
        let index = g.add_nodes(&c.host.name, c.apply_order(), |_| None, false);
        g.add_edges(c, &index);
        g
    }

    /// What a plan changes (created, updated, deleted or refreshed) on each
    /// host, with everything that depends on those changes, and the edges
    /// between them.
    pub fn of_plan(plan: &Plan) -> Graph {
        let mut g = Graph::default();
        let show_host = plan.hosts.len() > 1;
        for hp in &plan.hosts {
            let Some(c) = &hp.catalog else { continue };
            let actions: HashMap<&ResourceId, &'static str> = hp
                .resources
                .iter()
                .filter_map(|r| {
                    let name = match (r.action, r.refresh) {
                        (Action::Create, _) => "create",
                        (Action::Update, _) => "update",
                        (Action::Delete, _) => "delete",
                        (_, true) => "refresh",
                        _ => return None,
                    };
                    Some((&r.id, name))
                })
                .collect();
            let keep = with_dependents(c, actions.keys().copied().collect());
            let order = c.apply_order().into_iter().filter(|id| keep.contains(id));
            let action = |id: &ResourceId| Some(actions.get(id).copied().unwrap_or("none"));
            let index = g.add_nodes(&c.host.name, order.collect(), action, show_host);
            g.add_edges(c, &index);
        }
        g
    }

    fn add_nodes(
        &mut self,
        host: &str,
        ids: Vec<ResourceId>,
        action: impl Fn(&ResourceId) -> Option<&'static str>,
        show_host: bool,
    ) -> HashMap<ResourceId, usize> {
        let mut index = HashMap::new();
        for id in ids {
            index.insert(id.clone(), self.nodes.len());
            self.nodes.push(Node {
                host: host.to_string(),
                action: action(&id),
                id,
                show_host,
            });
        }
        index
    }

    fn add_edges(&mut self, c: &Catalog, index: &HashMap<ResourceId, usize>) {
        for e in &c.edges {
            if let (Some(&from), Some(&to)) = (index.get(&e.from), index.get(&e.to)) {
                self.edges.push((from, to, kind_name(e.kind)));
            }
        }
    }

    pub fn render(&self, format: Format, title: &str) -> Result<String, String> {
        match format {
            Format::Dot => Ok(self.dot()),
            Format::Mermaid => Ok(self.mermaid()),
            Format::Json => Ok(self.json(title)),
            Format::Human | Format::Sarif => Err(NOT_A_GRAPH_FORMAT.into()),
        }
    }

    /// Graphviz DOT, through petgraph: notify edges orange, edges the
    /// compiler added dashed, plan nodes coloured by action.
    fn dot(&self) -> String {
        let mut pg = petgraph::Graph::<&Node, &str>::new();
        let ix: Vec<_> = self.nodes.iter().map(|n| pg.add_node(n)).collect();
        for &(from, to, kind) in &self.edges {
            pg.add_edge(ix[from], ix[to], kind);
        }
        let edge_attrs = |_, e: petgraph::graph::EdgeReference<'_, &str>| {
            match *e.weight() {
                "notify" => "color = \"darkorange\"",
                "auto" => "style = \"dashed\"",
                _ => "",
            }
            .to_string()
        };
        let node_attrs = |_, (_, n): (petgraph::graph::NodeIndex, &&Node)| {
            let color = match n.action {
                Some("create") => "green3",
                Some("update") => "gold",
                Some("delete") => "red",
                Some("refresh") => "deepskyblue",
                Some(_) => "gray",
                None => return "shape = \"box\"".to_string(),
            };
            format!("shape = \"box\", color = \"{color}\"")
        };
        let dot = Dot::with_attr_getters(
            &pg,
            &[Config::RankDir(petgraph::dot::RankDir::LR)],
            &edge_attrs,
            &node_attrs,
        );
        format!("{dot}")
    }

    fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let label = n.to_string().replace('"', "#quot;");
            out.push_str(&format!("  n{i}[\"{label}\"]\n"));
        }
        for &(from, to, kind) in &self.edges {
            let arrow = if kind == "auto" { "-.->" } else { "-->" };
            out.push_str(&format!("  n{from} {arrow}|{kind}| n{to}\n"));
        }
        out
    }

    fn json(&self, title: &str) -> String {
        let nodes: Vec<serde_json::Value> = self
            .nodes
            .iter()
            .map(|n| {
                let mut v = serde_json::json!({ "host": n.host, "id": n.id });
                if let Some(a) = n.action {
                    v["action"] = a.into();
                }
                v
            })
            .collect();
        let edges: Vec<serde_json::Value> = self
            .edges
            .iter()
            .map(|&(f, t, kind)| {
                serde_json::json!({
                    "from": self.nodes[f].id, "to": self.nodes[t].id, "kind": kind,
                    "host": self.nodes[f].host,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "schema": GRAPH_SCHEMA, "title": title, "nodes": nodes, "edges": edges,
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
    }
}

/// `changed` and every resource that depends on one of them, directly or
/// not (the edge `a → b` means `b` depends on `a`).
fn with_dependents(c: &Catalog, changed: BTreeSet<&ResourceId>) -> BTreeSet<ResourceId> {
    let mut keep: BTreeSet<ResourceId> = changed.into_iter().cloned().collect();
    let mut todo: Vec<ResourceId> = keep.iter().cloned().collect();
    while let Some(id) = todo.pop() {
        for e in c.edges.iter().filter(|e| e.from == id) {
            if keep.insert(e.to.clone()) {
                todo.push(e.to.clone());
            }
        }
    }
    keep
}

fn kind_name(k: EdgeKind) -> &'static str {
    match k {
        EdgeKind::Requires => "requires",
        EdgeKind::Notify => "notify",
        EdgeKind::Auto => "auto",
    }
}

/// Writes the plan's graph to `file`: Mermaid for `.mmd`/`.mermaid`, JSON
/// for `.json`, Graphviz DOT otherwise.
pub fn write_plan_graph(plan: &Plan, file: &Path) -> Result<(), String> {
    let format = match file.extension().and_then(|e| e.to_str()) {
        Some("mmd" | "mermaid") => Format::Mermaid,
        Some("json") => Format::Json,
        _ => Format::Dot,
    };
    let short = plan.hash.get(..12).unwrap_or(&plan.hash);
    let text = Graph::of_plan(plan).render(format, &format!("plan {short}"))?;
    std::fs::write(file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))
}
