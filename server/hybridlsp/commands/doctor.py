"""`hybridlsp doctor`: is each tier ready, on the host it points at? Each problem comes with its
fix; every FAIL is counted and any makes the exit code 1. Keys are never printed.

Per kind: Ollama's /api/tags and /api/ps (pulled, loaded or not, the context it runs with);
an OpenAI-compatible server's /v1/models (the model served); a cloud backend's key.
"""

from __future__ import annotations

import asyncio
import os
import sys

from ..backends.location import is_cloud
from ..backends.registry import create_backend, credentials_present, spec
from ..routing import ACTIONS, embedded_declines
from ._settings import load

__all__ = ["run_doctor", "add_parser"]


def add_parser(sub) -> None:
    s = sub.add_parser("doctor", help="check each tier's backend on its host, models, keys and settings")
    s.set_defaults(fn=run)


def run(args) -> int:
    return asyncio.run(run_doctor(load()))


def _line(ok: bool | None, what: str, fix: str = "") -> str:
    mark = {True: "ok  ", False: "FAIL", None: "warn"}[ok]
    return f"[{mark}] {what}" + (f"\n       fix: {fix}" if fix else "")


class _Report:
    def __init__(self, out):
        self.out = out
        self.fails = 0

    def __call__(self, ok: bool | None, what: str, fix: str = "") -> None:
        self.fails += ok is False
        print(_line(ok, what, fix), file=self.out)


def _pulled(model: str, models: tuple[str, ...]) -> bool:
    # "qwen2.5-coder:14b" or a bare "llama3.3" meaning ":latest"
    return any(m == model or m == f"{model}:latest" or m.split(":")[0] == model for m in models)


async def _ollama_tier(say: _Report, n: int, label: str, ts, backend, health) -> None:
    if not _pulled(ts.model, health.models):
        say(False, f"{label}: model not pulled", f"ollama pull {ts.model}")
        return
    contexts = dict(health.contexts)
    loaded = ts.model in health.loaded or f"{ts.model}:latest" in health.loaded
    if not loaded:
        say(True, f"{label}: pulled, not loaded yet (the first request loads it)")
    else:
        running = contexts.get(ts.model) or contexts.get(f"{ts.model}:latest")
        ctx = f" with a {running:,}-token context" if running else ""
        say(True, f"{label}: pulled, loaded{ctx}")
        if running and running != ts.num_ctx:
            say(None, f"{label}: hybridlsp asks for num_ctx {ts.num_ctx:,}: Ollama reloads the model on the "
                      "first request", f"set tiers.tier{n}.num_ctx = {running} to keep the loaded one")
    _, trained = await backend.show(ts.model)
    if trained and ts.num_ctx > trained:
        say(None, f"{label}: num_ctx {ts.num_ctx:,} is more than the model's {trained:,}-token context",
            f"lower tiers.tier{n}.num_ctx to {trained}")


def _served_tier(say: _Report, label: str, ts, health) -> None:
    if ts.model in health.models:
        say(True, f"{label}: served")
    else:
        served = ", ".join(health.models[:8]) or "nothing"
        say(False, f"{label}: the server does not list {ts.model} (it serves {served})",
            "set the tier's model to a name from GET /v1/models, or load the model on the server")


async def run_doctor(settings, env: dict | None = None, out=None) -> int:
    out = sys.stdout if out is None else out  # at call time: a test's capture may replace it
    env = dict(os.environ) if env is None else env
    say = _Report(out)
    say(True, "settings are valid")
    healths: dict[str, object] = {}  # one health check per backend instance
    backends: dict[str, object] = {}
    try:
        for n in (1, 2, 3):
            ts = settings.tier(n)
            s = spec(ts.backend, settings)
            where = s.base_url or "in-process"
            cloud = is_cloud(ts.backend, settings, ts.model)
            label = f"tier {n}: {ts.backend} {ts.model}"
            say(True, f"{label}: {s.kind} at {where}, {'cloud' if cloud else 'local'}")
            if s.kind in ("openai", "anthropic"):
                if credentials_present(ts.backend, settings, env):
                    say(True, f"{label}: {s.api_key_env} is set")
                else:
                    say(None, f"{label}: {s.api_key_env} is not set; cloud requests fall back to local tiers",
                        f"export {s.api_key_env}=... (or keep everything local)")
                continue
            if s.kind == "embedded":
                continue  # checked below, once
            if ts.backend not in backends:
                backends[ts.backend] = create_backend(ts.backend, settings, env=env)
                healths[ts.backend] = await backends[ts.backend].health()
            health = healths[ts.backend]
            if not health.reachable:
                hint = "(e.g. `ollama serve`) or set OLLAMA_HOST" if s.kind == "ollama" else f"at {where}"
                fix = "; ".join(health.fixes) or f"start {ts.backend} {hint}"
                say(False, f"{label}: {health.detail or 'not reachable'}", fix)
                continue
            if s.kind == "ollama":
                await _ollama_tier(say, n, label, ts, backends[ts.backend], health)
            else:
                if s.api_key_env and not credentials_present(ts.backend, settings, env):
                    say(None, f"{label}: {s.api_key_env} is not set; the server may refuse requests",
                        f"export {s.api_key_env}=...")
                _served_tier(say, label, ts, health)
    finally:
        for backend in backends.values():
            await backend.aclose()
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
        say(health.reachable, f"embedded: {health.detail or 'SmolLM2-135M-Instruct'}{does}", fix)
    else:
        say(None, "embedded model disabled: no local tier when Ollama is down")
    print(f"\n{say.fails} problem(s)" if say.fails else "\nall good", file=out)
    return 1 if say.fails else 0
