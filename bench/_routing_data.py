"""What the benchmarks over the routing data (11 escalation, 12 learning) share: where the data is,
their result when it is not there, the shipped learned estimate's scores, and their entry point."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from hybridlsp.config import settings_from_mapping
from hybridlsp.routing import get_estimator

from ._common import REPO, Result

__all__ = ["data_dir", "learned_scores", "main", "not_measured"]

ENV = "HYBRIDLSP_ROUTING_DATA"


def data_dir(argv: list[str] | None = None) -> Path:
    """The folder given on the command line, else $HYBRIDLSP_ROUTING_DATA, else ../shared/routing-data."""
    if argv:
        return Path(argv[0])
    return Path(os.environ.get(ENV, REPO.parent / "shared" / "routing-data"))


def not_measured(number: int, title: str, goal: str, root: Path) -> Result:
    return Result(number, title, "not measured", goal, None, limits=f"no routing data at {root} (set {ENV})")


def learned_scores(prompts: Iterable[str]) -> list[float | None]:
    """The shipped learned estimate's score of each prompt asked as `ask`; None where it abstains."""
    est = get_estimator(settings_from_mapping({"routing": {"difficulty": "learned"}}))
    return [None if (e := est.estimate(p, "ask")) is None else e.score for p in prompts]


def main(run: Callable[[list[str]], Result]) -> int:
    """`python -m bench.NAME [DATA_DIR]`: one run, printed."""
    print(run(sys.argv[1:]).render())
    return 0
