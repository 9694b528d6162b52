"""What every benchmark shares: its result, percentiles, a temporary home, the loopback guard."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from . import _loopback

__all__ = [
    "REPO",
    "SERVER_CONFIG",
    "Figure",
    "Result",
    "combine",
    "loopback_only",
    "median",
    "pct",
    "runqueue_seconds",
    "serve_command",
    "server_env",
    "temp_home",
]

REPO = Path(__file__).resolve().parent.parent


_OPS = {"<=": lambda v, lim: v <= lim, "<": lambda v, lim: v < lim,
        ">=": lambda v, lim: v >= lim, ">": lambda v, lim: v > lim}


@dataclass(frozen=True)
class Figure:
    """One number a benchmark's headline prints. With a goal (`op` and `limit`) the verdict counts
    it; without one it is context (a floor, a peer). Over several runs it holds every run's value,
    prints their range and is judged on the worst."""

    name: str
    value: float
    unit: str = ""  # printed right after the number: "x", " ms", " MB"
    op: str = ""  # "<=", "<", ">=", ">" against `limit`; "" for no goal
    limit: float | None = None
    digits: int = 2
    values: tuple[float, ...] = ()  # every run's value; () means just `value`

    def __post_init__(self):
        if self.op and (self.op not in _OPS or self.limit is None):
            raise ValueError(f"{self.name}: a goal needs one of {', '.join(_OPS)} and a limit")
        if not self.values:
            object.__setattr__(self, "values", (self.value,))

    @property
    def worst(self) -> float:
        return min(self.values) if self.op.startswith(">") else max(self.values)

    @property
    def met(self) -> bool | None:
        return None if not self.op else _OPS[self.op](self.worst, self.limit)

    @property
    def goal(self) -> str:
        return f"{self.name} {self.op} {self.limit:g}{self.unit}" if self.op else ""

    def _fmt(self, v: float) -> str:
        return f"{v:,.{self.digits}f}"

    def text(self) -> str:
        lo, hi = self._fmt(min(self.values)), self._fmt(max(self.values))
        span = lo if lo == hi else f"{lo} to {hi}" if min(self.values) < 0 else f"{lo}-{hi}"
        return f"{self.name} {span}{self.unit}"

    def merged(self, others: list["Figure"]) -> "Figure":
        values = self.values + tuple(v for f in others for v in f.values)
        worst = min(values) if self.op.startswith(">") else max(values)
        return replace(self, value=worst, values=values)


_UNSET = object()


@dataclass(init=False)
class Result:
    """One benchmark's outcome: its figures (the headline), the raw numbers they come from, and for
    a missed goal what limits it, from measurement. The verdict is derived from every figure with
    a goal; a result without figures was not measured (the reason is in `limits`).

        Result(number, title, [Figure(...), ...], raw_lines, limits)

    The older form, `Result(number, title, "headline", "goal", met, raw, limits)`, still works: its
    verdict is the `met` it was given, and over several runs it is the worst run's."""

    number: int
    title: str
    figures: list[Figure]
    raw: list[str]  # Markdown lines: the numbers the figures come from
    limits: str  # what limits a missed goal, with the evidence; one point a line
    note: str  # words after the figures, no numbers of its own (a number belongs in a Figure)
    goal_text: str  # the goal in words where no figure carries it (not measured, or no goal set)
    seconds: float
    runs: int
    refused: list[str]  # non-loopback hosts the guard refused
    legacy_figure: str  # the older form's headline and verdict
    legacy_met: object

    def __init__(self, number: int, title: str, figures=None, *args, raw=None, limits: str = "", note: str = "",
                 goal_text: str = "", seconds: float = 0.0, runs: int = 1, refused=None, legacy_figure: str = "",
                 legacy_met=_UNSET):
        if isinstance(figures, str):  # the older form: (figure, goal, met[, raw[, limits]])
            legacy_figure, figures = figures, []
            goal_text = args[0] if args else goal_text
            legacy_met = args[1] if len(args) > 1 else None
            args = args[2:]
        if len(args) > 2:
            raise TypeError("Result(number, title, figures, raw, limits): too many arguments")
        raw = args[0] if args else raw
        limits = args[1] if len(args) > 1 else limits
        self.number, self.title, self.figures = number, title, list(figures or [])
        self.raw, self.limits, self.note, self.goal_text = list(raw or []), limits, note, goal_text
        self.seconds, self.runs, self.refused = seconds, runs, list(refused or [])
        self.legacy_figure, self.legacy_met = legacy_figure, legacy_met

    @property
    def legacy(self) -> bool:
        return self.legacy_met is not _UNSET

    @property
    def met(self) -> bool | None:
        if self.legacy:
            return False if self.refused else self.legacy_met
        judged = [f.met for f in self.figures if f.op]
        if not judged:
            return None
        return all(judged) and not self.refused

    @property
    def goal(self) -> str:
        return "; ".join(f.goal for f in self.figures if f.op) or self.goal_text or "none set"

    @property
    def figure(self) -> str:
        text = "; ".join(f.text() for f in self.figures) or self.legacy_figure
        return f"{text} ({self.note})" if text and self.note else text or self.note

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "no goal" if self.figures or (self.legacy and not self.limits) else "not measured"
        return "met" if self.met else "MISSED"

    @property
    def missed(self) -> list[Figure]:
        return [f for f in self.figures if f.met is False]

    def render(self) -> str:
        lines = [f"[{self.number}] {self.title}: {self.figure}", f"    goal {self.goal}: {self.verdict}"]
        lines += [f"    {r}" for r in self.raw]
        if self.limits:
            lines += ["    limited by:", *(f"      - {point}" for point in self.limits.splitlines())]
        return "\n".join(lines)


