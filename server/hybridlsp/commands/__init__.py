"""The `hybridlsp` command line: the parser, one table of commands, and `main`.

Each command is a module of this package declaring its own arguments (`add_parser`) and what it
runs. Only the module of the command about to run is imported: `route` should decide a file of
prompts in about the time it takes to count their tokens, not spend it loading asyncio, httpx,
the backends or the ledger, none of which it uses; `serve` should answer `initialize` before it
loads the settings (pydantic). `hybridlsp serve` as editors start it is not parsed at all: argparse
and what it loads (gettext, shutil and its compression modules) are ~5 ms of the time an editor
waits for `initialize`, for nothing to parse. The settings every command runs with come from
`_settings.load`. Logging is configured in `main`, nowhere else.
"""

from __future__ import annotations

import logging
import sys
from importlib import import_module
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ..errors import HybridError

if TYPE_CHECKING:
    import argparse

__all__ = ["COMMANDS", "build_parser", "main", "parse_args"]
# command -> the module of this package that declares and runs it (in `--help` order)
COMMANDS = {
    "serve": "serve",
    "route": "route",
    "ask": "ask",
    "explain": "file_actions",
    "review": "file_actions",
    "complete": "file_actions",
    "commit-msg": "commit_msg",
    "install-hook": "hook",
    "export": "export",
    "doctor": "doctor",
    "demo": "demo",
    "report": "report",
    "eval-routing": "eval_routing",
    "audit": "audit",
    "tune": "tune",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser: of `command` only when it is one of ours (importing every command's module
    would slow every command down), else of all of them (help, or an error listing each)."""
    import argparse  # here, not at the top: `hybridlsp serve` starts without it (see above)

    p = argparse.ArgumentParser(prog="hybridlsp", description="Route each AI request to the cheapest tier that can do it well.")
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr at debug level")
    sub = p.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        import_module(f".{name}", __name__).add_parser(sub)
    return p


def _command(argv: list[str]) -> str | None:
    """The command `argv` names (the first word not an option: `-v` takes no value); None when
    help is asked for, since the help lists every command."""
    if "-h" in argv or "--help" in argv:
        return None
    return next((a for a in argv if not a.startswith("-")), None)


# What the parser makes of `serve` and `serve --stdio`, the command lines of every editor's setup
_PLAIN_SERVE = {("serve",), ("serve", "--stdio")}


def parse_args(argv: list[str]):
    """The namespace `main` runs `argv` with: argparse's, or for a plain `serve` the same one,
    made without it."""
    if tuple(argv) in _PLAIN_SERVE:
        serve = import_module(".serve", __name__)
        return SimpleNamespace(verbose=False, command="serve", tcp=None, host="127.0.0.1",
                               stdio=len(argv) == 2, fn=serve.run)
    return build_parser(_command(argv)).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,  # stdout is the protocol channel in `serve`
    )
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        return 130
    except (HybridError, OSError, ValueError) as e:
        return _failed(e)


def _failed(e: Exception) -> int:
    """An upstream's error text can be in the message: it is data, like a model's answer, so it is
    sanitized (the actions package: imported only when there is an error to show)."""
    from ..actions.base import sanitize  # every action's module: only with an error to show, never in `route`

    print(f"hybridlsp: {sanitize(str(e))}", file=sys.stderr)
    return 1
