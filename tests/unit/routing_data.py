"""A small made-up routing-data folder, laid out as the real one (routellm/ and outcomes/), for the
tests of the training scripts. Unit tests never read the real folder; only training does."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
OUTCOMES = ("alpacaeval", "alpacaeval_v1", "cruxeval", "humanevalplus", "intercode_bash", "intercode_sql",
            "routerbench_arc_winogrande")
TIERS = {"1": ["small", "an/small-b"], "2": ["mid"], "3": ["big"]}
WORDS = ("list", "sort", "prove", "file", "the", "sum", "graph", "parse", "why", "cache", "merge", "tree",
         "count", "SELECT", "bash", "def", "return", "9", "17", "x")


def _prompt(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randrange(8, 60))]
    if rng.random() < 0.3:
        words.append("\n```python\ndef f(x):\n    return x\n```")
    return f"{n}: " + " ".join(words) + ("?" if rng.random() < 0.5 else ".")


def _hard(prompt: str) -> bool:
    # a rule a model can partly learn: long prompts that ask to prove are hard for small models
    return "prove" in prompt and len(prompt) > 120


def write(root: Path, rows_per_source: int = 40, seed: int = 7) -> Path:
    """Write the folder under `root` and return it; the same bytes for the same arguments."""
    rng = random.Random(seed)
    r = root / "routellm"
    (r / "mmlu").mkdir(parents=True)
    questions, judgements = [], []
    for qid in range(1, rows_per_source // 2 + 1):
        turns = [_prompt(rng, qid), _prompt(rng, qid + 1000)]
        questions.append({"question_id": qid, "turns": turns})
        for turn in (1, 2):
            hard = _hard(" ".join(turns[:turn]))
            judgements += [{"question_id": qid, "turn": turn, "model": WEAK, "score": 3 if hard else 8},
                           {"question_id": qid, "turn": turn, "model": STRONG, "score": 9}]
    (r / "mt_bench_questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (r / "mt_bench_judgements.jsonl").write_text("".join(json.dumps(j) + "\n" for j in judgements))
    for path in (r / "gsm8k_responses.csv", r / "mmlu" / "algebra.csv", r / "mmlu" / "biology.csv"):
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["prompt", WEAK, STRONG])
            for n in range(rows_per_source):
                p = _prompt(rng, n)
                w.writerow([p, str(not _hard(p) and rng.random() < 0.8), str(rng.random() < 0.9)])
    o = root / "outcomes"
    o.mkdir()
    (o / "tiers.json").write_text(json.dumps({s: TIERS for s in OUTCOMES}))
    for s in OUTCOMES:
        lines = []
        for n in range(rows_per_source):
            p = _prompt(rng, n)
            hard = _hard(p)
            models = {"small": 0.0 if hard else round(rng.random(), 2), "an/small-b": round(rng.random(), 2),
                      "mid": 0.3 if hard else 0.8, "big": round(0.6 + 0.4 * rng.random(), 2)}
            lines.append(json.dumps({"id": f"{s}/{n}", "source": s, "prompt": p, "models": models}) + "\n")
        (o / f"{s}.jsonl").write_text("".join(lines))
    return root
