"""[7] Start-up: process start to `initialize` answered, to the engine loaded, import time, idle RSS.

Ours is what an editor runs (`hybridlsp serve`); the peer, in alternating runs, is the smallest
pygls 2 server there is (`bench/_bare_server.py`: a LanguageServer and nothing else), which pays
for the same interpreter, pygls and lsprotocol. Ours answers `initialize` before it loads its
engine (settings, backends, ledger), which it does on `initialized`; a request sent after
`initialized` is answered once that is done, so its answer's time after spawn ("started") is
reported beside `initialize`: the first code action waits at least that long. RSS is read, idle,
once started. The embedded model is never loaded here: it loads on first use. Import time is
measured in fresh interpreters; `-X importtime` names what it costs.

Both sides start from compiled bytecode, as installed packages do (pip compiles a package's
modules when it installs it): the bare server's pygls and lsprotocol have theirs from pip, and our
modules, which an editable install leaves as source (and PYTHONDONTWRITEBYTECODE, where it is set,
keeps so), are compiled here first (`compileall`, a no-op when they are up to date); otherwise
ours alone would compile its modules at every start (8 ms before `initialize`, ~200 ms for all).
The starts alternate, ours and the bare server's, which goes first changing every round, and the
ratio is the median of the rounds' ratios: a start takes 400-600 ms on a busy machine, so each of
ours is judged against the bare start beside it.
"""

from __future__ import annotations

import asyncio
import compileall
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ._common import REPO, Figure, Result, median, serve_command, server_env, temp_home
from ._fakeproc import cpu_seconds
from ._lsp import LspProcess

RUNS = 9  # starts a side, in each of the harness's runs
GOAL_MS, GOAL_MB = 300.0, 60.0
GOAL_RATIO = 1.15  # initialize, ours / the bare server's (issue: "within 1.15x of a bare pygls server's")

BARE = [sys.executable, str(REPO / "bench" / "_bare_server.py")]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _start_once(cmd: list[str], env: dict, root: Path) -> tuple[float, float, float, float]:
    """(seconds from spawn to the initialize response, to the answer of a request sent after
    `initialized`, idle RSS in MB then, CPU seconds the server had used by the initialize response)."""
    server = await LspProcess.start(cmd, env=env, cwd=str(root))
    try:
        await server.initialize(str(root))
        took = time.perf_counter() - server.started_at
        cpu = cpu_seconds(server.proc.pid)
        # a request neither server has (MethodNotFound): handled after `initialized`, with which
        # ours loads its engine
        await server.request("hybridlsp/none", {})
        started = time.perf_counter() - server.started_at
        await asyncio.sleep(0.5)  # idle: whatever the start started has settled
        return took, started, rss_mb(server.proc.pid), cpu
    finally:
        await server.close()


async def _measure(home: Path) -> dict[str, list]:
    env = server_env(home)
    out = {name + what: [] for name in ("ours", "bare") for what in ("", "_started", "_rss", "_cpu")}
    for i in range(RUNS + 1):
        for name, cmd in (("ours", serve_command()), ("bare", BARE))[:: 1 if i % 2 else -1]:
            took, started, rss, cpu = await _start_once(cmd, env, home)
            if i:  # the first run of each warms the disk cache
                out[name].append(took)
                out[f"{name}_cpu"].append(cpu)
                out[f"{name}_started"].append(started)
                out[f"{name}_rss"].append(rss)
    return out


def import_seconds(module: str, runs: int = 3) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return median([float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                        cwd=REPO).stdout) for _ in range(runs)])


def parse_importtime(text: str) -> list[tuple[str, int, int, tuple[str, ...]]]:
    """(module, self µs, cumulative µs, its importers outermost first) per `-X importtime` line."""
    rows = []
    for line in text.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, cum_us, name = line[len("import time:"):].split("|")
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            rows.append((name.strip(), int(self_us), int(cum_us), depth))
    out, stack = [], []
    for name, self_us, cum_us, depth in reversed(rows):  # parents come after their children
        del stack[depth:]
        out.append((name, self_us, cum_us, tuple(stack)))
        stack.append(name)
    return out[::-1]


