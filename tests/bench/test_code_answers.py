"""bench/_code_answers.py on a made-up MT-Bench folder: which answer the judge scored, and the
precision and recall table of the code signals (the real folder is read only by the benchmark)."""

import json

import pytest

from bench._code_answers import code_signal_lines, load_mt_bench, wilson

GOOD = "Here:\n```python\ndef f(x):\n    return x + 1\n```\nCall `f`."
BROKEN = "Here:\n```python\ndef f(x)\n    return x + 1\n```"
SINGLE = ("[Instruction]\nJudge it.\n\n[Question]\n{q}\n\n[The Start of Assistant's Answer]\n{a}\n"
          "[The End of Assistant's Answer]")
MULTI = ("<|The Start of Assistant A's Conversation with User|>\n\n### User:\n{q}\n\n### Assistant A:\nfirst answer"
         "\n\n### User:\nAnd?\n\n### Assistant A:\n{a}\n\n<|The End of Assistant A's Conversation with User|>")


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "routellm"
    r.mkdir()
    (r / "mt_bench_questions.jsonl").write_text(
        json.dumps({"question_id": 1, "category": "coding", "turns": ["Write f.", "And?"]}) + "\n")
    judged = [(1, GOOD, 9), (2, BROKEN, 2), (1, "No code.", 3)]
    (r / "mt_bench_judgements.jsonl").write_text("".join(
        json.dumps({"question_id": 1, "model": f"m{i}", "turn": turn, "score": score,
                    "user_prompt": (SINGLE if turn == 1 else MULTI).format(q="Write f.", a=answer)}) + "\n"
        for i, (turn, answer, score) in enumerate(judged)))
    return tmp_path


def test_the_judged_answer_is_the_last_turn(root):
    rows = load_mt_bench(root)
    assert [r["answer"] for r in rows] == [GOOD, BROKEN, "No code."]
    assert rows[1]["question"] == "Write f.\n\nAnd?"


def test_table_counts_code_answers_only(root):
    lines, figures = code_signal_lines(root)
    assert figures["answers"] == 2 and figures["wrong"] == 1
    assert figures["code-parse (ask, explain)"] == (1, 1)  # the broken block, and it was judged wrong
    row = next(line for line in lines if line.startswith("| code-parse"))
    assert "1.00 (1 of 1;" in row and "| 1.00 (1 of 1) |" in row


@pytest.mark.parametrize("k, n, lo, hi", [(0, 10, 0.0, 0.28), (5, 10, 0.24, 0.76), (10, 10, 0.72, 1.0)])
def test_wilson(k, n, lo, hi):
    a, b = wilson(k, n)
    assert a == pytest.approx(lo, abs=0.01) and b == pytest.approx(hi, abs=0.01)
