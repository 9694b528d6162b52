"""[5] Cancellation: `$/cancelRequest` to the upstream connection closed.

A fake Ollama on 127.0.0.1 drips tokens every 50 ms. Each round starts `hybridlsp/run` with a
workDoneToken, waits for the first streamed text, sends `$/cancelRequest` and times until the
fake sees the connection close (its own clock, `disconnected_at`). The floor, in the same
rounds: an httpx stream to the same fake, closed by the client after its first line.

Each round also records where its time went, for a slow round to be explained by measurement: the
time to the RequestCancelled reply, the server's CPU time and its threads' wait for a CPU
(/proc schedstat) over the round, this process's wait for a CPU (it runs the fake), and a request
the server refuses at once sent right after (the pipes and the server's event loop at that moment).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from ._common import Figure, Result, pct, runqueue_seconds, serve_command, server_env, temp_home
from ._fakeproc import cpu_seconds
from ._lsp import LspProcess
from .ttft import SOURCE, explain, workspace

ROUNDS = 40
GOAL_MS = 50.0
ANSWER = " ".join(f"word{i}" for i in range(200))


async def _lsp_round(server: LspProcess, fake, uri: str, i: int) -> dict[str, float]:
    from tests.fakes.upstreams import Fault

    fake.reset()
    fake.inject(Fault("drip", delay=0.05))
    token = f"cancel-{i}"
    progress = server.watch(token)
    msg_id, _, done = server.send_request("hybridlsp/run", explain(uri, i, token))
    await server.proc.stdin.drain()
    await asyncio.wait_for(progress.first_text, 10)
    pid = server.proc.pid
    cpu0, wait0, here0 = cpu_seconds(pid), runqueue_seconds(pid), runqueue_seconds()
    cancelled_at, cancelled_pc = time.monotonic(), time.perf_counter()
    server.notify("$/cancelRequest", {"id": msg_id})
    await server.proc.stdin.drain()
    if not await fake.wait_disconnected(2.0):
        raise AssertionError("the upstream connection stayed open after $/cancelRequest")
    took = fake.disconnected_at - cancelled_at
    replied_at, msg = await asyncio.wait_for(done, 10)
    round_ = {"closed": took, "reply": replied_at - cancelled_pc, "server_cpu": cpu_seconds(pid) - cpu0,
              "server_wait": runqueue_seconds(pid) - wait0, "bench_wait": runqueue_seconds() - here0}
    refused, _ = await server.request("hybridlsp/run", {"action": "none"})
    round_["refused"] = refused
    if msg.get("error", {}).get("code") != -32800:  # RequestCancelled
        raise AssertionError(f"expected a cancelled request, got {msg}")
    await asyncio.sleep(0.06)  # one drip: a fallback would have reached the fake by now
    if fake.request_count != 1:
        raise AssertionError(f"a cancel was treated as a failure: {fake.request_count} upstream requests")
    return round_


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


async def _measure(fake, home: Path) -> tuple[list[dict[str, float]], list[float]]:
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
    closed = [r["closed"] for r in ours]
    worst = max(closed) * 1e3
    raw = [
        "| | p50 (ms) | p90 (ms) | max (ms) |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {pct(v, 50) * 1e3:.2f} | {pct(v, 90) * 1e3:.2f} | {max(v) * 1e3:.2f} |"
          for name, v in (("$/cancelRequest -> upstream closed", closed),
                          ("$/cancelRequest -> RequestCancelled reply read", [r["reply"] for r in ours]),
                          ("a request refused at once, right after the round", [r["refused"] for r in ours]),
                          ("floor: client closes its own stream", floor))),
        f"{ROUNDS} rounds; each checked: the request answers RequestCancelled and no fallback request follows. "
        f"Ours / floor at p50: {pct(closed, 50) / pct(floor, 50):.1f}x.",
        "",
        "The three slowest rounds, from $/cancelRequest to the upstream closed (ms):",
        "",
        "| closed | reply read | server CPU | server waiting for a CPU | this process (client, fake) waiting "
        "for a CPU | refused request right after |",
        "|---:|---:|---:|---:|---:|---:|",
        *(f"| {r['closed'] * 1e3:.2f} | {r['reply'] * 1e3:.2f} | {r['server_cpu'] * 1e3:.1f} | "
          f"{r['server_wait'] * 1e3:.2f} | {r['bench_wait'] * 1e3:.2f} | {r['refused'] * 1e3:.2f} |"
          for r in sorted(ours, key=lambda r: -r["closed"])[:3]),
    ]
    figures = [Figure("max", worst, " ms", "<", GOAL_MS), Figure("p50", pct(closed, 50) * 1e3, " ms"),
               Figure("floor p50", pct(floor, 50) * 1e3, " ms")]
    limits = ""
    if worst >= GOAL_MS:
        slow = [r for r in ours if r["closed"] * 1e3 >= GOAL_MS]
        limits = "\n".join(
            f"a round of {r['closed'] * 1e3:.1f} ms: the RequestCancelled reply came after {r['reply'] * 1e3:.1f} ms; "
            f"over the round the server used {r['server_cpu'] * 1e3:.1f} ms of CPU and its threads waited "
            f"{r['server_wait'] * 1e3:.1f} ms for a CPU, this process (client and fake) {r['bench_wait'] * 1e3:.1f} ms; "
            f"a request refused right after took {r['refused'] * 1e3:.1f} ms (p50 over all rounds "
            f"{pct([x['refused'] for x in ours], 50) * 1e3:.2f} ms); 1-minute load average "
            f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the end of the run" for r in slow)
    return Result(5, "Cancellation: $/cancelRequest to upstream closed", figures, raw, limits)

if __name__ == "__main__":
    print(run().render())