def startup_imports(home: Path) -> tuple[list, list]:
    """What `hybridlsp serve` imports up to answering `initialize`, and after it until started
    (PYTHONPROFILEIMPORTTIME; the log's length when the answer arrived splits them: the server
    writes each line as an import ends)."""
    env = server_env(home) | {"PYTHONPROFILEIMPORTTIME": "1"}
    log = home / "importtime.txt"
    split = 0

    async def once():
        nonlocal split
        with open(log, "w") as err:
            server = await LspProcess.start(serve_command(), env=env, cwd=str(home), stderr=err)
            try:
                await server.initialize(str(home))
                split = log.stat().st_size
                await server.request("hybridlsp/none", {})
            finally:
                await server.close()

    asyncio.run(once())
    text = log.read_text()
    cut = text.rfind("\n", 0, split) + 1  # whole lines only
    return parse_importtime(text[:cut]), parse_importtime(text[cut:])


def offenders(rows, top: int = 8) -> tuple[list[tuple[str, float]], list[tuple[str, float, str]]]:
    """(self time by top-level package, [(package, cumulative s, the module of ours that imports it)])."""
    by_pkg: Counter = Counter()
    cum: Counter = Counter()
    who: dict[str, tuple[int, str]] = {}
    for name, self_us, cum_us, parents in rows:
        pkg = name.split(".")[0]
        by_pkg[pkg] += self_us / 1e6
        if pkg == "hybridlsp" or any(p.split(".")[0] == pkg for p in parents):
            continue  # only the outermost import of each package counts
        cum[pkg] += cum_us / 1e6
        ours = [p for p in parents if p.startswith("hybridlsp")]
        if cum_us > who.get(pkg, (-1, ""))[0]:
            who[pkg] = (cum_us, ours[-1] if ours else (parents[-1] if parents else "-"))
    heavy = [(p, s, who[p][1]) for p, s in cum.most_common(top)]
    return by_pkg.most_common(top), heavy


def compile_ours() -> None:
    """Our modules' bytecode, as pip writes it for an installed package (see the docstring)."""
    compileall.compile_dir(str(REPO / "server" / "hybridlsp"), quiet=1)


