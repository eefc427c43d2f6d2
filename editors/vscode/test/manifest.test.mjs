// Checks that the extension manifest points at files that exist and agrees
// with the grammar and the language server client.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, access } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const readJson = async (file) => JSON.parse(await readFile(path.join(root, file), "utf8"));
const manifest = await readJson("package.json");

test("the language, its grammar and its configuration are wired together", async () => {
  const [language] = manifest.contributes.languages;
  assert.equal(language.id, "mc");
  assert.deepEqual(language.extensions, [".mc"]);
  await access(path.join(root, language.configuration));

  const [grammar] = manifest.contributes.grammars;
  assert.equal(grammar.language, "mc");
  const tm = await readJson(grammar.path);
  assert.equal(tm.scopeName, grammar.scopeName);

  const config = await readJson(language.configuration);
  assert.equal(config.comments.lineComment, "//");
  assert.deepEqual(config.comments.blockComment, ["/*", "*/"]);
  assert.ok(
    config.autoClosingPairs.some((pair) => pair.open === "${" && pair.close === "}"),
    "`${` auto-closes",
  );
});

test("settings for the server binary and tracing exist", () => {
  const properties = manifest.contributes.configuration.properties;
  assert.equal(properties["mc.path"].default, "mc");
  assert.deepEqual(properties["mc.trace.server"].enum, ["off", "messages", "verbose"]);
});

test("the bundle the manifest names was built and starts `mc lsp`", async () => {
  const bundle = await readFile(path.join(root, manifest.main), "utf8");
  // The client id `mc` is what makes VS Code read `mc.trace.server`.
  assert.match(bundle, /LanguageClient\(\s*"mc",/);
  assert.match(bundle, /args: \["lsp"\]/);
});
