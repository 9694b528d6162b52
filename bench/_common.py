"""What every benchmark shares: its result, percentiles, a temporary home, the loopback guard."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

__all__ = [
    "REPO",
    "SERVER_CONFIG",
    "Result",
    "loopback_only",
    "median",
    "pct",
    "serve_command",
    "server_env",
    "temp_home",
]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """One benchmark's outcome: a headline ratio against its floor or peer, and the raw numbers."""

    number: int
    title: str
    figure: str  # the headline, as measured in this run
    goal: str
    met: bool | None  # None: could not be measured here (the reason is in `limits`)
    raw: list[str] = field(default_factory=list)  # Markdown lines: the numbers the figure comes from
    limits: str = ""  # what limits a missed goal, with the evidence; one point a line
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "not measured" if self.limits else "no goal"
        return "met" if self.met else "MISSED"

    def render(self) -> str:
        lines = [f"[{self.number}] {self.title}: {self.figure}", f"    goal {self.goal}: {self.verdict}"]
        lines += [f"    {r}" for r in self.raw]
        if self.limits:
            lines += ["    limited by:", *(f"      - {point}" for point in self.limits.splitlines())]
        return "\n".join(lines)


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0..100), nearest rank on the sorted values."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def median(values: list[float]) -> float:
    return statistics.median(values)


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


def _loopback(host) -> bool:
    if host is None:
        return True
    h = host.decode() if isinstance(host, bytes) else str(host)
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h.split("%")[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Refuse, in this process, any name lookup or connection that is not to 127.0.0.0/8 or ::1.

    Yields the list of refused hosts, so a benchmark can say if a peer library tried to phone home.
    """
    refused: list[str] = []
    real_gai, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host):
            refused.append(str(host))
            raise OSError(f"bench: only loopback traffic (refused a lookup of {host})")
        return real_gai(host, *args, **kwargs)

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            refused.append(str(address[0]))
            raise OSError(f"bench: only loopback traffic (refused {address[0]})")

    def connect(sock, address):
        check(sock, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        check(sock, address)
        return real_connect_ex(sock, address)

    socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = getaddrinfo, connect, connect_ex
    try:
        yield refused
    finally:
        socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = real_gai, real_connect, real_connect_ex


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

