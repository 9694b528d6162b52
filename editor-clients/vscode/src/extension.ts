// Wires the LanguageClient: the server command, its environment (API keys), the settings the
// user set, and the commands, status bar and output channel that live beside this file.
import { spawn } from "node:child_process";
import * as vscode from "vscode";
import { DidChangeConfigurationNotification, LanguageClient } from "vscode-languageclient/node";
import { RunState, registerActions } from "./actions";
import { serverEnv } from "./keys";
import { SECTION, declaredKeys, explicitSettings } from "./settings";
import { StatusBar } from "./status";

let client: LanguageClient | undefined;

function serverCommand(): string[] {
  return vscode.workspace.getConfiguration(SECTION).get<string[]>("server.command", ["hybridlsp", "serve"]);
}

/** What activate returns: read by tests that drive the extension in a real workbench. */
export interface Api { statusText(): string; lastRun(): RunState | undefined }

export async function activate(context: vscode.ExtensionContext): Promise<Api> {
  const output = vscode.window.createOutputChannel("hybridlsp");
  const keys = declaredKeys(context.extension.packageJSON);
  const settings = () => explicitSettings(keys, (k) => vscode.workspace.getConfiguration(SECTION).inspect(k));

  // a function, so that a restart (after storing an API key) reads the environment again
  const start = async () => {
    const [command, ...args] = serverCommand();
    const child = spawn(command, args, { env: await serverEnv(context.secrets, process.env) });
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (e) => reject(new Error(`could not start ${[command, ...args].join(" ")} (${e.message}): ` +
        "pip install hybridlsp, or set hybridlsp.server.command")));
    });
    return child;
  };
  client = new LanguageClient("hybridlsp", "hybridlsp", start, {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    outputChannel: output,
    initializationOptions: settings(),
    middleware: {
      workspace: {
        configuration: (params) => params.items.map((item) => (item.section === SECTION ? settings() : null)),
      },
    },
  });
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(SECTION) && client?.isRunning()) {
        void client.sendNotification(DidChangeConfigurationNotification.type, { settings: settings() });
      }
    }),
  );

  const status = new StatusBar(serverCommand, output);
  context.subscriptions.push(status);
  const lastRun = registerActions(context, client, status, output, serverCommand);
  // commands stay available (and say what is wrong) even when the server cannot start
  client.start().then(() => status.refresh(), (e: Error) => {
    output.appendLine(`hybridlsp: ${e.message}`);
    void vscode.window.showErrorMessage(`hybridlsp: ${e.message}`);
  });
  return { statusText: () => status.text(), lastRun };
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
