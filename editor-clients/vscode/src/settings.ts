// The server's settings from VS Code's: only what the user set (user, workspace or folder), as a
// nested object of camelCase keys the server converts back. Defaults are left out so the user's
// hybridlsp.toml still counts; `hybridlsp.server.*` is the extension's own and is not sent.

export const SECTION = "hybridlsp";

export interface Inspected { globalValue?: unknown; workspaceValue?: unknown; workspaceFolderValue?: unknown }

/** `keys` are the declared names without the "hybridlsp." prefix; `inspect` is VS Code's. */
export function explicitSettings(keys: string[], inspect: (key: string) => Inspected | undefined):
  Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    if (key.startsWith("server.")) continue;
    const i = inspect(key);
    const value = i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
    if (value === undefined) continue;
    const parts = key.split(".");
    let node = out;
    for (const part of parts.slice(0, -1)) {
      node = (node[part] ??= {}) as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

/** The declared setting names (package.json `contributes.configuration`), without the prefix. */
export function declaredKeys(packageJSON: { contributes?: { configuration?: { properties?: object } } }): string[] {
  return Object.keys(packageJSON.contributes?.configuration?.properties ?? {})
    .filter((k) => k.startsWith(SECTION + "."))
    .map((k) => k.slice(SECTION.length + 1));
}
