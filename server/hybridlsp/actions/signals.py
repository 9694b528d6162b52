"""Signals that a local answer is bad, read from the answer itself: when to escalate.

The action's own check (`validate`) rejects answers that are unusable; a signal flags an answer
that passed it and is still likely wrong, so the dispatcher can try the next tier while keeping
this answer as a fallback. Each signal is a pure function of the answer (and what the request
knew): no model, no I/O.

    signal              actions                what it reads
    arithmetic          ask, explain           "a op b = c" claims (and GSM8K-style <<a*b=c>>) that do not hold
    unfinished          all                    the answer stopped at its token budget
    hedging             ask                    the answer corrects or doubts itself ("however, actually ...")
    code-parse          ask, explain           a fenced code block that does not parse (tree-sitter; compile() for Python)
    unknown-names       complete, explain,     identifiers the answer uses or cites that the file never
                        review                 defines or mentions (builtins, imports and keywords excepted)
    token-confidence    all (with logprobs)    mean or minimum token probability below a floor
    samples-disagree    all (opt-in)           a second cheap sample gives a different answer

What each one is worth is measured, not assumed: `python -m bench.escalation` gives each
signal's precision and recall at predicting a wrong answer on real answers with known truth.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import math
import operator
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Signal",
    "Thresholds",
    "arithmetic",
    "unfinished",
    "hedging",
    "code_parse",
    "unknown_names",
    "token_confidence",
    "samples_disagree",
    "final_answer",
    "evaluate",
    "first_low",
    "assess",
    "SIGNALS",
]

SIGNALS = ("arithmetic", "unfinished", "hedging", "code-parse", "unknown-names", "token-confidence",
           "samples-disagree")


@dataclass(frozen=True)
class Signal:
    name: str  # one of SIGNALS
    low: bool  # True: this signal says the answer is likely wrong
    value: float | None = None  # what it measured (count, probability), when it has a number
    detail: str = ""

    @property
    def tag(self) -> str:
        """What the ledger records for an escalation: the signal's name."""
        return self.name


@dataclass(frozen=True)
class Thresholds:
    # Token probabilities: geometric mean over the answer, and the least likely token.
    mean_prob_floor: float = 0.55
    min_prob_floor: float = 0.0  # 0 = the minimum alone never flags (it is noisy on long answers)
    # Two samples agree when their final answers match, else when this share of their words do.
    agree_jaccard: float = 0.5


# ---- arithmetic -------------------------------------------------------------------------------

# A claim is "<expression> = <number>": found from each "=" by scanning back over the characters
# an expression can hold (linear; a regex of nested operand/operator groups backtracked ~100 ms an
# answer), and forward over one number that does not start another expression.
_EXPR_CHARS = frozenset("0123456789.,$%()+-*/×÷x ")
_RHS_RE = re.compile(r"[ \t]*(-?\$?[ ]?\d[\d,]*(?:\.\d+)?%?)")
_RHS_GOES_ON_RE = re.compile(r"[ \t]*(?:[-+*/×÷^]|x )[ \t]*\(?\$?[ ]?\d")
_ALGEBRA_RE = re.compile(r"\dx|x\d|(?:^|[^ ])x|x(?:[^ ]|$)")
_CALC_RE = re.compile(r"<<([^=<>]+)=([^<>]+)>>")  # GSM8K's calculator annotations
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _number(text: str) -> float | None:
    t = text.strip().replace(",", "").replace("$", "")
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1], 0.01
    try:
        return float(t) * scale
    except ValueError:
        return None


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    raise ValueError("not arithmetic")


