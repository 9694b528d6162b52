"""[10] `hybridlsp route --jsonl` on 2,000 prompts against counting their tokens, for two kinds of prompt.

Ours is `engine.route_many.route_jsonl`, the code behind `route --jsonl`, with the default difficulty
estimate (keywords, then the learned estimate): parse each line, count its tokens, scan for
secrets, decide, write one JSON decision per line. The floor reads the same lines and writes each
prompt's token count: parse, `encode_ordinary`, dump, one line at a time. A second floor counts with
tiktoken's own batch encoder on two threads. Both run in this process, in alternating blocks;
each figure is the best block. Wall time is what a user waits for; CPU time counts all threads.
Route encodes a chunk of prompts on two threads when the chunk is big enough
(`context.tokens.PARALLEL_FROM_CHARS`): each kind's verdict compares route with the floor that
uses as many threads as route did on most of that kind's text.

Prompts: questions, the held-out RouteLLM test split (MMLU, GSM8K, MT-Bench) when
../shared/routing-data is beside the repository, else 2,000 questions made from the standard
library's docstrings; and code questions, a short ask with a 4,000-character selection of the
standard library's source, as an editor sends them.

As whole commands, what a user waits for, start-up and imports included: `hybridlsp route --jsonl
FILE` on the questions against a script that imports tiktoken (through `hybridlsp.context.tokens`,
as route does), reads the same file and writes each prompt's count, in alternating runs, each in a
fresh interpreter with default settings (an empty HYBRIDLSP_HOME, run from an empty directory);
each figure is the best run.
"""

from __future__ import annotations

import gc
import io
import json
import math
import os
import pydoc
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ._common import REPO, Figure, Result

N = 2_000
GOAL = 1.25  # wall time, route / count
BLOCKS = 3  # in each of the harness's runs, as COMMAND_RUNS
COMMAND_RUNS = 3

# The floor as a command: the tokenizer loaded as route loads it, the same file, one line per prompt.
COUNT_SCRIPT = """
import json, sys
from hybridlsp.context.tokens import _enc
enc = _enc()
out = []
with open(sys.argv[1], "rb") as fh:
    for n, line in enumerate(fh, 1):
        row = json.loads(line)
        count = len(enc.encode_ordinary(row["prompt"]))
        out.append(json.dumps({"id": row.get("id", n), "input_tokens": count}) + "\\n")
sys.stdout.write("".join(out))
"""


def _prompts() -> tuple[list[str], str]:
    data = REPO.parent / "shared" / "routing-data"
    if (data / "routellm").is_dir():
        sys.path.insert(0, str(REPO / "training"))
        from routellm import load_rows

        rows = [r.prompt for r in load_rows(data) if r.split == "test"][:N]
        return rows, f"the first {len(rows):,} prompts of the held-out RouteLLM test split"
    import builtins
    import collections
    import json as json_mod
    import os
    import pathlib

    docs = []
    for mod in (builtins, os, collections, json_mod, pathlib, io, math):
        for name in sorted(dir(mod)):
            doc = pydoc.getdoc(getattr(mod, name, None)) or ""
            if len(doc) > 40:
                docs.append(f"Explain what {mod.__name__}.{name} does and when I would use it:\n{doc[:1500]}")
    out = [docs[i % len(docs)] + ("" if i < len(docs) else f"\n(variant {i})") for i in range(N)]
    return out, f"{N:,} questions made from standard-library docstrings (no ../shared/routing-data here)"


def _floor(lines: list[str]) -> int:
    from hybridlsp.context.tokens import _enc

    enc = _enc()
    out = []
    for n, line in enumerate(lines, 1):
        row = json.loads(line)
        out.append(json.dumps({"id": row.get("id", n), "input_tokens": len(enc.encode_ordinary(row["prompt"]))}) + "\n")
    return len("".join(out))


def _floor_batch(lines: list[str]) -> int:
    from hybridlsp.context.tokens import _enc

    rows = [json.loads(line) for line in lines]
    counts = map(len, _enc().encode_ordinary_batch([r["prompt"] for r in rows], num_threads=2))
    return len("".join(json.dumps({"id": r.get("id", n), "input_tokens": c}) + "\n"
                       for n, (r, c) in enumerate(zip(rows, counts), 1)))


