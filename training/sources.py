"""Every source of ../shared/routing-data as rows with a quality per tier, for leave-one-source-out.

Ten sources: RouteLLM's MT-Bench, GSM8K and MMLU (training/routellm.py) and the seven files of
`outcomes/`. A row's quality on tier t is derived as follows (bench/RESULTS.md repeats it):

- outcomes/: the mean score, over the models `outcomes/tiers.json` names for tier t in that
  file, of those that have a score for the row (scores are 0..1, higher better, comparable only
  within a file). A row with no scored model for some tier is dropped (none is, in this data).
- routellm/: only two models are scored, Mixtral-8x7B (47B: the tier-2 class) and
  gpt-4-1106-preview (tier 3). Tiers 1 and 2 both get Mixtral's quality, as `eval-routing` does
  for two values, so on these three sources only the cloud share can gain or lose.

`licence_clear`: the sources whose prompts and outcomes come from files under a permissive licence
(MIT / Apache-2.0) as outcomes/README.md states them; the shipped weights train on these only.
AlpacaEval (said to be CC BY-NC), Spider (intercode_sql, CC BY-SA) and RouterBench's rows (taken
from RouterDC, which states no licence) are for evaluation only. In the licence-clear code files
the `an/` models' scores (all-the-noises, no licence stated) are left out of the training labels
(`train_quality`); every tier keeps models from eval-arena (MIT) there.

`shares_prompts`: AlpacaEval's two files hold the same 802 prompts, so when one is left out the
other leaves the training set too; otherwise its prompts would be seen in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from routellm import load_rows as load_routellm

__all__ = ["SOURCES", "LICENCE_CLEAR", "SHARES_PROMPTS", "Row", "load_sources", "training_sources"]

ROUTELLM = ("mt-bench", "gsm8k", "mmlu")
OUTCOMES = ("alpacaeval", "alpacaeval_v1", "cruxeval", "humanevalplus", "intercode_bash", "intercode_sql",
            "routerbench_arc_winogrande")
SOURCES = ROUTELLM + OUTCOMES
LICENCE_CLEAR = frozenset({"mt-bench", "gsm8k", "mmlu", "cruxeval", "humanevalplus", "intercode_bash"})
SHARES_PROMPTS = {"alpacaeval": "alpacaeval_v1", "alpacaeval_v1": "alpacaeval"}
UNCLEAR_MODEL_PREFIX = "an/"


@dataclass(frozen=True)
class Row:
    id: str
    source: str
    prompt: str
    q: tuple[float, float, float]  # quality of tier 1, 2, 3 (evaluation)
    train_q: tuple[float, float, float]  # the same from licence-clear scores only (training labels)
    has_tier1: bool = True  # False where tier 1 only copies tier 2 (routellm)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _outcome_rows(path: Path, source: str, tiers: dict[str, list[str]]) -> list[Row]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            m = r["models"]
            q, tq = [], []
            for t in ("1", "2", "3"):
                scored = [m[name] for name in tiers[t] if name in m]
                clear = [m[name] for name in tiers[t] if name in m and not name.startswith(UNCLEAR_MODEL_PREFIX)]
                q.append(_mean(scored))
                tq.append(_mean(clear) if clear else _mean(scored))
            if None in q:
                continue
            out.append(Row(r["id"], source, r["prompt"], tuple(q), tuple(tq)))
    return out


def load_sources(data_dir: str | Path) -> dict[str, list[Row]]:
    """Source name -> its rows, in file order."""
    data_dir = Path(data_dir)
    by: dict[str, list[Row]] = {s: [] for s in SOURCES}
    for r in load_routellm(data_dir):
        q = (r.q_weak, r.q_weak, r.q_strong)
        by[r.source].append(Row(r.id, r.source, r.prompt, q, q, has_tier1=False))
    tiers = json.loads((data_dir / "outcomes" / "tiers.json").read_text(encoding="utf-8"))
    for s in OUTCOMES:
        by[s] = _outcome_rows(data_dir / "outcomes" / f"{s}.jsonl", s, tiers[s])
    return by


def training_sources(left_out: str | None, licence_clear_only: bool = True) -> list[str]:
    """The sources a model may train on when `left_out` is measured (None: the shipped model)."""
    gone = {left_out, SHARES_PROMPTS.get(left_out)}
    return [s for s in SOURCES if s not in gone and (not licence_clear_only or s in LICENCE_CLEAR)]
