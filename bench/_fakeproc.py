"""One of tests/fakes' upstreams in a process of its own, so it shares no GIL with the client.

    with fake_process("ollama", answer="...", token_delay=0.01) as fake: fake.url, fake.pid
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from dataclasses import dataclass
from typing import Iterator

from ._common import REPO

__all__ = ["fake_process", "FakeProcess", "cpu_seconds"]


@dataclass(frozen=True)
class FakeProcess:
    url: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    import os

    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def fake_process(kind: str, answer: str, token_delay: float) -> Iterator[FakeProcess]:
    """The running fake; it stops when the block ends (its stdin closes)."""
    proc = subprocess.Popen([sys.executable, "-m", "bench._fakeproc", kind, answer, str(token_delay)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the fake {kind} did not start: {url!r}")
        yield FakeProcess(url, proc.pid)
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _serve(kind: str, answer: str, token_delay: float) -> None:
    from tests.fakes.upstreams import FakeAnthropic, FakeOllama, FakeOpenAI

    cls = {"ollama": FakeOllama, "openai": FakeOpenAI, "anthropic": FakeAnthropic}[kind]
    with cls(answer=answer, token_delay=token_delay) as fake:
        print(fake.url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2], float(sys.argv[3]))
