// The commands: each action runs through the server's `hybridlsp/run` request, its answer
// streaming into a progress notification whose Cancel sends `$/cancelRequest` (the server closes
// the model's stream); then the answer goes where the action puts it.
import { execFile } from "node:child_process";
import * as vscode from "vscode";
import { ExecuteCommandRequest, LanguageClient, WorkDoneProgress } from "vscode-languageclient/node";
import { ACTIONS, Action, RunResult, findingsMarkdown, reportCommand, resultMarkdown, runParams, tail } from "./format";
import { KEY_VARIABLES } from "./keys";
import { StatusBar } from "./status";

interface GitRepository { rootUri: vscode.Uri; inputBox: { value: string } }
interface GitAPI { repositories: GitRepository[] }

const SEVERITY: Record<string, vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
  hint: vscode.DiagnosticSeverity.Hint,
};

export interface RunState { action: Action; status: "running" | "done" | "cancelled" | "error"; chunks: number }

/** Registers the commands; returns the state of the last run (for tests driving a workbench). */
export function registerActions(context: vscode.ExtensionContext, client: LanguageClient, status: StatusBar,
  output: vscode.OutputChannel, serverCommand: () => string[]): () => RunState | undefined {
  const diagnostics = vscode.languages.createDiagnosticCollection("hybridlsp");
  let seq = 0;
  let running: vscode.CancellationTokenSource | undefined;
  let last: RunResult | undefined;
  let state: RunState | undefined;

  async function run(action: Action, uri: vscode.Uri, selection: vscode.Range | undefined, lineLength: number,
    prompt = ""): Promise<RunResult | undefined> {
    const token = `hybridlsp-vscode-${process.pid}-${++seq}`;
    const params = { ...runParams(action, uri.toString(), selection, lineLength, prompt), workDoneToken: token };
    const run: RunState = { action, status: "running", chunks: 0 };
    state = run;
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `hybridlsp: ${ACTIONS[action]}`, cancellable: true },
      async (progress, cancel) => {
        const source = new vscode.CancellationTokenSource();
        running = source;
        cancel.onCancellationRequested(() => source.cancel());
        let text = "";
        const streamed = client.onProgress(WorkDoneProgress.type, token, (value) => {
          if (value.kind !== "report" || typeof value.message !== "string") return;
          text = value.message === "" ? "" : text + value.message; // "" : a fallback restarted it
          run.chunks += 1;
          progress.report({ message: tail(text) });
        });
        try {
          const result = await client.sendRequest<RunResult>("hybridlsp/run", params, source.token);
          last = result;
          run.status = "done";
          status.update(result);
          output.appendLine(`hybridlsp: ${ACTIONS[action]} by ${result.decision.model} (${result.decision.reasons.join("; ")})`);
          return result;
        } catch (e) {
          run.status = source.token.isCancellationRequested ? "cancelled" : "error";
          if (source.token.isCancellationRequested) {
            output.appendLine(`hybridlsp: ${ACTIONS[action]} cancelled`);
          } else {
            void vscode.window.showErrorMessage(`hybridlsp: ${ACTIONS[action]} failed: ${(e as Error).message}`);
          }
          return undefined;
        } finally {
          streamed.dispose();
          if (running === source) running = undefined;
        }
      },
    );
  }

  /** `args.prompt` (from a keybinding's args, say) says what to focus on or write. */
  async function onEditor(action: Action, args?: { prompt?: string }): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showWarningMessage("hybridlsp: open a file first");
      return;
    }
    const sel = editor.selection;
    const lineLength = editor.document.lineAt(sel.end.line).text.length;
    const result = await run(action, editor.document.uri, sel, lineLength, args?.prompt ?? "");
    if (!result) return;
    const doc = editor.document;
    if (action === "complete") {
      const at = sel.isEmpty ? doc.lineAt(sel.end.line).range.end : sel.end;
      await editor.edit((b) => b.insert(at, result.text));
    } else if (action === "review") {
      const found = result.findings ?? [];
      diagnostics.set(doc.uri, found.map((f) => {
        const range = new vscode.Range(f.line, 0, f.end_line, doc.lineAt(Math.min(f.end_line, doc.lineCount - 1)).text.length);
        const d = new vscode.Diagnostic(range, f.message, SEVERITY[f.severity] ?? vscode.DiagnosticSeverity.Warning);
        d.source = "hybridlsp";
        return d;
      }));
      await show(action, { ...result, text: findingsMarkdown(found) });
    } else if (action === "commit-message" && doc.languageId === "git-commit") {
      await editor.edit((b) => b.insert(new vscode.Position(0, 0), result.text.trim() + "\n"));
    } else {
      await show(action, result);
    }
  }

  async function show(action: Action, result: RunResult): Promise<void> {
    const doc = await vscode.workspace.openTextDocument({ language: "markdown", content: resultMarkdown(action, result) });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
  }

  /** Source Control title menu: fill the commit input box of that repository. */
  async function commitMessage(scm?: { rootUri?: vscode.Uri }): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!scm && editor?.document.languageId === "git-commit") return onEditor("commit-message");
    const git = vscode.extensions.getExtension<{ getAPI(v: 1): GitAPI }>("vscode.git")?.exports.getAPI(1);
    const root = scm?.rootUri ?? git?.repositories[0]?.rootUri;
    const repo = git?.repositories.find((r) => r.rootUri.fsPath === root?.fsPath);
    if (!root || !repo) {
      void vscode.window.showWarningMessage("hybridlsp: no git repository open");
      return;
    }
    // the server reads the staged diff of the repository holding this file (git creates it too)
    const message = vscode.Uri.joinPath(root, ".git", "COMMIT_EDITMSG");
    try {
      await vscode.workspace.fs.stat(message);
    } catch {
      await vscode.workspace.fs.writeFile(message, new Uint8Array());
    }
    const result = await run("commit-message", message, undefined, 0);
    if (result) repo.inputBox.value = result.text.trim();
  }

  async function report(): Promise<void> {
    const [command, ...args] = reportCommand(serverCommand(), new Date()).filter((a) => a !== "--json");
    execFile(command, args, { timeout: 30_000 }, async (err, stdout, stderr) => {
      const content = err ? `hybridlsp report failed: ${err.message}\n${stderr}` : stdout;
      const doc = await vscode.workspace.openTextDocument({ language: "plaintext", content });
      await vscode.window.showTextDocument(doc, { preview: true });
    });
  }

  async function rate(): Promise<void> {
    if (!last) {
      void vscode.window.showWarningMessage("hybridlsp: no answer to rate yet");
      return;
    }
    const verdict = await vscode.window.showQuickPick(["good", "bad"], { placeHolder: "How was the last answer?" });
    if (!verdict) return;
    const note = (await vscode.window.showInputBox({ prompt: "A note (optional)" })) ?? "";
    await client.sendRequest(ExecuteCommandRequest.type, {
      command: "hybridlsp.feedback",
      arguments: [{ request_id: last.request_id, verdict, ...(note ? { note } : {}) }],
    });
  }

  async function setApiKey(): Promise<void> {
    const provider = await vscode.window.showQuickPick(Object.keys(KEY_VARIABLES), { placeHolder: "Which provider?" });
    if (!provider) return;
    const key = await vscode.window.showInputBox({ prompt: `${provider} API key`, password: true, ignoreFocusOut: true });
    if (!key) return;
    await context.secrets.store(KEY_VARIABLES[provider], key);
    await client.restart(); // the server reads keys from its environment at start
    void vscode.window.showInformationMessage(`hybridlsp: ${provider} key stored in SecretStorage`);
  }

  context.subscriptions.push(
    diagnostics,
    vscode.commands.registerCommand("hybridlsp.explain", (args) => onEditor("explain", args)),
    vscode.commands.registerCommand("hybridlsp.review", (args) => onEditor("review", args)),
    vscode.commands.registerCommand("hybridlsp.complete", (args) => onEditor("complete", args)),
    vscode.commands.registerCommand("hybridlsp.commitMessage", commitMessage),
    vscode.commands.registerCommand("hybridlsp.cancel", () => running?.cancel()),
    vscode.commands.registerCommand("hybridlsp.report", report),
    vscode.commands.registerCommand("hybridlsp.rate", rate),
    vscode.commands.registerCommand("hybridlsp.setApiKey", setApiKey),
    vscode.commands.registerCommand("hybridlsp.showOutput", () => output.show()),
  );
  return () => state;
}
