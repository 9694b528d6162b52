"""`hybridlsp commit-msg [--hook FILE]`: a commit message for the staged diff, printed or written
into git's message file (prepare-commit-msg mode).

When no tier's message passes its check, nothing is printed as if it were one: the command exits 1
with the reason on stderr; the hook leaves the message empty, with `#` lines (git drops them)
saying why and what to do, and exits 0 within `--timeout`, so the commit is the user's call."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

from ..actions.base import sanitize
from ..errors import HybridError
from ..request import RunRequest
from ._settings import load
from ._engine import describe, make_engine, run_request


HOOK_TIMEOUT_S = 30.0


def add_parser(sub) -> None:
    s = sub.add_parser("commit-msg", help="a commit message for the staged diff")
    s.add_argument("--hook", metavar="FILE", help="prepare-commit-msg mode: fill FILE")
    s.add_argument("--timeout", type=float, default=HOOK_TIMEOUT_S, metavar="S",
                   help=f"(hook mode) give up after S seconds, leaving the message to you (default {HOOK_TIMEOUT_S:.0f})")
    s.add_argument("source", nargs="?", default=None, help="(hook mode) git's message source")
    s.add_argument("sha", nargs="?", default=None, help=argparse.SUPPRESS)
    s.set_defaults(fn=run)


def run(args) -> int:
    started = time.monotonic()  # the hook's time limit counts the engine's start-up too
    if args.hook:
        hook_file = Path(args.hook)
        existing = hook_file.read_text(encoding="utf-8") if hook_file.exists() else ""
        given = [ln for ln in existing.splitlines() if ln.strip() and not ln.startswith("#")]
        # -m/-F, merges, squashes and amends already carry a message: leave it alone
        if args.source in ("message", "merge", "squash", "commit") or given:
            return 0
    engine = make_engine(load())
    req = RunRequest(action="commit-message", workspace=os.getcwd())
    if not args.hook:
        result = run_request(engine, req, stream=False)  # a failure: main() says why, exit 1, no stdout
        print(describe(result), file=sys.stderr)
        print(result.text)
        return 0
    try:
        result = run_request(engine, req, stream=False,
                             timeout_s=max(0.0, args.timeout - (time.monotonic() - started)))
    except (HybridError, TimeoutError) as e:
        why = str(e) if isinstance(e, HybridError) else f"no message within {args.timeout:g} s (--timeout)"
        hook_file.write_text(why_empty(why) + existing, encoding="utf-8")
        print(f"hybridlsp: no commit message: {sanitize(why)}", file=sys.stderr)
        return 0  # the commit goes on: an empty message aborts it, which is the user's call
    print(describe(result), file=sys.stderr)
    hook_file.write_text(result.text.rstrip() + "\n" + existing, encoding="utf-8")
    return 0


def why_empty(why: str) -> str:
    """`#` lines for git's message file: why there is no message, and what to do."""
    lines = ["hybridlsp wrote no commit message:"]
    lines += textwrap.wrap(sanitize(why).replace("\n", " "), 70, initial_indent="  ", subsequent_indent="  ")
    lines += ["Write the message above these lines; git drops them. An empty message",
              "aborts the commit. `hybridlsp doctor` shows which tiers answer."]
    return "".join(f"# {line}\n" for line in lines)
