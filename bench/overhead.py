"""[2] Per-request overhead: our engine against LiteLLM's Router, over the same fake upstream.

One fake OpenAI-compatible server on 127.0.0.1 answers every request (30 words, no delay between
tokens). Three callers send the same prompts, in rotating order, in one process and one run:
- the floor: one httpx streaming POST, reading and parsing each server-sent event;
- ours: `Engine.run` (explicit tier 3 -> the OpenAI backend): context, secret scan, routing,
  dispatch, validation, price lookup and a ledger row in a temporary HYBRIDLSP_HOME;
- LiteLLM: `Router.acompletion(stream=True)`, reading every chunk.
Overhead = median end-to-end time minus the floor's median. The answer cache is off for ours,
since LiteLLM's Router caches nothing by default. LiteLLM is installed with `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from ._common import Figure, Result, loopback_only, median, pct, temp_home

ROUNDS = 100  # a caller, in each of the harness's runs
WARMUP = 15
ANSWER = " ".join(f"word{i}" for i in range(30)) + "."


def _prompts(n: int) -> list[str]:
    topics = ["a regex for ISO dates", "what a Python generator is", "how to rebase onto main",
              "the difference between a list and a tuple", "how to read a file line by line"]
    return [f"Question {i}: {topics[i % len(topics)]}?" for i in range(n)]


async def _floor(client, url: str, body: dict) -> str:
    parts = []
    async with client.stream("POST", url, json=body, headers={"authorization": "Bearer sk-bench"}) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:]).get("choices") or ():
                    parts.append(choice["delta"].get("content") or "")
    return "".join(parts)


async def _litellm(router, messages: list[dict]) -> str:
    parts = []
    resp = await router.acompletion(model="gpt-4.1", messages=messages, stream=True)
    async for chunk in resp:
        parts.append(chunk.choices[0].delta.content or "")
    return "".join(parts)


def _settings(base_url: str):
    from hybridlsp.config import settings_from_mapping

    return settings_from_mapping({
        "tiers": {"tier3": {"backend": "openai", "model": "gpt-4.1"}},
        "backends": {"openai": {"base_url": base_url}},
        "embedded": {"enabled": False},
        "cache": {"enabled": False},
        "dispatch": {"max_retries": 0},
    })


async def _measure(fake, refused: list[str]) -> tuple[dict[str, list[float]], str]:
    import httpx
    from litellm import Router

    from hybridlsp.engine import Engine
    from hybridlsp.request import RunRequest

    engine = Engine(_settings(fake.base_url), env={"OPENAI_API_KEY": "sk-bench"})
    router = Router(model_list=[{"model_name": "gpt-4.1", "litellm_params": {
        "model": "openai/gpt-4.1", "api_base": fake.base_url, "api_key": "sk-bench"}}])
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
    url = fake.base_url + "/chat/completions"
    prompts = _prompts(WARMUP + ROUNDS)

    # Ours first, once per prompt, to learn the exact body it sends; the others send those messages.
    bodies = []
    for p in prompts:
        res = await engine.run(RunRequest(action="ask", text=p, tier=3))
        assert res.text == ANSWER, res.text
        bodies.append(fake.requests[-1].json)
    fake.reset()

    async def ours(i):
        return (await engine.run(RunRequest(action="ask", text=prompts[i], tier=3))).text

    callers = {
        "floor": lambda i: _floor(client, url, bodies[i]),
        "ours": ours,
        "litellm": lambda i: _litellm(router, bodies[i]["messages"]),
    }
    names = list(callers)
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(WARMUP + ROUNDS):
        order = names[i % 3:] + names[:i % 3]  # rotate who goes first
        for name in order:
            t0 = time.perf_counter()
            text = await callers[name](i)
            dt = time.perf_counter() - t0
            if text.strip() != ANSWER:
                raise AssertionError(f"{name} got {text!r}")
            if i >= WARMUP:
                times[name].append(dt)
            await asyncio.sleep(0)
    profile = []
    if median(times["ours"]) - median(times["floor"]) >= median(times["litellm"]) - median(times["floor"]):
        profile = await _profile(lambda i: ours(i % len(prompts)), 50)
    await client.aclose()
    await engine.aclose()
    note = f"LiteLLM tried to reach {sorted(set(refused))} (refused)" if refused else ""
    return times, note, profile


async def _profile(call, n: int, top: int = 5) -> list[tuple[str, float]]:
    """The functions with the most own time over `n` of our requests (cProfile), and their share."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        await call(i)
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[2] for v in st.stats.values()) or 1.0
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    return [(func if file == "~" else f"{file.split('/server/')[-1].split('/site-packages/')[-1]}:{line} {func}",
             v[2] / total) for (file, line, func), v in rows]


def run() -> Result:
    from tests.fakes.upstreams import FakeOpenAI

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # else it fetches prices at import
    with loopback_only() as refused:
        try:
            import litellm  # noqa: F401  (imported under the guard: it reaches out at import otherwise)
        except ImportError:
            return Result(2, "Per-request overhead vs LiteLLM Router", note="LiteLLM is not installed",
                          goal_text="ours / LiteLLM's overhead < 1x",
                          limits="pip install -e '.[bench]' (the `bench` extra) to compare against LiteLLM")
        with temp_home(), FakeOpenAI(answer=ANSWER, usage=(40, 31), token_delay=0) as fake:
            times, note, profile = asyncio.run(_measure(fake, refused))
    med = {n: median(v) for n, v in times.items()}
    over = {n: med[n] - med["floor"] for n in ("ours", "litellm")}
    ratio = over["ours"] / over["litellm"] if over["litellm"] > 0 else float("inf")
    raw = [
        "| caller | p50 (ms) | p90 (ms) | p99 (ms) | overhead over the floor, p50 (ms) |",
        "|---|---:|---:|---:|---:|",
        *(f"| {n} | {med[n] * 1e3:.2f} | {pct(v, 90) * 1e3:.2f} | {pct(v, 99) * 1e3:.2f} | "
          f"{'-' if n == 'floor' else f'{over[n] * 1e3:.2f}'} |" for n, v in times.items()),
        f"{ROUNDS} requests per caller after {WARMUP} warm-up rounds; answer of 30 words in 32 SSE events.",
    ]
    if note:
        raw.append(note)
    figures = [Figure("ours / LiteLLM's overhead", ratio, "x", "<", 1.0),
               Figure("our overhead", over["ours"] * 1e3, " ms"), Figure("LiteLLM's", over["litellm"] * 1e3, " ms"),
               Figure("floor", med["floor"] * 1e3, " ms")]
    limits = "" if ratio < 1.0 else (
        f"ours takes {med['ours'] * 1e3:.2f} ms at p50 against LiteLLM's {med['litellm'] * 1e3:.2f} ms; "
        "cProfile's top over 50 of our requests (own time): "
        + "; ".join(f"{where} {share:.0%}" for where, share in profile))
    return Result(2, "Per-request overhead vs LiteLLM Router", figures, raw, limits)


if __name__ == "__main__":
    print(run().render())
