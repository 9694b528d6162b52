"""How training/sources.py derives a prompt's quality on each tier, on a small made-up data folder
(the real one is read only by training and benchmarks)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))

from sources import LICENCE_CLEAR, SOURCES, load_sources, training_sources  # noqa: E402

TIERS = {"1": ["small", "an/small-b"], "2": ["mid"], "3": ["big", "big-2"]}


def _data(root: Path) -> Path:
    (root / "routellm" / "mmlu").mkdir(parents=True)
    r = root / "routellm"
    weak, strong = "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
    (r / "mt_bench_questions.jsonl").write_text(json.dumps({"question_id": 1, "turns": ["Hi?", "And?"]}) + "\n")
    (r / "mt_bench_judgements.jsonl").write_text("".join(
        json.dumps({"question_id": 1, "turn": 1, "model": m, "score": s}) + "\n" for m, s in ((weak, 6), (strong, 9))))
    (r / "gsm8k_responses.csv").write_text(f"prompt,{weak},{strong}\n2+2?,True,True\n")
    (r / "mmlu" / "algebra.csv").write_text(f"prompt,{weak},{strong}\nx?,False,True\n")
    o = root / "outcomes"
    o.mkdir()
    (o / "tiers.json").write_text(json.dumps({s: TIERS for s in SOURCES[3:]}))
    rows = [
        # tier 1: mean of the tier's models that scored the row; train_q leaves the an/ model out
        {"id": "a", "prompt": "p1", "models": {"small": 0.0, "an/small-b": 1.0, "mid": 0.5, "big": 1.0, "big-2": 0.5}},
        {"id": "b", "prompt": "p2", "models": {"small": 1.0, "mid": 0.0, "big": 1.0}},  # big-2 missing: skipped
        {"id": "c", "prompt": "p3", "models": {"an/small-b": 1.0, "mid": 1.0, "big": 1.0}},  # only an/ on tier 1
        {"id": "d", "prompt": "p4", "models": {"small": 1.0, "big": 1.0}},  # no tier-2 model: dropped
    ]
    for s in SOURCES[3:]:
        (o / f"{s}.jsonl").write_text("".join(json.dumps({**row, "source": s}) + "\n" for row in rows))
    return root


@pytest.fixture(scope="module")
def by(tmp_path_factory):
    return load_sources(_data(tmp_path_factory.mktemp("routing-data")))


@pytest.mark.parametrize("i, q, train_q", [
    (0, (0.5, 0.5, 0.75), (0.0, 0.5, 0.75)),
    (1, (1.0, 0.0, 1.0), (1.0, 0.0, 1.0)),
    (2, (1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),  # no licence-clear tier-1 model: the an/ one stands in
])
def test_outcome_quality_per_tier(by, i, q, train_q):
    row = by["cruxeval"][i]
    assert row.q == pytest.approx(q) and row.train_q == pytest.approx(train_q) and row.has_tier1


def test_a_row_with_no_model_of_a_tier_is_dropped(by):
    assert [r.id for r in by["intercode_sql"]] == ["a", "b", "c"]


@pytest.mark.parametrize("source, q", [("mt-bench", (0.6, 0.6, 0.9)), ("gsm8k", (1.0, 1.0, 1.0)), ("mmlu", (0.0, 0.0, 1.0))])
def test_routellm_local_tiers_both_score_mixtral(by, source, q):
    (row,) = by[source]
    assert row.q == pytest.approx(q) and not row.has_tier1


@pytest.mark.parametrize("left_out, expected", [
    (None, sorted(LICENCE_CLEAR)),
    ("mmlu", sorted(LICENCE_CLEAR - {"mmlu"})),
    ("alpacaeval", sorted(LICENCE_CLEAR)),
])
def test_training_sources_are_licence_clear_and_exclude_the_left_out(left_out, expected):
    assert sorted(training_sources(left_out)) == expected


def test_alpacaeval_files_share_prompts_so_leave_together():
    everything = training_sources("alpacaeval", licence_clear_only=False)
    assert "alpacaeval" not in everything and "alpacaeval_v1" not in everything
    assert "intercode_sql" in everything
