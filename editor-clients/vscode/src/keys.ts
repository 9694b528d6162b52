// API keys for the server's environment: the environment first, else VS Code's SecretStorage.
// Never settings.json, which syncs and gets committed.

export const KEY_VARIABLES: Record<string, string> = {
  OpenAI: "OPENAI_API_KEY",
  Anthropic: "ANTHROPIC_API_KEY",
};

export interface Secrets { get(key: string): PromiseLike<string | undefined> }

export async function serverEnv(secrets: Secrets, env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const out = { ...env };
  for (const name of Object.values(KEY_VARIABLES)) {
    if (!out[name]) {
      const stored = await secrets.get(name);
      if (stored) out[name] = stored;
    }
  }
  return out;
}
