"""Issue #18 items 3 and 4 for `make eval-routing`: escalation signals, the cascade, the replay curve.

    .venv/bin/python training/eval_escalation.py [DATA_DIR] [--write]

Runs bench 11 (escalation driven by the answer: the text and code signals' precision and recall,
the cascade) and bench 12 (learning from the user: the replay curve) on the routing data (default
../shared/routing-data) and prints their tables as Markdown. --write puts both results into
bench/RESULTS.md (their summary rows, goals missed and sections, as `make bench` writes them) and
regenerates the README's performance section from it. The SmolLM2 probe is bounded (~5-9 min on 2
busy cores); HYBRIDLSP_BENCH_PROBE_N=0 skips it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import escalation, learning, readme  # noqa: E402
from bench._splice import splice  # noqa: E402

MODULES = {"escalation": escalation, "learning": learning}


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    # the two files `make eval-routing` writes do not count as changes to what was measured
    changed = git("status", "--porcelain", "--", ".", ":!README.md", ":!bench/RESULTS.md")
    return (git("rev-parse", "--short", "HEAD") or "unknown") + (" with uncommitted changes" if changed else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", nargs="?", default=str(REPO.parent / "shared" / "routing-data"))
    p.add_argument("--write", action="store_true", help="write both results into bench/RESULTS.md and the README")
    args = p.parse_args(argv)
    results = []
    for name, module in MODULES.items():
        t0 = time.perf_counter()
        result = module.run([args.data_dir])
        result.seconds = time.perf_counter() - t0
        results.append((name, result))
        print(f"### {result.number}. {result.title}\n")
        print(f"**{result.figure}** - goal {result.goal}: {result.verdict}\n")
        print("\n".join(result.raw))
        if result.limits:
            print("\nlimited by:\n" + "\n".join(f"- {p}" for p in result.limits.splitlines()))
        print()
    if args.write:
        load = os.getloadavg()[0]
        note = (f"measured by `make eval-routing` {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC at commit {_commit()}, "
                f"load {load:.2f} on {os.cpu_count()} cores")
        text = readme.RESULTS.read_text(encoding="utf-8")
        for name, result in results:
            text = splice(text, result, name, note)
        readme.RESULTS.write_text(text, encoding="utf-8")
        readme.update()
        print(f"wrote benchmarks {', '.join(str(r.number) for _, r in results)} into bench/RESULTS.md, "
              "and the README's performance section", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
