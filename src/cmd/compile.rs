//! `mc compile`: prints the catalog of one host, as JSON or as a listing,
//! with the order its resources apply in.

use mc_compiler::Project;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Project directory (entry file `main.mc`) or a single `.mc` file.
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// The host whose catalog to print.
    #[arg(long)]
    pub host: String,
    /// A JSON file with the host's facts (missing keys take default values).
    #[arg(long)]
    pub facts: Option<PathBuf>,
    #[command(flatten)]
    pub output: super::Output,
}

pub fn run(args: Args) -> ExitCode {
    let facts = match &args.facts {
        None => serde_json::Value::Null,
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: cannot read facts from `{}`: {e}", path.display());
                return ExitCode::from(1);
            }
        },
    };
    let project = Project::load_dir(&args.path);
    match project.compile(&args.host, &facts) {
        Ok(catalog) => {
            let mut out = std::io::stdout().lock();
            let _ = if args.output.json() {
                writeln!(out, "{}", json_with_order(&catalog))
            } else {
                write!(out, "{}", listing(&catalog))
            };
            ExitCode::SUCCESS
        }
        Err(diags) => {
            let color = crate::style::stderr_color();
            eprint!("{}", project.render(&diags, color));
            ExitCode::from(1)
        }
    }
}

/// The catalog as JSON, plus `apply_order`: the resource ids in the order
/// `mc apply` applies them.
fn json_with_order(c: &mc_ir::Catalog) -> String {
    let mut value = serde_json::to_value(c).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("apply_order".into(), serde_json::json!(c.apply_order()));
    }
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

/// A readable listing: one block per resource in apply order (numbered),
/// then the edges.
fn listing(c: &mc_ir::Catalog) -> String {
    let mut out = format!(
        "host {} ({}), {} resources, {} edges\n",
        c.host.name,
        c.host.address,
        c.resources.len(),
        c.edges.len()
    );
    let order = c.apply_order();
    let by_id: std::collections::HashMap<&mc_ir::ResourceId, &mc_ir::Resource> =
        c.resources.iter().map(|r| (&r.id, r)).collect();
    let width = order.len().to_string().len();
    for (n, r) in order.iter().filter_map(|id| by_id.get(id)).enumerate() {
        out.push('\n');
        out.push_str(&format!("{:>width$}. ", n + 1));
        let risk = match r.meta.risk {
            mc_ir::Risk::Low => String::new(),
            other => format!("  [risk: {}]", format!("{other:?}").to_lowercase()),
        };
        out.push_str(&format!("{}{risk}\n", r.id));
        for (k, v) in &r.attrs {
            let shown = match v {
                mc_ir::Value::String(s) if s.contains('\n') => {
                    format!("{} lines", s.lines().count())
                }
                mc_ir::Value::Int(m) if k == "mode" => format!("0o{m:o}"),
                mc_ir::Value::Secret(s) => {
                    let names: Vec<&str> = s.secret_names().collect();
                    format!("(secret: {})", names.join(", "))
                }
                other => serde_json::to_string(other).unwrap_or_default(),
            };
            out.push_str(&format!("  {k} = {shown}\n"));
        }
        if !r.meta.tags.is_empty() {
            out.push_str(&format!("  tags = {}\n", r.meta.tags.join(", ")));
        }
    }
    if !c.edges.is_empty() {
        out.push_str("\nedges\n");
        for e in &c.edges {
            let kind = format!("{:?}", e.kind).to_lowercase();
            out.push_str(&format!("  {} -> {} ({kind})\n", e.from, e.to));
        }
    }
    out
}
