"""`hybridlsp export`: the ledger as JSONL, in the article's log shape."""

from __future__ import annotations

import sys

from ..ledger import Ledger, export_jsonl
from .inputs import since


def add_parser(sub) -> None:
    s = sub.add_parser("export", help="write the ledger as JSONL in the article's log shape")
    s.add_argument("--jsonl", dest="output", nargs="?", const="-", default="-", metavar="FILE")
    s.add_argument("--since")
    s.set_defaults(fn=run)


def run(args) -> int:
    with Ledger() as ledger:
        rows = ledger.rows(since(args.since))
    if args.output in (None, "-"):
        export_jsonl(rows, sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            export_jsonl(rows, fh)
    return 0
