"""`hybridlsp route`: the routing decision only, for one prompt or a JSONL file of them.

Deciding calls no model and records nothing: no ledger, no answer file, no telemetry.
"""

from __future__ import annotations

import gc
import json
import sys
from concurrent.futures import ThreadPoolExecutor

from ..context.multimatch import compile_in_background
from ..engine.route import Router
from ..engine.route_many import decision_json, route_jsonl, route_one
from ..routing import ACTIONS, embedded_declines
from ._settings import load
from .inputs import read_arg


def add_parser(sub) -> None:
    s = sub.add_parser("route", help="show the routing decision only; no model call")
    s.add_argument("prompt", nargs="?", help="the prompt, or - for stdin")
    s.add_argument("--action", default="ask", choices=list(ACTIONS))
    s.add_argument("--json", action="store_true")
    s.add_argument("--jsonl", metavar="FILE", help='route {"id", "prompt", "action"?} lines; one decision per line')
    s.set_defaults(fn=run)


def run(args) -> int:
    compile_in_background()  # the first decisions need not wait for the pattern sets to compile
    router = Router(load())
    if args.jsonl:
        # What is alive now (the tokenizer's ranks, the weights, the settings) lives as long as
        # this process: the cyclic collector need not scan it again while the file is routed.
        # Measured on 2,000 decisions: 42-64 us each with the collector scanning it, 39 us without.
        gc.freeze()
        fh = sys.stdin.buffer if args.jsonl == "-" else open(args.jsonl, "rb")
        with fh:
            route_jsonl(router, fh, sys.stdout.write, lambda m: print(f"hybridlsp: {m}", file=sys.stderr))
        return 0
    if args.prompt is None:
        print("hybridlsp route: give a PROMPT, '-' for stdin, or --jsonl FILE", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(1, thread_name_prefix="hybridlsp-count") as pool:
        d = route_one(router, read_arg(args.prompt), args.action, pool)
    # only here, one prompt at a time: `route --jsonl` keeps its shape and its speed, and does not
    # import the cold-start features (their patterns compile on import, ~3-5 ms)
    from ..routing.explain import estimate_lines

    estimate = estimate_lines(d.prompt, args.action, router.settings)
    if args.json:
        print(json.dumps({**decision_json(d), "estimate": estimate}))
    else:
        print(f"tier {d.tier}: {d.backend} {d.model} ({d.input_tokens:,} tokens, estimated)")
        for r in d.reasons:
            print(f"  because {r}")
        for e in estimate:
            if e not in d.reasons:  # the deciding estimate's reason is shown already
                print(f"  estimate: {e}")
        for n in d.notes:
            print(f"  note: {n}")
        print("  chain: " + " -> ".join(h.label for h in d.chain))
        if (why := embedded_declines(args.action, router.settings)) is not None:
            print(f"  not in the chain: the embedded model, since {why}")
    return 0
