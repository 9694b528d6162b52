// The status bar item: the last answer's tier and model, and the month's spend and savings
// (from `hybridlsp report --json --since <first of the month>`).
import { execFile } from "node:child_process";
import * as vscode from "vscode";
import { MonthReport, RunResult, reportCommand, statusText } from "./format";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  private last: RunResult | undefined;
  private month: MonthReport | undefined;

  constructor(private readonly serverCommand: () => string[], private readonly output: vscode.OutputChannel) {
    this.item.command = "hybridlsp.report";
    this.item.tooltip = "hybridlsp: last answer, and this month's spend and savings against all-cloud";
    this.render();
    this.item.show();
  }

  update(result: RunResult): void {
    this.last = result;
    this.render();
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const [command, ...args] = reportCommand(this.serverCommand(), new Date());
    execFile(command, args, { timeout: 30_000 }, (err, stdout) => {
      if (err) {
        this.output.appendLine(`hybridlsp: report failed: ${err.message}`);
        return;
      }
      try {
        this.month = JSON.parse(stdout) as MonthReport;
        this.render();
      } catch (e) {
        this.output.appendLine(`hybridlsp: unreadable report: ${String(e)}`);
      }
    });
  }

  text(): string {
    return this.item.text;
  }

  private render(): void {
    this.item.text = statusText(this.last, this.month);
  }

  dispose(): void {
    this.item.dispose();
  }
}
