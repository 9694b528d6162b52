"""One of tests/fakes' upstreams in a process of its own, so it shares no GIL with the client.

    with fake_process("ollama", answer="...", token_delay=0.01) as fake: fake.url, fake.pid
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Iterator

from ._common import REPO

__all__ = ["fake_process", "FakeProcess", "cpu_seconds", "settled_cpu_seconds"]


@dataclass(frozen=True)
class FakeProcess:
    url: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """CPU time every thread of a process has used so far, in seconds: the process's CPU-time clock
    (POSIX `clock_getcpuclockid`), the clock `time.process_time()` reads for its own process, in
    nanoseconds, a running thread's current slice included. So a server and the bench's own client
    (`cpu_seconds(os.getpid())`) are measured alike. Not /proc/PID/stat, counted in 10 ms clock
    ticks (±6 % on a batch of 170 ms), nor /proc/PID/task/*/schedstat, which misses what a thread
    running on another CPU has used since the last tick (4 ms at HZ=250). /proc/PID/stat is the
    fallback where the clock cannot be had."""
    clock = _cpu_clock(pid)
    if clock is not None:
        try:
            return time.clock_gettime(clock)
        except OSError:
            pass
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_clock(pid: int) -> int | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        clock = ctypes.c_int()  # clockid_t
        if libc.clock_getcpuclockid(ctypes.c_int(pid), ctypes.byref(clock)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return clock.value


async def settled_cpu_seconds(pid: int, quiet_s: float = 0.02, within_s: float = 1.0) -> float:
    """`cpu_seconds(pid)` once the process has stopped using the CPU (under 2 % of `quiet_s` used
    in `quiet_s`): the work a batch leaves behind after its last answer (ledger and cache writes
    on worker threads) is counted with the batch, not with whatever runs next."""
    end = time.monotonic() + within_s
    before = cpu_seconds(pid)
    while True:
        await asyncio.sleep(quiet_s)
        now = cpu_seconds(pid)
        if now - before < 0.02 * quiet_s or time.monotonic() > end:
            return now
        before = now


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
