"""Train the learned difficulty estimate and write the weights the package ships.

    .venv/bin/python training/train_difficulty.py [DATA_DIR] [--out FILE] [--check]

DATA_DIR defaults to ../shared/routing-data (relative to the repository root); --out to
server/hybridlsp/routing/data/difficulty.json. --check trains and compares with the shipped file
instead of writing it (exit status 1 if they differ).

Split by question (training/routellm.py): 60 % fits the model, 20 % (valid) chose the features
and calibrates the tier thresholds, 20 % (test) is only read by bench/routing_quality.py.

Model: logistic regression on the features of `hybridlsp.routing.learned.features` (the run-time
code, so training and serving cannot drift), soft label (1 + q_strong - q_weak) / 2, L2 penalty,
full-batch Adam for a fixed number of epochs from zero weights. Choices measured on the valid
split (share of the gap recovered at 20 % strong calls, PGR@20, and APGR; random = 0.20 / 0.50):

    label "weak model fails" (1 - q_weak)             PGR@20 0.25  APGR 0.57
    label "strong beats weak" (q_strong > q_weak)     PGR@20 0.41  APGR 0.65
    label gain (1 + q_strong - q_weak) / 2            PGR@20 0.42  APGR 0.68
    gain, L2 1e-3 instead of 1e-4                     PGR@20 0.45  APGR 0.69
    ... unigrams only                                 PGR@20 0.42  APGR 0.67
    ... plus character 3- or 4-grams                 PGR@20 0.41-0.44, APGR 0.68-0.69, 2-3x slower
    ... head of 400 / 1000 / 2000 characters          APGR 0.684 / 0.688 / 0.684
    ... 2^14 / 2^16 / 2^18 hash buckets               APGR 0.691 / 0.693 / 0.693
    two models, P(strong right) - P(weak right)       PGR@20 0.43  APGR 0.68

Differences under ~0.03 are within the noise of ~3,000 valid prompts; the cheapest of the best
was kept: word uni+bigrams, 1,000 characters, 2^16 buckets, L2 1e-3.

Byte-for-byte reproducible: no randomness (zero init, full batch, inputs in file order), sums in
a fixed order (np.add.reduceat, np.bincount; no BLAS), weights stored as int16 with a rounded
scale, every float written at a fixed precision. Reproduced on the same numpy and CPU family;
another libm may move a last bit of an exp and, rarely, one int16 step.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hybridlsp.evalrouting import recovery_curve  # noqa: E402
from hybridlsp.routing.learned import FEATURE_VERSION, WEIGHTS_PATH, LearnedModel, features  # noqa: E402
from routellm import load_rows  # noqa: E402

DIM = 1 << 16
L2 = 1e-3
EPOCHS = 200
LEARNING_RATE = 0.05
BETAS = (0.9, 0.999)
N_QUANTILES = 201  # every 0.5 %


def label(q_weak: float, q_strong: float) -> float:
    return min(max((1 + q_strong - q_weak) / 2, 0.0), 1.0)


def sparse(rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of the rows' features: indices, row pointers, values 1/sqrt(count) (as at run time)."""
    idx: list[int] = []
    ptr = [0]
    for r in rows:
        idx += features(r.prompt, DIM)
        ptr.append(len(idx))
    ptr_a = np.array(ptr, dtype=np.int64)
    counts = np.diff(ptr_a)
    val = np.repeat(1 / np.sqrt(np.maximum(counts, 1)), counts)
    return np.array(idx, dtype=np.int64), ptr_a, val


