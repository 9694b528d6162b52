"""`hybridlsp eval-routing FILE`: score routing on prompts with known per-tier answer quality."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import Settings, merge_settings
from ..evaluation import routing as evaluation
from ..evaluation.routing import evaluate, format_report, read_eval_rows, render_svg
from ._settings import load
from .inputs import read_text_input

__all__ = ["add_parser", "add_routing_options", "settings_for"]


def settings_for(args) -> Settings:
    """The user's settings, with the command's --difficulty / --cloud-share overrides."""
    settings = load()
    over = {}
    if getattr(args, "difficulty", None):
        over["difficulty"] = args.difficulty
    if getattr(args, "cloud_share", None) is not None:
        over["cloud_share_target"] = args.cloud_share
    return merge_settings(settings, {"routing": over}, "command line") if over else settings


def add_routing_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--difficulty", choices=["hybrid", "keywords", "learned", "coldstart", "none"],
                   help="difficulty estimate to use (default: routing.difficulty)")
    p.add_argument("--cloud-share", type=float, metavar="T",
                   help="learned estimate: target cloud share (default: routing.cloud_share_target)")


def add_parser(sub) -> None:
    doc = evaluation.__doc__ or ""
    p = sub.add_parser(
        "eval-routing",
        help="score routing on prompts with known per-tier answer quality",
        description=doc.split("\n\n")[1] if "\n\n" in doc else None,
    )
    p.add_argument("file", help='JSONL {"id", "prompt", "action"?, "q": [q1, q2, q3] or [q_local, q_cloud]}; '
                                "- for stdin")
    p.add_argument("--svg", metavar="PATH", help="also write the curve as an SVG plot")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--no-plot", action="store_true", help="leave the terminal plot out")
    add_routing_options(p)
    p.set_defaults(fn=run)


def run(args) -> int:
    rows = read_eval_rows(read_text_input(args.file).splitlines(), args.file)
    rep = evaluate(rows, settings_for(args))
    if args.json:
        print(json.dumps(rep.to_json(), indent=2))
    else:
        print(format_report(rep, plot=not args.no_plot))
    if args.svg:
        if rep.curve is None:
            print(f"hybridlsp: no SVG written: {rep.curve_error}", file=sys.stderr)
        else:
            Path(args.svg).write_text(render_svg(rep.curve, f"Recovered quality gap: {Path(args.file).name}",
                                                 rep.cloud_share), encoding="utf-8")
            print(f"wrote {args.svg}", file=sys.stderr)
    return 0
