"""The `hybridlsp` command line. Logging is configured here and nowhere else.

Each command imports what it uses when it runs: `route` should decide a file of prompts in about
the time it takes to count their tokens, not spend it loading asyncio, httpx, the backends or the
ledger, none of which it uses.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import HybridError

__all__ = ["main"]

log = logging.getLogger("hybridlsp")


def _read_arg(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def _settings(workspace: str | None = None):
    from .config import load_settings

    settings, notes = load_settings(Path(workspace) if workspace else Path.cwd())
    for n in notes:
        print(f"hybridlsp: {n}", file=sys.stderr)
    return settings


def _engine(settings):
    from .engine import Engine
    from .telemetry import install_telemetry

    engine = Engine(settings)
    engine.exporter = install_telemetry(engine, settings)
    return engine


async def _confirm(message: str) -> bool:
    """Ask on a terminal; without one, an expensive request is not sent to the cloud."""
    import asyncio

    if not sys.stdin.isatty():
        print(f"hybridlsp: {message} -> not confirmed (no terminal), using tier 2", file=sys.stderr)
        return False
    answer = await asyncio.to_thread(input, f"{message} Send? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def describe(result) -> str:
    """Decision, reasons, latency, tokens and cost against the baseline, for stderr."""
    d = result.decision
    who = "embedded" if result.tier == 0 else f"tier {result.tier}"
    lines = [
        f"decision: tier {d.tier} ({d.backend} {d.model}); answered by {who} ({result.backend} {result.model})",
        *(f"  because {r}" for r in d.reasons),
        *(f"  fallback {f.from_} -> {f.to}: {f.reason}" for f in result.fallbacks),
        *(f"  note: {n}" for n in result.notes),
        f"  latency {result.latency_ms:,.0f} ms"
        + (f", first token {result.ttft_ms:,.0f} ms" if result.ttft_ms is not None else "")
        + f"; tokens in {result.usage.input_tokens:,} / out {result.usage.output_tokens:,}"
        + f"; cost ${result.usage.cost_usd:.6f} vs ${result.usage.baseline_cost_usd:.6f} all-cloud",
        f"  request {result.request_id}",
    ]
    if result.budget is not None and result.budget.level != "ok":
        lines.append(f"  budget: {result.budget.message}")
    return "\n".join(lines)


# ---- route ----------------------------------------------------------------------------------

def cmd_route(args) -> int:
    from .engine import Router
    from .multimatch import compile_in_background
    from .routemany import route_jsonl

    compile_in_background()  # the first decisions need not wait for the pattern sets to compile
    # Deciding calls no model and records nothing: no ledger, no answer file, no telemetry.
    router = Router(_settings())
    if args.jsonl:
        fh = sys.stdin.buffer if args.jsonl == "-" else open(args.jsonl, "rb")
        with fh:
            route_jsonl(router, fh, sys.stdout.write, lambda m: print(f"hybridlsp: {m}", file=sys.stderr))
        return 0
    if args.prompt is None:
        print("hybridlsp route: give a PROMPT, '-' for stdin, or --jsonl FILE", file=sys.stderr)
        return 2
    from concurrent.futures import ThreadPoolExecutor

    from .routemany import decision_json, route_one

    with ThreadPoolExecutor(1, thread_name_prefix="hybridlsp-count") as pool:
        d = route_one(router, _read_arg(args.prompt), args.action, pool)
    if args.json:
        print(json.dumps(decision_json(d)))
    else:
        print(f"tier {d.tier}: {d.backend} {d.model} ({d.input_tokens:,} tokens, estimated)")
        for r in d.reasons:
            print(f"  because {r}")
        for n in d.notes:
            print(f"  note: {n}")
        print("  chain: " + " -> ".join(h.label for h in d.chain))
    return 0


# ---- model-calling commands -----------------------------------------------------------------

async def _run(engine, req, stream: bool):
    import asyncio

    def on_text(t: str) -> None:
        if stream:
            sys.stdout.write(t)
            sys.stdout.flush()

    def on_reset(why: str) -> None:
        # what streamed so far is already on the terminal: end its line, and say on stderr that it
        # is dropped and which tier answers instead
        if stream:
            sys.stdout.write("\n")
            sys.stdout.flush()
            print(f"hybridlsp: {why}", file=sys.stderr, flush=True)

    try:
        return await engine.run(req, on_text=on_text, on_reset=on_reset, confirm=_confirm)
    finally:
        exporter = getattr(engine, "exporter", None)
        if exporter is not None:
            await asyncio.to_thread(exporter.shutdown)
        await engine.aclose()


def cmd_ask(args) -> int:
    import asyncio

    from .engine import RunRequest

    engine = _engine(_settings())
    req = RunRequest(action="ask", text=_read_arg(args.prompt), tier=args.tier, workspace=os.getcwd())
    result = asyncio.run(_run(engine, req, stream=True))
    sys.stdout.write("\n")
    print(describe(result), file=sys.stderr)
    return 0


def _file_request(action: str, spec: str, prompt: str, tier):
    from .context.syntax import language_for
    from .engine import RunRequest, workspace_of

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


def cmd_file_action(args) -> int:
    import asyncio

    engine = _engine(_settings())
    req = _file_request(args.action, args.file, args.prompt or "", args.tier)
    result = asyncio.run(_run(engine, req, stream=args.action != "review"))
    if args.action == "review":
        print(result.text)
    else:
        sys.stdout.write("\n")
    print(describe(result), file=sys.stderr)
    return 0


def cmd_commit_msg(args) -> int:
    import asyncio

    from .engine import RunRequest

    if args.hook:
        hook_file = Path(args.hook)
        existing = hook_file.read_text(encoding="utf-8") if hook_file.exists() else ""
        given = [ln for ln in existing.splitlines() if ln.strip() and not ln.startswith("#")]
        # -m/-F, merges, squashes and amends already carry a message: leave it alone
        if args.source in ("message", "merge", "squash", "commit") or given:
            return 0
    engine = _engine(_settings())
    req = RunRequest(action="commit-message", workspace=os.getcwd())
    result = asyncio.run(_run(engine, req, stream=False))
    print(describe(result), file=sys.stderr)
    if args.hook:
        hook_file.write_text(result.text.rstrip() + "\n" + existing, encoding="utf-8")
    else:
        print(result.text)
    return 0


# ---- ledger ---------------------------------------------------------------------------------

def _since(value: str | None):
    from datetime import datetime, timezone

    if not value:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def cmd_report(args) -> int:
    from .report_cli import run_report

    return run_report(args)


def cmd_export(args) -> int:
    from .ledger import Ledger, export_jsonl

    with Ledger() as ledger:
        rows = ledger.rows(_since(args.since))
    if args.output in (None, "-"):
        export_jsonl(rows, sys.stdout)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            export_jsonl(rows, fh)
    return 0


def cmd_doctor(args) -> int:
    import asyncio

    from .doctor import run_doctor

    return asyncio.run(run_doctor(_settings()))


def cmd_serve(args) -> int:
    from .lsp.server import serve

    serve(transport="tcp" if args.tcp else "stdio", host=args.host, port=args.tcp)
    return 0


def cmd_install_hook(args) -> int:
    from .hook import install_hook, uninstall_hook

    for line in (uninstall_hook if args.uninstall else install_hook)(Path.cwd()):
        print(f"hybridlsp: {line}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args.dir)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command. Given the `command` about to run, when it is declared here, the
    commands whose arguments other modules declare (report, eval-routing, audit, tune) are left
    out: importing those modules would slow every other command down."""
    p = argparse.ArgumentParser(prog="hybridlsp", description="Route each AI request to the cheapest tier that can do it well.")
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr at debug level")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the language server (stdio by default)")
    s.add_argument("--tcp", type=int, metavar="PORT", help="listen on TCP instead of stdio")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--stdio", action="store_true", help="(default) speak LSP on stdin/stdout")
    s.set_defaults(fn=cmd_serve)

    s = sub.add_parser("route", help="show the routing decision only; no model call")
    s.add_argument("prompt", nargs="?", help="the prompt, or - for stdin")
    s.add_argument("--action", default="ask", choices=["complete", "explain", "review", "commit-message", "ask"])
    s.add_argument("--json", action="store_true")
    s.add_argument("--jsonl", metavar="FILE", help='route {"id", "prompt", "action"?} lines; one decision per line')
    s.set_defaults(fn=cmd_route)

    s = sub.add_parser("ask", help="route a prompt and stream the answer")
    s.add_argument("prompt", help="the prompt, or - for stdin")
    s.add_argument("--tier", type=int, choices=[1, 2, 3])
    s.set_defaults(fn=cmd_ask)

    for name in ("explain", "review", "complete"):
        s = sub.add_parser(name, help=f"{name} FILE or FILE:START-END")
        s.add_argument("file")
        s.add_argument("--prompt", default="")
        s.add_argument("--tier", type=int, choices=[1, 2, 3])
        s.set_defaults(fn=cmd_file_action, action=name)

    s = sub.add_parser("commit-msg", help="a commit message for the staged diff")
    s.add_argument("--hook", metavar="FILE", help="prepare-commit-msg mode: fill FILE")
    s.add_argument("source", nargs="?", default=None, help="(hook mode) git's message source")
    s.add_argument("sha", nargs="?", default=None, help=argparse.SUPPRESS)
    s.set_defaults(fn=cmd_commit_msg)

    s = sub.add_parser("install-hook", help="install the prepare-commit-msg hook in this repository")
    s.add_argument("--uninstall", action="store_true", help="remove it (and restore a chained hook)")
    s.set_defaults(fn=cmd_install_hook)

    s = sub.add_parser("export", help="write the ledger as JSONL in the article's log shape")
    s.add_argument("--jsonl", dest="output", nargs="?", const="-", default="-", metavar="FILE")
    s.add_argument("--since")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("doctor", help="check backends, models, keys and settings")
    s.set_defaults(fn=cmd_doctor)

    s = sub.add_parser("demo", help="the main job on a sample repository, through the language server")
    s.add_argument("--dir", help="where to create the sample repository (default: a temp dir)")
    s.set_defaults(fn=cmd_demo)

    if command is not None and command in sub.choices:
        return p  # (a misspelt command gets them all, so the error lists every choice)

    s = sub.add_parser("report", help="the article's metrics against its targets")
    s.add_argument("--since", help="ISO date")
    s.add_argument("--json", action="store_true")
    from .report_cli import add_report_arguments

    add_report_arguments(s)
    s.set_defaults(fn=cmd_report)

    from .audit import add_audit_parser
    from .evalrouting import add_eval_routing_parser
    from .tune import add_tune_parser

    add_eval_routing_parser(sub)
    add_audit_parser(sub)
    add_tune_parser(sub)
    return p


def _command(argv: list[str]) -> str | None:
    """The command `argv` names (the first word not an option: `-v` takes no value); None when
    help is asked for, since the help lists every command."""
    if "-h" in argv or "--help" in argv:
        return None
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command(argv)).parse_args(argv)
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
    sanitized (which imports every action: only when there is an error to show)."""
    from .actions.base import sanitize

    print(f"hybridlsp: {sanitize(str(e))}", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
