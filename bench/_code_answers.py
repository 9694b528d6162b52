"""The code signals (`code-parse`, `unknown-names`) on real answers with known truth, for bench 11.

Which answers hold code and a verdict: RouteLLM's MT-Bench judgements quote each judged answer of
Mixtral-8x7B and GPT-4 (160 each: 80 questions, two turns) with the GPT-4 judge's score, 1-10;
"wrong" is a score of 5 or less. Its coding and extraction questions are the answers with fenced
code blocks. No other file has both: RouteLLM's GSM8K answers hold no code block and no name in
backticks, and the `outcomes/` files (HumanEval+, CRUXEval, InterCode) hold per-model scores only,
no answer text.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

__all__ = ["WRONG_AT_MOST", "load_mt_bench", "code_signal_lines", "wilson"]

WRONG_AT_MOST = 5  # judge score out of 10


def _judged_answer(user_prompt: str) -> str:
    """The answer the judge scored: the single answer, or the last turn of the conversation."""
    if "[The Start of Assistant's Answer]" in user_prompt:
        body = user_prompt.split("[The Start of Assistant's Answer]\n", 1)[1]
        return body.rsplit("[The End of Assistant's Answer]", 1)[0].strip()
    conv = user_prompt.split("<|The Start of Assistant A's Conversation with User|>", 1)[1]
    conv = conv.rsplit("<|The End of Assistant A's Conversation with User|>", 1)[0]
    return conv.rsplit("### Assistant A:\n", 1)[1].strip()


def load_mt_bench(root: Path) -> list[dict]:
    """Each judged answer: model, turn, category, score, the answer and the user's turns so far."""
    base = root / "routellm"
    questions = {}
    with (base / "mt_bench_questions.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            questions[q["question_id"]] = q
    out = []
    with (base / "mt_bench_judgements.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            j = json.loads(line)
            q = questions[j["question_id"]]
            out.append({"model": j["model"], "turn": j["turn"], "category": q["category"], "score": float(j["score"]),
                        "answer": _judged_answer(j["user_prompt"]), "question": "\n\n".join(q["turns"][: j["turn"]])})
    return out


def gsm8k_answers(root: Path) -> list[str]:
    """Both models' GSM8K answers (text only)."""
    path = root / "routellm" / "gsm8k_responses.csv"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [v for r in csv.DictReader(fh) for k, v in r.items() if k.endswith("_response")]


def _flags(rows: list[dict]) -> dict[str, list[bool]]:
    """Each signal as an action runs it on these answers (signals.evaluate), and one variant."""
    from hybridlsp.actions import signals as S

    def own_code(r: dict) -> str:
        return r["question"] + "\n" + "\n".join(code for _, code in S.code_blocks(r["answer"]))

    def completion(r: dict) -> bool:
        return any(S.unknown_names(code, own_code(r), language="python", completion=True).low
                   for lang, code in S.code_blocks(r["answer"]) if lang == "python")

    return {
        "code-parse (ask, explain)": [S.code_parse(r["answer"]).low for r in rows],
        "unknown-names in backticks (explain, review); the file = the user's turns":
            [S.unknown_names(r["answer"], r["question"]).low for r in rows],
        "... with the answer's own code blocks counted as the file":
            [S.unknown_names(r["answer"], own_code(r)).low for r in rows],
        "unknown-names of a Python completion (complete), each Python block": [completion(r) for r in rows],
    }


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a proportion k / n (few answers here: the interval says how few)."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def code_signal_lines(root: Path) -> tuple[list[str], dict]:
    """Markdown lines for RESULTS.md, and the figures (for the summary)."""
    from hybridlsp.actions import signals as S

    rows = load_mt_bench(root)
    code = [r for r in rows if S.code_blocks(r["answer"])]
    _flags(code[:1])  # tree-sitter loads its grammars on first use: not a per-answer cost
    t0 = time.perf_counter()
    flags = _flags(code)
    us = (time.perf_counter() - t0) / max(1, len(code)) / len(flags) * 1e6
    wrong = [r["score"] <= WRONG_AT_MOST for r in code]
    langs: dict[str, int] = {}
    for r in code:
        for lang, _ in S.code_blocks(r["answer"]):
            langs[lang or "untagged"] = langs.get(lang or "untagged", 0) + 1
    gsm = gsm8k_answers(root)
    gsm_n, gsm_code, gsm_ticked = len(gsm), sum(bool(S.code_blocks(a)) for a in gsm), sum("`" in a for a in gsm)
    checked = sum(int(S.code_parse(r["answer"]).value or 0) for r in code)
    n_wrong = sum(wrong)
    worst = max((r["score"] for r in code if r["score"] <= WRONG_AT_MOST), default=0.0)
    best = min((r["score"] for r in code if r["score"] > WRONG_AT_MOST), default=10.0)
    lines = [
        f"Code signals on MT-Bench's judged answers: {len(rows)} answers (Mixtral-8x7B and GPT-4, two turns), "
        f"{len(code)} with fenced code ({', '.join(f'{k} {v}' for k, v in sorted(langs.items(), key=lambda kv: -kv[1]))} "
        f"blocks; {checked} of them in a language the parse check reads), {n_wrong} of those {len(code)} wrong "
        f"(judge score <= {WRONG_AT_MOST} of 10; the wrong ones score at most {worst:g}, the others at least {best:g}, "
        f"so any cut from {worst:g} to {best - 1:g} gives the same set); {us:.0f} us an answer a signal. RouteLLM's GSM8K answers (both models, {gsm_n:,}): {gsm_code} hold "
        f"fenced code, {gsm_ticked} a name in backticks, so the code signals {'can' if gsm_code + gsm_ticked else 'cannot'} "
        "fire there; `outcomes/` has no answer text (scores only), so HumanEval+ and CRUXEval answers cannot be checked.",
        "",
        "| signal, as the action runs it | flagged | wrong among flagged (precision) | wrong flagged (recall) |",
        "|---|---:|---:|---:|",
    ]
    figures = {"answers": len(code), "wrong": n_wrong}
    for name, f in flags.items():
        n = sum(f)
        tp = sum(a and b for a, b in zip(f, wrong))
        lo, hi = wilson(tp, n)
        prec = f"{tp / n:.2f} ({tp} of {n}; 95 % {lo:.2f}-{hi:.2f})" if n else "- (none flagged)"
        lines.append(f"| {name} | {n} | {prec} | {tp / max(1, n_wrong):.2f} ({tp} of {n_wrong}) |")
        figures[name] = (n, tp)
    lines.append(f"| (base rate: flag every code answer) | {len(code)} | {n_wrong / max(1, len(code)):.2f} | 1.00 |")
    return lines, figures
