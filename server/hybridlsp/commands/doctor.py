"""`hybridlsp doctor`: is each tier ready? Each problem comes with its fix. Keys are never printed."""

from __future__ import annotations

import asyncio
import os
import sys

from ..backends.location import is_cloud
from ..backends.registry import create_backend, credentials_present
from . import load

__all__ = ["run_doctor", "add_parser"]


def add_parser(sub) -> None:
    s = sub.add_parser("doctor", help="check backends, models, keys and settings")
    s.set_defaults(fn=run)


def run(args) -> int:
    return asyncio.run(run_doctor(load()))


def _line(ok: bool | None, what: str, fix: str = "") -> str:
    mark = {True: "ok  ", False: "FAIL", None: "warn"}[ok]
    return f"[{mark}] {what}" + (f"\n       fix: {fix}" if fix else "")


async def run_doctor(settings, env: dict | None = None, out=sys.stdout) -> int:
    env = dict(os.environ) if env is None else env
    problems = 0
    print(_line(True, "settings are valid"), file=out)
    seen: set[str] = set()
    for n in (1, 2, 3):
        ts = settings.tier(n)
        label = f"tier {n}: {ts.backend} {ts.model}"
        if is_cloud(ts.backend):
            var = getattr(settings.backends, ts.backend).api_key_env
            if credentials_present(ts.backend, settings, env):
                print(_line(True, f"{label}: {var} is set"), file=out)
            else:
                print(_line(None, f"{label}: {var} is not set; cloud requests fall back to local tiers",
                            f"export {var}=... (or keep everything local)"), file=out)
            continue
        backend = create_backend(ts.backend, settings, env=env)
        try:
            health = await backend.health()
        finally:
            await backend.aclose()
        if not health.reachable:
            problems += ts.backend not in seen
            seen.add(ts.backend)
            fix = "; ".join(health.fixes) or f"start {ts.backend} (e.g. `ollama serve`) or set OLLAMA_HOST"
            print(_line(False, f"{label}: {health.detail or 'not reachable'}", fix), file=out)
            continue
        pulled = any(m == ts.model or m.split(":")[0] == ts.model for m in health.models)
        loaded = ts.model in health.loaded
        if pulled:
            print(_line(True, f"{label}: pulled" + (", loaded" if loaded else ", not loaded yet")), file=out)
        else:
            problems += 1
            print(_line(False, f"{label}: model not pulled", f"ollama pull {ts.model}"), file=out)
    if settings.embedded.enabled:
        emb = create_backend("embedded", settings, env=env)
        try:
            health = await emb.health()
        finally:
            await emb.aclose()
        fix = "" if health.reachable else "; ".join(health.fixes) or "pip install 'hybridlsp[embedded]'"
        print(_line(health.reachable, f"embedded: {health.detail or 'SmolLM2-135M-Instruct'}", fix), file=out)
        problems += not health.reachable
    else:
        print(_line(None, "embedded model disabled: no local tier when Ollama is down"), file=out)
    print(f"\n{problems} problem(s)" if problems else "\nall good", file=out)
    return 1 if problems else 0
