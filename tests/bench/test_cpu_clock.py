"""The benchmarks' CPU clock for another process: every thread's nanoseconds, the clock this
process's `time.process_time()` reads, and a reading taken once the process is quiet."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

from bench._fakeproc import cpu_seconds, settled_cpu_seconds
from tests.support import need

need(sys.platform.startswith("linux") or None, "the benchmarks read Linux's per-process CPU clocks and /proc")


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_it_counts_what_process_time_counts_finer_than_a_clock_tick():
    cpu0, here0 = cpu_seconds(os.getpid()), time.process_time()
    _burn(0.003)  # under one 10 ms tick of /proc/PID/stat
    used, here = cpu_seconds(os.getpid()) - cpu0, time.process_time() - here0
    assert 0.003 <= used < 0.006
    assert used == pytest.approx(here, abs=0.0005)


def test_it_sums_every_thread():
    cpu0 = cpu_seconds(os.getpid())
    worker = threading.Thread(target=_burn, args=(0.02,))
    worker.start()
    _burn(0.02)
    used = cpu_seconds(os.getpid()) - cpu0  # the worker still alive: its time is in its task entry
    worker.join()
    assert used >= 0.035


def test_a_settled_reading_waits_for_the_work_left_behind():
    cpu0 = cpu_seconds(os.getpid())
    behind = threading.Thread(target=_burn, args=(0.06,))  # as a ledger write after the last answer
    behind.start()
    try:
        used = asyncio.run(settled_cpu_seconds(os.getpid(), quiet_s=0.02)) - cpu0
    finally:
        behind.join()
    assert used >= 0.06
