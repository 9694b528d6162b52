"""What the difficulty estimate saw in a prompt, for people: `hybridlsp route`, `explain`, titles.

Computed only where it is shown (one prompt at a time), never on `route --jsonl`'s batch path:
the deciding estimate's own account (its probabilities or score, whether it abstained, the
features or tokens that moved it) and, when the deciding estimate is not the cold-start one, the
cold-start estimate's probabilities beside it, marked as not deciding.
"""

from __future__ import annotations

from collections.abc import Sequence

from .coldstart import ColdStartEstimator, load_coldstart
from .difficulty import KeywordEstimator, get_estimator
from .learned import HybridEstimator, LearnedEstimator

__all__ = ["estimate_lines", "probabilities_by_action", "probabilities_summary"]


def _deciding(est, text: str, action: str, head: Sequence[int] | None) -> str | None:
    if est is None:
        return None
    if isinstance(est, ColdStartEstimator):
        e = est.estimate(text, action)
        return e.reason if e is not None else None
    if isinstance(est, HybridEstimator):
        kw = est.keywords.estimate(text, action)
        if kw is not None:
            return f"{kw.reason} (the learned estimate is not consulted)"
        return est.learned.explain(text, action, head)
    if isinstance(est, LearnedEstimator):
        return est.explain(text, action, head)
    if isinstance(est, KeywordEstimator):
        kw = est.estimate(text, action)
        return kw.reason if kw is not None else "no task keyword in the prompt's head"
    e = est.estimate(text, action, head)
    return e.reason if e is not None else None


def probabilities_summary(text: str, action: str) -> str:
    """E.g. "p(tier 1 enough) 0.71, p(tier 2 enough) 0.86; moved by log_chars +0.31, ..."."""
    e = load_coldstart().explain(text, action)
    return f"p(tier 1 enough) {e.p_tier1:.2f}, p(tier 2 enough) {e.p_tier2:.2f}; moved by {e.moved_by()}"


def probabilities_by_action(text: str, actions: Sequence[str]) -> dict[str, str]:
    """A short "p(tier 1 enough) 0.71" for each action, for a code action's title (the text's
    features computed once for all of them)."""
    return {a: f"p(tier 1 enough) {e.p_tier1:.2f}" for a, e in load_coldstart().explain_actions(text, actions).items()}


def estimate_lines(text: str, action: str, settings, head: Sequence[int] | None = None) -> list[str]:
    """One line from the deciding estimate (ask only: the other actions decide by size), one from
    the cold-start estimate unless it is the deciding one."""
    est = get_estimator(settings)
    lines = []
    if action == "ask":
        line = _deciding(est, text, action, head)
        if line:
            lines.append(line)
    if action != "ask" or not isinstance(est, ColdStartEstimator):
        lines.append(f"cold-start estimate (not deciding): {probabilities_summary(text, action)}")
    return lines
