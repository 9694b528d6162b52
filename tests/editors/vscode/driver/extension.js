// Drives the hybridlsp extension inside a real workbench (code-server) the way a user would,
// then writes what happened to $HYBRIDLSP_DRIVER_OUT for tests/editors/test_code_server.py.
const fs = require("fs");
const vscode = require("vscode");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, probe, seconds = 30) {
  for (let i = 0; i < seconds * 5; i++) {
    const value = await probe();
    if (value) return value;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function drive(out) {
  const folder = vscode.workspace.workspaceFolders[0].uri;
  const ours = vscode.extensions.getExtension("hybridlsp.hybridlsp");
  const api = await ours.activate();
  const calc = vscode.Uri.joinPath(folder, "calc.py");
  const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(calc));

  // the editor's own code action menu, served through our language client
  const range = new vscode.Range(3, 0, 6, 0);
  const actions = await until("code actions", async () => {
    const found = await vscode.commands.executeCommand("vscode.executeCodeActionProvider", calc, range);
    return found && found.some((a) => a.title.startsWith("Explain - ")) && found;
  });
  out.titles = actions.map((a) => a.title);

  editor.selection = new vscode.Selection(3, 0, 6, 0);
  await vscode.commands.executeCommand("hybridlsp.explain");
  out.explain = vscode.workspace.textDocuments
    .filter((d) => d.isUntitled && d.languageId === "markdown").map((d) => d.getText());

  await vscode.window.showTextDocument(editor.document);
  vscode.window.activeTextEditor.selection = new vscode.Selection(3, 0, 6, 0);
  // a slow answer streams into the progress notification; cancel it half-way
  const slow = vscode.commands.executeCommand("hybridlsp.explain", { prompt: "slowly" });
  await until("streamed text", () => api.lastRun() && api.lastRun().chunks >= 2);
  await vscode.commands.executeCommand("hybridlsp.cancel");
  await slow;
  out.cancelled = api.lastRun();

  await vscode.commands.executeCommand("hybridlsp.review");
  out.diagnostics = vscode.languages.getDiagnostics(calc)
    .map((d) => ({ line: d.range.start.line, message: d.message, source: d.source }));

  const more = await vscode.window.showTextDocument(
    await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, "more.py")));
  more.selection = new vscode.Selection(1, 0, 1, 0);
  await vscode.commands.executeCommand("hybridlsp.complete");
  out.complete = more.document.getText();

  const git = vscode.extensions.getExtension("vscode.git").exports.getAPI(1);
  const repo = await until("the git repository", () => git.repositories[0]);
  await vscode.commands.executeCommand("hybridlsp.commitMessage", { rootUri: repo.rootUri });
  out.commit = repo.inputBox.value;

  out.status = await until("the month's spend", () => /this month/.test(api.statusText()) && api.statusText());
}

exports.activate = async function () {
  const out = { errors: [] };
  try {
    await drive(out);
  } catch (e) {
    out.errors.push(String((e && e.stack) || e));
  }
  fs.writeFileSync(process.env.HYBRIDLSP_DRIVER_OUT, JSON.stringify(out));
};
