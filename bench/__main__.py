"""Run the benchmarks and write bench/RESULTS.md.

    .venv/bin/python -m bench                 # all of them, then bench/RESULTS.md
    .venv/bin/python -m bench ttft cost       # some of them, printed only
    .venv/bin/python -m bench.ttft            # one, printed only

A full run also rewrites the README's performance section from RESULTS.md (bench/readme.py).
Each benchmark runs RUNS times (a module may set fewer as BENCH_RUNS, e.g. 1 for a computed figure);
its figures are reported as their range over the runs and judged on the worst. Every run is under
the loopback-only guard (`_common.loopback_only`), in this process and every process it starts.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone

from . import readme
from ._common import REPO, Result, combine, loopback_only

# In the order: module name under bench/, and its number.
BENCHMARKS = ["routing", "overhead", "ttft", "code_action", "cancellation", "concurrency", "startup", "embedded",
              "cost", "route_jsonl", "escalation", "learning", "secrets", "commits"]
COMMAND = "make bench"
RESULTS = REPO / "bench" / "RESULTS.md"

# Three runs show how far a timed figure moves between runs, and the verdict is on the worst of
# them; with each benchmark's own repetitions trimmed to match, a full `make bench` takes about
# four minutes on 2 quiet cores.
RUNS = 3


def machine() -> dict[str, str]:
    cpu = "unknown"
    mem = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
        with open("/proc/meminfo") as fh:
            kb = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal"))
            mem = f"{kb / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {"cores": str(os.cpu_count()), "cpu": cpu, "memory": mem,
            "python": platform.python_version(), "os": platform.platform()}


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    return sha + (" with uncommitted changes" if git("status", "--porcelain") else "")


def run_one(name: str) -> Result:
    """One run of one benchmark, under the loopback guard."""
    module = importlib.import_module(f"bench.{name}")
    t0 = time.perf_counter()
    with loopback_only() as refused:
        try:
            result = module.run()
        except Exception as e:  # one broken benchmark must not hide the others
            number = BENCHMARKS.index(name) + 1
            tb = traceback.format_exc().strip().splitlines()
            result = Result(number, name, note=f"failed to run: {type(e).__name__}: {e}",
                            raw=["```", *tb[-12:], "```"], limits="the benchmark itself failed (traceback above)")
    result.refused = refused
    if refused:
        result.limits = "\n".join(filter(None, [result.limits, "the loopback guard refused connections to "
                                                 + ", ".join(sorted(set(refused)))]))
    result.seconds = time.perf_counter() - t0
    return result


LOSO_HEADING = "## Routing quality, leave one source out"


def kept_section(text: str) -> list[str]:
    """The lines of the section `make eval-routing` writes in `text` (it needs the training data,
    so `make bench` keeps it as it is), with a blank line after; none if there is none."""
    if LOSO_HEADING not in text:
        return []
    section = text[text.index(LOSO_HEADING):]
    return section[:section.index("\n## ")].rstrip("\n").split("\n") + [""] if "\n## " in section else []


def render(results: list[Result], info: dict[str, str], started: datetime, load: tuple, took: float) -> str:
    missed = [r for r in results if r.met is False or (r.met is None and r.limits)]
    out = [
        "# Benchmark results",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {info['cpu']} ({info['cores']} cores, {info['memory']}), "
        f"Python {info['python']}, {info['os']}; commit {commit()}.",
        f"Load average when the run started: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min) "
        f"on {info['cores']} cores, and {os.getloadavg()[0]:.2f} at the end: other work shared the machine, "
        "which is why each figure is a ratio against a floor or a peer measured in the same run.",
        "",
        f"Reproduce: `{COMMAND}` (it installs the `bench` extra, then runs `.venv/bin/python -m bench`); "
        "one benchmark: `.venv/bin/python -m bench.NAME` (e.g. `bench.ttft`). "
        f"This run took {took:.0f} s. Each benchmark ran {max((r.runs for r in results), default=1)} times "
        "unless its details say otherwise; a "
        "figure is the range over the runs, and its verdict is on the worst run. The upstreams are tests/fakes' "
        "servers on 127.0.0.1, and every benchmark ran under a guard that refuses any other address, in its "
        "process and every process it started: "
        + _refused(results),
        "",
        "## Summary",
        "",
        "| # | benchmark | measured in this run | goal | verdict |",
        "|---:|---|---|---|---|",
        *(f"| {r.number} | {r.title} | {r.figure} | {r.goal} | {'**MISSED**' if r.met is False else r.verdict} |"
          for r in results),
        "",
    ]
    if missed:
        out += ["## Goals missed, and what limits each", ""]
        for r in missed:
            out.append(f"- **[{r.number}] {r.title}** (goal {r.goal}):")
            out += [f"  - {point}" for point in r.limits.splitlines()]
        out.append("")
    out += [*kept_section(RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""), "## Details", ""]
    for name, r in zip(BENCHMARKS, results):
        doc = (importlib.import_module(f"bench.{name}").__doc__ or "").strip().split("\n", 1)
        out += [f"### {r.number}. {r.title}", ""]
        if len(doc) > 1:
            out += [doc[1].strip(), ""]
        runs = f"{r.runs} runs, " if r.runs > 1 else ""
        out += [f"**{r.figure}** - goal {r.goal}: {r.verdict} ({runs}{r.seconds:.0f} s; `python -m bench.{name}`)", ""]
        out += _blank_after_tables(r.raw) + [""]
    return "\n".join(out).rstrip() + "\n"


def _refused(results: list[Result]) -> str:
    refused = sorted({h for r in results for h in r.refused})
    return f"it refused {', '.join(refused)}." if refused else "it refused none."


def _blank_after_tables(lines: list[str]) -> list[str]:
    """A text line right after a Markdown table would be read as one more row: separate them."""
    out = []
    for line in lines:
        if out and out[-1].startswith("|") and line and not line.startswith("|"):
            out.append("")
        out.append(line)
    return out


def run_many(name: str, runs: int = RUNS) -> Result:
    module = importlib.import_module(f"bench.{name}")
    return combine([run_one(name) for _ in range(min(runs, getattr(module, "BENCH_RUNS", runs)))])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"run only these ({', '.join(BENCHMARKS)}); RESULTS.md is written only for a full run")
    p.add_argument("--runs", type=int, default=RUNS, help=f"runs of each benchmark (default {RUNS})")
    args = p.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = args.names or BENCHMARKS
    started, load, t0 = datetime.now(timezone.utc), os.getloadavg(), time.perf_counter()
    results = []
    for name in names:
        print(f"--- {name} ...", file=sys.stderr, flush=True)
        results.append(run_many(name, args.runs))
        print(results[-1].render(), flush=True)
    took = time.perf_counter() - t0
    if not args.names:
        RESULTS.write_text(render(results, machine(), started, load, took), encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(REPO)} ({took:.0f} s)")
        readme.update()
        print(f"wrote the performance section of {readme.README.relative_to(REPO)}")
    missed = [r.number for r in results if r.met is False]
    print(f"{len(results)} benchmarks in {took:.0f} s; goals missed: {', '.join(map(str, missed)) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