def run() -> Result:
    compile_ours()
    with temp_home() as home:
        out = asyncio.run(_measure(home))
        rows, later = startup_imports(home)
    ours, bare, started = median(out["ours"]), median(out["bare"]), median(out["ours_started"])
    # the sides alternate, so each round's pair saw the same machine: the median of their ratios
    ratio = median([o / b for o, b in zip(out["ours"], out["bare"])])
    # CPU to the same point: what the start costs, without the waits for a CPU a busy machine adds
    cpu_ratio = median([o / b for o, b in zip(out["ours_cpu"], out["bare_cpu"])])
    ours_rss, bare_rss = median(out["ours_rss"]), median(out["bare_rss"])
    imp = {m: import_seconds(m) for m in ("hybridlsp.lsp.server", "pygls.lsp.server", "lsprotocol.types")}
    python_s = median([_timed_run([sys.executable, "-c", "pass"]) for _ in range(3)])
    pkgs, heavy = offenders(rows)
    total_import = sum(r[1] for r in rows) / 1e6
    raw = [
        "| | spawn -> initialize answered, median (ms) | runs (ms) | idle RSS, median (MB) |",
        "|---|---:|---|---:|",
        f"| hybridlsp serve | {ours * 1e3:.0f} | {', '.join(f'{t * 1e3:.0f}' for t in out['ours'])} | {ours_rss:.1f} |",
        f"| bare pygls server (peer) | {bare * 1e3:.0f} | {', '.join(f'{t * 1e3:.0f}' for t in out['bare'])} "
        f"| {bare_rss:.1f} |",
        f"Started (a request after `initialized` answered): ours {started * 1e3:.0f} ms after spawn (runs: "
        f"{', '.join(f'{t * 1e3:.0f}' for t in out['ours_started'])} ms), {(started - ours) * 1e3:.0f} ms after its "
        f"`initialize`, the engine loading in between; the bare server {median(out['bare_started']) * 1e3:.0f} ms.",
        f"Ours / bare pygls: {ratio:.2f}x time (median of the rounds' ratios), {cpu_ratio:.2f}x CPU to the "
        f"initialize response (ours {median(out['ours_cpu']) * 1e3:.0f} ms, bare {median(out['bare_cpu']) * 1e3:.0f} ms), "
        f"{ours_rss / bare_rss:.2f}x RSS. "
        f"An empty interpreter (`python -c pass`) starts and exits in {python_s * 1e3:.0f} ms.",
        "",
        "Import time in a fresh interpreter (median of 3): "
        + ", ".join(f"`{m}` {s * 1e3:.0f} ms" for m, s in imp.items()) + ".",
        f"Everything `hybridlsp serve` imports before answering `initialize` (PYTHONPROFILEIMPORTTIME, which "
        f"inflates it): {total_import * 1e3:.0f} ms. Self time by package: "
        + ", ".join(f"{p} {s * 1e3:.0f} ms ({s / total_import:.0%})" for p, s in pkgs) + ".",
        "Heaviest third-party imports (cumulative), and the module of ours that pulls each in: "
        + "; ".join(f"{p} {s * 1e3:.0f} ms <- {who}" for p, s, who in heavy) + ".",
        f"Loaded after `initialize` was answered, until started: "
        f"{sum(r[1] for r in later) / 1e3:.0f} ms of imports (same clock), ours "
        f"{sum(r[1] for r in later if r[0].startswith('hybridlsp')) / 1e3:.0f} ms of it; heaviest: "
        + "; ".join(f"{p} {s * 1e3:.0f} ms <- {who}" for p, s, who in offenders(later)[1][:5]) + ".",
        "Our own slowest modules before `initialize` (self time): " + ", ".join(
            f"{name} {self_us / 1e3:.0f} ms" for name, self_us, _, _ in
            sorted((r for r in rows if r[0].startswith("hybridlsp")), key=lambda r: -r[1])[:8]) + ".",
    ]
    limits = []
    if ours * 1e3 >= GOAL_MS or ratio > GOAL_RATIO:
        classes = attrs_classes("lsprotocol.types")
        floor = (f"a bare pygls server, which imports nothing of ours, needs {bare * 1e3:.0f} ms to answer "
                 f"`initialize` here" + (f", itself over the {GOAL_MS:g} ms goal" if bare * 1e3 >= GOAL_MS else ""))
        before_ours = sum(r[1] for r in rows if r[0].startswith("hybridlsp")) / 1e3
        limits.append(
            f"start-up: {floor}; `import lsprotocol.types` alone takes {imp['lsprotocol.types'] * 1e3:.0f} ms "
            f"in a fresh interpreter and defines {classes} attrs classes; ours adds {(ours - bare) * 1e3:.0f} ms "
            f"over the bare server, of which our own modules imported before `initialize` is answered "
            f"take {before_ours:.0f} ms (self time, with PYTHONPROFILEIMPORTTIME)")
    if ours_rss >= GOAL_MB:
        limits.append(f"RSS: the bare pygls server is {bare_rss:.1f} MB; ours adds {ours_rss - bare_rss:.1f} MB")
    figures = [Figure("initialize answered after spawn", ours * 1e3, " ms", "<", GOAL_MS, digits=0),
               Figure("initialize, ours / a bare pygls server's", ratio, "x", "<=", GOAL_RATIO),
               Figure("initialize CPU, ours / a bare pygls server's", cpu_ratio, "x"),
               Figure("started (engine loaded) after spawn", started * 1e3, " ms", digits=0),
               Figure("idle RSS", ours_rss, " MB", "<", GOAL_MB, digits=1),
               Figure("a bare pygls server's initialize", bare * 1e3, " ms", digits=0),
               Figure("`import hybridlsp.lsp.server`", imp["hybridlsp.lsp.server"] * 1e3, " ms", digits=0)]
    return Result(7, "Start-up", figures, raw, "\n".join(limits))


def attrs_classes(module: str) -> int:
    """How many attrs classes `module` defines, counted in a fresh interpreter."""
    code = (f"import attrs, {module} as m; "
            "print(sum(1 for v in vars(m).values() if isinstance(v, type) and attrs.has(v)))")
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)

def _timed_run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    print(run().render())