def _ours(engine, lines: list[str]) -> int:
    from hybridlsp.engine.route_many import route_jsonl

    out: list[str] = []
    route_jsonl(engine, lines, out.append, lambda m: None)
    return len("".join(out))


def _stages(engine, prompts: list[str]) -> dict[str, float]:
    """µs per prompt of each step of route_jsonl, each timed alone over the same chunks (best of 3),
    and what the whole takes beyond their sum."""
    from hybridlsp.context.secrets import contains_secret_many
    from hybridlsp.context.tokens import counts_and_heads
    from hybridlsp.engine.route_many import CHUNK
    from hybridlsp.routing import get_estimator
    from hybridlsp.routing.learned import HEAD_TOKENS

    est = get_estimator(engine.settings)
    chunks = [prompts[i:i + CHUNK] for i in range(0, len(prompts), CHUNK)]
    heads = [counts_and_heads(c, HEAD_TOKENS)[1] for c in chunks]
    lines = [json.dumps({"prompt": p}) for p in prompts]
    stages = {
        "parse + count (the floor's work)": lambda: [counts_and_heads([json.loads(x)["prompt"]], 0) for x in lines],
        "secret prefilter": lambda: [contains_secret_many(c) for c in chunks],
        "keyword estimate (one pass a chunk)": lambda: [est.keywords.estimate_many(c, "ask") for c in chunks],
        "learned estimate": lambda: [est.learned.estimate_many(c, "ask", h) for c, h in zip(chunks, heads)],
        "whole route": lambda: _ours(engine, [line + "\n" for line in lines]),
    }
    out = {}
    for name, fn in stages.items():
        best = math.inf
        for _ in range(3):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        out[name] = best / len(prompts) * 1e6
    whole = out.pop("whole route")
    out["whole route minus the stages above"] = whole - sum(out.values())
    return out


def _route_threads(prompts: list[str]) -> int:
    """The threads route_jsonl encodes most of these prompts' characters on (1 or 2)."""
    from hybridlsp.context.tokens import PARALLEL_FROM_CHARS
    from hybridlsp.engine.route_many import CHUNK

    sizes = [sum(map(len, prompts[i:i + CHUNK])) for i in range(0, len(prompts), CHUNK)]
    two = sum(s for s in sizes if s >= PARALLEL_FROM_CHARS)
    return 2 if two * 2 >= sum(sizes) else 1


def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _code_questions(n: int = N) -> list[str]:
    """Questions about code, as an editor sends them: a short ask and a 4,000-character selection
    (~1,000 tokens) of the standard library's source."""
    import glob
    import sysconfig

    asks = ("Explain what this code does:", "Why does this fail on empty input?", "Add type hints to this:",
            "What is the time complexity here?", "Suggest a better name for this helper:")
    lib = sysconfig.get_paths()["stdlib"]
    out = []
    for path in sorted(glob.glob(f"{lib}/**/*.py", recursive=True)):
        if "/test" in path or "site-packages" in path:
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            src = fh.read()
        for i in range(0, len(src) - 4000, 4000):
            out.append(f"{asks[len(out) % len(asks)]}\n\n{src[i:i + 4000]}")
            if len(out) == n:
                return out
    return out


def _measure(engine, prompts: list[str]) -> dict[str, tuple[float, float]]:
    lines = [json.dumps({"id": i, "prompt": p}) + "\n" for i, p in enumerate(prompts)]
    sides = {"count": lambda: _floor(lines), "count, 2 threads": lambda: _floor_batch(lines),
             "route": lambda: _ours(engine, lines)}
    for fn in sides.values():
        fn()  # warm: the tokenizer, the estimator's weights, the regexes
    gc.freeze()  # as `hybridlsp route --jsonl` does: both sides run with what is loaded exempt from collection
    best = {k: (math.inf, math.inf) for k in sides}
    order = list(sides)
    for block in range(BLOCKS):
        # each side in turn goes first: a side run right after tiktoken's threaded batch can measure
        # up to ~5 % slower
        for k in order[block % len(order):] + order[:block % len(order)]:
            w, c = _timed(sides[k])
            best[k] = (min(best[k][0], w), min(best[k][1], c))
    return best


