import assert from "node:assert/strict";
import { test } from "node:test";
import { RunResult, findingsMarkdown, footer, reportCommand, runParams, statusText, tail } from "../format";

const RESULT: RunResult = {
  text: "Divides a by b.",
  decision: { tier: 1, backend: "ollama", model: "qwen2.5-coder:14b", reasons: ["explain of 69 tokens -> tier 1"] },
  usage: { input_tokens: 11, output_tokens: 7, cost_usd: 0, baseline_cost_usd: 0.0001 },
  fallbacks: [],
  request_id: "r1",
};
const at = (line: number, character: number) => ({ line, character });

test("a selection is sent as is", () => {
  const sel = { start: at(3, 0), end: at(6, 0) };
  assert.deepEqual(runParams("explain", "file:///a.py", sel), { action: "explain", textDocument: { uri: "file:///a.py" }, range: sel });
});

test("an empty selection is the cursor, but Complete continues from the end of the line", () => {
  const cursor = { start: at(2, 3), end: at(2, 3) };
  assert.deepEqual(runParams("review", "u", cursor).range, cursor);
  assert.deepEqual(runParams("complete", "u", cursor, 17).range, { start: at(2, 17), end: at(2, 17) });
});

test("commit messages without a selection send no range; a prompt is passed on", () => {
  const p = runParams("commit-message", "u", undefined, 0, "mention the tests");
  assert.equal(p.range, undefined);
  assert.equal(p.prompt, "mention the tests");
});

test("the footer says who answered, why and at what cost", () => {
  const lines = footer({ ...RESULT, fallbacks: [{ from: 1, to: 2, reason: "timeout" }] });
  assert.equal(lines[0], "*local ollama qwen2.5-coder:14b (tier 1) - 11 in / 7 out tokens - $0.0000 (all-cloud $0.0001)*");
  assert.equal(lines[1], "*why: explain of 69 tokens -> tier 1*");
  assert.equal(lines[2], "*fell back from 1 to 2: timeout*");
  assert.equal(lines[3], "*request r1*");
  const cloud = footer({ ...RESULT, usage: { ...RESULT.usage, cost_usd: null }, answered_by: { tier: 3, backend: "openai", model: "gpt-4.1" } });
  assert.match(cloud[0], /^\*cloud openai gpt-4\.1 \(tier 3\).* unpriced \(all-cloud/);
});

test("findings list their 1-based lines and fixes", () => {
  assert.equal(findingsMarkdown([]), "No problems found.");
  assert.equal(findingsMarkdown([{ line: 4, end_line: 4, severity: "warning", message: "b may be zero", fix: "x" }]),
    "- line 5 **warning**: b may be zero\n  fix: `x`");
});

test("the status bar shows the last model and the month's spend and savings", () => {
  assert.equal(statusText(undefined, undefined), "$(hubot) hybridlsp");
  assert.equal(statusText(RESULT, { cloud_spend_usd: 1.5, local_spend_usd: 0.25, baseline_usd: 6 }),
    "$(hubot) hybridlsp · t1 qwen2.5-coder:14b · $1.75 this month, saved $4.25");
});

test("the report command follows the server command", () => {
  const may = new Date(2025, 4, 17);
  assert.deepEqual(reportCommand(["hybridlsp", "serve"], may), ["hybridlsp", "report", "--json", "--since", "2025-05-01"]);
  assert.deepEqual(reportCommand(["/venv/bin/python", "-m", "hybridlsp", "serve"], may).slice(0, 4),
    ["/venv/bin/python", "-m", "hybridlsp", "report"]);
});

test("the streamed tail stays short", () => {
  assert.equal(tail("a\n b"), "a b");
  assert.equal(tail("x".repeat(200), 10), "..." + "x".repeat(10));
});
