import * as path from "node:path";
import * as os from "node:os";
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel | undefined;

/** Resolves `mc.path`: `~` and workspace-relative paths are expanded; a bare name is left for PATH lookup. */
export function resolveServerPath(configured: string, workspaceRoot: string | undefined): string {
  let value = configured.trim();
  if (value === "") {
    value = "mc";
  }
  if (value === "~" || value.startsWith("~/")) {
    value = path.join(os.homedir(), value.slice(1));
  }
  const hasSeparator = value.includes("/") || value.includes("\\");
  if (hasSeparator && !path.isAbsolute(value) && workspaceRoot !== undefined) {
    value = path.join(workspaceRoot, value);
  }
  return value;
}

function serverOptions(): ServerOptions {
  const configured = vscode.workspace.getConfiguration("mc").get<string>("path", "mc");
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const command = resolveServerPath(configured, root);
  const executable = { command, args: ["lsp"], transport: TransportKind.stdio };
  return { run: executable, debug: executable };
}

async function startClient(): Promise<void> {
  output ??= vscode.window.createOutputChannel("mc language server", { log: true });
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: "mc" }],
    outputChannel: output,
    synchronize: {
      // The compiler reads imported modules, templates and `file_contents` files from disk.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{mc,j2,conf,json}"),
    },
  };
  // The client id "mc" makes the `mc.trace.server` setting drive protocol tracing.
  client = new LanguageClient("mc", "mc language server", serverOptions(), clientOptions);
  try {
    await client.start();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    void vscode.window.showErrorMessage(
      `Could not start \`mc lsp\` (${message}). Set "mc.path" to the mc binary.`,
    );
  }
}

async function stopClient(): Promise<void> {
  const running = client;
  client = undefined;
  if (running !== undefined && running.isRunning()) {
    await running.stop();
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("mc.restartServer", async () => {
      await stopClient();
      await startClient();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("mc.path")) {
        await stopClient();
        await startClient();
      }
    }),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
