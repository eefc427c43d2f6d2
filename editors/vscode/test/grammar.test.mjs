// Tokenizes mc snippets with the same TextMate engine VS Code uses and checks
// the scopes that themes colour by.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const here = path.dirname(fileURLToPath(import.meta.url));
const grammarPath = path.join(here, "..", "syntaxes", "mc.tmLanguage.json");

async function loadGrammar() {
  const wasm = await readFile(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.mc") return null;
      const text = await readFile(grammarPath, "utf8");
      return vsctm.parseRawGrammar(text, grammarPath);
    },
  });
  const grammar = await registry.loadGrammar("source.mc");
  assert.ok(grammar, "grammar loads");
  return grammar;
}

const grammarPromise = loadGrammar();

/** Tokens of every line of `source`, each with its line, start, end, text and scopes. */
async function tokenize(source) {
  const grammar = await grammarPromise;
  let ruleStack = vsctm.INITIAL;
  const out = [];
  source.split("\n").forEach((line, lineNo) => {
    const result = grammar.tokenizeLine(line, ruleStack);
    for (const t of result.tokens) {
      // The engine sees each line with its `\n`; keep tokens within the text.
      const end = Math.min(t.endIndex, line.length);
      out.push({ line: lineNo, start: t.startIndex, end, text: line.slice(t.startIndex, end), scopes: t.scopes });
    }
    ruleStack = result.ruleStack;
  });
  return out;
}

/**
 * The tokens that cover the `nth` occurrence of `needle` in `source`. The
 * needle may mark its target with «»: `"resource «file»("` finds
 * `resource file(` and returns the tokens of `file`. When `exact`, the target
 * must start and end on token boundaries, so a test also pins how a construct
 * is split.
 */
async function tokensOf(source, needle, nth = 0, exact = true) {
  const open = needle.indexOf("«");
  const close = needle.indexOf("»");
  const context = needle.replace("«", "").replace("»", "");
  const skip = open < 0 ? 0 : open;
  const length = open < 0 ? context.length : close - open - 1;
  const target = context.slice(skip, skip + length);
  const lines = source.split("\n");
  let seen = 0;
  for (let lineNo = 0; lineNo < lines.length; lineNo++) {
    let from = 0;
    for (;;) {
      const found = lines[lineNo].indexOf(context, from);
      if (found < 0) break;
      from = found + 1;
      if (seen++ !== nth) continue;
      const at = found + skip;
      const tokens = (await tokenize(source)).filter(
        (t) => t.line === lineNo && t.end > at && t.start < at + length,
      );
      if (!exact) return tokens;
      assert.equal(tokens[0].start, at, `\`${target}\` starts a token (got \`${tokens[0].text}\`)`);
      assert.equal(tokens.at(-1).end, at + length, `\`${target}\` ends a token (got \`${tokens.at(-1).text}\`)`);
      return tokens;
    }
  }
  assert.fail(`\`${context}\` occurs fewer than ${nth + 1} times`);
}

/** Asserts that every token of `needle` carries `scope` (or a scope that starts with it). */
async function expectScope(source, needle, scope, nth = 0) {
  for (const token of await tokensOf(source, needle, nth, false)) {
    assert.ok(
      token.scopes.some((s) => s === scope || s.startsWith(scope + ".")),
      `\`${token.text}\` in \`${needle}\` should have ${scope}, has ${token.scopes.join(" ")}`,
    );
  }
}

/** Asserts that no token of `needle` carries a scope starting with `scope`. */
async function expectNoScope(source, needle, scope, nth = 0) {
  for (const token of await tokensOf(source, needle, nth, false)) {
    assert.ok(
      !token.scopes.some((s) => s === scope || s.startsWith(scope + ".")),
      `\`${token.text}\` in \`${needle}\` should not have ${scope}, has ${token.scopes.join(" ")}`,
    );
  }
}

