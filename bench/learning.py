"""[12] Learning from the user: each source replayed as one user's stream, feedback only for the tier chosen.

Each source of the routing data (the seven `outcomes/` files, tiers from `outcomes/tiers.json`,
and RouteLLM's GSM8K, MMLU and MT-Bench with Mixtral-8x7B as tiers 1 and 2 and GPT-4 as tier 3)
is one user's stream, in a seeded random order. A tier's quality on a prompt is the mean score of
its representative models. For each request the online learner (`hybridlsp.tuning.online`) picks
a tier at target shares (50 % tier 1, 30 % tier 2, 20 % cloud), is told the quality of that tier
only, and learns from it. Its prior is the shipped learned estimate, which was trained on
RouteLLM's three sources (so on those the prior is in distribution) and never saw `outcomes/`.

Gain over random, in points of quality kept (the stream's quality as a share of all-tier-3): over
the first N requests, the learner's quality minus a random router's at the learner's own tier
shares (the share-weighted mean of each tier's quality on those requests). "Cold start" is the
same learner with learning off (the prior alone, at the same shares). Mean over 5 orders of each
stream, with the lowest and highest.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
from pathlib import Path

from ._common import REPO, Result
from ._routing_data import data_dir, learned_scores, main, not_measured

NUMBER = 12
CHECKPOINTS = (100, 300, 1000)
ORDERS = 5
SHARES = (0.5, 0.2)  # tier 1, tier 3 (the cloud); tier 2 the rest
ROUTELLM = ("gsm8k", "mmlu", "mt-bench")


def sources(root: Path) -> dict[str, list[tuple[str, tuple[float, float, float]]]]:
    """source -> [(prompt, (q1, q2, q3))]."""
    out: dict[str, list] = {}
    tiers = json.loads((root / "outcomes" / "tiers.json").read_text(encoding="utf-8"))
    for name, by_tier in sorted(tiers.items()):
        rows = []
        for line in (root / "outcomes" / f"{name}.jsonl").open(encoding="utf-8"):
            r = json.loads(line)
            q = []
            for t in ("1", "2", "3"):
                vals = [r["models"][m] for m in by_tier[t] if m in r["models"]]
                q.append(statistics.mean(vals) if vals else None)
            if None not in q:
                rows.append((r["prompt"], tuple(q)))
        out[name] = rows
    sys.path.insert(0, str(REPO / "training"))
    from routellm import load_rows

    for r in load_rows(root):
        out.setdefault(r.source, []).append((r.prompt, (r.q_weak, r.q_weak, r.q_strong)))
    return out


def priors(prompts: list[str]) -> list[float]:
    """The cold-start gain of the cloud over tier 1: the learned score is 0.5 + E[gain] / 2 (0 where
    it abstains)."""
    return [0.0 if score is None else 2 * score - 1 for score in learned_scores(prompts)]


def source_features(rows: list) -> list:
    from hybridlsp.tuning.online import features

    prompts = [p for p, _ in rows]
    return [features(p, "ask", len(p) // 4, pr) for p, pr in zip(prompts, priors(prompts))]


def replay_source(rows: list, all_xs: list, seed: int, learn: bool) -> dict[int, float]:
    """Gain over random (points) after each checkpoint, for one order of one stream."""
    from hybridlsp.tuning.online import OnlineLearner, Shares, replay

    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    order = order[: max(CHECKPOINTS)]
    stream = [rows[i] for i in order]
    xs = [all_xs[i] for i in order]
    learner = OnlineLearner(shares=Shares(*SHARES), seed=seed)
    got = replay(zip(xs, [q for _, q in stream]), learner, learn=learn)
    out = {}
    for n in CHECKPOINTS:
        if n > len(stream):
            continue
        qs = [q for _, q in stream[:n]]
        mean_q = [statistics.mean(q[t] for q in qs) for t in range(3)]
        if mean_q[2] <= 0:
            continue
        counts = [sum(1 for t, _ in got[:n] if t == k) for k in (1, 2, 3)]
        random_q = sum(c * m for c, m in zip(counts, mean_q)) / n
        ours = sum(g for _, g in got[:n]) / n
        out[n] = (ours - random_q) / mean_q[2] * 100
    return out


def _cell(vals: list[float]) -> str:
    if not vals:
        return "-"
    return f"{statistics.mean(vals):+.1f} ({min(vals):+.1f}..{max(vals):+.1f})"


def run(argv: list[str] | None = None) -> Result:
    root = data_dir(argv)
    goal = ">= +1 point over random after 1,000 requests, and above the cold start (mean of the sources the prior never saw)"
    if not (root / "outcomes" / "tiers.json").is_file():
        return not_measured(NUMBER, "learning from the user", goal, root)
    srcs = sources(root)
    head = " | ".join(f"after {n:,}" for n in CHECKPOINTS)
    raw = [f"| source (rows) | | {head} |", "|---|---|" + "---:|" * len(CHECKPOINTS)]
    means = {True: {n: [] for n in CHECKPOINTS}, False: {n: [] for n in CHECKPOINTS}}
    for name, rows in srcs.items():
        label = f"{name} ({len(rows):,})" + (" (prior trained here)" if name in ROUTELLM else "")
        xs = source_features(rows)
        for learn in (True, False):
            per = [replay_source(rows, xs, seed, learn) for seed in range(ORDERS)]
            cells = []
            for n in CHECKPOINTS:
                vals = [p[n] for p in per if n in p]
                cells.append(_cell(vals))
                if vals and name not in ROUTELLM:
                    means[learn][n].append(statistics.mean(vals))
            raw.append(f"| {label if learn else ''} | {'learning' if learn else 'cold start'} | {' | '.join(cells)} |")
    mean_cells = {learn: [f"{statistics.mean(v):+.1f}" if v else "-" for v in means[learn].values()]
                  for learn in (True, False)}
    raw.append(f"| mean of the outcomes/ sources that long | learning | {' | '.join(mean_cells[True])} |")
    raw.append(f"| | cold start | {' | '.join(mean_cells[False])} |")
    raw.append("")
    raw.append("Points of quality kept over a random router at the same tier shares; mean (lowest..highest) "
               f"of {ORDERS} orders; '-' where the source has fewer requests. The mean counts only sources the "
               "prior never saw.")
    last = max(n for n in CHECKPOINTS if means[True][n])
    gain, cold = statistics.mean(means[True][last]), statistics.mean(means[False][last])
    figure = f"{gain:+.1f} pts over random after {last:,} requests (cold start {cold:+.1f})"
    met = gain >= 1.0 and gain > cold
    limits = "" if met else (
        f"after {last:,} requests the learner keeps {gain:+.1f} points over random, the cold start {cold:+.1f}: a "
        "user's outcomes of the tier tried (one tier's result per request, nothing about the others) over the "
        "features that travel (size, action, words of the head) do not separate the prompts a bigger tier "
        "rescues from those it does not, within 1,000 requests\n"
        "the learning is bounded, so it stays near the prior: on GSM8K and MMLU, where the prior is in "
        "distribution, it keeps most of the prior's gain rather than unlearning it")
    return Result(NUMBER, "learning from the user", figure, goal, met, raw=raw, limits=limits)


if __name__ == "__main__":
    sys.exit(main(run))