def _evaluate(expr: str) -> float | None:
    """The value of a plain arithmetic expression as people write it, or None if it is not one."""
    e = expr.replace(",", "").replace("$", "").replace("×", "*").replace("÷", "/")
    e = re.sub(r"\s[x]\s", " * ", e)
    e = re.sub(r"(\d(?:\.\d+)?)\s*%", r"(\1/100)", e)
    if not re.fullmatch(r"[\d.+\-*/()\s]+", e) or not re.search(r"\d\s*[-+*/]\s*\(*\s*-?\d", e):
        return None
    try:
        return _eval(ast.parse(e.strip(), mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return None


def _holds(value: float, claimed_text: str, claimed: float) -> bool:
    """Whether `claimed` is `value` as written: rounded to the digits it shows, or within 0.5 %.
    "0.2 * 100 = 20%" holds too: a percentage may be the number before its sign."""
    decimals = len(claimed_text.split(".", 1)[1].rstrip("%")) if "." in claimed_text else 0
    percent = claimed_text.rstrip().endswith("%")
    for target, scale in ((claimed, 0.01 if percent else 1.0), (claimed * 100, 1.0)) if percent else ((claimed, 1.0),):
        slack = 0.5 * 10 ** (-decimals) * scale
        if abs(value - target) <= max(slack, 0.005 * abs(target)) + 1e-9:
            return True
    return False


def _claims(text: str):
    """(expression, number) for each "expression = number" in `text`."""
    at = text.find("=")
    while at != -1:
        i = at - 1
        while i >= 0 and text[i] in _EXPR_CHARS:
            i -= 1
        if i >= 0 and text[i + 1] != " " and (text[i].isalnum() or text[i] in "_."):  # "v2.0 = 1": a name
            i = at
        lhs = text[i + 1: at].strip(" ,")
        # an expression starts at a number, a bracket, a sign or a currency sign
        while lhs and lhs[0] not in "0123456789($-":
            lhs = lhs[1:].lstrip()
        m = _RHS_RE.match(text, at + 1)
        if lhs and m and not _RHS_GOES_ON_RE.match(text, m.end()) and not (m.end() < len(text) and
                                                                          (text[m.end()].isalnum() or text[m.end()] == "_")):
            if not _ALGEBRA_RE.search(lhs.replace(" x ", " * ")):
                yield lhs, m.group(1)
        at = text.find("=", at + 1)


def arithmetic(answer: str) -> Signal:
    """Claims of the form `a op b = c` that are false. One false claim flags the answer."""
    wrong: list[str] = []
    checked = 0
    answer = answer.replace("\\*", "*")  # Markdown-escaped multiplication
    for m in _CALC_RE.finditer(answer):
        value, claimed = _evaluate(m.group(1)), _number(m.group(2))
        if value is None or claimed is None:
            continue
        checked += 1
        if not _holds(value, m.group(2), claimed):
            wrong.append(f"{m.group(1).strip()}={m.group(2).strip()}")
    for lhs, rhs in _claims(_CALC_RE.sub(" ", answer)):
        value, claimed = _evaluate(lhs), _number(rhs)
        if value is None or claimed is None:
            continue
        checked += 1
        if not _holds(value, rhs, claimed):
            wrong.append(f"{lhs} = {rhs}")
    if wrong:
        return Signal("arithmetic", True, float(len(wrong)), f"{len(wrong)} of {checked} calculations are wrong: "
                                                              f"{wrong[0][:60]}")
    return Signal("arithmetic", False, 0.0, f"{checked} calculations checked")


# ---- unfinished, hedging ----------------------------------------------------------------------

def unfinished(output_tokens: int, max_tokens: int | None) -> Signal:
    """The answer used its whole output budget: it was most likely cut off."""
    if not max_tokens:
        return Signal("unfinished", False)
    cut = output_tokens >= max_tokens
    return Signal("unfinished", cut, float(output_tokens), f"{output_tokens} of {max_tokens} output tokens used")


_HEDGE_RE = re.compile(
    r"\b(however, (?:since|because|this|that|we|it)|but wait|wait,|actually,|i made a mistake|my mistake|"
    r"i apologi[sz]e|correction:|let me re-?(?:calculate|check|evaluate|think)|re-?evaluat|"
    r"(?:this|that) (?:does not|doesn't) make sense|(?:can't|cannot) have (?:a )?(?:half|fraction|negative)|"
    r"not possible to|is impossible|i'?m not (?:entirely )?sure|i am not (?:entirely )?sure|assuming that|"
    r"round(?:ed|ing)? (?:up|down) to)",
    re.IGNORECASE,
)


def hedging(answer: str) -> Signal:
    m = _HEDGE_RE.search(answer)
    if m:
        return Signal("hedging", True, 1.0, f"the answer doubts itself: {m.group(0)!r}")
    return Signal("hedging", False, 0.0)


# ---- code -------------------------------------------------------------------------------------

_BLOCK_RE = re.compile(r"```([\w+#.-]*)[ \t]*\n(.*?)```", re.DOTALL)
_FENCE_LANGUAGE = {"py": "python", "python3": "python", "js": "javascript", "ts": "typescript",
                   "rs": "rust", "golang": "go", "c++": "cpp", "cxx": "cpp", "jsx": "javascript"}


def _code_ok(code: str, language: str) -> bool | None:
    if language == "python":
        try:
            compile(code, "<answer>", "exec", dont_inherit=True)
        except SyntaxError:
            # a fragment shown indented, or with a top-level await/return, may still be fine in place
            from ..context.syntax import parses  # tree-sitter: only once a code block is checked

            return parses(code, "python")
        except (ValueError, OverflowError, MemoryError, RecursionError):
            return False
        return True
    from ..context.syntax import LANGUAGES, parses  # tree-sitter: only once a code block is checked

    return parses(code, language) if language in LANGUAGES else None


def code_parse(answer: str, default_language: str = "") -> Signal:
    """Fenced code blocks in the answer that do not parse in their language (or the file's)."""
    checked = 0
    for m in _BLOCK_RE.finditer(answer):
        tag = m.group(1).lower()
        lang = _FENCE_LANGUAGE.get(tag, tag) or default_language
        ok = _code_ok(m.group(2), lang) if lang else None
        if ok is None:
            continue
        checked += 1
        if not ok:
            return Signal("code-parse", True, float(checked), f"a {lang} code block does not parse")
    return Signal("code-parse", False, float(checked), f"{checked} code blocks parse")


# ---- names ------------------------------------------------------------------------------------

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TICKED_RE = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]*)(?:\(\))?`")
_BUILTINS = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
_ANY_LANGUAGE_WORDS = frozenset(
    "self cls this true false null nil none undefined NaN var let const function return new typeof "
    "console window document Math JSON Object Array String Number Promise Error fmt err ctx".split()
)


def _python_used_names(code: str) -> set[str] | None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    defined: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
            for a in (*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs,
                      node.args.vararg, node.args.kwarg) if not isinstance(node, ast.ClassDef) else ():
                if a is not None:
                    defined.add(a.arg)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                defined.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
    return used - defined


def unknown_names(answer: str, source: str, *, language: str = "", completion: bool = False) -> Signal:
    """Names the answer relies on that the file (`source`) never mentions.

    A completion (`completion=True`, Python): the names it reads that neither it nor the file
    defines or mentions. Prose (explain, review): the identifiers it puts in backticks.
    """
    known = set(_IDENT_RE.findall(source)) | _BUILTINS | _ANY_LANGUAGE_WORDS
    if completion:
        if language != "python":
            return Signal("unknown-names", False, None, "names are checked in Python completions only")
        used = _python_used_names(textwrap.dedent(answer))
        if used is None:
            return Signal("unknown-names", False, None, "the completion does not parse on its own")
        missing = sorted(n for n in used if n not in known)
    else:
        cited = {t.split(".")[0] for t in _TICKED_RE.findall(answer)}
        missing = sorted(n for n in cited if n not in known and len(n) > 1)
    if missing:
        return Signal("unknown-names", True, float(len(missing)),
                      f"{', '.join(missing[:3])} {'is' if len(missing) == 1 else 'are'} not in the file")
    return Signal("unknown-names", False, 0.0)


# ---- token probabilities ----------------------------------------------------------------------

def token_confidence(logprobs: Sequence[float], th: Thresholds = Thresholds()) -> Signal:
    """Geometric-mean and minimum token probability of the answer, from the backend's logprobs."""
    lp = [x for x in logprobs if x is not None and math.isfinite(x)]
    if not lp:
        return Signal("token-confidence", False, None, "no token log-probabilities from this backend")
    mean_p = math.exp(sum(lp) / len(lp))
    min_p = math.exp(min(lp))
    low = mean_p < th.mean_prob_floor or min_p < th.min_prob_floor
    return Signal("token-confidence", low, mean_p,
                  f"mean token probability {mean_p:.2f} (floor {th.mean_prob_floor:.2f}), least {min_p:.3f}")


# ---- two samples ------------------------------------------------------------------------------

_FINAL_RE = re.compile(r"(?:####|answer is|answer:|=)\s*\**\s*(-?\$?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
_LAST_NUM_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def final_answer(answer: str) -> str | None:
    """The answer's final number, as a maths answer states it ("#### 18", "the answer is 18")."""
    hits = _FINAL_RE.findall(answer)
    if hits:
        return hits[-1].replace(",", "").replace("$", "").rstrip(".")
    nums = _LAST_NUM_RE.findall(answer[-200:])
    return nums[-1].replace(",", "") if nums else None


def _words(text: str) -> set[str]:
    return {w.lower() for w in _IDENT_RE.findall(text)}


def samples_disagree(first: str, second: str, th: Thresholds = Thresholds()) -> Signal:
    """Two samples of the same tier: different final numbers, or few words in common."""
    a, b = final_answer(first), final_answer(second)
    if a is not None and b is not None and (_number(a) is not None and _number(b) is not None):
        differ = abs(_number(a) - _number(b)) > 1e-9
        return Signal("samples-disagree", differ, 1.0 if differ else 0.0,
                      f"final answers {a} and {b}" if differ else f"both samples answer {a}")
    wa, wb = _words(first), _words(second)
    if not wa and not wb:
        return Signal("samples-disagree", False, 1.0)
    jac = len(wa & wb) / len(wa | wb)
    return Signal("samples-disagree", jac < th.agree_jaccard, jac, f"the samples share {jac:.0%} of their words")


# ---- per action -------------------------------------------------------------------------------

def evaluate(action: str, answer: str, *, source: str = "", language: str = "", output_tokens: int = 0,
             max_tokens: int | None = None, logprobs: Sequence[float] | None = None,
             second: str | None = None, enabled: Sequence[str] = SIGNALS,
             th: Thresholds = Thresholds()) -> list[Signal]:
    """Every signal that applies to `action`'s answer, in the order of the table above."""
    on = set(enabled)
    out: list[Signal] = []
    if action in ("ask", "explain"):
        if "arithmetic" in on:
            out.append(arithmetic(answer))
    if "unfinished" in on and max_tokens:
        out.append(unfinished(output_tokens, max_tokens))
    # an explanation says "however, since b may be 0" for good reasons: self-doubt is read in asks only
    if action == "ask" and "hedging" in on:
        out.append(hedging(answer))
    if action in ("ask", "explain") and "code-parse" in on:
        out.append(code_parse(answer, language))
    if "unknown-names" in on and source:
        if action == "complete":
            out.append(unknown_names(answer, source, language=language, completion=True))
        elif action in ("explain", "review"):
            out.append(unknown_names(answer, source, language=language))
    if "token-confidence" in on and logprobs:
        out.append(token_confidence(logprobs, th))
    if "samples-disagree" in on and second is not None:
        out.append(samples_disagree(answer, second, th))
    return out


def first_low(signals: Sequence[Signal]) -> Signal | None:
    return next((s for s in signals if s.low), None)


def assess(action: str, answer: str, ctx, settings, *, output_tokens: int = 0, max_tokens: int | None = None,
           logprobs: Sequence[float] | None = None, second: str | None = None) -> Signal | None:
    """The first signal that flags `answer` under `settings.escalation`, or None.

    `ctx`: the action's ActionContext (the file around the selection is what names are checked
    against); `second`: a second sample's answer, when one was asked for."""
    esc = settings.escalation
    if not esc.enabled:
        return None
    th = Thresholds(mean_prob_floor=esc.mean_token_prob_floor, min_prob_floor=esc.min_token_prob_floor)
    source = f"{ctx.prefix}{ctx.text}{ctx.suffix}"
    from ..context.syntax import language_for  # tree-sitter's grammars load with it: only when assessing

    language = language_for(ctx.path, ctx.language) or ""
    return first_low(evaluate(action, answer, source=source, language=language, output_tokens=output_tokens,
                              max_tokens=max_tokens, logprobs=logprobs, second=second, enabled=esc.signals, th=th))
