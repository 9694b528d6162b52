"""`hybridlsp report`: the terminal table (with charts where the terminal can show them), `--json`,
and `--html FILE` / `--open` for the self-contained page.

"""

from __future__ import annotations

import argparse
import json
import sys
import webbrowser
from pathlib import Path
from typing import Callable, TextIO

from ..ledger import Ledger, compute_report, format_report, report_json
from ..ledger.charts import can_draw, render_charts
from ..ledger.html_report import render_html
from .inputs import since as parse_since

__all__ = ["add_parser", "run_report", "print_report"]


def add_parser(sub) -> None:
    parser = sub.add_parser("report", help="the article's metrics against its targets")
    parser.add_argument("--since", help="ISO date")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--html", metavar="FILE", help="also write the report as one self-contained HTML page")
    parser.add_argument(
        "--open", action="store_true",
        help="open the HTML report in a browser (written to report.html in the data dir unless --html is given)",
    )
    parser.add_argument("--no-charts", action="store_true", help="the plain table only, even on a terminal")
    parser.set_defaults(fn=run_report)


def run_report(
    args: argparse.Namespace,
    *,
    ledger=None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    opener: Callable[[str], bool] | None = None,
) -> int:
    """Run the command; `ledger`, the streams and `opener` are injectable for tests."""
    out = out or sys.stdout
    err = err or sys.stderr
    since = parse_since(getattr(args, "since", None))
    own = ledger is None
    ledger = Ledger() if own else ledger
    try:
        rows, feedback = ledger.rows(since), ledger.feedback(since)
        html_path = getattr(args, "html", None)
        if getattr(args, "open", False) and not html_path:
            html_path = str(ledger.path.parent / "report.html")
    finally:
        if own:
            ledger.close()
    report = compute_report(rows, feedback, since=since)

    if getattr(args, "json", False):
        print(json.dumps(report_json(report), indent=2), file=out)
    else:
        print(format_report(report), file=out)
        charts = render_charts(rows, report) if not getattr(args, "no_charts", False) and can_draw(out) else ""
        if charts:
            print("\n" + charts, file=out)

    if html_path:
        path = Path(html_path).expanduser()
        path.write_text(render_html(rows, feedback, since=since), encoding="utf-8")
        print(f"hybridlsp: report written to {path}", file=err)
        if getattr(args, "open", False):
            opened = (opener or webbrowser.open)(path.resolve().as_uri())
            if not opened:
                print(f"hybridlsp: no browser found; open {path} yourself", file=err)
    return 0


def print_report(**streams) -> int:
    """The report as `hybridlsp report` prints it with no options (the demo ends with it)."""
    return run_report(argparse.Namespace(), **streams)
