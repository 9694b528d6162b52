"""`hybridlsp doctor`: is each tier ready? Each problem comes with its fix. Keys are never printed.

Every FAIL line counts as a problem (two tiers on one stopped Ollama are two tiers without a model),
and the command exits 1 when there is one, so a script can rely on it."""

from __future__ import annotations

import asyncio
import os
import sys

from ..backends.location import is_cloud
from ..backends.registry import create_backend, credentials_present
from ..routing import ACTIONS, embedded_declines
from . import load

__all__ = ["run_doctor", "add_parser"]


def add_parser(sub) -> None:
    s = sub.add_parser("doctor", help="check backends, models, keys and settings")
    s.set_defaults(fn=run)


def run(args) -> int:
    return asyncio.run(run_doctor(load()))


class _Lines:
    """Prints the check lines and counts the FAILs among them."""

    def __init__(self, out) -> None:
        self.out = out
        self.fails = 0

    def __call__(self, ok: bool | None, what: str, fix: str = "") -> None:
        mark = {True: "ok  ", False: "FAIL", None: "warn"}[ok]
        self.fails += ok is False
        print(f"[{mark}] {what}" + (f"\n       fix: {fix}" if fix else ""), file=self.out)


async def run_doctor(settings, env: dict | None = None, out=None) -> int:
    env = dict(os.environ) if env is None else env
    line = _Lines(sys.stdout if out is None else out)  # at call time: a test's capture may replace it
    line(True, "settings are valid")
    for n in (1, 2, 3):
        ts = settings.tier(n)
        label = f"tier {n}: {ts.backend} {ts.model}"
        if is_cloud(ts.backend):
            var = getattr(settings.backends, ts.backend).api_key_env
            if credentials_present(ts.backend, settings, env):
                line(True, f"{label}: {var} is set")
            else:
                line(None, f"{label}: {var} is not set; cloud requests fall back to local tiers",
                     f"export {var}=... (or keep everything local)")
            continue
        backend = create_backend(ts.backend, settings, env=env)
        try:
            health = await backend.health()
        finally:
            await backend.aclose()
        if not health.reachable:
            fix = "; ".join(health.fixes) or f"start {ts.backend} (e.g. `ollama serve`) or set OLLAMA_HOST"
            line(False, f"{label}: {health.detail or 'not reachable'}", fix)
            continue
        pulled = any(m == ts.model or m.split(":")[0] == ts.model for m in health.models)
        loaded = ts.model in health.loaded
        if pulled:
            line(True, f"{label}: pulled" + (", loaded" if loaded else ", not loaded yet"))
        else:
            line(False, f"{label}: model not pulled", f"ollama pull {ts.model}")
    if settings.embedded.enabled:
        emb = create_backend("embedded", settings, env=env)
        try:
            health = await emb.health()
        finally:
            await emb.aclose()
        fix = "" if health.reachable else "; ".join(health.fixes) or "pip install 'hybridlsp[embedded]'"
        # what it does not do, so that "Ollama is down" is not read as "nothing is lost"
        declined = [a for a in ACTIONS if embedded_declines(a, settings)]
        does = f"; it does not do {', '.join(declined)} (embedded.actions)" if declined else ""
        line(health.reachable, f"embedded: {health.detail or 'SmolLM2-135M-Instruct'}{does}", fix)
    else:
        line(None, "embedded model disabled: no local tier when Ollama is down")
    print(f"\n{line.fails} problem(s)" if line.fails else "\nall good", file=out)
    return 1 if line.fails else 0
