"""RouteLLM's per-prompt outcomes (../shared/routing-data/routellm) as rows, and the split.

Each row is one prompt with the quality of the weak model's answer (Mixtral-8x7B-Instruct) and of
the strong one's (gpt-4-1106-preview), both 0..1: correctness for GSM8K and MMLU, the GPT-4
judge's score / 10 for MT-Bench. MT-Bench's second turn is routed on both user turns, since a
router sees the conversation so far.

The split is by question (a hash of the source and the question's id, or its text), so the two
turns of an MT-Bench question, and an MMLU question listed under two subjects, never straddle it:
20 % is held out as "test" for bench/routing_quality.py; the rest ("train") is cut the same way
into 5 folds for cross-validation and calibration.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Row", "load_rows", "split_of", "fold_of", "WEAK", "STRONG", "FOLDS"]

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"

FOLDS = 5


@dataclass(frozen=True)
class Row:
    id: str
    source: str  # mmlu | gsm8k | mt-bench
    group: str  # the question the split keys on
    prompt: str
    q_weak: float
    q_strong: float

    @property
    def split(self) -> str:
        return split_of(self.source, self.group)

    @property
    def fold(self) -> int:
        return fold_of(self.source, self.group)


def _bucket(salt: str, source: str, group: str, n: int) -> int:
    h = hashlib.sha256(f"{salt}{source}\0{group}".encode()).digest()
    return int.from_bytes(h[:4], "big") % n


def split_of(source: str, group: str) -> str:
    """"test" for 2 of 10 hash buckets (the held-out questions), else "train"."""
    return "test" if _bucket("", source, group, 10) < 2 else "train"


def fold_of(source: str, group: str) -> int:
    """Cross-validation fold (0..4) of a training question; independent of the split's hash."""
    return _bucket("fold\0", source, group, FOLDS)


def _truth(value: str) -> float:
    if value not in ("True", "False"):
        raise ValueError(f"expected True or False, got {value!r}")
    return 1.0 if value == "True" else 0.0


def _text_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _csv_rows(path: Path, source: str, prefix: str) -> list[Row]:
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        for n, r in enumerate(csv.DictReader(fh)):
            prompt = r["prompt"]
            out.append(Row(f"{prefix}-{n}", source, _text_id(prompt), prompt, _truth(r[WEAK]), _truth(r[STRONG])))
    return out


def _mt_bench(root: Path) -> list[Row]:
    questions = {}
    with (root / "mt_bench_questions.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            questions[q["question_id"]] = q["turns"]
    scores: dict[tuple[int, int], dict[str, float]] = {}
    with (root / "mt_bench_judgements.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            j = json.loads(line)
            scores.setdefault((j["question_id"], j["turn"]), {})[j["model"]] = float(j["score"])
    out = []
    for (qid, turn), s in sorted(scores.items()):
        if WEAK not in s or STRONG not in s:
            continue
        prompt = "\n\n".join(questions[qid][:turn])
        out.append(Row(f"mt-bench-{qid}-{turn}", "mt-bench", str(qid), prompt, s[WEAK] / 10, s[STRONG] / 10))
    return out


def load_rows(data_dir: str | Path) -> list[Row]:
    """Every row, in a fixed order (sources, then files by name, then file order)."""
    root = Path(data_dir) / "routellm"
    if not root.is_dir():
        raise FileNotFoundError(f"no RouteLLM data at {root}: pass the routing-data folder")
    rows = _mt_bench(root)
    rows += _csv_rows(root / "gsm8k_responses.csv", "gsm8k", "gsm8k")
    for path in sorted((root / "mmlu").glob("*.csv")):
        rows += _csv_rows(path, "mmlu", path.stem)
    return rows
