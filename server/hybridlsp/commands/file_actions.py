"""`hybridlsp explain|review|complete FILE[:START-END]`: an action on a file or some of its lines."""

from __future__ import annotations

import sys
from pathlib import Path

from ..context.syntax import language_for
from ..errors import HybridError
from ..request import RunRequest, workspace_of
from . import load
from ._engine import describe, estimate_of, make_engine, run_request

ACTIONS = ("explain", "review", "complete")


def add_parser(sub) -> None:
    for name in ACTIONS:
        s = sub.add_parser(name, help=f"{name} FILE or FILE:START-END")
        s.add_argument("file")
        s.add_argument("--prompt", default="")
        s.add_argument("--tier", type=int, choices=[1, 2, 3])
        s.set_defaults(fn=run, action=name)


def file_request(action: str, spec: str, prompt: str, tier) -> RunRequest:
    path, _, rng = spec.partition(":")
    p = Path(path).resolve()
    document = p.read_text(encoding="utf-8", errors="replace")
    lines = document.splitlines()
    start, end = 0, max(0, len(lines) - 1)
    if rng:
        a, _, b = rng.partition("-")
        start, end = int(a) - 1, int(b or a) - 1
        if not (0 <= start <= end < len(lines)):
            raise HybridError(f"{spec}: lines {a}-{b or a} are outside the file's 1-{len(lines)}")
    text = "\n".join(lines[start:end + 1])
    ws = workspace_of(str(p))
    return RunRequest(action=action, text=text, path=str(p), document=document, start_line=start, end_line=end,
                      language=language_for(str(p)) or "", prompt=prompt, tier=tier,
                      workspace=str(ws) if ws else "")


def run(args) -> int:
    engine = make_engine(load())
    req = file_request(args.action, args.file, args.prompt or "", args.tier)
    # Only an explanation streams: a completion or findings are printed once they passed their
    # check, so one that failed (or a tier's that was dropped for the next) never reaches stdout.
    streamed = args.action == "explain"
    result = run_request(engine, req, stream=streamed)
    if streamed:
        sys.stdout.write("\n")
    else:
        print(result.text)
    print(describe(result, estimate_of(req, engine.settings)), file=sys.stderr)
    return 0