/** The innermost scope of the single token that is exactly `needle`. */
async function innermost(source, needle, nth = 0) {
  const tokens = await tokensOf(source, needle, nth);
  assert.equal(tokens.length, 1, `\`${needle}\` is one token`);
  return tokens[0].scopes.at(-1);
}

test("plain and multi-line strings", async () => {
  const src = 'let motd = "Welcome home"\nlet body = """\n  line one\n  "quoted" ""inside""\n  """\nlet after = 1';
  await expectScope(src, '"Welcome home"', "string.quoted.double.mc");
  await expectScope(src, "«  line one»", "string.quoted.triple.mc");
  // Single and double quotes do not end a multi-line string.
  await expectScope(src, '«  "quoted" ""inside""»', "string.quoted.triple.mc");
  // The closing `"""` ends the string: the next line is code again.
  await expectNoScope(src, "let «after»", "string");
  assert.equal(await innermost(src, "let «after»"), "variable.other.constant.mc");
});

test("an unterminated plain string ends at the line break", async () => {
  const src = 'let a = "no closing quote\nlet b = 1';
  await expectScope(src, '"no closing quote', "string.quoted.double.mc");
  assert.equal(await innermost(src, "let «b»"), "variable.other.constant.mc");
  assert.equal(await innermost(src, "= «1»"), "constant.numeric.integer.mc");
});

test("escapes inside strings", async () => {
  const src = 'let s = "tab\\there \\"q\\" \\${not} \\u{1F600} \\q"';
  assert.equal(await innermost(src, "\\t"), "constant.character.escape.mc");
  assert.equal(await innermost(src, '\\"'), "constant.character.escape.mc");
  assert.equal(await innermost(src, "\\$"), "constant.character.escape.mc");
  assert.equal(await innermost(src, "\\u{1F600}"), "constant.character.escape.mc");
  assert.equal(await innermost(src, "\\q"), "invalid.illegal.escape.mc");
  // An escaped `$` does not start an interpolation.
  await expectNoScope(src, "\\$«{not}»", "meta.interpolation.mc");
});

test("interpolations are embedded expressions", async () => {
  const src = 'let m = "Welcome to ${upper(name)} (${host.vars.tier ?? "dev"}) on ${ {a = 1}.b }!"';
  assert.equal(await innermost(src, "to «${»"), "punctuation.section.interpolation.begin.mc");
  await expectScope(src, "«upper»(", "meta.embedded.line.mc");
  assert.equal(await innermost(src, "«upper»("), "entity.name.function.call.mc");
  assert.equal(await innermost(src, "«name»)"), "variable.other.mc");
  assert.equal(await innermost(src, "name«)»"), "punctuation.section.parens.mc");
  assert.equal(await innermost(src, "name)«}»"), "punctuation.section.interpolation.end.mc");
  assert.equal(await innermost(src, "??"), "keyword.operator.coalesce.mc");
  // A string nested in an interpolation is a string again, then the outer string resumes.
  await expectScope(src, '«"dev"»', "string.quoted.double.mc");
  assert.equal(await innermost(src, "«) on »"), "string.quoted.double.mc");
  // Braces of a record inside `${…}` do not end the interpolation early.
  await expectScope(src, "}.«b»", "meta.interpolation.mc");
  assert.equal(await innermost(src, "}.«b»"), "variable.other.mc");
  assert.equal(await innermost(src, "«!»"), "string.quoted.double.mc");
});

test("nested interpolation inside a multi-line string", async () => {
  const src = 'let t = """\n  port ${ports[0] + 1}\n  name ${join(["a${x}b"], ",")}\n  """';
  assert.equal(await innermost(src, "[«0»]"), "constant.numeric.integer.mc");
  await expectScope(src, "«ports»", "meta.embedded.line.mc");
  assert.equal(await innermost(src, "a${«x»}b"), "variable.other.mc");
  await expectScope(src, "a${«x»}b", "string.quoted.double.mc");
  assert.equal(await innermost(src, "«b»\""), "string.quoted.double.mc");
  assert.equal(await innermost(src, "«  name »"), "string.quoted.triple.mc");
});

