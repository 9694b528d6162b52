"""Held-out routing quality, in distribution: the learned estimate vs the keyword rules vs random.

In distribution: the test split holds other questions of the three sources the learned model
trained on, so this measures how well it learned them, not how it routes a new kind of prompt.
Out of source, one source left out at a time: bench/eval_routing.py (`make eval-routing`).

    .venv/bin/python bench/routing_quality.py [DATA_DIR] [--jsonl OUT] [--svg OUT]

Reads RouteLLM's outcomes (default ../shared/routing-data), keeps the test split (20 % of the
questions, never seen in training or calibration; training/routellm.py), converts it to the
`hybridlsp eval-routing` format (q = [q_weak, q_strong]: Mixtral-8x7B as the local tiers,
GPT-4 as the cloud tier) and scores each router with the same code as that command.

"Recovered at 20 %": the share of the weak-to-strong quality gap recovered when the router's top
20 % of prompts go to the strong model (a random router recovers 20 %). "As routed": the policy
with routing.cloud_share_target = 0.2, to check that the calibration holds on unseen prompts.
The random column is measured too: the mean of RANDOM_ORDERS random orders of the same prompts.
Also times the estimates, against counting the prompt's tokens.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "training"))

from routellm import load_rows  # noqa: E402

from hybridlsp.config import settings_from_mapping  # noqa: E402
from hybridlsp.context.tokens import count_tokens, count_tokens_many, counts_and_heads  # noqa: E402
from hybridlsp.evaluation.routing import (  # noqa: E402
    EvalRow,
    rank_key,
    recovery_curve,
    render_svg,
    report_from_routed,
    route_rows,
)
from hybridlsp.routing import get_estimator  # noqa: E402
from hybridlsp.routing.learned import HEAD_TOKENS  # noqa: E402

SHARE = 0.2
RESAMPLES = 1000
RANDOM_ORDERS = 200  # random routers averaged for the random column


def bootstrap_at_share(routed, resamples: int = RESAMPLES, seed: int = 7) -> tuple[float, float]:
    """95 % percentile interval of the gap recovered at SHARE, resampling the test prompts."""
    keys = [rank_key(r) for r in routed]
    weak = [r.row.quality(1) for r in routed]
    strong = [r.row.quality(3) for r in routed]
    rng, n, out = random.Random(seed), len(routed), []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        try:
            out.append(recovery_curve([keys[i] for i in idx], [weak[i] for i in idx], [strong[i] for i in idx]).at(SHARE))
        except ValueError:  # a resample with no gap between the tiers
            continue
    out.sort()
    return out[int(0.025 * len(out))], out[int(0.975 * len(out)) - 1]


def random_router(routed, orders: int = RANDOM_ORDERS, seed: int = 11) -> tuple[float, float]:
    """A random router on the same prompts: the mean, over `orders` random orders of them, of the gap
    recovered at SHARE and of the APGR."""
    weak = [r.row.quality(1) for r in routed]
    strong = [r.row.quality(3) for r in routed]
    rng, at, area = random.Random(seed), [], []
    for _ in range(orders):
        c = recovery_curve([rng.random() for _ in routed], weak, strong)
        at.append(c.at(SHARE))
        area.append(c.apgr)
    return sum(at) / orders, sum(area) / orders


def test_rows(data_dir: Path) -> tuple[list[EvalRow], list[str]]:
    rows = [r for r in load_rows(data_dir) if r.split == "test"]
    return [EvalRow(r.id, r.prompt, (r.q_weak, r.q_strong)) for r in rows], [r.source for r in rows]


def _settings(difficulty: str):
    return settings_from_mapping({"routing": {"difficulty": difficulty, "cloud_share_target": SHARE}})


def _us_per_call(fn, items, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t)
    return best / len(items) * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "routing-data"))
    p.add_argument("--jsonl", metavar="OUT", help="also write the test split as eval-routing JSONL")
    p.add_argument("--svg", metavar="OUT", help="also write the learned router's curve as SVG")
    args = p.parse_args(argv)

    rows, sources = test_rows(Path(args.data_dir))
    if args.jsonl:
        with open(args.jsonl, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps({"id": r.id, "prompt": r.prompt, "q": list(r.q)}) + "\n")
    tokens = count_tokens_many([r.prompt for r in rows])
    rows = [EvalRow(r.id, r.prompt, r.q, r.action, n) for r, n in zip(rows, tokens)]

    reports = {}
    for name in ("learned", "keywords"):
        s = _settings(name)
        reports[name] = (s, route_rows(rows, s))
    by_source = sorted(set(sources))
    learned_all = report_from_routed(reports["learned"][1], reports["learned"][0])
    print(f"test split: {len(rows):,} prompts ({', '.join(f'{s} {sources.count(s):,}' for s in by_source)})")
    print(f"mean quality: weak {learned_all.quality_all_weak:.4f}, strong {learned_all.quality_all_cloud:.4f}\n")

    head = f"{'':26}{'learned':>10}{'keywords':>10}{'random':>10}"
    print("recovered quality gap at a 20 % cloud share (share of strong calls), and APGR")
    print(head)
    for subset in ["all", *by_source]:
        cells_at, cells_apgr = [], []
        for name in ("learned", "keywords"):
            s, routed = reports[name]
            part = [r for r, src in zip(routed, sources) if subset in ("all", src)]
            c = report_from_routed(part, s).curve
            cells_at.append(c.at(SHARE))
            cells_apgr.append(c.apgr)
        n = sum(1 for src in sources if subset in ("all", src))
        label = f"{subset} ({n:,})"
        rand_at, rand_apgr = random_router([r for r, src in zip(reports["learned"][1], sources) if subset in ("all", src)])
        print(f"{label + ' at 20 %':26}" + "".join(f"{x:10.3f}" for x in cells_at) + f"{rand_at:10.3f}"
              + f"   learned/random {cells_at[0] / rand_at:.2f}x")
        print(f"{label + ' APGR':26}" + "".join(f"{x:10.3f}" for x in cells_apgr) + f"{rand_apgr:10.3f}")
    c_all = learned_all.curve
    lo, hi = bootstrap_at_share(reports["learned"][1])
    rand_all, _ = random_router(reports["learned"][1])
    print(f"\nlearned at 20 %, 95 % bootstrap interval over the test prompts ({RESAMPLES:,} resamples): "
          f"{lo:.3f}-{hi:.3f} ({lo / rand_all:.2f}x-{hi / rand_all:.2f}x random)")
    print(f"random: the mean of {RANDOM_ORDERS} random orders of the same prompts")
    print("\nlearned, CPT(50/80/95 %): " + ", ".join(f"{c_all.cpt(lv):.1%}" for lv in (0.5, 0.8, 0.95)))

    print("\nas routed by the policy (routing.cloud_share_target = 0.2)")
    print(f"{'':26}{'cloud share':>12}{'kept':>9}{'random kept':>13}{'tier 1/2/3':>18}")
    for name in ("learned", "keywords"):
        s, routed = reports[name]
        rep = report_from_routed(routed, s)
        tiers = "/".join(f"{rep.tier_shares[t]:.0%}" for t in (1, 2, 3))
        print(f"{name:26}{rep.cloud_share:12.1%}{rep.kept:9.2%}{rep.kept_random:13.2%}{tiers:>18}")

    if args.svg:
        Path(args.svg).write_text(render_svg(c_all, "Learned router, held-out RouteLLM prompts", SHARE))
        print(f"\nwrote {args.svg}")

    # ---- speed ----
    texts = [r.prompt for r in rows[:2000]]
    learned = get_estimator(reports["learned"][0])
    keywords = get_estimator(reports["keywords"][0])
    count_tokens(texts[0])  # load the tokenizer outside the timing
    _, heads = counts_and_heads(texts, HEAD_TOKENS)
    pairs = list(zip(texts, heads))
    est_ids = _us_per_call(lambda th: learned.estimate(th[0], "ask", th[1]), pairs)
    est_text = _us_per_call(lambda t: learned.estimate(t, "ask"), texts)
    est_k = _us_per_call(lambda t: keywords.estimate(t, "ask"), texts)
    tok = _us_per_call(count_tokens, texts)
    print(f"\nper prompt on {len(texts):,} test prompts (mean {sum(map(len, texts)) / len(texts):,.0f} chars), best of 3:")
    print(f"  learned estimate, from the count's token ids   {est_ids:8.1f} us")
    print(f"  learned estimate, encoding the head itself     {est_text:8.1f} us")
    print(f"  keyword estimate                               {est_k:8.1f} us")
    print(f"  count_tokens                                   {tok:8.1f} us")
    print("  the whole `route --jsonl` path against counting: python -m bench.route_jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
