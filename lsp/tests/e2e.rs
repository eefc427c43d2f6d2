//! The real `mc lsp` over stdio, driven by a JSON-RPC client, on projects
//! written for these tests.

mod common;

use common::{apply_edits, at, pos, uri, Client};
use serde_json::{json, Value};
use std::path::Path;

const MAIN: &str = r#"import "roles/web.mc"

/// Port the site listens on.
let http_port: Int = 8080

host "web1" {
  address = "10.0.0.11"
  groups = ["web"]
  vars = { tier = "prod", site = "example.com" }
}

on group("web") {
  web.nginx(port = http_port)
  file "/etc/motd" {
    content = "port ${http_port}"
    mode = 0o644
  }
}
"#;

const WEB: &str = r#"/// nginx serving one site.
role nginx(port: Int = 80, name: String = "default") {
  let count = 3
  let settings = { workers = 4, user = "www-data" }
  package "nginx" {
    state = "present"
  }
}
"#;

fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    std::fs::create_dir_all(root.join("roles")).expect("mkdir");
    std::fs::write(root.join("main.mc"), MAIN).expect("write");
    std::fs::write(root.join("roles/web.mc"), WEB).expect("write");
    (dir, root)
}

fn start(root: &Path) -> (Client, String) {
    let mut c = Client::start(root);
    let main = c.open(&root.join("main.mc"), MAIN);
    (c, main)
}

fn labels(items: &Value) -> Vec<String> {
    let list = items
        .as_array()
        .cloned()
        .or_else(|| items["items"].as_array().cloned())
        .unwrap_or_default();
    list.iter()
        .filter_map(|i| i["label"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn diagnostics_follow_edits_including_syntax_errors() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    let clean = c.diagnostics_until(&main, |d| d.is_empty());
    assert!(clean.is_empty());
    // A name that does not exist: a compiler error with a code.
    let broken = MAIN.replace("port = http_port)", "port = http_prot)");
    c.change(&main, 2, &broken);
    let diags = c.diagnostics_until(&main, |d| !d.is_empty());
    assert!(
        diags
            .iter()
            .any(|d| d["code"].as_str().is_some_and(|x| x.starts_with('E'))),
        "{diags:?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d["message"].as_str().unwrap_or("").contains("http_prot")),
        "{diags:?}"
    );
    // A syntax error: reported even though nothing else can be checked.
    let syntax = format!("{MAIN}\nlet oops = \n");
    c.change(&main, 3, &syntax);
    let diags = c.diagnostics_until(&main, |d| {
        d.iter()
            .any(|x| x["code"].as_str().is_some_and(|c| c.starts_with("E00")))
    });
    assert_eq!(diags[0]["severity"], 1);
    // Fixed again with an incremental edit that deletes the broken lines.
    let n = MAIN.matches('\n').count();
    c.edit(
        &main,
        4,
        json!({ "start": { "line": n, "character": 0 }, "end": { "line": n + 2, "character": 0 } }),
        "",
    );
    c.diagnostics_until(&main, |d| d.is_empty());
}

/// Errors that only evaluating a host finds (a duplicate declaration) come
/// after the front end's; a front-end error hides them until it is fixed.
#[test]
fn evaluation_errors_follow_the_front_end() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    c.diagnostics_until(&main, |d| d.is_empty());
    let code_is = |d: &Value, code: &str| d["code"].as_str() == Some(code);
    let mentions = |d: &Value, text: &str| d["message"].as_str().unwrap_or("").contains(text);

    let duplicate =
        format!("{MAIN}\non all {{\n  file \"/etc/motd\" {{\n    content = \"other\"\n  }}\n}}\n");
    c.change(&main, 2, &duplicate);
    let diags = c.diagnostics_until(&main, |d| d.iter().any(|x| code_is(x, "E0301")));
    assert!(
        diags.iter().any(|x| mentions(x, "declared twice")),
        "{diags:?}"
    );

    let both = duplicate.replace("port = http_port)", "port = http_prot)");
    c.change(&main, 3, &both);
    c.diagnostics_until(&main, |d| {
        d.iter().any(|x| mentions(x, "http_prot")) && !d.iter().any(|x| code_is(x, "E0301"))
    });

    c.change(&main, 4, &duplicate);
    c.diagnostics_until(&main, |d| {
        d.iter().any(|x| code_is(x, "E0301")) && !d.iter().any(|x| mentions(x, "http_prot"))
    });

    c.change(&main, 5, MAIN);
    c.diagnostics_until(&main, |d| d.is_empty());
}

/// A failing `assert` is reported per host, like in `mc check`.
#[test]
fn failed_assertions_name_the_host() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    c.diagnostics_until(&main, |d| d.is_empty());
    let asserting = MAIN.replace(
        "  web.nginx(port = http_port)\n",
        "  web.nginx(port = http_port)\n  assert http_port < 1024 : \"a privileged port\"\n",
    );
    c.change(&main, 2, &asserting);
    let diags = c.diagnostics_until(&main, |d| {
        d.iter().any(|x| x["code"].as_str() == Some("E0314"))
    });
    let failed = diags
        .iter()
        .find(|x| x["code"].as_str() == Some("E0314"))
        .unwrap();
    let message = failed["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("assertion failed on host `web1`: a privileged port"),
        "{failed}"
    );
    assert_eq!(failed["range"]["start"]["line"], 13, "{failed}");
}

