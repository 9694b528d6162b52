"""The shipped difficulty weights come byte for byte from the training script and the data.

Needs ../shared/routing-data (RouteLLM outcomes), which the package never reads, and numpy (the
`train` extra): skipped without them, through tests.support.need.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

from hybridlsp.routing.learned import WEIGHTS_PATH
from tests.support import need, need_module

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "routing-data"
SCRIPT = REPO / "training" / "train_difficulty.py"

need((DATA / "routellm").is_dir() or None, f"training data not present at {DATA}")


def test_training_twice_gives_the_shipped_bytes(tmp_path):
    need_module("numpy", "training needs numpy: pip install -e '.[train]'")
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    # two processes at once: separate interpreters, different hash seeds, same bytes
    procs = [
        subprocess.Popen([sys.executable, str(SCRIPT), str(DATA), "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"})
        for seed, out in enumerate(outs)
    ]
    for p in procs:
        _, err = p.communicate(timeout=110)
        assert p.returncode == 0, err.decode()
    a, b = (hashlib.sha256(o.read_bytes()).hexdigest() for o in outs)
    assert a == b
    assert a == hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest(), (
        "the shipped weights differ from a fresh training run: run training/train_difficulty.py and commit"
    )
