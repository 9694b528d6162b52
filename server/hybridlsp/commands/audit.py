"""`hybridlsp audit FILE`: tier shares and monthly cost before/after for exported prompts."""

from __future__ import annotations

import argparse
import json
import math

from ..evaluation.audit import DEFAULT_OUTPUT_TOKENS, audit, format_audit, read_audit_rows
from .eval_routing import add_routing_options, settings_for
from .inputs import read_text_input


def run(args) -> int:
    rows = read_audit_rows(read_text_input(args.file), args.file)
    rep = audit(rows, settings_for(args), output_tokens=args.output_tokens,
                calls_per_month=args.calls_per_month, per_side=args.show)
    print(json.dumps(rep.to_json(), indent=2) if args.json else format_audit(rep))
    return 0


def _positive(kind):
    def parse(value: str):
        x = kind(value)
        if not (x > 0 and math.isfinite(x)):
            raise argparse.ArgumentTypeError(f"must be > 0, not {value}")
        return x

    return parse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "audit",
        help="tier shares and monthly cost before/after for exported prompts",
        description="Route exported prompts (no model call): share per tier, estimated monthly cost "
        "before and after at real prices, and the prompts nearest each tier boundary.",
    )
    p.add_argument("file", help="JSONL or CSV with a prompt field and optional input_tokens, output_tokens, "
                                "model, provider, action, ts; - for stdin")
    p.add_argument("--output-tokens", type=_positive(int), default=DEFAULT_OUTPUT_TOKENS, metavar="N",
                   help=f"output tokens assumed when a row has none (default {DEFAULT_OUTPUT_TOKENS})")
    p.add_argument("--calls-per-month", type=_positive(float), metavar="N",
                   help="how many such calls a month (default: from ts, else the file is one month)")
    p.add_argument("--show", type=_positive(int), default=3, metavar="N",
                   help="prompts to show on each side of each boundary (default 3)")
    p.add_argument("--json", action="store_true")
    add_routing_options(p)
    p.set_defaults(fn=run)
