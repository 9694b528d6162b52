"""Fit the cold-start difficulty estimate (numpy; training and benchmarks only).

    fit(rows_by_source, sources) -> the dict that routing/data/coldstart.json holds

What it predicts: how often the tier-3 model fails the prompt, 1 - q3, by a linear score on
`routing.promptfeatures`. Ranking by it travels better than ranking by the gain q3 - q1, which a
router is scored on: in leave-one-source-out trials (bench/eval_routing.py and exploratory variants
the README lists) the gain target kept -0.3 points over random on the mean of the ten sources,
the tier-3 failure target +0.9, with each source's own shares.

Fitted within sources: each source's features and labels are centred on that source's means
before fitting, so the weights say what makes a prompt harder than others of its kind, not which
source is harder (that differs between sources by the models' strengths and the measures, and
every prompt of one source shares it; a router gains over random only by ranking inside a source).
Each source weighs the same, whatever its size (MMLU has 14,042 rows, HumanEval+ 122).

The weights are each feature's within-source covariance with the label, on features scaled to
unit variance: ridge regression in the limit of a large penalty, so no feature's weight depends
on the others. Smaller penalties (a proper multivariate fit) tracked the training sources more
closely and travelled worse: at lambda = 0.05 / 0.5 / 1.6 (per unit of row weight) the mean gain
over the ten left-out sources was +0.6 / +0.5 / +0.3 points, the worst source -1.2 / -0.5 / -0.6;
this limit: see bench/RESULTS.md. The score is scaled to unit variance on the training prompts,
so a contribution reads in standard deviations of the score.

Calibration: the cloud threshold is the (1 - share) quantile of the training prompts' scores
(each source weighing the same), tier 2 the next band; `quantiles` holds 201 of them. The
probabilities p(tier 1 enough) and p(tier 2 enough) are logistic maps of the score, fitted to
the soft label 1 - max(0, q3 - q_t) on the training rows (routellm rows, with no real tier 1,
only for tier 2).

Deterministic: closed-form weights and a fixed number of Newton steps, inputs in file order, every
float written rounded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "server"))

from hybridlsp.routing.promptfeatures import FEATURES, features  # noqa: E402

__all__ = ["N_QUANTILES", "feature_matrix", "fit", "FEATURE_SET"]

N_QUANTILES = 201
NEWTON_STEPS = 25
FEATURE_SET = "promptfeatures-1"


def feature_matrix(rows) -> np.ndarray:
    return np.array([features(r.prompt) for r in rows], dtype=float).reshape(len(rows), len(FEATURES))


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, k: int) -> list[float]:
    o = np.argsort(x, kind="stable")
    xs, cw = x[o], np.cumsum(w[o])
    cw = (cw - w[o] / 2) / cw[-1]  # mid-points: symmetric, no jump at the ends
    return [float(np.interp(j / (k - 1), cw, xs)) for j in range(k)]


def _platt(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """a, b of p = sigmoid(a * s + b) by weighted logistic regression on a soft label (Newton)."""
    a = b = 0.0
    X = np.stack([s, np.ones_like(s)], 1)
    beta = np.zeros(2)
    for _ in range(NEWTON_STEPS):
        p = 1 / (1 + np.exp(-(X @ beta)))
        g = X.T @ (w * (p - y))
        H = (X * (w * p * (1 - p))[:, None]).T @ X + 1e-9 * np.eye(2)
        beta = beta - np.linalg.solve(H, g)
    a, b = beta
    return float(a), float(b)


def fit(by_source: dict, sources: list[str], matrices: dict | None = None) -> dict:
    """The model's parameters from the rows of `sources` (`by_source[s]`: training/sources.Row)."""
    mats = matrices if matrices is not None else {}
    Xs, Xc, ys, ws, y1, y2, has1 = [], [], [], [], [], [], []
    for s in sources:
        rows = by_source[s]
        X = mats[s] if s in mats else feature_matrix(rows)
        tq = np.array([r.train_q for r in rows], dtype=float)
        y = 1 - tq[:, 2]
        Xs.append(X)
        Xc.append(X - X.mean(0))
        ys.append(y - y.mean())
        ws.append(np.full(len(rows), 1 / len(rows)))
        y1.append(1 - np.clip(tq[:, 2] - tq[:, 0], 0, 1))
        y2.append(1 - np.clip(tq[:, 2] - tq[:, 1], 0, 1))
        has1.append(np.full(len(rows), rows[0].has_tier1))
    X, C, y, w = np.vstack(Xs), np.vstack(Xc), np.concatenate(ys), np.concatenate(ws)
    w = w / w.sum() * len(sources)
    y1, y2, has1 = np.concatenate(y1), np.concatenate(y2), np.concatenate(has1)
    mean = (X * w[:, None]).sum(0) / w.sum()
    sd = np.sqrt((C * C * w[:, None]).sum(0) / w.sum())
    sd = np.where(sd > 1e-9, sd, 1.0)
    Z = C / sd
    beta = (Z * w[:, None]).T @ y / w.sum()
    scores = ((X - mean) / sd) @ beta
    spread = float(np.sqrt((scores - (scores * w).sum() / w.sum()) ** 2 @ w / w.sum()))
    beta, scores = beta / spread, scores / spread
    a1, b1 = _platt(scores[has1], y1[has1], w[has1])
    a2, b2 = _platt(scores, y2, w)
    lengths = np.concatenate([[len(r.prompt) for r in by_source[s]] for s in sources])
    return {
        "feature_set": FEATURE_SET,
        "features": list(FEATURES),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in sd],
        "weights": [round(float(v), 6) for v in beta],
        "quantiles": [round(v, 6) for v in _weighted_quantiles(scores, w, N_QUANTILES)],
        "p_tier1_enough": [round(a1, 6), round(b1, 6)],
        "p_tier2_enough": [round(a2, 6), round(b2, 6)],
        # shorter than the shortest 1 % of training prompts: no data speaks for them
        "min_chars": int(np.percentile(lengths, 1)),
        "trained_on": list(sources),
    }