test("comments: line, doc and nested block", async () => {
  const src = [
    "// plain comment with \"quote\" and ${x}",
    "/// Port nginx listens on.",
    "//// a banner, not a doc comment",
    "/* outer /* inner */ still comment */ let y = 2",
    "let x = 1 // trailing",
  ].join("\n");
  await expectScope(src, '// plain comment with "quote" and ${x}', "comment.line.double-slash.mc");
  await expectNoScope(src, '// plain comment with "quote" and ${x}', "string");
  await expectScope(src, "/// Port nginx listens on.", "comment.line.documentation.mc");
  await expectScope(src, "//// a banner, not a doc comment", "comment.line.double-slash.mc");
  await expectNoScope(src, "//// a banner, not a doc comment", "comment.line.documentation.mc");
  await expectScope(src, "/* outer /* inner */ still comment */", "comment.block.mc");
  assert.equal(await innermost(src, "let «y»"), "variable.other.constant.mc");
  await expectScope(src, "// trailing", "comment.line.double-slash.mc");
  assert.equal(await innermost(src, "= «1»"), "constant.numeric.integer.mc");
});

test("keywords and declarations", async () => {
  const src = [
    'import "roles/web.mc" as web',
    "type Tier = \"dev\" | \"prod\"",
    "fn motd(name: String, tier: Tier) -> String = name",
    "builtin fn upper(s: String) -> String",
    "role base(admins: [String]) {",
    "  for name in admins { user name { shell = \"/bin/bash\" } }",
    "  if x { } else { }",
    "}",
    'policy "no deletes" { when change.resource is user && change.action == "delete" { deny("no") } }',
    'project { approval = "high" }',
    "on group(\"web\") && !host(\"web2\") { }",
    "on all { }",
    'host "web1" { address = "10.0.0.11" }',
    'group "web" { vars = { port = 8080 } }',
  ].join("\n");
  assert.equal(await innermost(src, "«import»"), "keyword.control.import.mc");
  assert.equal(await innermost(src, "«as» web"), "keyword.control.import.mc");
  assert.equal(await innermost(src, "as «web»"), "entity.name.namespace.mc");
  assert.equal(await innermost(src, "«type» Tier"), "storage.type.type.mc");
  assert.equal(await innermost(src, "type «Tier»"), "entity.name.type.mc");
  assert.equal(await innermost(src, "tier: «Tier»"), "entity.name.type.mc");
  assert.equal(await innermost(src, "«fn» motd"), "storage.type.function.mc");
  assert.equal(await innermost(src, "«motd»"), "entity.name.function.mc");
  assert.equal(await innermost(src, "->"), "keyword.operator.arrow.mc");
  assert.equal(await innermost(src, "«builtin»"), "storage.modifier.builtin.mc");
  assert.equal(await innermost(src, "fn «upper»"), "entity.name.function.mc");
  assert.equal(await innermost(src, "«role» base"), "storage.type.role.mc");
  assert.equal(await innermost(src, "«base»"), "entity.name.function.role.mc");
  assert.equal(await innermost(src, "«for» name"), "keyword.control.mc");
  assert.equal(await innermost(src, "for name «in»"), "keyword.control.mc");
  assert.equal(await innermost(src, "for «name» in"), "variable.other.mc");
  assert.equal(await innermost(src, "«if» x"), "keyword.control.mc");
  assert.equal(await innermost(src, "«else»"), "keyword.control.mc");
  assert.equal(await innermost(src, "«policy»"), "keyword.other.mc");
  assert.equal(await innermost(src, "«when»"), "keyword.control.mc");
  assert.equal(await innermost(src, "«is» user"), "keyword.operator.is.mc");
  assert.equal(await innermost(src, "is «user»"), "entity.name.type.mc");
  assert.equal(await innermost(src, "«change».action"), "variable.language.mc");
  assert.equal(await innermost(src, "«deny»"), "entity.name.function.call.mc");
  assert.equal(await innermost(src, "«project»"), "keyword.other.mc");
  assert.equal(await innermost(src, "«on» group"), "keyword.other.mc");
  assert.equal(await innermost(src, "on «group»"), "keyword.other.inventory.mc");
  assert.equal(await innermost(src, "!«host»"), "keyword.other.inventory.mc");
  assert.equal(await innermost(src, "on «all»"), "constant.language.all.mc");
  assert.equal(await innermost(src, '«host» "web1"'), "keyword.other.inventory.mc");
  assert.equal(await innermost(src, '«group» "web"'), "keyword.other.inventory.mc");
  assert.equal(await innermost(src, "«address»"), "variable.other.property.mc");
});

