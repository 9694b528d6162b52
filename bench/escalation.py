"""[11] Escalation driven by the answer: which signals predict a wrong local answer, and what a cascade buys.

Real answers with known truth: RouteLLM's GSM8K file holds Mixtral-8x7B's and GPT-4's answer to each
of 1,319 maths questions and whether each is right (Mixtral stands for the local tier, GPT-4 for the
cloud). Each signal of `hybridlsp.actions.signals` reads Mixtral's answer; "precision" is the share
of flagged answers that are wrong, "recall" the share of wrong answers flagged. "No final answer"
stands in for the `unfinished` signal (the file does not say which answers hit a token limit).

Token probabilities: the embedded SmolLM2-135M reads the question and Mixtral's answer (teacher
forced, one llama.cpp thread) and gives each answer token's probability: a probe, since Mixtral's
own log-probabilities are not in the file. Bounded: a seeded sample of wrong and right answers,
stopped at a time budget (HYBRIDLSP_BENCH_PROBE_N, _PROBE_S).

Two samples disagreeing: no file holds two samples of one model's answer; CRUXEval and HumanEval+
hold, per prompt, the share of ~10 sampled answers (T=0.7) that were right for each open model
(`an/`). Drawing the answer and a second sample from them gives the signal's expected precision and
recall exactly when two wrong answers always differ (upper bound) or always agree (lower bound).

Code signals (`code-parse`, `unknown-names`): GSM8K's answers hold no code, so they are measured
on the answers with fenced code among MT-Bench's judged answers (bench/_code_answers.py), "wrong"
being a GPT-4 judge score of 5 or less of 10. Few answers hold code: the intervals say how few.

The cascade: tier 1 answers every question, a flagged answer goes to the cloud. Beside it at the
same cloud share (so the same cloud cost): a random router, the shipped learned prompt-only estimate
(its top share by score to the cloud), and the oracle. Scored on the held-out 20 % split of GSM8K
(questions the learned estimate never saw; still in distribution for it, since it trained on
GSM8K's other questions, so its figure flatters prompt-only routing).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

from ._code_answers import code_signal_lines
from ._common import REPO, Result
from ._routing_data import data_dir, learned_scores, main, not_measured

NUMBER = 11
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
PROBE_N = int(os.environ.get("HYBRIDLSP_BENCH_PROBE_N", "60"))
PROBE_S = float(os.environ.get("HYBRIDLSP_BENCH_PROBE_S", "240"))
SAMPLE_TIER1 = ("an/qwen2.5-coder-7b-instruct", "an/llama-3.1-8B-instruct", "an/qwen2.5-coder-14b-instruct")
TEXT_SIGNALS = ("arithmetic", "hedging", "no final answer")


def load_gsm8k(root: Path) -> list[dict]:
    sys.path.insert(0, str(REPO / "training"))
    from routellm import _text_id, split_of

    with (root / "routellm" / "gsm8k_responses.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{"prompt": r["prompt"], "answer": r[f"{WEAK}_response"], "weak": r[WEAK] == "True",
             "strong": r[STRONG] == "True", "split": split_of("gsm8k", _text_id(r["prompt"]))} for r in rows]


def text_flags(answer: str) -> dict[str, bool]:
    from hybridlsp.actions import signals as S

    return {
        "arithmetic": S.arithmetic(answer).low,
        "hedging": S.hedging(answer).low,
        "no final answer": "####" not in answer,
    }


def prec_rec(flags: list[bool], wrong: list[bool]) -> tuple[int, float, float]:
    tp = sum(f and w for f, w in zip(flags, wrong))
    n = sum(flags)
    return n, (tp / n if n else float("nan")), tp / max(1, sum(wrong))


def auc_interval(scores: list[float], positive: list[bool], resamples: int = 500) -> tuple[float, float]:
    """95 % percentile interval of the AUC, resampling the answers."""
    rng, n, out = random.Random(5), len(scores), []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        a = auc([scores[i] for i in idx], [positive[i] for i in idx])
        if not math.isnan(a):
            out.append(a)
    out.sort()
    return out[int(0.025 * len(out))], out[int(0.975 * len(out)) - 1]


def auc(scores: list[float], positive: list[bool]) -> float:
    """P(a positive scores above a negative), ties half: the rank statistic."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return float("nan")
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


