"""[3] Time to first token added by the language server.

`hybridlsp serve` runs as an editor starts it, with tier 1 on a fake Ollama on 127.0.0.1. Each
round sends `hybridlsp/run` (explain a function of an open document, with a workDoneToken) and,
in turn, the same JSON body straight to the same fake with httpx. Ours is the time from writing
the request to reading the first `$/progress` report that carries text; the floor is the time
from sending the direct request to reading the first line that carries text. Added = ours minus
the floor's in the same round; its p50 and p99 are percentiles of those per-round differences.
A distinct prompt per round keeps the answer cache out of it.

Where the added time goes, from the same run: a request the server refuses at once (invalid
`hybridlsp/run` params: the JSON-RPC round trip through pygls and the pipes, no engine), and
`Engine.run` in this process to its first `on_text` against the same direct request (the engine
without the language server).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

from ._common import SERVER_CONFIG, Figure, Result, pct, runqueue_seconds, serve_command, server_env, temp_home
from ._lsp import LspProcess

ROUNDS = 300
WARMUP = 20
GOAL_P50_MS, GOAL_P99_MS = 2.0, 5.0
ANSWER = " ".join(f"word{i}" for i in range(20)) + "."

SOURCE = '''import os


def divide(a, b):
    """Divide a by b."""
    result = a / b
    return result


def greet(name):
    return "hello " + name
'''


def workspace(home: Path) -> tuple[Path, str]:
    """A git repository with one Python file, as an editor would have open."""
    root = home / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / "calc.py").write_text(SOURCE)
    return root, (root / "calc.py").as_uri()


def explain(uri: str, i: int, token: str | None = None) -> dict:
    params = {"action": "explain", "textDocument": {"uri": uri},
              "range": {"start": {"line": 3, "character": 0}, "end": {"line": 6, "character": 17}},
              "prompt": f"Request {i}: what does it return?"}
    if token is not None:
        params["workDoneToken"] = token
    return params


async def direct_ttft(client, url: str, body: bytes) -> float:
    t0 = time.perf_counter()
    async with client.stream("POST", url, content=body, headers={"content-type": "application/json"}) as resp:
        first = None
        async for line in resp.aiter_lines():  # read it all, as the server does
            if first is None and line and json.loads(line).get("message", {}).get("content"):
                first = time.perf_counter() - t0
    if first is None:
        raise AssertionError("no text from the fake upstream")
    return first


async def lsp_ttft(server: LspProcess, uri: str, i: int) -> float:
    token = f"ttft-{i}"
    progress = server.watch(token)
    _, sent, done = server.send_request("hybridlsp/run", explain(uri, i, token))
    await server.proc.stdin.drain()
    first = await asyncio.wait_for(progress.first_text, 30)
    _, msg = await asyncio.wait_for(done, 30)
    if "error" in msg:
        raise AssertionError(f"hybridlsp/run failed: {msg['error']}")
    del server.progress[token]
    return first - sent


async def refused_round_trip(server: LspProcess) -> float:
    took, msg = await server.request("hybridlsp/run", {"action": "none"})
    assert "error" in msg, msg
    return took


def engine_request(root: Path, i: int):
    """The `RunRequest` the handler builds for `explain(uri, i)`."""
    from hybridlsp.request import RunRequest

    lines = SOURCE.splitlines()
    return RunRequest(action="explain", text="\n".join(lines[3:7]), path=str(root / "calc.py"), document=SOURCE,
                      start_line=3, end_line=6, language="python", prompt=f"Request {i}: what does it return?",
                      workspace=str(root))


async def engine_ttft(engine, root: Path, i: int) -> float:
    """`Engine.run` in process, to its first streamed text."""
    first: list[float] = []
    t0 = time.perf_counter()
    await engine.run(engine_request(root, i), on_text=lambda _: first or first.append(time.perf_counter()))
    return first[0] - t0


async def engine_steps(engine, root: Path, n: int = 200) -> list[tuple[str, float, float]]:
    """(step, p50 s, p99 s) of what `Engine.run` does before it sends the upstream request, each
    stage as the engine runs it (engine/pipeline.py: prepare, protect, budget, route)."""
    from hybridlsp.actions import get_action
    from hybridlsp.engine import prepare, protect

    req = engine_request(root, 0)
    action = get_action("explain")
    prepared = prepare.prepare(req, action)
    ledger = engine.ledger
    steps = {  # name: (coroutine function or plain function, runs in a worker thread)
        "prepare (document slices, git context) in a worker thread": (lambda: prepare.prepare(req, action), True),
        "ledger spend query in a worker thread": (lambda: (ledger.month_cloud_spend(), ledger.day_cloud_spend()), True),
        "an empty worker-thread hop (asyncio.to_thread)": (lambda: None, True),
        "protect: count tokens + secret scan": (lambda: protect.scan(prepared.sent, req.path, engine.count_tokens),
                                                 "await"),
        "routing decision": (lambda: engine.decide(req, 100, prepared.git, False), False),
    }
    out = []
    for name, (fn, how) in steps.items():
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            if how is True:
                await asyncio.to_thread(fn)
            elif how == "await":
                await fn()
            else:
                fn()
            times.append(time.perf_counter() - t0)
        out.append((name, pct(times, 50), pct(times, 99)))
    return out


async def _measure(fake, home: Path) -> dict[str, list]:
    import tomllib

    import httpx

    from hybridlsp.config import settings_from_mapping
    from hybridlsp.engine import Engine

    root, uri = workspace(home)
    server = await LspProcess.start(serve_command(), env=server_env(home, ollama_url=fake.url), cwd=str(root))
    try:
        await server.initialize(str(root))
        server.open(uri, SOURCE)
        for i in range(WARMUP):
            await lsp_ttft(server, uri, -1 - i)
        body = fake.requests[-1].body  # what the server sent: the direct request sends the same
        out: dict[str, list] = {"ours": [], "floor": [], "refused": [], "engine": [], "engine_floor": [], "waits": []}
        pid = server.proc.pid
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            direct = lambda: direct_ttft(client, fake.url + "/api/chat", body)  # noqa: E731
            for i in range(ROUNDS):
                pair = [("ours", lambda: lsp_ttft(server, uri, i)), ("floor", direct)]
                wait0, here0 = runqueue_seconds(pid), runqueue_seconds()
                for name, fn in pair if i % 2 else pair[::-1]:
                    out[name].append(await fn())
                # how long the server, and this process (client and fake), waited for a CPU in the round
                out["waits"].append((runqueue_seconds(pid) - wait0, runqueue_seconds() - here0))
                out["refused"].append(await refused_round_trip(server))
            await server.close()
            server = None
            config = tomllib.loads(SERVER_CONFIG) | {"backends": {"ollama": {"host": fake.url}}}
            settings = settings_from_mapping(config)
            engine = Engine(settings, env={})
            for i in range(WARMUP):
                await engine_ttft(engine, root, -1 - i)
            for i in range(ROUNDS):
                pair = [("engine", lambda: engine_ttft(engine, root, i)), ("engine_floor", direct)]
                for name, fn in pair if i % 2 else pair[::-1]:
                    out[name].append(await fn())
            out["steps"] = await engine_steps(engine, root)
            await engine.aclose()
    finally:
        if server is not None:
            await server.close()
    return out


def run() -> Result:
    from tests.fakes.upstreams import FakeOllama

    with temp_home() as home, FakeOllama(answer=ANSWER, token_delay=0) as fake:
        series = asyncio.run(_measure(fake, home))
    ours, floor = series["ours"], series["floor"]
    added = [o - f for o, f in zip(ours, floor)]  # the two requests of one round
    in_engine = [o - f for o, f in zip(series["engine"], series["engine_floor"])]
    p50, p90, p99 = (pct(added, p) * 1e3 for p in (50, 90, 99))
    engine_p50, engine_p99 = pct(in_engine, 50) * 1e3, pct(in_engine, 99) * 1e3
    refused_p50, refused_p99 = pct(series["refused"], 50) * 1e3, pct(series["refused"], 99) * 1e3
    raw = [
        "| | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |",
        "|---|---:|---:|---:|---:|",
        *(f"| {name} | {pct(v, 50) * 1e3:.2f} | {pct(v, 90) * 1e3:.2f} | {pct(v, 99) * 1e3:.2f} | {max(v) * 1e3:.2f} |"
          for name, v in (("direct request to the fake (floor)", floor), ("hybridlsp/run, first $/progress", ours),
                          ("added by the language server (ours - floor, each round)", added))),
        f"{ROUNDS} rounds after {WARMUP} warm-up runs; ours/floor at p50 = {pct(ours, 50) / pct(floor, 50):.1f}x.",
        "",
        "Where it goes (same run):",
        f"- a request refused at once (JSON-RPC round trip through pygls and the pipes, no engine): "
        f"p50 {refused_p50:.2f} ms, p99 {refused_p99:.2f} ms",
        f"- `Engine.run` in process to its first text, minus the direct request of the same round: "
        f"p50 {engine_p50:.2f} ms, p99 {engine_p99:.2f} ms; its steps before the upstream request, p50 / p99:",
        *(f"  - {name}: {a * 1e3:.3f} / {b * 1e3:.3f} ms" for name, a, b in series["steps"]),
    ]
    figures = [Figure("added at p50", p50, " ms", "<=", GOAL_P50_MS), Figure("at p99", p99, " ms", "<=", GOAL_P99_MS),
               Figure("floor p50", pct(floor, 50) * 1e3, " ms")]
    missed = p50 > GOAL_P50_MS or p99 > GOAL_P99_MS
    slow = [w for a, w in zip(added, series["waits"]) if a * 1e3 >= p99]
    mean = lambda xs: sum(xs) / len(xs) * 1e3 if xs else float("nan")  # noqa: E731
    limits = "" if not missed else "\n".join([
        f"the {len(slow)} rounds at or above p99 of the added time waited for a CPU {mean([s for s, _ in slow]):.2f} ms "
        f"on average in the server and {mean([b for _, b in slow]):.2f} ms in this process (client and fake); all "
        f"rounds: {mean([s for s, _ in series['waits']]):.2f} and {mean([b for _, b in series['waits']]):.2f} ms "
        "(/proc schedstat)",
        f"in process, `Engine.run` to its first text minus the direct request of the same round: p50 "
        f"{engine_p50:.2f} ms, p99 {engine_p99:.2f} ms; its steps, p50 / p99: "
        + ", ".join(f"{name} {a * 1e3:.3f} / {b * 1e3:.3f} ms" for name, a, b in series["steps"]),
        f"the JSON-RPC path: a request the server refuses at once comes back over the pipes in {refused_p50:.2f} ms "
        f"at p50 and {refused_p99:.2f} ms at p99",
        f"the added time itself: p50 {p50:.2f} ms, p90 {p90:.2f} ms, p99 {p99:.2f} ms, max {max(added) * 1e3:.2f} ms "
        f"over {len(added)} rounds",
    ])
    return Result(3, "Time to first token added by the language server", figures, raw, limits)

if __name__ == "__main__":
    print(run().render())