def combine(runs: list[Result]) -> Result:
    """Several runs of one benchmark as one result: each figure's range, judged on its worst value.

    The raw numbers and the limits come from the run that holds the worst value of the first
    missed figure (else from the last run), with a table of every run's figures before them.
    """
    if len(runs) == 1:
        return runs[0]
    failed = [r for r in runs if not r.figures and not r.legacy]
    if failed:
        out = replace(failed[0], runs=len(runs))
    elif any(r.legacy for r in runs):  # headlines, not figures: the worst run stands for all
        pick = next((r for r in runs if r.met is False), None) or next((r for r in runs if r.met is None), runs[-1])
        per_run = [f"Every run ({len(runs)}; the headline and details are run {runs.index(pick) + 1}'s):", "",
                   *(f"{i}. {r.figure}: {r.verdict}" for i, r in enumerate(runs, 1)), ""]
        out = replace(pick, raw=per_run + pick.raw, runs=len(runs))
    else:
        first = runs[0]
        names = [f.name for f in first.figures]
        by_name = {n: [f for r in runs for f in r.figures if f.name == n] for n in names}
        figures = [fs[0].merged(fs[1:]) for fs in by_name.values()]
        missed = [f for f in figures if f.met is False]
        pick = runs[-1]
        if missed:
            worst = missed[0]
            pick = next(r for r in runs for f in r.figures if f.name == worst.name and f.values[0] == worst.worst)
        per_run = [
            f"Every run ({len(runs)}; the details below are from run {runs.index(pick) + 1}):",
            "",
            "| run | " + " | ".join(names) + " |",
            "|---:|" + "---:|" * len(names),
            *(f"| {i} | " + " | ".join(next((f._fmt(f.value) + f.unit for f in r.figures if f.name == n), "-")
                                       for n in names) + " |" for i, r in enumerate(runs, 1)),
            "",
        ]
        out = replace(pick, figures=figures, raw=per_run + pick.raw, runs=len(runs))
    out.seconds = sum(r.seconds for r in runs)
    out.refused = [h for r in runs for h in r.refused]
    return out


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0..100), nearest rank on the sorted values."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def median(values: list[float]) -> float:
    return statistics.median(values)