# ---- the probe ---------------------------------------------------------------------------------

def probe_logprobs(rows: list[dict], n: int, budget_s: float) -> tuple[list[dict], float]:
    """SmolLM2's log-probability of each token of Mixtral's answer, for a seeded, balanced sample."""
    import numpy as np
    import llama_cpp

    from hybridlsp.backends.embedded import default_model_path

    path = default_model_path()
    if path is None or n <= 0:
        return [], 0.0
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=1024, n_threads=1, n_threads_batch=1, logits_all=True,
                          verbose=False)
    rng = random.Random(11)
    wrong = [r for r in rows if not r["weak"]]
    right = [r for r in rows if r["weak"]]
    rng.shuffle(wrong)
    rng.shuffle(right)
    sample = [r for pair in zip(wrong[: n // 2], right[: n // 2]) for r in pair]
    out, t0 = [], time.perf_counter()
    for r in sample:
        if time.perf_counter() - t0 > budget_s:
            break
        pre = llm.tokenize(f"<|im_start|>user\n{r['prompt']}<|im_end|>\n<|im_start|>assistant\n".encode(),
                           add_bos=False, special=True)
        ans = llm.tokenize(r["answer"].strip().encode(), add_bos=False, special=False)
        toks = (pre + ans)[:1000]
        ans = toks[len(pre):]
        if not ans:
            continue
        llm.reset()
        llm.eval(toks)
        logits = llm.scores[len(pre) - 1: len(toks) - 1]
        m = logits.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
        lp = logits[np.arange(len(ans)), ans] - lse
        out.append({**r, "mean_lp": float(lp.mean()), "min_lp": float(lp.min())})
    took = time.perf_counter() - t0
    llm.close()
    return out, took


# ---- two samples -------------------------------------------------------------------------------

def _samples(p: float) -> int:
    """How many samples a pass rate was measured on (~9-13 for `an/` models)."""
    for n in (11, 10, 12, 9, 13):
        if abs(p * n - round(p * n)) < 1e-6:
            return n
    return 11


def _pairs(p: float) -> tuple[float, float, float, float]:
    """For an answer and a second sample drawn from n samples, k right: P(wrong, right),
    P(right, wrong), P(both wrong), P(both right)."""
    n = _samples(p)
    k = round(p * n)
    return ((n - k) / n * k / (n - 1), k / n * (n - k) / (n - 1), (n - k) / n * (n - k - 1) / (n - 1),
            k / n * (k - 1) / (n - 1))


def sample_disagreement(root: Path) -> tuple[list[tuple], list[str]]:
    """Rows (file, model, prompts, precision upper, recall lower/upper) of "a second sample
    differs", and the cascade on it beside prompt-only routing (CRUXEval, cloud = gpt-4o)."""
    out, cascade = [], []
    for name in ("cruxeval.jsonl", "humanevalplus.jsonl"):
        path = root / "outcomes" / name
        if not path.is_file():
            continue
        rows = [json.loads(line) for line in path.open(encoding="utf-8")]
        for model in SAMPLE_TIER1:
            have = [r for r in rows if model in r["models"]]
            if not have:
                continue
            wr = rw = ww = aw = 0.0
            for r in have:
                a, b, c, _ = _pairs(r["models"][model])
                wr, rw, ww, aw = wr + a, rw + b, ww + c, aw + a + c
            if wr + rw == 0 or aw == 0:  # every sample agrees on every prompt: nothing to measure
                continue
            out.append((name.split(".")[0], model, len(have), (wr + ww) / (wr + rw + ww), wr / aw, (wr + ww) / aw))
            if name == "cruxeval.jsonl" and model == SAMPLE_TIER1[0]:
                cascade = _sample_cascade(have, model, "gpt-4o")
    return out, cascade


def _sample_cascade(rows: list[dict], model: str, cloud: str) -> list[str]:
    n = len(rows)
    q1 = [r["models"][model] for r in rows]
    q3 = [r["models"][cloud] for r in rows]
    scores = [0.0 if x is None else x for x in learned_scores(r["prompt"] for r in rows)]
    order = sorted(range(n), key=lambda i: -scores[i])
    lines = ["| wrong answers | cloud share | cascade quality | random | learned prompt-only | cascade - prompt-only |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, d in (("always agree", 0.0), ("never agree", 1.0)):
        share = quality = 0.0
        for i in range(n):
            wrong_right, right_wrong, both_wrong, both_right = _pairs(q1[i])
            flagged = wrong_right + right_wrong + d * both_wrong
            share += flagged
            quality += both_right + flagged * q3[i]  # kept answers are right only when both agreed right
        share, quality = share / n, quality / n
        k = round(share * n)
        cloud_set = set(order[:k])
        learned = sum(q3[i] if i in cloud_set else q1[i] for i in range(n)) / n
        rand = (1 - share) * statistics.mean(q1) + share * statistics.mean(q3)
        lines.append(f"| {label} | {share:.1%} | {quality:.3f} | {rand:.3f} | {learned:.3f} | "
                     f"{(quality - learned) * 100:+.1f} pts |")
    lines.append(f"| (all tier 1 / all cloud) | 0 / 100 % | {statistics.mean(q1):.3f} / {statistics.mean(q3):.3f} | "
                 "| | |")
    return lines


# ---- the cascade -------------------------------------------------------------------------------

def cascade_table(test: list[dict], flags: dict[str, list[bool]]) -> tuple[list[str], list[tuple]]:
    scores = [0.0 if x is None else x for x in learned_scores(r["prompt"] for r in test)]
    weak = [float(r["weak"]) for r in test]
    strong = [float(r["strong"]) for r in test]
    n = len(test)
    q1, q3 = statistics.mean(weak), statistics.mean(strong)

    def at_share(order: list[int], k: int) -> float:
        cloud = set(order[:k])
        return sum(strong[i] if i in cloud else weak[i] for i in range(n)) / n

    by_score = sorted(range(n), key=lambda i: -scores[i])
    by_gain = sorted(range(n), key=lambda i: -(strong[i] - weak[i]))
    lines = ["| escalate on | cloud share | cascade quality | random | learned prompt-only | oracle | "
             "cascade - prompt-only |", "|---|---:|---:|---:|---:|---:|---:|"]
    rows = []
    for name, f in flags.items():
        k = sum(f)
        share = k / n
        casc = sum(strong[i] if f[i] else weak[i] for i in range(n)) / n
        rand = (1 - share) * q1 + share * q3
        learned = at_share(by_score, k)
        oracle = at_share(by_gain, k)
        rows.append((name, share, casc, rand, learned, oracle))
        lines.append(f"| {name} | {share:.1%} | {casc:.3f} | {rand:.3f} | {learned:.3f} | {oracle:.3f} | "
                     f"{(casc - learned) * 100:+.1f} pts |")
    lines.append(f"| (all tier 1 / all cloud) | 0 / 100 % | {q1:.3f} / {q3:.3f} | | | | |")
    return lines, rows


def run(argv: list[str] | None = None) -> Result:
    root = data_dir(argv)
    goal = "a signal with precision >= 0.7, and a cascade above prompt-only routing at the same cloud share"
    if not (root / "routellm" / "gsm8k_responses.csv").is_file():
        return not_measured(NUMBER, "escalation signals", goal, root)
    rows = load_gsm8k(root)
    wrong = [not r["weak"] for r in rows]
    t0 = time.perf_counter()
    per = [text_flags(r["answer"]) for r in rows]
    us = (time.perf_counter() - t0) / len(rows) * 1e6
    raw = [f"GSM8K, {len(rows):,} Mixtral-8x7B answers, {sum(wrong):,} wrong ({sum(wrong) / len(rows):.0%}); "
           f"the text signals cost {us:.0f} us an answer together.", "",
           "| signal | flagged | precision (wrong among flagged) | recall (wrong flagged) |", "|---|---:|---:|---:|"]
    best_prec = 0.0
    for name in TEXT_SIGNALS:
        n, p, r = prec_rec([f[name] for f in per], wrong)
        best_prec = max(best_prec, p if n >= 20 else 0.0)
        raw.append(f"| {name} | {n:,} | {p:.2f} | {r:.2f} |")
    anyf = [any(f.values()) for f in per]
    n, p, r = prec_rec(anyf, wrong)
    raw.append(f"| any of them | {n:,} | {p:.2f} | {r:.2f} |")
    raw.append(f"| (base rate: flag everything) | {len(rows):,} | {sum(wrong) / len(rows):.2f} | 1.00 |")

    # the probe
    probed, took = probe_logprobs(rows, PROBE_N, PROBE_S)
    if probed:
        pw = [not r["weak"] for r in probed]
        mean_auc = auc([-r["mean_lp"] for r in probed], pw)
        lo, hi = auc_interval([-r["mean_lp"] for r in probed], pw)
        min_auc = auc([-r["min_lp"] for r in probed], pw)
        med = statistics.median(r["mean_lp"] for r in probed)
        n2, p2, r2 = prec_rec([r["mean_lp"] < med for r in probed], pw)
        raw += ["", f"Token probabilities (SmolLM2 probe reading Mixtral's answer, {len(probed)} answers, half wrong, "
                    f"{took / len(probed):.1f} s each): AUC at predicting a wrong answer, mean token log-probability "
                    f"{mean_auc:.2f} (95 % interval {lo:.2f}..{hi:.2f}), least token {min_auc:.2f} (0.5 = no signal); flagging the lower half by mean: "
                    f"precision {p2:.2f}, recall {r2:.2f} (base rate 0.50)."]
    else:
        mean_auc = float("nan")
        raw += ["", "Token probabilities: not measured (the embedded model is not installed, or "
                    "HYBRIDLSP_BENCH_PROBE_N=0)."]

    # two samples
    dis, sample_lines = sample_disagreement(root)
    if dis:
        raw += ["", "Two samples disagreeing, expected from per-prompt sample pass rates. When two wrong answers "
                    "always agree, precision is 0.50 by symmetry (a right answer beside a wrong sample flags as "
                    "often as the reverse); the figures are for wrong answers that never agree, and recall from "
                    "always to never:", "",
                "| file | tier-1 model | prompts | precision (never agree) | recall |", "|---|---|---:|---:|---:|"]
        raw += [f"| {f} | {m} | {k:,} | {pu:.2f} | {rl:.2f} .. {ru:.2f} |" for f, m, k, pu, rl, ru in dis]
        if sample_lines:
            raw += ["", f"Cascade on the second sample, CRUXEval ({SAMPLE_TIER1[0]} as tier 1, gpt-4o as the cloud; "
                        "the learned estimate never saw CRUXEval):", "", *sample_lines]

    # the code signals, on the answers that hold code
    if (root / "routellm" / "mt_bench_judgements.jsonl").is_file():
        code_lines, _ = code_signal_lines(root)
        raw += ["", *code_lines]

    # the cascade on the held-out split
    test_idx = [i for i, r in enumerate(rows) if r["split"] == "test"]
    test = [rows[i] for i in test_idx]
    flags = {name: [per[i][name] for i in test_idx] for name in TEXT_SIGNALS}
    flags["any text signal"] = [any(per[i].values()) for i in test_idx]
    lines, crows = cascade_table(test, flags)
    raw += ["", f"Cascade on GSM8K's held-out split ({len(test)} questions), quality = share answered right:", "",
            *lines]
    best = max(crows, key=lambda c: c[2] - c[4])
    figure = (f"best precision {best_prec:.2f}; cascade on '{best[0]}' {best[2]:.3f} at {best[1]:.0%} cloud vs "
              f"prompt-only {best[4]:.3f} ({(best[2] - best[4]) * 100:+.1f} pts)")
    met = best_prec >= 0.7 and best[2] > best[4]
    limits = "" if met else "no signal reached precision 0.7, or no cascade beat prompt-only routing at its cloud share"
    return Result(NUMBER, "escalation signals", figure, goal, met, raw=raw, limits=limits)


if __name__ == "__main__":
    sys.exit(main(run))