def fit(idx: np.ndarray, ptr: np.ndarray, val: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    n = len(ptr) - 1
    counts = np.diff(ptr)
    row_of = np.repeat(np.arange(n), counts)
    starts = ptr[:-1]
    w = np.zeros(DIM)
    b = 0.0
    m, v = np.zeros(DIM), np.zeros(DIM)
    mb = vb = 0.0
    b1, b2 = BETAS
    for t in range(1, EPOCHS + 1):
        z = np.add.reduceat(val * w[idx], starts) + b
        p = 1 / (1 + np.exp(-z))
        g = (p - y) / n
        gw = np.bincount(idx, weights=val * g[row_of], minlength=DIM) + L2 * w
        gb = float(np.add.reduce(g))
        m = b1 * m + (1 - b1) * gw
        v = b2 * v + (1 - b2) * gw * gw
        w = w - LEARNING_RATE * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
        mb = b1 * mb + (1 - b1) * gb
        vb = b2 * vb + (1 - b2) * gb * gb
        b = b - LEARNING_RATE * (mb / (1 - b1**t)) / (math.sqrt(vb / (1 - b2**t)) + 1e-8)
    return w, b


def quantiles(values: list[float], k: int) -> list[float]:
    s = sorted(values)
    out = []
    for j in range(k):
        x = j / (k - 1) * (len(s) - 1)
        i = min(int(x), len(s) - 2)
        out.append(round(s[i] + (x - i) * (s[i + 1] - s[i]), 6))
    return out


def data_fingerprint(data_dir: Path) -> str:
    h = hashlib.sha256()
    root = data_dir / "routellm"
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _f(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}f}")


def train(data_dir: Path) -> bytes:
    rows = load_rows(data_dir)
    fit_rows = [r for r in rows if r.split == "train"]
    valid = [r for r in rows if r.split == "valid"]
    idx, ptr, val = sparse(fit_rows)
    y = np.array([label(r.q_weak, r.q_strong) for r in fit_rows])
    w, b = fit(idx, ptr, val, y)

    scale = float(f"{float(np.max(np.abs(w))) / 32767:.9e}")
    q = np.clip(np.rint(w / scale), -32767, 32767).astype("<i2")
    data = {
        "about": "hybridlsp learned difficulty: logistic model on hashed word n-grams; "
        "made by training/train_difficulty.py from RouteLLM outcomes (Apache-2.0)",
        "feature_version": FEATURE_VERSION,
        "dim": DIM,
        "bias": float(f"{b:.9e}"),
        "scale": scale,
        "weights_int16_le": base64.b64encode(q.tobytes()).decode("ascii"),
        "quantiles": [],
        "training": {
            "data_sha256": data_fingerprint(data_dir),
            "label": "(1 + q_strong - q_weak) / 2; weak mistralai/Mixtral-8x7B-Instruct-v0.1, strong gpt-4-1106-preview",
            "l2": L2,
            "epochs": EPOCHS,
            "learning_rate": LEARNING_RATE,
            "rows": {s: sum(1 for r in rows if r.split == s) for s in ("train", "valid", "test")},
        },
    }
    # Calibrate with the model exactly as it will run: the quantized weights, the run-time code.
    model = LearnedModel.from_json({**data, "quantiles": [0.0, 1.0]})
    logits = [model.logit(r.prompt) for r in valid]
    data["quantiles"] = quantiles(logits, N_QUANTILES)
    c = recovery_curve(logits, [r.q_weak for r in valid], [r.q_strong for r in valid])
    data["training"]["valid"] = {"apgr": _f(c.apgr), "pgr_at_20pct": _f(c.at(0.2))}
    return (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "routing-data"))
    p.add_argument("--out", default=str(WEIGHTS_PATH))
    p.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = p.parse_args(argv)
    blob = train(Path(args.data_dir))
    digest = hashlib.sha256(blob).hexdigest()
    out = Path(args.out)
    info = json.loads(blob)["training"]
    print(f"valid split: APGR {info['valid']['apgr']:.4f}, recovered at 20 % strong calls "
          f"{info['valid']['pgr_at_20pct']:.4f}; {len(blob):,} bytes, sha256 {digest}", file=sys.stderr)
    if args.check:
        same = out.is_file() and out.read_bytes() == blob
        print(f"{out}: {'identical' if same else 'DIFFERS from a fresh training run'}", file=sys.stderr)
        return 0 if same else 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(blob)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
