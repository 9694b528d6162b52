"""[5] Cancellation: `$/cancelRequest` to the upstream connection closed.

A fake Ollama on 127.0.0.1 drips tokens every 50 ms. Each round starts `hybridlsp/run` with a
workDoneToken, waits for the first streamed text, sends `$/cancelRequest` and times until the
fake sees the connection close (its own clock, `disconnected_at`). The floor, in the same
rounds: an httpx stream to the same fake, closed by the client after its first line.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from ._common import Result, pct, serve_command, server_env, temp_home
from ._lsp import LspProcess
from .ttft import SOURCE, explain, workspace

ROUNDS = 40
GOAL_MS = 50.0
ANSWER = " ".join(f"word{i}" for i in range(200))


async def _lsp_round(server: LspProcess, fake, uri: str, i: int) -> float:
    from tests.fakes.upstreams import Fault

    fake.reset()
    fake.inject(Fault("drip", delay=0.05))
    token = f"cancel-{i}"
    progress = server.watch(token)
    msg_id, _, done = server.send_request("hybridlsp/run", explain(uri, i, token))
    await server.proc.stdin.drain()
    await asyncio.wait_for(progress.first_text, 10)
    cancelled_at = time.monotonic()
    server.notify("$/cancelRequest", {"id": msg_id})
    await server.proc.stdin.drain()
    if not await fake.wait_disconnected(2.0):
        raise AssertionError("the upstream connection stayed open after $/cancelRequest")
    took = fake.disconnected_at - cancelled_at
    _, msg = await asyncio.wait_for(done, 10)
    if msg.get("error", {}).get("code") != -32800:  # RequestCancelled
        raise AssertionError(f"expected a cancelled request, got {msg}")
    await asyncio.sleep(0.06)  # one drip: a fallback would have reached the fake by now
    if fake.request_count != 1:
        raise AssertionError(f"a cancel was treated as a failure: {fake.request_count} upstream requests")
    return took


async def _direct_round(client, fake) -> float:
    from tests.fakes.upstreams import Fault

    fake.reset()
    fake.inject(Fault("drip", delay=0.05))
    body = {"model": "model-a", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with client.stream("POST", fake.url + "/api/chat", json=body) as resp:
        async for _ in resp.aiter_lines():
            break
        closed_at = time.monotonic()
        await resp.aclose()
    if not await fake.wait_disconnected(2.0):
        raise AssertionError("the direct connection stayed open")
    return fake.disconnected_at - closed_at


async def _measure(fake, home: Path) -> tuple[list[float], list[float]]:
    import httpx

    root, uri = workspace(home)
    server = await LspProcess.start(serve_command(), env=server_env(home, ollama_url=fake.url), cwd=str(root))
    ours, floor = [], []
    try:
        await server.initialize(str(root))
        server.open(uri, SOURCE)
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            await _lsp_round(server, fake, uri, -1)  # warm-up
            for i in range(ROUNDS):
                ours.append(await _lsp_round(server, fake, uri, i))
                floor.append(await _direct_round(client, fake))
    finally:
        await server.close()
    return ours, floor


def run() -> Result:
    from tests.fakes.upstreams import FakeOllama

    with temp_home() as home, FakeOllama(answer=ANSWER, token_delay=0.05) as fake:
        ours, floor = asyncio.run(_measure(fake, home))
    worst = max(ours) * 1e3
    raw = [
        "| | p50 (ms) | p90 (ms) | max (ms) |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {pct(v, 50) * 1e3:.2f} | {pct(v, 90) * 1e3:.2f} | {max(v) * 1e3:.2f} |"
          for name, v in (("$/cancelRequest -> upstream closed", ours),
                          ("floor: client closes its own stream", floor))),
        f"{ROUNDS} rounds; each checked: the request answers RequestCancelled and no fallback request follows. "
        f"Ours / floor at p50: {pct(ours, 50) / pct(floor, 50):.1f}x.",
    ]
    figure = f"p50 {pct(ours, 50) * 1e3:.2f} ms, max {worst:.2f} ms (floor p50 {pct(floor, 50) * 1e3:.2f} ms)"
    return Result(5, "Cancellation: $/cancelRequest to upstream closed", figure, f"< {GOAL_MS:g} ms (every round)",
                  worst < GOAL_MS, raw)


if __name__ == "__main__":
    print(run().render())
