"""Features of a prompt that mean the same whatever it is about, for the cold-start estimate.

Each is a number computed from the text alone (and the action): its size, how much of it is code
and which language, constraints, examples, maths, the form of the question, the size of answer it
asks for. None names a topic or a benchmark's template, so that a model fitted on some sources of
prompts has a chance to rank prompts from another: within one source every prompt shares the
topic, and a router gains over a random one only by ranking prompts within their source.

`FEATURES` is the ordered list of names; `features(text, action)` returns the values in that order.
Pure Python, ~120 us p50 (~450 us p99) on prompts of the ten training and evaluation sources
(bench/eval_routing.py); it reads at most `READ_CHARS`.
"""

from __future__ import annotations

import math
import re

__all__ = ["FEATURES", "READ_CHARS", "features"]

READ_CHARS = 1500  # the task is stated early; beyond this a paste adds size, not new kinds of evidence

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_NUMBER = re.compile(r"(?<![A-Za-z_])\d+(?:[.,]\d+)?")
_CHOICE = re.compile(r"(?m)^\s*\(?[A-Ea-e][).:]\s")
_CODE_LINE = re.compile(r"[;{}]\s*$|^\s*(def|class|return|import|from|for|while|if|elif|else|SELECT|FROM|WHERE)\b"
                        r"|^\s*[#@]|=>|->|==|\w\([^()\n]{0,80}\)|^\s{4}|^\t")
_LATEX = re.compile(r"\\(frac|sqrt|sum|int|cdot|times|le|ge|alpha|beta|pi)\b|\$[^$\n]+\$")
_ASKED_COUNT = re.compile(r"\d\s+(?:words|sentences|paragraphs|lines|items|bullet)")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_MATH_OP = re.compile(r"\d\s*[-+*/^×÷=<>]\s*\d|%")

# word lists (lower case); one hit each is counted
_WH = frozenset("what why how which who whom whose when where is are does do can could should would will".split())
_MAKE = frozenset("write create generate compose draft design implement build make develop code construct".split())
_EXPLAIN = frozenset("explain describe discuss elaborate analyze analyse evaluate compare contrast".split())
_SOLVE = frozenset("find calculate compute solve determine evaluate prove derive simplify estimate".split())
_EDIT = frozenset("rewrite rephrase edit translate summarize summarise paraphrase correct fix convert "
                  "format shorten".split())
_LIST = frozenset("list name give suggest provide recommend enumerate identify".split())
_CONSTRAINT = frozenset("must should exactly least most only without ensure avoid never each every all "
                        "include including require required limit maximum minimum unless except "
                        "format".split())
_NEGATION = frozenset("not no don't doesn't never none neither nor cannot can't without".split())
_EXAMPLE = frozenset("example examples e.g instance sample such".split())
_MATHS = frozenset("sum total product average mean median probability percent percentage ratio equation "
                   "integer integers prime digit digits number numbers divisible remainder multiply divide "
                   "area volume angle triangle circle square root function derivative integral matrix "
                   "vector solve value values many much cost costs price".split())
_LONG_OUT = frozenset("essay story poem article blog letter speech report paragraphs detailed comprehensive "
                      "thorough outline plan script dialogue".split())
_SHORT_OUT = frozenset("briefly brief short single concise one-word only answer".split())
_ROLE = frozenset("pretend imagine roleplay role act persona".split())
_STEPS = frozenset("step steps then first second finally after before next".split())
_LANGS = {
    "python": ("def ", "import ", "print(", "self", ".py", "python"),
    "sql": ("select ", " from ", " where ", "join ", "sql", "table"),
    "shell": ("bash", "grep", "$ ", "sudo ", "ls ", "find ", "awk", "sed "),
    "c_like": ("#include", "int main", "std::", "public static", "function ", "const ", "=>", "console."),
}

_ACTIONS = ("ask", "explain", "review", "commit-message", "complete")

