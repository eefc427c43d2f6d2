//! Generated documentation: `docs/stdlib.md` from the `///` docs of the
//! stdlib sources, and `docs/diagnostics.md` from the code table. The
//! tests in `tests/docs.rs` fail when the committed files are stale.

use mc_grammar::ast::{Item, ResourceMember};
use std::fmt::Write as _;

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// Markdown reference of the stdlib.
pub fn stdlib_markdown() -> String {
    let mut resources = String::new();
    let mut types = String::new();
    let mut functions = String::new();
    for f in mc_stdlib::FILES {
        let parsed = mc_grammar::parse(f.source);
        let text = f.source;
        for item in &parsed.module.items {
            let docs = item.docs().unwrap_or("").trim();
            match item {
                Item::Resource(r) => {
                    let title_ty = r.title.ty.span().text(text);
                    let _ = writeln!(resources, "### `{}`\n", r.name.name);
                    let _ = writeln!(
                        resources,
                        "Title: `{}: {title_ty}`, written `{} TITLE {{ … }}`.\n",
                        r.title.name.name, r.name.name
                    );
                    if !docs.is_empty() {
                        let _ = writeln!(resources, "{docs}\n");
                    }
                    let _ = writeln!(resources, "| attribute | type | default | |");
                    let _ = writeln!(resources, "|---|---|---|---|");
                    let mut risk = None;
                    let mut checks = Vec::new();
                    for m in &r.members {
                        match m {
                            ResourceMember::Attr(a) if a.name.name == "risk" => {
                                risk = Some((
                                    a.docs.clone().unwrap_or_default(),
                                    a.default.as_ref().map(|d| d.span().text(text).to_string()),
                                ));
                            }
                            ResourceMember::Attr(a) => {
                                let default = match &a.default {
                                    Some(d) => format!("`{}`", cell(d.span().text(text))),
                                    None if matches!(
                                        a.ty,
                                        mc_grammar::ast::TypeExpr::Optional(..)
                                    ) =>
                                    {
                                        "`null`".to_string()
                                    }
                                    None => "**required**".to_string(),
                                };
                                let _ = writeln!(
                                    resources,
                                    "| `{}` | `{}` | {default} | {} |",
                                    a.name.name,
                                    cell(a.ty.span().text(text)),
                                    cell(a.docs.as_deref().unwrap_or(""))
                                );
                            }
                            ResourceMember::Check(c) => {
                                let msg = c.message.span().text(text).trim_matches('"').to_string();
                                checks.push(msg);
                            }
                            ResourceMember::Error(_) => {}
                        }
                    }
                    resources.push('\n');
                    if let Some((doc, default)) = risk {
                        let _ = writeln!(
                            resources,
                            "Default risk: `{}`. {}\n",
                            one_line(default.as_deref().unwrap_or("\"low\"")),
                            one_line(&doc)
                        );
                    } else {
                        resources.push_str("Default risk: `\"low\"`.\n\n");
                    }
                    if !checks.is_empty() {
                        resources.push_str("Checks (compile errors E0303 when violated):\n\n");
                        for c in checks {
                            let _ = writeln!(resources, "- {c}");
                        }
                        resources.push('\n');
                    }
                }
                Item::Type(t) => {
                    let _ = writeln!(types, "### `{}`\n", t.name.name);
                    if !docs.is_empty() {
                        let _ = writeln!(types, "{docs}\n");
                    }
                    let _ = writeln!(
                        types,
                        "```mc\ntype {} = {}\n```\n",
                        t.name.name,
                        t.ty.span().text(text)
                    );
                }
                Item::Fn(func) => {
                    let params: Vec<&str> = func.params.iter().map(|p| p.span.text(text)).collect();
                    let ret = func
                        .ret
                        .as_ref()
                        .map(|r| format!(" -> {}", r.span().text(text)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        functions,
                        "| `{}({}){}` | {} |",
                        func.name.name,
                        cell(&params.join(", ")),
                        cell(&ret),
                        cell(docs)
                    );
                }
                _ => {}
            }
        }
    }
    let mut out = String::new();
    out.push_str("<!-- Generated from stdlib/*.mc by the mc-compiler docs test: run\n     `UPDATE_DOCS=1 cargo test -p mc-compiler --test docs`. Do not edit. -->\n\n");
    out.push_str("# The mc standard library\n\n");
    out.push_str("Everything here is in scope in every module (the prelude). The sources\nare in `stdlib/*.mc`; this page is generated from their `///` comments.\n\n");
    out.push_str("## Resource types\n\n");
    out.push_str("Each resource type binds by name to a provider of the runtime. Attributes\nwith a default may be left out; `T?` attributes default to `null`, and\nattributes that are `null` do not appear in the catalog. Attributes of type\n`Secret` accept plain strings and secrets; every other attribute rejects\nsecrets (E0210).\n\n");
    out.push_str("Every resource also accepts these meta-attributes:\n\n");
    out.push_str("| meta-attribute | type | |\n|---|---|---|\n");
    for (name, ty, doc) in META_DOCS {
        let _ = writeln!(out, "| `{name}` | `{ty}` | {doc} |");
    }
    out.push('\n');
    out.push_str("A resource type declares its default risk with a `risk: Risk = …`\nmember: an expression over the resource's attributes, evaluated after\nthem. The `risk` meta-attribute of a resource overrides it.\n\n");
    out.push_str(&resources);
    out.push_str("## Types\n\n");
    out.push_str(&types);
    out.push_str("## Functions\n\nAll functions run at compile time and are pure.\n\n| function | |\n|---|---|\n");
    out.push_str(&functions);
    out
}

const META_DOCS: &[(&str, &str, &str)] = &[
    ("requires", "[resource]", "Apply these resources first."),
    ("before", "[resource]", "Apply this resource before those."),
    ("notify", "[resource]", "Apply first, and refresh those (restart a service, run a `refresh_only` command) when this one changed."),
    ("subscribe", "[resource]", "Apply after those, and refresh this one when any of them changed."),
    ("tags", "[String]", "Labels for `--tags` / `--skip-tags`."),
    ("become", "Bool", "Run this resource's provider with sudo."),
    ("become_user", "String", "The user `become` switches to."),
    ("timeout", "Duration", "Give up on this resource after this long."),
    ("retries", "Int", "Retry a failed apply this many times."),
    (
        "retry_delay",
        "Duration",
        "Wait this long after the first failed attempt (default `1s`).",
    ),
    (
        "retry_backoff",
        "Int",
        "Multiply the wait by this factor after each further failed attempt (default 1).",
    ),
    ("risk", "\"low\" \\| \"medium\" \\| \"high\"", "Override the type's default risk (policies and approvals use it)."),
];

/// Markdown index of every diagnostic code.
pub fn diagnostics_markdown() -> String {
    let mut out = String::new();
    out.push_str("<!-- Generated from the compiler's code table by the mc-compiler docs test: run\n     `UPDATE_DOCS=1 cargo test -p mc-compiler --test docs`. Do not edit. -->\n\n");
    out.push_str("# Diagnostic codes\n\n");
    out.push_str("Every diagnostic has a stable code. `mc explain CODE` prints the long\nexplanation shown here.\n\n");
    out.push_str("| range | stage |\n|---|---|\n| E0001–E0099 | lexing and parsing |\n| E0100–E0199 | modules, imports and name resolution |\n| E0200–E0299 | types |\n| E0300–E0399 | evaluation, catalog, ordering |\n| E0400–E0499 | inventory and targets |\n| E0500–E0599 | policies and approvals |\n| W0001–… | warnings (do not fail `mc check`) |\n\n");
    out.push_str("## Index\n\n| code | |\n|---|---|\n");
    let parser: Vec<String> = crate::all_codes()
        .into_iter()
        .filter(|c| c.as_str() < "E0100")
        .collect();
    for c in &parser {
        let first = crate::explain(c).map(first_sentence).unwrap_or_default();
        let _ = writeln!(out, "| [{c}](#{}) | {} |", c.to_lowercase(), cell(&first));
    }
    for (c, title, _) in crate::CODES.iter().chain(crate::policy::POLICY_CODES) {
        let _ = writeln!(out, "| [{c}](#{}) | {title} |", c.to_lowercase());
    }
    out.push('\n');
    for c in crate::all_codes() {
        let title = crate::CODES
            .iter()
            .chain(crate::policy::POLICY_CODES)
            .find(|(code, _, _)| *code == c)
            .map(|(_, t, _)| *t);
        let text = crate::explain(&c).unwrap_or("");
        match title {
            Some(t) => {
                let _ = writeln!(out, "## {c}\n\n**{t}.** {}\n", text.trim());
            }
            None => {
                let _ = writeln!(out, "## {c}\n\n{}\n", text.trim());
            }
        }
    }
    out
}

fn first_sentence(t: &str) -> String {
    let t = one_line(t);
    match t.find(". ") {
        Some(i) => t[..=i].to_string(),
        None => t,
    }
}