#[test]
fn hover_shows_types_and_docs() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    let h = c.result(
        "textDocument/hover",
        at(&main, pos(MAIN, "port = http_port", 8)),
    );
    let text = h["contents"]["value"].as_str().unwrap_or("").to_string();
    assert!(text.contains("let http_port: Int"), "{text}");
    assert!(text.contains("Port the site listens on."), "{text}");
    // A stdlib resource type and one of its attributes, with their docs.
    let h = c.result(
        "textDocument/hover",
        at(&main, pos(MAIN, "file \"/etc/motd\"", 1)),
    );
    let text = h["contents"]["value"].as_str().unwrap_or("").to_string();
    assert!(text.contains("resource file(path: Path)"), "{text}");
    assert!(text.contains("regular file"), "{text}");
    let h = c.result(
        "textDocument/hover",
        at(&main, pos(MAIN, "mode = 0o644", 1)),
    );
    let text = h["contents"]["value"].as_str().unwrap_or("").to_string();
    assert!(text.contains("mode: Mode?"), "{text}");
    assert!(text.contains("Permission bits"), "{text}");
    // Nothing under the cursor: no hover.
    let none = c.result(
        "textDocument/hover",
        at(&main, json!({ "line": 1, "character": 0 })),
    );
    assert!(none.is_null());
}

#[test]
fn definition_crosses_imports_and_reaches_the_stdlib() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    let d = c.result(
        "textDocument/definition",
        at(&main, pos(MAIN, "web.nginx", 5)),
    );
    assert_eq!(d["uri"], uri(&root.join("roles/web.mc")));
    assert_eq!(d["range"]["start"], json!({ "line": 1, "character": 5 }));
    let d = c.result(
        "textDocument/definition",
        at(&main, pos(MAIN, "file \"/etc", 0)),
    );
    let target = d["uri"].as_str().unwrap_or("").to_string();
    assert!(target.ends_with("files.mc"), "{d}");
    let path = target.trim_start_matches("file://");
    let stdlib = std::fs::read_to_string(path).expect("stdlib file readable");
    assert!(stdlib.contains("resource file(path: Path)"));
    // The import path itself opens the module.
    let d = c.result(
        "textDocument/definition",
        at(&main, pos(MAIN, "roles/web.mc", 2)),
    );
    assert_eq!(d["uri"], uri(&root.join("roles/web.mc")));
    // A named argument goes to the role's parameter.
    let d = c.result(
        "textDocument/definition",
        at(&main, pos(MAIN, "port = http_port", 1)),
    );
    assert_eq!(d["range"]["start"], json!({ "line": 1, "character": 11 }));
}

