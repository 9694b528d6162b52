// Pure helpers (no vscode import), unit-tested with node's test runner: request params,
// the result footer, the status bar text, the report command.

export interface Position { line: number; character: number }
export interface Range { start: Position; end: Position }

export interface RunResult {
  text: string;
  decision: { tier: number; backend: string; model: string; reasons: string[] };
  usage: { input_tokens: number; output_tokens: number; cost_usd: number | null; baseline_cost_usd: number | null };
  fallbacks: { from: unknown; to: unknown; reason: string }[];
  request_id: string;
  answered_by?: { tier: number; backend: string; model: string };
  findings?: Finding[];
}

export interface Finding { line: number; end_line: number; severity: string; message: string; fix: string | null }

export const ACTIONS = {
  complete: "Complete",
  explain: "Explain",
  review: "Review",
  "commit-message": "Commit message",
} as const;
export type Action = keyof typeof ACTIONS;

const CLOUD = new Set(["openai", "anthropic"]);

/** `hybridlsp/run` params: a selection as is; an empty one is the cursor (the server takes the
 * enclosing function), except that Complete continues from the end of the cursor's line. */
export function runParams(action: Action, uri: string, selection: Range | undefined, lineLength = 0,
  prompt = ""): Record<string, unknown> {
  const params: Record<string, unknown> = { action, textDocument: { uri } };
  if (selection) {
    const empty = selection.start.line === selection.end.line && selection.start.character === selection.end.character;
    if (empty && action === "complete") {
      const end = { line: selection.end.line, character: lineLength };
      params.range = { start: end, end };
    } else {
      params.range = selection;
    }
  }
  if (prompt) params.prompt = prompt;
  return params;
}

export function money(x: number | null | undefined): string {
  return typeof x === "number" ? `$${x.toFixed(4)}` : "unpriced";
}

export function answeredBy(r: RunResult): { tier: number; backend: string; model: string } {
  return r.answered_by ?? r.decision;
}

/** Which tier and model answered, why, and what it cost against all-cloud (markdown lines). */
export function footer(r: RunResult): string[] {
  const by = answeredBy(r);
  const where = CLOUD.has(by.backend) ? "cloud" : "local";
  const lines = [
    `*${where} ${by.backend} ${by.model} (tier ${by.tier}) - ${r.usage.input_tokens} in / ` +
      `${r.usage.output_tokens} out tokens - ${money(r.usage.cost_usd)} (all-cloud ${money(r.usage.baseline_cost_usd)})*`,
  ];
  if (r.decision.reasons.length > 0) lines.push(`*why: ${r.decision.reasons.join("; ")}*`);
  for (const f of r.fallbacks) lines.push(`*fell back from ${String(f.from)} to ${String(f.to)}: ${f.reason}*`);
  lines.push(`*request ${r.request_id}*`);
  return lines;
}

export function resultMarkdown(action: Action, r: RunResult): string {
  return `# ${ACTIONS[action]}\n\n${r.text.trim()}\n\n---\n${footer(r).join("\n\n")}\n`;
}

export function findingsMarkdown(findings: Finding[]): string {
  if (findings.length === 0) return "No problems found.";
  return findings.map((f) => `- line ${f.line + 1} **${f.severity}**: ${f.message}` +
    (f.fix ? `\n  fix: \`${f.fix}\`` : "")).join("\n");
}

/** The end of a streamed answer, short enough for a notification. */
export function tail(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : "..." + flat.slice(flat.length - max);
}

export interface MonthReport { cloud_spend_usd: number; local_spend_usd: number; baseline_usd: number }

/** Status bar text: the last answer's tier and model, and the month's spend and savings. */
export function statusText(last: RunResult | undefined, month: MonthReport | undefined): string {
  const parts = ["$(hubot) hybridlsp"];
  if (last) {
    const by = answeredBy(last);
    parts.push(`t${by.tier} ${by.model}`);
  }
  if (month) {
    const spent = month.cloud_spend_usd + month.local_spend_usd;
    const saved = Math.max(0, month.baseline_usd - spent);
    parts.push(`$${spent.toFixed(2)} this month, saved $${saved.toFixed(2)}`);
  }
  return parts.join(" · ");
}

/** The CLI command for `hybridlsp report`, from the server command. */
export function reportCommand(serverCommand: string[], since: Date): string[] {
  const cmd = [...serverCommand];
  if (cmd[cmd.length - 1] === "serve") cmd.pop();
  const month = `${since.getFullYear()}-${String(since.getMonth() + 1).padStart(2, "0")}-01`;
  return [...cmd, "report", "--json", "--since", month];
}