def _route_command() -> list[str]:
    """What a user runs: the console script beside this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("hybridlsp")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "hybridlsp"]
    return [*command, "route", "--jsonl"]


def _commands(prompts: list[str]) -> tuple[dict[str, float], dict[str, list]]:
    """Each whole command's best wall time (s) over COMMAND_RUNS alternating runs, after a warm-up run
    each; and its imports (`startup.parse_importtime` rows) from one more run with PYTHONPROFILEIMPORTTIME."""
    from .startup import parse_importtime

    with tempfile.TemporaryDirectory(prefix="hybridlsp-bench-") as d:
        work = Path(d)
        data = work / "prompts.jsonl"
        data.write_text("".join(json.dumps({"id": i, "prompt": p}) + "\n" for i, p in enumerate(prompts)),
                        encoding="utf-8")
        (work / "home").mkdir()
        # PYTHONDONTWRITEBYTECODE (set on this sandbox) would compile our modules from source on
        # every run; an installed hybridlsp has its .pyc files, written here by the warm-up runs
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "HYBRIDLSP_")) and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(HYBRIDLSP_HOME=str(work / "home"), OPENAI_API_KEY="sk-bench")  # as the in-process engine
        sides = {"hybridlsp route --jsonl": [*_route_command(), str(data)],
                 "count script": [sys.executable, "-c", COUNT_SCRIPT, str(data)]}
        best = {k: math.inf for k in sides}
        for i in range(COMMAND_RUNS + 1):
            for k, cmd in (list(sides.items()) if i % 2 else list(sides.items())[::-1]):
                t = time.perf_counter()
                out = subprocess.run(cmd, cwd=work, env=env, capture_output=True, check=True).stdout
                took = time.perf_counter() - t
                lines = out.count(b"\n")
                if lines != len(prompts):
                    raise RuntimeError(f"{k}: {lines:,} lines written for {len(prompts):,} prompts")
                if i:  # the first run of each warms the disk cache
                    best[k] = min(best[k], took)
        imports = {}
        for k, cmd in sides.items():
            err = subprocess.run(cmd, cwd=work, env=env | {"PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True,
                                 text=True, check=True).stderr
            imports[k] = parse_importtime(err)
        return best, imports


def _pulled_in(rows) -> list[tuple[str, float, str]]:
    """(package, cumulative s, our module importing it) for what our modules import themselves, heaviest
    first: a package another package imports is inside that one's figure."""
    cum: Counter = Counter()
    who: dict[str, str] = {}
    for name, _, cum_us, parents in rows:
        pkg = name.split(".")[0]
        if pkg != "hybridlsp" and parents and parents[-1].startswith("hybridlsp."):
            cum[pkg] += cum_us / 1e6
            who.setdefault(pkg, parents[-1])
    return [(p, t, who[p]) for p, t in cum.most_common()]


