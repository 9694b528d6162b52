"""`hybridlsp ask PROMPT`: route a prompt and stream the answer."""

from __future__ import annotations

import os
import sys

from ..request import RunRequest
from ._settings import load
from ._engine import describe, estimate_of, make_engine, run_request
from .inputs import read_arg


def add_parser(sub) -> None:
    s = sub.add_parser("ask", help="route a prompt and stream the answer")
    s.add_argument("prompt", help="the prompt, or - for stdin")
    s.add_argument("--tier", type=int, choices=[1, 2, 3])
    s.set_defaults(fn=run)


def run(args) -> int:
    engine = make_engine(load())
    req = RunRequest(action="ask", text=read_arg(args.prompt), tier=args.tier, workspace=os.getcwd())
    result = run_request(engine, req, stream=True)
    sys.stdout.write("\n")
    print(describe(result, estimate_of(req, engine.settings)), file=sys.stderr)
    return 0
