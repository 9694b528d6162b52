"""[6] Concurrency: 100 simultaneous `hybridlsp/run` requests against an upstream that takes 100 ms.

A fake Ollama on 127.0.0.1, in a process of its own, streams each answer as 9 tokens and a final
line, 10 ms apart: 100 ms a request. All 100 requests (each with a workDoneToken and a distinct
prompt) are written to the server at once; the wall time runs from the first write to the last
answer read. The floor, in the same rounds: 100 simultaneous httpx streams straight to the same
fake, with a body of the same shape and size as the server's.

CPU is each process's CPU-time clock (`clock_getcpuclockid`: nanoseconds, every thread), read the
same way for the server and for this process around its direct streams (the clock
`time.process_time()` reads); not /proc/PID/stat's 10 ms ticks, ±6 % on a batch of ~170 ms. Each
side's reading waits for the process to go quiet, before and after its batch, so the work a batch
leaves behind (ledger and cache writes) counts with it. The rounds rotate which kind goes first;
each ratio is the median of the rounds' ratios, both sides of a round measured on the same machine
within a second or so.
Goals: the batch's wall time within 1.3x the floor's of the same rounds, and the server's CPU a
request at most the direct client's CPU a stream.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from ._common import Figure, Result, median, pct, serve_command, server_env, temp_home
from ._fakeproc import cpu_seconds, fake_process, settled_cpu_seconds
from ._lsp import LspProcess
from .startup import rss_mb
from .ttft import SOURCE, explain, workspace

N = 100
UPSTREAM_S = 0.100
ROUNDS = 15
GOAL = 1.3  # wall time, against the direct-httpx floor of the same rounds
CPU_GOAL = 1.0  # server CPU a request, against the direct httpx client's CPU a stream
ANSWER = " ".join(f"word{i}" for i in range(9))  # 9 tokens + the final line, 10 ms apart


async def _lsp_batch(server: LspProcess, uri: str, tag: str, stream: bool = True) -> tuple[float, list[float]]:
    futures = []
    t0 = time.perf_counter()
    for i in range(N):
        token = f"{tag}-{i}" if stream else None
        if stream:
            server.watch(token)
        _, sent, fut = server.send_request("hybridlsp/run", explain(uri, hash((tag, i)) % 10**9, token))
        futures.append((sent, fut))
    await server.proc.stdin.drain()
    latencies = []
    for sent, fut in futures:
        t, msg = await asyncio.wait_for(fut, 60)
        if "error" in msg:
            raise AssertionError(f"hybridlsp/run failed: {msg['error']}")
        latencies.append(t - sent)
    wall = time.perf_counter() - t0
    for i in range(N):
        server.progress.pop(f"{tag}-{i}", None)
    return wall, latencies


async def _direct_batch(client, url: str, body: bytes) -> float:
    async def one():
        async with client.stream("POST", url, content=body, headers={"content-type": "application/json"}) as resp:
            async for _ in resp.aiter_lines():
                pass

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(N)))
    return time.perf_counter() - t0


def _body() -> bytes:
    """What the server sends for one of these requests, near enough: same fields, same size."""
    import json

    user = ("Explain what this python code does.\nThe developer asks: Request 123456789: what does it return?\n"
            "Format: at most 3 sentences, then at most 3 bullet points with notable details.\n"
            "Do not repeat the code.\n\n```python\n" + "\n".join(SOURCE.splitlines()[3:7]) + "\n```")
    return json.dumps({
        "model": "model-a", "stream": True, "keep_alive": "30m",
        "messages": [{"role": "system", "content": "You explain code to a developer. Be direct and accurate. "
                      "Use Markdown."}, {"role": "user", "content": user}],
        "options": {"num_ctx": 8192, "num_predict": 350, "temperature": 0.2},
    }).encode()


async def _measure(fake, home: Path) -> dict:
    import httpx

    fake_url = fake.url
    root, uri = workspace(home)
    server = await LspProcess.start(serve_command(), env=server_env(home, ollama_url=fake_url), cwd=str(root))
    out = {"ours": [], "floor": [], "latencies": [], "no_stream": [], "server_cpu": [], "fake_cpu": [],
           "floor_cpu": []}
    try:
        await server.initialize(str(root))
        server.open(uri, SOURCE)
        await _lsp_batch(server, uri, "warm")  # worker threads, connections, the tokenizer
        body = _body()
        limits = httpx.Limits(max_connections=N, max_keepalive_connections=N)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), limits=limits) as client:
            await _direct_batch(client, fake_url + "/api/chat", body)
            async def streamed(r):
                cpu = await settled_cpu_seconds(server.proc.pid), cpu_seconds(fake.pid)
                wall, lat = await _lsp_batch(server, uri, f"r{r}")
                out["server_cpu"].append(await settled_cpu_seconds(server.proc.pid) - cpu[0])
                out["fake_cpu"].append(cpu_seconds(fake.pid) - cpu[1])
                out["ours"].append(wall)
                out["latencies"] += lat

            async def direct(r):
                cpu = await settled_cpu_seconds(os.getpid())
                out["floor"].append(await _direct_batch(client, fake_url + "/api/chat", body))
                out["floor_cpu"].append(await settled_cpu_seconds(os.getpid()) - cpu)

            async def unstreamed(r):
                out["no_stream"].append((await _lsp_batch(server, uri, f"n{r}", stream=False))[0])

            kinds = [streamed, direct, unstreamed]
            for r in range(ROUNDS):
                for kind in kinds[r % 3:] + kinds[:r % 3]:  # rotate who goes first
                    await kind(r)
        # what an editor's server holds once it has answered (tokenizer, secret sets, connections):
        # start-up's idle RSS (bench 7) is before the first request loads any of them
        out["rss_mb"] = rss_mb(server.proc.pid)
    finally:
        await server.close()
    return out


def run() -> Result:
    with temp_home() as home, fake_process("ollama", ANSWER, UPSTREAM_S / 10) as fake:
        out = asyncio.run(_measure(fake, home))
    ours, floor = median(out["ours"]), median(out["floor"])
    server_cpu, fake_cpu = median(out["server_cpu"]), median(out["fake_cpu"])
    ratio = ours / UPSTREAM_S
    # each round measures both sides within a second of each other: the median of the rounds'
    # ratios, as bench 7 pairs its starts, so a burst of other load weighs on one pair, not one side
    vs_floor = median([o / f for o, f in zip(out["ours"], out["floor"])])
    cpu_ratio = median([s / f for s, f in zip(out["server_cpu"], out["floor_cpu"])])
    raw = [
        "| | wall, median of rounds (ms) | rounds (ms) | / 100 ms |",
        "|---|---:|---|---:|",
        f"| {N} x hybridlsp/run | {ours * 1e3:.1f} | {', '.join(f'{w * 1e3:.0f}' for w in out['ours'])} | "
        f"**{ratio:.2f}x** |",
        f"| floor: {N} direct streams to the fake | {floor * 1e3:.1f} | "
        f"{', '.join(f'{w * 1e3:.0f}' for w in out['floor'])} | {floor / UPSTREAM_S:.2f}x |",
        f"| {N} x hybridlsp/run without workDoneToken (no streaming to the client) | "
        f"{median(out['no_stream']) * 1e3:.1f} | "
        f"{', '.join(f'{w * 1e3:.0f}' for w in out['no_stream'])} | {median(out['no_stream']) / UPSTREAM_S:.2f}x |",
        "",
        f"CPU used per batch of {N} (median of rounds; CPU-time clocks): the server {server_cpu * 1e3:.0f} ms "
        f"({server_cpu / N * 1e3:.2f} ms a request), the fake upstream {fake_cpu * 1e3:.0f} ms; the direct "
        f"httpx client of the floor {median(out['floor_cpu']) * 1e3:.0f} ms "
        f"({median(out['floor_cpu']) / N * 1e3:.2f} ms a request).",
        f"Ours / floor, the median of the rounds' ratios: wall {vs_floor:.2f}x, CPU {cpu_ratio:.2f}x. "
        f"Per-request latency inside the batches: p50 "
        f"{pct(out['latencies'], 50) * 1e3:.0f} ms, p99 {pct(out['latencies'], 99) * 1e3:.0f} ms. "
        f"{ROUNDS} rounds after a warm-up batch. The server's RSS after them: {out['rss_mb']:.1f} MB.",
    ]
    no_stream = median(out["no_stream"])
    cores = os.cpu_count() or 1
    floor_cpu = median(out["floor_cpu"])
    allowed = GOAL * floor * cores  # CPU seconds the goal's wall time holds on this machine
    limits = "" if vs_floor <= GOAL and cpu_ratio <= CPU_GOAL else "\n".join([
        f"CPU: the server spends {server_cpu / N * 1e3:.2f} ms of CPU a request (its CPU clock), {server_cpu * 1e3:.0f} ms "
        f"for the batch ({cpu_ratio:.2f}x the direct client's {floor_cpu / N * 1e3:.2f} ms a stream); the goal's "
        f"{GOAL * floor * 1e3:.0f} ms of wall time ({GOAL}x the floor's) on {cores} cores hold "
        f"{allowed * 1e3:.0f} ms of CPU, shared with the fake upstream ({fake_cpu * 1e3:.0f} ms) and this client",
        f"streaming to the client: the same batch without workDoneToken takes {no_stream * 1e3:.0f} ms "
        f"({(ours - no_stream) * 1e3:+.0f} ms for the {N} requests' $/progress notifications)",
        f"the floor: {N} direct httpx streams to the same fake already take {floor / UPSTREAM_S:.2f}x "
        f"{UPSTREAM_S * 1e3:.0f} ms here, with {median(out['floor_cpu']) / N * 1e3:.2f} ms of client CPU a request",
    ])
    figures = [Figure("wall / the direct-httpx floor's", vs_floor, "x", "<=", GOAL),
               Figure("server CPU a request / the direct client's", cpu_ratio, "x", "<=", CPU_GOAL),
               Figure(f"wall / the upstream's {UPSTREAM_S * 1e3:.0f} ms", ratio, "x"),
               Figure("direct floor", floor / UPSTREAM_S, "x"),
               Figure(f"server RSS after {(2 * ROUNDS + 1) * N:,} requests", out["rss_mb"], " MB", digits=1)]
    return Result(6, f"Concurrency: {N} simultaneous hybridlsp/run", figures, raw, limits)

if __name__ == "__main__":
    print(run().render())
