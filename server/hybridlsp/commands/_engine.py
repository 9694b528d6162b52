"""What the model-calling commands (ask, explain, review, complete, commit-msg) share: an engine
with its observers, one request run to the end with its answer streamed, and the summary on stderr."""

from __future__ import annotations

import asyncio
import sys

from ..engine import Engine
from ..request import RunRequest, RunResult
from ..routing.explain import estimate_lines
from ..telemetry import exporter_for

__all__ = ["make_engine", "run_request", "describe", "estimate_of"]


def make_engine(settings) -> Engine:
    engine = Engine(settings)
    exporter = exporter_for(settings)
    if exporter is not None:
        engine.add_observer(exporter)
    return engine


async def _confirm(message: str) -> bool:
    """Ask on a terminal; without one, an expensive request is not sent to the cloud."""
    if not sys.stdin.isatty():
        print(f"hybridlsp: {message} -> not confirmed (no terminal), using tier 2", file=sys.stderr)
        return False
    answer = await asyncio.to_thread(input, f"{message} Send? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _run(engine: Engine, req: RunRequest, stream: bool) -> RunResult:
    def on_text(t: str) -> None:
        if stream:
            sys.stdout.write(t)
            sys.stdout.flush()

    def on_reset(why: str) -> None:
        # what streamed so far is already on the terminal: end its line, and say on stderr that it
        # is dropped and which tier answers instead
        if stream:
            sys.stdout.write("\n")
            sys.stdout.flush()
            print(f"hybridlsp: {why}", file=sys.stderr, flush=True)

    try:
        return await engine.run(req, on_text=on_text, on_reset=on_reset, confirm=_confirm)
    finally:
        await engine.aclose()  # shuts its observers down too (telemetry flushes)


def run_request(engine: Engine, req: RunRequest, *, stream: bool, timeout_s: float | None = None) -> RunResult:
    """The request run to its end; past `timeout_s` it is cancelled (TimeoutError)."""
    return asyncio.run(asyncio.wait_for(_run(engine, req, stream), timeout_s))


def describe(result: RunResult, estimate: list[str] | None = None) -> str:
    """Decision, reasons, what the difficulty estimate saw (`estimate_of`), latency, tokens and
    cost against the baseline, for stderr."""
    d = result.decision
    who = "embedded" if result.tier == 0 else f"tier {result.tier}"
    lines = [
        f"decision: tier {d.tier} ({d.backend} {d.model}); answered by {who} ({result.backend} {result.model})",
        *(f"  because {r}" for r in d.reasons),
        *(f"  estimate: {e}" for e in estimate or () if e not in d.reasons),
        *(f"  fallback {f.from_} -> {f.to}: {f.reason}" for f in result.fallbacks),
        *(f"  note: {n}" for n in result.notes),
        f"  latency {result.latency_ms:,.0f} ms"
        + (f", first token {result.ttft_ms:,.0f} ms" if result.ttft_ms is not None else "")
        + f"; tokens in {result.usage.input_tokens:,} / out {result.usage.output_tokens:,}"
        + f"; cost ${result.usage.cost_usd:.6f} vs ${result.usage.baseline_cost_usd:.6f} all-cloud",
        f"  request {result.request_id}",
    ]
    if result.budget is not None and result.budget.level != "ok":
        lines.append(f"  budget: {result.budget.message}")
    return "\n".join(lines)


def estimate_of(req: RunRequest, settings) -> list[str]:
    """What the difficulty estimate saw in the request's text, for `describe`."""
    return estimate_lines(req.text, req.action, settings)