#[test]
fn references_and_rename_cover_every_module() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    let refs = c.result(
        "textDocument/references",
        json!({ "textDocument": { "uri": main }, "position": pos(MAIN, "let http_port", 5), "context": { "includeDeclaration": true } }),
    );
    assert_eq!(refs.as_array().map(Vec::len), Some(3), "{refs}");
    // The role is renamed in its module and where it is called.
    let web = uri(&root.join("roles/web.mc"));
    let r = c.result("textDocument/rename", json!({ "textDocument": { "uri": main }, "position": pos(MAIN, "web.nginx", 5), "newName": "site" }));
    let changes = &r["changes"];
    let main_edits = changes[&main].as_array().cloned().unwrap_or_default();
    let web_edits = changes[&web].as_array().cloned().unwrap_or_default();
    assert!(apply_edits(MAIN, &main_edits).contains("web.site(port = http_port)"));
    assert!(apply_edits(WEB, &web_edits).contains("role site(port: Int"));
    // Invalid names and stdlib names are refused.
    let bad = c.request("textDocument/rename", json!({ "textDocument": { "uri": main }, "position": pos(MAIN, "let http_port", 5), "newName": "9lives" }));
    assert!(bad.get("error").is_some(), "{bad}");
    let kw = c.request("textDocument/rename", json!({ "textDocument": { "uri": main }, "position": pos(MAIN, "let http_port", 5), "newName": "role" }));
    assert!(kw.get("error").is_some(), "{kw}");
    let std = c.request("textDocument/rename", json!({ "textDocument": { "uri": main }, "position": pos(MAIN, "file \"/etc", 1), "newName": "document" }));
    assert!(std.get("error").is_some(), "{std}");
    let prep = c.result(
        "textDocument/prepareRename",
        at(&main, pos(MAIN, "file \"/etc", 1)),
    );
    assert!(prep.is_null());
}

#[test]
fn completion_knows_attributes_values_members_and_scope() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    // A new line in the resource body: its attributes, with docs.
    let text = MAIN.replace("    mode = 0o644\n", "    mode = 0o644\n    ow\n");
    c.change(&main, 2, &text);
    let items = c.result(
        "textDocument/completion",
        at(&main, pos(&text, "    ow\n", 6)),
    );
    let names = labels(&items);
    for want in ["owner", "group", "state", "notify", "requires"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    // Attributes already written are not offered again.
    assert!(
        !names.iter().any(|n| n == "mode" || n == "content"),
        "{names:?}"
    );
    let owner = items
        .as_array()
        .and_then(|a| a.iter().find(|i| i["label"] == "owner"))
        .cloned()
        .unwrap_or_default();
    assert!(
        owner["documentation"]["value"]
            .as_str()
            .unwrap_or("")
            .contains("Owning user"),
        "{owner}"
    );
    // Literal-union values after `state =`.
    let text2 = MAIN.replace("    mode = 0o644\n", "    mode = 0o644\n    state = \n");
    c.change(&main, 3, &text2);
    let items = c.result(
        "textDocument/completion",
        at(&main, pos(&text2, "state = \n", 8)),
    );
    let names = labels(&items);
    assert!(
        names.contains(&"\"present\"".to_string()) && names.contains(&"\"absent\"".to_string()),
        "{names:?}"
    );
    // Members of an imported module, host vars, names in scope.
    let text3 = MAIN.replace(
        "  web.nginx(port = http_port)\n",
        "  web.nginx(port = http_port)\n  web.\n  let v = host.vars.\n  let w = ht\n",
    );
    c.change(&main, 4, &text3);
    let names = labels(&c.result(
        "textDocument/completion",
        at(&main, pos(&text3, "  web.\n", 6)),
    ));
    assert!(names.contains(&"nginx".to_string()), "{names:?}");
    let names = labels(&c.result(
        "textDocument/completion",
        at(&main, pos(&text3, "host.vars.\n", 10)),
    ));
    assert!(
        names.contains(&"tier".to_string()) && names.contains(&"site".to_string()),
        "{names:?}"
    );
    let names = labels(&c.result(
        "textDocument/completion",
        at(&main, pos(&text3, "= ht\n", 4)),
    ));
    assert!(
        names.contains(&"http_port".to_string()) && names.contains(&"file".to_string()),
        "{names:?}"
    );
    // Record fields after `.` on a local bound to a record.
    let web = root.join("roles/web.mc");
    let web_text = WEB.replace(
        "  package \"nginx\" {",
        "  let n = settings.\n  package \"nginx\" {",
    );
    let wu = c.open(&web, &web_text);
    let names = labels(&c.result(
        "textDocument/completion",
        at(&wu, pos(&web_text, "settings.\n", 9)),
    ));
    assert_eq!(names, vec!["workers".to_string(), "user".to_string()]);
}