def run() -> Result:
    from hybridlsp.config import Settings
    from hybridlsp.engine import Engine
    from hybridlsp.ledger.store import Ledger

    engine = Engine(Settings(), ledger=Ledger(":memory:"), env={"OPENAI_API_KEY": "sk-bench"})
    questions, what = _prompts()
    code = _code_questions()
    raw, figures, stages = [], [], {}
    code_about = "an ask and 4,000 characters of standard-library source each"
    kinds = {"questions": (questions, what), "code questions": (code, code_about)}
    for label, (prompts, about) in kinds.items():
        best = _measure(engine, prompts)
        threads = _route_threads(prompts)
        (rw, rc), (fw, fc), (bw, _) = best["route"], best["count"], best["count, 2 threads"]
        floor = fw if threads == 1 else bw
        figures.append(Figure(f"{label}, route / count on {threads} thread{'s' if threads > 1 else ''}", rw / floor,
                              "x", "<=", GOAL))
        chars = sum(map(len, prompts)) / len(prompts)
        raw += [
            f"**{label}**: {len(prompts):,} prompts ({about}; mean {chars:,.0f} characters), best of {BLOCKS} blocks; "
            f"route encodes most of their text on {threads} thread{'s' if threads > 1 else ''}:",
            "",
            "| | wall (ms) | CPU, all threads (ms) | per prompt, wall (µs) |",
            "|---|---:|---:|---:|",
            *(f"| {k} | {w * 1e3:,.1f} | {c * 1e3:,.1f} | {w / len(prompts) * 1e6:,.1f} |"
              for k, (w, c) in best.items()),
            "",
            f"route / count: **{rw / fw:.2f}x** wall, {rc / fc:.2f}x CPU; "
            f"route / count on 2 threads: {rw / bw:.2f}x wall.",
            "",
        ]
        if rw / floor > GOAL:
            stages[label] = (_stages(engine, prompts), rw / floor)
    commands, imports = _commands(questions)
    (ours_name, ours_s), (floor_name, floor_s) = commands.items()
    whole = ours_s / floor_s
    figures.append(Figure("whole command on the questions", whole, "x", "<=", GOAL))
    both = {name.split(".")[0] for name, *_ in imports[floor_name]}
    heavy = [h for h in _pulled_in(imports[ours_name]) if h[0] not in both][:6]
    ours_ms = sum(r[1] for r in imports[ours_name] if r[0].startswith("hybridlsp")) / 1e3
    import_ms = {k: sum(r[1] for r in rows) / 1e3 for k, rows in imports.items()}
    raw += [
        f"**as whole commands** on the questions, a fresh interpreter each, best of {COMMAND_RUNS} alternating runs:",
        "",
        "| | wall (ms) |",
        "|---|---:|",
        *(f"| `{k}` | {t * 1e3:,.0f} |" for k, t in commands.items()),
        "",
        f"{ours_name} / {floor_name}: **{whole:.2f}x** wall ({(ours_s - floor_s) * 1e3:,.0f} ms more).",
        "Everything each imports (one run with PYTHONPROFILEIMPORTTIME, which inflates it): "
        + ", ".join(f"{k} {ms:,.0f} ms" for k, ms in import_ms.items())
        + f"; of route's, our own modules {ours_ms:,.0f} ms (from their .pyc files, as installed). The heaviest "
        "packages route imports and the script does not (cumulative), and the module of ours that imports each: "
        + "; ".join(f"{p} {t * 1e3:,.0f} ms <- {who}" for p, t, who in heavy) + ".",
        "",
    ]
    parts = stages.get("questions", (None,))[0] or _stages(engine, questions)
    raw += ["Where route's time goes on the questions, per prompt (each stage timed alone, µs): "
            + ", ".join(f"{k} {v:,.1f}" for k, v in parts.items())]
    limits = []
    for label, (parts, ratio) in stages.items():
        floor_us = parts["parse + count (the floor's work)"]
        limits.append(f"{label} at {ratio:.2f}x: per prompt, the floor's parse and count take {floor_us:,.1f} µs "
                      "and route adds, each stage timed alone: "
                      + ", ".join(f"{k} {v:,.1f} µs" for k, v in parts.items() if k != "parse + count (the floor's work)"))
    if whole > GOAL:
        limits.append(f"the whole command at {whole:.2f}x: {(ours_s - floor_s) * 1e3:,.0f} ms more than the count "
                      f"script; it imports {import_ms[ours_name] - import_ms[floor_name]:,.0f} ms more (with "
                      "PYTHONPROFILEIMPORTTIME), our own modules " f"{ours_ms:,.0f} ms of it; heaviest packages only "
                      "route imports: " + "; ".join(f"{p} {t * 1e3:,.0f} ms <- {who}" for p, t, who in heavy))
    return Result(10, "route --jsonl vs counting tokens", figures, raw, "\n".join(limits))

if __name__ == "__main__":
    print(run().render())