FEATURES: tuple[str, ...] = (
    "log_chars", "log_words", "log_lines", "log_sentences", "mean_word_len", "distinct_word_ratio",
    "code_fence", "code_line_share", "symbol_share", "indent_depth",
    *(f"lang_{k}" for k in _LANGS),
    "digit_share", "log_numbers", "math_ops", "latex", "maths_words",
    "question_marks", "starts_wh", "ends_question", "multiple_choice",
    "verb_make", "verb_explain", "verb_solve", "verb_edit", "verb_list",
    "constraints", "negations", "examples", "io_examples", "steps",
    "asks_long", "asks_short", "asks_word_count", "roleplay", "quotes", "turns",
    *(f"action_{a}" for a in _ACTIONS),
)

_SYMBOLS = "{}[]()<>=;:_*/\\|&^%$#@~`+-"  # counted one str.count each, in C (str.translate is slow off ASCII)
_DIGITS = "0123456789"


def _count(words: list[str], vocab: frozenset[str]) -> int:
    return sum(1 for w in words if w in vocab)


def features(text: str, action: str = "ask") -> list[float]:
    """The values of `FEATURES` for one prompt, in that order."""
    size = len(text)
    t = text[:READ_CHARS]
    low = t.lower()
    words = [w.lower() for w in _WORD.findall(t)]
    nw = len(words) or 1
    lines = t.split("\n")
    nonblank = [ln for ln in lines if ln.strip()] or [""]
    first = words[0] if words else ""
    head = words[:12]
    n_chars = len(t) or 1
    code_lines = sum(1 for ln in nonblank if _CODE_LINE.search(ln))
    indent = max((len(ln) - len(ln.lstrip(" \t")) for ln in nonblank), default=0)
    stripped = t.rstrip()
    sentences = len(_SENTENCE_END.findall(t)) + 1
    verb = set(head[:3])
    return [
        math.log1p(size),
        math.log1p(len(words) * size / n_chars),
        math.log1p(text.count("\n", 0, 100_000)),
        math.log1p(sentences),
        sum(map(len, words)) / nw,
        len(set(words)) / nw,
        1.0 if "```" in t else 0.0,
        code_lines / len(nonblank),
        sum(map(t.count, _SYMBOLS)) / n_chars,
        math.log1p(indent),
        *(1.0 if any(k in low for k in keys) else 0.0 for keys in _LANGS.values()),
        sum(map(t.count, _DIGITS)) / n_chars,
        math.log1p(len(_NUMBER.findall(t))),
        math.log1p(len(_MATH_OP.findall(t))),
        1.0 if ("\\" in t or "$" in t) and _LATEX.search(t) else 0.0,
        math.log1p(_count(words, _MATHS)),
        math.log1p(t.count("?")),
        1.0 if first in _WH else 0.0,
        1.0 if stripped.endswith("?") else 0.0,
        1.0 if len(_CHOICE.findall(t)) >= 2 else 0.0,
        1.0 if verb & _MAKE else 0.0,
        1.0 if verb & _EXPLAIN else 0.0,
        1.0 if verb & _SOLVE else 0.0,
        1.0 if verb & _EDIT else 0.0,
        1.0 if verb & _LIST else 0.0,
        math.log1p(_count(words, _CONSTRAINT)),
        math.log1p(_count(words, _NEGATION)),
        math.log1p(_count(words, _EXAMPLE)),
        math.log1p(t.count(">>>") + low.count("input:") + low.count("output:")),
        math.log1p(_count(words, _STEPS)),
        1.0 if _count(words, _LONG_OUT) else 0.0,
        1.0 if _count(words, _SHORT_OUT) else 0.0,
        1.0 if _ASKED_COUNT.search(low) else 0.0,
        1.0 if _count(head, _ROLE) or "you are" in low[:200] else 0.0,
        math.log1p(t.count('"') // 2 + t.count("`") // 2),
        math.log1p(t.count("\n\n")),
        *(1.0 if action == a else 0.0 for a in _ACTIONS),
    ]