#[test]
fn signature_help_for_roles_and_functions() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    let text = MAIN.replace(
        "  web.nginx(port = http_port)\n",
        "  web.nginx(port = http_port, \n",
    );
    c.change(&main, 2, &text);
    let s = c.result(
        "textDocument/signatureHelp",
        at(&main, pos(&text, "http_port, \n", 11)),
    );
    assert_eq!(
        s["signatures"][0]["label"],
        "role nginx(port: Int = 80, name: String = \"default\")"
    );
    assert_eq!(s["activeParameter"], 1);
    let text = MAIN.replace("content = \"port ${http_port}\"", "content = upper(");
    c.change(&main, 3, &text);
    let s = c.result(
        "textDocument/signatureHelp",
        at(&main, pos(&text, "upper(", 6)),
    );
    assert_eq!(s["signatures"][0]["label"], "fn upper(s: String) -> String");
}

#[test]
fn symbols_tokens_and_inlay_hints() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    let syms = c.result(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": main } }),
    );
    let names: Vec<&str> = syms
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        vec!["\"roles/web.mc\"", "http_port", "web1", "on group(\"web\")"]
    );
    let on = &syms[3]["children"];
    assert_eq!(on[0]["name"], "file \"/etc/motd\"");
    let ws = c.result("workspace/symbol", json!({ "query": "ngin" }));
    assert_eq!(ws[0]["name"], "nginx");
    assert_eq!(ws[0]["location"]["uri"], uri(&root.join("roles/web.mc")));
    let toks = c.result(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": main } }),
    );
    let data: Vec<u64> = toks["data"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    assert!(data.len() >= 5 * 20, "{data:?}");
    // The first token is `import`, a keyword (index 0 of the legend).
    assert_eq!(&data[..5], &[0, 0, 6, 0, 0]);
    let web = c.open(&root.join("roles/web.mc"), WEB);
    let hints = c.result(
        "textDocument/inlayHint",
        json!({ "textDocument": { "uri": web }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 20, "character": 0 } } }),
    );
    let labels: Vec<&str> = hints
        .as_array()
        .map(|a| a.iter().filter_map(|h| h["label"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(labels, vec![": Int", ": { workers: Int, user: String }"]);
    assert_eq!(hints[0]["position"], json!({ "line": 2, "character": 11 }));
}

#[test]
fn formatting_and_quick_fixes() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    let ugly = MAIN
        .replace("let http_port: Int = 8080", "let   http_port:Int=8080")
        .replace("    mode = 0o644", "    mode=0o644");
    c.change(&main, 2, &ugly);
    let edits = c.result("textDocument/formatting", json!({ "textDocument": { "uri": main }, "options": { "tabSize": 2, "insertSpaces": true } }));
    let edits = edits.as_array().cloned().unwrap_or_default();
    assert_eq!(apply_edits(&ugly, &edits), MAIN);
    // Range formatting of the lines around `mode` only.
    let r = c.result(
        "textDocument/rangeFormatting",
        json!({ "textDocument": { "uri": main }, "range": { "start": pos(&ugly, "mode=", 0), "end": pos(&ugly, "mode=", 4) }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert!(r.as_array().is_some_and(|a| !a.is_empty()));
    // A diagnostic's suggestion is offered as a quick fix.
    let semi = MAIN.replace("let http_port: Int = 8080", "let http_port: Int = 8080;");
    c.change(&main, 3, &semi);
    let diags = c.diagnostics_until(&main, |d| d.iter().any(|x| x["code"] == "E0020"));
    let d = diags
        .iter()
        .find(|x| x["code"] == "E0020")
        .cloned()
        .unwrap_or_default();
    let actions = c.result(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": main }, "range": d["range"], "context": { "diagnostics": [d] } }),
    );
    let action = &actions[0];
    assert_eq!(action["kind"], "quickfix");
    let edits = action["edit"]["changes"][&main]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(apply_edits(&semi, &edits), MAIN);
}

#[test]
fn a_broken_file_still_answers_where_the_code_is_valid() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    // Half-typed code in the middle of the `on` block and at its end.
    let broken = MAIN
        .replace(
            "  file \"/etc/motd\" {",
            "  let oops = \n  file \"/etc/motd\" {",
        )
        .replace(
            "    mode = 0o644\n  }\n}",
            "    mode = 0o644\n  }\n  if http_port > {\n}",
        );
    let u = main.clone();
    c.edit(
        &u,
        2,
        json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 40, "character": 0 } }),
        &broken,
    );
    c.diagnostics_until(&main, |d| !d.is_empty());
    let h = c.result(
        "textDocument/hover",
        at(&main, pos(&broken, "port = http_port", 8)),
    );
    assert!(
        h["contents"]["value"]
            .as_str()
            .unwrap_or("")
            .contains("let http_port"),
        "{h}"
    );
    let d = c.result(
        "textDocument/definition",
        at(&main, pos(&broken, "web.nginx", 5)),
    );
    assert_eq!(d["uri"], uri(&root.join("roles/web.mc")));
    let names = labels(&c.result(
        "textDocument/completion",
        at(&main, pos(&broken, "mode = 0o644", 0)),
    ));
    assert!(names.contains(&"owner".to_string()), "{names:?}");
    // Formatting refuses a file with syntax errors rather than guess.
    let edits = c.result("textDocument/formatting", json!({ "textDocument": { "uri": main }, "options": { "tabSize": 2, "insertSpaces": true } }));
    assert_eq!(edits, json!([]));
}

