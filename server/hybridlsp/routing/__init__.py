"""The pure tier policy: it reads a request and settings, and returns names (never backends)."""

from .difficulty import Estimate, Estimator, KeywordEstimator, estimate_many, get_estimator, register
from .flags import parse_flag
from .learned import LearnedEstimator  # importing it registers the "learned" estimator
from .policy import build_chain, decide, embedded_declines, estimate_only, is_local_only_path
from .types import ACTIONS, Decision, GitSummary, Hop, RouteRequest


def _coldstart(settings):
    # imported when first chosen: its feature patterns compile then, not in every `route`
    from .coldstart import from_settings

    return from_settings(settings)


register("coldstart", _coldstart)

__all__ = [
    "ACTIONS",
    "Decision",
    "Estimate",
    "Estimator",
    "GitSummary",
    "Hop",
    "KeywordEstimator",
    "LearnedEstimator",
    "RouteRequest",
    "build_chain",
    "decide",
    "embedded_declines",
    "estimate_many",
    "estimate_only",
    "get_estimator",
    "is_local_only_path",
    "parse_flag",
    "register",
]
