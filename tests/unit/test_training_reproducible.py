"""The training scripts give the same bytes in separate processes with different hash seeds, what
they write loads as the run-time model, and `--check` tells a changed file from a fresh run.

On a small made-up data folder (tests/unit/routing_data.py); that the shipped weights are
rebuilt byte for byte from the real data is checked by `make train-router`, which may read it.
Needs numpy (the `train` extra): skipped without it, through tests.support.need_module.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hybridlsp.routing.coldstart import load_coldstart
from hybridlsp.routing.learned import load_model
from tests.support import need_module
from tests.unit import routing_data

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = {"difficulty": (REPO / "training" / "train_difficulty.py", load_model),
           "coldstart": (REPO / "training" / "train_coldstart.py", load_coldstart)}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    need_module("numpy", "training needs numpy: pip install -e '.[train]'")
    return routing_data.write(tmp_path_factory.mktemp("routing-data"))


def _train(script: Path, data: Path, out: Path, seed: int, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(data), "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"})


def _done(p: subprocess.Popen) -> int:
    _, err = p.communicate(timeout=120)
    assert p.returncode in (0, 1), err.decode()
    return p.returncode


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_two_processes_write_the_same_bytes_and_check_catches_a_change(name, data, tmp_path):
    script, load = SCRIPTS[name]
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [_train(script, data, out, seed) for seed, out in enumerate(outs)]  # two at once
    assert [_done(p) for p in procs] == [0, 0]
    a, b = (hashlib.sha256(o.read_bytes()).hexdigest() for o in outs)
    assert a == b
    load(str(outs[0]))  # what training writes is what the package reads

    assert _done(_train(script, data, outs[0], 2, "--check")) == 0
    changed = json.loads(outs[0].read_text())
    changed["about"] += "."
    outs[0].write_text(json.dumps(changed, sort_keys=True, indent=1) + "\n")
    assert _done(_train(script, data, outs[0], 3, "--check")) == 1


def test_the_data_decides_the_bytes(data, tmp_path):
    """Other data, other weights: the check compares with the data, not only with itself."""
    other = routing_data.write(tmp_path / "other", seed=8)
    script, _ = SCRIPTS["difficulty"]
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [_train(script, d, out, 0) for d, out in zip((data, other), outs)]
    assert [_done(p) for p in procs] == [0, 0]
    assert outs[0].read_bytes() != outs[1].read_bytes()
