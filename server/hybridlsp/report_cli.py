"""`hybridlsp report`: the terminal table (with charts where the terminal can show them), `--json`,
and `--html FILE` / `--open` for the self-contained page.

cli.py owns the parser; it adds these options to its `report` subparser with
`add_report_arguments(parser)` and delegates the command to `run_report(args)`.
"""

from __future__ import annotations

import argparse
import json
import sys
import webbrowser
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable, TextIO

__all__ = ["add_report_arguments", "run_report"]


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--html", metavar="FILE", help="also write the report as one self-contained HTML page")
    parser.add_argument(
        "--open", action="store_true",
        help="open the HTML report in a browser (written to report.html in the data dir unless --html is given)",
    )
    parser.add_argument("--no-charts", action="store_true", help="the plain table only, even on a terminal")


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def run_report(
    args: argparse.Namespace,
    *,
    ledger=None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    opener: Callable[[str], bool] | None = None,
) -> int:
    """Run the command; `ledger`, the streams and `opener` are injectable for tests."""
    from .ledger import Ledger, compute_report, format_report, report_json

    out = out or sys.stdout
    err = err or sys.stderr
    since = _since(getattr(args, "since", None))
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
        from .ledger.charts import can_draw, render_charts

        print(format_report(report), file=out)
        charts = render_charts(rows, report) if not getattr(args, "no_charts", False) and can_draw(out) else ""
        if charts:
            print("\n" + charts, file=out)

    if html_path:
        from .ledger.html_report import render_html

        path = Path(html_path).expanduser()
        path.write_text(render_html(rows, feedback, since=since), encoding="utf-8")
        print(f"hybridlsp: report written to {path}", file=err)
        if getattr(args, "open", False):
            opened = (opener or webbrowser.open)(path.resolve().as_uri())
            if not opened:
                print(f"hybridlsp: no browser found; open {path} yourself", file=err)
    return 0
