"""package.json's `contributes.configuration`, generated from the server's settings schema.

    python editor-clients/vscode/scripts/configuration.py          # rewrite package.json
    python editor-clients/vscode/scripts/configuration.py --check  # exit 1 when it is stale

Every server setting becomes `hybridlsp.<section>.<camelCaseKey>` with its type, default, bounds
and description; the server converts camelCase back. Settings that decide where API keys or
prompts go (`hybridlsp.config.CREDENTIAL_KEYS`) are left out: the server refuses them from an
editor, so they belong in the user's config file or environment. `hybridlsp.server.command` is
the one setting of the extension itself.
"""

import json
import sys
from pathlib import Path

from hybridlsp.config import CREDENTIAL_KEYS, Settings, settings_schema, to_camel

PACKAGE = Path(__file__).resolve().parents[1] / "package.json"

CLIENT_SETTINGS = {
    "hybridlsp.server.command": {
        "type": "array",
        "items": {"type": "string"},
        "default": ["hybridlsp", "serve"],
        "description": "The command that starts the language server (stdio). Restart the extension after changing it.",
        "scope": "machine",
    },
}
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _resolve(schema: dict, node: dict) -> dict:
    ref = node.get("$ref")
    if ref:
        return {**schema["$defs"][ref.rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _leaf(node: dict, default) -> dict:
    out: dict = {}
    if "anyOf" in node:
        out["type"] = sorted({m["type"] for m in node["anyOf"] if "type" in m})
    elif "enum" in node:
        out["type"] = "string"
        out["enum"] = node["enum"]
    else:
        out["type"] = node["type"]
    if "items" in node:
        out["items"] = node["items"]
    out["default"] = default
    out.update({k: node[k] for k in _BOUNDS if k in node})
    out["description"] = node.get("description") or node.get("title", "")
    return out


def _walk(schema: dict, node: dict, defaults: dict, path: tuple[str, ...], out: dict) -> None:
    for name, child in node.get("properties", {}).items():
        child = _resolve(schema, child)
        here = path + (name,)
        if here in CREDENTIAL_KEYS:
            continue
        if child.get("type") == "object" and "properties" in child:
            _walk(schema, child, defaults[name], here, out)
        else:
            out["hybridlsp." + ".".join(to_camel(p) for p in here)] = _leaf(child, defaults[name])


def contributed() -> dict:
    """The `contributes.configuration` object for package.json."""
    schema = settings_schema()
    properties: dict = dict(CLIENT_SETTINGS)
    _walk(schema, schema, Settings().model_dump(mode="json"), (), properties)
    return {"title": "hybridlsp", "properties": properties}


def main(argv: list[str]) -> int:
    package = json.loads(PACKAGE.read_text())
    want = contributed()
    if "--check" in argv:
        if package.get("contributes", {}).get("configuration") != want:
            print(f"{PACKAGE} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    package.setdefault("contributes", {})["configuration"] = want
    PACKAGE.write_text(json.dumps(package, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
