//! SARIF 2.1.0 output (`--format sarif`) for code-scanning dashboards:
//! compiler diagnostics (`mc check`), policy findings (`mc plan`) and
//! drift (`mc drift`), each result with a rule, a level and, where known,
//! the place in the project's sources.

use mc_ir::plan::{FindingKind, Plan, PlannedResource};
use mc_ir::{Catalog, ResourceId};

/// One result, in the terms SARIF needs.
pub struct Finding {
    pub rule: String,
    /// `error`, `warning` or `note`.
    pub level: &'static str,
    pub message: String,
    pub location: Option<Location>,
    /// Extra facts shown by viewers (host, resource…).
    pub properties: serde_json::Value,
}

/// A span in a project file: path relative to the project, 1-based.
pub struct Location {
    pub file: String,
    pub line: u64,
    pub col: u64,
    pub end_line: u64,
    pub end_col: u64,
}

/// The SARIF log: one run of `mc` with its rules and results.
pub fn log(findings: &[Finding]) -> serde_json::Value {
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| result(f, rules.binary_search(&f.rule.as_str()).unwrap_or(0)))
        .collect();
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|id| serde_json::json!({ "id": id, "name": rule_name(id) }))
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "mc",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": { "PROJECT": { "description": { "text": "the project directory" } } },
            "results": results,
        }],
    })
}

fn result(f: &Finding, rule_index: usize) -> serde_json::Value {
    let mut r = serde_json::json!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": f.level,
        "message": { "text": f.message },
        "properties": f.properties,
    });
    if let Some(l) = &f.location {
        r["locations"] = serde_json::json!([{ "physicalLocation": {
            "artifactLocation": { "uri": l.file, "uriBaseId": "PROJECT" },
            "region": {
                "startLine": l.line, "startColumn": l.col,
                "endLine": l.end_line.max(l.line), "endColumn": l.end_col.max(1),
            },
        }}]);
    }
    r
}

/// A readable rule name: the diagnostic code or policy name, as a
/// PascalCase-free identifier SARIF viewers accept.
fn rule_name(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A compiler diagnostic, from its `mc check --json` form.
pub fn from_diagnostic_json(line: &serde_json::Value) -> Finding {
    let num = |k: &str| line[k].as_u64().unwrap_or(1);
    let level = match line["severity"].as_str() {
        Some("error") => "error",
        Some("warning") => "warning",
        _ => "note",
    };
    Finding {
        rule: line["code"].as_str().unwrap_or("mc").to_string(),
        level,
        message: line["message"].as_str().unwrap_or_default().to_string(),
        location: line["file"].as_str().map(|file| Location {
            file: file.to_string(),
            line: num("line"),
            col: num("col"),
            end_line: num("end_line"),
            end_col: num("end_col"),
        }),
        properties: serde_json::json!({}),
    }
}

/// Where a resource was declared, from its host's catalog.
fn declared_at(catalog: Option<&Catalog>, id: &ResourceId) -> Option<Location> {
    let src = catalog?.resource(id)?.source.as_ref()?;
    Some(Location {
        file: src.file.clone(),
        line: u64::from(src.line),
        col: u64::from(src.col),
        end_line: u64::from(src.line),
        end_col: u64::from(src.col),
    })
}

/// A plan's policy findings: `deny` as errors, the rest as warnings.
pub fn from_plan(plan: &Plan) -> Vec<Finding> {
    plan.policy
        .iter()
        .map(|f| {
            let catalog = plan
                .hosts
                .iter()
                .find(|h| h.host.name == f.host)
                .and_then(|h| h.catalog.as_ref());
            let (level, kind) = match f.kind {
                FindingKind::Deny => ("error", "deny"),
                FindingKind::RequireApproval => ("warning", "require_approval"),
                FindingKind::Warn => ("warning", "warn"),
            };
            Finding {
                rule: if f.policy.is_empty() {
                    "approval_risk".to_string()
                } else {
                    f.policy.clone()
                },
                level,
                message: format!("{}: {}: {}", f.host, f.resource, f.message),
                location: declared_at(catalog, &f.resource),
                properties: serde_json::json!({
                    "host": f.host, "resource": f.resource, "kind": kind,
                }),
            }
        })
        .collect()
}

/// One drifted (or unprobeable) resource of a host.
pub fn from_drift(host: &str, catalog: Option<&Catalog>, r: &PlannedResource) -> Finding {
    let (rule, level, message) = match &r.error {
        Some(e) => ("drift-error", "error", format!("{host}: {}: {e}", r.id)),
        None => (
            "drift",
            "warning",
            format!("{host}: {} changed outside mc", r.id),
        ),
    };
    Finding {
        rule: rule.to_string(),
        level,
        message,
        location: declared_at(catalog, &r.id),
        properties: serde_json::json!({ "host": host, "resource": r.id }),
    }
}

/// A host that could not be checked at all.
pub fn host_error(host: &str, error: &str) -> Finding {
    Finding {
        rule: "host-error".to_string(),
        level: "error",
        message: format!("{host}: {error}"),
        location: None,
        properties: serde_json::json!({ "host": host }),
    }
}