def runqueue_seconds(pid: int | None = None) -> float:
    """How long the threads of a process (this one by default) have waited, runnable, for a CPU
    (the second field of Linux's /proc/PID/task/TID/schedstat); 0.0 where it cannot be read.
    Its growth over an interval is the time other work kept that process off the CPU."""
    base = f"/proc/{pid or os.getpid()}/task"
    total = 0
    try:
        for tid in os.listdir(base):
            try:
                with open(f"{base}/{tid}/schedstat") as fh:
                    total += int(fh.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue  # a thread that ended meanwhile
    except OSError:
        return 0.0
    return total / 1e9


@contextlib.contextmanager
def temp_home() -> Iterator[Path]:
    """A temporary HYBRIDLSP_HOME: the engine's ledger rows never touch the user's."""
    old = os.environ.get("HYBRIDLSP_HOME")
    with tempfile.TemporaryDirectory(prefix="hybridlsp-bench-") as d:
        os.environ["HYBRIDLSP_HOME"] = d
        try:
            yield Path(d)
        finally:
            if old is None:
                os.environ.pop("HYBRIDLSP_HOME", None)
            else:
                os.environ["HYBRIDLSP_HOME"] = old


GUARD_DIR = Path(__file__).resolve().parent / "_guard"


@contextlib.contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Refuse any name lookup or connection that is not to 127.0.0.0/8 or ::1, in this process and in
    every Python process started inside the block (through `_guard/sitecustomize.py` on PYTHONPATH).

    Yields the list of refused hosts, this process's and its children's, complete when the block ends.
    """
    refused: list[str] = []
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", _loopback.LOG_ENV)}
    with tempfile.NamedTemporaryFile(prefix="bench-refused-", suffix=".txt", delete=False) as log:
        pass
    os.environ[_loopback.LOG_ENV] = log.name
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(GUARD_DIR), saved["PYTHONPATH"]) if p)
    _loopback.install()
    try:
        yield refused
    finally:
        _loopback.uninstall()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        with open(log.name, encoding="utf-8") as fh:
            refused += [line.strip() for line in fh if line.strip()]  # this process's, and the children's
        os.unlink(log.name)
        if refused and saved[_loopback.LOG_ENV]:  # an enclosing guard counts them too
            with open(saved[_loopback.LOG_ENV], "a", encoding="utf-8") as fh:
                fh.writelines(f"{h}\n" for h in refused)


# Tier 1 and 2 on a fake Ollama, tier 3 on a fake OpenAI (tests/fakes); the embedded tier off,
# so a failure shows instead of a slow fallback. The answer cache stays on (the default): each
# benchmark sends distinct prompts, so every request reaches the upstream.
SERVER_CONFIG = """
[tiers.tier1]
backend = "ollama"
model = "model-a"
[tiers.tier2]
backend = "ollama"
model = "model-b"
[tiers.tier3]
backend = "openai"
model = "gpt-4.1"
[embedded]
enabled = false
[dispatch]
connect_timeout_s = 5.0
read_timeout_s = 30.0
max_retries = 0
"""


def server_env(home: Path, *, ollama_url: str = "", openai_url: str = "") -> dict[str, str]:
    """The environment `hybridlsp serve` gets: no real keys or hosts, only the fakes."""
    config = home / "bench.toml"
    config.write_text(SERVER_CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "OLLAMA_", "HYBRIDLSP_"))}
    env.update(HYBRIDLSP_HOME=str(home), HYBRIDLSP_CONFIG=str(config), OPENAI_API_KEY="sk-bench")
    if ollama_url:
        env["OLLAMA_HOST"] = ollama_url
    if openai_url:
        env["OPENAI_BASE_URL"] = openai_url
    return env


def serve_command() -> list[str]:
    """What an editor runs: the console script beside this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("hybridlsp")
    return [str(script), "serve"] if script.exists() else [sys.executable, "-m", "hybridlsp", "serve"]