#[test]
fn odd_requests_never_take_the_server_down() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    // Positions far past the end, documents never opened, empty files.
    let far = json!({ "line": 100000, "character": 100000 });
    for method in [
        "textDocument/hover",
        "textDocument/definition",
        "textDocument/completion",
        "textDocument/signatureHelp",
    ] {
        let r = c.request(method, at(&main, far.clone()));
        assert!(r.get("error").is_none(), "{method}: {r}");
    }
    let unknown = uri(&root.join("never-opened.mc"));
    let r = c.request(
        "textDocument/hover",
        at(&unknown, json!({ "line": 0, "character": 0 })),
    );
    assert!(r.get("error").is_none() && r["result"].is_null(), "{r}");
    let empty = c.open(&root.join("empty.mc"), "");
    let syms = c.result(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": empty } }),
    );
    assert_eq!(syms, json!([]));
    let names = labels(&c.result(
        "textDocument/completion",
        at(&empty, json!({ "line": 0, "character": 0 })),
    ));
    assert!(names.contains(&"role".to_string()), "{names:?}");
    // Garbage and a file of only open brackets.
    let junk = c.open(&root.join("junk.mc"), "{{{{ ((( [[[ \"${ @@@ 0o9 /*");
    c.diagnostics_until(&junk, |d| !d.is_empty());
    for method in [
        "textDocument/hover",
        "textDocument/completion",
        "textDocument/semanticTokens/full",
    ] {
        let r = c.request(method, at(&junk, json!({ "line": 0, "character": 5 })));
        assert!(r.get("error").is_none(), "{method}: {r}");
    }
    // Still serving the real project.
    let h = c.result(
        "textDocument/hover",
        at(&main, pos(MAIN, "port = http_port", 8)),
    );
    assert!(h["contents"]["value"]
        .as_str()
        .unwrap_or("")
        .contains("http_port"));
}