test("resource declarations", async () => {
  const src = [
    "/// A regular file.",
    "resource file(path: Path) {",
    "  /// Exact content.",
    "  content: Secret? = null",
    '  state: "present" | "absent" = "present"',
    "  group: String? = null",
    '  check !(content != null && source != null) : "set either content or source"',
    "}",
  ].join("\n");
  assert.equal(await innermost(src, "«resource» file"), "storage.type.resource.mc");
  assert.equal(await innermost(src, "resource «file»"), "entity.name.type.resource.mc");
  assert.equal(await innermost(src, "(«path»:"), "variable.other.property.mc");
  assert.equal(await innermost(src, "«Path»"), "support.type.primitive.mc");
  assert.equal(await innermost(src, "«content»:"), "variable.other.property.mc");
  assert.equal(await innermost(src, "«Secret»"), "support.type.primitive.mc");
  assert.equal(await innermost(src, "Secret«?»"), "keyword.operator.optional.mc");
  assert.equal(await innermost(src, "= «null»"), "constant.language.null.mc");
  assert.equal(await innermost(src, '"present" «|»'), "keyword.operator.union.mc");
  // A field named like a keyword is still a field.
  assert.equal(await innermost(src, "«group»:"), "variable.other.property.mc");
  assert.equal(await innermost(src, "«check»"), "keyword.other.check.mc");
  await expectScope(src, '«"set either content or source"»', "string.quoted.double.mc");
  await expectScope(src, "/// Exact content.", "comment.line.documentation.mc");
});

test("resource statements and fields", async () => {
  const src = [
    'on group("web") {',
    '  file "/etc/motd" { content = motd(host.name), mode = 0o644 }',
    '  let conf = file "/etc/nginx/${name}.conf" { owner = "root" }',
    '  sysctl "net.ipv4.ip_forward" { value = "1" }',
    "  user name { group = \"staff\" }",
    '  group "ops" { gid = 2000 }',
    "  web.nginx(port = host.vars.port)",
    "}",
  ].join("\n");
  assert.equal(await innermost(src, '«file» "/etc/motd"'), "support.type.resource.mc");
  assert.equal(await innermost(src, '«file» "/etc/nginx'), "support.type.resource.mc");
  assert.equal(await innermost(src, "«sysctl»"), "support.type.resource.mc");
  assert.equal(await innermost(src, "«user» name"), "support.type.resource.mc");
  // Indented, `group` is the resource type; at the start of a line, the inventory item.
  assert.equal(await innermost(src, '«group» "ops"'), "support.type.resource.mc");
  assert.equal(await innermost(src, "on «group»"), "keyword.other.inventory.mc");
  assert.equal(await innermost(src, "«content» ="), "variable.other.property.mc");
  assert.equal(await innermost(src, "«mode»"), "variable.other.property.mc");
  assert.equal(await innermost(src, "«group» ="), "variable.other.property.mc");
  assert.equal(await innermost(src, "«port» ="), "variable.other.property.mc");
  assert.equal(await innermost(src, "(«host».name"), "variable.language.mc");
  assert.equal(await innermost(src, "web.«nginx»"), "entity.name.function.call.mc");
  assert.equal(await innermost(src, "let «conf»"), "variable.other.constant.mc");
});

