"""`hybridlsp commit-msg [--hook FILE]`: a commit message for the staged diff, printed or written
into git's message file (prepare-commit-msg mode)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..request import RunRequest
from . import load
from ._engine import describe, make_engine, run_request


def add_parser(sub) -> None:
    s = sub.add_parser("commit-msg", help="a commit message for the staged diff")
    s.add_argument("--hook", metavar="FILE", help="prepare-commit-msg mode: fill FILE")
    s.add_argument("source", nargs="?", default=None, help="(hook mode) git's message source")
    s.add_argument("sha", nargs="?", default=None, help=argparse.SUPPRESS)
    s.set_defaults(fn=run)


def run(args) -> int:
    if args.hook:
        hook_file = Path(args.hook)
        existing = hook_file.read_text(encoding="utf-8") if hook_file.exists() else ""
        given = [ln for ln in existing.splitlines() if ln.strip() and not ln.startswith("#")]
        # -m/-F, merges, squashes and amends already carry a message: leave it alone
        if args.source in ("message", "merge", "squash", "commit") or given:
            return 0
    engine = make_engine(load())
    result = run_request(engine, RunRequest(action="commit-message", workspace=os.getcwd()), stream=False)
    print(describe(result), file=sys.stderr)
    if args.hook:
        hook_file.write_text(result.text.rstrip() + "\n" + existing, encoding="utf-8")
    else:
        print(result.text)
    return 0
