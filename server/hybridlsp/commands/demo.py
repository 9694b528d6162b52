"""`hybridlsp demo` (`make demo`): the main job end to end, through the language server.

A sample repository gets a staged change; the server explains a function, reviews the file and
writes the commit message, each shown with its decision, reasons, latency, tokens and cost against
the all-cloud baseline. With no Ollama and no keys the commit message comes from the embedded model
(or, when its subject fails the check, from the diff alone); the explanation and the review say
they need Ollama or a key, since the embedded model is not asked to do them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from ..lsp.client import DemoClient
from .report import print_report

__all__ = ["run_demo", "make_sample_repo", "add_parser"]


def add_parser(sub) -> None:
    s = sub.add_parser("demo", help="the main job on a sample repository, through the language server")
    s.add_argument("--dir", help="where to create the sample repository (default: a temp dir)")
    s.set_defaults(fn=lambda args: run_demo(args.dir))

ORIGINAL = '''\
"""Tiny inventory helpers."""


def total_price(items):
    """Sum price * quantity over the items."""
    total = 0
    for item in items:
        total += item["price"] * item["qty"]
    return total
'''

CHANGED = ORIGINAL + '''

def apply_discount(total, percent):
    """Return the total after a percentage discount."""
    if percent < 0 or percent > 100:
        raise ValueError("percent must be between 0 and 100")
    return total * (100 - percent) / 100


def average_price(items):
    return total_price(items) / len(items)
'''


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Demo", "GIT_AUTHOR_EMAIL": "demo@example.invalid",
           "GIT_COMMITTER_NAME": "Demo", "GIT_COMMITTER_EMAIL": "demo@example.invalid"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def make_sample_repo(root: Path) -> Path:
    repo = root / "sample"
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "inventory.py").write_text(ORIGINAL, encoding="utf-8")
    _git(repo, "add", "inventory.py")
    _git(repo, "commit", "-q", "-m", "Add inventory total helper")
    (repo / "inventory.py").write_text(CHANGED, encoding="utf-8")
    _git(repo, "add", "inventory.py")
    return repo


def _show(title: str, res: dict) -> None:
    print(f"\n=== {title} ===")
    if "error" in res:  # shown as the failure it is, never as if it were an answer
        if not res.get("hops"):
            print(textwrap.indent(textwrap.fill(f"no answer: {res['error']}", 96), "  "))
            return
        print("  no answer: every tier failed")
        for hop in res["hops"]:
            print(textwrap.fill(f"{hop['tier']}: {hop['why']}", 96, initial_indent="    - ",
                                subsequent_indent="      "))
        return
    d, u = res["decision"], res["usage"]
    print(textwrap.indent(res["text"].strip() or "(empty)", "  "))
    print(f"  -> decision: tier {d['tier']} {d['backend']} {d['model']}")
    for r in d.get("reasons", []):
        print(f"     because {r}")
    for f in res.get("fallbacks", []):
        print(f"     fallback {f['from']} -> {f['to']}: {f['reason']}")
    for n in res.get("notes", []):
        print(f"     note: {n}")
    extra = res.get("latency_ms")
    lat = f"{extra:,.0f} ms, " if extra is not None else ""
    print(f"     {lat}tokens in {u['input_tokens']:,} / out {u['output_tokens']:,}; "
          f"cost ${u['cost_usd']:.6f} vs ${u['baseline_cost_usd']:.6f} all-cloud")


async def _main(root: Path) -> int:
    repo = make_sample_repo(root)
    print(f"sample repository: {repo} (inventory.py changed and staged)")
    streamed: list[str] = []
    client = DemoClient(repo, on_progress=lambda tok, msg: streamed.append(msg))
    await client.start()
    try:
        uri = client.open(repo / "inventory.py", "python")
        jobs = [
            ("Explain apply_discount", "explain", (12, 0, 16, 0)),
            ("Review inventory.py", "review", (0, 0, 20, 0)),
        ]
        for title, action, rng in jobs:
            t0 = time.perf_counter()
            res = await client.run(action, uri, rng)
            res.setdefault("latency_ms", (time.perf_counter() - t0) * 1000)
            _show(title, res)
        msg_path = repo / ".git" / "COMMIT_EDITMSG"
        msg_path.write_text("", encoding="utf-8")
        commit_uri = client.open(msg_path, "gitcommit")
        t0 = time.perf_counter()
        res = await client.run("commit-message", commit_uri)
        res.setdefault("latency_ms", (time.perf_counter() - t0) * 1000)
        _show("Commit message for the staged change", res)
        print(f"\n({len(streamed)} streamed progress messages arrived before the answers)")
    finally:
        await client.stop()
    print("\n=== hybridlsp report ===")
    print_report()
    return 0


def run_demo(directory: str | None = None) -> int:
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="hybridlsp-demo-"))
    os.environ.setdefault("HYBRIDLSP_HOME", str(root / "home"))
    print(f"ledger: {os.environ['HYBRIDLSP_HOME']}", file=sys.stderr)
    return asyncio.run(_main(root))