test("numbers, durations and modes", async () => {
  const src = "let xs = [42, 1_000, 0o644, 0x1F, 30s, 5m, 1h30m, 250ms, 1d, -7]";
  assert.equal(await innermost(src, "«42»"), "constant.numeric.integer.mc");
  assert.equal(await innermost(src, "«1_000»"), "constant.numeric.integer.mc");
  assert.equal(await innermost(src, "«0o644»"), "constant.numeric.octal.mc");
  assert.equal(await innermost(src, "«0x1F»"), "constant.numeric.hex.mc");
  for (const d of ["30s", "5m", "1h30m", "250ms", "1d"]) {
    assert.equal(await innermost(src, ` «${d}»,`), "constant.numeric.duration.mc", d);
  }
  assert.equal(await innermost(src, "-«7»"), "constant.numeric.integer.mc");
  assert.equal(await innermost(src, "«-»7"), "keyword.operator.arithmetic.mc");
});

test("operators and literals", async () => {
  const src = "let r = base & { port = 81 } ?? {} == true != false || !x && y <= 3 % 2";
  assert.equal(await innermost(src, "«&» {"), "keyword.operator.merge.mc");
  assert.equal(await innermost(src, "«??»"), "keyword.operator.coalesce.mc");
  assert.equal(await innermost(src, "«==»"), "keyword.operator.comparison.mc");
  assert.equal(await innermost(src, "«!=»"), "keyword.operator.comparison.mc");
  assert.equal(await innermost(src, "«true»"), "constant.language.boolean.mc");
  assert.equal(await innermost(src, "«false»"), "constant.language.boolean.mc");
  assert.equal(await innermost(src, "«||»"), "keyword.operator.logical.mc");
  assert.equal(await innermost(src, "«!»x"), "keyword.operator.logical.mc");
  assert.equal(await innermost(src, "«&&»"), "keyword.operator.logical.mc");
  assert.equal(await innermost(src, "«<=»"), "keyword.operator.comparison.mc");
  assert.equal(await innermost(src, "«%»"), "keyword.operator.arithmetic.mc");
});

test("keywords after a dot are field names", async () => {
  const src = "let t = change.resource.type\nlet u = x.on";
  await expectNoScope(src, ".«resource»", "storage");
  await expectNoScope(src, ".«type»", "storage");
  await expectNoScope(src, ".«on»", "keyword");
});

/** Every `.mc` file under `dir`, recursively. */
async function mcFiles(dir) {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const files = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await mcFiles(full)));
    else if (entry.name.endsWith(".mc")) files.push(full);
  }
  return files;
}

test("the project's mc files tokenize cleanly", async () => {
  const root = path.join(here, "..", "..", "..");
  const files = [...(await mcFiles(path.join(root, "stdlib"))), ...(await mcFiles(path.join(root, "examples")))];
  assert.ok(files.length > 0, "found mc files in stdlib/ and examples/");
  const grammar = await grammarPromise;
  for (const file of files) {
    const text = await readFile(file, "utf8");
    let ruleStack = vsctm.INITIAL;
    text.split("\n").forEach((line, lineNo) => {
      const result = grammar.tokenizeLine(line, ruleStack);
      for (const t of result.tokens) {
        const illegal = t.scopes.find((s) => s.startsWith("invalid"));
        assert.equal(illegal, undefined, `${file}:${lineNo + 1}: \`${line.slice(t.startIndex, t.endIndex)}\` is ${illegal}`);
      }
      ruleStack = result.ruleStack;
    });
    // Every string, comment and interpolation that opened has closed.
    assert.equal(ruleStack.depth, 1, `${file} ends inside a string, comment or interpolation`);
  }
});
