import assert from "node:assert/strict";
import { test } from "node:test";
import { Secrets, serverEnv } from "../keys";
import { declaredKeys, explicitSettings } from "../settings";

const pkg = { contributes: { configuration: { properties: {
  "hybridlsp.server.command": {}, "hybridlsp.tiers.tier1.model": {}, "hybridlsp.budget.monthlyCloudUsd": {},
  "hybridlsp.cache.enabled": {},
} } } };

test("declared keys come from package.json, without the prefix", () => {
  assert.deepEqual(declaredKeys(pkg), ["server.command", "tiers.tier1.model", "budget.monthlyCloudUsd", "cache.enabled"]);
});

test("only what the user set is sent, nested, folder over workspace over user; server.* stays here", () => {
  const set: Record<string, object> = {
    "server.command": { globalValue: ["x"] },
    "tiers.tier1.model": { globalValue: "a", workspaceValue: "b" },
    "budget.monthlyCloudUsd": { globalValue: 20 },
    "cache.enabled": { workspaceFolderValue: false, globalValue: true },
  };
  assert.deepEqual(explicitSettings(declaredKeys(pkg), (k) => set[k]), {
    tiers: { tier1: { model: "b" } }, budget: { monthlyCloudUsd: 20 }, cache: { enabled: false },
  });
  assert.deepEqual(explicitSettings(declaredKeys(pkg), () => ({})), {});
});

test("API keys: the environment first, else SecretStorage", async () => {
  const stored: Secrets = { get: async (k) => ({ OPENAI_API_KEY: "sk-stored", ANTHROPIC_API_KEY: "ant-stored" } as Record<string, string>)[k] };
  const env = await serverEnv(stored, { OPENAI_API_KEY: "sk-env", PATH: "/bin" });
  assert.equal(env.OPENAI_API_KEY, "sk-env");
  assert.equal(env.ANTHROPIC_API_KEY, "ant-stored");
  assert.equal(env.PATH, "/bin");
});
