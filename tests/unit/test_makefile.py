"""Every Python entry point the Makefile runs starts: a target that cannot even parse its
arguments is found here, not by the user who runs it (`make eval-routing` ran
bench/eval_routing.py as a script, which cannot import its own package's modules)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_RUN = re.compile(r"\$\(BIN\)/python (-m [\w.]+|[\w/]+\.py)")


def _entry_points() -> list[str]:
    return sorted(set(_RUN.findall((REPO / "Makefile").read_text(encoding="utf-8"))))


def test_the_makefile_runs_python_entry_points():
    assert "-m bench.eval_routing" in _entry_points()


@pytest.mark.parametrize("entry", _entry_points())
def test_each_entry_point_starts(entry):
    args = entry.split() if entry.startswith("-m ") else [entry]
    done = subprocess.run([sys.executable, *args, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