#[test]
fn malformed_frames_get_errors_and_exit_needs_no_shutdown() {
    let (_dir, root) = project();
    let (mut c, main) = start(&root);
    // Not JSON, a header that is not a length, then a message that is
    // JSON but not JSON-RPC 2.0: each is answered, none ends the session.
    c.send_raw(b"Content-Length: 5\r\n\r\n{bad}");
    let e = c.wait_for(|m| m.get("error").is_some());
    assert_eq!(e["error"]["code"], -32700, "{e}");
    assert!(e["id"].is_null(), "{e}");
    c.send_raw(b"Content-Length: many\r\n\r\n");
    let e = c.wait_for(|m| m.get("error").is_some());
    assert_eq!(e["error"]["code"], -32700, "{e}");
    let body = r#"{"jsonrpc":"1.0","id":41,"method":"textDocument/hover"}"#;
    c.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    let e = c.wait_for(|m| m.get("error").is_some());
    assert_eq!(
        (e["error"]["code"].clone(), e["id"].clone()),
        (json!(-32600), json!(41)),
        "{e}"
    );
    let hover = c.result("textDocument/hover", at(&main, pos(MAIN, "http_port", 2)));
    assert!(hover.to_string().contains("Int"), "{hover}");

    // A document over the size the server analyses is refused with a
    // message, and the server carries on.
    let big = root.join("big.mc");
    c.open(&big, &"// padding\n".repeat((8 << 20) / 11 + 1));
    let m = c.wait_for(|m| m["method"] == "window/showMessage");
    assert_eq!(m["method"], "window/showMessage", "{m}");
    assert!(
        m["params"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("not analysed"),
        "{m}"
    );
    let hover = c.result("textDocument/hover", at(&main, pos(MAIN, "http_port", 2)));
    assert!(hover.to_string().contains("Int"), "{hover}");

    // `exit` without `shutdown` ends the server at once, with code 1.
    assert_eq!(c.exit_without_shutdown(), Some(1));
}

/// Hover and inlay hints show the checker's types, also where the value's
/// shape alone does not tell (a comprehension, a function's result).
#[test]
fn hover_and_inlay_hints_show_checked_types() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let text = r#"let ports = [80, 443]
let names = ["port-${p}" for p in ports]
let loud = upper("x")
let count: Int = 2
host "web1" {}
on all {
  file "/etc/ports" { content = join(names, ",") }
}
"#;
    std::fs::write(root.join("main.mc"), text).expect("write");
    let mut c = Client::start(&root);
    let main = c.open(&root.join("main.mc"), text);
    c.diagnostics_until(&main, |d| d.is_empty());
    let hints = c.result(
        "textDocument/inlayHint",
        json!({ "textDocument": { "uri": main }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 9, "character": 0 } } }),
    );
    let shown: Vec<(u64, String)> = hints
        .as_array()
        .map(|a| {
            a.iter()
                .map(|h| {
                    (
                        h["position"]["line"].as_u64().unwrap_or(99),
                        h["label"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // `count` declares its type: no hint. Positional arguments of the
    // stdlib's functions get their parameter names.
    assert_eq!(
        shown,
        vec![
            (0, ": [Int]".to_string()),
            (1, ": [String]".to_string()),
            (2, ": String".to_string()),
            (2, "s:".to_string()),
            (6, "parts:".to_string()),
            (6, "sep:".to_string())
        ]
    );
    let h = c.result(
        "textDocument/hover",
        at(&main, pos(text, "names, \",\"", 1)),
    );
    let hover = h["contents"]["value"].as_str().unwrap_or("").to_string();
    assert!(hover.contains("let names: [String]"), "{hover}");
}
