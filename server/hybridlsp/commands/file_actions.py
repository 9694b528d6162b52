"""`hybridlsp explain|review|complete FILE[:START-END]`: an action on a file or some of its lines
(FILE:LINE for one)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..actions import get_action
from ..context.syntax import language_for
from ..errors import HybridError
from ..request import RunRequest, workspace_of
from ._settings import load
from ._engine import describe, estimate_of, make_engine, run_request

ACTIONS = ("explain", "review", "complete")
_RANGE_RE = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


def add_parser(sub) -> None:
    for name in ACTIONS:
        s = sub.add_parser(name, help=f"{name} FILE, FILE:START-END or FILE:LINE")
        s.add_argument("file")
        s.add_argument("--prompt", default="")
        s.add_argument("--tier", type=int, choices=[1, 2, 3])
        s.set_defaults(fn=run, action=name)


def split_spec(spec: str) -> tuple[Path, str]:
    """FILE[:START-END] as (file, range text). The range is what follows the last colon, unless the
    whole spec names a file (a path may hold a colon: `C:\\src\\a.py`, `notes:v2.py`)."""
    path, sep, rng = spec.rpartition(":")
    if not sep or Path(spec).is_file() or not path:
        return Path(spec), ""
    return Path(path), rng


def line_range(spec: str, rng: str, n_lines: int) -> tuple[int, int]:
    """`START-END` (or `LINE`), 1-based and inclusive, as 0-based (start, end) within the file."""
    m = _RANGE_RE.fullmatch(rng)
    if not m:
        raise HybridError(f"{spec}: '{rng}' is not a line range; use FILE:START-END with line numbers "
                          f"from 1 (e.g. {spec.rpartition(':')[0]}:1-{max(1, n_lines)}), or FILE:LINE")
    a, b = int(m[1]), int(m[2] or m[1])
    if a > b:
        raise HybridError(f"{spec}: the range ends before it starts; use START-END with START <= END")
    if not 1 <= a <= b <= n_lines:
        raise HybridError(f"{spec}: lines {a}-{b} are outside the file's 1-{n_lines}")
    return a - 1, b - 1


def file_request(action: str, spec: str, prompt: str, tier) -> RunRequest:
    path, rng = split_spec(spec)
    p = path.resolve()
    if not p.is_file():
        raise HybridError(f"{spec}: no such file" + (f" ({p} is a directory)" if p.is_dir() else ""))
    document = p.read_text(encoding="utf-8", errors="replace")
    lines = document.splitlines()
    start, end = line_range(spec, rng, len(lines)) if rng else (0, max(0, len(lines) - 1))
    text = "\n".join(lines[start:end + 1])
    ws = workspace_of(str(p))
    return RunRequest(action=action, text=text, path=str(p), document=document, start_line=start, end_line=end,
                      language=language_for(str(p)) or "", prompt=prompt, tier=tier,
                      workspace=str(ws) if ws else "")


def run(args) -> int:
    engine = make_engine(load())
    req = file_request(args.action, args.file, args.prompt or "", args.tier)
    # Only prose streams (explain): a completion or findings are printed once they passed their
    # check, so one that failed (or a tier's that was dropped for the next) never reaches stdout.
    streamed = get_action(args.action).streamed
    result = run_request(engine, req, stream=streamed)
    if streamed:
        sys.stdout.write("\n")
    else:
        print(result.text)
    print(describe(result, estimate_of(req, engine.settings)), file=sys.stderr)
    return 0
